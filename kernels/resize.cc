// ResizeBilinear, ResizeBilinearGrad, ResizeNearestNeighbor and
// ResizeNearestNeighborGrad (NHWC; align_corners and half_pixel_centers, all
// combinations TF accepts), with TF's CPU formulas and validation
// (resize_bilinear_op.cc, resize_nearest_neighbor_op.cc, image_resizer_state.h).
// Shader: shaders/resize.comp:
//   resize_bilinear_<f32|f16|bf16|i8|u8|i16|u16|i32|i64>  images in, float32 out
//   resize_bilinear_grad_<f32|f16|bf16>                  float32 gradient in
//   resize_nearest_b<bits>                                 any dtype, by element size
//   resize_nearest_grad_<f32|f16|bf16|i8|i32>              (i8 serves uint8 too)
// The gradients gather (one invocation per pixel of the image's gradient,
// summing in TF's CPU order): deterministic, no atomics, and bit-identical to
// TF's CPU kernel for float32. A pixel whose sum is long (large upscaling
// factors) is summed over several dispatches of at most kMaxTerms terms each,
// since lavapipe stops long-running invocations.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

// Terms one invocation adds in one dispatch, at most.
constexpr int64_t kMaxTerms = 16384;
constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;

enum Flags : uint32_t {
  kAlignCorners = 1,
  kHalfPixel = 2,
  kIdentity = 4,
  kFirst = 8,
  kLast = 16,
};

struct ResizePush {  // resize.comp's push constants
  uint64_t x, y, acc;
  uint32_t n, batch, in_h, in_w, chans, out_h, out_w;
  float scale_h, scale_w;
  uint32_t flags, r0, r1, c0, c1;
};

std::string Str(int64_t v) { return std::to_string(v); }

// TF's CalculateResizeScale.
float ResizeScale(int64_t in_size, int64_t out_size, bool align_corners) {
  return (align_corners && in_size > 1 && out_size > 1)
             ? (in_size - 1) / static_cast<float>(out_size - 1)
             : in_size / static_cast<float>(out_size);
}

const char* ImageToken(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "f32";
    case TF_HALF: return "f16";
    case TF_BFLOAT16: return "bf16";
    case TF_INT8: return "i8";
    case TF_UINT8: return "u8";
    case TF_INT16: return "i16";
    case TF_UINT16: return "u16";
    case TF_INT32: return "i32";
    default: return "i64";
  }
}

const char* SumToken(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "f32";
    case TF_HALF: return "f16";
    case TF_BFLOAT16: return "bf16";
    case TF_INT8: case TF_UINT8: return "i8";
    default: return "i32";
  }
}

// A bound on the number of out indices (of out_size) that touch one in index
// (of in_size), from the forward mapping computed on the host (the device's
// rounding may differ: hence the margin). The mapping is monotone, so the out
// indices with the same (first) in index form runs; a bilinear in index is
// touched by at most its own run and the previous one.
int64_t MaxFanIn(int64_t in_size, int64_t out_size, float scale, uint32_t flags, bool bilinear) {
  const bool half = flags & kHalfPixel, align = flags & kAlignCorners;
  int64_t longest = 0, run = 0, last = -1;
  for (int64_t o = 0; o < out_size; ++o) {
    const float f = static_cast<float>(o);
    int64_t i;
    if (bilinear) {
      const float v = half ? (f + 0.5f) * scale - 0.5f : f * scale;
      i = std::max<int64_t>(static_cast<int64_t>(std::floor(v)), 0);
    } else {
      const float v = half ? (f + 0.5f) * scale : f * scale;
      i = std::min<int64_t>(static_cast<int64_t>(align ? std::round(v) : std::floor(v)),
                            in_size - 1);
    }
    run = i == last ? run + 1 : 1;
    last = i;
    longest = std::max(longest, run);
  }
  return std::min(out_size, (bilinear ? 2 * longest : longest) + 2);
}

