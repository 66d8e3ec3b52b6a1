// Elementwise unary and binary ops with NumPy broadcasting.
// Shaders: shaders/unary.comp, shaders/binary.comp (variants: "<op>_<dtype>").
#include <algorithm>
#include <vector>

#include "kernels/elementwise.h"

namespace tfmp {
namespace {

// Dtype sets of the ops below (the shader table, shaders/variants.py, has
// the same sets).
enum DtypeSet { kNumbers, kFloats, kFloat32, kInts, kNumbersAndBool, kBoolOnly };

std::vector<TF_DataType> Dtypes(DtypeSet set) {
  switch (set) {
    case kNumbers: return {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64};
    case kFloats: return {TF_FLOAT, TF_HALF};
    case kFloat32: return {TF_FLOAT};  // as TF's kernels on every device
    case kInts: return {TF_INT32, TF_INT64};
    case kNumbersAndBool: return {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL};
    case kBoolOnly: return {TF_BOOL};
  }
  return {};
}

// What sets an op apart from plain y = f(x) / z = f(a, b).
enum OpFlags : unsigned {
  kPlain = 0,
  kBoolResult = 1,  // the output is bool (comparisons, predicates)
  kSameShape = 2,   // gradient ops and ApproximateEqual: TF requires equal shapes
};

struct OpSpec {
  const char* op;     // TF op name
  const char* token;  // shader op token
  DtypeSet dtypes;
  unsigned flags;
  const char* attr = nullptr;  // a float attribute pushed to the shader as ALPHA
};

constexpr OpSpec kUnaryOps[] = {
    {"Neg", "neg", kNumbers, kPlain},         {"Abs", "abs", kNumbers, kPlain},
    {"Square", "square", kNumbers, kPlain},   {"Exp", "exp", kFloats, kPlain},
    {"Log", "log", kFloats, kPlain},          {"Sqrt", "sqrt", kFloats, kPlain},
    {"Rsqrt", "rsqrt", kFloats, kPlain},      {"Relu", "relu", kNumbers, kPlain},
    {"Sigmoid", "sigmoid", kFloats, kPlain},  {"Tanh", "tanh", kFloats, kPlain},
    {"Reciprocal", "reciprocal", kFloats, kPlain}, {"Inv", "reciprocal", kFloats, kPlain},
    {"Floor", "floor", kFloats, kPlain},      {"Ceil", "ceil", kFloats, kPlain},
    {"Round", "round", kFloats, kPlain},      {"Rint", "round", kFloat32, kPlain},
    {"Sign", "sign", kNumbers, kPlain},       {"Softplus", "softplus", kFloats, kPlain},
    {"Elu", "elu", kFloats, kPlain},          {"Erf", "erf", kFloats, kPlain},
    {"Log1p", "log1p", kFloats, kPlain},      {"Expm1", "expm1", kFloats, kPlain},
    {"Sin", "sin", kFloats, kPlain},          {"Cos", "cos", kFloats, kPlain},
    {"Erfc", "erfc", kFloats, kPlain},        {"Relu6", "relu6", kNumbers, kPlain},
    {"Selu", "selu", kFloats, kPlain},        {"Softsign", "softsign", kFloats, kPlain},
    {"Tan", "tan", kFloats, kPlain},          {"Atan", "atan", kFloats, kPlain},
    {"Asin", "asin", kFloats, kPlain},        {"Acos", "acos", kFloats, kPlain},
    {"Sinh", "sinh", kFloats, kPlain},        {"Cosh", "cosh", kFloats, kPlain},
    {"Asinh", "asinh", kFloats, kPlain},      {"Acosh", "acosh", kFloats, kPlain},
    {"Atanh", "atanh", kFloats, kPlain},      {"Invert", "invert", kInts, kPlain},
    {"LeakyRelu", "leaky_relu", kFloats, kPlain, "alpha"},
    {"IsNan", "isnan", kFloats, kBoolResult},       {"IsInf", "isinf", kFloats, kBoolResult},
    {"IsFinite", "isfinite", kFloats, kBoolResult}, {"LogicalNot", "logical_not", kBoolOnly, kBoolResult},
};

constexpr OpSpec kBinaryOps[] = {
    {"Add", "add", kNumbers, kPlain},
    {"AddV2", "add", kNumbers, kPlain},
    {"Sub", "sub", kNumbers, kPlain},
    {"Mul", "mul", kNumbers, kPlain},
    {"RealDiv", "div", kFloats, kPlain},
    {"Div", "div", kFloats, kPlain},
    {"Maximum", "maximum", kNumbers, kPlain},
    {"Minimum", "minimum", kNumbers, kPlain},
    {"Pow", "pow", kFloats, kPlain},
    {"DivNoNan", "div_no_nan", kFloats, kPlain},
    {"FloorDiv", "floor_div", kFloats, kPlain},
    {"FloorMod", "floor_mod", kFloats, kPlain},
    {"FloorDiv", "floor_div_int", kInts, kPlain},
    {"FloorMod", "floor_mod_int", kInts, kPlain},
    {"TruncateDiv", "truncate_div", kInts, kPlain},
    {"TruncateMod", "truncate_mod", kInts, kPlain},
    {"TruncateMod", "truncate_mod_f", kFloats, kPlain},
    {"Mod", "truncate_mod", kInts, kPlain},
    {"Mod", "truncate_mod_f", kFloat32, kPlain},
    {"LeftShift", "left_shift", kInts, kPlain},
    {"RightShift", "right_shift", kInts, kPlain},
    {"SquaredDifference", "squared_difference", kNumbers, kPlain},
    {"Atan2", "atan2", kFloats, kPlain},
    {"Xlogy", "xlogy", kFloats, kPlain},
    {"Xlog1py", "xlog1py", kFloats, kPlain},
    {"Xdivy", "xdivy", kFloats, kPlain},
    {"ReluGrad", "relu_grad", kNumbers, kSameShape},
    {"Relu6Grad", "relu6_grad", kNumbers, kSameShape},
    {"LeakyReluGrad", "leaky_relu_grad", kFloats, kSameShape, "alpha"},
    {"EluGrad", "elu_grad", kFloats, kSameShape},
    {"SeluGrad", "selu_grad", kFloats, kSameShape},
    {"SoftplusGrad", "softplus_grad", kFloats, kSameShape},
    {"SoftsignGrad", "softsign_grad", kFloats, kSameShape},
    {"SigmoidGrad", "sigmoid_grad", kFloats, kSameShape},
    {"TanhGrad", "tanh_grad", kFloats, kSameShape},
    {"SqrtGrad", "sqrt_grad", kFloats, kSameShape},
    {"RsqrtGrad", "rsqrt_grad", kFloats, kSameShape},
    {"ReciprocalGrad", "reciprocal_grad", kFloats, kSameShape},
    {"InvGrad", "reciprocal_grad", kFloats, kSameShape},
    {"Equal", "equal", kNumbersAndBool, kBoolResult},
    {"NotEqual", "not_equal", kNumbersAndBool, kBoolResult},
    {"Less", "less", kNumbers, kBoolResult},
    {"LessEqual", "less_equal", kNumbers, kBoolResult},
    {"Greater", "greater", kNumbers, kBoolResult},
    {"GreaterEqual", "greater_equal", kNumbers, kBoolResult},
    {"ApproximateEqual", "approximate_equal", kFloats, kBoolResult | kSameShape, "tolerance"},
    {"LogicalAnd", "logical_and", kBoolOnly, kBoolResult},
    {"LogicalOr", "logical_or", kBoolOnly, kBoolResult},
    {"BitwiseAnd", "bitwise_and", kInts, kPlain},
    {"BitwiseOr", "bitwise_or", kInts, kPlain},
    {"BitwiseXor", "bitwise_xor", kInts, kPlain},
};

// Ops whose only dtype is bool have no "T" attribute.
TF_DataType InputType(OpConstruction& c, const OpSpec& spec) {
  return spec.dtypes == kBoolOnly ? TF_BOOL : c.GetType("T");
}

// --- unary --------------------------------------------------------------------

struct UnaryPush {
  uint64_t x, y;
  uint32_t n;
  float alpha;  // read only by shaders of ops with a float attribute
  uint32_t vec;  // 1: four elements per invocation, 2: eight (VectorGrid)
};

template <size_t I>
class UnaryOp : public OpKernel {
 public:
  explicit UnaryOp(OpConstruction& c)
      : dtype_(InputType(c, kUnaryOps[I])),
        out_dtype_(kUnaryOps[I].flags & kBoolResult ? TF_BOOL : dtype_),
        kernel_(std::string(kUnaryOps[I].token) + "_" + DtypeToken(dtype_)),
        alpha_(kUnaryOps[I].attr ? c.GetFloat(kUnaryOps[I].attr) : 0.0f) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (ctx.ok()) DispatchUnary(ctx, kernel_, x, out_dtype_, alpha_);
  }

