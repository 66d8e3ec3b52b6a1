#version 450
// C[b] = A[b] x B[b] for float16 A and B through VK_NV_cooperative_matrix2:
// workgroup-scope cooperative matrices (the whole BM x BN tile is one
// matrix the driver spreads over the workgroup's subgroups, and stages
// through shared memory itself) loaded with tensor addressing
// (coopMatLoadTensorNV: strides, transposes and edge clamping by tensor
// layouts, no hand-written staging). float16 x float16 -> float32
// accumulation, the result rounded to float16, then the _FusedMatMul
// epilogue (bias[n] and the activation) on it. Same push constants as
// matmul_coopmat.comp, which it replaces where the
// device has the feature (kernels/matmul.cc, RecordCoopMatMul;
// DeviceInfo::coopmat2). VULKAN-ONLY, and glslang 11 cannot compile it:
// tools/gen_shaders.py builds the "coopmat2_nv" variants with glslang 16
// (tools/glslang16.py).
//
// Layouts (defines) as in matmul_coopmat.comp: A_COL = 1 when A[m, k] is
// contiguous in m (transpose_a), B_COL = 1 when B[k, n] is contiguous in k
// (transpose_b). The tensor layout names the stored matrix (rows along the
// non-contiguous dimension); a transposing view maps it onto the operand.
// Edges: a workgroup whose tile is inside M and N (and whose operands are
// 16-byte aligned) loads its whole BK steps through unclamped layouts, UNROLL
// steps per iteration; the ragged last step and the other workgroups load
// through layouts that read zeros outside the matrix. Stores outside C are dropped by the layout.
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_memory_scope_semantics : require
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
#ifndef THREADS
#define THREADS 256
#endif
#ifndef UNROLL
#define UNROLL 8
#endif

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

// The same tensors, 16-byte aligned (the fast path's loads, where the base
// addresses and strides allow).
layout(buffer_reference, std430, buffer_reference_align = 16) buffer T16Buf { T v[]; };

#define MAT_A coopmat<float16_t, gl_ScopeWorkgroup, BM, BK, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeWorkgroup, BK, BN, gl_MatrixUseB>
#define MAT_ACC coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
#define MAT_OUT coopmat<float16_t, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>

// The epilogue's activation of a float16 result element.
float16_t relu_elem(const in uint32_t r, const in uint32_t c, const in float16_t v) {
  return float16_t(tf_relu(float(v)));
}
float16_t activation_elem(const in uint32_t r, const in uint32_t c, const in float16_t v) {
  return float16_t(tf_activation(float(v), pc.act, pc.alpha));
}

#define CLAMP gl_CooperativeMatrixClampModeConstantNV

