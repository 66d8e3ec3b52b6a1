#version 450
// 2-D pooling, one invocation per output element (NHWC, or NCHW when `nchw`):
//   MAX_FWD  y = max of the window (padding ignored)
//   AVG_FWD  y = mean of the window's in-bounds elements
//   MAX_BWD  dx[i] = sum of dy over the windows whose first maximum (in
//            row-major window order, as TF's CPU kernel) is element i of x
//   AVG_BWD  dx[i] = sum over the windows holding i of dy / window count
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf x;   // forward: input; MAX_BWD: the forward input
  TBuf dy;  // backward: the output gradient
  TBuf y;   // forward: output; backward: dx
  uint n;   // elements of y
  uint batch, in_h, in_w, chans, out_h, out_w;
  uint k_h, k_w, stride_h, stride_w;
  int pad_top, pad_left;
  uint nchw;
} pc;

uint idx(uint b, uint h, uint w, uint c, uint H, uint W) {
  return pc.nchw != 0 ? ((b * pc.chans + c) * H + h) * W + w : ((b * H + h) * W + w) * pc.chans + c;
}

// Decomposes a flat index of a [batch, H, W, chans] tensor (in its layout).
uvec4 coords(uint i, uint H, uint W) {
  if (pc.nchw != 0) {
    uint w = i % W, t = i / W;
    uint h = t % H;
    t /= H;
    return uvec4(t / pc.chans, h, w, t % pc.chans);
  }
  uint c = i % pc.chans, t = i / pc.chans;
  uint w = t % W;
  t /= W;
  return uvec4(t / H, t % H, w, c);
}

// Window of output (oh, ow): first input row/col and the clipped ranges.
void window(uint oh, uint ow, out int h0, out int w0, out int h1, out int w1) {
  h0 = int(oh * pc.stride_h) - pc.pad_top;
  w0 = int(ow * pc.stride_w) - pc.pad_left;
  h1 = min(h0 + int(pc.k_h), int(pc.in_h));
  w1 = min(w0 + int(pc.k_w), int(pc.in_w));
  h0 = max(h0, 0);
  w0 = max(w0, 0);
}

#if defined(MAX_FWD) || defined(AVG_FWD)
void main() {
  FOR_EACH(i, pc.n) {
    uvec4 o = coords(i, pc.out_h, pc.out_w);
    int h0, w0, h1, w1;
    window(o.y, o.z, h0, w0, h1, w1);
#ifdef MAX_FWD
    float r = -INF_F;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) r = max(r, float(pc.x.v[idx(o.x, uint(h), uint(w), o.w, pc.in_h, pc.in_w)]));
#else
    float r = 0.0;
    for (int h = h0; h < h1; ++h)
      for (int w = w0; w < w1; ++w) r += float(pc.x.v[idx(o.x, uint(h), uint(w), o.w, pc.in_h, pc.in_w)]);
    r /= float(max((h1 - h0) * (w1 - w0), 1));
#endif
    pc.y.v[i] = T(r);
  }
}
#else
void main() {
  FOR_EACH(i, pc.n) {
    uvec4 p = coords(i, pc.in_h, pc.in_w);  // this element of dx
    // Outputs whose window holds row p.y: oh*s - pad <= p.y < oh*s - pad + k.
    int top = int(p.y) + pc.pad_top, left = int(p.z) + pc.pad_left;
    int oh0 = max(0, (top - int(pc.k_h) + int(pc.stride_h)) / int(pc.stride_h));
    int oh1 = min(int(pc.out_h) - 1, top / int(pc.stride_h));
    int ow0 = max(0, (left - int(pc.k_w) + int(pc.stride_w)) / int(pc.stride_w));
    int ow1 = min(int(pc.out_w) - 1, left / int(pc.stride_w));
    if (top - int(pc.k_h) + int(pc.stride_h) < 0) oh0 = 0;
    if (left - int(pc.k_w) + int(pc.stride_w) < 0) ow0 = 0;
    float g = 0.0;
    for (int oh = oh0; oh <= oh1; ++oh) {
      for (int ow = ow0; ow <= ow1; ++ow) {
        int h0, w0, h1, w1;
        window(uint(oh), uint(ow), h0, w0, h1, w1);
        if (int(p.y) < h0 || int(p.y) >= h1 || int(p.z) < w0 || int(p.z) >= w1) continue;
        float d = float(pc.dy.v[idx(p.x, uint(oh), uint(ow), p.w, pc.out_h, pc.out_w)]);
#ifdef MAX_BWD
        // Is p the first maximum of this window?
        float best = -INF_F;
        int bh = -1, bw = -1;
        for (int h = h0; h < h1; ++h)
          for (int w = w0; w < w1; ++w) {
            float v = float(pc.x.v[idx(p.x, uint(h), uint(w), p.w, pc.in_h, pc.in_w)]);
            if (bh < 0 || v > best || (isnan(v) && !isnan(best))) best = v, bh = h, bw = w;
          }
        if (bh == int(p.y) && bw == int(p.z)) g += d;
#else
        g += d / float(max((h1 - h0) * (w1 - w0), 1));
#endif
      }
    }
    pc.y.v[i] = T(g);
  }
}
#endif
