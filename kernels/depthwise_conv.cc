// DepthwiseConv2dNative, DepthwiseConv2dNativeBackpropInput and
// DepthwiseConv2dNativeBackpropFilter (float32, float16; NHWC or NCHW
// activations, [k_h, k_w, in_c, multiplier] filters, strides, dilations,
// SAME/VALID/EXPLICIT padding) as direct kernels. Shader:
// shaders/depthwise_conv.comp ("depthwise_<mode>_<dtype>"). Long reductions
// (the filter gradient's sum over N*OH*OW) are split into float32 partial sums
// added up by RecordReduction, as Conv2DBackpropFilter does.
// _FusedDepthwiseConv2dNative (DepthwiseConv2dNative + BiasAdd [+ activation],
// made by the plugin's Grappler pass) applies the epilogue (epilogue.h) in the
// forward dispatch.
#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/epilogue.h"
#include "kernels/kernel.h"
#include "kernels/reduction.h"
#include "kernels/window.h"

namespace tfmp {
namespace {

struct DepthwisePush {
  uint64_t a, b, c;
  uint32_t n;
  uint32_t batch, in_h, in_w, in_c, mult;
  uint32_t out_h, out_w;
  uint32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w;
  int32_t pad_top, pad_left;
  uint32_t k_len, k_chunk;
  uint32_t nchw;
  uint64_t bias;  // FWD epilogue: bias[co] (0: none), then activation `act`
  uint32_t act;
  float alpha;
};
static_assert(offsetof(DepthwisePush, nchw) + 4 == 100 && sizeof(DepthwisePush) == 120,
              "the push constants must match depthwise_conv.comp's");

// Longest reduction range one invocation (FWD, BWD_INPUT) or one workgroup
// (BWD_FILTER, 256 invocations) sums before the host splits it.
constexpr uint32_t kMaxChunk = 16384;
constexpr uint32_t kMaxGroups = 65535;

// Attributes shared by the three ops, validated as TF's depthwise kernels do.
struct DepthwiseAttrs : WindowAttrs {
  void Parse(OpConstruction& c) {
    if (!ParseCommon(c)) return;
    if (strides.size() != 4) {
      c.Fail(TF_INVALID_ARGUMENT, "Sliding window strides field must specify 4 dimensions");
      return;
    }
    if (dilations.size() != 4) {
      c.Fail(TF_INVALID_ARGUMENT, "Sliding window dilations field must specify 4 dimensions");
      return;
    }
    const int n = 0, ch = c_dim();
    if (strides[n] != 1 || strides[ch] != 1) {
      c.Fail(TF_INVALID_ARGUMENT, "Current implementation does not yet support strides in the "
                                  "batch and depth dimensions.");
      return;
    }
    if (dilations[n] != 1 || dilations[ch] != 1) {
      c.Fail(TF_INVALID_ARGUMENT, "Current implementation does not yet support dilations in the "
                                  "batch and depth dimensions.");
      return;
    }
    for (int d : {h_dim(), w_dim()})
      if (strides[d] <= 0 || dilations[d] <= 0) {
        c.Fail(TF_INVALID_ARGUMENT, "Sliding window strides and dilations must be positive");
        return;
      }
    if (padding != "EXPLICIT") {
      if (!explicit_paddings.empty())
        c.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must be empty if the padding "
                                    "attribute is not EXPLICIT");
      return;
    }
    if (explicit_paddings.size() != 8) {
      c.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must contain 8 values, but got: " +
                                      std::to_string(explicit_paddings.size()));
      return;
    }
    for (int64_t v : explicit_paddings)
      if (v < 0) {
        c.Fail(TF_INVALID_ARGUMENT, "All elements of explicit_paddings must be nonnegative");
        return;
      }
    for (int d : {n, ch})
      if (explicit_paddings[2 * d] != 0 || explicit_paddings[2 * d + 1] != 0) {
        c.Fail(TF_UNIMPLEMENTED,
               "Nonzero explicit padding in the batch or depth dimensions is not supported");
        return;
      }
  }
};