 private:
  TF_DataType dtype_, out_dtype_;
  std::string kernel_;  // shader token, built once
  float alpha_;
};

// --- binary -------------------------------------------------------------------

constexpr int kMaxBroadcastDims = 6;

struct BinaryPush {
  uint64_t a, b, z;
  uint32_t n, rank;
  uint32_t shape[kMaxBroadcastDims];
  uint32_t a_stride[kMaxBroadcastDims];
  uint32_t b_stride[kMaxBroadcastDims];
  float alpha;  // read only by shaders of ops with a float attribute
  uint32_t vec;  // 1: four outputs per invocation, 2: eight (VectorGrid)
};

// The shaders' vector paths (push constant `vec`): 1: four elements per
// invocation (vector loads and stores); 2: eight, the float16 -> float16
// variants' words path (unary.comp / binary.comp PACK16). A scalar tail of
// n % 4 (n % 8) is taken by the first invocations.
uint32_t VectorGrid(int64_t n, uint32_t vec) {
  return OpContext::GridFor(vec == 2 ? (n + 7) / 8 : vec == 1 ? (n + 3) / 4 : n);
}
// True when every address in `addresses` is aligned to `width` elements of
// its bytes (0, an empty or unread operand, counts as aligned).
bool AlignedTo(uint32_t width, std::initializer_list<std::pair<uint64_t, size_t>> addresses) {
  for (const auto& a : addresses)
    if (a.first % (width * a.second) != 0) return false;
  return true;
}

// The widest vector path (`vec`: 2 eight, float16 -> float16 only; 1 four;
// 0 scalar) that every operand's alignment and `inner` (the innermost dim's
// length, which vectors must not cross; 0: flat data) allow.
uint32_t VectorMode(TF_DataType in, TF_DataType out, int64_t inner,
                    std::initializer_list<std::pair<uint64_t, size_t>> addresses) {
  auto fits = [&](uint32_t w) { return (inner == 0 || inner % w == 0) && AlignedTo(w, addresses); };
  return in == TF_HALF && out == TF_HALF && fits(8) ? 2 : fits(4) ? 1 : 0;
}

// NumPy broadcasting of a and b into `out`, with the dims collapsed as far as
// the strides allow so most cases need no index arithmetic at all.
bool Broadcast(OpContext& ctx, const Shape& a, const Shape& b, Shape* out, BinaryPush* p) {
  const size_t rank = std::max(a.size(), b.size());
  Shape pa(rank, 1), pb(rank, 1);
  std::copy(a.begin(), a.end(), pa.begin() + (rank - a.size()));
  std::copy(b.begin(), b.end(), pb.begin() + (rank - b.size()));
  out->assign(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    if (pa[d] == pb[d] || pb[d] == 1) {
      (*out)[d] = pa[d];
    } else if (pa[d] == 1) {
      (*out)[d] = pb[d];
    } else {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "Incompatible shapes: " + ShapeString(a) + " vs. " + ShapeString(b));
      return false;
    }
  }
  const int64_t n = NumElements(*out);
  p->n = static_cast<uint32_t>(n);
  const int64_t na = NumElements(a), nb = NumElements(b);
  if ((na == n || na == 1) && (nb == n || nb == 1)) {  // flat: same shape or scalar
    p->rank = 0;
    p->a_stride[0] = na == n ? 1 : 0;
    p->b_stride[0] = nb == n ? 1 : 0;
    return true;
  }
  // Contiguous strides of each operand, 0 along broadcast dims; dims of
  // size 1 dropped; then adjacent dims merged where both strides allow.
  std::vector<int64_t> shape, sa, sb;
  int64_t ra = 1, rb = 1;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
    if ((*out)[d] == 1) continue;
    shape.insert(shape.begin(), (*out)[d]);
    sa.insert(sa.begin(), pa[d] == 1 ? 0 : ra);
    sb.insert(sb.begin(), pb[d] == 1 ? 0 : rb);
    ra *= pa[d];
    rb *= pb[d];
  }
  for (size_t d = shape.size() - 1; d > 0; --d) {
    const size_t o = d - 1;  // merge dim o into dim d when contiguous
    if (sa[o] == sa[d] * shape[d] && sb[o] == sb[d] * shape[d]) {
      shape[d] *= shape[o];
      shape.erase(shape.begin() + o);
      sa.erase(sa.begin() + o);
      sb.erase(sb.begin() + o);
    }
  }
  if (shape.size() > kMaxBroadcastDims) {
    ctx.Fail(TF_UNIMPLEMENTED, "broadcasting " + ShapeString(a) + " with " + ShapeString(b) +
                                   " needs more than 6 dimensions");
    return false;
  }
  p->rank = static_cast<uint32_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    p->shape[d] = static_cast<uint32_t>(shape[d]);
    p->a_stride[d] = static_cast<uint32_t>(sa[d]);
    p->b_stride[d] = static_cast<uint32_t>(sb[d]);
  }
  return true;
}

