#version 450
// ArgMax / ArgMin (MIN defined) along one axis: the input is viewed as
// [outer, axis, inner]; out[o * inner + i] = the first index of the extreme
// value. One invocation per output (per_thread), or a workgroup per output
// with a tree reduction of (value, index) pairs for long axes.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  IBuf y;
  uint n_out;
  uint axis;
  uint inner;
  uint per_thread;
} pc;

shared C vals[256];
shared uint idxs[256];

// Is (a, ia) preferred over (b, ib)? NaN wins (as on the CPU); ties: lower index.
bool better(C a, uint ia, C b, uint ib) {
  if (is_nan_c(a) || is_nan_c(b)) return is_nan_c(a) && (!is_nan_c(b) || ia < ib);
#ifdef MIN
  return a < b || (a == b && ia < ib);
#else
  return a > b || (a == b && ia < ib);
#endif
}

void main() {
  if (pc.per_thread != 0) {
    FOR_EACH(o, pc.n_out) {
      const uint base = (o / pc.inner) * pc.axis * pc.inner + o % pc.inner;
      C best = C(pc.x.v[base]);
      uint bi = 0;
      for (uint k = 1; k < pc.axis; ++k) {
        C v = C(pc.x.v[base + k * pc.inner]);
        if (better(v, k, best, bi)) best = v, bi = k;
      }
      pc.y.v[o] = IT(bi);
    }
    return;
  }
  const uint t = gl_LocalInvocationID.x;
  for (uint o = gl_WorkGroupID.x; o < pc.n_out; o += gl_NumWorkGroups.x) {
    const uint base = (o / pc.inner) * pc.axis * pc.inner + o % pc.inner;
    C best = C(0);
    uint bi = 0xffffffffu;
    for (uint k = t; k < pc.axis; k += 256) {
      C v = C(pc.x.v[base + k * pc.inner]);
      if (bi == 0xffffffffu || better(v, k, best, bi)) best = v, bi = k;
    }
    vals[t] = best;
    idxs[t] = bi;
    barrier();
    for (uint h = 128; h > 0; h >>= 1) {
      if (t < h && idxs[t + h] != 0xffffffffu &&
          (idxs[t] == 0xffffffffu || better(vals[t + h], idxs[t + h], vals[t], idxs[t]))) {
        vals[t] = vals[t + h];
        idxs[t] = idxs[t + h];
      }
      barrier();
    }
    if (t == 0) pc.y.v[o] = IT(idxs[0]);
    barrier();
  }
}
