#version 450
// _TfmpLossScaleStep (kernels/fused_update.cc; grappler/patterns/loss_scale.cc):
// the scalar bookkeeping of a finite LossScaleOptimizer step in ONE
// invocation, what Keras computes in a cond and three integer dispatches:
//   counter' = counter == growth - 1 ? 0 : counter + 1
//   scale'   = counter == growth - 1 ? scale * 2 : scale
//   iter'    = iter + 1,  step = float(iter + 1)   (the inner optimizer's
//              iteration count and its Cast, e.g. Adam's bias correction)
// Inputs are read and outputs written through device addresses (the op's
// own tensors); float(int64) as cast_i64_to_f32 converts.
#include "common.glsl"
layout(local_size_x = 1) in;
layout(buffer_reference, std430, buffer_reference_align = 8) buffer LBuf { int64_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };
layout(push_constant) uniform Push {
  LBuf counter_in;
  FBuf scale_in;
  LBuf iter_in;
  LBuf counter_out;
  FBuf scale_out;
  LBuf iter_out;
  FBuf step_out;
  int64_t grow_at;  // growth steps - 1
} pc;

void main() {
  const int64_t c = pc.counter_in.v[0];
  const float s = pc.scale_in.v[0];
  const bool grow = c == pc.grow_at;
  pc.counter_out.v[0] = grow ? int64_t(0) : c + int64_t(1);
  pc.scale_out.v[0] = grow ? s * 2.0 : s;
  const int64_t i = pc.iter_in.v[0] + int64_t(1);
  pc.iter_out.v[0] = i;
  pc.step_out.v[0] = float(i);
}
