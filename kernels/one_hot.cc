// OneHot: indices (int32/int64/uint8) and the on/off scalars in device memory,
// depth on the host; any 1/2/4/8-byte output dtype. Shader: shaders/gather.comp
// with ONE_HOT ("one_hot_b<bits>_<index>").
#include <string>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr TF_DataType kTypes[] = {TF_FLOAT, TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                  TF_INT16, TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                  TF_UINT32, TF_UINT64, TF_BOOL};

struct OneHotPush {  // gather.comp's push constants
  uint64_t on, indices, y, off;
  uint32_t n, suffix, depth, unused0, unused1;
};

class OneHotOp : public OpKernel {
 public:
  explicit OneHotOp(OpConstruction& c)
      : dtype_(c.GetType("T")), index_(c.GetType("TI")), axis_(c.GetInt("axis", -1)) {}

  void Compute(OpContext& ctx) override {
    Tensor indices = ctx.input(0), depth_t = ctx.input(1), on = ctx.input(2), off = ctx.input(3);
    if (!ctx.ok()) return;
    const int out_rank = indices.dims() + 1;
    if (!(axis_ == -1 || (axis_ >= 0 && axis_ < out_rank)))
      return ctx.Fail(TF_INVALID_ARGUMENT, "Expected axis to be -1 or between [0, " +
                                               std::to_string(out_rank) +
                                               ").  But received: " + std::to_string(axis_));
    if (depth_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "depth must be a scalar, but got: " + ShapeString(depth_t.shape()));
    if (on.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "on_value must be a scalar, but got: " + ShapeString(on.shape()));
    if (off.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "off_value must be a scalar, but got: " + ShapeString(off.shape()));
    const int64_t depth = depth_t.host_data<int32_t>()[0];
    if (depth < 0)
      return ctx.Fail(TF_INVALID_ARGUMENT, "depth must be non-negative, got: " +
                                               std::to_string(depth));
    const int axis = axis_ == -1 ? out_rank - 1 : static_cast<int>(axis_);
    Shape out = indices.shape();
    out.insert(out.begin() + axis, depth);
    int64_t suffix = 1;
    for (int i = axis; i < indices.dims(); ++i) suffix *= indices.dim(i);
    if (!ctx.CheckElements(NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    OneHotPush p{};
    p.on = on.address();
    p.off = off.address();
    p.indices = indices.address();
    p.y = y.address();
    p.n = static_cast<uint32_t>(y.num_elements());
    p.suffix = static_cast<uint32_t>(suffix);
    p.depth = static_cast<uint32_t>(depth);
    const char* it = index_ == TF_UINT8 ? "u8" : DtypeToken(index_);
    ctx.Dispatch("one_hot_b" + std::to_string(DtypeSize(dtype_) * 8) + "_" + it, p,
                 OpContext::GridFor(p.n));
  }

 private:
  TF_DataType dtype_, index_;
  int64_t axis_;
};

}  // namespace

void RegisterOneHotKernels() {
  for (TF_DataType t : kTypes)
    for (TF_DataType i : {TF_UINT8, TF_INT32, TF_INT64})
      RegisterKernel<OneHotOp>("OneHot", {{"T", t}, {"TI", i}}, {"depth"});
}

}  // namespace tfmp
