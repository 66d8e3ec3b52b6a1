// Softmax, LogSoftmax, SoftmaxCrossEntropyWithLogits and
// SparseSoftmaxCrossEntropyWithLogits over the last dimension.
// Shaders: shaders/softmax.comp ("softmax_<dtype>", "log_softmax_<dtype>"),
// shaders/xent.comp ("xent_<dtype>", "sparse_xent_<dtype>_<label index>").
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/softmax_plan.h"

namespace tfmp {
namespace {

uint32_t RowGroups(int64_t rows) { return static_cast<uint32_t>(std::min<int64_t>(rows, 65535)); }

template <bool kLog>
class SoftmaxOp : public OpKernel {
 public:
  explicit SoftmaxOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    if (x.dims() < 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "logits must have >= 1 dimension, got " + ShapeString(x.shape()));
      return;
    }
    if (!ctx.CheckElements(x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, x.shape(), dtype_);
    const int64_t cols = x.dim(x.dims() - 1);
    if (!ctx.ok() || x.num_elements() == 0) return;
    const int64_t rows = x.num_elements() / cols;
    SoftmaxPush p{x.address(), y.address(), static_cast<uint32_t>(rows), static_cast<uint32_t>(cols)};
    const uint32_t groups = SoftmaxGeometry(&p, DtypeSize(dtype_));
    ctx.Dispatch(std::string(kLog ? "log_softmax_" : "softmax_") + (p.lanes == 0 ? "small_" : "") +
                     DtypeToken(dtype_),
                 p, groups);
  }

 private:
  TF_DataType dtype_;
};

struct XentPush {
  uint64_t x, labels, loss, backprop;
  uint32_t rows, cols;
};

// Dense labels (same shape as the logits) or, kSparse, class indices per row.
template <bool kSparse>
class XentOp : public OpKernel {
 public:
  explicit XentOp(OpConstruction& c)
      : dtype_(c.GetType("T")), label_(kSparse ? c.GetType("Tlabels") : dtype_) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), labels = ctx.input(1);
    if (!ctx.ok()) return;
    if (x.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "logits must be 2-D, but got shape " + ShapeString(x.shape()));
      return;
    }
    const int64_t rows = x.dim(0), cols = x.dim(1);
    if (kSparse) {
      if (labels.dims() != 1 || labels.dim(0) != rows) {
        ctx.Fail(TF_INVALID_ARGUMENT,
                 "logits and labels must have the same first dimension, got logits shape " +
                     ShapeString(x.shape()) + " and labels shape " + ShapeString(labels.shape()));
        return;
      }
    } else if (labels.shape() != x.shape()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "logits and labels must be broadcastable: logits_size=" +
                                        ShapeString(x.shape()) +
                                        " labels_size=" + ShapeString(labels.shape()));
      return;
    }
    if (!ctx.CheckElements(x.num_elements())) return;
    Tensor loss = ctx.allocate_output(0, {rows}, dtype_);
    Tensor backprop = ctx.allocate_output(1, {rows, cols}, dtype_);
    if (!ctx.ok() || rows == 0) return;
    if (cols == 0) {  // log of an empty sum: TF gives NaN (sparse) / 0 loss
      ctx.Fail(TF_INVALID_ARGUMENT, "Must have at least one class, but got logits shape " +
                                        ShapeString(x.shape()));
      return;
    }
    XentPush p{x.address(), labels.address(), loss.address(), backprop.address(),
               static_cast<uint32_t>(rows), static_cast<uint32_t>(cols)};
    const std::string kernel = kSparse ? std::string("sparse_xent_") + DtypeToken(dtype_) + "_" +
                                             DtypeToken(label_)
                                       : std::string("xent_") + DtypeToken(dtype_);
    ctx.Dispatch(kernel, p, RowGroups(rows));
  }

 private:
  TF_DataType dtype_, label_;
};

}  // namespace

void RegisterSoftmaxKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<SoftmaxOp<false>>("Softmax", {{"T", t}});
    RegisterKernel<SoftmaxOp<true>>("LogSoftmax", {{"T", t}});
    RegisterKernel<XentOp<false>>("SoftmaxCrossEntropyWithLogits", {{"T", t}});
    for (TF_DataType l : {TF_INT32, TF_INT64})
      RegisterKernel<XentOp<true>>("SparseSoftmaxCrossEntropyWithLogits", {{"T", t}, {"Tlabels", l}});
  }
}

}  // namespace tfmp
