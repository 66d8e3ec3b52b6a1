#version 450
// _TfmpFusedElementwise (kernels/fused_elementwise.cc): a chain of elementwise
// ops that the Grappler pass fused (grappler/patterns/elementwise_chain.cc),
// in one dispatch. Per output element it loads its inputs with NumPy
// broadcasting (the host collapses the shapes to at most 6 dims, as for
// binary.comp; rank 0 means every input is read flat with stride 1 or 0),
// runs a small program over a register file, and stores the last result.
// The op cases (FUSED_CASES) are the standalone kernels' own expressions,
// generated from UNARY/BINARY in variants.py; float16 variants round every
// op's result to float16, as the unfused graph stores it.
#include "common.glsl"
layout(local_size_x = 256) in;

// The parameter block the host uploads per call (32-bit words): see
// fused_elementwise.cc (FusedParams) for the layout.
layout(buffer_reference, std430, buffer_reference_align = 4) buffer PBuf { uint v[]; };
#define MAX_DIMS 6
#define P_SHAPE 0
#define P_STRIDES 6      // [input][dim]
#define P_PROGRAM 54     // one word per instruction: op | dst << 8 | a << 16 | b << 24
#define P_CONSTS 118     // float bits
#define NUM_REGS 16

layout(push_constant) uniform Push {
  TBuf x0; TBuf x1; TBuf x2; TBuf x3; TBuf x4; TBuf x5; TBuf x6; TBuf x7;
  TOBuf z;
  PBuf params;
  uint n;
  uint rank;
  uint nprog;
  uint out_reg;
} pc;

C load_input(uint k, uint i) {
  switch (k) {
    case 0u: return C(pc.x0.v[i]);
    case 1u: return C(pc.x1.v[i]);
    case 2u: return C(pc.x2.v[i]);
    case 3u: return C(pc.x3.v[i]);
    case 4u: return C(pc.x4.v[i]);
    case 5u: return C(pc.x5.v[i]);
    case 6u: return C(pc.x6.v[i]);
    default: return C(pc.x7.v[i]);
  }
}

void main() {
  FOR_EACH(i, pc.n) {
    uint coord[MAX_DIMS];
    uint rem = i;
    for (int d = int(pc.rank) - 1; d >= 0; --d) {
      uint s = pc.params.v[P_SHAPE + d];
      coord[d] = rem % s;
      rem /= s;
    }
    C reg[NUM_REGS];
    for (uint p = 0u; p < pc.nprog; ++p) {
      uint ins = pc.params.v[P_PROGRAM + p];
      uint op = ins & 0xffu, dst = (ins >> 8) & 0xffu, ra = (ins >> 16) & 0xffu, rb = ins >> 24;
      C r;
      if (op == 0u) {  // load input ra at this element
        uint base = P_STRIDES + ra * MAX_DIMS, idx = 0u;
        if (pc.rank == 0u) {
          idx = i * pc.params.v[base];
        } else {
          for (uint d = 0u; d < pc.rank; ++d) idx += coord[d] * pc.params.v[base + d];
        }
        r = load_input(ra, idx);
      } else if (op == 1u) {  // constant ra (already a value of the storage type)
        r = C(uintBitsToFloat(pc.params.v[P_CONSTS + ra]));
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
      reg[dst] = r;
    }
    pc.z.v[i] = TO(reg[pc.out_reg]);
  }
}
