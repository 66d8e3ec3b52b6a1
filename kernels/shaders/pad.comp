#version 450
// Pad / PadV2 / MirrorPad (default) and MirrorPadGrad (GRAD), rank <= 8.
//
// Forward, by element size (T an integer type of the element's width): one
// invocation per output element, which reads the input element it maps to:
// in each dim d, c = o_d - before_d; outside [0, in_d) it is the constant
// (mode 0), or reflected back (mode 1: REFLECT, mode 2: SYMMETRIC; the host
// checked that one reflection suffices).
//
// GRAD: one invocation per element of the (unpadded) gradient, which gathers
// its <= 3^rank contributions from the padded gradient: per dim, the element
// itself, its reflection in the left pad and in the right pad. They are added
// in TF's CPU order (mirror_pad_op.h folds dim 0 first, each dim as
// (center + left) + right), with ADD(a, b) rounding to the storage type as
// TF's half / bfloat16 arithmetic does: float results are bit-identical.
#include "common.glsl"
#include "bf16.glsl"
layout(local_size_x = 256) in;

#define MAX_RANK 8

layout(push_constant) uniform Push {
  TBuf x;        // forward: input; GRAD: the padded gradient
  TOBuf y;       // forward: padded output; GRAD: the gradient of the input
  uint n;        // elements of y
  uint rank_mode;  // rank | mode << 8 (mode: 0 constant, 1 REFLECT, 2 SYMMETRIC)
  uint64_t value;  // forward: the constant's bits
  uint in_shape[MAX_RANK];   // the unpadded shape
  uint out_shape[MAX_RANK];  // the padded shape
  int before[MAX_RANK];
} pc;

#ifndef GRAD
void main() {
  const uint rank = pc.rank_mode & 0xffu, mode = pc.rank_mode >> 8;
  const uint off = mode == 1u ? 1u : 0u;
  FOR_EACH(e, pc.n) {
    uint rem = e, src = 0u, stride = 1u;
    bool inside = true;
    for (int d = int(rank) - 1; d >= 0; --d) {
      const uint o = rem % pc.out_shape[d];
      rem /= pc.out_shape[d];
      const int size = int(pc.in_shape[d]);
      int c = int(o) - pc.before[d];
      if (c < 0 || c >= size) {
        if (mode == 0u) {
          inside = false;
          break;
        }
        c = c < 0 ? -c - 1 + int(off) : 2 * size - 1 - int(off) - c;
      }
      src += uint(c) * stride;
      stride *= uint(size);
    }
    pc.y.v[e] = inside ? pc.x.v[src] : T(pc.value);
  }
}
#else
// ADD(a, b): a + b in the compute type, rounded as TF's storage type rounds.
#ifndef ADD
#define ADD(a, b) ((a) + (b))
#endif
#ifndef LOAD
#define LOAD(v) C(v)
#endif
#ifndef STORE
#define STORE(v) TO(v)
#endif
#ifndef NEG_ZERO
#define NEG_ZERO C(0)
#endif

void main() {
  const uint rank = pc.rank_mode & 0xffu, mode = pc.rank_mode >> 8;
  const int off = mode == 1u ? 1 : 0;
  FOR_EACH(e, pc.n) {
    // Per dim: the padded positions that fold onto this element, in TF's order.
    uint pos[MAX_RANK * 3];
    uint count[MAX_RANK], k[MAX_RANK], pstride[MAX_RANK];
    uint rem = e, total = 1u, ps = 1u;
    for (int d = int(rank) - 1; d >= 0; --d) {
      const int size = int(pc.in_shape[d]);
      const int o = int(rem % uint(size));
      rem /= uint(size);
      const int b = pc.before[d];
      const int a = int(pc.out_shape[d]) - b - size;
      uint m = 0u;
      pos[uint(d) * 3u + m++] = uint(o + b);
      if (o >= off && o < b + off) pos[uint(d) * 3u + m++] = uint(b - 1 + off - o);  // left pad
      if (o <= size - 1 - off && o > size - 1 - off - a)                      // right pad
        pos[uint(d) * 3u + m++] = uint(b + 2 * size - 1 - off - o);
      count[d] = m;
      k[d] = 0u;
      pstride[d] = ps;
      ps *= pc.out_shape[d];
      total *= m;
    }
    // Nested sums, dim 0 innermost: acc[d] holds the running sum at level d.
    // -0 is the identity of float addition that keeps a lone -0.
    C acc[MAX_RANK + 1];
    for (uint d = 0u; d <= rank; ++d) acc[d] = NEG_ZERO;
    for (uint t = 0u; t < total; ++t) {
      uint idx = 0u;
      for (uint d = 0u; d < rank; ++d) idx += pos[d * 3u + k[d]] * pstride[d];
      acc[0] = ADD(acc[0], LOAD(pc.x.v[idx]));
      for (uint d = 0u; d < rank; ++d) {
        if (++k[d] < count[d]) break;
        k[d] = 0u;
        acc[d + 1u] = ADD(acc[d + 1u], acc[d]);
        acc[d] = NEG_ZERO;
      }
    }
    pc.y.v[e] = STORE(acc[rank]);
  }
}
#endif
