// Pad, PadV2, MirrorPad (REFLECT, SYMMETRIC) and MirrorPadGrad, rank 0 to 8,
// paddings int32 or int64 on the host. Shader: shaders/pad.comp: the forward
// ops by element size ("pad_b<bits>": every dtype of 1, 2, 4 or 8 bytes), the
// gradient by arithmetic ("mirror_pad_grad_<f32|f16|bf16|i8|i16|i32|i64>";
// integers wrap, so unsigned types use the signed variant of their width).
// MirrorPadGrad gathers (one invocation per input-gradient element, its
// contributions added in TF's CPU order): deterministic, no atomics.
//
// Differences from TF's CPU kernels: ranks 7 and 8 work here (TF's CPU Pad
// stops at 6 and MirrorPad at 5, raising InvalidArgument / Unimplemented);
// past rank 8 this raises Unimplemented as TF's CPU Pad does.
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr int kMaxRank = 8;  // pad.comp's MAX_RANK
// Shader indices are 32-bit and SPIR-V treats access-chain indices as signed.
constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;

constexpr TF_DataType kTypes[] = {TF_FLOAT, TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                  TF_INT16, TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                  TF_UINT32, TF_UINT64, TF_BOOL};
// MirrorPadGrad: TF's number types the device can add (no float64).
constexpr TF_DataType kGradTypes[] = {TF_FLOAT, TF_HALF,  TF_BFLOAT16, TF_INT8,  TF_UINT8, TF_INT16,
                                      TF_UINT16, TF_INT32, TF_UINT32,   TF_INT64, TF_UINT64};

enum Mode : uint32_t { kConstant = 0, kReflect = 1, kSymmetric = 2 };

struct PadPush {  // pad.comp's push constants
  uint64_t x, y;
  uint32_t n, rank_mode;
  uint64_t value;
  uint32_t in_shape[kMaxRank];
  uint32_t out_shape[kMaxRank];
  int32_t before[kMaxRank];
};
static_assert(sizeof(PadPush) == 128, "push constants: at most 128 bytes");

std::string Str(int64_t v) { return std::to_string(v); }

const char* SumToken(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "f32";
    case TF_HALF: return "f16";
    case TF_BFLOAT16: return "bf16";
    case TF_INT8: case TF_UINT8: return "i8";
    case TF_INT16: case TF_UINT16: return "i16";
    case TF_INT32: case TF_UINT32: return "i32";
    default: return "i64";
  }
}

Mode ParseMode(OpConstruction& c) {
  const std::string mode = c.GetString("mode");
  if (mode == "REFLECT") return kReflect;
  if (mode == "SYMMETRIC") return kSymmetric;
  c.Fail(TF_INVALID_ARGUMENT, "mode must be either REFLECT or SYMMETRIC.");
  return kReflect;
}

// Checks the rank and the paddings' shape as TF does; returns the [before,
// after] pairs (2 * rank values).
bool ReadPaddings(OpContext& ctx, const Tensor& x, const Tensor& paddings, const char* sep,
                  std::vector<int64_t>* pads) {
  const int rank = x.dims();
  if (rank > kMaxRank) {
    ctx.Fail(TF_UNIMPLEMENTED, "inputs rank not in [0," + Str(kMaxRank) + "]: " + Str(rank));
    return false;
  }
  if (paddings.dims() != 2 || paddings.dim(1) != 2) {
    ctx.Fail(TF_INVALID_ARGUMENT,
             "paddings must be a matrix with 2 columns: " + ShapeString(paddings.shape()));
    return false;
  }
  if (paddings.dim(0) != rank) {
    ctx.Fail(TF_INVALID_ARGUMENT, "The first dimension of paddings must be the rank of inputs" +
                                      ShapeString(paddings.shape()) + sep +
                                      ShapeString(x.shape()));
    return false;
  }
  *pads = paddings.host_ints();
  return true;
}

// Records pad.comp over `out` (the padded shape) for input shape `in`.
void RecordPad(OpContext& ctx, const std::string& kernel, uint64_t x, uint64_t y, const Shape& in,
               const Shape& out, const std::vector<int64_t>& pads, Mode mode, uint64_t value,
               int64_t n) {
  PadPush p{};
  p.x = x;
  p.y = y;
  p.n = static_cast<uint32_t>(n);
  p.rank_mode = static_cast<uint32_t>(in.size()) | (static_cast<uint32_t>(mode) << 8);
  p.value = value;
  for (size_t d = 0; d < in.size(); ++d) {
    p.in_shape[d] = static_cast<uint32_t>(in[d]);
    p.out_shape[d] = static_cast<uint32_t>(out[d]);
    p.before[d] = static_cast<int32_t>(pads[2 * d]);
  }
  ctx.Dispatch(kernel, p, OpContext::GridFor(n));
}

bool CheckSize(OpContext& ctx, const Shape& s) {
  for (int64_t d : s)
    if (d > kMaxElements) {
      ctx.Fail(TF_UNIMPLEMENTED, "padding to dimensions of more than 2^31-1 is not supported yet");
      return false;
    }
  if (NumElements(s) > kMaxElements) {
    ctx.Fail(TF_UNIMPLEMENTED, "padding tensors of more than 2^31-1 elements is not supported yet");
    return false;
  }
  return true;
}

