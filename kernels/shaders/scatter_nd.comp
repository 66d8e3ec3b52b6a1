#version 450
// Scatter with duplicate indices, without atomics (Apple GPUs have no float
// atomics): ScatterNd, TensorScatter{Update,Add,Sub,Min,Max} and the segment
// reductions. Each update row has a slot (the output row it goes to); the host
//   1. records SLOTS: keys[r] = the row-major slot of indices row r, or
//      0xffffffff when a component is out of range (the update is skipped, as
//      TF's GPU kernels do; its CPU kernels raise);
//   2. sorts (slot, r) pairs stably (sort.comp, ASCENDING): the updates of one
//      slot become one run, in the order they came;
//   3. records mode 0 over chunks of `chunk` sorted positions, one invocation
//      per (chunk, column): a run that starts and ends inside the chunk is
//      combined and applied to out[slot] right away; the part of a run that
//      crosses the chunk's start goes to head[chunk], the part that crosses
//      its end to tail[chunk];
//   4. with several chunks, records mode 1: the chunk where a crossing run
//      starts adds tail + the heads of the chunks it covers and applies it.
// Every output element is written by one invocation (no races), no loop runs
// longer than `chunk` or the number of chunks, and the order of combination
// is fixed: results are deterministic. COMBINE(a, b) folds updates in order
// (ACC: float for float16); APPLY(o, t, cnt) merges the total into the
// output's current value (the input tensor, or the op's identity).
#include "common.glsl"
layout(local_size_x = 64) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UBuf { uint v[]; };
const uint NONE = 0xffffffffu;

#ifdef SLOTS
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  IBuf indices;  // [n, depth]
  UBuf keys;     // [n]
  uint n, depth;
  uint dims[10];
} pc;

void main() {
  FOR_EACH(r, pc.n) {
    uint slot = 0;
    bool ok = true;
    for (uint d = 0; d < pc.depth; ++d) {
      const IT v = pc.indices.v[r * pc.depth + d];
      // tested in its own type first: int64_t(int) came out zero-extended on lavapipe
      if (v < IT(0) || int64_t(v) >= int64_t(pc.dims[d])) ok = false;
      else slot = slot * pc.dims[d] + uint(v);
    }
    pc.keys.v[r] = ok ? slot : NONE;
  }
}
#else
layout(buffer_reference, std430, buffer_reference_align = 4) buffer ABuf { ACC v[]; };
layout(push_constant) uniform Push {
  UBuf keys;     // sorted slots
  UBuf idx;      // sorted update rows
  TBuf updates;  // [n, cols]
  TBuf dst;      // [slots, cols]
  ABuf head;     // [chunks, cols]
  ABuf tail;     // [chunks, cols]
  uint n, cols, chunk, chunks;
  uint mode;
} pc;

void apply(uint slot, uint col, ACC t, uint cnt) {
  const uint e = slot * pc.cols + col;
  pc.dst.v[e] = T(APPLY(ACC(pc.dst.v[e]), t, cnt));
}

void main() {
  FOR_EACH(job, pc.chunks * pc.cols) {
    const uint col = job % pc.cols, c = job / pc.cols;
    const uint cb = c * pc.chunk, ce = min(cb + pc.chunk, pc.n);
    if (pc.mode == 0) {
      uint p = cb;
      while (p < ce) {
        const uint s = pc.keys.v[p];
        if (s == NONE) break;  // the skipped updates sort last
        ACC acc = ACC(pc.updates.v[pc.idx.v[p] * pc.cols + col]);
        uint q = p + 1;
        for (; q < ce && pc.keys.v[q] == s; ++q)
          acc = COMBINE(acc, ACC(pc.updates.v[pc.idx.v[q] * pc.cols + col]));
        if (p == cb && cb > 0 && pc.keys.v[cb - 1] == s) pc.head.v[job] = acc;
        else if (q == ce && ce < pc.n && pc.keys.v[ce] == s) pc.tail.v[job] = acc;
        else apply(s, col, acc, q - p);
        p = q;
      }
    } else {
      // The run at the end of this chunk, if it starts here and goes on.
      const uint s = pc.keys.v[ce - 1];
      if (s == NONE || ce >= pc.n || pc.keys.v[ce] != s) continue;
      if (pc.keys.v[cb] == s && cb > 0 && pc.keys.v[cb - 1] == s) continue;  // a head
      uint start = ce - 1;
      while (start > cb && pc.keys.v[start - 1] == s) --start;
      ACC acc = pc.tail.v[job];
      uint c2 = c + 1, end = pc.n;
      for (; c2 < pc.chunks; ++c2) {
        acc = COMBINE(acc, pc.head.v[c2 * pc.cols + col]);
        const uint e2 = min((c2 + 1) * pc.chunk, pc.n);
        if (e2 >= pc.n || pc.keys.v[e2] != s) {
          end = e2;
          while (end > c2 * pc.chunk && pc.keys.v[end - 1] != s) --end;
          break;
        }
      }
      apply(s, col, acc, end - start);
    }
  }
}
#endif