// Checks the shapes of input x and filter w and fills the geometry of the push
// constants; *out_shape receives the output's shape in the activations' layout.
// `prefix` starts error messages (TF's gradient kernels name themselves).
bool Geometry(OpContext& ctx, const DepthwiseAttrs& a, const std::string& prefix, const Shape& x,
              const Shape& w, DepthwisePush* p, Shape* out_shape) {
  if (x.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "input must be 4-dimensional" + ShapeString(x));
    return false;
  }
  if (w.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "filter must be 4-dimensional: " + ShapeString(w));
    return false;
  }
  for (int64_t d : x)
    if (d < 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, prefix + "input sizes must be nonnegative: " + ShapeString(x));
      return false;
    }
  for (int64_t d : w)
    if (d < 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, prefix + "filter sizes must be nonnegative: " + ShapeString(w));
      return false;
    }
  const int64_t in_c = x[a.c_dim()];
  if (w[2] != in_c) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "input and filter must have the same depth: " +
                                      std::to_string(in_c) + " vs " + std::to_string(w[2]));
    return false;
  }
  const bool expl = a.padding == "EXPLICIT";
  int64_t out_h, out_w, pad_t, pad_l;
  for (auto [dim, k, out, pad] : {std::make_tuple(a.h_dim(), w[0], &out_h, &pad_t),
                                  std::make_tuple(a.w_dim(), w[1], &out_w, &pad_l)})
    if (!WindowedOutputSize(ctx, x[dim], k, a.strides[dim], a.dilations[dim], a.padding,
                            expl ? a.explicit_paddings[2 * dim] : 0,
                            expl ? a.explicit_paddings[2 * dim + 1] : 0, out, pad))
      return false;
  const int64_t out_c = in_c * w[3];
  *out_shape = a.nchw ? Shape{x[0], out_c, out_h, out_w} : Shape{x[0], out_h, out_w, out_c};
  for (int64_t v : {NumElements(x), NumElements(w), NumElements(*out_shape)})
    if (!ctx.CheckElements(v)) return false;
  *p = DepthwisePush{};
  p->batch = static_cast<uint32_t>(x[0]);
  p->in_h = static_cast<uint32_t>(x[a.h_dim()]);
  p->in_w = static_cast<uint32_t>(x[a.w_dim()]);
  p->in_c = static_cast<uint32_t>(in_c);
  p->mult = static_cast<uint32_t>(w[3]);
  p->out_h = static_cast<uint32_t>(out_h);
  p->out_w = static_cast<uint32_t>(out_w);
  p->k_h = static_cast<uint32_t>(w[0]);
  p->k_w = static_cast<uint32_t>(w[1]);
  p->stride_h = static_cast<uint32_t>(a.strides[a.h_dim()]);
  p->stride_w = static_cast<uint32_t>(a.strides[a.w_dim()]);
  p->dil_h = static_cast<uint32_t>(a.dilations[a.h_dim()]);
  p->dil_w = static_cast<uint32_t>(a.dilations[a.w_dim()]);
  p->pad_top = static_cast<int32_t>(pad_t);
  p->pad_left = static_cast<int32_t>(pad_l);
  p->nchw = a.nchw ? 1 : 0;
  return true;
}

// The gradients' out_backprop must have the forward output's shape.
bool CheckOutBackprop(OpContext& ctx, const std::string& prefix, const DepthwiseAttrs& a,
                      const Shape& dy, const Shape& expected) {
  if (dy.size() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "out_backprop must be 4-dimensional");
    return false;
  }
  if (dy[0] != expected[0]) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "input and out_backprop must have the same batch size");
    return false;
  }
  const struct {
    int dim;
    const char* name;
  } checks[] = {{a.h_dim(), "rows"}, {a.w_dim(), "cols"}};
  for (const auto& ch : checks)
    if (dy[ch.dim] != expected[ch.dim]) {
      ctx.Fail(TF_INVALID_ARGUMENT, prefix + "Number of " + ch.name +
                                        " of out_backprop doesn't match computed: actual = " +
                                        std::to_string(dy[ch.dim]) +
                                        ", computed = " + std::to_string(expected[ch.dim]));
      return false;
    }
  if (dy[a.c_dim()] != expected[a.c_dim()]) {
    ctx.Fail(TF_INVALID_ARGUMENT, prefix + "depth_multiplier * in_depth not equal to out_depth");
    return false;
  }
  return true;
}

