#version 450
// Conv2D (NHWC input, HWIO filter) and its two gradients as implicit GEMMs on
// the tiling of matmul.comp: C[M, N] = A[M, K] x B[K, N], 64x64 tiles of
// 16x16 invocations with 4x4 blocks, accumulation in float. MODE picks how A
// and B are gathered from the tensors:
//   FWD          y[n,oh,ow,co]   M = (n,oh,ow) N = co K = (kh,kw,ci)
//   BWD_INPUT    dx[n,ih,iw,ci]  M = (n,ih,iw) N = ci K = (kh,kw,co)
//   BWD_FILTER   dw[kh,kw,ci,co] M = (kh,kw,ci) N = co K = (n,oh,ow)
// Activations (x, y, dx, dy) are NHWC, or NCHW when flags bit 8 is set (TF's
// layout optimizer picks NCHW on GPUs); filters are always HWIO.
// FWD epilogue (_FusedConv2D): y = act(conv + bias[co] + side[y index]) with
// act = flags & 0xff, the codes of epilogue.glsl (kernels/epilogue.h); bias
// and side are used when their address is not 0.
// Workgroup z sums K in [z * k_chunk, (z + 1) * k_chunk) into slice z of C:
// the host splits long K ranges (BWD_FILTER) and adds the slices up.
#include "common.glsl"
#include "epilogue.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push {
  TBuf a;  // FWD: x      BWD_INPUT: dy   BWD_FILTER: x
  TBuf b;  // FWD: w      BWD_INPUT: w    BWD_FILTER: dy
  TOBuf c;  // FWD: y     BWD_INPUT: dx   BWD_FILTER: dw (or float partial sums)
  uint M, N, K;
  uint batch, in_h, in_w, in_c;
  uint out_h, out_w, out_c;
  uint k_h, k_w;
  uint stride_h, stride_w, dil_h, dil_w;
  int pad_top, pad_left;
  uint k_chunk;
  uint flags;
  float alpha;
  TBuf bias;
  TBuf side;
} pc;

uint act_index(uint n, uint h, uint w, uint c, uint dim_h, uint dim_w, uint dim_c) {
  return (pc.flags & 0x100u) != 0 ? ((n * dim_c + c) * dim_h + h) * dim_w + w : ((n * dim_h + h) * dim_w + w) * dim_c + c;
}

const uint TILE = 64;
const uint BK = 16;
shared float As[BK][TILE];
shared float Bs[BK][TILE];

float load_a(uint m, uint k) {
#if defined(FWD)
  // m = (n, oh, ow), k = (kh, kw, ci): x[n, oh*s - p + kh*d, ow*s - p + kw*d, ci]
  uint ci = k % pc.in_c, t = k / pc.in_c;
  uint kw = t % pc.k_w, kh = t / pc.k_w;
  uint ow = m % pc.out_w;
  t = m / pc.out_w;
  uint oh = t % pc.out_h, n = t / pc.out_h;
  int ih = int(oh * pc.stride_h + kh * pc.dil_h) - pc.pad_top;
  int iw = int(ow * pc.stride_w + kw * pc.dil_w) - pc.pad_left;
  if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) return 0.0;
  return float(pc.a.v[act_index(n, uint(ih), uint(iw), ci, pc.in_h, pc.in_w, pc.in_c)]);
#elif defined(BWD_INPUT)
  // m = (n, ih, iw), k = (kh, kw, co): dy[n, oh, ow, co] where ih = oh*s - p + kh*d
  uint co = k % pc.out_c, t = k / pc.out_c;
  uint kw = t % pc.k_w, kh = t / pc.k_w;
  uint iw = m % pc.in_w;
  t = m / pc.in_w;
  uint ih = t % pc.in_h, n = t / pc.in_h;
  int hs = int(ih) + pc.pad_top - int(kh * pc.dil_h);
  int ws = int(iw) + pc.pad_left - int(kw * pc.dil_w);
  if (hs < 0 || ws < 0 || hs % int(pc.stride_h) != 0 || ws % int(pc.stride_w) != 0) return 0.0;
  uint oh = uint(hs) / pc.stride_h, ow = uint(ws) / pc.stride_w;
  if (oh >= pc.out_h || ow >= pc.out_w) return 0.0;
  return float(pc.a.v[act_index(n, oh, ow, co, pc.out_h, pc.out_w, pc.out_c)]);