bool CheckSizes(OpContext& ctx, int64_t a, int64_t b) {
  if (a > kMaxElements || b > kMaxElements) {
    ctx.Fail(TF_UNIMPLEMENTED, "resizing tensors of more than 2^31-1 elements is not supported yet");
    return false;
  }
  return true;
}

// Checks the attributes and the image (input 0) and size (input 1) as TF's
// ImageResizerState does; fills the geometry of p and the output shape.
bool ForwardGeometry(OpContext& ctx, bool align, bool half, const Tensor& x, const Tensor& size,
                     ResizePush* p, Shape* out) {
  if (half && align) {
    ctx.Fail(TF_INVALID_ARGUMENT, "If half_pixel_centers is True, align_corners must be False.");
    return false;
  }
  if (x.dims() != 4) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input must be 4-dimensional" + ShapeString(x.shape()));
    return false;
  }
  if (x.dim(3) <= 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "image must have at least one channel");
    return false;
  }
  if (x.dim(1) <= 0 || x.dim(2) <= 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input image must be of non-zero size");
    return false;
  }
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  if (x.dim(1) >= kInt32Max || x.dim(2) >= kInt32Max) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input sizes must be between 0 and max int32");
    return false;
  }
  if (size.dims() != 1) {
    ctx.Fail(TF_INVALID_ARGUMENT, "shape_t must be 1-dimensional" + ShapeString(size.shape()));
    return false;
  }
  if (size.num_elements() != 2) {
    ctx.Fail(TF_INVALID_ARGUMENT, "shape_t must have two elements" + ShapeString(size.shape()));
    return false;
  }
  const int32_t* s = size.host_data<int32_t>();
  if (s[0] <= 0 || s[1] <= 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "output dimensions must be positive");
    return false;
  }
  *p = ResizePush{};
  p->batch = static_cast<uint32_t>(x.dim(0));
  p->in_h = static_cast<uint32_t>(x.dim(1));
  p->in_w = static_cast<uint32_t>(x.dim(2));
  p->chans = static_cast<uint32_t>(x.dim(3));
  p->out_h = static_cast<uint32_t>(s[0]);
  p->out_w = static_cast<uint32_t>(s[1]);
  p->scale_h = ResizeScale(x.dim(1), s[0], align);
  p->scale_w = ResizeScale(x.dim(2), s[1], align);
  if (std::ceil((s[1] - 1) * p->scale_w) > static_cast<float>(kInt32Max)) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input image width scale would cause an overflow");
    return false;
  }
  p->flags = (align ? kAlignCorners : 0) | (half ? kHalfPixel : 0);
  *out = {x.dim(0), s[0], s[1], x.dim(3)};
  return CheckSizes(ctx, x.num_elements(), NumElements(*out));
}

// Records a gradient's gather over the out rows and columns in chunks that
// keep each invocation's sum within kMaxTerms terms.
void RecordGradient(OpContext& ctx, const std::string& kernel, ResizePush p, bool bilinear) {
  const int64_t fan_h = MaxFanIn(p.in_h, p.out_h, p.scale_h, p.flags, bilinear);
  const int64_t fan_w = MaxFanIn(p.in_w, p.out_w, p.scale_w, p.flags, bilinear);
  int64_t rows = p.out_h, cols = p.out_w;  // per dispatch
  if (fan_h * fan_w > kMaxTerms) {
    if (fan_w <= kMaxTerms) {
      rows = std::max<int64_t>(1, kMaxTerms / fan_w);
    } else {
      rows = 1;
      cols = kMaxTerms;
    }
  }
  const uint32_t base = p.flags;
  const uint32_t groups = OpContext::GridFor(p.n);
  for (int64_t r = 0; r < std::max<int64_t>(p.out_h, 1); r += std::max<int64_t>(rows, 1)) {
    for (int64_t c = 0; c < std::max<int64_t>(p.out_w, 1); c += std::max<int64_t>(cols, 1)) {
      p.r0 = static_cast<uint32_t>(r);
      p.r1 = static_cast<uint32_t>(std::min<int64_t>(r + rows, p.out_h));
      p.c0 = static_cast<uint32_t>(c);
      p.c1 = static_cast<uint32_t>(std::min<int64_t>(c + cols, p.out_w));
      p.flags = base | (r == 0 && c == 0 ? kFirst : 0) |
                (r + rows >= p.out_h && c + cols >= p.out_w ? kLast : 0);
      ctx.Dispatch(kernel, p, groups);
    }
  }
}

