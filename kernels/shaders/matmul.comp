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
// Epilogue (_FusedMatMul): C = act(A x B + bias[n]) with act an epilogue.glsl
// code; bias is used when its address is not 0. K may be 0 (C = act(bias)).
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
  uint pad_;
  TBuf grad;     // BIAS_GRAD: N column sums of B
} pc;

// Shared tiles S[k][o] as vec4 over o, one vec4 of padding per row: stores
// of a transposed tile (4 k values of one o) then hit distinct banks.
shared vec4 As[2][BK][BM / 4 + 1];
shared vec4 Bs[2][BK][BN / 4 + 1];

// Elements per invocation and k-tile of each operand, as vec4 registers.
#define A_V4 (BM * BK / (4 * THREADS))
#define B_V4 (BN * BK / (4 * THREADS))

// Loads elements [o0, o0 + BO) x [k0, k0 + BK) of an operand (o: its outer
// dimension, extent O; elements at base + o * s_o + k * s_k; k < ke) into
// registers r (zero outside); the layout of r depends on the mode and is
// undone by the matching store.
#define LOAD_TILE(r, NV, BO, buf, base, s_o, s_k, O, o0, k0, ke, vec_k, vec_o)          \
  {                                                                                   \
    const uint tid = gl_LocalInvocationIndex;                                          \
    [[unroll]] for (uint i = 0; i < NV; ++i) {                                        \
      const uint v = tid + i * THREADS;                                               \
      if (vec_k) {                                                                    \
        const uint o = o0 + v / (BK / 4), k = k0 + (v % (BK / 4)) * 4;                 \
        r[i] = (o < O && k < ke) ? vec4(TIn4(buf).v[(base + o * s_o + k) / 4]) : vec4(0); \
      } else if (vec_o) {                                                             \
        const uint k = k0 + v / (BO / 4), o = o0 + (v % (BO / 4)) * 4;                 \
        r[i] = (o < O && k < ke) ? vec4(TIn4(buf).v[(base + o + k * s_k) / 4]) : vec4(0); \
      } else {                                                                        \
        /* scalar: 4 elements, consecutive along the smaller stride */                \
        [[unroll]] for (uint j = 0; j < 4; ++j) {                                     \
          const uint e = v * 4 + j;                                                   \
          uint o, k;                                                                  \
          if (s_k <= s_o) o = o0 + e / BK, k = k0 + e % BK;                            \
          else k = k0 + e / BO, o = o0 + e % BO;                                       \
          r[i][j] = (o < O && k < ke) ? float(buf.v[base + o * s_o + k * s_k]) : 0.0;  \
        }                                                                             \
      }                                                                               \
    }                                                                                 \
  }

#define STORE_TILE(S, sb, r, NV, BO, s_o, s_k, vec_k, vec_o)                            \
  {                                                                                   \
    const uint tid = gl_LocalInvocationIndex;                                          \
    [[unroll]] for (uint i = 0; i < NV; ++i) {                                        \
      const uint v = tid + i * THREADS;                                               \
      if (vec_k || (!vec_o && s_k <= s_o)) {                                          \
        /* 4 consecutive k of one o */                                                \
        const uint o = v / (BK / 4), k = (v % (BK / 4)) * 4;                           \
        [[unroll]] for (uint j = 0; j < 4; ++j) S[sb][k + j][o / 4][o % 4] = r[i][j];  \
      } else {                                                                        \
        /* 4 consecutive o of one k */                                                \
        const uint k = v / (BO / 4), o4 = v % (BO / 4);                                \
        S[sb][k][o4] = r[i];                                                          \
      }                                                                               \
    }                                                                                 \
  }

