// MaxPool, MaxPoolV2, AvgPool and their gradients MaxPoolGrad, AvgPoolGrad
// (NHWC or NCHW, SAME/VALID/EXPLICIT padding), and MaxPool3D, AvgPool3D,
// MaxPool3DGrad, AvgPool3DGrad (NDHWC or NCDHW, SAME/VALID). Shader:
// shaders/pool.comp ("pool_<mode>_<dtype>", "pool3d_<mode>_<dtype>").
#include "kernels/kernel.h"
#include "kernels/window.h"

namespace tfmp {
namespace {

// Spatial sizes are (d, h, w); 2-D pools have depth 1.
struct PoolPush {
  uint64_t x, dy, y, ymax;
  uint32_t n;
  uint32_t chans;
  uint32_t in[3], out[3], k[3], stride[3];
  int32_t pad[3];
  uint32_t nchw;
};
static_assert(sizeof(PoolPush) <= 128, "push constants are limited to 128 bytes");

// MaxPoolV2 takes ksize and strides as inputs instead (set per Compute).
struct PoolAttrs : WindowAttrs {
  std::vector<int64_t> ksize;

  void Parse(OpConstruction& c, int spatial_dims) {
    if (ParseCommon(c, spatial_dims)) ksize = c.GetIntList("ksize", {});
  }
};

// Validates sizes and fills the geometry; *out receives the output shape.
bool Geometry(OpContext& ctx, const PoolAttrs& a, const Shape& x, PoolPush* p, Shape* out) {
  const size_t rank = a.rank();
  const std::string r = std::to_string(rank);
  if (a.ksize.size() != rank || a.strides.size() != rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "Sliding window ksize and strides must have " + r + " elements");
    return false;
  }
  const int c = a.c_dim();
  if (a.ksize[0] != 1 || a.strides[0] != 1 || a.ksize[c] != 1 || a.strides[c] != 1) {
    ctx.Fail(TF_UNIMPLEMENTED, "Pooling is not yet supported on the batch nor depth dimensions.");
    return false;
  }
  for (int i = 0; i < a.spatial; ++i)
    if (a.ksize[a.spatial_dim(i)] <= 0 || a.strides[a.spatial_dim(i)] <= 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Sliding window ksize and strides must be positive");
      return false;
    }
  if (x.size() != rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input must be " + r + "-dimensional, got " + ShapeString(x));
    return false;
  }
  const bool expl = a.padding == "EXPLICIT";
  if (expl && a.explicit_paddings.size() != 2 * rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must contain " +
                                      std::to_string(2 * rank) + " values");
    return false;
  }
  *p = PoolPush{};
  *out = x;
  const int first = 3 - a.spatial;  // 2-D: depth 1
  for (int i = 0; i < 3; ++i) p->in[i] = p->out[i] = p->k[i] = p->stride[i] = 1;
  for (int i = 0; i < a.spatial; ++i) {
    const int d = a.spatial_dim(i);
    int64_t o, pad;
    if (!WindowedOutputSize(ctx, x[d], a.ksize[d], a.strides[d], 1, a.padding,
                            expl ? a.explicit_paddings[2 * d] : 0,
                            expl ? a.explicit_paddings[2 * d + 1] : 0, &o, &pad))
      return false;
    (*out)[d] = o;
    p->in[first + i] = static_cast<uint32_t>(x[d]);
    p->out[first + i] = static_cast<uint32_t>(o);
    p->k[first + i] = static_cast<uint32_t>(a.ksize[d]);
    p->stride[first + i] = static_cast<uint32_t>(a.strides[d]);
    p->pad[first + i] = static_cast<int32_t>(pad);
  }
  p->chans = static_cast<uint32_t>(x[c]);
  p->nchw = a.nchw ? 1 : 0;
  if (!ctx.CheckElements(NumElements(x))) return false;
  return true;
}

// Shader token: "pool_max_fwd_f32", "pool3d_avg_bwd_f16".
std::string Token(const PoolAttrs& a, bool max, const char* dir, TF_DataType t) {
  return std::string(a.spatial == 3 ? "pool3d_" : "pool_") + (max ? "max_" : "avg_") + dir + "_" +
         DtypeToken(t);
}

// MaxPool / AvgPool / MaxPool3D / AvgPool3D (kSpatial 2 / 3), and MaxPoolV2
// (kSizesAreInputs: ksize and strides are host inputs 1 and 2).
template <int kSpatial, bool kMax, bool kSizesAreInputs>
class PoolOp : public OpKernel {
 public:
  explicit PoolOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c, kSpatial); }
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
    ctx.Dispatch(Token(a, kMax, "fwd", dtype_), p, OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  PoolAttrs attrs_;
};

// MaxPoolGrad / MaxPool3DGrad(orig_input, orig_output, grad) and
// AvgPoolGrad / AvgPool3DGrad(orig_input_shape, grad).
template <int kSpatial, bool kMax>
class PoolGradOp : public OpKernel {
 public:
  explicit PoolGradOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c, kSpatial); }
  void Compute(OpContext& ctx) override {
    Tensor first = ctx.input(0), dy = ctx.input(kMax ? 2 : 1);
    Tensor y = kMax ? ctx.input(1) : Tensor();
    if (!ctx.ok()) return;
    const Shape in = kMax ? first.shape() : first.host_ints();
    PoolPush p;
    Shape out;
    if (!Geometry(ctx, attrs_, in, &p, &out)) return;
    if (kMax && y.shape() != out) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Expected orig_output shape to be " + ShapeString(out) +
                                        ", but got " + ShapeString(y.shape()));
      return;
    }
    if (dy.shape() != out) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Expected grad shape to be " + ShapeString(out) +
                                        ", but got " + ShapeString(dy.shape()));
      return;
    }
    Tensor dx = ctx.allocate_output(0, in, dtype_);
    const int64_t n = NumElements(in);
    if (!ctx.ok() || n == 0) return;
    p.x = kMax ? first.address() : 0;
    p.ymax = kMax ? y.address() : 0;
    p.dy = dy.address();
    p.y = dx.address();
    p.n = static_cast<uint32_t>(n);
    ctx.Dispatch(Token(attrs_, kMax, "bwd", dtype_), p, OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  PoolAttrs attrs_;
};

}  // namespace

void RegisterPoolingKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<PoolOp<2, true, false>>("MaxPool", {{"T", t}});
    RegisterKernel<PoolOp<2, true, true>>("MaxPoolV2", {{"T", t}}, {"ksize", "strides"});
    RegisterKernel<PoolOp<2, false, false>>("AvgPool", {{"T", t}});
    RegisterKernel<PoolGradOp<2, true>>("MaxPoolGrad", {{"T", t}});
    RegisterKernel<PoolGradOp<2, false>>("AvgPoolGrad", {{"T", t}}, {"orig_input_shape"});
    RegisterKernel<PoolOp<3, true, false>>("MaxPool3D", {{"T", t}});
    RegisterKernel<PoolOp<3, false, false>>("AvgPool3D", {{"T", t}});
    RegisterKernel<PoolGradOp<3, true>>("MaxPool3DGrad", {{"T", t}, {"TInput", t}});
    RegisterKernel<PoolGradOp<3, false>>("AvgPool3DGrad", {{"T", t}}, {"orig_input_shape"});
  }
}

}  // namespace tfmp
