#version 450
// Elementwise y = OP(x). OP is an expression in x of type C.
// vec = 1 (the host checked that x and y are aligned to 4 elements): four
// elements per invocation with vector loads and stores, then a scalar tail;
// vec = 2: eight (PACK16 variants, below).
// SCALAR_ONLY variants (element types with no 4-vector) ignore vec.
#include "common.glsl"
layout(local_size_x = 256) in;
#ifndef SCALAR_ONLY
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(T)) buffer TBuf4 { TFMP_VEC4(T) v[]; };
layout(buffer_reference, std430, buffer_reference_align = TFMP_ALIGN4(TO)) buffer TOBuf4 { TFMP_VEC4(TO) v[]; };
#endif
layout(push_constant) uniform Push {
  TBuf x;
  TOBuf y;
  uint n;
  float alpha;  // the op's float attribute (LeakyRelu), unused by the rest
  uint vec;
} pc;
#define ALPHA C(pc.alpha)

TO op(C x) { return TO(OP); }

#ifdef PACK16
// vec = 2 (float16 -> float16 variants; the host checked that x and y are
// aligned to 16 bytes): eight elements per invocation, moved as one uvec4 of
// 32-bit words (two float16 each) and converted through f16vec2 (rounding as
// every float16 conversion here: to nearest even). H200, relu_f16 over 64M
// elements: 1440 GB/s where four per invocation (f16vec4) moved 1180-1230.
layout(buffer_reference, std430, buffer_reference_align = 16) buffer WBuf { uvec4 v[]; };
uint op_word(uint u) {
  const vec2 v = vec2(unpackFloat2x16(u));
  return packFloat2x16(f16vec2(op(C(v.x)), op(C(v.y))));
}
#endif

void main() {
#ifdef PACK16
  if (pc.vec == 2) {
    const uint nv = pc.n >> 3;
    WBuf xw = WBuf(pc.x), yw = WBuf(pc.y);
    FOR_EACH(q, nv) {
      const uvec4 w = xw.v[q];
      yw.v[q] = uvec4(op_word(w.x), op_word(w.y), op_word(w.z), op_word(w.w));
    }
    const uint i = (nv << 3) + gl_GlobalInvocationID.x;
    if (gl_GlobalInvocationID.x < 8 && i < pc.n) pc.y.v[i] = op(C(pc.x.v[i]));
    return;
  }
#endif
#ifndef SCALAR_ONLY
  if (pc.vec != 0) {
    const uint nv = pc.n >> 2;
    TBuf4 x4 = TBuf4(pc.x);
    TOBuf4 y4 = TOBuf4(pc.y);
    FOR_EACH(q, nv) {
      TFMP_VEC4(T) v = x4.v[q];
      y4.v[q] = TFMP_VEC4(TO)(op(C(v.x)), op(C(v.y)), op(C(v.z)), op(C(v.w)));
    }
    const uint i = (nv << 2) + gl_GlobalInvocationID.x;
    if (i < pc.n) pc.y.v[i] = op(C(pc.x.v[i]));
    return;
  }
#endif
  FOR_EACH(i, pc.n) pc.y.v[i] = op(C(pc.x.v[i]));
}
