// Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter (NHWC or NCHW
// activations, HWIO filters, strides, dilations, SAME/VALID/EXPLICIT padding)
// as implicit GEMMs; _FusedConv2D (what TF's remapper makes of Conv2D +
// BiasAdd [+ Add] [+ activation] on GPUs, and the plugin's Grappler pass of
// more activations) with the epilogue (epilogue.h) in the same dispatch.
// Shader: shaders/conv2d.comp ("conv2d_<mode>_<dtype>").
#include <algorithm>
#include <vector>

#include "kernels/epilogue.h"
#include "kernels/kernel.h"
#include "kernels/reduction.h"
#include "kernels/window.h"

namespace tfmp {
namespace {

struct ConvPush {
  uint64_t a, b, c;
  uint32_t M, N, K;
  uint32_t batch, in_h, in_w, in_c;
  uint32_t out_h, out_w, out_c;
  uint32_t k_h, k_w;
  uint32_t stride_h, stride_w, dil_h, dil_w;
  int32_t pad_top, pad_left;
  uint32_t k_chunk;
  uint32_t flags;  // activation (bits 0-7) | NCHW (bit 8)
  float alpha;     // LeakyRelu's
  uint64_t bias, side;  // _FusedConv2D's epilogue inputs (0: none)
};

constexpr uint32_t kTile = 64;
// Longest K range one workgroup sums (keeps loops short on every device).
constexpr uint32_t kMaxKChunk = 16384;

// Attributes and window geometry shared by the three ops (TF's conv_ops.cc).
struct ConvAttrs : WindowAttrs {
  void Parse(OpConstruction& c) {
    if (!ParseCommon(c)) return;
    if (strides.size() != 4 || dilations.size() != 4) {
      c.Fail(TF_INVALID_ARGUMENT, "Sliding window strides and dilations must have 4 elements");
      return;
    }
    const int n = 0, ch = nchw ? 1 : 3;
    if (strides[n] != 1 || strides[ch] != 1)
      c.Fail(TF_UNIMPLEMENTED, "Current implementation does not yet support strides in the batch "
                               "and depth dimensions.");
    if (dilations[n] != 1 || dilations[ch] != 1)
      c.Fail(TF_UNIMPLEMENTED, "Current implementation does not yet support dilations in the "
                               "batch and depth dimensions.");
    if (padding == "EXPLICIT" && explicit_paddings.size() != 8)
      c.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must contain 8 values");
  }
};

bool Window(OpContext& ctx, const ConvAttrs& a, int dim, int64_t in, int64_t k, int64_t* out,
            int64_t* pad_before) {
  const bool expl = a.padding == "EXPLICIT";
  return WindowedOutputSize(ctx, in, k, a.strides[dim], a.dilations[dim], a.padding,
                            expl ? a.explicit_paddings[2 * dim] : 0,
                            expl ? a.explicit_paddings[2 * dim + 1] : 0, out, pad_before);
}

// Fills the geometry of the push constants from the input and filter shapes;
// *out_shape receives the output's shape in the activations' layout.
bool Geometry(OpContext& ctx, const ConvAttrs& a, const Shape& x, const Shape& w, ConvPush* p,
              Shape* out_shape) {
  if (x.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input must be 4-dimensional" + ShapeString(x));
    return false;
  }
  if (w.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, "filter must be 4-dimensional: " + ShapeString(w));
    return false;
  }
  const int64_t in_c = x[a.c_dim()];
  if (w[2] != in_c) {
    if (w[2] > 0 && in_c % w[2] == 0)
      ctx.Fail(TF_UNIMPLEMENTED, "grouped convolutions are not supported on this device yet");
    else
      ctx.Fail(TF_INVALID_ARGUMENT, "input depth must be evenly divisible by filter depth: " +
                                        std::to_string(in_c) + " vs " + std::to_string(w[2]));
    return false;
  }
  int64_t out_h, out_w, pad_t, pad_l;
  if (!Window(ctx, a, a.h_dim(), x[a.h_dim()], w[0], &out_h, &pad_t) ||
      !Window(ctx, a, a.w_dim(), x[a.w_dim()], w[1], &out_w, &pad_l))
    return false;
  p->batch = static_cast<uint32_t>(x[0]);
  p->in_h = static_cast<uint32_t>(x[a.h_dim()]);
  p->in_w = static_cast<uint32_t>(x[a.w_dim()]);
  p->in_c = static_cast<uint32_t>(in_c);
  p->out_h = static_cast<uint32_t>(out_h);
  p->out_w = static_cast<uint32_t>(out_w);
  p->out_c = static_cast<uint32_t>(w[3]);
  p->k_h = static_cast<uint32_t>(w[0]);
  p->k_w = static_cast<uint32_t>(w[1]);
  p->stride_h = static_cast<uint32_t>(a.strides[a.h_dim()]);
  p->stride_w = static_cast<uint32_t>(a.strides[a.w_dim()]);
  p->dil_h = static_cast<uint32_t>(a.dilations[a.h_dim()]);
  p->dil_w = static_cast<uint32_t>(a.dilations[a.w_dim()]);
  p->pad_top = static_cast<int32_t>(pad_t);
  p->pad_left = static_cast<int32_t>(pad_l);
  p->flags = a.nchw ? 0x100 : 0;
  *out_shape = a.nchw ? Shape{x[0], w[3], out_h, out_w} : Shape{x[0], out_h, out_w, w[3]};
  for (int64_t v : {NumElements(x), NumElements(w), NumElements(*out_shape)})
    if (!ctx.CheckElements(v)) return false;
  return true;
}

void DispatchGemm(OpContext& ctx, const std::string& kernel, const ConvPush& p, uint32_t splits = 1) {
  ctx.Dispatch(kernel, p, (p.N + kTile - 1) / kTile, (p.M + kTile - 1) / kTile, splits);
}

// Conv2D, and _FusedConv2D (kFused) whose fused_ops are BiasAdd, optionally
// Add (a residual input), optionally one activation.
template <bool kFused>
class Conv2DOp : public OpKernel {
 public:
  explicit Conv2DOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c);
    if (!kFused) return;
    if (c.GetString("filter_format", "HWIO") != "HWIO")
      c.Fail(TF_UNIMPLEMENTED, "_FusedConv2D: only HWIO filters are supported on this device");
    const Epilogue e = ParseEpilogue(c, "_FusedConv2D", true);
    has_side_ = e.side;
    act_ = e.act;
    alpha_ = e.alpha;
  }

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), w = ctx.input(1);
    Tensor bias = kFused ? ctx.input(2) : Tensor();
    Tensor side = kFused && has_side_ ? ctx.input(3) : Tensor();
    if (!ctx.ok()) return;
    ConvPush p{};
    Shape out;
    if (!Geometry(ctx, attrs_, x.shape(), w.shape(), &p, &out)) return;
    if (kFused && (bias.dims() != 1 || bias.dim(0) != p.out_c)) {
      ctx.Fail(TF_INVALID_ARGUMENT, "_FusedConv2D: bias must be a vector of " +
                                        std::to_string(p.out_c) + " elements, got " +
                                        ShapeString(bias.shape()));
      return;
    }
    if (side.valid() && side.shape() != out) {
      ctx.Fail(TF_INVALID_ARGUMENT, "_FusedConv2D: the added input has shape " +
                                        ShapeString(side.shape()) + ", expected " + ShapeString(out));
      return;
    }
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || NumElements(out) == 0) return;
    p.M = p.batch * p.out_h * p.out_w;
    p.N = p.out_c;
    p.K = p.k_h * p.k_w * p.in_c;  // K == 0: the shader adds the epilogue to zeros
    p.k_chunk = p.K;
    p.a = x.address();
    p.b = w.address();
    p.c = y.address();
    p.flags |= act_;
    p.alpha = alpha_;
    p.bias = bias.valid() ? bias.address() : 0;
    p.side = side.valid() ? side.address() : 0;
    DispatchGemm(ctx, std::string("conv2d_fwd_") + DtypeToken(dtype_), p);
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
  bool has_side_ = false;
  uint32_t act_ = 0;
  float alpha_ = 0.2f;
};

