#version 450
// C[b] = A[b] x B[b] for float16 A and B on the GPU's matrix units
// (tensor cores) through VK_NV_cooperative_matrix: 16x16x16 fragments,
// float16 x float16 -> float32 accumulation, the result (plus the _FusedMatMul
// epilogue) rounded once to T. Same push constants and semantics as
// matmul.comp, which it replaces where the device has the feature
// (kernels/matmul.cc, RecordMatMul); VULKAN-ONLY: SPIRV-Cross cannot
// translate cooperative matrices to Metal (variants.py's REQUIRES table keeps
// these variants out of the MSL check; on Apple GPUs the portable matmul.comp
// serves, and simdgroup_matrix would be the Metal counterpart).
//
// Tiling: a BM x BN output tile per workgroup of SUBGROUPS subgroups of 32
// invocations (the host uses this shader only where the subgroup size is 32),
// each subgroup a WM x WN block of (WM/16) x (WN/16) accumulator fragments.
// Per BK step the A and B tiles are staged in shared memory (rows padded by 8
// halves so the fragment loads hit distinct banks); the next step's tiles are
// loaded into registers while the current one multiplies. Global loads are
// 16-byte vectors along the operand's contiguous dimension when the tile is
// inside the matrix and the addresses are 16-byte aligned, else element by
// element with zeros past the edges (ragged M, N, K: no host padding).
//
// Layouts (defines): A_COL = 0 when A[m, k] is contiguous in k (a_k == 1),
// 1 when contiguous in m (a_m == 1, transpose_a); B_COL = 0 when B[k, n] is
// contiguous in n (b_n == 1), 1 when contiguous in k (b_k == 1,
// transpose_b). Shared memory keeps the global layout; the fragment loads
// say row- or column-major.
//
// Epilogue: each subgroup writes one float32 fragment at a time to shared
// memory (its slice of the staging tiles, free after the last step), then every invocation finishes 8 elements of it: + bias[n],
// activation (epilogue.glsl), rounded to T, stored (a 16-byte vector where
// the 8 elements are inside C and aligned).
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "epilogue.glsl"

#ifndef BM
#define BM 128
#endif
#ifndef BN
#define BN 128
#endif
#ifndef BK
#define BK 32
#endif
#ifndef WM
#define WM 64
#endif
#ifndef WN
#define WN 32
#endif
#ifndef STAGES
#define STAGES 1
#endif
#define SUBGROUPS ((BM / WM) * (BN / WN))
#define THREADS (SUBGROUPS * 32)
#define FI (WM / 16)
#define FJ (WN / 16)
#define PAD 8

layout(local_size_x = THREADS) in;
layout(push_constant) uniform Push {
  TBuf a;
  TBuf b;
  TBuf c;
  uint M, N, K;
  uint a_m, a_k, b_k, b_n;
  uint a_batch, b_batch, c_batch;  // element strides between batch entries
  TBuf bias;
  uint act;
  float alpha;
} pc;

layout(buffer_reference, std430, buffer_reference_align = 16) buffer V4Buf { uvec4 v[]; };

// Shared tiles, in uvec4 units (8 halves). A_LD / B_LD: halves per stored row.
#if A_COL
#define A_OUT BK
#define A_IN BM
#else
#define A_OUT BM
#define A_IN BK
#endif
#if B_COL
#define B_OUT BN
#define B_IN BK
#else
#define B_OUT BK
#define B_IN BN
#endif
#define A_LD (A_IN + PAD)
#define B_LD (B_IN + PAD)
#define A_VECS (BM * BK / 8 / THREADS)  // 16-byte vectors per invocation per step
#define B_VECS (BN * BK / 8 / THREADS)
#define A_SIZE (A_OUT * A_LD / 8)
#define B_SIZE (B_OUT * B_LD / 8)
// STAGES 2: two copies of each tile (shared-memory double buffering: step
// k + 1 is stored into one copy while step k multiplies from the other, one
// barrier per step instead of two).
shared uvec4 As[A_SIZE * STAGES];
shared uvec4 Bs[B_SIZE * STAGES];
// The epilogue's scratch (256 floats per subgroup) reuses the larger tile.
#if A_SIZE >= B_SIZE
#define Cs As
#define CS_SIZE A_SIZE
#else
#define Cs Bs
#define CS_SIZE B_SIZE
#endif
#if CS_SIZE < SUBGROUPS * 64
#error "the epilogue scratch does not fit in the staging tiles"
#endif

#if COOPMAT_KHR
// Built for VK_KHR_cooperative_matrix by rewriting this (NV) module
// (tools/gen_shaders.py coopmat_nv_to_khr), which must tell MatrixA from
// MatrixB by type: the K dimension is a specialization constant (16), so the
// A (16 x K) and B (K x 16) fragments are distinct SPIR-V types.
layout(constant_id = 0) const uint FRAG_K = 16;
#define FRAG_A fcoopmatNV<16, gl_ScopeSubgroup, 16, FRAG_K>
#define FRAG_B fcoopmatNV<16, gl_ScopeSubgroup, FRAG_K, 16>
#else
#define FRAG_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FRAG_B FRAG_A
#endif
#define FRAG_ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