// A shape held in a host int32/int64 vector (input_sizes, filter_sizes).
bool HostShape(OpContext& ctx, const std::string& prefix, const char* name, const Tensor& t,
               Shape* s) {
  if (t.dims() != 1) {
    ctx.Fail(TF_INVALID_ARGUMENT,
             prefix + name + " must be 1-dimensional, got " + ShapeString(t.shape()));
    return false;
  }
  *s = t.host_ints();
  return true;
}

// Records out = the per-element reductions of shader `mode` (p.n outputs, each
// a sum over p.k_len terms). FWD and BWD_INPUT run an invocation per output,
// BWD_FILTER a workgroup; a reduction longer than kMaxChunk is split into
// float32 partial sums [splits, n] and added up here.
void RunReduction(OpContext& ctx, const char* mode, TF_DataType dtype, DepthwisePush p,
                  uint64_t out, bool group_per_output) {
  const std::string token = std::string("depthwise_") + mode + "_" + DtypeToken(dtype);
  const uint32_t groups = group_per_output ? std::min(p.n, kMaxGroups) : OpContext::GridFor(p.n);
  const uint32_t chunk = std::max<uint32_t>(kMaxChunk, (p.k_len + kMaxGroups - 1) / kMaxGroups);
  const uint32_t splits = std::max<uint32_t>(1, (p.k_len + chunk - 1) / chunk);
  if (splits == 1) {
    p.k_chunk = p.k_len;
    p.c = out;
    ctx.Dispatch(token, p, groups);
    return;
  }
  const int64_t n = p.n;
  if (!ctx.CheckElements(n * splits)) return;
  Tensor partial = ctx.allocate_temp({splits, n}, TF_FLOAT);
  Tensor total = dtype == TF_FLOAT ? Tensor() : ctx.allocate_temp({n}, TF_FLOAT);
  if (!ctx.ok()) return;
  p.k_chunk = (p.k_len + splits - 1) / splits;
  p.c = partial.address();
  ctx.Dispatch(dtype == TF_FLOAT ? token : token + "_to_f32", p, groups, splits);
  const uint64_t sum_to = dtype == TF_FLOAT ? out : total.address();
  RecordReduction(ctx, "sum", false, TF_FLOAT, partial.address(), {splits, n}, {true, false},
                  sum_to);
  if (dtype != TF_FLOAT) {
    struct {  // shaders/unary.comp's push constants (elementwise.cc UnaryPush)
      uint64_t x, y;
      uint32_t n;
      float alpha;
      uint32_t vec;
    } cast{total.address(), out, p.n, 0.0f, 0u};
    ctx.Dispatch("cast_f32_to_f16", cast, OpContext::GridFor(n));
  }
}

// DepthwiseConv2dNative, and _FusedDepthwiseConv2dNative (kFused) with
// fused_ops BiasAdd [, activation].
template <bool kFused>
class DepthwiseConv2dNativeOp : public OpKernel {
 public:
  explicit DepthwiseConv2dNativeOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c);
    if (kFused) epilogue_ = ParseEpilogue(c, "_FusedDepthwiseConv2dNative", false);
  }
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), w = ctx.input(1);
    Tensor bias = kFused ? ctx.input(2) : Tensor();
    if (!ctx.ok()) return;
    DepthwisePush p;
    Shape out;
    if (!Geometry(ctx, attrs_, "", x.shape(), w.shape(), &p, &out)) return;
    const int64_t out_c = static_cast<int64_t>(p.in_c) * p.mult;
    if (kFused && (bias.dims() != 1 || bias.dim(0) != out_c)) {
      ctx.Fail(TF_INVALID_ARGUMENT, "_FusedDepthwiseConv2dNative: bias must be a vector of " +
                                        std::to_string(out_c) + " elements, got " +
                                        ShapeString(bias.shape()));
      return;
    }
    // The epilogue runs in the one forward pass: filters of more taps than
    // one invocation sums (kMaxChunk) would need a split sum first.
    if (kFused && static_cast<int64_t>(p.k_h) * p.k_w > kMaxChunk) {
      ctx.Fail(TF_UNIMPLEMENTED, "_FusedDepthwiseConv2dNative: filters of more than " +
                                     std::to_string(kMaxChunk) +
                                     " taps are not supported on this device");
      return;
    }
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || NumElements(out) == 0) return;
    p.a = x.address();
    p.b = w.address();
    p.n = static_cast<uint32_t>(NumElements(out));
    p.k_len = p.k_h * p.k_w;
    if (kFused) {
      p.bias = bias.address();
      p.act = epilogue_.act;
      p.alpha = epilogue_.alpha;
    }
    RunReduction(ctx, "fwd", dtype_, p, y.address(), false);
  }

 private:
  TF_DataType dtype_;
  DepthwiseAttrs attrs_;
  Epilogue epilogue_;
};