#else  // BWD_FILTER
  // m = (kh, kw, ci), k = (n, oh, ow): x[n, oh*s - p + kh*d, ow*s - p + kw*d, ci]
  uint ci = m % pc.in_c, t = m / pc.in_c;
  uint kw = t % pc.k_w, kh = t / pc.k_w;
  uint ow = k % pc.out_w;
  t = k / pc.out_w;
  uint oh = t % pc.out_h, n = t / pc.out_h;
  int ih = int(oh * pc.stride_h + kh * pc.dil_h) - pc.pad_top;
  int iw = int(ow * pc.stride_w + kw * pc.dil_w) - pc.pad_left;
  if (ih < 0 || iw < 0 || ih >= int(pc.in_h) || iw >= int(pc.in_w)) return 0.0;
  return float(pc.a.v[act_index(n, uint(ih), uint(iw), ci, pc.in_h, pc.in_w, pc.in_c)]);
#endif
}

float load_b(uint k, uint n) {
#if defined(FWD)
  return float(pc.b.v[k * pc.out_c + n]);  // w[kh, kw, ci, co], k = (kh, kw, ci)
#elif defined(BWD_INPUT)
  // k = (kh, kw, co), n = ci: w[kh, kw, ci, co]
  uint co = k % pc.out_c, khw = k / pc.out_c;
  return float(pc.b.v[(khw * pc.in_c + n) * pc.out_c + co]);
#else
  // dy[(n, oh, ow), co]
  uint ow = k % pc.out_w, t = k / pc.out_w;
  return float(pc.b.v[act_index(t / pc.out_h, t % pc.out_h, ow, n, pc.out_h, pc.out_w, pc.out_c)]);
#endif
}

// Where C[m, n] goes: activations in their layout, filters HWIO.
uint out_index(uint m, uint n) {
#if defined(FWD)
  uint w = m % pc.out_w, t = m / pc.out_w;
  return act_index(t / pc.out_h, t % pc.out_h, w, n, pc.out_h, pc.out_w, pc.out_c);
#elif defined(BWD_INPUT)
  uint w = m % pc.in_w, t = m / pc.in_w;
  return act_index(t / pc.in_h, t % pc.in_h, w, n, pc.in_h, pc.in_w, pc.in_c);
#else
  return (gl_WorkGroupID.z * pc.M + m) * pc.N + n;
#endif
}

void main() {
  const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  const uint tid = ty * 16 + tx;
  const uint m0 = gl_WorkGroupID.y * TILE, n0 = gl_WorkGroupID.x * TILE;
  float acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0;
  const uint k_begin = gl_WorkGroupID.z * pc.k_chunk;
  const uint k_end = min(k_begin + pc.k_chunk, pc.K);
  for (uint k0 = k_begin; k0 < k_end; k0 += BK) {
    for (uint r = 0; r < 4; ++r) {
      const uint e = tid + r * 256;
      const uint kk = e / TILE, mm = e % TILE;
      const uint k = k0 + kk;
      As[kk][mm] = (m0 + mm < pc.M && k < k_end) ? load_a(m0 + mm, k) : 0.0;
      Bs[kk][mm] = (n0 + mm < pc.N && k < k_end) ? load_b(k, n0 + mm) : 0.0;
    }
    barrier();
    for (uint kk = 0; kk < BK; ++kk) {
      float av[4], bv[4];
      for (int i = 0; i < 4; ++i) av[i] = As[kk][ty + 16 * i];
      for (int j = 0; j < 4; ++j) bv[j] = Bs[kk][tx + 16 * j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] += av[i] * bv[j];
    }
    barrier();
  }
  for (int i = 0; i < 4; ++i) {
    const uint m = m0 + ty + 16 * i;
    if (m >= pc.M) continue;
    for (int j = 0; j < 4; ++j) {
      const uint n = n0 + tx + 16 * j;
      if (n >= pc.N) continue;
      const uint o = out_index(m, n);
#if defined(FWD)
      float v = acc[i][j];
      if (uint64_t(pc.bias) != 0) v += float(pc.bias.v[n]);
      if (uint64_t(pc.side) != 0) v += float(pc.side.v[o]);
      v = tf_activation(v, pc.flags & 0xffu, pc.alpha);
      pc.c.v[o] = TO(v);
#else
      pc.c.v[o] = TO(acc[i][j]);
#endif
    }
  }
}
