// BiasAdd and BiasAddGrad (NHWC and NCHW). Shaders: shaders/bias_add.comp
// ("bias_add_<dtype>"); the gradient is a sum over all but the channel dim
// (reduction.cc).
#include "kernels/kernel.h"
#include "kernels/reduction.h"

namespace tfmp {
namespace {

struct BiasAddPush {
  uint64_t x, bias, y;
  uint32_t n, channels, inner;
  uint32_t vec;  // four outputs per invocation (bias_add.comp)
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
    if (!ctx.CheckElements(n)) return;
    Tensor y = ctx.forward_or_allocate_output(0, 0, x.shape(), dtype_);
    if (!ctx.ok() || n == 0) return;
    int64_t inner = 1;
    for (int d = channel_dim + 1; d < x.dims(); ++d) inner *= x.dim(d);
    const uint64_t align = 4 * DtypeSize(dtype_);
    const bool vec = (inner == 1 ? channels % 4 == 0 : inner % 4 == 0) &&
                     x.address() % align == 0 && y.address() % align == 0 &&
                     bias.address() % align == 0;
    BiasAddPush p{x.address(), bias.address(), y.address(), static_cast<uint32_t>(n),
                  static_cast<uint32_t>(channels), static_cast<uint32_t>(inner), vec ? 1u : 0u};
    ctx.Dispatch(std::string("bias_add_") + DtypeToken(dtype_), p,
                 OpContext::GridFor(vec ? n / 4 : n));
  }

 private:
  TF_DataType dtype_;
  bool nchw_ = false;
};

class BiasAddGradOp : public OpKernel {
 public:
  explicit BiasAddGradOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    const std::string format = c.GetString("data_format", "NHWC");
    if (format != "NHWC" && format != "NCHW") c.Fail(TF_INVALID_ARGUMENT, "Invalid data format");
    nchw_ = format == "NCHW";
  }

  void Compute(OpContext& ctx) override {
    Tensor dy = ctx.input(0);
    if (!ctx.ok()) return;
    if (dy.dims() < 2) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "Input tensor must be at least 2D: " + ShapeString(dy.shape()));
      return;
    }
    const Shape shape = dy.shape();
    const int channel_dim = nchw_ ? 1 : dy.dims() - 1;
    Tensor db = ctx.allocate_output(0, {shape[channel_dim]}, dtype_);
    if (!ctx.ok() || shape[channel_dim] == 0) return;
    std::vector<bool> reduced(shape.size(), true);
    reduced[channel_dim] = false;
    RecordReduction(ctx, "sum", false, dtype_, dy.address(), shape, reduced, db.address());
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
    RegisterKernel<BiasAddGradOp>("BiasAddGrad", {{"T", t}});
  }
}

}  // namespace tfmp
