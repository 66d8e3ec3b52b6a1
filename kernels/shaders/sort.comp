#version 450
// Bitonic sort of (key, index) pairs, row by row: TopKV2 (keys descending,
// NaN first, ties by lower index, as TF's CPU kernel orders them) and the
// stable sort of scatter slots (ASCENDING: slot ascending, ties by update
// index: the order the updates came in).
//
// Rows are padded to P (a power of two) with sentinels (index 0xffffffff,
// sorted last) and seen as one flat array of rows * P positions. A local pass
// sorts blocks of 2048 positions in shared memory through the bitonic stages
// size_lo..size_hi (strides below 2048); a global pass runs one stage with a
// stride of 2048 or more over the whole array (one pair per invocation). The
// host strings the passes together, so sorts of any length stay within
// lavapipe's loop limit. A block holds 2048 / P whole rows when P < 2048.
//   src 0: keys from x (row-major [rows, n]), indices 0..n-1; src 1: the temps.
//   dst 0: the temps; dst 1 (TopK): values/indices [rows, k], the first k.
#include "common.glsl"
layout(local_size_x = 1024) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer KBuf { C v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UBuf { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer IBuf { IT v[]; };
layout(push_constant) uniform Push {
  TBuf x;
  KBuf keys;     // temp [rows, P]
  UBuf idx;      // temp [rows, P]
  TBuf values;   // dst 1: [rows, k]
  IBuf indices;  // dst 1: [rows, k]
  uint rows, n, k;
  uint log_p;    // P = 1 << log_p
  uint size_lo, size_hi;  // local: stages of these sizes (doubling)
  uint size, stride;      // global: one stage
  uint global_pass, src, dst;
} pc;

const uint B = 2048;
const uint NONE = 0xffffffffu;
shared C sk[B];
shared uint si[B];

// Does (a, ia) come before (b, ib)? Sentinels last.
bool before(C a, uint ia, C b, uint ib) {
  if (ia == NONE || ib == NONE) return ia < ib;
#ifdef ASCENDING
  return a < b || (a == b && ia < ib);
#else
  if (is_nan_c(a) || is_nan_c(b)) return is_nan_c(a) && (!is_nan_c(b) || ia < ib);
  return a > b || (a == b && ia < ib);
#endif
}

void main() {
  const uint P = 1u << pc.log_p;
  const uint total = pc.rows * P;  // the host checks it fits
  if (pc.global_pass != 0) {
    FOR_EACH(t, total / 2) {
      const uint i = (t / pc.stride) * 2u * pc.stride + t % pc.stride, l = i + pc.stride;
      const bool asc = ((i & (P - 1u)) & pc.size) == 0u;
      const C a = pc.keys.v[i], b = pc.keys.v[l];
      const uint ia = pc.idx.v[i], ib = pc.idx.v[l];
      if (asc ? before(b, ib, a, ia) : before(a, ia, b, ib)) {
        pc.keys.v[i] = b, pc.keys.v[l] = a;
        pc.idx.v[i] = ib, pc.idx.v[l] = ia;
      }
    }
    return;
  }
  const uint t = gl_LocalInvocationID.x;
  const uint blocks = (total + B - 1u) / B;
  for (uint blk = gl_WorkGroupID.x; blk < blocks; blk += gl_NumWorkGroups.x) {
    for (uint h = 0; h < 2u; ++h) {
      const uint e = t + h * 1024u, g = blk * B + e;
      const uint row = g >> pc.log_p, q = g & (P - 1u);
      C key = C(0);
      uint id = NONE;
      if (pc.src == 0u) {
        if (row < pc.rows && q < pc.n) key = C(pc.x.v[row * pc.n + q]), id = q;
      } else if (g < total) {
        key = pc.keys.v[g], id = pc.idx.v[g];
      }
      sk[e] = key;
      si[e] = id;
    }
    barrier();
    for (uint size = pc.size_lo; size <= pc.size_hi; size <<= 1) {
      for (uint stride = min(size, B) >> 1; stride > 0u; stride >>= 1) {
        const uint i = (t / stride) * 2u * stride + t % stride, l = i + stride;
        const bool asc = (((blk * B + i) & (P - 1u)) & size) == 0u;
        const C a = sk[i], b = sk[l];
        const uint ia = si[i], ib = si[l];
        if (asc ? before(b, ib, a, ia) : before(a, ia, b, ib)) {
          sk[i] = b, sk[l] = a;
          si[i] = ib, si[l] = ia;
        }
        barrier();
      }
    }
    for (uint h = 0; h < 2u; ++h) {
      const uint e = t + h * 1024u, g = blk * B + e;
      const uint row = g >> pc.log_p, q = g & (P - 1u);
      if (pc.dst == 0u) {
        if (g < total) pc.keys.v[g] = sk[e], pc.idx.v[g] = si[e];
      } else if (row < pc.rows && q < pc.k) {
        pc.values.v[row * pc.k + q] = T(sk[e]);
        pc.indices.v[row * pc.k + q] = IT(si[e]);
      }
    }
    barrier();
  }
}
