// Fill, ZerosLike, OnesLike. Shader: shaders/fill.comp ("fill_<dtype>").
#include <cstring>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr TF_DataType kTypes[] = {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL};

struct FillPush {
  uint64_t value, y;
  uint32_t n;
};

void FillWith(OpContext& ctx, const Tensor& y, TF_DataType dtype, uint64_t value_address) {
  const int64_t n = y.num_elements();
  if (n == 0) return;
  if (!ctx.CheckElements(n)) return;
  FillPush p{value_address, y.address(), static_cast<uint32_t>(n)};
  ctx.Dispatch(std::string("fill_") + DtypeToken(dtype), p, OpContext::GridFor(n));
}

// Fill(dims: host int32/int64 vector, value: device scalar).
class FillOp : public OpKernel {
 public:
  explicit FillOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override {
    Tensor dims = ctx.input(0), value = ctx.input(1);
    if (!ctx.ok()) return;
    if (dims.dims() != 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "dims must be a vector, got shape " + ShapeString(dims.shape()));
      return;
    }
    if (value.dims() != 0) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "value must be a scalar, got shape " + ShapeString(value.shape()));
      return;
    }
    const Shape shape = dims.host_ints();
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] < 0) {
        ctx.Fail(TF_INVALID_ARGUMENT, "Dimension " + std::to_string(shape[i]) +
                                          " must be >= 0");
        return;
      }
    }
    Tensor y = ctx.allocate_output(0, shape, dtype_);
    if (ctx.ok()) FillWith(ctx, y, dtype_, value.address());
  }

 private:
  TF_DataType dtype_;
};

// ZerosLike / OnesLike: the constant is written into element 0 from the host,
// then broadcast by the fill shader (so every dtype shares one path).
template <int kValue>
class ConstantLikeOp : public OpKernel {
 public:
  explicit ConstantLikeOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    Tensor y = ctx.allocate_output(0, x.shape(), dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    uint8_t bytes[8] = {0};
    switch (dtype_) {
      case TF_FLOAT: { float v = kValue; std::memcpy(bytes, &v, 4); break; }
      case TF_HALF: { uint16_t v = kValue ? 0x3C00 : 0; std::memcpy(bytes, &v, 2); break; }
      case TF_INT32: { int32_t v = kValue; std::memcpy(bytes, &v, 4); break; }
      case TF_INT64: { int64_t v = kValue; std::memcpy(bytes, &v, 8); break; }
      default: bytes[0] = kValue; break;  // bool
    }
    ctx.stream()->CopyHostToDevice(y.address(), bytes, DtypeSize(dtype_));
    FillWith(ctx, y, dtype_, y.address());
  }

 private:
  TF_DataType dtype_;
};

}  // namespace

void RegisterFillKernels() {
  for (TF_DataType t : kTypes) {
    RegisterKernel<FillOp>("Fill", {{"T", t}, {"index_type", TF_INT32}}, {"dims"});
    RegisterKernel<FillOp>("Fill", {{"T", t}, {"index_type", TF_INT64}}, {"dims"});
    RegisterKernel<ConstantLikeOp<0>>("ZerosLike", {{"T", t}});
    RegisterKernel<ConstantLikeOp<1>>("OnesLike", {{"T", t}});
  }
}

}  // namespace tfmp
