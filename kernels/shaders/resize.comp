#version 450
// Image resizing, NHWC, with TF's CPU formulas (resize_bilinear_op.cc,
// resize_nearest_neighbor_op.cc, image_resizer_state.h). "in" is always the
// original image's grid (in_h x in_w) and "out" the resized one (out_h x
// out_w); an out pixel o maps to in coordinates through scale = in / out
// (align_corners: (in - 1) / (out - 1)), computed on the host as TF does:
//   legacy:      o * scale
//   half pixel:  (o + 0.5) * scale - 0.5   (nearest: without the - 0.5)
// One variant per mode:
//   BILINEAR       y[out] = lerp of the 4 in pixels around it, in float (T: images)
//   NEAREST        y[out] = x[in pixel nearest to it] (T: an integer type of the element's width)
//   BILINEAR_GRAD  y[in] = sum of dy[out] * weight over the out pixels whose 4 in
//                  pixels include it (dy float, y of type TO)
//   NEAREST_GRAD   y[in] = sum of dy[out] over the out pixels that map to it
// The gradients gather: one invocation per in pixel, which finds the out rows
// and columns touching it by binary search on the (monotone) forward mapping
// and adds their terms in TF's CPU order (out row, then column, then the
// corners top-left, top-right, bottom-left, bottom-right), so float results
// are bit-identical. A dispatch covers the out rows [r0, r1) and columns
// [c0, c1): the host splits long sums over several dispatches, carrying the
// partial sums in `acc` (float) or y itself (NEAREST_GRAD, rounded to T as
// TF's CPU kernel rounds every partial sum).
#include "common.glsl"
#include "bf16.glsl"
layout(local_size_x = 256) in;
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FBuf { float v[]; };

#define ALIGN_CORNERS 1u
#define HALF_PIXEL 2u
#define IDENTITY 4u    // BILINEAR: same size, a plain conversion to float
#define FIRST 8u       // gradients: the first dispatch of the sum
#define LAST 16u       // gradients: the last one

layout(push_constant) uniform Push {
  TBuf x;     // forward: images; gradients: dy
  TOBuf y;    // forward: output; gradients: the gradient of the image
  FBuf acc;   // BILINEAR_GRAD: partial sums between dispatches
  uint n;     // elements of y
  uint batch, in_h, in_w, chans, out_h, out_w;
  float scale_h, scale_w;
  uint flags;
  uint r0, r1, c0, c1;
} pc;

#ifndef LOAD
#define LOAD(v) float(v)
#endif
#ifndef STORE
#define STORE(v) TO(v)
#endif
#ifndef ADD
#define ADD(a, b) ((a) + (b))
#endif

// --- bilinear: in coordinate of out pixel o, its two in pixels and the lerp ---
float bl_coord(uint o, float scale) {
  precise float r;
  if ((pc.flags & HALF_PIXEL) != 0u) {
    precise float t = (float(o) + 0.5) * scale;
    r = t - 0.5;
  } else {
    r = float(o) * scale;
  }
  return r;
}
int bl_low(float v) { return max(int(floor(v)), 0); }
int bl_high(float v, uint size) { return min(int(ceil(v)), int(size) - 1); }
float bl_lerp(float v) {
  precise float r = v - floor(v);
  return r;
}

// --- nearest: the in pixel of out pixel o ---
float roundf_(float v) {  // C's roundf: halves away from zero
  float t = trunc(v);
  return abs(v - t) >= 0.5 ? t + sign(v) : t;
}
int nn_index(uint o, float scale, uint size) {
  precise float v = (pc.flags & HALF_PIXEL) != 0u ? (float(o) + 0.5) * scale : float(o) * scale;
  int i = min(int((pc.flags & ALIGN_CORNERS) != 0u ? roundf_(v) : floor(v)), int(size) - 1);
  return (pc.flags & HALF_PIXEL) != 0u ? max(i, 0) : i;
}

// Decomposes a flat NHWC index over an h x w grid: (batch, row, col, channel).
uvec4 nhwc(uint e, uint h, uint w) {
  const uint c = e % pc.chans;
  uint t = e / pc.chans;
  const uint col = t % w;
  t /= w;
  return uvec4(t / h, t % h, col, c);
}
uint at(uint b, uint r, uint col, uint c, uint h, uint w) { return ((b * h + r) * w + col) * pc.chans + c; }

