// MatrixTriangularSolve (float32; lower/upper, adjoint, broadcast batch dims
// as TF 2.x's MatMulBCast) on shaders/trisolve.comp ("trisolve_f32"): blocked
// substitution, kBlock rows at a time: an update of the block's rows by the
// rows solved so far (one invocation per batch, row and column; a dispatch per
// kUpdateChunk of them), then the block's own substitution (one invocation per
// batch and column). Only the
// chosen triangle is read. A zero on the diagonal gives inf/nan, as on the
// CPU (no error).
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr int64_t kBlock = 64;
constexpr int64_t kUpdateChunk = 512;  // terms of the update per dispatch
constexpr int kMaxBatchDims = 4;

enum : uint32_t { kAdj = 1, kRev = 2, kSolve = 4 };

struct TriSolvePush {
  uint64_t a, b, x;
  uint32_t count, n, ncols, r0, r1, v0, v1, flags, rank;
  uint32_t dims[kMaxBatchDims];
  uint32_t a_stride[kMaxBatchDims];
  uint32_t b_stride[kMaxBatchDims];
};

std::string Str(int64_t v) { return std::to_string(v); }

class MatrixTriangularSolveOp : public OpKernel {
 public:
  explicit MatrixTriangularSolveOp(OpConstruction& c)
      : lower_(c.GetBool("lower", true)), adjoint_(c.GetBool("adjoint", false)) {}

  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape as = a.shape(), bs = b.shape();
    const int ar = static_cast<int>(as.size()), br = static_cast<int>(bs.size());
    if (ar < 2) return ctx.Fail(TF_INVALID_ARGUMENT, "In[0] ndims must be >= 2: " + Str(ar));
    if (br < 2) return ctx.Fail(TF_INVALID_ARGUMENT, "In[1] ndims must be >= 2: " + Str(br));
    if (as[ar - 1] != as[ar - 2])
      return ctx.Fail(TF_INVALID_ARGUMENT, "In[0] matrices in the last dimensions must be square (" +
                                               Str(as[ar - 1]) + " =/= " + Str(as[ar - 2]) + ")");
    // Broadcast batch dims.
    const int rank = std::max(ar, br) - 2;
    Shape ab(rank, 1), bb(rank, 1), ob(rank, 1);
    for (int i = 0; i < ar - 2; ++i) ab[rank - (ar - 2) + i] = as[i];
    for (int i = 0; i < br - 2; ++i) bb[rank - (br - 2) + i] = bs[i];
    for (int d = 0; d < rank; ++d) {
      if (ab[d] == bb[d] || bb[d] == 1) {
        ob[d] = ab[d];
      } else if (ab[d] == 1) {
        ob[d] = bb[d];
      } else {
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "In[0] and In[1] must have compatible batch dimensions: " +
                            ShapeString(as) + " vs. " + ShapeString(bs));
      }
    }
    const int64_t n = as[ar - 1], d2 = bs[br - 2], ncols = bs[br - 1];
    if (n != d2)
      return ctx.Fail(TF_INVALID_ARGUMENT, "In[0] mismatch In[1] shape: " + Str(n) + " vs. " +
                                               Str(d2) + ": " + ShapeString(as) + " " +
                                               ShapeString(bs) + " " + (lower_ ? "1" : "0") +
                                               " " + (adjoint_ ? "1" : "0"));
    Shape out = ob;
    out.push_back(n);
    out.push_back(ncols);
    if (!ctx.CheckElements(a.num_elements()) || !ctx.CheckElements(b.num_elements()) ||
        !ctx.CheckElements(NumElements(out)))
      return;
    Tensor x = ctx.allocate_output(0, out, TF_FLOAT);
    if (!ctx.ok() || x.num_elements() == 0) return;

    // Batch dims: size-1 dims dropped, neighbours merged where both operands'
    // strides continue; more than kMaxBatchDims left: the leading ones loop here.
    struct Dim {
      int64_t size, a, b;
    };
    std::vector<Dim> dims;
    int64_t sa = n * n, sb = n * ncols;
    std::vector<Dim> rev;
    for (int d = rank - 1; d >= 0; --d) {
      rev.push_back({ob[d], ab[d] == 1 ? 0 : sa, bb[d] == 1 ? 0 : sb});
      sa *= ab[d], sb *= bb[d];
    }
    for (auto it = rev.rbegin(); it != rev.rend(); ++it) {
      if (it->size == 1) continue;
      if (!dims.empty() && dims.back().a == it->a * it->size && dims.back().b == it->b * it->size) {
        dims.back() = {dims.back().size * it->size, it->a, it->b};
        continue;
      }
      dims.push_back(*it);
    }
    const size_t host_dims = dims.size() > kMaxBatchDims ? dims.size() - kMaxBatchDims : 0;
    int64_t loops = 1, inner_batch = 1;
    for (size_t i = 0; i < host_dims; ++i) loops *= dims[i].size;
    TriSolvePush p{};
    p.rank = static_cast<uint32_t>(dims.size() - host_dims);
    for (size_t i = host_dims; i < dims.size(); ++i) {
      p.dims[i - host_dims] = static_cast<uint32_t>(dims[i].size);
      p.a_stride[i - host_dims] = static_cast<uint32_t>(dims[i].a);
      p.b_stride[i - host_dims] = static_cast<uint32_t>(dims[i].b);
      inner_batch *= dims[i].size;
    }
    p.n = static_cast<uint32_t>(n);
    p.ncols = static_cast<uint32_t>(ncols);
    // Forward substitution on the effective lower-triangular matrix; an
    // effective upper one is solved with rows and columns reversed.
    const bool upper = lower_ == adjoint_;
    const uint32_t base = (adjoint_ ? kAdj : 0) | (upper ? kRev : 0);
    for (int64_t l = 0; l < loops; ++l) {
      int64_t oa = 0, ob_ = 0, rem = l;
      for (int i = static_cast<int>(host_dims) - 1; i >= 0; --i) {
        const int64_t k = rem % dims[i].size;
        rem /= dims[i].size;
        oa += k * dims[i].a, ob_ += k * dims[i].b;
      }
      p.a = a.address() + oa * sizeof(float);
      p.b = b.address() + ob_ * sizeof(float);
      p.x = x.address() + l * inner_batch * n * ncols * sizeof(float);
      for (int64_t r0 = 0; r0 < n; r0 += kBlock) {
        p.r0 = static_cast<uint32_t>(r0);
        p.r1 = static_cast<uint32_t>(std::min(n, r0 + kBlock));
        p.flags = base;
        int64_t count = inner_batch * (p.r1 - p.r0) * ncols;
        p.count = static_cast<uint32_t>(count);
        int64_t v0 = 0;
        do {  // the first chunk also copies b (r0 == 0: nothing else)
          p.v0 = static_cast<uint32_t>(v0);
          p.v1 = static_cast<uint32_t>(std::min(r0, v0 + kUpdateChunk));
          ctx.Dispatch("trisolve_f32", p, OpContext::GridFor(count));
          v0 += kUpdateChunk;
        } while (v0 < r0);
        p.flags = base | kSolve;
        count = inner_batch * ncols;
        p.count = static_cast<uint32_t>(count);
        ctx.Dispatch("trisolve_f32", p, OpContext::GridFor(count));
      }
    }
  }

 private:
  bool lower_, adjoint_;
};

}  // namespace

void RegisterLinalgKernels() {
  RegisterKernel<MatrixTriangularSolveOp>("MatrixTriangularSolve", {{"T", TF_FLOAT}});
}

}  // namespace tfmp
