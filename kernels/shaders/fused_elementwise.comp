#version 450
// _TfmpFusedElementwise (kernels/fused_elementwise.cc): a chain of elementwise
// ops that the Grappler pass fused (grappler/patterns/elementwise_chain.cc),
// in one dispatch. The program is not interpreted: it arrives as
// specialization constants (one pipeline per distinct program, compiled on
// first use), so the driver folds every opcode switch, keeps the register
// file in registers and drops the loads' index math an input does not need.
// Per output element: load the inputs (each either element i, element 0, or
// NumPy-broadcast through the strides in the parameter block), run the
// program, store the last result. The op cases (FUSED_CASES) are the
// standalone kernels' own expressions, generated from UNARY/BINARY in
// variants.py; float16 variants round every op's result to float16, as the
// unfused graph stores it. Each result passes through an integer XOR with a
// zero the compiler cannot see (pc.zero), as the unfused graph's results pass
// through memory: no contraction (fma) across ops, bit for bit the unfused
// result.
#include "common.glsl"
layout(local_size_x = 256) in;

// The parameter block (32-bit words), uploaded only when an input needs
// strides: see fused_elementwise.cc (FusedParams).
layout(buffer_reference, std430, buffer_reference_align = 4) buffer PBuf { uint v[]; };
#define MAX_DIMS 6
#define P_SHAPE 0
#define P_STRIDES 6      // [input][dim]
#define NUM_REGS 16

// Specialization constants (fused_elementwise.cc, FusedElementwiseOp::Spec):
//   0: instructions, 1: the register stored, 2: per input 2 bits of load mode
//   (0: element i, 1: element 0, 2: strided), 3..66: the program (one word per
//   instruction: op | dst << 8 | a << 16 | b << 24), 67..82: the constants'
//   float bits.
layout(constant_id = 0) const uint NPROG = 1u;
layout(constant_id = 1) const uint OUT_REG = 0u;
layout(constant_id = 2) const uint MODES = 0u;
SPEC_DECLS

layout(push_constant) uniform Push {
  TBuf x0; TBuf x1; TBuf x2; TBuf x3; TBuf x4; TBuf x5; TBuf x6; TBuf x7;
  TOBuf z;
  PBuf params;
  uint n;
  uint rank;
  uint zero;  // 0, opaque to the compiler
} pc;

C reg[NUM_REGS];
uint g_i;
uint g_coord[MAX_DIMS];

float kconst(uint k) {
  uint bits = KCONST_SELECT;
  return uintBitsToFloat(bits ^ pc.zero);
}

C load_input(uint k) {
  uint mode = (MODES >> (2u * k)) & 3u, idx = 0u;
  if (mode == 0u) {
    idx = g_i;
  } else if (mode == 2u) {
    uint base = P_STRIDES + k * MAX_DIMS;
    for (uint d = 0u; d < pc.rank; ++d) idx += g_coord[d] * pc.params.v[base + d];
  }
  switch (k) {
    case 0u: return C(pc.x0.v[idx]);
    case 1u: return C(pc.x1.v[idx]);
    case 2u: return C(pc.x2.v[idx]);
    case 3u: return C(pc.x3.v[idx]);
    case 4u: return C(pc.x4.v[idx]);
    case 5u: return C(pc.x5.v[idx]);
    case 6u: return C(pc.x6.v[idx]);
    default: return C(pc.x7.v[idx]);
  }
}

// One instruction; `ins` is a specialization constant, so all of this folds.
void step(uint ins) {
  uint op = ins & 0xffu, dst = (ins >> 8) & 0xffu, ra = (ins >> 16) & 0xffu, rb = ins >> 24;
  C r;
  if (op == 0u) {  // load input ra at this element
    r = load_input(ra);
  } else if (op == 1u) {  // constant ra (already a value of the storage type)
    r = C(kconst(ra));
  } else {
    C x = reg[ra];
    C a = x;
    C b = reg[rb];
    switch (op) {
      FUSED_CASES
      default: r = x;
    }
    r = ROUND_T(r);
  }
  reg[dst] = uintBitsToFloat(floatBitsToUint(r) ^ pc.zero);
}

void main() {
  FOR_EACH(i, pc.n) {
    g_i = i;
    if ((MODES & 0xAAAAu) != 0u) {  // some input is strided
      uint rem = i;
      for (int d = int(pc.rank) - 1; d >= 0; --d) {
        uint s = pc.params.v[P_SHAPE + d];
        g_coord[d] = rem % s;
        rem /= s;
      }
    }
    STEPS
    pc.z.v[i] = TO(reg[OUT_REG]);
  }
}
