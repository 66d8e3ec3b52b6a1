// BatchMatMul, BatchMatMulV2 (broadcast batch dims) and BatchMatMulV3 (one
// dtype for Ta, Tb and Tout) on the tiled GEMM of matmul.cc: the batch is the
// dispatch's z index with a stride per operand (0 where it broadcasts). And
// _TfmpFusedBatchMatMul (registered here), what the Grappler pass makes of
// BatchMatMulV2/V3 + BiasAdd [+ activation]: BatchMatMulV2 with _FusedMatMul's
// attrs (fused_ops, num_args, TArgs, epsilon, leakyrelu_alpha) and epilogue.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/epilogue.h"
#include "kernels/matmul.h"
#include "tensorflow/c/ops.h"

namespace tfmp {

void RecordBatchMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a,
                       const Shape& a_batch, uint64_t b, const Shape& b_batch, uint64_t c,
                       const Shape& c_batch, const GemmEpilogue& epilogue) {
  struct Dim {
    int64_t size, a, b, c;  // size and element strides of each operand
  };
  const int rank = static_cast<int>(c_batch.size());
  std::vector<Dim> dims(rank);
  int64_t sa = g.M * g.K, sb = g.K * g.N, sc = g.M * g.N;
  for (int d = rank - 1; d >= 0; --d) {
    dims[d] = {c_batch[d], a_batch[d] == 1 ? 0 : sa, b_batch[d] == 1 ? 0 : sb, sc};
    sa *= a_batch[d], sb *= b_batch[d], sc *= c_batch[d];
  }
  // Drop size-1 dims; merge a dim into its outer neighbour where all three
  // operands continue their strides.
  std::vector<Dim> merged;
  for (const Dim& d : dims) {
    if (d.size == 1) continue;
    if (!merged.empty()) {
      Dim& o = merged.back();
      if (o.a == d.a * d.size && o.b == d.b * d.size && o.c == d.c * d.size) {
        o = {o.size * d.size, d.a, d.b, d.c};
        continue;
      }
    }
    merged.push_back(d);
  }
  if (merged.empty()) merged.push_back({1, 0, 0, 0});
  const Dim z = merged.back();
  const size_t outer = merged.size() - 1;
  int64_t loops = 1;
  for (size_t i = 0; i < outer; ++i) loops *= merged[i].size;
  const size_t esize = DtypeSize(dtype);
  for (int64_t l = 0; l < loops && ctx.ok(); ++l) {
    int64_t oa = 0, ob = 0, oc = 0, rem = l;
    for (int i = static_cast<int>(outer) - 1; i >= 0; --i) {
      const int64_t k = rem % merged[i].size;
      rem /= merged[i].size;
      oa += k * merged[i].a, ob += k * merged[i].b, oc += k * merged[i].c;
    }
    RecordMatMul(ctx, dtype, g, a + oa * esize, b + ob * esize, c + oc * esize, z.size, z.a, z.b,
                 z.c, epilogue);
  }
}