uvec4 pack8(float16_t h[8]) {
  return uvec4(packFloat2x16(f16vec2(h[0], h[1])), packFloat2x16(f16vec2(h[2], h[3])),
               packFloat2x16(f16vec2(h[4], h[5])), packFloat2x16(f16vec2(h[6], h[7])));
}

// 8 consecutive elements of one operand row (along its contiguous dimension):
// buf[base + outer * outer_stride + inner .. + 7], zeros where outer >=
// outer_n or inner + j >= inner_n.
uvec4 load8(TBuf buf, bool vec_ok, uint base, uint outer, uint outer_n, uint outer_stride,
            uint inner, uint inner_n) {
  if (outer >= outer_n) return uvec4(0);
  const uint idx = base + outer * outer_stride + inner;
  if (vec_ok && inner + 8 <= inner_n) return V4Buf(uint64_t(buf)).v[idx >> 3];
  float16_t h[8];
  [[unroll]] for (uint j = 0; j < 8; ++j)
    h[j] = inner + j < inner_n ? float16_t(buf.v[idx + j]) : float16_t(0.0);
  return pack8(h);
}

// The epilogue of one accumulator fragment (row block i, column block j of
// this subgroup's WM x WN block at (g_m0, g_n0)): through the subgroup's
// slice of Cs, each invocation finishes 8 elements of one row.
uint g_m0, g_n0, g_cb;
bool g_c_vec;
void store_fragment(FRAG_ACC frag, uint i, uint j) {
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint row = lane >> 1, col = (lane & 1u) * 8;
  coopMatStoreNV(frag, Cs, sg * 64, 4, false);  // uvec4 units
  subgroupMemoryBarrierShared();
  subgroupBarrier();
  const uint m = g_m0 + i * 16 + row, n = g_n0 + j * 16 + col;
  if (m < pc.M && n < pc.N) {
    float16_t h[8];
    [[unroll]] for (uint e = 0; e < 8; ++e) {
      const uint s = sg * 256 + row * 16 + col + e;
      float v = uintBitsToFloat(Cs[s >> 2][s & 3u]);
      if (uint64_t(pc.bias) != 0 && n + e < pc.N) v += float(pc.bias.v[n + e]);
      h[e] = float16_t(tf_activation(v, pc.act, pc.alpha));
    }
    const uint idx = g_cb + m * pc.N + n;
    if (g_c_vec && n + 8 <= pc.N) {
      V4Buf(uint64_t(pc.c)).v[idx >> 3] = pack8(h);
    } else {
      [[unroll]] for (uint e = 0; e < 8; ++e)
        if (n + e < pc.N) pc.c.v[idx + e] = T(h[e]);
    }
  }
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID, lane = gl_SubgroupInvocationID;
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint ab = gl_WorkGroupID.z * pc.a_batch, bb = gl_WorkGroupID.z * pc.b_batch;
  const uint wm0 = (sg / (BN / WN)) * WM, wn0 = (sg % (BN / WN)) * WN;

  // Operand geometry: rows along the non-contiguous dimension.
#if A_COL
  const uint a_outer_n = pc.K, a_inner_n = pc.M, a_stride = pc.a_k;
#else
  const uint a_outer_n = pc.M, a_inner_n = pc.K, a_stride = pc.a_m;
#endif
#if B_COL
  const uint b_outer_n = pc.N, b_inner_n = pc.K, b_stride = pc.b_n;
#else
  const uint b_outer_n = pc.K, b_inner_n = pc.N, b_stride = pc.b_k;
#endif
  // 16-byte vector loads need 16-byte aligned rows.
  const bool a_vec = (uint(uint64_t(pc.a)) & 15u) == 0u && (a_stride & 7u) == 0u && (ab & 7u) == 0u;
  const bool b_vec = (uint(uint64_t(pc.b)) & 15u) == 0u && (b_stride & 7u) == 0u && (bb & 7u) == 0u;

  FRAG_ACC acc[FI * FJ];
  [[unroll]] for (uint f = 0; f < FI * FJ; ++f) acc[f] = FRAG_ACC(0.0);

  uvec4 ra[A_VECS], rb[B_VECS];
  // Loads the tiles of step k0 into registers.
#define LOAD_TILES(k0)                                                                    \
  [[unroll]] for (uint r = 0; r < A_VECS; ++r) {                                          \
    const uint v = tid + r * THREADS, o = v / (A_IN / 8), i = (v % (A_IN / 8)) * 8;       \
    ra[r] = A_COL == 1 ? load8(pc.a, a_vec, ab, (k0) + o, a_outer_n, a_stride, m0 + i, a_inner_n) \
                       : load8(pc.a, a_vec, ab, m0 + o, a_outer_n, a_stride, (k0) + i, a_inner_n); \
  }                                                                                       \
  [[unroll]] for (uint r = 0; r < B_VECS; ++r) {                                          \
    const uint v = tid + r * THREADS, o = v / (B_IN / 8), i = (v % (B_IN / 8)) * 8;       \
    rb[r] = B_COL == 1 ? load8(pc.b, b_vec, bb, n0 + o, b_outer_n, b_stride, (k0) + i, b_inner_n) \
                       : load8(pc.b, b_vec, bb, (k0) + o, b_outer_n, b_stride, n0 + i, b_inner_n); \
  }

  // Stores the registers' tiles into shared copy st.
#define STORE_TILES(st)                                                                   \
  [[unroll]] for (uint r = 0; r < A_VECS; ++r) {                                          \
    const uint v = tid + r * THREADS;                                                     \
    As[(st) * A_SIZE + (v / (A_IN / 8)) * (A_LD / 8) + v % (A_IN / 8)] = ra[r];           \
  }                                                                                       \
  [[unroll]] for (uint r = 0; r < B_VECS; ++r) {                                          \
    const uint v = tid + r * THREADS;                                                     \
    Bs[(st) * B_SIZE + (v / (B_IN / 8)) * (B_LD / 8) + v % (B_IN / 8)] = rb[r];           \
  }
  // Multiplies shared copy st into the accumulators.
#if A_COL
#define LOAD_A(i, kk, ao) coopMatLoadNV(fa[i], As, (ao) + ((kk) * A_LD + wm0 + (i) * 16) / 8, A_LD / 8, true)
#else
#define LOAD_A(i, kk, ao) coopMatLoadNV(fa[i], As, (ao) + ((wm0 + (i) * 16) * A_LD + (kk)) / 8, A_LD / 8, false)
#endif
#if B_COL
#define LOAD_B(j, kk, bo) coopMatLoadNV(fb[j], Bs, (bo) + ((wn0 + (j) * 16) * B_LD + (kk)) / 8, B_LD / 8, true)
#else
#define LOAD_B(j, kk, bo) coopMatLoadNV(fb[j], Bs, (bo) + ((kk) * B_LD + wn0 + (j) * 16) / 8, B_LD / 8, false)
#endif
#define COMPUTE(st)                                                                       \
  [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {                                       \
    FRAG_A fa[FI];                                                                        \
    FRAG_B fb[FJ];                                                                        \
    [[unroll]] for (uint i = 0; i < FI; ++i) LOAD_A(i, kk, (st) * A_SIZE);                \
    [[unroll]] for (uint j = 0; j < FJ; ++j) LOAD_B(j, kk, (st) * B_SIZE);                \
    [[unroll]] for (uint i = 0; i < FI; ++i)                                              \
      [[unroll]] for (uint j = 0; j < FJ; ++j)                                            \
        acc[i * FJ + j] = coopMatMulAddNV(fa[i], fb[j], acc[i * FJ + j]);                 \
  }

  LOAD_TILES(0u)
#if STAGES == 1
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    STORE_TILES(0u)
    barrier();
    if (k0 + BK < pc.K) {
      LOAD_TILES(k0 + BK)
    }
    COMPUTE(0u)
    barrier();
  }
#else
  // The barrier at the end of step k also guards copy st ^ 1 (read in step
  // k - 1, written in step k): one barrier per step.
  STORE_TILES(0u)
  barrier();
  uint st = 0;
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    const bool more = k0 + BK < pc.K;
    if (more) {
      LOAD_TILES(k0 + BK)
    }
    COMPUTE(st)
    if (more) {
      STORE_TILES(st ^ 1u)
    }
    barrier();
    st ^= 1u;
  }
