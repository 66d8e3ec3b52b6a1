#version 450
// Conv2D / Conv3D (channels-last input, [k..., in_c, out_c] filter) and their
// two gradients as implicit GEMMs on the tiling of matmul.comp:
// C[M, N] = A[M, K] x B[K, N], 64x64 tiles of 16x16 invocations with 4x4
// blocks, accumulation in float. Positions p are (d, h, w) (window.glsl; the
// 2-D variants have depth 1). MODE picks how A and B are gathered:
//   FWD          y[n,o,co]    M = (n,o)    N = co  K = (kp,ci)
//   BWD_INPUT    dx[n,i,ci]   M = (n,i)    N = ci  K = (kp,co)
//   BWD_FILTER   dw[kp,ci,co] M = (kp,ci)  N = co  K = (n,o)
// where input position i = o * stride - pad + kp * dilation. Activations (x,
// y, dx, dy) are channels-last, or channels-first (NCHW / NCDHW) when flags
// bit 8 is set (TF's layout optimizer picks it on GPUs); filters are always
// [k..., in_c, out_c].
// FWD epilogue (_FusedConv2D): y = act(conv + bias[co] + side[y index]) with
// act = flags & 0xff, the codes of epilogue.glsl (kernels/epilogue.h); bias
// and side are used when their address is not 0. With flags bit 9, side is
// instead the table of a folded BatchNorm: y = act(BN(conv + bias[co])).
// Workgroup z sums K in [z * k_chunk, (z + 1) * k_chunk) into slice z of C:
// the host splits long K ranges (BWD_FILTER) and adds the slices up.
#include "common.glsl"
#include "window.glsl"
#include "epilogue.glsl"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push {
  TBuf a;  // FWD: x      BWD_INPUT: dy   BWD_FILTER: x
  TBuf b;  // FWD: w      BWD_INPUT: w    BWD_FILTER: dy
  TOBuf c;  // FWD: y     BWD_INPUT: dx   BWD_FILTER: dw (or float partial sums)
  uint M, K;  // N is out_c, or in_c for BWD_INPUT
  uint in_c, out_c;
  uint in_d, in_h, in_w;
  uint out_d, out_h, out_w;
  uint k_d, k_h, k_w;
  uint stride_dil_d, stride_dil_h, stride_dil_w;  // stride | dilation << 16
  int pad_d, pad_h, pad_w;  // leading padding
  uint k_chunk;
  uint flags;
  float alpha;
  TBuf bias;
  TBuf side;
} pc;

#ifdef BWD_INPUT
#define GEMM_N pc.in_c
#else
#define GEMM_N pc.out_c
#endif

uvec3 in_dims() { return DIMS3(pc.in_d, pc.in_h, pc.in_w); }
uvec3 out_dims() { return DIMS3(pc.out_d, pc.out_h, pc.out_w); }
uvec3 k_dims() { return DIMS3(pc.k_d, pc.k_h, pc.k_w); }
uvec3 strides() { return DIMS3(pc.stride_dil_d & 0xffffu, pc.stride_dil_h & 0xffffu, pc.stride_dil_w & 0xffffu); }
uvec3 dilations() { return DIMS3(pc.stride_dil_d >> 16, pc.stride_dil_h >> 16, pc.stride_dil_w >> 16); }
ivec3 pads() { return ivec3(IF_3D(pc.pad_d, 0), pc.pad_h, pc.pad_w); }
bool chans_first() { return (pc.flags & 0x100u) != 0; }

const uint TILE = 64;
const uint BK = 16;
shared float As[BK][TILE];
shared float Bs[BK][TILE];

float load_a(uint m, uint k) {
#if defined(FWD) || defined(BWD_FILTER)
  // x[n, o * s - p + kp * d, ci]; FWD: m = (n, o), k = (kp, ci); BWD_FILTER: swapped
#ifdef FWD
  const uint on = m, kc = k;
#else
  const uint on = k, kc = m;
#endif
  const uint ci = kc % pc.in_c;
  const uvec3 kp = spatial_pos(kc / pc.in_c, k_dims());
  uvec3 o;
  const uint n = split_pos(on, out_dims(), o);
  const ivec3 ip = ivec3(o * strides() + kp * dilations()) - pads();
  if (!inside(ip, in_dims())) return 0.0;
  return float(pc.a.v[act_index(chans_first(), n, uvec3(ip), ci, in_dims(), pc.in_c)]);
#else  // BWD_INPUT: m = (n, i), k = (kp, co): dy[n, o, co] where i = o * s - p + kp * d
  const uint co = k % pc.out_c;
  const uvec3 kp = spatial_pos(k / pc.out_c, k_dims());
  uvec3 ip;
  const uint n = split_pos(m, in_dims(), ip);
  const ivec3 t = ivec3(ip) + pads() - ivec3(kp * dilations());
  const ivec3 s = ivec3(strides());
  if (any(lessThan(t, ivec3(0))) || any(notEqual(t % s, ivec3(0)))) return 0.0;
  const uvec3 o = uvec3(t / s);
  if (any(greaterThanEqual(o, out_dims()))) return 0.0;
  return float(pc.a.v[act_index(chans_first(), n, o, co, out_dims(), pc.out_c)]);
#endif
}

float load_b(uint k, uint n) {
#if defined(FWD)
  return float(pc.b.v[k * pc.out_c + n]);  // w[kp, ci, co], k = (kp, ci)
#elif defined(BWD_INPUT)
  // k = (kp, co), n = ci: w[kp, ci, co]
  const uint co = k % pc.out_c, kp = k / pc.out_c;
  return float(pc.b.v[(kp * pc.in_c + n) * pc.out_c + co]);
#else
  // dy[(n, o), co]
  uvec3 o;
  const uint b = split_pos(k, out_dims(), o);
  return float(pc.b.v[act_index(chans_first(), b, o, n, out_dims(), pc.out_c)]);
#endif
}

// Where C[m, n] goes: activations in their layout, filters [kp, ci, co].
uint out_index(uint m, uint n) {
  uvec3 p;
#if defined(FWD)
  const uint b = split_pos(m, out_dims(), p);
  return act_index(chans_first(), b, p, n, out_dims(), pc.out_c);
#elif defined(BWD_INPUT)
  const uint b = split_pos(m, in_dims(), p);
  return act_index(chans_first(), b, p, n, in_dims(), pc.in_c);
#else
  return (gl_WorkGroupID.z * pc.M + m) * GEMM_N + n;
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
      Bs[kk][mm] = (n0 + mm < GEMM_N && k < k_end) ? load_b(k, n0 + mm) : 0.0;
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
      if (n >= GEMM_N) continue;
      const uint o = out_index(m, n);
#if defined(FWD)
      const bool bn = (pc.flags & 0x200u) != 0;  // `side` is a BatchNorm table
      const float v = tf_epilogue(acc[i][j], n, o, uint64_t(pc.bias), bn ? 0ul : uint64_t(pc.side),
                                  bn ? uint64_t(pc.side) : 0ul, pc.flags & 0xffu, pc.alpha);
      pc.c.v[o] = TO(v);
#else
      pc.c.v[o] = TO(acc[i][j]);
#endif
    }
  }
}
