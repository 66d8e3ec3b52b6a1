#version 450
// The state of a stateful RNG (an int64 variable: [counter lo, counter hi,
// key, ...], TF's stateful_random_ops layout) advanced on the device: with
// write_old, the three state words are first copied to `old` (the output of
// RngReadAndSkip, or the key/counter a stateful fill then reads), then `delta`
// blocks are added to the 128-bit counter with TF's PhiloxRandom::Skip carry
// logic. One invocation: a handful of words.
#include "common.glsl"
layout(local_size_x = 1) in;
layout(buffer_reference, std430, buffer_reference_align = 8) buffer U64Buf { uint64_t v[]; };
layout(push_constant) uniform Push {
  U64Buf state;
  U64Buf old;
  uint64_t delta;
  uint write_old;
} pc;

void main() {
  const uint64_t c0 = pc.state.v[0], c1 = pc.state.v[1];
  if (pc.write_old != 0u) {
    pc.old.v[0] = c0;
    pc.old.v[1] = c1;
    pc.old.v[2] = pc.state.v[2];
  }
  uvec4 c = uvec4(uint(c0), uint(c0 >> 32), uint(c1), uint(c1 >> 32));
  const uint lo = uint(pc.delta);
  uint hi = uint(pc.delta >> 32);
  c.x += lo;
  if (c.x < lo) ++hi;
  c.y += hi;
  if (c.y < hi) {
    if (++c.z == 0u) ++c.w;
  }
  pc.state.v[0] = packUint2x32(c.xy);
  pc.state.v[1] = packUint2x32(c.zw);
}
