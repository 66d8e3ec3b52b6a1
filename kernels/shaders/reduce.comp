#version 450
// A reduction (COMBINE with identity INIT: sum, prod, max, min, all, any; the
// Mean divides the sum) of x over its reduced elements, for each output.
// The host collapses dims to at most 3 kept and 3 reduced groups; the input
// offset of an element is sum(coord_d * stride_d).
//
// Work split: the reduced range of every output is cut into `chunks` chunks
// of `chunk_len` elements; workgroup w sums chunk (w % chunks) of output
// (w / chunks) with a tree reduction and writes y[w]. With chunks > 1 the
// host reduces y again (a second dispatch), so no invocation ever loops long:
// fast on GPUs, and inside lavapipe's limit on loop iterations.
// per_thread = 1: one invocation per output instead (few reduced elements).
// The accumulator is float for float16 inputs (as TF's GPU kernels do).
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
  uint mean;     // divide the total by `divisor` (Mean; 0/0 is NaN, as on the CPU)
  uint divisor;
  uint chunks, chunk_len;
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
  if (pc.mean != 0) s = s / ACC(pc.divisor);
  return TO(s);
}

void main() {
  if (pc.per_thread != 0) {
    FOR_EACH(o, pc.n_out) {
      uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
      ACC s = INIT;
      for (uint r = 0; r < pc.n_red; ++r)
        s = COMBINE(s, ACC(pc.x.v[base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)]));
      pc.y.v[o] = finish(s);
    }
    return;
  }
  const uint t = gl_LocalInvocationID.x;
  const uint jobs = pc.n_out * pc.chunks;
  for (uint w = gl_WorkGroupID.x; w < jobs; w += gl_NumWorkGroups.x) {
    const uint o = w / pc.chunks, c = w % pc.chunks;
    const uint base = offset_of(o, pc.kept_rank, pc.kshape, pc.kstride);
    const uint begin = c * pc.chunk_len, end = min(begin + pc.chunk_len, pc.n_red);
    ACC s = INIT;
    for (uint r = begin + t; r < end; r += 256)
      s = COMBINE(s, ACC(pc.x.v[base + offset_of(r, pc.red_rank, pc.rshape, pc.rstride)]));
    partial[t] = s;
    barrier();
    for (uint h = 128; h > 0; h >>= 1) {
      if (t < h) partial[t] = COMBINE(partial[t], partial[t + h]);
      barrier();
    }
    if (t == 0) pc.y.v[w] = pc.chunks > 1 ? TO(partial[0]) : finish(partial[0]);
    barrier();
  }
}