void main() {
  const uint tid = gl_LocalInvocationIndex;
  const uint tx = tid % WG_X, ty = tid / WG_X;
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint zb = gl_WorkGroupID.z / pc.splits, split = gl_WorkGroupID.z % pc.splits;
  const uint ab = zb * pc.a_batch, bb = zb * pc.b_batch;
  const bool a_vk = (pc.flags & F_A_VEC_K) != 0u, a_vo = (pc.flags & F_A_VEC_O) != 0u;
  const bool b_vk = (pc.flags & F_B_VEC_K) != 0u, b_vo = (pc.flags & F_B_VEC_O) != 0u;
  const uint kb = split * pc.k_split;
  const uint ke = min(pc.K, kb + pc.k_split);
  const uint tiles = ke > kb ? (ke - kb + BK - 1) / BK : 0u;

  float acc[TM][TN];
  [[unroll]] for (uint i = 0; i < TM; ++i)
    [[unroll]] for (uint j = 0; j < TN; ++j) acc[i][j] = 0.0;

#ifdef BIAS_GRAD
  // Partials of one batch entry and split: M * N, and the column sums.
  const uint pmn = (pc.M + 1u) * pc.N;
  const bool sum_b = gl_WorkGroupID.y == 0u && tid < BN;
  float colsum = 0.0;
#else
  const uint pmn = pc.M * pc.N;
#endif
  vec4 ra[A_V4], rb[B_V4];
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
      [[unroll]] for (uint g = 0; g < TM / 4; ++g) av[g] = As[cur][k][g * WG_Y + ty];
      [[unroll]] for (uint g = 0; g < TN / 4; ++g) bv[g] = Bs[cur][k][g * WG_X + tx];
      [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j)
          acc[i][j] = fma(av[i / 4][i % 4], bv[j / 4][j % 4], acc[i][j]);
    }
    if (more) {
      STORE_TILE(As, cur ^ 1u, ra, A_V4, BM, pc.a_m, pc.a_k, a_vk, a_vo);
      STORE_TILE(Bs, cur ^ 1u, rb, B_V4, BN, pc.b_n, pc.b_k, b_vk, b_vo);
    }
    barrier();
    cur ^= 1u;
  }

  // Row i of the block is m0 + (i / 4) * 4 * WG_Y + ty * 4 + i % 4; column
  // j is n0 + (j / 4) * 4 * WG_X + tx * 4 + j % 4.
  const bool cvec = (pc.flags & F_C_VEC) != 0u;
#ifdef BIAS_GRAD
  if (sum_b && n0 + tid < pc.N) {
    if (pc.splits > 1u) FOut(pc.c).v[gl_WorkGroupID.z * pmn + pc.M * pc.N + n0 + tid] = colsum;
    else pc.grad.v[n0 + tid] = T(colsum);
  }
#endif
  if (pc.splits > 1u) {
    const uint pb = gl_WorkGroupID.z * pmn;
    [[unroll]] for (uint i = 0; i < TM; ++i) {
      const uint m = m0 + (i / 4) * 4 * WG_Y + ty * 4 + i % 4;
      if (m >= pc.M) continue;
      [[unroll]] for (uint g = 0; g < TN / 4; ++g) {
        const uint n = n0 + g * 4 * WG_X + tx * 4;
        const uint o = pb + m * pc.N + n;
        if (cvec && n < pc.N) {
          FOut4(pc.c).v[o / 4] = vec4(acc[i][g * 4], acc[i][g * 4 + 1], acc[i][g * 4 + 2], acc[i][g * 4 + 3]);
        } else {
          [[unroll]] for (uint j = 0; j < 4; ++j)
            if (n + j < pc.N) FOut(pc.c).v[o + j] = acc[i][g * 4 + j];
        }
      }
    }
    return;
  }
  const uint cb = zb * pc.c_batch;
  const bool has_bias = uint64_t(pc.bias) != 0;
  [[unroll]] for (uint i = 0; i < TM; ++i) {
    const uint m = m0 + (i / 4) * 4 * WG_Y + ty * 4 + i % 4;
    if (m >= pc.M) continue;
    [[unroll]] for (uint g = 0; g < TN / 4; ++g) {
      const uint n = n0 + g * 4 * WG_X + tx * 4;
      const uint o = cb + m * pc.N + n;
      vec4 v;
      [[unroll]] for (uint j = 0; j < 4; ++j) {
        float x = acc[i][g * 4 + j];
        if (has_bias && n + j < pc.N) x += float(pc.bias.v[n + j]);
        v[j] = tf_activation(x, pc.act, pc.alpha);
      }
      if (cvec && n < pc.N) {
        TOut4(pc.c).v[o / 4] = TV4(v);
      } else {
        [[unroll]] for (uint j = 0; j < 4; ++j)
          if (n + j < pc.N) pc.c.v[o + j] = T(v[j]);
      }
    }
  }
}