// Pad and PadV2 (kV2: constant_values is host input 2).
template <bool kV2>
class PadOp : public OpKernel {
 public:
  explicit PadOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), paddings = ctx.input(1);
    if (!ctx.ok()) return;
    std::vector<int64_t> pads;
    if (!ReadPaddings(ctx, x, paddings, " ", &pads)) return;
    uint64_t value = 0;
    if (kV2) {
      Tensor c = ctx.input(2);
      if (!ctx.ok()) return;
      if (c.dims() != 0)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "constant_values must be a scalar. Found: " + ShapeString(c.shape()));
      std::memcpy(&value, c.host_data<char>(), DtypeSize(dtype_));
    }
    const Shape in = x.shape();
    Shape out(in.size());
    bool identity = true;
    for (size_t d = 0; d < in.size(); ++d) {
      const int64_t b = pads[2 * d], a = pads[2 * d + 1];
      if (b < 0 || a < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Paddings must be non-negative: " + Str(b) + " " + Str(a));
      out[d] = b + in[d] + a;
      identity = identity && b == 0 && a == 0;
    }
    if (identity) return ctx.set_output(0, x);
    if (!CheckSize(ctx, in) || !CheckSize(ctx, out)) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    RecordPad(ctx, "pad_b" + Str(DtypeSize(dtype_) * 8), x.address(), y.address(), in, out, pads,
              kConstant, value, n);
  }

 private:
  TF_DataType dtype_;
};

class MirrorPadOp : public OpKernel {
 public:
  explicit MirrorPadOp(OpConstruction& c) : dtype_(c.GetType("T")), mode_(ParseMode(c)) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), paddings = ctx.input(1);
    if (!ctx.ok()) return;
    std::vector<int64_t> pads;
    if (!ReadPaddings(ctx, x, paddings, ", ", &pads)) return;
    const Shape in = x.shape();
    Shape out(in.size());
    for (size_t d = 0; d < in.size(); ++d) {
      const int64_t b = pads[2 * d], a = pads[2 * d + 1], size = in[d];
      if (b < 0 || a < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "paddings must be non-negative: " + Str(b) + " " + Str(a));
      if (mode_ == kSymmetric && (b > size || a > size))
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "paddings must be no greater than the dimension size: " + Str(b) + ", " +
                            Str(a) + " greater than " + Str(size));
      if (mode_ == kReflect && (b >= size || a >= size))
        return ctx.Fail(TF_INVALID_ARGUMENT, "paddings must be less than the dimension size: " +
                                                 Str(b) + ", " + Str(a) + " not less than " +
                                                 Str(size));
      out[d] = b + size + a;
    }
    // Equal sizes: nothing is padded (or the tensor is empty).
    if (out == in) return ctx.set_output(0, x);
    if (!CheckSize(ctx, in) || !CheckSize(ctx, out)) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    RecordPad(ctx, "pad_b" + Str(DtypeSize(dtype_) * 8), x.address(), y.address(), in, out, pads,
              mode_, 0, n);
  }

 private:
  TF_DataType dtype_;
  Mode mode_;
};

class MirrorPadGradOp : public OpKernel {
 public:
  explicit MirrorPadGradOp(OpConstruction& c) : dtype_(c.GetType("T")), mode_(ParseMode(c)) {}
  void Compute(OpContext& ctx) override {
    Tensor dy = ctx.input(0), paddings = ctx.input(1);
    if (!ctx.ok()) return;
    std::vector<int64_t> pads;
    if (!ReadPaddings(ctx, dy, paddings, " ", &pads)) return;
    const Shape padded = dy.shape();
    Shape out(padded.size());
    for (size_t d = 0; d < padded.size(); ++d) {
      const int64_t b = pads[2 * d], a = pads[2 * d + 1];
      if (b < 0 || a < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Paddings must be non-negative: " + Str(b) + ", " + Str(a));
      const int64_t size = padded[d] - (b + a);
      if (size < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Total paddings must be less than the input dimension size: " +
                            Str(b + a) + " was not less than " + Str(padded[d]));
      if (mode_ == kSymmetric && (b > size || a > size))
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "paddings must be no greater than the output dimension size: " + Str(b) +
                            ", " + Str(a) + " greater than " + Str(size));
      if (mode_ == kReflect && (b >= size || a >= size))
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "paddings must be less than the output dimension size: " + Str(b) + ", " +
                            Str(a) + " not less than " + Str(size));
      out[d] = size;
    }
    if (out == padded) return ctx.set_output(0, dy);
    if (!CheckSize(ctx, padded)) return;
    Tensor dx = ctx.allocate_output(0, out, dtype_);
    const int64_t n = NumElements(out);
    if (!ctx.ok() || n == 0) return;
    RecordPad(ctx, std::string("mirror_pad_grad_") + SumToken(dtype_), dy.address(), dx.address(),
              out, padded, pads, mode_, 0, n);
  }

 private:
  TF_DataType dtype_;
  Mode mode_;
};

}  // namespace

void RegisterPadKernels() {
  for (TF_DataType p : {TF_INT32, TF_INT64}) {
    for (TF_DataType t : kTypes) {
      RegisterKernel<PadOp<false>>("Pad", {{"T", t}, {"Tpaddings", p}}, {"paddings"});
      RegisterKernel<PadOp<true>>("PadV2", {{"T", t}, {"Tpaddings", p}},
                                  {"paddings", "constant_values"});
      RegisterKernel<MirrorPadOp>("MirrorPad", {{"T", t}, {"Tpaddings", p}}, {"paddings"});
    }
    for (TF_DataType t : kGradTypes)
      RegisterKernel<MirrorPadGradOp>("MirrorPadGrad", {{"T", t}, {"Tpaddings", p}},
                                      {"paddings"});
  }
}

}  // namespace tfmp
