// Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter (NHWC or NCHW
// activations, HWIO filters, strides, dilations, SAME/VALID/EXPLICIT padding)
// and Conv3D, Conv3DBackpropInputV2 and Conv3DBackpropFilterV2 (NDHWC or
// NCDHW, DHWIO filters, SAME/VALID) as implicit GEMMs of one shader;
// _FusedConv2D (what TF's remapper makes of Conv2D + BiasAdd [+ Add]
// [+ activation] on GPUs, and the plugin's Grappler pass of more activations)
// with the epilogue (epilogue.h) in the same dispatch; and
// _TfmpConv2DBackpropFilterBiasGrad (the Grappler pass's Conv2DBackpropFilter
// + BiasAddGrad of the same dy: both gradients from one pass over dy).
// Shader: shaders/conv.comp ("conv<2|3>d_<mode>_<dtype>[_v4_<tile>]"); the
// variant, grid and K split come from conv_plan.h.
#include <algorithm>
#include <vector>

#include "kernels/conv_plan.h"
#include "kernels/epilogue.h"
#include "kernels/kernel.h"
#include "kernels/reduction.h"
#include "kernels/window.h"
#include "tensorflow/c/ops.h"

namespace tfmp {
namespace {

// Attributes and window geometry shared by the ops of both ranks (TF's
// conv_ops.cc and conv_ops_3d.cc).
struct ConvAttrs : WindowAttrs {
  void Parse(OpConstruction& c, int spatial_dims) {
    if (!ParseCommon(c, spatial_dims)) return;
    const std::string r = std::to_string(rank());
    if (strides.size() != static_cast<size_t>(rank()) ||
        dilations.size() != static_cast<size_t>(rank())) {
      c.Fail(TF_INVALID_ARGUMENT, "Sliding window strides and dilations must have " + r + " elements");
      return;
    }
    // TF's Conv2D says Unimplemented here, its Conv3D InvalidArgument.
    const TF_Code unsupported = spatial == 2 ? TF_UNIMPLEMENTED : TF_INVALID_ARGUMENT;
    const int n = 0, ch = c_dim();
    if (strides[n] != 1 || strides[ch] != 1)
      c.Fail(unsupported, "Current implementation does not yet support strides in the batch "
                          "and depth dimensions.");
    if (dilations[n] != 1 || dilations[ch] != 1)
      c.Fail(unsupported, "Current implementation does not yet support dilations in the "
                          "batch and depth dimensions.");
    for (int i = 0; i < spatial; ++i)
      if (strides[spatial_dim(i)] <= 0 || dilations[spatial_dim(i)] <= 0) {
        c.Fail(TF_INVALID_ARGUMENT, "Spatial strides and dilations should be larger than 0.");
        return;
      }
    if (padding == "EXPLICIT" && explicit_paddings.size() != 2 * static_cast<size_t>(rank()))
      c.Fail(TF_INVALID_ARGUMENT, "explicit_paddings attribute must contain " +
                                      std::to_string(2 * rank()) + " values");
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
  const size_t rank = a.rank();
  const std::string r = std::to_string(rank);
  if (x.size() != rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input must be " + r + "-dimensional: " + ShapeString(x));
    return false;
  }
  if (w.size() != rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "filter must be " + r + "-dimensional: " + ShapeString(w));
    return false;
  }
  const int s = a.spatial;
  const int64_t in_c = x[a.c_dim()], w_in = w[s], w_out = w[s + 1];
  if (w_in != in_c) {
    // Grouped: a missing feature for Conv2D; TF's CPU Conv3D rejects them as invalid.
    if (w_in > 0 && in_c % w_in == 0 && s == 2)
      ctx.Fail(TF_UNIMPLEMENTED, "grouped convolutions are not supported on this device yet");
    else
      ctx.Fail(TF_INVALID_ARGUMENT, "input depth must be evenly divisible by filter depth: " +
                                        std::to_string(in_c) + " vs " + std::to_string(w_in));
    return false;
  }
  *p = ConvPush{};
  *out_shape = Shape(rank);
  (*out_shape)[0] = x[0];
  (*out_shape)[a.c_dim()] = w_out;
  const int first = 3 - s;  // 2-D: depth 1
  for (int i = 0; i < 3; ++i) {
    p->in[i] = p->out[i] = p->k[i] = 1;
    p->stride_dil[i] = 1 | 1 << 16;
  }
  for (int i = 0; i < s; ++i) {
    const int dim = a.spatial_dim(i);
    int64_t out, pad;
    if (!Window(ctx, a, dim, x[dim], w[i], &out, &pad)) return false;
    if (a.strides[dim] > 0xffff || a.dilations[dim] > 0xffff) {
      ctx.Fail(TF_UNIMPLEMENTED, "strides and dilations above 65535 are not supported on this "
                                 "device");
      return false;
    }
    (*out_shape)[dim] = out;
    p->in[first + i] = static_cast<uint32_t>(x[dim]);
    p->out[first + i] = static_cast<uint32_t>(out);
    p->k[first + i] = static_cast<uint32_t>(w[i]);
    p->stride_dil[first + i] = static_cast<uint32_t>(a.strides[dim] | a.dilations[dim] << 16);
    p->pad[first + i] = static_cast<int32_t>(pad);
  }
  p->in_c = static_cast<uint32_t>(in_c);
  p->out_c = static_cast<uint32_t>(w_out);
  p->flags = a.nchw ? 0x100 : 0;
  for (int64_t v : {NumElements(x), NumElements(w), NumElements(*out_shape)})
    if (!ctx.CheckElements(v)) return false;
  return true;
}

uint32_t SpatialProduct(const uint32_t (&v)[3]) { return v[0] * v[1] * v[2]; }

// Records the convolution of `p` (geometry and operands set) into `out`;
// for the filter gradient, `db` (0: none) receives the bias gradient (the
// sums of dy over all but the channel dimension) from the same dispatches.
void RunConv(OpContext& ctx, ConvMode mode, const ConvAttrs& a, TF_DataType dtype, ConvPush& p,
             uint64_t out, uint64_t db = 0) {
  const bool aligned = (p.a % 16) == 0 && (p.b % 16) == 0;
  const ConvPlan plan = PlanConv(mode, a.spatial, DtypeToken(dtype), aligned, &p,
                                 ctx.stream()->device_info().compute_units);
  if (!plan.error.empty()) {
    ctx.Fail(TF_UNIMPLEMENTED, plan.error + " on this device");
    return;
  }
  std::vector<Tensor> temps;  // float32 scratch (split sums, Winograd's transforms)
  std::vector<uint64_t> scratch;
  for (uint64_t bytes : ConvScratch(mode, plan, p, db != 0)) {
    temps.push_back(ctx.allocate_temp({static_cast<int64_t>(bytes / 4)}, TF_FLOAT));
    if (!ctx.ok()) return;
    scratch.push_back(temps.back().address());
  }
  for (const ConvLaunch& l : ConvLaunches(mode, plan, p, out, db, scratch, DtypeToken(dtype))) {
    if (l.sum)
      ctx.Dispatch(l.kernel, l.sum_push, l.gx, l.gy, l.gz);
    else
      ctx.Dispatch(l.kernel, l.push, l.gx, l.gy, l.gz);
  }
}

// Conv2D / Conv3D (kSpatial 2 / 3), and _FusedConv2D (kFused) whose
// fused_ops are BiasAdd, optionally Add (a residual input) or FusedBatchNorm
// (or FusedBatchNorm alone), optionally one activation (epilogue.h).
template <int kSpatial, bool kFused>
class ConvOp : public OpKernel {
 public:
  explicit ConvOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c, kSpatial);
    if (!kFused) return;
    if (c.GetString("filter_format", "HWIO") != "HWIO")
      c.Fail(TF_UNIMPLEMENTED, "_FusedConv2D: only HWIO filters are supported on this device");
    epilogue_ = ParseEpilogue(c, "_FusedConv2D", true);
  }

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), w = ctx.input(1);
    Tensor bias = kFused && epilogue_.bias ? ctx.input(2) : Tensor();
    Tensor side = kFused && epilogue_.side ? ctx.input(3) : Tensor();
    if (!ctx.ok()) return;
    ConvPush p;
    Shape out;
    if (!Geometry(ctx, attrs_, x.shape(), w.shape(), &p, &out)) return;
    if (kSpatial == 3 && w.num_elements() == 0) {  // as TF's Conv3D
      ctx.Fail(TF_INVALID_ARGUMENT, "filter must not have zero elements "
                                    "(i.e. all dimensions must be non-zero)");
      return;
    }
    if (bias.valid() && (bias.dims() != 1 || bias.dim(0) != p.out_c)) {
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
    // A folded BatchNorm's table travels in `side` (flags bit 9).
    Tensor bn_table = kFused ? RecordBatchNormTable(ctx, epilogue_, 2 + epilogue_.bias, p.out_c,
                                                    "_FusedConv2D", out)
                             : Tensor();
    if (!ctx.ok()) return;
    const uint64_t bn = bn_table.valid() ? bn_table.address() : 0;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || NumElements(out) == 0) return;
    p.M = static_cast<uint32_t>(x.dim(0)) * SpatialProduct(p.out);
    p.K = SpatialProduct(p.k) * p.in_c;  // K == 0: the shader adds the epilogue to zeros
    p.a = x.address();
    p.b = w.address();
    p.c = y.address();
    p.flags |= epilogue_.act | (bn ? 0x200 : 0);
    p.alpha = epilogue_.alpha;
    p.bias = bias.valid() ? bias.address() : 0;
    p.side = bn ? bn : side.valid() ? side.address() : 0;
    // Every forward path (tiled, vec4, Winograd's output transform) applies
    // the epilogue through conv.comp's fwd_epilogue(), BatchNorm included.
    RunConv(ctx, ConvMode::kFwd, attrs_, dtype_, p, y.address());
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
  Epilogue epilogue_;
};