namespace {

constexpr char kFusedOp[] = "_TfmpFusedBatchMatMul";

// kVersion 1: BatchMatMul (equal batch dims); 2, 3: broadcast batch dims
// (V3's Ta, Tb and Tout are registered equal); 0: _TfmpFusedBatchMatMul,
// BatchMatMulV2 with the epilogue (epilogue.h) of _FusedMatMul.
template <int kVersion>
class BatchMatMulOp : public OpKernel {
 public:
  static constexpr bool kV1 = kVersion == 1;
  static constexpr bool kFused = kVersion == 0;
  explicit BatchMatMulOp(OpConstruction& c)
      : dtype_(c.GetType(kVersion == 3 ? "Ta" : "T")),
        adj_x_(c.GetBool("adj_x")),
        adj_y_(c.GetBool("adj_y")) {
    if (kFused) epilogue_ = ParseEpilogue(c, kFusedOp, false);
  }

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), y = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape xs = x.shape(), ys = y.shape();
    const int xr = static_cast<int>(xs.size()), yr = static_cast<int>(ys.size());
    if (kV1 && xr != yr)
      return ctx.Fail(TF_INVALID_ARGUMENT, "In[0] and In[1] has different ndims: " +
                                               ShapeString(xs) + " vs. " + ShapeString(ys));
    if (xr < 2)
      return ctx.Fail(TF_INVALID_ARGUMENT, "In[0] ndims must be >= 2: " + std::to_string(xr));
    if (yr < 2)
      return ctx.Fail(TF_INVALID_ARGUMENT, "In[1] ndims must be >= 2: " + std::to_string(yr));
    const int br = std::max(xr, yr) - 2;
    Shape xb(br, 1), yb(br, 1), cb(br, 1);
    for (int i = 0; i < xr - 2; ++i) xb[br - (xr - 2) + i] = xs[i];
    for (int i = 0; i < yr - 2; ++i) yb[br - (yr - 2) + i] = ys[i];
    for (int d = 0; d < br; ++d) {
      if (xb[d] == yb[d] || (!kV1 && yb[d] == 1)) {
        cb[d] = xb[d];
      } else if (!kV1 && xb[d] == 1) {
        cb[d] = yb[d];
      } else if (kV1) {
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "In[0].dim(" + std::to_string(d) + ") and In[1].dim(" + std::to_string(d) +
                            ") must be the same: " + ShapeString(xs) + " vs " + ShapeString(ys));
      } else {
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "In[0] and In[1] must have compatible batch dimensions: " +
                            ShapeString(xs) + " vs. " + ShapeString(ys));
      }
    }
    const int64_t M = xs[xr - (adj_x_ ? 1 : 2)], K = xs[xr - (adj_x_ ? 2 : 1)];
    const int64_t Ky = ys[yr - (adj_y_ ? 1 : 2)], N = ys[yr - (adj_y_ ? 2 : 1)];
    if (K != Ky)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: " + ShapeString(xs) +
                                               ", In[1]: " + ShapeString(ys));
    Shape out = cb;
    out.push_back(M);
    out.push_back(N);
    if (!ctx.CheckElements(x.num_elements()) || !ctx.CheckElements(y.num_elements()) ||
        !ctx.CheckElements(NumElements(out)))
      return;
    GemmEpilogue e;
    Tensor bn_table;
    if (kFused) {
      Tensor bias = epilogue_.bias ? ctx.input(2) : Tensor();
      if (!ctx.ok()) return;
      if (bias.valid() && (bias.dims() != 1 || bias.dim(0) != N))
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kFusedOp) + ": bias must be a vector of " +
                                                 std::to_string(N) + " elements, got " +
                                                 ShapeString(bias.shape()));
      e.bias = bias.valid() ? bias.address() : 0;
      e.act = epilogue_.act;
      e.alpha = epilogue_.alpha;
      bn_table = RecordBatchNormTable(ctx, epilogue_, 2 + epilogue_.bias, N, kFusedOp);
      e.bn = bn_table.valid() ? bn_table.address() : 0;
      if (!ctx.ok()) return;
    }
    Tensor z = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || z.num_elements() == 0) return;
    GemmShape g{M, N, K, adj_x_ ? 1 : K, adj_x_ ? M : 1, adj_y_ ? 1 : N, adj_y_ ? K : 1};
    RecordBatchMatMul(ctx, dtype_, g, x.address(), xb, y.address(), yb, z.address(), cb, e);
  }

 private:
  TF_DataType dtype_;
  bool adj_x_, adj_y_;
  Epilogue epilogue_;
};

