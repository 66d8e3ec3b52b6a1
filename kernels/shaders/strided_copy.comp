#version 450
// The data-movement kernel behind Transpose, Slice, StridedSlice, Tile,
// BroadcastTo, Pack and ConcatV2: for each element of a view of `shape`,
//   out[sum(k_d * out_stride_d)] = in[in_base + sum((k_d % in_mod_d) * in_stride_d)]
// (in_mod_d = 0: no wrap; strides may be negative). T is a storage type of
// the element's size: dtypes do not matter.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;
  TBuf y;
  uint n;
  uint rank;
  uint shape[6];
  int in_stride[6];
  uint out_stride[6];
  uint in_mod[6];
  int in_base;
} pc;

void main() {
  FOR_EACH(i, pc.n) {
    uint rem = i;
    int src = pc.in_base;
    uint dst = 0;
    for (int d = int(pc.rank) - 1; d >= 0; --d) {
      uint k = rem % pc.shape[d];
      rem /= pc.shape[d];
      dst += k * pc.out_stride[d];
      if (pc.in_mod[d] != 0) k %= pc.in_mod[d];
      src += int(k) * pc.in_stride[d];
    }
    pc.y.v[dst] = pc.x.v[uint(src)];
  }
}
