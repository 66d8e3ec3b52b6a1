#version 450
// _TfmpFusedUpdate (kernels/fused_update.cc) with its program as
// specialization constants: what fused_update.comp interprets per element
// (opcode switches, a register file in memory, a binary search for the
// entry), the driver folds here at pipeline creation (one pipeline per
// distinct program). Each workgroup updates one chunk of one entry (a
// variable and its slots), read from a host-built chunk table: no search.
//
// Device table (32-bit words), at pc.table:
//   entries (pc.entry_words words each): [0] elements n, then per slot its
//     address (lo, hi)
//   chunks (at pc.chunk_off, one per workgroup): entry, first element
// Specialization constants: 0 instructions, 1..4 per slot 2 bits (bit 0: n
// elements, else one element read at index 0; bit 1: float16 storage),
// 101 the slots per entry,
// 5..68 the program (one word per instruction: op | round to float16 << 4 |
// dst << 5 | a << 11 | b << 20; an operand below 64 is a register, 64.. a
// slot, 128.. a constant), 69..100 the constants' float bits. The ops are
// fused_update.comp's, `precise` as there: the unfused result, bit for bit.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer WBuf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer HBuf { float16_t v[]; };
layout(push_constant) uniform Push {
  WBuf table;
  uint entry_words;
  uint chunk_off;
  uint chunks;
  uint chunk;  // elements per chunk (a multiple of 256)
} pc;

layout(constant_id = 0) const uint NPROG = 1u;
layout(constant_id = 1) const uint KIND0 = 0u;
layout(constant_id = 2) const uint KIND1 = 0u;
layout(constant_id = 3) const uint KIND2 = 0u;
layout(constant_id = 4) const uint KIND3 = 0u;
layout(constant_id = 101) const uint SLOTS = 64u;  // slots per entry
SPEC_DECLS

#define NREG 48
float reg[NREG];
uint g_e, g_i;

uint kind(uint s) {
  uint w = s < 16u ? KIND0 : (s < 32u ? KIND1 : (s < 48u ? KIND2 : KIND3));
  return (w >> (2u * (s & 15u))) & 3u;
}

uint64_t load_addr(uint s) {
  uint base = g_e * pc.entry_words + 1u + 2u * s;
  return uint64_t(pc.table.v[base]) | (uint64_t(pc.table.v[base + 1u]) << 32);
}
// The slots' addresses, loaded once per workgroup (SLOT_VARS: A0 .. A63;
// SLOT_SELECT picks one by a constant index).
SLOT_VARS
uint64_t slot_addr(uint s) { return SLOT_SELECT; }

float operand(uint o) {
  if (o < 64u) return reg[o];
  if (o < 128u) {
    uint s = o - 64u, k = kind(s), j = (k & 1u) != 0u ? g_i : 0u;
    uint64_t a = slot_addr(s);
    return (k & 2u) != 0u ? float(HBuf(a).v[j]) : FBuf(a).v[j];
  }
  uint c = o - 128u;
  return uintBitsToFloat(KCONST_SELECT);
}

void step(uint ins) {
  const uint op = ins & 15u, dst = (ins >> 5) & 63u, oa = (ins >> 11) & 511u, ob = ins >> 20;
  if (op == 2u) {  // store operand b into slot a
    float x = operand(ob);
    uint64_t a = slot_addr(oa);
    if ((kind(oa) & 2u) != 0u) HBuf(a).v[g_i] = float16_t(tf_round_half(x));  // exact
    else FBuf(a).v[g_i] = x;
    return;
  }
  const float a = operand(oa);
  const float b = op >= 3u && op <= 9u ? operand(ob) : 0.0;
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
  if (((ins >> 4) & 1u) != 0u) r = tf_round_half(r);
  reg[dst] = r;
}

void main() {
  const uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (w >= pc.chunks) return;
  g_e = pc.table.v[pc.chunk_off + 2u * w];
  const uint first = pc.table.v[pc.chunk_off + 2u * w + 1u];
  const uint n = pc.table.v[g_e * pc.entry_words];
  const uint end = min(n, first + pc.chunk);
  SLOT_LOADS
  for (uint i = first + gl_LocalInvocationID.x; i < end; i += 256u) {
    g_i = i;
    STEPS
  }
}
