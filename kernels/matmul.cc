// MatMul with transposes; _FusedMatMul (MatMul + BiasAdd and/or an inference
// BatchNorm [+ activation], made by the plugin's Grappler pass) with the
// epilogue (epilogue.h) in the GEMM's dispatch; and RecordMatMul (matmul.h),
// the batched GEMM that BatchMatMul and Einsum record too. Shaders:
// shaders/matmul.comp ("matmul_<tile>_<dtype>"; tile configs and their
// choice: matmul_config.h) and shaders/matmul_reduce.comp (the sum of split-K
// partials).
#include "kernels/matmul.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <cstring>

#include "kernels/epilogue.h"
#include "kernels/matmul_config.h"
#include "kernels/reduction.h"
#include "tensorflow/c/ops.h"

namespace tfmp {
namespace {

// MatMul, and _FusedMatMul (kFused) with fused_ops [BiasAdd] [, FusedBatchNorm] [, activation].
template <bool kFused>
class MatMulOp : public OpKernel {
 public:
  explicit MatMulOp(OpConstruction& c)
      : dtype_(c.GetType("T")),
        transpose_a_(c.GetBool("transpose_a")),
        transpose_b_(c.GetBool("transpose_b")) {
    if (kFused) epilogue_ = ParseEpilogue(c, "_FusedMatMul", false);
  }

  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    Tensor bias = kFused && epilogue_.bias ? ctx.input(2) : Tensor();
    if (!ctx.ok()) return;
    if (a.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "In[0] is not a matrix. Instead it has shape " +
                                        ShapeString(a.shape()));
      return;
    }
    if (b.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "In[1] is not a matrix. Instead it has shape " +
                                        ShapeString(b.shape()));
      return;
    }
    const int64_t M = a.dim(transpose_a_ ? 1 : 0), K = a.dim(transpose_a_ ? 0 : 1);
    const int64_t Kb = b.dim(transpose_b_ ? 1 : 0), N = b.dim(transpose_b_ ? 0 : 1);
    if (K != Kb) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: " + ShapeString(a.shape()) +
                                        ", In[1]: " + ShapeString(b.shape()));
      return;
    }
    if (bias.valid() && (bias.dims() != 1 || bias.dim(0) != N)) {
      ctx.Fail(TF_INVALID_ARGUMENT, "_FusedMatMul: bias must be a vector of " + std::to_string(N) +
                                        " elements, got " + ShapeString(bias.shape()));
      return;
    }
    if (!ctx.CheckElements(M * K) || !ctx.CheckElements(K * N) || !ctx.CheckElements(M * N)) return;
    GemmEpilogue e;
    Tensor bn_table;
    if (kFused) {
      e.bias = bias.valid() ? bias.address() : 0;
      e.act = epilogue_.act;
      e.alpha = epilogue_.alpha;
      bn_table = RecordBatchNormTable(ctx, epilogue_, 2 + epilogue_.bias, N, "_FusedMatMul");
      e.bn = bn_table.valid() ? bn_table.address() : 0;
    }
    if (!ctx.ok()) return;
    Tensor c = ctx.allocate_output(0, {M, N}, dtype_);
    if (!ctx.ok() || M == 0 || N == 0) return;
    // A[m, k] = a[m * a_m + k * a_k]; a is stored [M, K], or [K, M] transposed.
    GemmShape g{M, N, K, transpose_a_ ? 1 : K, transpose_a_ ? M : 1,
                transpose_b_ ? 1 : N, transpose_b_ ? K : 1};
    RecordMatMul(ctx, dtype_, g, a.address(), b.address(), c.address(), 1, 0, 0, 0, e);
  }

 private:
  TF_DataType dtype_;
  bool transpose_a_, transpose_b_;
  Epilogue epilogue_;
};

// --- float16 GEMMs on matrix units (shaders/matmul_coopmat.comp) ---------------
// Where the device has cooperative matrices (DeviceInfo::coopmat_f16;
// TFMP_COOPMAT=0 turns them off) and each operand is contiguous along one of
// its dimensions (any transposes), float16 GEMMs of every shape (ragged edges,
// K == 0 with an epilogue, batches) run "matmul_coopmat_f16_<a><b>" (a, b:
// "n" row-major, "t" transposed; "matmul_coopmat_khr_..." through
// VK_KHR_cooperative_matrix) instead of matmul.comp. Its own push
// constants (today the same layout as matmul.comp's) keep it independent of
// the portable shader's.
// The tile: PickCoopTile (matmul_config.h: 128x256 where that fills every
// SM, else 128x128; H200 numbers there). The portable matmul.comp: 4096^3 in
// 9.15 ms (15 TFLOP/s).

