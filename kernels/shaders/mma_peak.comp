#version 450
// Not an op: the matrix units' ceiling as Vulkan reaches them, for
// tools/kernel_bench (case mma_peak_f16_*), to tell how far the float16 GEMMs
// (matmul_coopmat.comp, matmul_coopmat2.comp) are from what this driver's
// cooperative matrices can do at all. Each unit (a subgroup, or with
// SCOPE_WORKGROUP the whole workgroup) loads one A (MT x KT) and one B
// (KT x NT) of float16 once, then runs `iters` rounds of ACCS independent
// float32 multiply-adds acc[i] += A x B with no memory traffic, and stores
// acc[i] = i + iters * (A x B) (distinct starting values keep the chains
// distinct, so no compiler can merge them). VULKAN-ONLY, glslang 16
// (variants.py REQUIRES "coopmat2_nv").
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_EXT_buffer_reference : require

#ifndef THREADS
#define THREADS 128
#endif
#ifndef ACCS
#define ACCS 8
#endif
#if SCOPE_WORKGROUP
#define SCOPE gl_ScopeWorkgroup
#else
#define SCOPE gl_ScopeSubgroup
#endif

layout(local_size_x = THREADS) in;
layout(buffer_reference, std430, buffer_reference_align = 16) buffer HBuf { float16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 16) buffer FBuf { float v[]; };
layout(push_constant) uniform Push {
  HBuf a;  // MT x KT, row-major
  HBuf b;  // KT x NT, row-major
  FBuf c;  // [units * ACCS * MT, NT], row-major
  uint iters;
} pc;

#define MAT_A coopmat<float16_t, SCOPE, MT, KT, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, SCOPE, KT, NT, gl_MatrixUseB>
#define MAT_ACC coopmat<float, SCOPE, MT, NT, gl_MatrixUseAccumulator>

void main() {
#if SCOPE_WORKGROUP
  const uint unit = gl_WorkGroupID.x;
#else
  const uint unit = gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID;
#endif
  tensorLayoutNV<2> la = createTensorLayoutNV(2);
  tensorLayoutNV<2> lb = createTensorLayoutNV(2);
  la = setTensorLayoutDimensionNV(la, MT, KT);
  lb = setTensorLayoutDimensionNV(lb, KT, NT);
  MAT_A ma;
  MAT_B mb;
  coopMatLoadTensorNV(ma, pc.a.v, 0, sliceTensorLayoutNV(la, 0, MT, 0, KT));
  coopMatLoadTensorNV(mb, pc.b.v, 0, sliceTensorLayoutNV(lb, 0, KT, 0, NT));
  MAT_ACC acc[ACCS];
  [[unroll]] for (uint i = 0; i < ACCS; ++i) acc[i] = MAT_ACC(float(i));
  for (uint it = 0; it < pc.iters; ++it) {
    [[unroll]] for (uint i = 0; i < ACCS; ++i) acc[i] = coopMatMulAdd(ma, mb, acc[i]);
  }
  tensorLayoutNV<2> lc = createTensorLayoutNV(2);
  lc = setTensorLayoutDimensionNV(lc, (unit + 1) * ACCS * MT, NT);
  [[unroll]] for (uint i = 0; i < ACCS; ++i)
    coopMatStoreTensorNV(acc[i], pc.c.v, 0, sliceTensorLayoutNV(lc, (unit * ACCS + i) * MT, MT, 0, NT));
}
