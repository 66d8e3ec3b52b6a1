// BatchMatMul, BatchMatMulV2 (broadcast batch dims) and BatchMatMulV3 (one
// dtype for Ta, Tb and Tout) on the tiled GEMM of matmul.cc: the batch is the
// dispatch's z index with a stride per operand (0 where it broadcasts).
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/matmul.h"

namespace tfmp {

void RecordBatchMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a,
                       const Shape& a_batch, uint64_t b, const Shape& b_batch, uint64_t c,
                       const Shape& c_batch) {
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
                 z.c);
  }
}

namespace {

// kVersion 1: BatchMatMul (equal batch dims); 2, 3: broadcast batch dims
// (V3's Ta, Tb and Tout are registered equal).
template <int kVersion>
class BatchMatMulOp : public OpKernel {
 public:
  static constexpr bool kV1 = kVersion == 1;
  explicit BatchMatMulOp(OpConstruction& c)
      : dtype_(c.GetType(kVersion == 3 ? "Ta" : "T")),
        adj_x_(c.GetBool("adj_x")),
        adj_y_(c.GetBool("adj_y")) {}

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
    Tensor z = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || z.num_elements() == 0) return;
    GemmShape g{M, N, K, adj_x_ ? 1 : K, adj_x_ ? M : 1, adj_y_ ? 1 : N, adj_y_ ? K : 1};
    RecordBatchMatMul(ctx, dtype_, g, x.address(), xb, y.address(), yb, z.address(), cb);
  }

 private:
  TF_DataType dtype_;
  bool adj_x_, adj_y_;
};

}  // namespace

void RegisterBatchMatMulKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<BatchMatMulOp<1>>("BatchMatMul", {{"T", t}});
    RegisterKernel<BatchMatMulOp<2>>("BatchMatMulV2", {{"T", t}});
    RegisterKernel<BatchMatMulOp<3>>("BatchMatMulV3", {{"Ta", t}, {"Tb", t}, {"Tout", t}});
  }
}

}  // namespace tfmp
