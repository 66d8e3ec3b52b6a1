// Reductions over any set of axes: Sum, Mean, Prod, Max, Min, All, Any;
// _TfmpFusedReduction (Sum / Mean of a product); and ArgMax/ArgMin along one axis. Shaders: shaders/reduce.comp
// ("reduce_<op>_<in>_to_<out>"), shaders/argmax.comp ("argmax_<dtype>_<index>").
#include "kernels/reduction.h"

#include <algorithm>

#include "kernels/reduce_plan.h"

namespace tfmp {
namespace {

constexpr int kMaxGroups = kReduceMaxGroups;

// Elements of one output that one workgroup reduces in one pass of the
// generic layout (256 per invocation): longer reductions take a second pass.
constexpr uint32_t kChunk = 256 * 256;

TF_DataType AccumulatorType(TF_DataType t) { return t == TF_HALF ? TF_FLOAT : t; }

// reduce_<op>_[<prologue>_]<in>_to_<out>.
std::string ReduceKernel(const char* op, TF_DataType in, TF_DataType out,
                         const ReducePrologue* pro = nullptr) {
  return std::string("reduce_") + op + "_" + (pro ? std::string(pro->op) + "_" : "") +
         DtypeToken(in) + "_to_" + DtypeToken(out);
}

uint32_t Groups(int64_t jobs) { return static_cast<uint32_t>(std::min<int64_t>(jobs, 65535)); }

// Parses a host vector of axes (int32 or int64) into a mask over `rank` dims.
bool AxesMask(OpContext& ctx, const Tensor& axes, int rank, std::vector<bool>* mask) {
  if (axes.dims() > 1) {
    ctx.Fail(TF_INVALID_ARGUMENT, "reduction_indices must be a scalar or a vector, got shape " +
                                      ShapeString(axes.shape()));
    return false;
  }
  mask->assign(rank, false);
  for (int64_t a : axes.host_ints()) {
    if (a < -rank || a >= rank) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Invalid reduction dimension (" + std::to_string(a) +
                                        " for input with " + std::to_string(rank) +
                                        " dimension(s)");
      return false;
    }
    (*mask)[(a + rank) % rank] = true;
  }
  return true;
}

// --- Sum, Mean, Prod, Max, Min, All, Any ---------------------------------------

// Output 0 = reduction `op` of x over `axes` (a host vector) in TF's shape
// (keep_dims), through `pro` if given.
void ReduceToOutput(OpContext& ctx, const Tensor& x, const Tensor& axes, bool keep_dims,
                    TF_DataType dtype, const char* op, bool mean,
                    const ReducePrologue* pro = nullptr) {
  const Shape in = x.shape();
  std::vector<bool> reduced;
  if (!AxesMask(ctx, axes, static_cast<int>(in.size()), &reduced)) return;
  Shape out;
  for (size_t d = 0; d < in.size(); ++d) {
    if (!reduced[d]) out.push_back(in[d]);
    else if (keep_dims) out.push_back(1);
  }
  if (!ctx.CheckElements(x.num_elements())) return;
  Tensor y = ctx.allocate_output(0, out, dtype);
  if (!ctx.ok() || NumElements(out) == 0) return;
  RecordReduction(ctx, op, mean, dtype, x.address(), in, reduced, y.address(), pro);
}

struct ReduceSpec {
  const char* op;
  const char* token;
  bool mean;
  bool bool_only;  // All/Any: bool, no "T" attribute
};

constexpr ReduceSpec kReductions[] = {
    {"Sum", "sum", false, false}, {"Mean", "sum", true, false},  {"Prod", "prod", false, false},
    {"Max", "max", false, false}, {"Min", "min", false, false},  {"All", "all", false, true},
    {"Any", "any", false, true},
};

template <size_t I>
class ReduceOp : public OpKernel {
 public:
  explicit ReduceOp(OpConstruction& c)
      : dtype_(kReductions[I].bool_only ? TF_BOOL : c.GetType("T")),
        keep_dims_(c.GetBool("keep_dims")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), axes = ctx.input(1);
    if (!ctx.ok()) return;
    ReduceToOutput(ctx, x, axes, keep_dims_, dtype_, kReductions[I].token, kReductions[I].mean);
  }

 private:
  TF_DataType dtype_;
  bool keep_dims_;
};

// --- _TfmpFusedReduction: Sum / Mean of Mul / SquaredDifference ----------------------
// The Grappler pass's fusion (grappler/patterns/reduce_prologue.cc) of a Sum
// or Mean whose input is a Mul or SquaredDifference that nothing else reads:
// one reduction reading both operands, no product tensor. x has the
// product's shape; y is x's shape, x's shape with the last dim 1 (a per-row
// value: LayerNorm's variance), or a vector along the last dim (a scale).