// Conv2DBackpropInput / Conv3DBackpropInputV2(input_sizes, filter, out_backprop).
template <int kSpatial>
class ConvBackpropInputOp : public OpKernel {
 public:
  explicit ConvBackpropInputOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c, kSpatial);
  }
  void Compute(OpContext& ctx) override {
    Tensor sizes = ctx.input(0), w = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape x_shape = sizes.host_ints();
    ConvPush p;
    Shape out;
    if (!Geometry(ctx, attrs_, x_shape, w.shape(), &p, &out)) return;
    if (out != dy.shape()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "out_backprop has shape " + ShapeString(dy.shape()) +
                                        ", expected " + ShapeString(out));
      return;
    }
    Tensor dx = ctx.allocate_output(0, x_shape, dtype_);
    if (!ctx.ok() || NumElements(x_shape) == 0) return;
    p.M = static_cast<uint32_t>(x_shape[0]) * SpatialProduct(p.in);
    p.K = SpatialProduct(p.k) * p.out_c;
    if (p.K == 0 || NumElements(out) == 0) {
      ctx.stream()->Fill(dx.address(), 0, NumElements(x_shape) * DtypeSize(dtype_));
      return;
    }
    p.a = dy.address();
    p.b = w.address();
    RunConv(ctx, ConvMode::kBwdInput, attrs_, dtype_, p, dx.address());
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
};

