// Cast between float32, float16, int32, int64 and bool; Bitcast between any
// dtypes. Shader: shaders/unary.comp (variants: "cast_<src>_to_<dst>");
// Bitcast is a device-to-device copy.
#include "kernels/elementwise.h"

namespace tfmp {
namespace {

constexpr TF_DataType kCastTypes[] = {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL};

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
    // uint64 (only from int32/int64): the int64 conversion's bits.
    const char* dst = dst_ == TF_UINT64 ? "i64" : DtypeToken(dst_);
    if (std::string(dst) == DtypeToken(src_)) {
      const int64_t n = x.num_elements();
      Tensor y = ctx.allocate_output(0, x.shape(), dst_);
      if (ctx.ok() && n > 0)
        ctx.stream()->CopyDeviceToDevice(y.address(), x.address(), n * DtypeSize(src_));
      return;
    }
    DispatchUnary(ctx, std::string("cast_") + DtypeToken(src_) + "_to_" + dst, x, dst_);
  }

 private:
  TF_DataType src_, dst_;
};

// Bitcast: the same bytes under another dtype; the last dim grows or shrinks
// by the size ratio.
class BitcastOp : public OpKernel {
 public:
  explicit BitcastOp(OpConstruction& c) : src_(c.GetType("T")), dst_(c.GetType("type")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const size_t in = DtypeSize(src_), out = DtypeSize(dst_);
    Shape shape = x.shape();
    if (in > out) {
      shape.push_back(static_cast<int64_t>(in / out));
    } else if (in < out) {
      if (shape.empty() || shape.back() != static_cast<int64_t>(out / in)) {
        ctx.Fail(TF_INVALID_ARGUMENT, "Cannot bitcast from " + DtypeName(src_) + " to " +
                                          DtypeName(dst_) + ": shape " + ShapeString(x.shape()));
        return;
      }
      shape.pop_back();
    }
    Tensor y = ctx.allocate_output(0, shape, dst_);
    if (!ctx.ok()) return;
    ctx.stream()->CopyDeviceToDevice(y.address(), x.address(), x.num_elements() * in);
  }

 private:
  TF_DataType src_, dst_;
};

constexpr TF_DataType kBitcastTypes[] = {TF_FLOAT,  TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                         TF_INT16,  TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                         TF_UINT32, TF_UINT64, TF_COMPLEX64};

}  // namespace

void RegisterCastKernels() {
  for (TF_DataType src : kBitcastTypes)
    for (TF_DataType dst : kBitcastTypes)
      RegisterKernel<BitcastOp>("Bitcast", {{"T", src}, {"type", dst}});
  for (TF_DataType src : kCastTypes)
    for (TF_DataType dst : kCastTypes) RegisterKernel<CastOp>("Cast", {{"SrcT", src}, {"DstT", dst}});
  // int32/int64 -> uint64: tf.random.Generator casts its skip count so.
  for (TF_DataType src : {TF_INT32, TF_INT64})
    RegisterKernel<CastOp>("Cast", {{"SrcT", src}, {"DstT", TF_UINT64}});
}

}  // namespace tfmp
