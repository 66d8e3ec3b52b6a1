// complex64 elementwise ops: Real, Imag, Conj, ComplexAbs (shaders/unary.comp,
// "<op>_c64") and Complex(real, imag) with NumPy broadcasting
// (shaders/binary.comp, "complex_f32"). complex64 is stored as vec2.
#include <string>

#include "kernels/elementwise.h"

namespace tfmp {
namespace {

class ComplexUnaryOp : public OpKernel {
 public:
  ComplexUnaryOp(OpConstruction&, const char* token, TF_DataType out)
      : token_(token), out_(out) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (ctx.ok()) DispatchUnary(ctx, token_, x, out_);
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

// Complex(real, imag), with NumPy broadcasting.
class ComplexOp : public OpKernel {
 public:
  explicit ComplexOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (ctx.ok()) DispatchBroadcastBinary(ctx, "complex_f32", a, b, TF_COMPLEX64);
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
