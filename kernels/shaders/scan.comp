#version 450
// Cumsum / Cumprod (COMBINE with identity INIT) along one axis, and the two
// data passes of Where (WHERE defined). The input is viewed as
// [outer, len, inner]; every line (o, i) is cut into `chunks` chunks of
// `chunk` elements in scan order (reversed when `reverse` is set). One
// invocation owns one chunk of one line, so no invocation loops more than
// `chunk` times (lavapipe's loop limit) and the host needs no wait:
//   mode 0: totals[(o * chunks + c) * inner + i] = the chunk's reduction (ACC);
//   mode 1: y = the scan of the chunk, started from offsets[same index] (the
//           exclusive scan of the totals, recorded by the host with this same
//           shader on the ACC array) or from INIT when there is one chunk.
// Accumulation is in ACC (float for float16), rounded once on store.
// WHERE: the input is flat (outer = inner = 1); mode 0 counts the nonzero
// elements of each chunk (int64 totals); mode 1 writes the coordinates of each
// nonzero element (row-major, int64) at its exclusive-scan position.
#include "common.glsl"
layout(local_size_x = 64) in;
#ifdef WHERE
#undef ACC
#define ACC int64_t
#endif
layout(buffer_reference, std430, buffer_reference_align = 4) buffer ABuf { ACC v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer LBuf { int64_t v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  TBuf y;       // WHERE: unused (coordinates go to `coords`)
  ABuf totals;  // mode 0 output
  ABuf offsets; // mode 1 input (unused when chunks == 1)
  LBuf coords;  // WHERE mode 1 output: [count, rank]
  uint outer, len, inner;
  uint chunks, chunk;
  uint mode;
  uint exclusive, reverse;
  uint rank;         // WHERE: rank of the input (<= 8)
  uint shape[8];     // WHERE: the input's shape
} pc;

void main() {
  const uint jobs = pc.outer * pc.chunks * pc.inner;
  FOR_EACH(job, jobs) {
    const uint i = job % pc.inner;
    const uint oc = job / pc.inner;  // o * chunks + c
    const uint c = oc % pc.chunks, o = oc / pc.chunks;
    const uint begin = c * pc.chunk, end = min(begin + pc.chunk, pc.len);
    const uint line = o * pc.len * pc.inner + i;
#ifdef WHERE
    if (pc.mode == 0) {
      int64_t count = 0;
      for (uint k = begin; k < end; ++k)
        if (C(pc.x.v[k]) != C(0)) ++count;
      pc.totals.v[c] = count;
    } else {
      int64_t pos = pc.chunks > 1 ? pc.offsets.v[c] : int64_t(0);
      for (uint k = begin; k < end; ++k) {
        if (C(pc.x.v[k]) == C(0)) continue;
        uint rem = k;
        for (int d = int(pc.rank) - 1; d >= 0; --d) {
          pc.coords.v[uint(pos) * pc.rank + uint(d)] = int64_t(rem % pc.shape[d]);
          rem /= pc.shape[d];
        }
        ++pos;
      }
    }
#else
    if (pc.mode == 0) {
      ACC s = INIT;
      for (uint k = begin; k < end; ++k) {
        const uint a = pc.reverse != 0 ? pc.len - 1 - k : k;
        s = COMBINE(s, ACC(pc.x.v[line + a * pc.inner]));
      }
      pc.totals.v[job] = s;
    } else {
      ACC s = pc.chunks > 1 ? pc.offsets.v[job] : INIT;
      for (uint k = begin; k < end; ++k) {
        const uint a = line + (pc.reverse != 0 ? pc.len - 1 - k : k) * pc.inner;
        const ACC v = ACC(pc.x.v[a]);
        if (pc.exclusive != 0) {
          pc.y.v[a] = T(s);
          s = COMBINE(s, v);
        } else {
          s = COMBINE(s, v);
          pc.y.v[a] = T(s);
        }
      }
    }
#endif
  }
}
