#version 450
// Stable sort of a short array of uint keys by counting ranks (the scatter
// slots of kernels/scatter.cc when there are at most kRankSortMax of them):
// element i goes to position rank(i) = #{j : key[j] < key[i], or key[j] ==
// key[i] and j < i}, so equal keys keep their order (the order the updates
// came in), as the bitonic sort (sort.comp, ASCENDING) orders them. A
// workgroup ranks 64 elements, four invocations each comparing it with a
// quarter of every 256 keys staged in shared memory (unrolled: independent
// loads), then adding their counts: O(n^2) work but one short dispatch over
// n / 64 multiprocessors, where the bitonic sort of n <= 2048 keys is one
// workgroup running ~70 barrier-separated stages (H200, 2048 keys: the
// embedding-gradient scatter took 196 us with it).
// Output: keys[0, n) sorted, idx[0, n) the element each came from.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UBuf { uint v[]; };
layout(push_constant) uniform Push {
  UBuf x;     // [n] keys
  UBuf keys;  // [n] sorted keys
  UBuf idx;   // [n] sorted positions
  uint n;
} pc;

shared uint tile[256];
shared uint part[256];

void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint e = t % 64u, q = t / 64u;  // element of the block, quarter of the tile
  const uint i = gl_WorkGroupID.x * 64u + e;
  const uint ki = i < pc.n ? pc.x.v[i] : 0u;
  uint rank = 0u;
  for (uint base = 0u; base < pc.n; base += 256u) {
    tile[t] = base + t < pc.n ? pc.x.v[base + t] : 0u;
    barrier();
    const uint j0 = base + q * 64u;
    [[unroll]] for (uint s = 0u; s < 64u; ++s) {
      const uint j = j0 + s, kj = tile[q * 64u + s];
      rank += (j < pc.n && (kj < ki || (kj == ki && j < i))) ? 1u : 0u;
    }
    barrier();
  }
  part[t] = rank;
  barrier();
  if (q == 0u && i < pc.n) {
    const uint r = part[e] + part[e + 64u] + part[e + 128u] + part[e + 192u];
    pc.keys.v[r] = ki;
    pc.idx.v[r] = i;
  }
}