#if defined(BILINEAR) || defined(NEAREST)
void main() {
  FOR_EACH(e, pc.n) {
#ifdef BILINEAR
    if ((pc.flags & IDENTITY) != 0u) {
      pc.y.v[e] = LOAD(pc.x.v[e]);
      continue;
    }
    const uvec4 p = nhwc(e, pc.out_h, pc.out_w);
    const float vy = bl_coord(p.y, pc.scale_h), vx = bl_coord(p.z, pc.scale_w);
    const uint top = uint(bl_low(vy)), bottom = uint(bl_high(vy, pc.in_h));
    const uint left = uint(bl_low(vx)), right = uint(bl_high(vx, pc.in_w));
    const float ly = bl_lerp(vy), lx = bl_lerp(vx);
    const float tl = LOAD(pc.x.v[at(p.x, top, left, p.w, pc.in_h, pc.in_w)]);
    const float tr = LOAD(pc.x.v[at(p.x, top, right, p.w, pc.in_h, pc.in_w)]);
    const float bl = LOAD(pc.x.v[at(p.x, bottom, left, p.w, pc.in_h, pc.in_w)]);
    const float br = LOAD(pc.x.v[at(p.x, bottom, right, p.w, pc.in_h, pc.in_w)]);
    precise float t = tl + (tr - tl) * lx;
    precise float b = bl + (br - bl) * lx;
    precise float r = t + (b - t) * ly;
    pc.y.v[e] = r;
#else
    const uvec4 p = nhwc(e, pc.out_h, pc.out_w);
    const uint iy = uint(nn_index(p.y, pc.scale_h, pc.in_h));
    const uint ix = uint(nn_index(p.z, pc.scale_w, pc.in_w));
    pc.y.v[e] = pc.x.v[at(p.x, iy, ix, p.w, pc.in_h, pc.in_w)];
#endif
  }
}
#else
// First out index in [0, size) whose mapping reaches `target` (LOW: the
// bilinear bottom pixel >= target; HIGH: the top pixel > target; NN: the
// nearest index >= target, or > target with strict).
#define SEARCH(name, pred)                      \
  uint name(uint size, uint target, float scale, uint in_size, bool strict) { \
    uint lo = 0u, hi = size;                     \
    while (lo < hi) {                            \
      const uint mid = (lo + hi) / 2u;           \
      if (pred) hi = mid; else lo = mid + 1u;    \
    }                                            \
    return lo;                                   \
  }
#ifdef BILINEAR_GRAD
SEARCH(search, strict ? bl_low(bl_coord(mid, scale)) > int(target)
                      : bl_high(bl_coord(mid, scale), in_size) >= int(target))
#else
SEARCH(search, strict ? nn_index(mid, scale, in_size) > int(target)
                      : nn_index(mid, scale, in_size) >= int(target))
#endif

void main() {
  FOR_EACH(e, pc.n) {
    const uvec4 p = nhwc(e, pc.in_h, pc.in_w);
    const uint y0 = max(search(pc.out_h, p.y, pc.scale_h, pc.in_h, false), pc.r0);
    const uint y1 = min(search(pc.out_h, p.y, pc.scale_h, pc.in_h, true), pc.r1);
    const uint x0 = max(search(pc.out_w, p.z, pc.scale_w, pc.in_w, false), pc.c0);
    const uint x1 = min(search(pc.out_w, p.z, pc.scale_w, pc.in_w, true), pc.c1);
#ifdef BILINEAR_GRAD
    precise float s = (pc.flags & FIRST) != 0u ? 0.0 : pc.acc.v[e];
    for (uint oy = y0; oy < y1; ++oy) {
      const float vy = bl_coord(oy, pc.scale_h);
      const bool top = bl_low(vy) == int(p.y), bottom = bl_high(vy, pc.in_h) == int(p.y);
      const float ly = bl_lerp(vy);
      precise float ily = 1.0 - ly;
      for (uint ox = x0; ox < x1; ++ox) {
        const float vx = bl_coord(ox, pc.scale_w);
        const bool left = bl_low(vx) == int(p.z), right = bl_high(vx, pc.in_w) == int(p.z);
        const float lx = bl_lerp(vx);
        precise float ilx = 1.0 - lx;
        const float g = pc.x.v[at(p.x, oy, ox, p.w, pc.out_h, pc.out_w)];
        precise float q;
        if (top && left) { q = g * ily * ilx; s += q; }
        if (top && right) { q = g * ily * lx; s += q; }
        if (bottom && left) { q = g * ly * ilx; s += q; }
        if (bottom && right) { q = g * ly * lx; s += q; }
      }
    }
    if ((pc.flags & LAST) != 0u) pc.y.v[e] = STORE(s);
    else pc.acc.v[e] = s;
#else
    C s = (pc.flags & FIRST) != 0u ? C(0) : LOAD(pc.y.v[e]);
    for (uint oy = y0; oy < y1; ++oy)
      for (uint ox = x0; ox < x1; ++ox) s = ADD(s, LOAD(pc.x.v[at(p.x, oy, ox, p.w, pc.out_h, pc.out_w)]));
    pc.y.v[e] = STORE(s);
#endif
  }
}
#endif