constexpr char kFusedReductionOp[] = "_TfmpFusedReduction";

void RegisterFusedReductionOp() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kFusedReductionOp);
  TF_OpDefinitionBuilderAddInput(b, "x: T");
  TF_OpDefinitionBuilderAddInput(b, "y: T");
  TF_OpDefinitionBuilderAddInput(b, "reduction_indices: Tidx");
  TF_OpDefinitionBuilderAddOutput(b, "output: T");
  TF_OpDefinitionBuilderAddAttr(b, "T: {half, float}");
  TF_OpDefinitionBuilderAddAttr(b, "Tidx: {int32, int64} = DT_INT32");
  TF_OpDefinitionBuilderAddAttr(b, "keep_dims: bool = false");
  TF_OpDefinitionBuilderAddAttr(b, "reduction: {'Sum', 'Mean'}");
  TF_OpDefinitionBuilderAddAttr(b, "prologue: {'Mul', 'SquaredDifference'}");
  RegisterOpDefinition(kFusedReductionOp, b);
}

// How y broadcasts to x's shape (ReducePrologue::b_len), or false. (With
// an empty last dim nothing is read: any b_len serves.)
bool PrologueBroadcast(const Shape& x, const Shape& y, int32_t* b_len) {
  if (y == x) return *b_len = 0, true;
  if (x.empty()) return false;
  const int64_t last = x.back();
  Shape rows = x;
  rows.back() = 1;
  if (y == rows) return *b_len = static_cast<int32_t>(last), true;
  if (y.empty() || y.size() > x.size() || y.back() != last) return false;
  for (size_t d = 0; d + 1 < y.size(); ++d)
    if (y[d] != 1) return false;
  return *b_len = -static_cast<int32_t>(last), true;
}

class FusedReductionOp : public OpKernel {
 public:
  explicit FusedReductionOp(OpConstruction& c)
      : dtype_(c.GetType("T")),
        keep_dims_(c.GetBool("keep_dims")),
        mean_(c.GetString("reduction") == "Mean"),
        pro_(c.GetString("prologue") == "Mul" ? "mul" : "sqdiff") {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), b = ctx.input(1), axes = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    ReducePrologue pro{pro_, b.address(), 0};
    if (!PrologueBroadcast(in, b.shape(), &pro.b_len)) {
      ctx.Fail(TF_INVALID_ARGUMENT, std::string(kFusedReductionOp) + ": y of shape " +
                                        ShapeString(b.shape()) + " does not broadcast to x's " +
                                        ShapeString(in) + " as this fusion allows");
      return;
    }
    ReduceToOutput(ctx, x, axes, keep_dims_, dtype_, "sum", mean_, &pro);
  }

 private:
  TF_DataType dtype_;
  bool keep_dims_, mean_;
  const char* pro_;
};

// --- ArgMax, ArgMin ---------------------------------------------------------------

struct ArgPush {
  uint64_t x, y;
  uint32_t n_out, axis, inner, per_thread;
};

template <bool kMin>
class ArgOp : public OpKernel {
 public:
  explicit ArgOp(OpConstruction& c)
      : dtype_(c.GetType("T")), out_(c.GetType("output_type")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), dim = ctx.input(1);
    if (!ctx.ok()) return;
    if (dim.num_elements() != 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "dim must be a scalar, but received tensor of shape: " +
                                        ShapeString(dim.shape()));
      return;
    }
    const int rank = x.dims();
    int64_t axis = dim.host_ints()[0];
    if (axis < -rank || axis >= rank) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Expected dimension in the range [" + std::to_string(-rank) +
                                        ", " + std::to_string(rank) + "), but got " +
                                        std::to_string(axis));
      return;
    }
    axis = (axis + rank) % rank;
    const Shape in = x.shape();
    if (in[axis] == 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Reduction axis " + std::to_string(axis) +
                                        " is empty in shape " + ShapeString(in));
      return;
    }
    Shape out;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < rank; ++d) {
      if (d != axis) out.push_back(in[d]);
      if (d < axis) outer *= in[d];
      if (d > axis) inner *= in[d];
    }
    if (!ctx.CheckElements(x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, out, out_);
    const int64_t n_out = outer * inner;
    if (!ctx.ok() || n_out == 0) return;
    ArgPush p{x.address(), y.address(), static_cast<uint32_t>(n_out),
              static_cast<uint32_t>(in[axis]), static_cast<uint32_t>(inner),
              in[axis] <= 64 ? 1u : 0u};
    const std::string kernel = std::string(kMin ? "argmin_" : "argmax_") + DtypeToken(dtype_) +
                               "_" + DtypeToken(out_);
    ctx.Dispatch(kernel, p, p.per_thread ? OpContext::GridFor(n_out) : Groups(n_out));
  }

 private:
  TF_DataType dtype_, out_;
};