class Conv2DBackpropInputOp : public OpKernel {
 public:
  explicit Conv2DBackpropInputOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c); }
  void Compute(OpContext& ctx) override {
    Tensor sizes = ctx.input(0), w = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape x_shape = sizes.host_ints();
    ConvPush p{};
    Shape out;
    if (!Geometry(ctx, attrs_, x_shape, w.shape(), &p, &out)) return;
    if (out != dy.shape()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Conv2DBackpropInput: out_backprop has shape " +
                                        ShapeString(dy.shape()) + ", expected " + ShapeString(out));
      return;
    }
    Tensor dx = ctx.allocate_output(0, x_shape, dtype_);
    if (!ctx.ok() || NumElements(x_shape) == 0) return;
    p.M = p.batch * p.in_h * p.in_w;
    p.N = p.in_c;
    p.K = p.k_h * p.k_w * p.out_c;
    if (p.K == 0 || NumElements(out) == 0) {
      ctx.stream()->Fill(dx.address(), 0, NumElements(x_shape) * DtypeSize(dtype_));
      return;
    }
    p.k_chunk = p.K;
    p.a = dy.address();
    p.b = w.address();
    p.c = dx.address();
    DispatchGemm(ctx, std::string("conv2d_bwd_input_") + DtypeToken(dtype_), p);
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
};