class ResizeOpBase : public OpKernel {
 public:
  explicit ResizeOpBase(OpConstruction& c)
      : dtype_(c.GetType("T")),
        align_(c.GetBool("align_corners")),
        half_(c.GetBool("half_pixel_centers")) {}

 protected:
  TF_DataType dtype_;
  bool align_, half_;
};

class ResizeBilinearOp : public ResizeOpBase {
 public:
  using ResizeOpBase::ResizeOpBase;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), size = ctx.input(1);
    if (!ctx.ok()) return;
    ResizePush p;
    Shape out;
    if (!ForwardGeometry(ctx, align_, half_, x, size, &p, &out)) return;
    Tensor y = ctx.allocate_output(0, out, TF_FLOAT);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    // TF's CPU kernel converts a same-size resize (NaN and infinities kept).
    if (p.in_h == p.out_h && p.in_w == p.out_w) p.flags |= kIdentity;
    p.x = x.address();
    p.y = y.address();
    p.n = static_cast<uint32_t>(n);
    ctx.Dispatch(std::string("resize_bilinear_") + ImageToken(dtype_), p, OpContext::GridFor(n));
  }
};

class ResizeNearestNeighborOp : public ResizeOpBase {
 public:
  using ResizeOpBase::ResizeOpBase;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), size = ctx.input(1);
    if (!ctx.ok()) return;
    ResizePush p;
    Shape out;
    if (!ForwardGeometry(ctx, align_, half_, x, size, &p, &out)) return;
    if (p.in_h >= (1u << 24) || p.in_w >= (1u << 24))
      return ctx.Fail(TF_INVALID_ARGUMENT, "nearest neighbor requires max height & width of 2^24");
    Tensor y = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    p.x = x.address();
    p.y = y.address();
    p.n = static_cast<uint32_t>(n);
    ctx.Dispatch("resize_nearest_b" + Str(DtypeSize(dtype_) * 8), p, OpContext::GridFor(n));
  }
};

// ResizeBilinearGrad(grads float32, original_image T) -> T.
class ResizeBilinearGradOp : public ResizeOpBase {
 public:
  using ResizeOpBase::ResizeOpBase;
  void Compute(OpContext& ctx) override {
    Tensor dy = ctx.input(0), image = ctx.input(1);
    if (!ctx.ok()) return;
    if (half_ && align_)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "If half_pixel_centers is True, align_corners must be False.");
    if (dy.dims() != 4)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "input_grad must be 4-dimensional" + ShapeString(dy.shape()));
    if (dy.dim(1) <= 0 || dy.dim(2) <= 0)
      return ctx.Fail(TF_INVALID_ARGUMENT, "resized dimensions must be positive");
    if (image.dims() != 4)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "original_image must be 4-dimensional" + ShapeString(image.shape()));
    if (image.dim(1) <= 0 || image.dim(2) <= 0)
      return ctx.Fail(TF_INVALID_ARGUMENT, "original dimensions must be positive");
    constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
    if (image.dim(1) >= kInt32Max || image.dim(2) >= kInt32Max)
      return ctx.Fail(TF_INVALID_ARGUMENT, "original sizes must be between 0 and max int32");
    const Shape out = {dy.dim(0), image.dim(1), image.dim(2), dy.dim(3)};
    if (!CheckSizes(ctx, dy.num_elements(), NumElements(out))) return;
    Tensor dx = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    ResizePush p{};
    p.batch = static_cast<uint32_t>(dy.dim(0));
    p.in_h = static_cast<uint32_t>(image.dim(1));
    p.in_w = static_cast<uint32_t>(image.dim(2));
    p.chans = static_cast<uint32_t>(dy.dim(3));
    p.out_h = static_cast<uint32_t>(dy.dim(1));
    p.out_w = static_cast<uint32_t>(dy.dim(2));
    p.scale_h = ResizeScale(image.dim(1), dy.dim(1), align_);
    p.scale_w = ResizeScale(image.dim(2), dy.dim(2), align_);
    p.flags = (align_ ? kAlignCorners : 0) | (half_ ? kHalfPixel : 0);
    p.x = dy.address();
    p.y = dx.address();
    p.n = static_cast<uint32_t>(n);
    p.acc = dx.address();  // float32: the partial sums live in dx itself
    Tensor acc;
    if (dtype_ != TF_FLOAT) {
      acc = ctx.allocate_temp(out, TF_FLOAT);
      if (!ctx.ok()) return;
      p.acc = acc.address();
    }
    RecordGradient(ctx, std::string("resize_bilinear_grad_") + SumToken(dtype_), p, true);
  }
};

