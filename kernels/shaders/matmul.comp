#version 450
// C[b] = A[b] x B[b]: a BM x BN output tile per workgroup of (BM / TM) x
// (BN / TN) invocations, each computing a TM x TN block in registers (TM, TN
// multiples of 4: groups of 4 rows / columns spaced so that the inner loop
// reads shared memory as vec4 without bank conflicts). K advances BK at a
// time through two shared-memory buffers: the next k-tile is loaded into
// registers while the current one is multiplied, so one barrier per k-tile.
// Accumulation in float. Tile sizes come from variants.py (BM, BN, BK, TM, TN).
//
// Operands are read through strides, so transposes cost nothing:
// A[m, k] = a[m * a_m + k * a_k], B[k, n] = b[k * b_k + n * b_n]. Global loads
// are vec4 (4 consecutive elements along the operand's contiguous dimension)
// when the host found the operand aligned for it (flags), else scalar.
// Epilogue (_FusedMatMul): C = act(BN(A x B + bias[n])) with act an
// epilogue.glsl code; bias and bn (a folded BatchNorm's table) are used when
// their address is not 0. K may be 0 (C = act(BN(bias))). The host runs no
// split-K with bn (matmul_reduce.comp applies bias and act only).
//
// Split-K (splits > 1): workgroup z = batch * splits + s sums k in
// [s * k_split, (s + 1) * k_split) and writes float partial sums to c as
// [batch * splits][M][N]; matmul_reduce.comp adds them up and applies the
// epilogue. The host's choices: kernels/matmul_config.h.
//
// BIAS_GRAD (_TfmpMatMulBiasGrad): also grad[n] = sum over k of B[k, n], the
// bias gradient of a Dense layer read off the B tiles the first row of
// workgroups loads anyway (batch 1). With split-K it is row M of the partials.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "epilogue.glsl"

#define WG_X (BN / TN)
#define WG_Y (BM / TM)
#define THREADS (WG_X * WG_Y)
#if (BM * BK) % (4 * THREADS) != 0 || (BN * BK) % (4 * THREADS) != 0 || TM % 4 != 0 || TN % 4 != 0
#error "a tile config must load whole vec4s per invocation"
#endif
layout(local_size_x = THREADS) in;