template <size_t I>
class BinaryOp : public OpKernel {
 public:
  explicit BinaryOp(OpConstruction& c)
      : dtype_(InputType(c, kBinaryOps[I])),
        out_dtype_(kBinaryOps[I].flags & kBoolResult ? TF_BOOL : dtype_),
        kernel_(std::string(kBinaryOps[I].token) + "_" + DtypeToken(dtype_)),
        alpha_(kBinaryOps[I].attr ? c.GetFloat(kBinaryOps[I].attr) : 0.0f) {}
  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    if ((kBinaryOps[I].flags & kSameShape) && a.shape() != b.shape()) {
      const std::string op = kBinaryOps[I].op;
      ctx.Fail(TF_INVALID_ARGUMENT, "Inputs to operation " + op + " of type " + op +
                                        " must have the same size and shape.  Input 0: " +
                                        ShapeString(a.shape()) + " != input 1: " +
                                        ShapeString(b.shape()));
      return;
    }
    DispatchBroadcastBinary(ctx, kernel_, a, b, out_dtype_, alpha_);
  }

 private:
  TF_DataType dtype_, out_dtype_;
  std::string kernel_;  // shader token, built once
  float alpha_;
};

template <template <size_t> class K, size_t... I>
void RegisterTable(const OpSpec* table, std::index_sequence<I...>) {
  auto one = [](const OpSpec& spec, auto kernel_tag) {
    using Kernel = typename decltype(kernel_tag)::type;
    if (spec.dtypes == kBoolOnly) {
      RegisterKernel<Kernel>(spec.op, {});
      return;
    }
    for (TF_DataType t : Dtypes(spec.dtypes)) RegisterKernel<Kernel>(spec.op, {{"T", t}});
  };
  (one(table[I], std::common_type<K<I>>{}), ...);
}

