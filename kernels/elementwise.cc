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

struct OpSpec {
  const char* op;     // TF op name
  const char* token;  // shader op token
  DtypeSet dtypes;
  bool bool_result;   // the output is bool (comparisons, predicates)
};

constexpr OpSpec kUnaryOps[] = {
    {"Neg", "neg", kNumbers, false},         {"Abs", "abs", kNumbers, false},
    {"Square", "square", kNumbers, false},   {"Exp", "exp", kFloats, false},
    {"Log", "log", kFloats, false},          {"Sqrt", "sqrt", kFloats, false},
    {"Rsqrt", "rsqrt", kFloats, false},      {"Relu", "relu", kNumbers, false},
    {"Sigmoid", "sigmoid", kFloats, false},  {"Tanh", "tanh", kFloats, false},
    {"Reciprocal", "reciprocal", kFloats, false}, {"Inv", "reciprocal", kFloats, false},
    {"Floor", "floor", kFloats, false},      {"Ceil", "ceil", kFloats, false},
    {"Round", "round", kFloats, false},      {"Rint", "round", kFloat32, false},
    {"Sign", "sign", kNumbers, false},       {"Softplus", "softplus", kFloats, false},
    {"Elu", "elu", kFloats, false},          {"Erf", "erf", kFloats, false},
    {"Log1p", "log1p", kFloats, false},      {"Expm1", "expm1", kFloats, false},
    {"Sin", "sin", kFloats, false},          {"Cos", "cos", kFloats, false},
    {"IsNan", "isnan", kFloats, true},       {"IsInf", "isinf", kFloats, true},
    {"IsFinite", "isfinite", kFloats, true}, {"LogicalNot", "logical_not", kBoolOnly, true},
    // Keras' Gelu (tf.nn.gelu's 0.5 x erfc(-x / sqrt(2))): on the device so
    // that the Grappler pass can fuse it (grappler/patterns/activations.cc).
    {"Erfc", "erfc", kFloats, false},
};

constexpr OpSpec kBinaryOps[] = {
    {"Add", "add", kNumbers, false},
    {"AddV2", "add", kNumbers, false},
    {"Sub", "sub", kNumbers, false},
    {"Mul", "mul", kNumbers, false},
    {"RealDiv", "div", kFloats, false},
    {"Div", "div", kFloats, false},
    {"Maximum", "maximum", kNumbers, false},
    {"Minimum", "minimum", kNumbers, false},
    {"Pow", "pow", kFloats, false},
    {"DivNoNan", "div_no_nan", kFloats, false},
    {"FloorDiv", "floor_div", kFloats, false},
    {"FloorMod", "floor_mod", kFloats, false},
    {"FloorDiv", "floor_div_int", kInts, false},
    {"FloorMod", "floor_mod_int", kInts, false},
    {"SquaredDifference", "squared_difference", kNumbers, false},
    {"ReluGrad", "relu_grad", kNumbers, false},
    {"SigmoidGrad", "sigmoid_grad", kFloats, false},
    {"TanhGrad", "tanh_grad", kFloats, false},
    {"SqrtGrad", "sqrt_grad", kFloats, false},
    {"RsqrtGrad", "rsqrt_grad", kFloats, false},
    {"ReciprocalGrad", "reciprocal_grad", kFloats, false},
    {"InvGrad", "reciprocal_grad", kFloats, false},
    {"Equal", "equal", kNumbersAndBool, true},
    {"NotEqual", "not_equal", kNumbersAndBool, true},
    {"Less", "less", kNumbers, true},
    {"LessEqual", "less_equal", kNumbers, true},
    {"Greater", "greater", kNumbers, true},
    {"GreaterEqual", "greater_equal", kNumbers, true},
    {"LogicalAnd", "logical_and", kBoolOnly, true},
    {"LogicalOr", "logical_or", kBoolOnly, true},
    {"BitwiseAnd", "bitwise_and", kInts, false},
    {"BitwiseOr", "bitwise_or", kInts, false},
    {"BitwiseXor", "bitwise_xor", kInts, false},
};

// Ops whose only dtype is bool have no "T" attribute.
TF_DataType InputType(OpConstruction& c, const OpSpec& spec) {
  return spec.dtypes == kBoolOnly ? TF_BOOL : c.GetType("T");
}

// --- unary --------------------------------------------------------------------

struct UnaryPush {
  uint64_t x, y;
  uint32_t n;
};

template <size_t I>
class UnaryOp : public OpKernel {
 public:
  explicit UnaryOp(OpConstruction& c)
      : dtype_(InputType(c, kUnaryOps[I])),
        out_dtype_(kUnaryOps[I].bool_result ? TF_BOOL : dtype_),
        kernel_(std::string(kUnaryOps[I].token) + "_" + DtypeToken(dtype_)) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const int64_t n = x.num_elements();
    if (!ctx.CheckElements(n)) return;
    Tensor y = out_dtype_ == dtype_ ? ctx.forward_or_allocate_output(0, 0, x.shape(), dtype_)
                                    : ctx.allocate_output(0, x.shape(), out_dtype_);
    if (!ctx.ok() || n == 0) return;
    UnaryPush p{x.address(), y.address(), static_cast<uint32_t>(n)};
    ctx.Dispatch(kernel_, p,
                 OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_, out_dtype_;
  std::string kernel_;  // shader token, built once
};

// --- binary -------------------------------------------------------------------

constexpr int kMaxBroadcastDims = 6;

struct BinaryPush {
  uint64_t a, b, z;
  uint32_t n, rank;
  uint32_t shape[kMaxBroadcastDims];
  uint32_t a_stride[kMaxBroadcastDims];
  uint32_t b_stride[kMaxBroadcastDims];
};

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
        out_dtype_(kBinaryOps[I].bool_result ? TF_BOOL : dtype_),
        kernel_(std::string(kBinaryOps[I].token) + "_" + DtypeToken(dtype_)) {}
  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    Shape out_shape;
    BinaryPush p{};
    if (!Broadcast(ctx, a.shape(), b.shape(), &out_shape, &p)) return;
    const int64_t n = NumElements(out_shape);
    if (!ctx.CheckElements(n)) return;
    const int reuse = a.num_elements() == n ? 0 : 1;
    Tensor z = out_dtype_ == dtype_ ? ctx.forward_or_allocate_output(reuse, 0, out_shape, dtype_)
                                    : ctx.allocate_output(0, out_shape, out_dtype_);
    if (!ctx.ok() || n == 0) return;
    p.a = a.address();
    p.b = b.address();
    p.z = z.address();
    ctx.Dispatch(kernel_, p,
                 OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_, out_dtype_;
  std::string kernel_;  // shader token, built once
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
  ctx.Dispatch(std::string(op_token) + "_" + DtypeToken(dtype), p, OpContext::GridFor(n));
}

void RegisterElementwiseKernels() {
  RegisterTable<UnaryOp>(kUnaryOps, std::make_index_sequence<std::size(kUnaryOps)>{});
  RegisterTable<BinaryOp>(kBinaryOps, std::make_index_sequence<std::size(kBinaryOps)>{});
  for (TF_DataType t : Dtypes(kNumbers)) RegisterKernel<AddNOp>("AddN", {{"T", t}});
}

}  // namespace tfmp