#ifdef TFMP_FP16
#define TV4 f16vec4
#define V_ALIGN 8
#else
#define TV4 vec4
#define V_ALIGN 16
#endif
layout(buffer_reference, std430, buffer_reference_align = 2) readonly restrict buffer TIn { T v[]; };
layout(buffer_reference, std430, buffer_reference_align = V_ALIGN) readonly restrict buffer TIn4 { TV4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = V_ALIGN) buffer TOut4 { TV4 v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer FOut { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer FOut4 { vec4 v[]; };

// flags (kernels/matmul_config.h): per operand, vec4 loads along k or along
// its outer dimension (m for A, n for B); vec4 stores of C; partial output.
#define F_A_VEC_K 1u
#define F_A_VEC_O 2u
#define F_B_VEC_K 4u
#define F_B_VEC_O 8u
#define F_C_VEC 16u

layout(push_constant) uniform Push {
  TIn a;
  TIn b;
  TBuf c;
  uint M, N, K;
  uint a_m, a_k, b_k, b_n;
  uint a_batch, b_batch, c_batch;  // element strides between batch entries
  TBuf bias;
  uint act;
  float alpha;
  uint flags;
  uint splits;   // 1: no split-K
  uint k_split;  // k elements per split (a multiple of BK)
  uint batch2;   // > 1: entry z at (z / batch2) * x_batch + (z % batch2) * x_batch2
  uint a_batch2, b_batch2, c_batch2;
  uint c_m;      // element stride between C's rows (N unless strided)
  TBuf grad;     // BIAS_GRAD: N column sums of B
  uint64_t bn;  // a folded BatchNorm's table (epilogue.glsl), or 0
} pc;

// Shared tiles S[k][o] as vec4 over o, one vec4 of padding per row: stores
// of a transposed tile (4 k values of one o) then hit distinct banks.
// PAD (variants.py; default 1) 0 drops it where shared memory is short.
#ifndef PAD
#define PAD 1
#endif
shared vec4 As[2][BK][BM / 4 + PAD];
shared vec4 Bs[2][BK][BN / 4 + PAD];

// Elements per invocation and k-tile of each operand, as vec4 registers.
#define A_V4 (BM * BK / (4 * THREADS))
#define B_V4 (BN * BK / (4 * THREADS))
#if A_V4 > 2 || B_V4 > 2
#error "at most 2 vec4 registers per operand and k-tile"
#endif

// Every register array below is indexed by constants only, expanded by the
// preprocessor: a driver that leaves a loop rolled would otherwise put the
// array in local memory (NVIDIA's did with the 8x8 block: 40x slower).
#if TM == 8
#define FOR_I(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define FOR_GA(X) X(0) X(1)
#else
#define FOR_I(X) X(0) X(1) X(2) X(3)
#define FOR_GA(X) X(0)
#endif
#if TN == 8
#define FOR_GB(X, i) X(i, 0) X(i, 1)
#define FOR_GB1(X) X(0) X(1)
#else
#define FOR_GB(X, i) X(i, 0)
#define FOR_GB1(X) X(0)
#endif

// Loads elements [o0, o0 + BO) x [k0, k0 + BK) of an operand (o: its outer
// dimension, extent O; elements at base + o * s_o + k * s_k; k < ke) into
// register r[i] (zero outside); the layout of r depends on the mode and is
// undone by the matching store. Vec4 i of the tile is tid + i * THREADS.
#define LOAD_SCALAR(r, i, j, BO, buf, base, s_o, s_k, O, o0, k0, ke)                \
  {                                                                                 \
    const uint e = (tid + i * THREADS) * 4 + j;                                     \
    uint o, k;                                                                      \
    if (s_k <= s_o) o = o0 + e / BK, k = k0 + e % BK;                                \
    else k = k0 + e / BO, o = o0 + e % BO;                                           \
    r[i][j] = (o < O && k < ke) ? float(buf.v[base + o * s_o + k * s_k]) : 0.0;      \
  }
#define LOAD_ONE(r, i, BO, buf, base, s_o, s_k, O, o0, k0, ke, vec_k, vec_o)               \
  {                                                                                       \
    const uint v = tid + i * THREADS;                                                     \
    if (vec_k) {                                                                          \
      const uint o = o0 + v / (BK / 4), k = k0 + (v % (BK / 4)) * 4;                       \
      r[i] = (o < O && k < ke) ? vec4(TIn4(buf).v[(base + o * s_o + k) / 4]) : vec4(0);    \
    } else if (vec_o) {                                                                   \
      const uint k = k0 + v / (BO / 4), o = o0 + (v % (BO / 4)) * 4;                       \
      r[i] = (o < O && k < ke) ? vec4(TIn4(buf).v[(base + o + k * s_k) / 4]) : vec4(0);    \
    } else { /* scalar: 4 elements, consecutive along the smaller stride */               \
      LOAD_SCALAR(r, i, 0, BO, buf, base, s_o, s_k, O, o0, k0, ke)                        \
      LOAD_SCALAR(r, i, 1, BO, buf, base, s_o, s_k, O, o0, k0, ke)                        \
      LOAD_SCALAR(r, i, 2, BO, buf, base, s_o, s_k, O, o0, k0, ke)                        \
      LOAD_SCALAR(r, i, 3, BO, buf, base, s_o, s_k, O, o0, k0, ke)                        \
    }                                                                                     \
  }
#define LOAD_TILE(r, NV, BO, buf, base, s_o, s_k, O, o0, k0, ke, vec_k, vec_o)            \
  {                                                                                     \
    LOAD_ONE(r, 0, BO, buf, base, s_o, s_k, O, o0, k0, ke, vec_k, vec_o)                \
    if (NV > 1) LOAD_ONE(r, 1, BO, buf, base, s_o, s_k, O, o0, k0, ke, vec_k, vec_o)     \
  }

#define STORE_ONE(S, sb, r, i, BO, s_o, s_k, vec_k, vec_o)                    \
  {                                                                         \
    const uint v = tid + i * THREADS;                                       \
    if (vec_k || (!vec_o && s_k <= s_o)) { /* 4 consecutive k of one o */   \
      const uint o = v / (BK / 4), k = (v % (BK / 4)) * 4;                   \
      S[sb][k][o / 4][o % 4] = r[i].x;                                       \
      S[sb][k + 1][o / 4][o % 4] = r[i].y;                                   \
      S[sb][k + 2][o / 4][o % 4] = r[i].z;                                   \
      S[sb][k + 3][o / 4][o % 4] = r[i].w;                                   \
    } else { /* 4 consecutive o of one k */                                 \
      S[sb][v / (BO / 4)][v % (BO / 4)] = r[i];                              \
    }                                                                       \
  }
#define STORE_TILE(S, sb, r, NV, BO, s_o, s_k, vec_k, vec_o)      \
  {                                                             \
    STORE_ONE(S, sb, r, 0, BO, s_o, s_k, vec_k, vec_o)          \
    if (NV > 1) STORE_ONE(S, sb, r, 1, BO, s_o, s_k, vec_k, vec_o) \
  }

// C[m, n..n+3] (or the partial sums) from accumulator v, columns past N
// left out.
void store_out(vec4 v, uint m, uint n, uint cb, bool cvec, bool has_bias) {
  if (m >= pc.M || n >= pc.N) return;
  if (has_bias) {
    v.x += float(pc.bias.v[n]);
    if (n + 1 < pc.N) v.y += float(pc.bias.v[n + 1]);
    if (n + 2 < pc.N) v.z += float(pc.bias.v[n + 2]);
    if (n + 3 < pc.N) v.w += float(pc.bias.v[n + 3]);
  }
  const uint o = cb + m * pc.c_m + n;
  if (pc.bn != 0ul) {  // a folded BatchNorm (residual at o)
    v.x = tf_batch_norm(v.x, n, o, pc.bn);
    if (n + 1 < pc.N) v.y = tf_batch_norm(v.y, n + 1, o + 1, pc.bn);
    if (n + 2 < pc.N) v.z = tf_batch_norm(v.z, n + 2, o + 2, pc.bn);
    if (n + 3 < pc.N) v.w = tf_batch_norm(v.w, n + 3, o + 3, pc.bn);
  }
  if (pc.act != 0u)
    v = vec4(tf_activation(v.x, pc.act, pc.alpha), tf_activation(v.y, pc.act, pc.alpha),
             tf_activation(v.z, pc.act, pc.alpha), tf_activation(v.w, pc.act, pc.alpha));
  if (cvec) {
    TOut4(pc.c).v[o / 4] = TV4(v);
  } else {
    pc.c.v[o] = T(v.x);
    if (n + 1 < pc.N) pc.c.v[o + 1] = T(v.y);
    if (n + 2 < pc.N) pc.c.v[o + 2] = T(v.z);
    if (n + 3 < pc.N) pc.c.v[o + 3] = T(v.w);
  }
}
void store_partial(vec4 v, uint m, uint n, uint pb, bool cvec) {
  if (m >= pc.M || n >= pc.N) return;
  const uint o = pb + m * pc.N + n;
  if (cvec) {
    FOut4(pc.c).v[o / 4] = v;
  } else {
    FOut(pc.c).v[o] = v.x;
    if (n + 1 < pc.N) FOut(pc.c).v[o + 1] = v.y;
    if (n + 2 < pc.N) FOut(pc.c).v[o + 2] = v.z;
    if (n + 3 < pc.N) FOut(pc.c).v[o + 3] = v.w;
  }
}

// The element offset of batch entry z of an operand with batch strides s, s2.
uint batch_offset(uint z, uint s, uint s2) {
  return pc.batch2 > 1u ? (z / pc.batch2) * s + (z % pc.batch2) * s2 : z * s;
}

void main() {
  const uint tid = gl_LocalInvocationIndex;
  // Block rows / columns in groups of 4 spaced WG_Y / WG_X vec4 apart.
  // (Warp-shaped 64 x 32 blocks, fewer distinct shared reads per warp, were
  // 2.4x slower at 4096^3 on the H200.)
  const uint tx = tid % WG_X, ty = tid / WG_X;
#define A_VEC(g) ((g) * WG_Y + ty)
#define B_VEC(g) ((g) * WG_X + tx)
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint zb = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
  const uint ab = batch_offset(zb, pc.a_batch, pc.a_batch2), bb = batch_offset(zb, pc.b_batch, pc.b_batch2);
  const bool a_vk = (pc.flags & F_A_VEC_K) != 0u, a_vo = (pc.flags & F_A_VEC_O) != 0u;
  const bool b_vk = (pc.flags & F_B_VEC_K) != 0u, b_vo = (pc.flags & F_B_VEC_O) != 0u;
  const uint kb = split * pc.k_split;
  const uint ke = min(pc.K, kb + pc.k_split);
  const uint tiles = ke > kb ? (ke - kb + BK - 1) / BK : 0u;

  // acc[i][g]: row i of the block, its columns 4g .. 4g + 3.
  vec4 acc[TM][TN / 4];
#define INIT_CELL(i, g) acc[i][g] = vec4(0.0);
#define INIT_ROW(i) FOR_GB(INIT_CELL, i)
  FOR_I(INIT_ROW)

#ifdef BIAS_GRAD
  // Partials of one batch entry and split: M * N, and the column sums.
  const uint pmn = (pc.M + 1u) * pc.N;
  const bool sum_b = gl_WorkGroupID.y == 0u && tid < BN;
  float colsum = 0.0;
#else
  const uint pmn = pc.M * pc.N;
#endif
  vec4 ra[2], rb[2];
  if (tiles > 0u) {
    LOAD_TILE(ra, A_V4, BM, pc.a, ab, pc.a_m, pc.a_k, pc.M, m0, kb, ke, a_vk, a_vo);
    LOAD_TILE(rb, B_V4, BN, pc.b, bb, pc.b_n, pc.b_k, pc.N, n0, kb, ke, b_vk, b_vo);
    STORE_TILE(As, 0, ra, A_V4, BM, pc.a_m, pc.a_k, a_vk, a_vo);
    STORE_TILE(Bs, 0, rb, B_V4, BN, pc.b_n, pc.b_k, b_vk, b_vo);
  }
  barrier();
  uint cur = 0;
  for (uint t = 0; t < tiles; ++t) {
    const bool more = t + 1 < tiles;
    if (more) {  // the next k-tile into registers, while this one is multiplied
      const uint k0 = kb + (t + 1) * BK;
      LOAD_TILE(ra, A_V4, BM, pc.a, ab, pc.a_m, pc.a_k, pc.M, m0, k0, ke, a_vk, a_vo);
      LOAD_TILE(rb, B_V4, BN, pc.b, bb, pc.b_n, pc.b_k, pc.N, n0, k0, ke, b_vk, b_vo);
    }
#ifdef BIAS_GRAD
    if (sum_b)
      [[unroll]] for (uint k = 0; k < BK; ++k) colsum += Bs[cur][k][tid / 4][tid % 4];
#endif
    [[unroll]] for (uint k = 0; k < BK; ++k) {
      vec4 av[TM / 4], bv[TN / 4];
#define LOAD_A(g) av[g] = As[cur][k][A_VEC(g)];
#define LOAD_B(g) bv[g] = Bs[cur][k][B_VEC(g)];
      FOR_GA(LOAD_A)
      FOR_GB1(LOAD_B)
#define FMA_CELL(i, g) acc[i][g] = fma(vec4(av[(i) / 4][(i) % 4]), bv[g], acc[i][g]);
#define FMA_ROW(i) FOR_GB(FMA_CELL, i)
      FOR_I(FMA_ROW)
    }
    if (more) {
      STORE_TILE(As, cur ^ 1u, ra, A_V4, BM, pc.a_m, pc.a_k, a_vk, a_vo);
      STORE_TILE(Bs, cur ^ 1u, rb, B_V4, BN, pc.b_n, pc.b_k, b_vk, b_vo);
    }
    barrier();
    cur ^= 1u;
  }

  // Row i of the block is m0 + A_VEC(i / 4) * 4 + i % 4; its columns 4g ..
  // 4g + 3 are n0 + B_VEC(g) * 4 + 0 .. 3.
  const bool cvec = (pc.flags & F_C_VEC) != 0u;
#ifdef BIAS_GRAD
  if (sum_b && n0 + tid < pc.N) {
    if (pc.splits > 1u) FOut(pc.c).v[gl_WorkGroupID.z * pmn + pc.M * pc.N + n0 + tid] = colsum;
    else pc.grad.v[n0 + tid] = T(colsum);
  }
#endif
  if (pc.splits > 1u) {
    const uint pb = gl_WorkGroupID.z * pmn;
#define PART_CELL(i, g) store_partial(acc[i][g], m0 + A_VEC((i) / 4) * 4 + (i) % 4, n0 + B_VEC(g) * 4, pb, cvec);
#define PART_ROW(i) FOR_GB(PART_CELL, i)
    FOR_I(PART_ROW)
    return;
  }
  const uint cb = batch_offset(zb, pc.c_batch, pc.c_batch2);
  const bool has_bias = uint64_t(pc.bias) != 0;
#define OUT_CELL(i, g) store_out(acc[i][g], m0 + A_VEC((i) / 4) * 4 + (i) % 4, n0 + B_VEC(g) * 4, cb, cvec, has_bias);
#define OUT_ROW(i) FOR_GB(OUT_CELL, i)
  FOR_I(OUT_ROW)
}
