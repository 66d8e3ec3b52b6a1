#version 450
// Speed experiment (helper f16, temporary): float16 relu / copy moved as uvec4
// words (8 halves), U words per invocation loaded before any store. Same push
// constants as unary.comp. MODE 0 copy, 1 xor with the bits of alpha, 2 relu
// on bit patterns (branchless), 3 relu through unpackHalf2x16 (float).
// RESTRICT: readonly/writeonly restrict buffers.
#extension GL_EXT_control_flow_attributes : enable
#include "common.glsl"
layout(local_size_x = 256) in;
#ifdef RESTRICT
#define RO readonly restrict
#define WO writeonly restrict
#else
#define RO
#define WO
#endif
layout(buffer_reference, std430, buffer_reference_align = 16) RO buffer XBuf { uvec4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) WO buffer YBuf { uvec4 v[]; };
layout(push_constant) uniform Push {
  XBuf x;
  YBuf y;
  uint n;
  float alpha;
  uint vec;
} pc;

uint f(uint w) {
#if MODE == 0
  return w;
#elif MODE == 1
  return w ^ floatBitsToUint(pc.alpha);
#elif MODE == 2
  const uint s = (w >> 15) & 0x10001u;
  return w & ~(s * 0xffffu);
#else
  const vec2 v = unpackHalf2x16(w);
  return packHalf2x16(max(v, vec2(0)));
#endif
}
uvec4 f4(uvec4 w) { return uvec4(f(w.x), f(w.y), f(w.z), f(w.w)); }

void main() {
  const uint nv = pc.n >> 3;
  const uint S = gl_NumWorkGroups.x * 256u;
  for (uint q = gl_GlobalInvocationID.x; q < nv; q += U * S) {
    uvec4 w[U];
    [[unroll]] for (uint k = 0; k < U; ++k) if (q + k * S < nv) w[k] = pc.x.v[q + k * S];
    [[unroll]] for (uint k = 0; k < U; ++k) if (q + k * S < nv) pc.y.v[q + k * S] = f4(w[k]);
  }
}
