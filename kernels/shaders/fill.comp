#version 450
// y[i] = value[0] for every i (Fill: the value is a device scalar).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf value;
  TBuf y;
  uint n;
} pc;

void main() {
  T v = pc.value.v[0];
  FOR_EACH(i, pc.n) { pc.y.v[i] = v; }
}