// Records the GEMMs on the cooperative-matrix kernel and returns true, or
// returns false (nothing recorded) where it does not apply. Logs once which
// path float16 GEMMs take.
bool RecordCoopMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a,
                      uint64_t b, uint64_t c, int64_t batch, int64_t a_batch, int64_t b_batch,
                      int64_t c_batch, const GemmEpilogue& epilogue) {
  if (dtype != TF_HALF) return false;
  const rt::DeviceInfo& info = ctx.stream()->device()->info();
  static std::once_flag logged;
  std::call_once(logged, [&] {
    std::fprintf(stderr, "tensorflow-metal-plugin: float16 GEMMs on %s: %s%s%s\n", info.name.c_str(),
                 info.coopmat2      ? "workgroup-scope cooperative matrices (matmul_coopmat2.comp)"
                 : info.coopmat_f16 ? "cooperative matrices (matmul_coopmat.comp)"
                                    : "portable tiled shader",
                 info.coopmat.empty() ? "" : "; ", info.coopmat.c_str());
  });
  if (!info.coopmat_f16 && !info.coopmat2) return false;
  // Its epilogue is bias + activation: a folded BatchNorm takes matmul.comp.
  if (epilogue.bn != 0) return false;
  const char* la = g.a_k == 1 ? "n" : g.a_m == 1 ? "t" : nullptr;
  const char* lb = g.b_n == 1 ? "n" : g.b_k == 1 ? "t" : nullptr;
  if (!la || !lb) return false;
  // VK_NV_cooperative_matrix2 (workgroup scope, matmul_coopmat2.comp) where
  // the device has it, else the subgroup-scope kernels; same push constants.
  const bool cm2 = info.coopmat2;
  const CoopTile& tile = cm2 ? PickCoop2Tile(g.M, g.N, batch, info.compute_units)
                             : PickCoopTile(g.M, g.N, batch, info.compute_units, info.coopmat_khr);
  const std::string kernel =
      std::string(cm2 ? "matmul_coopmat2_f16_" : info.coopmat_khr ? "matmul_coopmat_khr_f16_" : "matmul_coopmat_f16_") +
      la + lb + tile.name;
  CoopMatPush p{};
  p.M = static_cast<uint32_t>(g.M);
  p.N = static_cast<uint32_t>(g.N);
  p.K = static_cast<uint32_t>(g.K);
  p.a_m = static_cast<uint32_t>(g.a_m);
  p.a_k = static_cast<uint32_t>(g.a_k);
  p.b_k = static_cast<uint32_t>(g.b_k);
  p.b_n = static_cast<uint32_t>(g.b_n);
  p.a_batch = static_cast<uint32_t>(a_batch);
  p.b_batch = static_cast<uint32_t>(b_batch);
  p.c_batch = static_cast<uint32_t>(c_batch);
  p.bias = epilogue.bias;
  p.act = epilogue.act;
  p.alpha = epilogue.alpha;
  constexpr int64_t kMaxZ = 65535;
  for (int64_t z0 = 0; z0 < batch; z0 += kMaxZ) {
    p.a = a + z0 * a_batch * 2;
    p.b = b + z0 * b_batch * 2;
    p.c = c + z0 * c_batch * 2;
    ctx.Dispatch(kernel, p, static_cast<uint32_t>((g.N + tile.bn - 1) / tile.bn),
                 static_cast<uint32_t>((g.M + tile.bm - 1) / tile.bm),
                 static_cast<uint32_t>(std::min(kMaxZ, batch - z0)));
  }
  return true;
}