template <template <size_t> class K, size_t... I>
void RegisterReductions(std::index_sequence<I...>) {
  auto one = [](const ReduceSpec& spec, auto tag) {
    using Kernel = typename decltype(tag)::type;
    for (TF_DataType idx : {TF_INT32, TF_INT64}) {
      if (spec.bool_only) {
        RegisterKernel<Kernel>(spec.op, {{"Tidx", idx}}, {"reduction_indices"});
        continue;
      }
      for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64})
        RegisterKernel<Kernel>(spec.op, {{"T", t}, {"Tidx", idx}}, {"reduction_indices"});
    }
  };
  (one(kReductions[I], std::common_type<K<I>>{}), ...);
}

// Records the rows (inner == 1: x is [outer, len]) or columns (x is [outer,
// len, inner]) passes of a reduction: the first from x, each further one from
// the previous one's partial results (accumulator type), the last into y.
// p carries mean and divisor.
// The first pass applies `pro` (if any).
void RecordPasses(OpContext& ctx, const char* op, TF_DataType dtype, uint64_t x, uint64_t y,
                  const ReducePush& base, int64_t outer, int64_t len, int64_t inner,
                  const ReducePrologue* pro) {
  const TF_DataType acc = AccumulatorType(dtype);
  TF_DataType in = dtype;
  std::vector<Tensor> temps;  // alive until every pass is recorded
  while (true) {
    ReducePush p{};
    p.mean = base.mean;
    p.divisor = base.divisor;
    p.x = x;
    // 4-vector loads where x (and a b of x's shape) are aligned.
    const uint64_t aligned = pro && pro->b_len == 0 ? x | pro->b : x;
    const uint32_t groups = inner == 1 ? PlanRowsPass(outer, len, aligned, DtypeSize(in), &p)
                                       : PlanColumnsPass(outer, len, inner, aligned, DtypeSize(in), &p);
    if (pro) p.b = pro->b, p.b_len = pro->b_len;
    if (p.chunks == 1) {
      p.y = y;
      ctx.Dispatch(ReduceKernel(op, in, dtype, pro), p, groups);
      return;
    }
    temps.push_back(ctx.allocate_temp({outer * inner * p.chunks}, acc));
    if (!ctx.ok()) return;
    p.y = temps.back().address();
    ctx.Dispatch(ReduceKernel(op, in, acc, pro), p, groups);
    pro = nullptr;
    // Rows: [outer, chunks]; columns: [chunks, outer * inner] = [1, chunks, outer * inner].
    x = p.y;
    in = acc;
    if (inner == 1) {
      len = p.chunks;
    } else {
      len = p.chunks;
      inner *= outer;
      outer = 1;
    }
  }
}

}  // namespace

