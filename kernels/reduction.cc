// Sum and Mean over any set of axes. Shader: shaders/reduce.comp
// ("reduce_<in>_to_<out>").
#include <algorithm>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr int kMaxGroups = 3;

struct ReducePush {
  uint64_t x, y;
  uint32_t n_out, n_red;
  uint32_t kept_rank, red_rank;
  uint32_t kshape[kMaxGroups], kstride[kMaxGroups];
  uint32_t rshape[kMaxGroups], rstride[kMaxGroups];
  uint32_t per_thread;
  uint32_t mean;
  uint32_t divisor;
  uint32_t chunks, chunk_len;
};

// Elements of one output that one workgroup sums in one pass (256 per
// invocation): longer reductions take a second pass over partial sums.
constexpr uint32_t kChunk = 256 * 256;

TF_DataType AccumulatorType(TF_DataType t) { return t == TF_HALF ? TF_FLOAT : t; }

std::string ReduceKernel(TF_DataType in, TF_DataType out) {
  return std::string("reduce_sum_") + DtypeToken(in) + "_to_" + DtypeToken(out);
}

uint32_t Groups(int64_t jobs) { return static_cast<uint32_t>(std::min<int64_t>(jobs, 65535)); }

template <bool kMean>
class ReduceOp : public OpKernel {
 public:
  explicit ReduceOp(OpConstruction& c)
      : dtype_(c.GetType("T")), index_(c.GetType("Tidx")), keep_dims_(c.GetBool("keep_dims")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), axes = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    const int rank = static_cast<int>(in.size());
    if (axes.dims() > 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "reduction_indices must be a scalar or a vector, got shape " +
                                        ShapeString(axes.shape()));
      return;
    }
    std::vector<bool> reduced(rank, false);
    for (int64_t i = 0; i < axes.num_elements(); ++i) {
      int64_t a = index_ == TF_INT64 ? axes.host_data<int64_t>()[i] : axes.host_data<int32_t>()[i];
      if (a < -rank || a >= rank) {
        ctx.Fail(TF_INVALID_ARGUMENT, "Invalid reduction dimension (" + std::to_string(a) +
                                          " for input with " + std::to_string(rank) +
                                          " dimension(s)");
        return;
      }
      reduced[(a + rank) % rank] = true;
    }
    Shape out;
    for (int d = 0; d < rank; ++d) {
      if (!reduced[d]) out.push_back(in[d]);
      else if (keep_dims_) out.push_back(1);
    }
    const int64_t n_in = NumElements(in), n_out = NumElements(out);
    if (n_in > 0xffffffffll) {
      ctx.Fail(TF_UNIMPLEMENTED, "tensors of more than 2^32 elements are not supported yet");
      return;
    }
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || n_out == 0) return;

    // Group adjacent dims of the same kind (kept / reduced), dropping size-1
    // dims; strides are those of the contiguous input.
    std::vector<int64_t> shape, stride;
    std::vector<bool> kind;
    int64_t s = 1;
    std::vector<int64_t> strides(rank);
    for (int d = rank - 1; d >= 0; --d) strides[d] = s, s *= in[d];
    for (int d = 0; d < rank; ++d) {
      if (in[d] == 1) continue;
      if (!kind.empty() && kind.back() == reduced[d]) {
        shape.back() *= in[d];
        stride.back() = strides[d];
      } else {
        shape.push_back(in[d]);
        stride.push_back(strides[d]);
        kind.push_back(reduced[d]);
      }
    }
    ReducePush p{};
    p.x = x.address();
    p.y = y.address();
    p.n_out = static_cast<uint32_t>(n_out);
    p.n_red = static_cast<uint32_t>(n_out ? n_in / n_out : 0);
    p.mean = kMean ? 1 : 0;
    p.divisor = p.n_red;
    for (size_t g = 0; g < shape.size(); ++g) {
      uint32_t& r = kind[g] ? p.red_rank : p.kept_rank;
      if (r == kMaxGroups) {
        ctx.Fail(TF_UNIMPLEMENTED, "reducing axes that alternate with kept axes more than 3 times "
                                   "is not supported yet (input " + ShapeString(in) + ")");
        return;
      }
      (kind[g] ? p.rshape : p.kshape)[r] = static_cast<uint32_t>(shape[g]);
      (kind[g] ? p.rstride : p.kstride)[r] = static_cast<uint32_t>(stride[g]);
      ++r;
    }
    if (p.n_red == 0 && (dtype_ == TF_INT32 || dtype_ == TF_INT64)) {
      // An empty reduction: sum 0 (and an integer mean of nothing is 0 too).
      ctx.stream()->Fill(y.address(), 0, n_out * DtypeSize(dtype_));
      return;
    }
    // Few reduced elements per output: one invocation each.
    if (p.n_red <= 64) {
      p.per_thread = 1;
      p.chunks = 1;
      p.chunk_len = p.n_red;
      ctx.Dispatch(ReduceKernel(dtype_, dtype_), p, OpContext::GridFor(n_out));
      return;
    }
    // Otherwise workgroups of 256 over chunks of the reduced range.
    p.chunks = (p.n_red + kChunk - 1) / kChunk;
    if (p.chunks == 1) {
      p.chunk_len = p.n_red;
      ctx.Dispatch(ReduceKernel(dtype_, dtype_), p, Groups(n_out));
      return;
    }
    const TF_DataType acc = AccumulatorType(dtype_);
    Tensor partial = ctx.allocate_temp({n_out * p.chunks}, acc);
    if (!ctx.ok()) return;
    p.chunk_len = kChunk;
    p.y = partial.address();
    ctx.Dispatch(ReduceKernel(dtype_, acc), p, Groups(n_out * p.chunks));
    // Second pass: partial is [n_out, chunks]; at most kChunk chunks, so one
    // chunk per output.
    ReducePush q{};
    q.x = partial.address();
    q.y = y.address();
    q.n_out = p.n_out;
    q.n_red = p.chunks;
    q.kept_rank = 1;
    q.kshape[0] = p.n_out;
    q.kstride[0] = p.chunks;
    q.red_rank = 1;
    q.rshape[0] = p.chunks;
    q.rstride[0] = 1;
    q.mean = p.mean;
    q.divisor = p.divisor;
    q.chunks = 1;
    q.chunk_len = p.chunks;
    ctx.Dispatch(ReduceKernel(acc, dtype_), q, Groups(n_out));
  }

 private:
  TF_DataType dtype_, index_;
  bool keep_dims_;
};

}  // namespace

void RegisterReductionKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64}) {
    for (TF_DataType idx : {TF_INT32, TF_INT64}) {
      RegisterKernel<ReduceOp<false>>("Sum", {{"T", t}, {"Tidx", idx}}, {"reduction_indices"});
      RegisterKernel<ReduceOp<true>>("Mean", {{"T", t}, {"Tidx", idx}}, {"reduction_indices"});
    }
  }
}

}  // namespace tfmp
