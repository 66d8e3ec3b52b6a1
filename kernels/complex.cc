// complex64 elementwise ops: Real, Imag, Conj, ComplexAbs (shaders/unary.comp,
// "<op>_c64") and Complex(real, imag) with NumPy broadcasting
// (shaders/binary.comp, "complex_f32"). complex64 is stored as vec2.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

struct UnaryPush {
  uint64_t x, y;
  uint32_t n;
};

constexpr int kMaxDims = 6;  // binary.comp's

struct BinaryPush {
  uint64_t a, b, z;
  uint32_t n, rank;
  uint32_t shape[kMaxDims];
  uint32_t a_stride[kMaxDims];
  uint32_t b_stride[kMaxDims];
};

class ComplexUnaryOp : public OpKernel {
 public:
  ComplexUnaryOp(OpConstruction&, const char* token, TF_DataType out)
      : token_(token), out_(out) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const int64_t n = x.num_elements();
    if (!ctx.CheckElements(n)) return;
    Tensor y = ctx.allocate_output(0, x.shape(), out_);
    if (!ctx.ok() || n == 0) return;
    UnaryPush p{x.address(), y.address(), static_cast<uint32_t>(n)};
    ctx.Dispatch(token_, p, OpContext::GridFor(n));
  }

 private:
  std::string token_;
  TF_DataType out_;
};

#define COMPLEX_UNARY(Name, token, out)                                               \
  class Name : public ComplexUnaryOp {                                                \
   public:                                                                            \
    explicit Name(OpConstruction& c) : ComplexUnaryOp(c, token, out) {}               \
  };
COMPLEX_UNARY(RealOp, "real_c64", TF_FLOAT)
COMPLEX_UNARY(ImagOp, "imag_c64", TF_FLOAT)
COMPLEX_UNARY(ConjOp, "conj_c64", TF_COMPLEX64)
COMPLEX_UNARY(ComplexAbsOp, "complex_abs_c64", TF_FLOAT)
#undef COMPLEX_UNARY

// Complex(real, imag): NumPy broadcasting, size-1 dims dropped.
class ComplexOp : public OpKernel {
 public:
  explicit ComplexOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape as = a.shape(), bs = b.shape();
    const size_t rank = std::max(as.size(), bs.size());
    Shape pa(rank, 1), pb(rank, 1), out(rank, 1);
    std::copy(as.begin(), as.end(), pa.begin() + (rank - as.size()));
    std::copy(bs.begin(), bs.end(), pb.begin() + (rank - bs.size()));
    for (size_t d = 0; d < rank; ++d) {
      if (pa[d] == pb[d] || pb[d] == 1) {
        out[d] = pa[d];
      } else if (pa[d] == 1) {
        out[d] = pb[d];
      } else {
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Incompatible shapes: " + ShapeString(as) + " vs. " + ShapeString(bs));
      }
    }
    const int64_t n = NumElements(out);
    if (!ctx.CheckElements(n)) return;
    BinaryPush p{};
    p.n = static_cast<uint32_t>(n);
    if (pa == out && pb == out) {  // flat
      p.a_stride[0] = p.b_stride[0] = 1;
    } else {
      std::vector<int64_t> shape, sa, sb;
      int64_t ra = 1, rb = 1;
      for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
        if (out[d] != 1) {
          shape.insert(shape.begin(), out[d]);
          sa.insert(sa.begin(), pa[d] == 1 ? 0 : ra);
          sb.insert(sb.begin(), pb[d] == 1 ? 0 : rb);
        }
        ra *= pa[d];
        rb *= pb[d];
      }
      if (shape.size() > kMaxDims)
        return ctx.Fail(TF_UNIMPLEMENTED, "broadcasting " + ShapeString(as) + " with " +
                                              ShapeString(bs) + " needs more than 6 dimensions");
      if (shape.empty()) {  // every dim 1
        shape.push_back(1), sa.push_back(0), sb.push_back(0);
      }
      p.rank = static_cast<uint32_t>(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) {
        p.shape[d] = static_cast<uint32_t>(shape[d]);
        p.a_stride[d] = static_cast<uint32_t>(sa[d]);
        p.b_stride[d] = static_cast<uint32_t>(sb[d]);
      }
    }
    Tensor z = ctx.allocate_output(0, out, TF_COMPLEX64);
    if (!ctx.ok() || n == 0) return;
    p.a = a.address();
    p.b = b.address();
    p.z = z.address();
    ctx.Dispatch("complex_f32", p, OpContext::GridFor(n));
  }
};

}  // namespace

void RegisterComplexKernels() {
  RegisterKernel<RealOp>("Real", {{"T", TF_COMPLEX64}, {"Tout", TF_FLOAT}});
  RegisterKernel<ImagOp>("Imag", {{"T", TF_COMPLEX64}, {"Tout", TF_FLOAT}});
  RegisterKernel<ComplexAbsOp>("ComplexAbs", {{"T", TF_COMPLEX64}, {"Tout", TF_FLOAT}});
  RegisterKernel<ConjOp>("Conj", {{"T", TF_COMPLEX64}});
  RegisterKernel<ComplexOp>("Complex", {{"T", TF_FLOAT}, {"Tout", TF_COMPLEX64}});
}

}  // namespace tfmp