void RecordReduction(OpContext& ctx, const char* op, bool mean, TF_DataType dtype, uint64_t x,
                     const Shape& in, const std::vector<bool>& reduced, uint64_t y,
                     const ReducePrologue* pro) {
  const int rank = static_cast<int>(in.size());
  const int64_t n_in = NumElements(in);
  int64_t n_out = 1;
  for (int d = 0; d < rank; ++d)
    if (!reduced[d]) n_out *= in[d];
  if (n_out == 0 || !ctx.CheckElements(n_in)) return;
  // Group adjacent dims of the same kind (kept / reduced), dropping size-1
  // dims; strides are those of the contiguous input.
  std::vector<int64_t> shape, stride, strides(rank);
  std::vector<bool> kind;
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) strides[d] = s, s *= in[d];
  for (int d = 0; d < rank; ++d) {
    if (in[d] == 1) continue;
    if (!kind.empty() && kind.back() == reduced[d]) {
      shape.back() *= in[d];
      stride.back() = strides[d];
    } else {
      shape.push_back(in[d]);
      stride.push_back(strides[d]);
      kind.push_back(reduced[d]);
    }
  }
  ReducePush p{};
  p.x = x;
  p.y = y;
  p.n_out = static_cast<uint32_t>(n_out);
  p.n_red = static_cast<uint32_t>(n_in / n_out);
  p.mean = mean ? 1 : 0;
  p.divisor = p.n_red;
  for (size_t g = 0; g < shape.size(); ++g) {
    uint32_t& r = kind[g] ? p.red_rank : p.kept_rank;
    if (r == kMaxGroups) {
      ctx.Fail(TF_UNIMPLEMENTED, "reducing axes that alternate with kept axes more than 3 times "
                                 "is not supported yet (input " + ShapeString(in) + ")");
      return;
    }
    (kind[g] ? p.rshape : p.kshape)[r] = static_cast<uint32_t>(shape[g]);
    (kind[g] ? p.rstride : p.kstride)[r] = static_cast<uint32_t>(stride[g]);
    ++r;
  }
  if (mean && p.n_red == 0 && (dtype == TF_INT32 || dtype == TF_INT64)) {
    // An integer mean of nothing is 0 (no division by zero on the device).
    ctx.stream()->Fill(y, 0, n_out * DtypeSize(dtype));
    return;
  }
  // The two common layouts: reduced dims innermost ([kept, reduced]: rows)
  // or kept dims innermost ([kept?, reduced, kept]: columns).
  const size_t groups = shape.size();
  if (groups <= 1 || (groups == 2 && kind[1])) {
    RecordPasses(ctx, op, dtype, x, y, p, n_out, p.n_red, 1, pro);
    return;
  }
  if ((groups == 2 && kind[0]) || (groups == 3 && kind[1])) {
    const int64_t inner = shape.back(), outer = groups == 3 ? shape[0] : 1;
    if (ColumnsSuit(inner)) {
      RecordPasses(ctx, op, dtype, x, y, p, outer, p.n_red, inner, pro);
      return;
    }
  }
  // Few reduced elements per output: one invocation each.
  if (pro) p.b = pro->b, p.b_len = pro->b_len;
  if (p.n_red <= 64) {
    p.mode = kReducePerOutput;
    p.chunks = 1;
    p.chunk_len = p.n_red;
    ctx.Dispatch(ReduceKernel(op, dtype, dtype, pro), p, OpContext::GridFor(n_out));
    return;
  }
  // Otherwise workgroups of 256 over chunks of the reduced range.
  p.chunks = (p.n_red + kChunk - 1) / kChunk;
  if (p.chunks == 1) {
    p.chunk_len = p.n_red;
    ctx.Dispatch(ReduceKernel(op, dtype, dtype, pro), p, Groups(n_out));
    return;
  }
  const TF_DataType acc = AccumulatorType(dtype);
  Tensor partial = ctx.allocate_temp({n_out * p.chunks}, acc);
  if (!ctx.ok()) return;
  p.chunk_len = kChunk;
  p.y = partial.address();
  ctx.Dispatch(ReduceKernel(op, dtype, acc, pro), p, Groups(n_out * p.chunks));
  // Second pass: partial is [n_out, chunks], at most kChunk chunks: one
  // chunk per output.
  ReducePush q{};
  q.x = partial.address();
  q.y = y;
  q.n_out = p.n_out;
  q.n_red = p.chunks;
  q.kept_rank = 1;
  q.kshape[0] = p.n_out;
  q.kstride[0] = p.chunks;
  q.red_rank = 1;
  q.rshape[0] = p.chunks;
  q.rstride[0] = 1;
  q.mean = p.mean;
  q.divisor = p.divisor;
  q.chunks = 1;
  q.chunk_len = p.chunks;
  ctx.Dispatch(ReduceKernel(op, acc, dtype), q, Groups(n_out));
}

void RegisterReductionKernels() {
  RegisterReductions<ReduceOp>(std::make_index_sequence<std::size(kReductions)>{});
  RegisterFusedReductionOp();
  for (TF_DataType t : {TF_FLOAT, TF_HALF})
    for (TF_DataType idx : {TF_INT32, TF_INT64})
      RegisterKernel<FusedReductionOp>(kFusedReductionOp, {{"T", t}, {"Tidx", idx}},
                                       {"reduction_indices"});
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64})
    for (TF_DataType idx : {TF_INT32, TF_INT64})
      for (TF_DataType out : {TF_INT32, TF_INT64}) {
        RegisterKernel<ArgOp<false>>("ArgMax", {{"T", t}, {"Tidx", idx}, {"output_type", out}},
                                     {"dimension"});
        RegisterKernel<ArgOp<true>>("ArgMin", {{"T", t}, {"Tidx", idx}, {"output_type", out}},
                                    {"dimension"});
      }
}

}  // namespace tfmp
