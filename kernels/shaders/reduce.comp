#version 450
// out[o] = REDUCE over the reduced elements of x for each output o (Sum/Mean).
// The host collapses dims to at most 3 kept and 3 reduced groups; input
// offset = sum(coord_d * stride_d). per_thread = 1: one invocation per output
// (few reduced elements); else one workgroup per output with a tree reduction.
// ACC is the accumulator type (float for float16, as TF's GPU kernels do).
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;
  TOBuf y;
  uint n_out;
  uint n_red;
  uint kept_rank, red_rank;
  uint kshape[3], kstride[3];
  uint rshape[3], rstride[3];
  uint per_thread;
  uint mean;  // divide by n_red
} pc;

shared ACC partial[256];

uint offset_of(uint idx, uint rank, uint shape[3], uint stride[3]) {
  uint off = 0;
  for (int d = int(rank) - 1; d >= 0; --d) {
    off += (idx % shape[d]) * stride[d];
    idx /= shape[d];
  }
  return off;
}

TO finish(ACC s) {
  if (pc.mean != 0) s = s / ACC(pc.n_red);
  return TO(s);
}

void main() {
  if (pc.per_thread != 0) {
    FOR_EACH(o, pc.n_out) {
      uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
      ACC s = ACC(0);
      for (uint r = 0; r < pc.n_red; ++r)
        s += ACC(pc.x.v[base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)]);
      pc.y.v[o] = finish(s);
    }
    return;
  }
  const uint t = gl_LocalInvocationID.x;
  for (uint o = gl_WorkGroupID.x; o < pc.n_out; o += gl_NumWorkGroups.x) {
    uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
    ACC s = ACC(0);
    for (uint r = t; r < pc.n_red; r += 256)
      s += ACC(pc.x.v[base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)]);
    partial[t] = s;
    barrier();
    for (uint w = 128; w > 0; w >>= 1) {
      if (t < w) partial[t] += partial[t + w];
      barrier();
    }
    if (t == 0) pc.y.v[o] = finish(partial[0]);
    barrier();
  }
}
