// BiasAdd (NHWC and NCHW). Shader: shaders/bias_add.comp ("bias_add_<dtype>").
#include "kernels/kernel.h"

namespace tfmp {
namespace {

struct BiasAddPush {
  uint64_t x, bias, y;
  uint32_t n, channels, inner;
};

class BiasAddOp : public OpKernel {
 public:
  explicit BiasAddOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    const std::string format = c.GetString("data_format", "NHWC");
    if (format != "NHWC" && format != "NCHW") c.Fail(TF_INVALID_ARGUMENT, "Invalid data format");
    nchw_ = format == "NCHW";
  }

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), bias = ctx.input(1);
    if (!ctx.ok()) return;
    if (x.dims() < 2) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "Input tensor must be at least 2D: " + ShapeString(x.shape()));
      return;
    }
    if (bias.dims() != 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Biases must be 1D: " + ShapeString(bias.shape()));
      return;
    }
    const int channel_dim = nchw_ ? 1 : x.dims() - 1;
    const int64_t channels = x.dim(channel_dim);
    if (bias.dim(0) != channels) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "Must provide as many biases as the channel dimension of the input tensor: " +
                   ShapeString(bias.shape()) + " vs. " + ShapeString(x.shape()));
      return;
    }
    const int64_t n = x.num_elements();
    if (n > 0xffffffffll) {
      ctx.Fail(TF_UNIMPLEMENTED, "tensors of more than 2^32 elements are not supported yet");
      return;
    }
    Tensor y = ctx.forward_or_allocate_output(0, 0, x.shape(), dtype_);
    if (!ctx.ok() || n == 0) return;
    int64_t inner = 1;
    for (int d = channel_dim + 1; d < x.dims(); ++d) inner *= x.dim(d);
    BiasAddPush p{x.address(), bias.address(), y.address(), static_cast<uint32_t>(n),
                  static_cast<uint32_t>(channels), static_cast<uint32_t>(inner)};
    ctx.Dispatch(std::string("bias_add_") + DtypeToken(dtype_), p, OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  bool nchw_ = false;
};

}  // namespace

void RegisterBiasAddKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<BiasAddOp>("BiasAdd", {{"T", t}});
    RegisterKernel<BiasAddOp>("BiasAddV1", {{"T", t}});
  }
}

}  // namespace tfmp
