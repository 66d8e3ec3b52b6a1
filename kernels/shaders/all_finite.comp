#version 450
// _TfmpAllFinite (kernels/fused_update.cc): whether every element of every
// input tensor is finite, in ONE dispatch (what LossScaleOptimizer's
// reduce_all([reduce_all(is_finite(g)) for g in grads]) computes with two
// dispatches per gradient). The host sets the bool output to true (a fill,
// not a dispatch); a workgroup that finds a non-finite element stores false
// (every writer stores the same value). Each workgroup scans one chunk of
// one tensor, from a host-built table (32-bit words, at pc.table):
//   tensors (3 words each): address lo, hi, elements n | float16 << 31
//   chunks (at pc.chunk_off, one per workgroup): tensor, first element
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer WBuf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer HBuf { float16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 1) buffer BBuf { uint8_t v[]; };
layout(push_constant) uniform Push {
  WBuf table;
  BBuf out_flag;
  uint chunk_off;
  uint chunks;
  uint chunk;  // elements per chunk (a multiple of 256)
} pc;

shared uint bad;

void main() {
  const uint w = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
  if (w >= pc.chunks) return;  // uniform per workgroup
  if (gl_LocalInvocationIndex == 0u) bad = 0u;
  barrier();
  const uint t = pc.table.v[pc.chunk_off + 2u * w];
  const uint first = pc.table.v[pc.chunk_off + 2u * w + 1u];
  const uint64_t a = uint64_t(pc.table.v[3u * t]) | (uint64_t(pc.table.v[3u * t + 1u]) << 32);
  const uint nw = pc.table.v[3u * t + 2u];
  const uint n = nw & 0x7fffffffu;
  const bool is_half = (nw >> 31) != 0u;
  const uint end = min(n, first + pc.chunk);
  bool finite = true;
  for (uint i = first + gl_LocalInvocationID.x; i < end; i += 256u) {
    // float16 checked in its own bits (an exponent of all ones is inf/NaN).
    if (is_half) finite = finite && (floatBitsToUint(float(HBuf(a).v[i])) & 0x7f800000u) != 0x7f800000u;
    else finite = finite && (floatBitsToUint(FBuf(a).v[i]) & 0x7f800000u) != 0x7f800000u;
  }
  if (!finite) atomicOr(bad, 1u);
  barrier();
  if (gl_LocalInvocationIndex == 0u && bad != 0u) pc.out_flag.v[0] = uint8_t(0u);
}
