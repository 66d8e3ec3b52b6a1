#version 450
// out = cond ? a : b with NumPy broadcasting of all three (SelectV2; Select's
// vector condition is given as a broadcast over the trailing dims). The host
// collapses shapes to at most 5 dims; rank 0 reads flat with 0/1 strides.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 1) buffer CondBuf { uint8_t v[]; };
layout(push_constant) uniform Push {
  CondBuf c;
  TBuf a;
  TBuf b;
  TBuf z;
  uint n;
  uint rank;
  uint shape[5];
  uint c_stride[5];
  uint a_stride[5];
  uint b_stride[5];
} pc;

void main() {
  FOR_EACH(i, pc.n) {
    uint ic = 0, ia = 0, ib = 0;
    if (pc.rank == 0) {
      ic = i * pc.c_stride[0];
      ia = i * pc.a_stride[0];
      ib = i * pc.b_stride[0];
    } else {
      uint rem = i;
      for (int d = int(pc.rank) - 1; d >= 0; --d) {
        uint k = rem % pc.shape[d];
        rem /= pc.shape[d];
        ic += k * pc.c_stride[d];
        ia += k * pc.a_stride[d];
        ib += k * pc.b_stride[d];
      }
    }
    pc.z.v[i] = pc.c.v[ic] != uint8_t(0) ? pc.a.v[ia] : pc.b.v[ib];
  }
}
