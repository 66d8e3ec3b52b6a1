#version 450
// Depthwise 2-D convolution and its two gradients, accumulated in float.
// Filters are [k_h, k_w, in_c, mult]; output channel co = c * mult + m reads
// input channel c through filter column (c, m). Activations (x, y, dx, dy) are
// NHWC, or NCHW when `nchw` is set. Each output element is a sum over a
// reduction index k in [0, k_len):
//   FWD         y[n,oh,ow,co]    one invocation each, k = (kh, kw)
//   BWD_INPUT   dx[n,ih,iw,c]    one invocation each, k = (kh, kw, m): the
//               windows holding (ih, iw), as shaders/pool.comp's gradients
//   BWD_FILTER  dw[kh,kw,c,m]    one workgroup each (256 invocations and a
//               tree sum in shared memory), k = (n, oh, ow)
// Workgroup row y (split s) sums k in [s * k_chunk, (s + 1) * k_chunk) into
// c[s * n + i]: the host keeps k_chunk short (every loop stays bounded) and,
// when there is more than one split, adds the float32 partial sums up.
// FWD epilogue (_FusedDepthwiseConv2dNative, one split only): y = act(BN(sum +
// bias[co])) with act an epilogue.glsl code; bias and bn (a folded
// BatchNorm's table) are used when not 0.
#include "common.glsl"
#include "epilogue.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push {
  TBuf a;   // FWD: x   BWD_INPUT: dy   BWD_FILTER: x
  TBuf b;   // FWD: w   BWD_INPUT: w    BWD_FILTER: dy
  TOBuf c;  // FWD: y   BWD_INPUT: dx   BWD_FILTER: dw (or float partial sums)
  uint n;   // output elements
  uint batch, in_h, in_w, in_c, mult;
  uint out_h, out_w;
  uint k_h, k_w, stride_h, stride_w, dil_h, dil_w;
  int pad_top, pad_left;
  uint k_len, k_chunk;
  uint nchw;
  TBuf bias;
  uint act;
  float alpha;
  uint64_t bn;  // FWD epilogue: a folded BatchNorm's table (epilogue.glsl), or 0
} pc;

uint act(uint n, uint h, uint w, uint c, uint dim_h, uint dim_w, uint dim_c) {
  return pc.nchw != 0 ? ((n * dim_c + c) * dim_h + h) * dim_w + w
                      : ((n * dim_h + h) * dim_w + w) * dim_c + c;
}

// Decomposes a flat index of a [batch, H, W, C] activation (in its layout).
uvec4 coords(uint i, uint dim_h, uint dim_w, uint dim_c) {
  if (pc.nchw != 0) {
    uint w = i % dim_w, t = i / dim_w;
    uint h = t % dim_h;
    t /= dim_h;
    return uvec4(t / dim_c, h, w, t % dim_c);
  }
  uint c = i % dim_c, t = i / dim_c;
  uint w = t % dim_w;
  t /= dim_w;
  return uvec4(t / dim_h, t % dim_h, w, c);
}

#if defined(FWD) || defined(BWD_INPUT)
void main() {
  const uint k0 = gl_WorkGroupID.y * pc.k_chunk;
  const uint k1 = min(k0 + pc.k_chunk, pc.k_len);
  const uint out_c = pc.in_c * pc.mult;
  FOR_EACH(i, pc.n) {
    float acc = 0.0;
#if defined(FWD)
    uvec4 o = coords(i, pc.out_h, pc.out_w, out_c);
    uint c = o.w / pc.mult, m = o.w % pc.mult;
    int h0 = int(o.y * pc.stride_h) - pc.pad_top, w0 = int(o.z * pc.stride_w) - pc.pad_left;
    for (uint k = k0; k < k1; ++k) {
      uint kh = k / pc.k_w, kw = k % pc.k_w;
      int ih = h0 + int(kh * pc.dil_h), iw = w0 + int(kw * pc.dil_w);
      if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
      acc += float(pc.a.v[act(o.x, uint(ih), uint(iw), c, pc.in_h, pc.in_w, pc.in_c)]) *
             float(pc.b.v[(k * pc.in_c + c) * pc.mult + m]);
    }
    acc = tf_epilogue(acc, o.w, i, uint64_t(pc.bias), 0ul, pc.bn, pc.act, pc.alpha);
#else
    uvec4 p = coords(i, pc.in_h, pc.in_w, pc.in_c);
    int top = int(p.y) + pc.pad_top, left = int(p.z) + pc.pad_left;
    for (uint k = k0; k < k1; ++k) {
      uint m = k % pc.mult, tap = k / pc.mult;
      uint kh = tap / pc.k_w, kw = tap % pc.k_w;
      // (ih, iw) is tap (kh, kw) of output (oh, ow) when ih = oh*s - pad + kh*d.
      int hs = top - int(kh * pc.dil_h), ws = left - int(kw * pc.dil_w);
      if (hs < 0 || ws < 0 || hs % int(pc.stride_h) != 0 || ws % int(pc.stride_w) != 0) continue;
      uint oh = uint(hs) / pc.stride_h, ow = uint(ws) / pc.stride_w;
      if (oh >= pc.out_h || ow >= pc.out_w) continue;
      uint co = p.w * pc.mult + m;
      acc += float(pc.a.v[act(p.x, oh, ow, co, pc.out_h, pc.out_w, out_c)]) *
             float(pc.b.v[tap * out_c + co]);
    }
#endif
    pc.c.v[gl_WorkGroupID.y * pc.n + i] = TO(acc);
  }
}
#else  // BWD_FILTER
shared float partial[256];

void main() {
  const uint k0 = gl_WorkGroupID.y * pc.k_chunk;
  const uint k1 = min(k0 + pc.k_chunk, pc.k_len);
  const uint out_c = pc.in_c * pc.mult;
  const uint lid = gl_LocalInvocationID.x;
  // Workgroups stride over the filter elements (uniform per workgroup, so the
  // barriers below are reached by all of its invocations).
  for (uint e = gl_WorkGroupID.x; e < pc.n; e += gl_NumWorkGroups.x) {
    uint co = e % out_c, tap = e / out_c;  // e = (kh, kw, c, m), co = c * mult + m
    uint c = co / pc.mult;
    uint kh = tap / pc.k_w, kw = tap % pc.k_w;
    int dh = int(kh * pc.dil_h) - pc.pad_top, dw = int(kw * pc.dil_w) - pc.pad_left;
    float acc = 0.0;
    for (uint k = k0 + lid; k < k1; k += 256u) {
      uint ow = k % pc.out_w, t = k / pc.out_w;
      uint oh = t % pc.out_h, n = t / pc.out_h;
      int ih = int(oh * pc.stride_h) + dh, iw = int(ow * pc.stride_w) + dw;
      if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) continue;
      acc += float(pc.a.v[act(n, uint(ih), uint(iw), c, pc.in_h, pc.in_w, pc.in_c)]) *
             float(pc.b.v[act(n, oh, ow, co, pc.out_h, pc.out_w, out_c)]);
    }
    partial[lid] = acc;
    barrier();
    for (uint s = 128u; s > 0u; s >>= 1) {
      if (lid < s) partial[lid] += partial[lid + s];
      barrier();
    }
    if (lid == 0u) pc.c.v[gl_WorkGroupID.y * pc.n + e] = TO(partial[0]);
    barrier();  // partial[0] is read before the next element overwrites it
  }
}
#endif