// Conv2DBackpropFilter / Conv3DBackpropFilterV2(input, filter_sizes,
// out_backprop); with kBiasGrad, _TfmpConv2DBackpropFilterBiasGrad: the same
// inputs and attributes, and a second output, BiasAddGrad(out_backprop) in
// the same data format, computed by the same dispatches.
template <int kSpatial, bool kBiasGrad = false>
class ConvBackpropFilterOp : public OpKernel {
 public:
  explicit ConvBackpropFilterOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    attrs_.Parse(c, kSpatial);
  }
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), sizes = ctx.input(1), dy = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape w_shape = sizes.host_ints();
    ConvPush p;
    Shape out;
    if (!Geometry(ctx, attrs_, x.shape(), w_shape, &p, &out)) return;
    if (out != dy.shape()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "out_backprop has shape " + ShapeString(dy.shape()) +
                                        ", expected " + ShapeString(out));
      return;
    }
    Tensor dw = ctx.allocate_output(0, w_shape, dtype_);
    Tensor db = kBiasGrad ? ctx.allocate_output(1, {p.out_c}, dtype_) : Tensor();
    if (!ctx.ok()) return;
    p.M = SpatialProduct(p.k) * p.in_c;
    p.K = static_cast<uint32_t>(x.dim(0)) * SpatialProduct(p.out);
    const size_t esize = DtypeSize(dtype_);
    if (p.K == 0) {  // no output positions: both gradients are zeros
      if (NumElements(w_shape) > 0) ctx.stream()->Fill(dw.address(), 0, NumElements(w_shape) * esize);
      if (kBiasGrad && p.out_c > 0) ctx.stream()->Fill(db.address(), 0, p.out_c * esize);
      return;
    }
    if (kBiasGrad && p.M == 0 && p.out_c > 0) {
      // An empty filter (no input channels): no GEMM tile to sum dy in.
      const bool cf = attrs_.nchw;
      const int64_t spatial = SpatialProduct(p.out);
      const Shape shape = cf ? Shape{x.dim(0), p.out_c, spatial} : Shape{x.dim(0) * spatial, p.out_c};
      RecordReduction(ctx, "sum", false, dtype_, dy.address(), shape,
                      cf ? std::vector<bool>{true, false, true} : std::vector<bool>{true, false},
                      db.address());
      return;
    }
    if (NumElements(w_shape) == 0) return;
    p.a = x.address();
    p.b = dy.address();
    RunConv(ctx, ConvMode::kBwdFilter, attrs_, dtype_, p, dw.address(),
            kBiasGrad ? db.address() : 0);
  }

 private:
  TF_DataType dtype_;
  ConvAttrs attrs_;
};