// AddN: the sum of N same-shape tensors, as N - 1 accumulating adds.
class AddNOp : public OpKernel {
 public:
  explicit AddNOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override;

 private:
  TF_DataType dtype_;
};

}  // namespace

void AddNOp::Compute(OpContext& ctx) {
  const int n = ctx.num_inputs();
  Tensor first = ctx.input(0);
  if (!ctx.ok()) return;
  const Shape shape = first.shape();
  if (n == 1) {
    ctx.set_output(0, first);
    return;
  }
  std::vector<Tensor> inputs;
  for (int i = 1; i < n; ++i) {
    inputs.push_back(ctx.input(i));
    if (!ctx.ok()) return;
    if (inputs.back().shape() != shape) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Inputs to operation AddN must have the same size and shape.  "
                                    "Input 0: " + ShapeString(shape) + " != input " +
                                        std::to_string(i) + ": " +
                                        ShapeString(inputs.back().shape()));
      return;
    }
  }
  Tensor out = ctx.forward_or_allocate_output(0, 0, shape, dtype_);
  if (!ctx.ok()) return;
  uint64_t acc = first.address();
  for (const Tensor& t : inputs) {
    DispatchFlatBinary(ctx, "add", dtype_, acc, t.address(), out.address(), first.num_elements());
    acc = out.address();
  }
}