class DepthwiseConv2dNativeBackpropInputOp : public OpKernel {
 public:
  explicit DepthwiseConv2dNativeBackpropInputOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c);
  }
  void Compute(OpContext& ctx) override {
    static const std::string kPrefix = "DepthwiseConv2DBackpropInput: ";
    Tensor sizes = ctx.input(0), w = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    Shape x_shape, out;
    DepthwisePush p;
    if (!HostShape(ctx, kPrefix, "input_sizes", sizes, &x_shape) ||
        !Geometry(ctx, attrs_, kPrefix, x_shape, w.shape(), &p, &out) ||
        !CheckOutBackprop(ctx, kPrefix, attrs_, dy.shape(), out))
      return;
    Tensor dx = ctx.allocate_output(0, x_shape, dtype_);
    if (!ctx.ok() || NumElements(x_shape) == 0) return;
    p.a = dy.address();
    p.b = w.address();
    p.n = static_cast<uint32_t>(NumElements(x_shape));
    p.k_len = p.k_h * p.k_w * p.mult;
    RunReduction(ctx, "bwd_input", dtype_, p, dx.address(), false);
  }

 private:
  TF_DataType dtype_;
  DepthwiseAttrs attrs_;
};

class DepthwiseConv2dNativeBackpropFilterOp : public OpKernel {
 public:
  explicit DepthwiseConv2dNativeBackpropFilterOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c);
  }
  void Compute(OpContext& ctx) override {
    static const std::string kPrefix = "DepthwiseConv2DBackpropFilter: ";
    Tensor x = ctx.input(0), sizes = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    Shape w_shape, out;
    DepthwisePush p;
    if (!HostShape(ctx, kPrefix, "filter_sizes", sizes, &w_shape) ||
        !Geometry(ctx, attrs_, kPrefix, x.shape(), w_shape, &p, &out) ||
        !CheckOutBackprop(ctx, kPrefix, attrs_, dy.shape(), out))
      return;
    Tensor dw = ctx.allocate_output(0, w_shape, dtype_);
    if (!ctx.ok() || NumElements(w_shape) == 0) return;
    p.a = x.address();
    p.b = dy.address();
    p.n = static_cast<uint32_t>(NumElements(w_shape));
    p.k_len = p.batch * p.out_h * p.out_w;
    RunReduction(ctx, "bwd_filter", dtype_, p, dw.address(), true);
  }

 private:
  TF_DataType dtype_;
  DepthwiseAttrs attrs_;
};

}  // namespace

void RegisterDepthwiseConvKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<DepthwiseConv2dNativeOp<false>>("DepthwiseConv2dNative", {{"T", t}});
    RegisterKernel<DepthwiseConv2dNativeOp<true>>("_FusedDepthwiseConv2dNative", {{"T", t}});
    RegisterKernel<DepthwiseConv2dNativeBackpropInputOp>("DepthwiseConv2dNativeBackpropInput",
                                                         {{"T", t}}, {"input_sizes"});
    RegisterKernel<DepthwiseConv2dNativeBackpropFilterOp>("DepthwiseConv2dNativeBackpropFilter",
                                                          {{"T", t}}, {"filter_sizes"});
  }
}

}  // namespace tfmp
