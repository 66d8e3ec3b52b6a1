// MaxPool, MaxPoolV2, AvgPool and their gradients MaxPoolGrad, AvgPoolGrad
// (NHWC or NCHW, SAME/VALID/EXPLICIT padding). Shader: shaders/pool.comp
// ("pool_<mode>_<dtype>").
#include "kernels/kernel.h"
#include "kernels/window.h"

namespace tfmp {
namespace {

struct PoolPush {
  uint64_t x, dy, y;
  uint32_t n;
  uint32_t batch, in_h, in_w, chans, out_h, out_w;
  uint32_t k_h, k_w, stride_h, stride_w;
  int32_t pad_top, pad_left;
  uint32_t nchw;
};

// MaxPoolV2 takes ksize and strides as inputs instead (set per Compute).
struct PoolAttrs : WindowAttrs {
  std::vector<int64_t> ksize;

  void Parse(OpConstruction& c) {
    if (ParseCommon(c)) ksize = c.GetIntList("ksize", {});
  }
};

// Validates sizes and fills the geometry; *out receives the output shape.
bool Geometry(OpContext& ctx, const PoolAttrs& a, const Shape& x, PoolPush* p, Shape* out) {
  if (a.ksize.size() != 4 || a.strides.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, "Sliding window ksize and strides must have 4 elements");
    return false;
  }
  const int h = a.h_dim(), w = a.w_dim(), c = a.c_dim();
  if (a.ksize[0] != 1 || a.strides[0] != 1 || a.ksize[c] != 1 || a.strides[c] != 1) {
    ctx.Fail(TF_UNIMPLEMENTED, "Pooling is not yet supported on the batch nor depth dimensions.");
    return false;
  }
  for (int d : {h, w})
    if (a.ksize[d] <= 0 || a.strides[d] <= 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Sliding window ksize and strides must be positive");
      return false;
    }
  if (x.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input must be 4-dimensional, got " + ShapeString(x));
    return false;
  }
  if (a.padding == "EXPLICIT" && a.explicit_paddings.size() != 8) {
    ctx.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must contain 8 values");
    return false;
  }
  const bool expl = a.padding == "EXPLICIT";
  int64_t oh, ow, pt, pl;
  if (!WindowedOutputSize(ctx, x[h], a.ksize[h], a.strides[h], 1, a.padding,
                          expl ? a.explicit_paddings[2 * h] : 0,
                          expl ? a.explicit_paddings[2 * h + 1] : 0, &oh, &pt) ||
      !WindowedOutputSize(ctx, x[w], a.ksize[w], a.strides[w], 1, a.padding,
                          expl ? a.explicit_paddings[2 * w] : 0,
                          expl ? a.explicit_paddings[2 * w + 1] : 0, &ow, &pl))
    return false;
  *p = PoolPush{};
  p->batch = static_cast<uint32_t>(x[0]);
  p->in_h = static_cast<uint32_t>(x[h]);
  p->in_w = static_cast<uint32_t>(x[w]);
  p->chans = static_cast<uint32_t>(x[c]);
  p->out_h = static_cast<uint32_t>(oh);
  p->out_w = static_cast<uint32_t>(ow);
  p->k_h = static_cast<uint32_t>(a.ksize[h]);
  p->k_w = static_cast<uint32_t>(a.ksize[w]);
  p->stride_h = static_cast<uint32_t>(a.strides[h]);
  p->stride_w = static_cast<uint32_t>(a.strides[w]);
  p->pad_top = static_cast<int32_t>(pt);
  p->pad_left = static_cast<int32_t>(pl);
  p->nchw = a.nchw ? 1 : 0;
  *out = a.nchw ? Shape{x[0], x[c], oh, ow} : Shape{x[0], oh, ow, x[c]};
  if (!ctx.CheckElements(NumElements(x))) return false;
  return true;
}

// MaxPool / AvgPool, and MaxPoolV2 (kSizesAreInputs: ksize and strides are
// host inputs 1 and 2).
template <bool kMax, bool kSizesAreInputs>
class PoolOp : public OpKernel {
 public:
  explicit PoolOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c); }
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    PoolAttrs a = attrs_;
    if (kSizesAreInputs) {
      a.ksize = ctx.input(1).host_ints();
      a.strides = ctx.input(2).host_ints();
    }
    PoolPush p;
    Shape out;
    if (!Geometry(ctx, a, x.shape(), &p, &out)) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    p.x = x.address();
    p.y = y.address();
    p.n = static_cast<uint32_t>(n);
    ctx.Dispatch(std::string(kMax ? "pool_max_fwd_" : "pool_avg_fwd_") + DtypeToken(dtype_), p,
                 OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  PoolAttrs attrs_;
};

// MaxPoolGrad(orig_input, orig_output, grad) / AvgPoolGrad(orig_input_shape, grad).
template <bool kMax>
class PoolGradOp : public OpKernel {
 public:
  explicit PoolGradOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c); }
  void Compute(OpContext& ctx) override {
    Tensor first = ctx.input(0), dy = ctx.input(kMax ? 2 : 1);
    if (!ctx.ok()) return;
    const Shape in = kMax ? first.shape() : first.host_ints();
    PoolPush p;
    Shape out;
    if (!Geometry(ctx, attrs_, in, &p, &out)) return;
    if (dy.shape() != out) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Expected grad shape to be " + ShapeString(out) +
                                        ", but got " + ShapeString(dy.shape()));
      return;
    }
    Tensor dx = ctx.allocate_output(0, in, dtype_);
    const int64_t n = NumElements(in);
    if (!ctx.ok() || n == 0) return;
    p.x = kMax ? first.address() : 0;
    p.dy = dy.address();
    p.y = dx.address();
    p.n = static_cast<uint32_t>(n);
    ctx.Dispatch(std::string(kMax ? "pool_max_bwd_" : "pool_avg_bwd_") + DtypeToken(dtype_), p,
                 OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  PoolAttrs attrs_;
};

}  // namespace

void RegisterPoolingKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<PoolOp<true, false>>("MaxPool", {{"T", t}});
    RegisterKernel<PoolOp<true, true>>("MaxPoolV2", {{"T", t}}, {"ksize", "strides"});
    RegisterKernel<PoolOp<false, false>>("AvgPool", {{"T", t}});
    RegisterKernel<PoolGradOp<true>>("MaxPoolGrad", {{"T", t}});
    RegisterKernel<PoolGradOp<false>>("AvgPoolGrad", {{"T", t}}, {"orig_input_shape"});
  }
}

}  // namespace tfmp