#endif

  // Epilogue, one fragment at a time through this subgroup's Cs slice. Each
  // fragment by a constant index (EPILOGUE): a loop index into acc[] would
  // force the accumulators out of registers into local memory (the H200's
  // compiler does that: 10x slower).
  g_m0 = m0 + wm0;
  g_n0 = n0 + wn0;
  g_cb = gl_WorkGroupID.z * pc.c_batch;
  g_c_vec = (uint(uint64_t(pc.c)) & 15u) == 0u && (pc.N & 7u) == 0u && (g_cb & 7u) == 0u;
#define EPILOGUE(f) store_fragment(acc[f], (f) / FJ, (f) % FJ);
  EPILOGUE(0)
#if FI * FJ > 1
  EPILOGUE(1)
#endif
#if FI * FJ > 2
  EPILOGUE(2)
#endif
#if FI * FJ > 3
  EPILOGUE(3)
#endif
#if FI * FJ > 4
  EPILOGUE(4)
#endif
#if FI * FJ > 5
  EPILOGUE(5)
#endif
#if FI * FJ > 6
  EPILOGUE(6)
#endif
#if FI * FJ > 7
  EPILOGUE(7)
#endif
#if FI * FJ > 8
  EPILOGUE(8)
#endif
#if FI * FJ > 9
  EPILOGUE(9)
#endif
#if FI * FJ > 10
  EPILOGUE(10)
#endif
#if FI * FJ > 11
  EPILOGUE(11)
#endif
#if FI * FJ > 12
  EPILOGUE(12)
#endif
#if FI * FJ > 13
  EPILOGUE(13)
#endif
#if FI * FJ > 14
  EPILOGUE(14)
#endif
#if FI * FJ > 15
  EPILOGUE(15)
#endif
#if FI * FJ > 16
#error "at most 16 accumulator fragments per subgroup"
#endif
}