// _TfmpMatMulBiasGrad (made by the Grappler pass from a Dense layer's
// backward graph, grappler/patterns/matmul_bias_grad.cc): product = a^T x b
// and bias_grad = the column sums of b (BiasAddGrad of b), one dispatch: the
// GEMM's first row of workgroups sums the b tiles it loads.
//   a: [K, M], b: [K, N] -> product: [M, N], bias_grad: [N]
class MatMulBiasGradOp : public OpKernel {
 public:
  explicit MatMulBiasGradOp(OpConstruction& c) : dtype_(c.GetType("T")) {}

  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    if (a.dims() != 2 || b.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "_TfmpMatMulBiasGrad: inputs must be matrices, got " +
                                        ShapeString(a.shape()) + " and " + ShapeString(b.shape()));
      return;
    }
    const int64_t K = a.dim(0), M = a.dim(1), N = b.dim(1);
    if (b.dim(0) != K) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: " + ShapeString(a.shape()) +
                                        ", In[1]: " + ShapeString(b.shape()));
      return;
    }
    if (!ctx.CheckElements(M * K) || !ctx.CheckElements(K * N) || !ctx.CheckElements((M + 1) * N))
      return;
    Tensor c = ctx.allocate_output(0, {M, N}, dtype_);
    Tensor grad = ctx.allocate_output(1, {N}, dtype_);
    if (!ctx.ok() || N == 0) return;
    if (M == 0) {  // no product: the column sums alone
      if (K == 0) ctx.stream()->Fill(grad.address(), 0, N * DtypeSize(dtype_));
      else RecordReduction(ctx, "sum", false, dtype_, b.address(), {K, N}, {true, false}, grad.address());
      return;
    }
    GemmEpilogue e;
    e.bias_grad = grad.address();
    GemmShape g{M, N, K, 1, M, N, 1};  // A = a^T: A[m, k] = a[k * M + m]
    RecordMatMul(ctx, dtype_, g, a.address(), b.address(), c.address(), 1, 0, 0, 0, e);
  }

 private:
  TF_DataType dtype_;
};

