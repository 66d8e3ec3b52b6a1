#version 450
// Softmax / LogSoftmax over the last dimension: one workgroup per row
// (max, then sum of exp, then the outputs), in float for float16.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;
  TBuf y;
  uint rows;
  uint cols;
} pc;

shared float red[256];

float reduce_max(float v) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint h = 128; h > 0; h >>= 1) {
    if (t < h) red[t] = max(red[t], red[t + h]);
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

float reduce_sum(float v) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint h = 128; h > 0; h >>= 1) {
    if (t < h) red[t] += red[t + h];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  for (uint row = gl_WorkGroupID.x; row < pc.rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.cols;
    float m = -INF_F;
    for (uint c = t; c < pc.cols; c += 256) m = max(m, float(pc.x.v[base + c]));
    m = reduce_max(m);
    float s = 0.0;
    for (uint c = t; c < pc.cols; c += 256) s += exp(float(pc.x.v[base + c]) - m);
    s = reduce_sum(s);
#ifdef LOG
    const float ls = log(s);
    for (uint c = t; c < pc.cols; c += 256) pc.y.v[base + c] = T(float(pc.x.v[base + c]) - m - ls);
#else
    for (uint c = t; c < pc.cols; c += 256) pc.y.v[base + c] = T(exp(float(pc.x.v[base + c]) - m) / s);
#endif
  }
}
