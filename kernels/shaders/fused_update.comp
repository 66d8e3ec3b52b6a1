#version 450
// Fused, multi-tensor optimizer updates (_TfmpFusedUpdate, kernels/fused_update.cc):
// one dispatch runs a small elementwise program (the per-variable update
// subgraph the Grappler pass lifted out of the graph, grappler/patterns/
// optimizer_update.cc) over every element of every variable of the step.
// Everything but the element count lives in a device table the kernel uploads
// (the 128-byte push-constant limit):
//   entries (pc.entries of them, pc.entry_words words each):
//     [0] first global element, [1] elements n, then per input slot 3 words:
//     address lo, address hi, kind (bit 0: n elements, else one element read
//     at index 0 (a scalar); bit 1: float16 storage)
//   program (pc.prog_len instructions of 4 words at pc.prog_off):
//     opcode | (round to float16 << 8), destination register, operand a, b
//     An operand below 64 is a register, 64.. a slot (its element), 128.. a
//     constant (float bits at pc.const_off).
// Each global element i finds its entry by binary search and runs the program
// op by op, as the unfused graph's kernels do (`precise`: no contractions;
// the same tf_div/tf_sqrt/tf_pow as the elementwise kernels), so the result is
// the unfused graph's, bit for bit.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer WBuf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer HBuf { float16_t v[]; };
layout(push_constant) uniform Push {
  WBuf table;
  uint total;
  uint entries;
  uint entry_words;
  uint prog_off;
  uint prog_len;
  uint const_off;
} pc;

#define NREG 48
float reg[NREG];

uint64_t slot_addr(uint e, uint s) {
  uint base = e * pc.entry_words + 2u + 3u * s;
  return uint64_t(pc.table.v[base]) | (uint64_t(pc.table.v[base + 1u]) << 32);
}
uint slot_kind(uint e, uint s) { return pc.table.v[e * pc.entry_words + 2u + 3u * s + 2u]; }

float load_slot(uint e, uint s, uint i) {
  uint kind = slot_kind(e, s);
  uint j = (kind & 1u) != 0u ? i : 0u;
  uint64_t a = slot_addr(e, s);
  return (kind & 2u) != 0u ? float(HBuf(a).v[j]) : FBuf(a).v[j];
}

void store_slot(uint e, uint s, uint i, float x) {
  uint64_t a = slot_addr(e, s);
  if ((slot_kind(e, s) & 2u) != 0u) HBuf(a).v[i] = float16_t(tf_round_half(x));  // exact
  else FBuf(a).v[i] = x;
}

float operand(uint e, uint i, uint o) {
  if (o < 64u) return reg[o];
  if (o < 128u) return load_slot(e, o - 64u, i);
  return uintBitsToFloat(pc.table.v[pc.const_off + o - 128u]);
}

void main() {
  FOR_EACH(g, pc.total) {
    // The entry holding global element g: the last with start <= g.
    uint lo = 0u, hi = pc.entries - 1u;
    while (lo < hi) {
      uint mid = (lo + hi + 1u) >> 1;
      if (pc.table.v[mid * pc.entry_words] <= g) lo = mid;
      else hi = mid - 1u;
    }
    const uint e = lo;
    const uint i = g - pc.table.v[e * pc.entry_words];
    for (uint k = 0u; k < pc.prog_len; ++k) {
      const uint base = pc.prog_off + 4u * k;
      const uint code = pc.table.v[base];
      const uint dst = pc.table.v[base + 1u];
      const uint oa = pc.table.v[base + 2u], ob = pc.table.v[base + 3u];
      const uint op = code & 255u;
      if (op == 2u) {  // store operand b into slot a
        store_slot(e, oa, i, operand(e, i, ob));
        continue;
      }
      const float a = operand(e, i, oa);
      const float b = op >= 3u && op <= 9u ? operand(e, i, ob) : 0.0;
      precise float r;
      switch (op) {
        case 0u: r = a; break;  // read (a slot or a copy)
        case 3u: r = a + b; break;
        case 4u: r = tf_sub_exact(a, b); break;
        case 5u: r = a * b; break;
        case 6u: r = tf_div(a, b); break;
        case 7u: r = tf_pow(a, b); break;
        case 8u: r = tf_max(a, b); break;
        case 9u: r = tf_min(a, b); break;
        case 10u: r = tf_sqrt(a); break;
        case 11u: r = tf_rsqrt(a); break;
        case 12u: r = tf_square_exact(a); break;
        case 13u: r = -a; break;
        case 14u: r = 1.0 / a; break;  // Reciprocal
        default: r = a; break;
      }
      if ((code & 256u) != 0u) r = tf_round_half(r);
      reg[dst] = r;
    }
  }
}