class Conv2DBackpropFilterOp : public OpKernel {
 public:
  explicit Conv2DBackpropFilterOp(OpConstruction& c) : dtype_(c.GetType("T")) { attrs_.Parse(c); }
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), sizes = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape w_shape = sizes.host_ints();
    ConvPush p{};
    Shape out;
    if (!Geometry(ctx, attrs_, x.shape(), w_shape, &p, &out)) return;
    if (out != dy.shape()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Conv2DBackpropFilter: out_backprop has shape " +
                                        ShapeString(dy.shape()) + ", expected " + ShapeString(out));
      return;
    }
    Tensor dw = ctx.allocate_output(0, w_shape, dtype_);
    if (!ctx.ok() || NumElements(w_shape) == 0) return;
    p.M = p.k_h * p.k_w * p.in_c;
    p.N = p.out_c;
    p.K = p.batch * p.out_h * p.out_w;
    if (p.K == 0) {
      ctx.stream()->Fill(dw.address(), 0, NumElements(w_shape) * DtypeSize(dtype_));
      return;
    }
    p.a = x.address();
    p.b = dy.address();
    const uint32_t splits = (p.K + kMaxKChunk - 1) / kMaxKChunk;
    if (splits == 1) {
      p.k_chunk = p.K;
      p.c = dw.address();
      DispatchGemm(ctx, std::string("conv2d_bwd_filter_") + DtypeToken(dtype_), p);
      return;
    }
    // Split K: float32 partial filters, then their sum (and a cast for half).
    const int64_t mn = static_cast<int64_t>(p.M) * p.N;
    Tensor partial = ctx.allocate_temp({splits, mn}, TF_FLOAT);
    Tensor total = dtype_ == TF_FLOAT ? Tensor() : ctx.allocate_temp({mn}, TF_FLOAT);
    if (!ctx.ok()) return;
    p.k_chunk = (p.K + splits - 1) / splits;
    p.c = partial.address();
    DispatchGemm(ctx, std::string("conv2d_bwd_filter_") + DtypeToken(dtype_) + "_to_f32", p,
                 splits);
    const uint64_t sum_to = dtype_ == TF_FLOAT ? dw.address() : total.address();
    RecordReduction(ctx, "sum", false, TF_FLOAT, partial.address(), {splits, mn}, {true, false},
                    sum_to);
    if (dtype_ != TF_FLOAT) {
      struct {
        uint64_t x, y;
        uint32_t n;
      } cast{total.address(), dw.address(), static_cast<uint32_t>(mn)};
      ctx.Dispatch("cast_f32_to_f16", cast, OpContext::GridFor(mn));
    }
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
};

}  // namespace

void RegisterConvKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<Conv2DOp<false>>("Conv2D", {{"T", t}});
    RegisterKernel<Conv2DOp<true>>("_FusedConv2D", {{"T", t}}, {"host_args"});
    RegisterKernel<Conv2DBackpropInputOp>("Conv2DBackpropInput", {{"T", t}}, {"input_sizes"});
    RegisterKernel<Conv2DBackpropFilterOp>("Conv2DBackpropFilter", {{"T", t}}, {"filter_sizes"});
  }
}

}  // namespace tfmp
