#version 450
// 2-D and 3-D pooling (window.glsl: positions are (d, h, w), depth 1 in the
// 2-D variants), one invocation per output element, channels-last or
// channels-first (`nchw`):
//   MAX_FWD  y = max of the window (padding ignored)
//   AVG_FWD  y = mean of the window's in-bounds elements
//   MAX_BWD  dx[i] = sum of dy over the windows whose first maximum (in
//            row-major window order, as TF's CPU MaxPoolGrad) is element i
//            of x; with TIES (MaxPool3DGrad, as TF's CPU kernel) over the
//            windows whose forward output `ymax` is within 1e-5 of x[i]
//   AVG_BWD  dx[i] = sum over the windows holding i of dy / window count
#include "common.glsl"
#include "window.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;     // forward: input; MAX_BWD: the forward input
  TBuf dy;    // backward: the output gradient
  TBuf y;     // forward: output; backward: dx
  TBuf ymax;  // MAX_BWD with TIES: the forward output
  uint n;     // elements of y
  uint chans;
  uint in_d, in_h, in_w;
  uint out_d, out_h, out_w;
  uint k_d, k_h, k_w;
  uint stride_d, stride_h, stride_w;
  int pad_d, pad_h, pad_w;  // leading padding
  uint nchw;
} pc;

uvec3 in_dims() { return DIMS3(pc.in_d, pc.in_h, pc.in_w); }
uvec3 out_dims() { return DIMS3(pc.out_d, pc.out_h, pc.out_w); }
ivec3 k_dims() { return ivec3(DIMS3(pc.k_d, pc.k_h, pc.k_w)); }
ivec3 strides() { return ivec3(DIMS3(pc.stride_d, pc.stride_h, pc.stride_w)); }
ivec3 pads() { return ivec3(IF_3D(pc.pad_d, 0), pc.pad_h, pc.pad_w); }

uint x_index(uint b, ivec3 p, uint c) { return act_index(pc.nchw != 0, b, uvec3(p), c, in_dims(), pc.chans); }

// Window of output position o: first input position lo and the clipped range [lo, hi).
void window(ivec3 o, out ivec3 lo, out ivec3 hi) {
  lo = o * strides() - pads();
  hi = min(lo + k_dims(), ivec3(in_dims()));
  lo = max(lo, ivec3(0));
}

int volume(ivec3 lo, ivec3 hi) {
  const ivec3 e = hi - lo;
  return max(e.x * e.y * e.z, 1);
}

#if defined(MAX_FWD) || defined(AVG_FWD)
void main() {
  FOR_EACH(i, pc.n) {
    uvec3 o;
    uint c;
    const uint b = act_coords(pc.nchw != 0, i, out_dims(), pc.chans, o, c);
    ivec3 lo, hi;
    window(ivec3(o), lo, hi);
#ifdef MAX_FWD
    float r = -INF_F;
#else
    float r = 0.0;
#endif
    for (int d = lo.x; d < hi.x; ++d)
      for (int h = lo.y; h < hi.y; ++h)
        for (int w = lo.z; w < hi.z; ++w) {
          const float v = float(pc.x.v[x_index(b, ivec3(d, h, w), c)]);
#ifdef MAX_FWD
          r = max(r, v);
#else
          r += v;
#endif
        }
#ifdef AVG_FWD
    r /= float(volume(lo, hi));
#endif
    pc.y.v[i] = T(r);
  }
}
#else
void main() {
  FOR_EACH(i, pc.n) {
    uvec3 up;
    uint c;
    const uint b = act_coords(pc.nchw != 0, i, in_dims(), pc.chans, up, c);  // this element of dx
    const ivec3 p = ivec3(up);
    // Outputs o whose window holds p: o * s - pad <= p < o * s - pad + k.
    const ivec3 q = p + pads();
    const ivec3 o0 = max(q - k_dims() + strides(), ivec3(0)) / strides();
    const ivec3 o1 = min(ivec3(out_dims()) - 1, q / strides());
#if defined(MAX_BWD) && defined(TIES)
    const float xv = float(pc.x.v[i]);
#endif
    float g = 0.0;
    for (int od = o0.x; od <= o1.x; ++od)
      for (int oh = o0.y; oh <= o1.y; ++oh)
        for (int ow = o0.z; ow <= o1.z; ++ow) {
          const ivec3 o = ivec3(od, oh, ow);
          ivec3 lo, hi;
          window(o, lo, hi);
          if (any(lessThan(p, lo)) || any(greaterThanEqual(p, hi))) continue;
          const uint oi = act_index(pc.nchw != 0, b, uvec3(o), c, out_dims(), pc.chans);
          const float d = float(pc.dy.v[oi]);
#if defined(MAX_BWD) && defined(TIES)
          if (abs(xv - float(pc.ymax.v[oi])) < 1e-5) g += d;
#elif defined(MAX_BWD)
          // Is p the first maximum of this window?
          float best = -INF_F;
          ivec3 at = ivec3(-1);
          for (int wd = lo.x; wd < hi.x; ++wd)
            for (int h = lo.y; h < hi.y; ++h)
              for (int w = lo.z; w < hi.z; ++w) {
                const float v = float(pc.x.v[x_index(b, ivec3(wd, h, w), c)]);
                if (at.z < 0 || v > best || (isnan(v) && !isnan(best))) best = v, at = ivec3(wd, h, w);
              }
          if (at == p) g += d;
#else
          g += d / float(volume(lo, hi));
#endif
        }
    pc.y.v[i] = T(g);
  }
}
#endif
