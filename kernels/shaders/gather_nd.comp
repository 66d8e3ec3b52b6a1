#version 450
// GatherNd by element size (T) and index type (IT): indices [rows, depth],
// params [dims[0], ..., dims[depth - 1], slice];
// y[r, j] = params[indices[r, :], j], or 0 when a component is out of range
// (as TF's GPU kernel; its CPU kernel raises).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 1) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  IBuf indices;
  TBuf y;
  uint n;  // output elements
  uint slice, depth;
  uint dims[7];
} pc;

void main() {
  FOR_EACH(e, pc.n) {
    const uint j = e % pc.slice, r = e / pc.slice;
    uint off = 0;
    bool ok = true;
    for (uint d = 0; d < pc.depth; ++d) {
      const IT v = pc.indices.v[r * pc.depth + d];
      // tested in its own type first: int64_t(int) came out zero-extended on lavapipe
      if (v < IT(0) || int64_t(v) >= int64_t(pc.dims[d])) ok = false;
      else off = off * pc.dims[d] + uint(v);
    }
    pc.y.v[e] = ok ? pc.x.v[off * pc.slice + j] : T(0);
  }
}