// Output shapes: [a.dim(1), b.dim(1)] and [b.dim(1)].
void MatMulBiasGradShapeFn(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* a = TF_NewShapeHandle();
  TF_ShapeHandle* b = TF_NewShapeHandle();
  TF_ShapeHandle* m = TF_NewShapeHandle();
  TF_ShapeHandle* n = TF_NewShapeHandle();
  TF_ShapeHandle* mn = TF_NewShapeHandle();
  TF_ShapeInferenceContextGetInput(ctx, 0, a, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextWithRank(ctx, a, 2, a, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 1, b, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextWithRank(ctx, b, 2, b, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, a, 1, 2, m, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSubshape(ctx, b, 1, 2, n, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextConcatenateShapes(ctx, m, n, mn, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 0, mn, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextSetOutput(ctx, 1, n, status);
  for (TF_ShapeHandle* h : {a, b, m, n, mn}) TF_DeleteShapeHandle(h);
}

void RegisterMatMulBiasGradOp() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder("_TfmpMatMulBiasGrad");
  TF_OpDefinitionBuilderAddInput(b, "a: T");
  TF_OpDefinitionBuilderAddInput(b, "b: T");
  TF_OpDefinitionBuilderAddOutput(b, "product: T");
  TF_OpDefinitionBuilderAddOutput(b, "bias_grad: T");
  TF_OpDefinitionBuilderAddAttr(b, "T: {float, half}");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, MatMulBiasGradShapeFn);
  RegisterOpDefinition("_TfmpMatMulBiasGrad", b);
}

}  // namespace

namespace {
// The tile config and split-K of a float GEMM (matmul_config.h), for this
// device; TFMP_MATMUL_CONFIG overrides it (benchmarks and tests).
// can_split: false where matmul_reduce.comp cannot apply the epilogue (a
// folded BatchNorm: matmul.comp applies it, so no split-K then).
GemmPlan PlanMatMul(OpContext& ctx, const GemmProblem& p, bool can_split) {
  return PlanGemm(p, ctx.stream()->device_info().compute_units, std::getenv("TFMP_MATMUL_CONFIG"),
                  can_split);
}
}  // namespace

void RecordMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a, uint64_t b,
                  uint64_t c, int64_t batch, int64_t a_batch, int64_t b_batch, int64_t c_batch,
                  const GemmEpilogue& epilogue) {
  if (!ctx.ok() || g.M == 0 || g.N == 0 || batch == 0) return;
  const uint32_t esize = static_cast<uint32_t>(DtypeSize(dtype));
  const bool has_epilogue = epilogue.bias != 0 || epilogue.act != 0 || epilogue.bn != 0;
  const bool bias_grad = epilogue.bias_grad != 0;
  if (bias_grad && batch != 1) {
    ctx.Fail(TF_INTERNAL, "a GEMM's column sums need batch 1");
    return;
  }
  if (g.K == 0 && bias_grad) ctx.stream()->Fill(epilogue.bias_grad, 0, g.N * esize);
  if (g.K == 0 && !has_epilogue) {  // an empty sum: zeros (c is contiguous over the batch here)
    for (int64_t z = 0; z < batch; ++z)
      ctx.stream()->Fill(c + z * c_batch * esize, 0, g.M * g.N * esize);
    return;
  }
  // A batch against one broadcast B whose rows of A and of C run on from one
  // entry to the next (BatchMatMulV2 of [batch, M, K] by [K, N]: Keras's
  // EinsumDense projections, forward and dX) is one GEMM of batch * M rows:
  // planned as a whole rather than as `batch` separate small GEMMs.
  if (batch > 1 && b_batch == 0 && a_batch == g.M * g.a_m && c_batch == g.M * g.N && !bias_grad) {
    GemmShape folded = g;
    folded.M = g.M * batch;
    RecordMatMul(ctx, dtype, folded, a, b, c, 1, 0, 0, 0, epilogue);
    return;
  }
  // The matrix-unit kernel has no column-sum output.
  if (!bias_grad && RecordCoopMatMul(ctx, dtype, g, a, b, c, batch, a_batch, b_batch, c_batch, epilogue))
    return;
  const GemmProblem prob{g.M, g.N, g.K, g.a_m, g.a_k, g.b_k, g.b_n, a, b, c,
                         batch, a_batch, b_batch, c_batch, esize};
  const GemmPlan plan = PlanMatMul(ctx, prob, epilogue.bn == 0);
  const std::string dt = DtypeToken(dtype);
  const std::string kernel =
      std::string("matmul_") + plan.tile->name + "_" + dt + (bias_grad ? "_bias_grad" : "");
  MatMulPush p = GemmPush(prob, plan, epilogue.bias, epilogue.act, epilogue.alpha);
  p.grad = epilogue.bias_grad;
  p.bn = epilogue.bn;
  Tensor partial;
  const int64_t mn = g.M * g.N, pmn = bias_grad ? mn + g.N : mn;
  if (plan.splits > 1) {
    partial = ctx.allocate_temp({batch * plan.splits, pmn}, TF_FLOAT);
    if (!ctx.ok()) return;
  }
  // At most 65535 workgroups along z (batch entries times splits) per dispatch.
  const int64_t per = 65535 / plan.splits;
  for (int64_t z0 = 0; z0 < batch; z0 += per) {
    const int64_t nz = std::min(per, batch - z0);
    p.a = a + z0 * a_batch * esize;
    p.b = b + z0 * b_batch * esize;
    p.c = plan.splits > 1 ? partial.address() + z0 * plan.splits * pmn * 4 : c + z0 * c_batch * esize;
    ctx.Dispatch(kernel, p, plan.gx, plan.gy, static_cast<uint32_t>(nz * plan.splits));
  }
  if (plan.splits > 1) {
    MatMulReducePush r{};
    r.p = partial.address();
    r.c = c;
    r.bias = epilogue.bias;
    r.grad = epilogue.bias_grad;
    r.mn = static_cast<uint32_t>(mn);
    r.pmn = static_cast<uint32_t>(pmn);
    r.n = static_cast<uint32_t>(g.N);
    r.batch = static_cast<uint32_t>(batch);
    r.splits = plan.splits;
    r.c_batch = static_cast<uint32_t>(c_batch);
    r.act = epilogue.act;
    r.alpha = epilogue.alpha;
    ctx.Dispatch("matmul_reduce_" + dt, r, OpContext::GridFor(batch * pmn));
  }
}

bool RecordStridedGemm(OpContext& ctx, TF_DataType dtype, const GemmProblem& p) {
  if (p.batch > 65535 || p.batch % p.batch2 != 0) return false;
  if (!ctx.ok() || p.M == 0 || p.N == 0 || p.batch == 0) return true;
  const GemmPlan plan = PlanMatMul(ctx, p, false);
  const MatMulPush q = GemmPush(p, plan, 0, 0, 0.2f);
  ctx.Dispatch(std::string("matmul_") + plan.tile->name + "_" + DtypeToken(dtype), q, plan.gx, plan.gy,
               static_cast<uint32_t>(p.batch));
  return true;
}

void RegisterMatMulKernels() {
  RegisterMatMulBiasGradOp();
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<MatMulBiasGradOp>("_TfmpMatMulBiasGrad", {{"T", t}});
    RegisterKernel<MatMulOp<false>>("MatMul", {{"T", t}});
    RegisterKernel<MatMulOp<true>>("_FusedMatMul", {{"T", t}});
  }
}

}  // namespace tfmp