// The fused op's output shape: the broadcast batch dims, then [M, N] where
// the inputs' last two dims give them without the adjoint flags (a shape
// function cannot read bool attrs through TF's C API): known when both
// candidates agree, else unknown.
void FusedShapeFn(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* x = TF_NewShapeHandle();
  TF_ShapeHandle* y = TF_NewShapeHandle();
  TF_ShapeHandle* out = nullptr;
  auto done = [&]() {
    for (TF_ShapeHandle* h : {x, y, out})
      if (h) TF_DeleteShapeHandle(h);
  };
  TF_ShapeInferenceContextGetInput(ctx, 0, x, status);
  if (TF_GetCode(status) == TF_OK) TF_ShapeInferenceContextGetInput(ctx, 1, y, status);
  if (TF_GetCode(status) != TF_OK) return done();
  if (!TF_ShapeInferenceContextRankKnown(ctx, x) || !TF_ShapeInferenceContextRankKnown(ctx, y)) {
    TF_ShapeInferenceContextSetUnknownShape(ctx, status);
    return done();
  }
  const int64_t xr = TF_ShapeInferenceContextRank(ctx, x), yr = TF_ShapeInferenceContextRank(ctx, y);
  if (xr < 2 || yr < 2) {
    TF_SetStatus(status, TF_INVALID_ARGUMENT, "_TfmpFusedBatchMatMul: inputs must be at least matrices");
    return done();
  }
  auto dim = [&](TF_ShapeHandle* s, int64_t i) {
    TF_DimensionHandle* d = TF_NewDimensionHandle();
    TF_ShapeInferenceContextDim(ctx, s, i, d);
    const int64_t v = TF_DimensionHandleValueKnown(d) ? TF_DimensionHandleValue(d) : -1;
    TF_DeleteDimensionHandle(d);
    return v;
  };
  // Batch dims: NumPy broadcasting; unknown where it cannot be decided.
  const int64_t br = std::max(xr, yr) - 2;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < br; ++d) {
    const int64_t kx = d - (br - (xr - 2)), ky = d - (br - (yr - 2));
    const int64_t vx = kx >= 0 ? dim(x, kx) : 1, vy = ky >= 0 ? dim(y, ky) : 1;
    dims.push_back(vx == 1 ? vy : vy == 1 ? vx : vx == vy ? vx : -1);
  }
  const int64_t x0 = dim(x, xr - 2), x1 = dim(x, xr - 1), y0 = dim(y, yr - 2), y1 = dim(y, yr - 1);
  dims.push_back(x0 == x1 ? x0 : -1);  // M: x0, or x1 when adjoint
  dims.push_back(y0 == y1 ? y0 : -1);  // N: y1, or y0 when adjoint
  out = TF_ShapeInferenceContextScalar(ctx);
  for (int64_t v : dims) {
    TF_ShapeHandle* piece = TF_ShapeInferenceContextVectorFromSize(ctx, v);  // the shape [v]
    TF_ShapeHandle* joined = TF_NewShapeHandle();
    TF_ShapeInferenceContextConcatenateShapes(ctx, out, piece, joined, status);
    TF_DeleteShapeHandle(piece);
    TF_DeleteShapeHandle(out);
    out = joined;
    if (TF_GetCode(status) != TF_OK) return done();
  }
  TF_ShapeInferenceContextSetOutput(ctx, 0, out, status);
  done();
}

void RegisterFusedOpDef() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kFusedOp);
  TF_OpDefinitionBuilderAddInput(b, "x: T");
  TF_OpDefinitionBuilderAddInput(b, "y: T");
  TF_OpDefinitionBuilderAddInput(b, "args: TArgs");
  TF_OpDefinitionBuilderAddOutput(b, "output: T");
  TF_OpDefinitionBuilderAddAttr(b, "T: {float, half}");
  TF_OpDefinitionBuilderAddAttr(b, "TArgs: list(type) >= 1");
  TF_OpDefinitionBuilderAddAttr(b, "num_args: int >= 1");
  TF_OpDefinitionBuilderAddAttr(b, "adj_x: bool = false");
  TF_OpDefinitionBuilderAddAttr(b, "adj_y: bool = false");
  TF_OpDefinitionBuilderAddAttr(b, "fused_ops: list(string) = []");
  TF_OpDefinitionBuilderAddAttr(b, "epsilon: float = 0.0001");
  TF_OpDefinitionBuilderAddAttr(b, "leakyrelu_alpha: float = 0.2");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &FusedShapeFn);
  RegisterOpDefinition(kFusedOp, b);
}

}  // namespace

void RegisterBatchMatMulKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<BatchMatMulOp<1>>("BatchMatMul", {{"T", t}});
    RegisterKernel<BatchMatMulOp<2>>("BatchMatMulV2", {{"T", t}});
    RegisterKernel<BatchMatMulOp<3>>("BatchMatMulV3", {{"Ta", t}, {"Tb", t}, {"Tout", t}});
  }
  RegisterFusedOpDef();
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) RegisterKernel<BatchMatMulOp<0>>(kFusedOp, {{"T", t}});
}

}  // namespace tfmp
