#version 450
// Elementwise y = OP(x). OP is an expression in x of type C.
// vec = 1 (the host checked that x and y are aligned to 4 elements): four
// elements per invocation with vector loads and stores, then a scalar tail.
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

void main() {
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