// ResizeNearestNeighborGrad(grads T, size int32 on the host) -> T.
class ResizeNearestNeighborGradOp : public ResizeOpBase {
 public:
  using ResizeOpBase::ResizeOpBase;
  void Compute(OpContext& ctx) override {
    Tensor dy = ctx.input(0), size = ctx.input(1);
    if (!ctx.ok()) return;
    if (dy.dims() != 4)
      return ctx.Fail(TF_INVALID_ARGUMENT, "input must be 4-dimensional" + ShapeString(dy.shape()));
    if (size.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "shape_t must be 1-dimensional" + ShapeString(size.shape()));
    if (size.num_elements() != 2)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "shape_t must have two elements" + ShapeString(size.shape()));
    const int32_t* s = size.host_data<int32_t>();
    if (s[0] <= 0 || s[1] <= 0)
      return ctx.Fail(TF_INVALID_ARGUMENT, "shape_t's elements must be positive");
    const Shape out = {dy.dim(0), s[0], s[1], dy.dim(3)};
    if (!CheckSizes(ctx, dy.num_elements(), NumElements(out))) return;
    Tensor dx = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    ResizePush p{};
    p.batch = static_cast<uint32_t>(dy.dim(0));
    p.in_h = static_cast<uint32_t>(s[0]);
    p.in_w = static_cast<uint32_t>(s[1]);
    p.chans = static_cast<uint32_t>(dy.dim(3));
    p.out_h = static_cast<uint32_t>(dy.dim(1));
    p.out_w = static_cast<uint32_t>(dy.dim(2));
    p.scale_h = ResizeScale(s[0], dy.dim(1), align_);
    p.scale_w = ResizeScale(s[1], dy.dim(2), align_);
    p.flags = (align_ ? kAlignCorners : 0) | (half_ ? kHalfPixel : 0);
    p.x = dy.address();
    p.y = dx.address();
    p.n = static_cast<uint32_t>(n);
    RecordGradient(ctx, std::string("resize_nearest_grad_") + SumToken(dtype_), p, false);
  }
};

}  // namespace

void RegisterResizeKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16, TF_INT8, TF_UINT8, TF_INT16, TF_UINT16,
                        TF_INT32, TF_INT64})
    RegisterKernel<ResizeBilinearOp>("ResizeBilinear", {{"T", t}}, {"size"});
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16})
    RegisterKernel<ResizeBilinearGradOp>("ResizeBilinearGrad", {{"T", t}});
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16, TF_DOUBLE, TF_INT8, TF_UINT8, TF_INT16,
                        TF_UINT16, TF_INT32, TF_INT64})
    RegisterKernel<ResizeNearestNeighborOp>("ResizeNearestNeighbor", {{"T", t}}, {"size"});
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16, TF_INT8, TF_UINT8, TF_INT32})
    RegisterKernel<ResizeNearestNeighborGradOp>("ResizeNearestNeighborGrad", {{"T", t}}, {"size"});
}

}  // namespace tfmp
