#version 450
// y = x + bias broadcast along the channel dimension: channel = (i / inner) %
// channels (NHWC: inner = 1; NCHW: inner = H * W).
// vec = 1 (addresses aligned to 4 elements; channels % 4 == 0 when inner = 1,
// else inner % 4 == 0): four outputs per invocation with vector loads; their
// biases are a 4-vector (inner = 1) or one value (the four share a channel).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(T)) buffer TBuf4 { TFMP_VEC4(T) v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  TBuf bias;
  TBuf y;
  uint n;
  uint channels;
  uint inner;
  uint vec;
} pc;

void main() {
  if (pc.vec != 0) {
    TBuf4 x4 = TBuf4(pc.x), y4 = TBuf4(pc.y), b4 = TBuf4(pc.bias);
    FOR_EACH(q, pc.n >> 2) {
      const uint c = ((q << 2) / pc.inner) % pc.channels;
      vec4 b = pc.inner == 1 ? vec4(b4.v[c >> 2]) : vec4(C(pc.bias.v[c]));
      y4.v[q] = TFMP_VEC4(T)(vec4(x4.v[q]) + b);
    }
    return;
  }
  FOR_EACH(i, pc.n) {
    uint c = (i / pc.inner) % pc.channels;
    pc.y.v[i] = T(C(pc.x.v[i]) + C(pc.bias.v[c]));
  }
}