// _TfmpConv2DBackpropFilterBiasGrad: Conv2DBackpropFilter's inputs and
// attributes; outputs the filter gradient and BiasAddGrad(out_backprop).
void RegisterConvBiasGradOp() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder("_TfmpConv2DBackpropFilterBiasGrad");
  TF_OpDefinitionBuilderAddInput(b, "input: T");
  TF_OpDefinitionBuilderAddInput(b, "filter_sizes: int32");
  TF_OpDefinitionBuilderAddInput(b, "out_backprop: T");
  TF_OpDefinitionBuilderAddOutput(b, "filter_backprop: T");
  TF_OpDefinitionBuilderAddOutput(b, "bias_backprop: T");
  TF_OpDefinitionBuilderAddAttr(b, "T: {half, float}");
  TF_OpDefinitionBuilderAddAttr(b, "strides: list(int)");
  TF_OpDefinitionBuilderAddAttr(b, "use_cudnn_on_gpu: bool = true");
  TF_OpDefinitionBuilderAddAttr(b, "padding: {'SAME', 'VALID', 'EXPLICIT'}");
  TF_OpDefinitionBuilderAddAttr(b, "explicit_paddings: list(int) = []");
  TF_OpDefinitionBuilderAddAttr(b, "data_format: {'NHWC', 'NCHW'} = 'NHWC'");
  TF_OpDefinitionBuilderAddAttr(b, "dilations: list(int) = [1, 1, 1, 1]");
  RegisterOpDefinition("_TfmpConv2DBackpropFilterBiasGrad", b);
}

}  // namespace

void RegisterConvKernels() {
  RegisterConvBiasGradOp();
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) {
    RegisterKernel<ConvBackpropFilterOp<2, true>>("_TfmpConv2DBackpropFilterBiasGrad", {{"T", t}},
                                                  {"filter_sizes"});
    RegisterKernel<ConvOp<2, false>>("Conv2D", {{"T", t}});
    RegisterKernel<ConvOp<2, true>>("_FusedConv2D", {{"T", t}}, {"host_args"});
    RegisterKernel<ConvBackpropInputOp<2>>("Conv2DBackpropInput", {{"T", t}}, {"input_sizes"});
    RegisterKernel<ConvBackpropFilterOp<2>>("Conv2DBackpropFilter", {{"T", t}}, {"filter_sizes"});
    RegisterKernel<ConvOp<3, false>>("Conv3D", {{"T", t}});
    RegisterKernel<ConvBackpropInputOp<3>>("Conv3DBackpropInputV2", {{"T", t}}, {"input_sizes"});
    RegisterKernel<ConvBackpropFilterOp<3>>("Conv3DBackpropFilterV2", {{"T", t}}, {"filter_sizes"});
  }
}

}  // namespace tfmp
