#version 450
// ResourceScatter{Update,Add,Sub,Mul,Div,Min,Max}: params (the variable, seen
// as [rows, inner]) updated in place by updates [n_idx, inner] (or one scalar)
// at rows indices[i]: p = OP(p, u).
//
// Duplicate indices without atomics (Apple GPUs have no float or 64-bit
// atomics): every invocation owns one column j of one group g of rows (the
// rows r with r % groups == g) and walks the updates [begin, end) in order,
// applying those that hit its rows. Each element therefore sees its updates
// sequentially in index order, exactly as TF's CPU kernel applies them
// (duplicates accumulate, the last Update wins, float results are bit-equal).
// The host picks `groups` so that groups * inner invocations fill the GPU,
// and splits long index lists into blocks (one dispatch each, in order) so
// no invocation loops too long.
//
// An index outside [0, rows) is skipped, as TF's GPU kernels do: checking it
// on the host would wait for the device (TF's CPU kernel raises).
#include "common.glsl"
layout(local_size_x = 64) in;
// A negative index tested in its own type: int64_t(int) came out
// zero-extended on lavapipe.
#define IDX(x) ((x) < IT(0) ? int64_t(-1) : int64_t(x))
layout(buffer_reference, std430, buffer_reference_align = 1) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  TBuf params;
  IBuf indices;
  TBuf updates;
  uint rows;
  uint inner;
  uint groups;
  uint begin;   // this dispatch's block of updates
  uint end;
  uint scalar;  // 1: updates is one scalar for every element
} pc;

void main() {
  const uint total = pc.inner * pc.groups;
  FOR_EACH(t, total) {
    const uint j = t % pc.inner;
    const uint g = t / pc.inner;
    for (uint i = pc.begin; i < pc.end; ++i) {
      const int64_t idx = IDX(pc.indices.v[i]);
      if (idx < 0 || idx >= int64_t(pc.rows)) continue;
      const uint r = uint(idx);
      if (r % pc.groups != g) continue;
      const uint e = r * pc.inner + j;
      const C p = C(pc.params.v[e]);
      const C u = C(pc.updates.v[pc.scalar != 0u ? 0u : i * pc.inner + j]);
      pc.params.v[e] = T(OP);
    }
  }
}
