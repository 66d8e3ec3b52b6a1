// Cast between float32, float16, int32, int64 and bool.
// Shader: shaders/unary.comp (variants: "cast_<src>_to_<dst>").
#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr TF_DataType kCastTypes[] = {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL};

struct CastPush {
  uint64_t x, y;
  uint32_t n;
};

class CastOp : public OpKernel {
 public:
  explicit CastOp(OpConstruction& c) : src_(c.GetType("SrcT")), dst_(c.GetType("DstT")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    if (src_ == dst_) {  // TF's CPU kernel forwards the input too
      ctx.set_output(0, x);
      return;
    }
    const int64_t n = x.num_elements();
    if (n > 0xffffffffll) {
      ctx.Fail(TF_UNIMPLEMENTED, "tensors of more than 2^32 elements are not supported yet");
      return;
    }
    Tensor y = ctx.allocate_output(0, x.shape(), dst_);
    if (!ctx.ok() || n == 0) return;
    CastPush p{x.address(), y.address(), static_cast<uint32_t>(n)};
    ctx.Dispatch(std::string("cast_") + DtypeToken(src_) + "_to_" + DtypeToken(dst_), p,
                 OpContext::GridFor(n));
  }

 private:
  TF_DataType src_, dst_;
};

}  // namespace

void RegisterCastKernels() {
  for (TF_DataType src : kCastTypes)
    for (TF_DataType dst : kCastTypes) RegisterKernel<CastOp>("Cast", {{"SrcT", src}, {"DstT", dst}});
}

}  // namespace tfmp
