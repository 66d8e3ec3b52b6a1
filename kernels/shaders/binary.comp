#version 450
// Elementwise z = OP(a, b) with NumPy broadcasting. The host collapses the
// shapes to at most 6 dims; rank 0 means both inputs are read flat with
// strides a_stride[0]/b_stride[0] (1, or 0 for a scalar).
// vec = 1: four outputs per invocation with vector loads and stores. The host
// sets it when every operand read with stride 1 and the output are aligned to
// 4 elements and, for rank > 0, the innermost dim is a multiple of 4 (so the
// four outputs share one row: one index computation, and each operand is a
// vector load or, broadcast along that dim, one scalar). Rank 0 ends with a
// scalar tail. SCALAR_ONLY variants (no 4-vector of the element type) ignore vec.
#include "common.glsl"
layout(local_size_x = 256) in;
#ifndef SCALAR_ONLY
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(T)) buffer TBuf4 { TFMP_VEC4(T) v[]; };
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(TO)) buffer TOBuf4 { TFMP_VEC4(TO) v[]; };
#endif
layout(push_constant) uniform Push {
  TBuf a;
  TBuf b;
  TOBuf z;
  uint n;
  uint rank;
  uint shape[6];
  uint a_stride[6];  // rank 0: a_stride[0] is the flat stride
  uint b_stride[6];
  float alpha;  // the op's float attribute (LeakyRelu), unused by the rest
  uint vec;
} pc;
#define ALPHA C(pc.alpha)

TO op(C a, C b) { return TO(OP); }

// Input offsets of output element i.
void offsets(uint i, out uint ia, out uint ib) {
  if (pc.rank == 0) {
    ia = i * pc.a_stride[0];
    ib = i * pc.b_stride[0];
    return;
  }
  uint rem = i;
  ia = 0;
  ib = 0;
  for (int d = int(pc.rank) - 1; d >= 0; --d) {
    uint c = rem % pc.shape[d];
    rem /= pc.shape[d];
    ia += c * pc.a_stride[d];
    ib += c * pc.b_stride[d];
  }
}

#ifndef SCALAR_ONLY
// Four consecutive elements of x from offset i (stride 1) or x[i] four times (stride 0).
TFMP_VEC4(T) load4(TBuf x, uint i, bool vector) {
  if (vector) return TBuf4(x).v[i >> 2];
  T s = x.v[i];
  return TFMP_VEC4(T)(s, s, s, s);
}
#endif

#ifdef PACK16
// vec = 2 (float16 -> float16 variants; the host checked that the innermost
// dim is a multiple of 8 and that z and the operands read along it are
// aligned to 16 bytes): eight outputs per invocation, each operand one uvec4
// of 32-bit words (two float16 each) or, broadcast along that dim, one value
// splat; converted through f16vec2 (to nearest even). H200, add_f16 over 64M
// elements: 1670-1690 GB/s where four per invocation (f16vec4) moved
// 1230-1520.
layout(buffer_reference, std430, buffer_reference_align = 16) buffer WBuf { uvec4 v[]; };
uvec4 load8(TBuf x, uint i, bool vector) {
  if (vector) return WBuf(x).v[i >> 3];
  const uint s = uint(float16BitsToUint16(x.v[i]));
  return uvec4(s | (s << 16));
}
uint op_word(uint ua, uint ub) {
  const vec2 a = vec2(unpackFloat2x16(ua)), b = vec2(unpackFloat2x16(ub));
  return packFloat2x16(f16vec2(op(C(a.x), C(b.x)), op(C(a.y), C(b.y))));
}
#endif

void main() {
#ifdef PACK16
  if (pc.vec == 2) {
    const uint last = pc.rank == 0 ? 0 : pc.rank - 1;
    const bool va = pc.a_stride[last] != 0, vb = pc.b_stride[last] != 0;
    const uint nv = pc.n >> 3;
    WBuf zw = WBuf(pc.z);
    FOR_EACH(q, nv) {
      uint ia, ib;
      offsets(q << 3, ia, ib);
      const uvec4 a = load8(pc.a, ia, va), b = load8(pc.b, ib, vb);
      zw.v[q] = uvec4(op_word(a.x, b.x), op_word(a.y, b.y), op_word(a.z, b.z), op_word(a.w, b.w));
    }
    const uint i = (nv << 3) + gl_GlobalInvocationID.x;  // rank 0's tail
    if (gl_GlobalInvocationID.x < 8 && i < pc.n) {
      uint ia, ib;
      offsets(i, ia, ib);
      pc.z.v[i] = op(C(pc.a.v[ia]), C(pc.b.v[ib]));
    }
    return;
  }
#endif
#ifndef SCALAR_ONLY
  if (pc.vec != 0) {
    const uint last = pc.rank == 0 ? 0 : pc.rank - 1;
    const bool va = pc.a_stride[last] != 0, vb = pc.b_stride[last] != 0;
    const uint nv = pc.n >> 2;
    TOBuf4 z4 = TOBuf4(pc.z);
    FOR_EACH(q, nv) {
      uint ia, ib;
      offsets(q << 2, ia, ib);
      TFMP_VEC4(T) a = load4(pc.a, ia, va), b = load4(pc.b, ib, vb);
      z4.v[q] = TFMP_VEC4(TO)(op(C(a.x), C(b.x)), op(C(a.y), C(b.y)), op(C(a.z), C(b.z)),
                              op(C(a.w), C(b.w)));
    }
    const uint i = (nv << 2) + gl_GlobalInvocationID.x;  // rank 0's tail
    if (i < pc.n) {
      uint ia, ib;
      offsets(i, ia, ib);
      pc.z.v[i] = op(C(pc.a.v[ia]), C(pc.b.v[ib]));
    }
    return;
  }
#endif
  FOR_EACH(i, pc.n) {
    uint ia, ib;
    offsets(i, ia, ib);
    pc.z.v[i] = op(C(pc.a.v[ia]), C(pc.b.v[ib]));
  }
}
