#version 450
// GatherV2 / ResourceGather and OneHot, by element size (T) and index type (IT).
// Gather: params seen as [batch, outer, gather_dim, inner], indices as
// [batch, n_idx]; out[b, o, i, j] = params[b, o, indices[b, i], j], or 0 for an
// index outside [0, gather_dim) (as TF's GPU kernels; its CPU kernel raises).
// OneHot (ONE_HOT): out[p, d, s] = indices[p, s] == d ? on : off.
#include "common.glsl"
layout(local_size_x = 256) in;
// A negative index tested in its own type: int64_t(int) came out
// zero-extended on lavapipe.
#ifndef IDX
#define IDX(x) ((x) < IT(0) ? int64_t(-1) : int64_t(x))
#endif
layout(buffer_reference, std430, buffer_reference_align = 1) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  TBuf x;      // params; OneHot: the on value
  IBuf indices;
  TBuf y;
  TBuf off;    // OneHot: the off value
  uint n;      // output elements
  uint inner;  // OneHot: suffix
  uint n_idx;  // OneHot: depth
  uint outer;
  uint gather_dim;
} pc;

void main() {
  FOR_EACH(e, pc.n) {
    const uint j = e % pc.inner;
    const uint t = e / pc.inner;
#ifdef ONE_HOT
    const uint d = t % pc.n_idx, p = t / pc.n_idx;
    const int64_t idx = IDX(pc.indices.v[p * pc.inner + j]);
    pc.y.v[e] = idx == int64_t(d) ? pc.x.v[0] : pc.off.v[0];
#else
    const uint i = t % pc.n_idx, b = (t / pc.n_idx) / pc.outer;
    const int64_t idx = IDX(pc.indices.v[b * pc.n_idx + i]);
    const uint bo = t / pc.n_idx;  // b * outer + o
    pc.y.v[e] = (idx >= 0 && idx < int64_t(pc.gather_dim))
                    ? pc.x.v[(bo * pc.gather_dim + uint(idx)) * pc.inner + j]
                    : T(0);
#endif
  }
}
