#version 450
// Stable sort of a short array of uint keys by counting ranks (the scatter
// slots of kernels/scatter.cc when there are at most kRankSortMax of them):
// element i goes to position rank(i) = #{j : key[j] < key[i], or key[j] ==
// key[i] and j < i}, so equal keys keep their order (the order the updates
// came in), as the bitonic sort (sort.comp, ASCENDING) orders them. One
// invocation per element compares its key with all n keys, read through
// shared memory 64 at a time: O(n^2) work but no dependent passes, so for a
// few thousand keys it is one short dispatch over many multiprocessors where
// the bitonic sort is one workgroup running ~70 barrier-separated stages.
// Output: keys[0, n) sorted, idx[0, n) the element each came from.
#include "common.glsl"
layout(local_size_x = 64) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UBuf { uint v[]; };
layout(push_constant) uniform Push {
  UBuf x;     // [n] keys
  UBuf keys;  // [n] sorted keys
  UBuf idx;   // [n] sorted positions
  uint n;
} pc;

shared uint tile[64];

void main() {
  const uint t = gl_LocalInvocationID.x;
  const uint i = gl_WorkGroupID.x * 64u + t;
  const uint ki = i < pc.n ? pc.x.v[i] : 0u;
  uint rank = 0u;
  for (uint base = 0u; base < pc.n; base += 64u) {
    const uint j = base + t;
    tile[t] = j < pc.n ? pc.x.v[j] : 0u;
    barrier();
    const uint m = min(64u, pc.n - base);
    for (uint s = 0u; s < m; ++s) {
      const uint kj = tile[s];
      rank += (kj < ki || (kj == ki && base + s < i)) ? 1u : 0u;
    }
    barrier();
  }
  if (i < pc.n) {
    pc.keys.v[rank] = ki;
    pc.idx.v[rank] = i;
  }
}
