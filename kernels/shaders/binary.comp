#version 450
// Elementwise z = OP(a, b) with NumPy broadcasting. The host collapses the
// shapes to at most 6 dims; rank 0 means both inputs are read flat with
// strides a_flat/b_flat (1, or 0 for a scalar).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf a;
  TBuf b;
  TOBuf z;
  uint n;
  uint rank;
  uint shape[6];
  uint a_stride[6];  // rank 0: a_stride[0] is the flat stride
  uint b_stride[6];
  float alpha;  // the op's float attribute (LeakyRelu), unused by the rest
} pc;
#define ALPHA C(pc.alpha)

void main() {
  FOR_EACH(i, pc.n) {
    uint ia, ib;
    if (pc.rank == 0) {
      ia = i * pc.a_stride[0];
      ib = i * pc.b_stride[0];
    } else {
      uint rem = i;
      ia = 0;
      ib = 0;
      for (int d = int(pc.rank) - 1; d >= 0; --d) {
        uint c = rem % pc.shape[d];
        rem /= pc.shape[d];
        ia += c * pc.a_stride[d];
        ib += c * pc.b_stride[d];
      }
    }
    C a = C(pc.a.v[ia]);
    C b = C(pc.b.v[ib]);
    pc.z.v[i] = TO(OP);
  }
}