void DispatchUnary(OpContext& ctx, const std::string& kernel, const Tensor& x,
                   TF_DataType out_dtype, float alpha) {
  const int64_t n = x.num_elements();
  if (!ctx.CheckElements(n)) return;
  Tensor y = out_dtype == x.dtype() ? ctx.forward_or_allocate_output(0, 0, x.shape(), out_dtype)
                                    : ctx.allocate_output(0, x.shape(), out_dtype);
  if (!ctx.ok() || n == 0) return;
  const uint32_t vec = VectorMode(x.dtype(), out_dtype, 0,
                                 {{x.address(), DtypeSize(x.dtype())}, {y.address(), DtypeSize(out_dtype)}});
  UnaryPush p{x.address(), y.address(), static_cast<uint32_t>(n), alpha, vec};
  ctx.Dispatch(kernel, p, VectorGrid(n, vec));
}

void DispatchBroadcastBinary(OpContext& ctx, const std::string& kernel, const Tensor& a,
                             const Tensor& b, TF_DataType out_dtype, float alpha) {
  Shape out_shape;
  BinaryPush p{};
  if (!Broadcast(ctx, a.shape(), b.shape(), &out_shape, &p)) return;
  const int64_t n = NumElements(out_shape);
  if (!ctx.CheckElements(n)) return;
  const int reuse = a.num_elements() == n ? 0 : 1;
  Tensor z = out_dtype == a.dtype() ? ctx.forward_or_allocate_output(reuse, 0, out_shape, out_dtype)
                                    : ctx.allocate_output(0, out_shape, out_dtype);
  if (!ctx.ok() || n == 0) return;
  p.a = a.address();
  p.b = b.address();
  p.z = z.address();
  p.alpha = alpha;
  // Vectors of 4 (8: float16) when the innermost dim keeps them in one row
  // and every operand read along it (stride 1) is aligned; a broadcast one
  // is splat.
  const uint32_t last = p.rank == 0 ? 0 : p.rank - 1;
  const size_t in_size = DtypeSize(a.dtype());
  p.vec = VectorMode(a.dtype(), out_dtype, p.rank == 0 ? 0 : p.shape[last],
                     {{p.a_stride[last] ? p.a : 0, in_size}, {p.b_stride[last] ? p.b : 0, in_size},
                      {p.z, DtypeSize(out_dtype)}});
  ctx.Dispatch(kernel, p, VectorGrid(n, p.vec));
}

void DispatchFlatBinary(OpContext& ctx, const char* op_token, TF_DataType dtype, uint64_t a,
                        uint64_t b, uint64_t z, int64_t n) {
  if (n == 0 || !ctx.CheckElements(n)) return;
  BinaryPush p{};
  p.a = a;
  p.b = b;
  p.z = z;
  p.n = static_cast<uint32_t>(n);
  p.rank = 0;
  p.a_stride[0] = 1;
  p.b_stride[0] = 1;
  const size_t size = DtypeSize(dtype);
  p.vec = VectorMode(dtype, dtype, 0, {{a, size}, {b, size}, {z, size}});
  ctx.Dispatch(std::string(op_token) + "_" + DtypeToken(dtype), p, VectorGrid(n, p.vec));
}

void RegisterElementwiseKernels() {
  RegisterTable<UnaryOp>(kUnaryOps, std::make_index_sequence<std::size(kUnaryOps)>{});
  RegisterTable<BinaryOp>(kBinaryOps, std::make_index_sequence<std::size(kBinaryOps)>{});
  for (TF_DataType t : Dtypes(kNumbers)) RegisterKernel<AddNOp>("AddN", {{"T", t}});
}

}  // namespace tfmp