void main() {
  const uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  const uint ab = gl_WorkGroupID.z * pc.a_batch, bb = gl_WorkGroupID.z * pc.b_batch;
  const uint cb = gl_WorkGroupID.z * pc.c_batch;

  // The stored matrices: A (M x K, or K x M when A_COL), B (K x N, or N x K
  // when B_COL), rows strided.
#if A_COL
  const uint a_rows = pc.K, a_cols = pc.M, a_stride = pc.a_k;
  tensorViewNV<2, false, 1, 0> view_a = createTensorViewNV(2, false, 1, 0);
#define SLICE_A(l, k0) sliceTensorLayoutNV(l, k0, BK, m0, BM), view_a
#else
  const uint a_rows = pc.M, a_cols = pc.K, a_stride = pc.a_m;
#define SLICE_A(l, k0) sliceTensorLayoutNV(l, m0, BM, k0, BK)
#endif
#if B_COL
  const uint b_rows = pc.N, b_cols = pc.K, b_stride = pc.b_n;
  tensorViewNV<2, false, 1, 0> view_b = createTensorViewNV(2, false, 1, 0);
#define SLICE_B(l, k0) sliceTensorLayoutNV(l, n0, BN, k0, BK), view_b
#else
  const uint b_rows = pc.K, b_cols = pc.N, b_stride = pc.b_k;
#define SLICE_B(l, k0) sliceTensorLayoutNV(l, k0, BK, n0, BN)
#endif

  MAT_ACC acc = MAT_ACC(0.0);
  // Zeros outside the matrices (ragged M, N, K; any strides).
  tensorLayoutNV<2, CLAMP> lac = createTensorLayoutNV(2, CLAMP);
  tensorLayoutNV<2, CLAMP> lbc = createTensorLayoutNV(2, CLAMP);
  lac = setTensorLayoutDimensionNV(lac, a_rows, a_cols);
  lbc = setTensorLayoutDimensionNV(lbc, b_rows, b_cols);
  lac = setTensorLayoutStrideNV(lac, a_stride, 1);
  lbc = setTensorLayoutStrideNV(lbc, b_stride, 1);
  const bool inside = m0 + BM <= pc.M && n0 + BN <= pc.N;
  const bool aligned = (uint(uint64_t(pc.a)) & 15u) == 0u && (uint(uint64_t(pc.b)) & 15u) == 0u &&
                       (a_stride & 7u) == 0u && (b_stride & 7u) == 0u && (ab & 7u) == 0u &&
                       (bb & 7u) == 0u;
  uint k0 = 0;
  if (inside && aligned) {
    // The whole BK steps unclamped, 16-byte aligned (strides and offsets
    // multiples of 8 halves); a ragged last step below, clamped.
    tensorLayoutNV<2> la = createTensorLayoutNV(2);
    tensorLayoutNV<2> lb = createTensorLayoutNV(2);
    la = setTensorLayoutDimensionNV(la, a_rows, a_cols);
    lb = setTensorLayoutDimensionNV(lb, b_rows, b_cols);
    la = setTensorLayoutStrideNV(la, a_stride & ~7u, 1);
    lb = setTensorLayoutStrideNV(lb, b_stride & ~7u, 1);
    T16Buf a16 = T16Buf(uint64_t(pc.a)), b16 = T16Buf(uint64_t(pc.b));
    const uint ab8 = ab & ~7u, bb8 = bb & ~7u;
    const uint k_full = pc.K - pc.K % BK;
    for (; k0 + UNROLL * BK <= k_full;) {
      [[unroll]] for (uint u = 0; u < UNROLL; ++u) {
        MAT_A ma;
        MAT_B mb;
        coopMatLoadTensorNV(ma, a16.v, ab8, SLICE_A(la, k0));
        coopMatLoadTensorNV(mb, b16.v, bb8, SLICE_B(lb, k0));
        acc = coopMatMulAdd(ma, mb, acc);
        k0 += BK;
      }
    }
    for (; k0 < k_full; k0 += BK) {
      MAT_A ma;
      MAT_B mb;
      coopMatLoadTensorNV(ma, a16.v, ab8, SLICE_A(la, k0));
      coopMatLoadTensorNV(mb, b16.v, bb8, SLICE_B(lb, k0));
      acc = coopMatMulAdd(ma, mb, acc);
    }
  }
  for (; k0 < pc.K; k0 += BK) {
    MAT_A ma;
    MAT_B mb;
    coopMatLoadTensorNV(ma, pc.a.v, ab, SLICE_A(lac, k0));
    coopMatLoadTensorNV(mb, pc.b.v, bb, SLICE_B(lbc, k0));
    acc = coopMatMulAdd(ma, mb, acc);
  }

  // Epilogue, on the result rounded to float16 (as TensorFlow's MatMul then
  // BiasAdd round twice): + bias[n] by a tensor load whose row stride is 0
  // (bias broadcast over the tile's rows), then the activation per element
  // (a function picked once per workgroup, not a switch per element). C is
  // M x N row-major per batch entry; the layout drops the stores outside it.
  // H200, 4096^3 bias + Relu: 0.547 ms (251 TFLOP/s) where bias and
  // activation per element on the float32 accumulators took 0.849 (162).
  MAT_OUT out_tile = MAT_OUT(acc);
  if (uint64_t(pc.bias) != 0) {
    tensorLayoutNV<2, CLAMP> lbias = createTensorLayoutNV(2, CLAMP);
    lbias = setTensorLayoutDimensionNV(lbias, pc.M, pc.N);
    lbias = setTensorLayoutStrideNV(lbias, 0, 1);
    MAT_OUT bias_tile;
    coopMatLoadTensorNV(bias_tile, pc.bias.v, 0, sliceTensorLayoutNV(lbias, m0, BM, n0, BN));
    out_tile = out_tile + bias_tile;
  }
  if (pc.act == 1u) coopMatPerElementNV(out_tile, out_tile, relu_elem);
  else if (pc.act != 0u) coopMatPerElementNV(out_tile, out_tile, activation_elem);
  tensorLayoutNV<2, CLAMP> lc = createTensorLayoutNV(2, CLAMP);
  lc = setTensorLayoutDimensionNV(lc, pc.M, pc.N);
  lc = setTensorLayoutStrideNV(lc, pc.N, 1);
  coopMatStoreTensorNV(out_tile, pc.c.v, cb, sliceTensorLayoutNV(lc, m0, BM, n0, BN));
}
