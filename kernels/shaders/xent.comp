#version 450
// (Sparse)SoftmaxCrossEntropyWithLogits, one workgroup per row:
//   loss[r] = logsumexp(x[r]) - sum_c label[r, c] * x[r, c]
//   backprop[r, c] = softmax(x[r])[c] - label[r, c]
// SPARSE: labels are class indices (LT: int or int64_t); an index outside
// [0, cols) gives NaN loss and gradients, as TF's GPU kernels do.
#include "common.glsl"
layout(local_size_x = 256) in;
#ifdef SPARSE
layout(buffer_reference, std430, buffer_reference_align = 4) buffer LBuf { LT v[]; };
#else
#define LBuf TBuf
#endif
layout(push_constant) uniform Push {
  TBuf x;
  LBuf labels;
  TBuf loss;
  TBuf backprop;
  uint rows;
  uint cols;
} pc;

shared float red[256];

float reduce_op(float v, bool is_max) {
  const uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint h = 128; h > 0; h >>= 1) {
    if (t < h) red[t] = is_max ? max(red[t], red[t + h]) : red[t] + red[t + h];
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
    m = reduce_op(m, true);
    float s = 0.0;
    for (uint c = t; c < pc.cols; c += 256) s += exp(float(pc.x.v[base + c]) - m);
    s = reduce_op(s, false);
    const float lse = m + log(s);
#ifdef SPARSE
    const int64_t label = int64_t(pc.labels.v[row]);
    const bool valid = label >= 0 && label < int64_t(pc.cols);
    float dot = valid ? float(pc.x.v[base + uint(label)]) : NAN_F;
    for (uint c = t; c < pc.cols; c += 256) {
      float p = exp(float(pc.x.v[base + c]) - m) / s;
      pc.backprop.v[base + c] = T(valid ? p - (int64_t(c) == label ? 1.0 : 0.0) : NAN_F);
    }
#else
    float dot = 0.0;
    for (uint c = t; c < pc.cols; c += 256) {
      float l = float(pc.labels.v[base + c]);
      float xv = float(pc.x.v[base + c]);
      dot += l * (xv - lse);
      pc.backprop.v[base + c] = T(exp(xv - m) / s - l);
    }
    dot = reduce_op(dot, false);
#endif
    if (t == 0) {
#ifdef SPARSE
      pc.loss.v[row] = T(lse - dot);
#else
      pc.loss.v[row] = T(-dot);
#endif
    }
  }
}
