#version 450
// y = x + bias broadcast along the channel dimension: channel = (i / inner) %
// channels (NHWC: inner = 1; NCHW: inner = H * W).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;
  TBuf bias;
  TBuf y;
  uint n;
  uint channels;
  uint inner;
} pc;

void main() {
  FOR_EACH(i, pc.n) {
    uint c = (i / pc.inner) % pc.channels;
    pc.y.v[i] = T(C(pc.x.v[i]) + C(pc.bias.v[c]));
  }
}
