#version 450
// Elementwise y = OP(x). OP is an expression in x of type C.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;
  TOBuf y;
  uint n;
  float alpha;  // the op's float attribute (LeakyRelu), unused by the rest
} pc;
#define ALPHA C(pc.alpha)

void main() {
  FOR_EACH(i, pc.n) {
    C x = C(pc.x.v[i]);
    pc.y.v[i] = TO(OP);
  }
}
