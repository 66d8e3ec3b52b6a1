// _TfmpFusedElementwise: a chain of elementwise ops that the plugin's Grappler
// pass fused (grappler/patterns/elementwise_chain.cc), run as ONE dispatch of
// an interpreter shader (shaders/fused_elementwise.comp, variants
// "fused_elementwise_<dtype>").
//
// The op (registered here, with TF_NewOpDefinitionBuilder):
//   inputs: N * T (N <= 8), output: T, T in {float, half}
//   ops:    list(string)  one op token per instruction ("load", "const",
//           "round_f16", then shaders/variants.py's FUSED_UNARY/FUSED_BINARY)
//   args:   list(int)     three per instruction: dst, a, b (registers; for
//           "load" a is the input index, for "const" the index into consts)
//   consts: list(float)   constants, already values of T
//   fused_ops: list(string)  the TF ops it replaces (for the fusion report)
// The output has the NumPy broadcast shape of all inputs; a chain of
// elementwise ops with broadcasting computes exactly that, element by element.
//
// The program, its constants and each input's load mode (element i, element 0,
// or strided) are the shader's specialization constants: one pipeline per
// distinct program, compiled by the driver on first use with every opcode
// switch folded (no interpreter loop per element). Push constants carry the
// addresses and counts; only when an input broadcasts along some dimensions
// (needs strides) does a small parameter block (shape, strides: FusedParams,
// 216 bytes) go to a temporary device buffer on the stream (no host wait).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "tensorflow/c/ops.h"

namespace tfmp {
namespace {

constexpr int kMaxInputs = 8;
constexpr int kMaxDims = 6;
constexpr int kMaxProgram = 64;
constexpr int kMaxConsts = 16;
constexpr int kNumRegs = 16;

// Opcodes: the index in this list, the same order as FUSED_OPS in
// shaders/variants.py (tests/test_grappler_elementwise.py compares them).
const char* const kFusedOps[] = {
    "load", "const", "round_f16",
    // FUSED_UNARY
    "neg", "abs", "square", "exp", "log", "sqrt", "rsqrt", "relu", "sigmoid", "tanh",
    "reciprocal", "erf", "erfc", "softplus", "log1p", "expm1", "relu6", "elu", "selu",
    "softsign", "sign", "floor",
    // FUSED_BINARY
    "add", "sub", "mul", "div", "maximum", "minimum", "pow", "squared_difference", "div_no_nan",
    "relu_grad", "sigmoid_grad", "tanh_grad", "sqrt_grad", "rsqrt_grad", "reciprocal_grad",
};

constexpr uint32_t kFirstBinary = 25;  // "add"
// The parameter block, in 32-bit words (the shader's P_* offsets).
struct FusedParams {
  uint32_t shape[kMaxDims];
  uint32_t strides[kMaxInputs][kMaxDims];
};
static_assert(offsetof(FusedParams, strides) == 6 * 4, "P_STRIDES");

// Specialization constants (the shader's constant_ids).
constexpr int kSpecProgram = 3, kSpecConsts = kSpecProgram + kMaxProgram;
constexpr int kSpecCount = kSpecConsts + kMaxConsts;
// Load modes of an input (2 bits each in spec[2]).
constexpr uint32_t kLoadElement = 0, kLoadFirst = 1, kLoadStrided = 2;

struct FusedPush {
  uint64_t x[kMaxInputs];
  uint64_t z;
  uint64_t params;
  uint32_t n, rank, zero;
};
static_assert(sizeof(FusedPush) <= 128, "push constants");

class FusedElementwiseOp : public OpKernel {
 public:
  explicit FusedElementwiseOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    const std::vector<std::string> ops = c.GetStringList("ops");
    const std::vector<int64_t> args = c.GetIntList("args");
    consts_ = c.GetFloatList("consts");
    if (!c.ok()) return;
    kernel_ = std::string("fused_elementwise_") + DtypeToken(dtype_);
    auto bad = [&c](const std::string& why) {
      c.Fail(TF_INVALID_ARGUMENT, "_TfmpFusedElementwise: " + why);
    };
    if (ops.empty() || ops.size() > kMaxProgram) { bad("needs 1 to 64 instructions"); return; }
    if (args.size() != 3 * ops.size()) { bad("args must hold 3 values per instruction"); return; }
    if (consts_.size() > kMaxConsts) { bad("at most 16 constants"); return; }
    std::vector<bool> written(kNumRegs, false);
    for (size_t i = 0; i < ops.size(); ++i) {
      const auto* it = std::find_if(std::begin(kFusedOps), std::end(kFusedOps),
                                    [&](const char* o) { return ops[i] == o; });
      if (it == std::end(kFusedOps)) { bad("unknown op token '" + ops[i] + "'"); return; }
      const uint32_t code = static_cast<uint32_t>(it - std::begin(kFusedOps));
      const int64_t dst = args[3 * i], a = args[3 * i + 1], b = args[3 * i + 2];
      if (dst < 0 || dst >= kNumRegs) { bad("register out of range"); return; }
      if (code == 0) {
        if (a < 0 || a >= kMaxInputs) { bad("input index out of range"); return; }
        max_input_ = std::max<int>(max_input_, static_cast<int>(a));
      } else if (code == 1) {
        if (a < 0 || a >= static_cast<int64_t>(consts_.size())) { bad("constant index out of range"); return; }
      } else {
        // Operands are registers written before (unary ops read only a).
        if (a < 0 || a >= kNumRegs || !written[a] || b < 0 || b >= kNumRegs ||
            (code >= kFirstBinary && !written[b]))
          { bad("instruction " + std::to_string(i) + " reads an unwritten register"); return; }
      }
      written[dst] = true;
      program_.push_back(code | static_cast<uint32_t>(dst) << 8 | static_cast<uint32_t>(a) << 16 |
                         static_cast<uint32_t>(b) << 24);
      out_reg_ = static_cast<uint32_t>(dst);
    }
  }

  void Compute(OpContext& ctx) override;

 private:
  TF_DataType dtype_;
  std::string kernel_;
  std::vector<uint32_t> program_;
  std::vector<float> consts_;
  uint32_t out_reg_ = 0;
  int max_input_ = -1;
  // The shape and strides of a strided broadcast (the same every step).
  ParamCache params_;
};

void FusedElementwiseOp::Compute(OpContext& ctx) {
  const int num = ctx.num_inputs();
  if (num < 1 || num > kMaxInputs || max_input_ >= num) {
    ctx.Fail(TF_INVALID_ARGUMENT, "_TfmpFusedElementwise: the program reads input " +
                                      std::to_string(max_input_) + " of " + std::to_string(num));
    return;
  }
  std::vector<Tensor> in;
  std::vector<Shape> shapes;
  size_t rank = 0;
  for (int i = 0; i < num; ++i) {
    in.push_back(ctx.input(i));
    if (!ctx.ok()) return;
    shapes.push_back(in.back().shape());
    rank = std::max(rank, shapes.back().size());
  }
  // NumPy broadcasting of every input (binary.comp's approach, N operands).
  std::vector<Shape> padded(num, Shape(rank, 1));
  Shape out(rank, 1);
  for (int i = 0; i < num; ++i)
    std::copy(shapes[i].begin(), shapes[i].end(), padded[i].begin() + (rank - shapes[i].size()));
  for (size_t d = 0; d < rank; ++d) {
    for (int i = 0; i < num; ++i) {
      const int64_t v = padded[i][d];
      if (v == out[d] || v == 1) continue;
      if (out[d] == 1) {
        out[d] = v;
        continue;
      }
      std::string all;
      for (int j = 0; j < num; ++j) all += (j ? " vs. " : "") + ShapeString(shapes[j]);
      ctx.Fail(TF_INVALID_ARGUMENT, "Incompatible shapes: " + all);
      return;
    }
  }
  const int64_t n = NumElements(out);
  if (!ctx.CheckElements(n)) return;
  int forward = -1;  // an input of the output's size and type may give its buffer
  for (int i = 0; i < num && forward < 0; ++i)
    if (in[i].num_elements() == n) forward = i;
  Tensor z = forward >= 0 ? ctx.forward_or_allocate_output(forward, 0, out, dtype_)
                          : ctx.allocate_output(0, out, dtype_);
  if (!ctx.ok() || n == 0) return;

  FusedParams params{};
  FusedPush p{};
  std::vector<uint32_t> spec(kSpecCount, 0);
  spec[0] = static_cast<uint32_t>(program_.size());
  spec[1] = out_reg_;
  std::copy(program_.begin(), program_.end(), spec.begin() + kSpecProgram);
  for (size_t k = 0; k < consts_.size(); ++k) std::memcpy(&spec[kSpecConsts + k], &consts_[k], 4);
  bool flat = true;
  for (int i = 0; i < num; ++i) flat &= in[i].num_elements() == n || in[i].num_elements() == 1;
  if (flat) {
    p.rank = 0;
    for (int i = 0; i < num; ++i)
      spec[2] |= (in[i].num_elements() == n ? kLoadElement : kLoadFirst) << (2 * i);
  } else {
    // Contiguous strides per input, 0 along broadcast dims; output dims of
    // size 1 dropped; adjacent dims merged where every input allows.
    Shape dims;
    std::vector<std::vector<int64_t>> st(num);
    std::vector<int64_t> run(num, 1);
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      if (out[d] == 1) continue;
      dims.insert(dims.begin(), out[d]);
      for (int i = 0; i < num; ++i) {
        st[i].insert(st[i].begin(), padded[i][d] == 1 ? 0 : run[i]);
        run[i] *= padded[i][d];
      }
    }
    for (size_t d = dims.size() - 1; d > 0; --d) {
      const size_t o = d - 1;
      bool merge = true;
      for (int i = 0; i < num; ++i) merge &= st[i][o] == st[i][d] * dims[d];
      if (!merge) continue;
      dims[d] *= dims[o];
      dims.erase(dims.begin() + o);
      for (int i = 0; i < num; ++i) st[i].erase(st[i].begin() + o);
    }
    if (dims.size() > kMaxDims) {
      ctx.Fail(TF_UNIMPLEMENTED, "_TfmpFusedElementwise: broadcasting to " + ShapeString(out) +
                                     " needs more than 6 dimensions");
      return;
    }
    p.rank = static_cast<uint32_t>(dims.size());
    for (int i = 0; i < num; ++i) {
      // Element i (the output's own strides), element 0 (all strides 0), or strided.
      bool own = true, zero = true;
      int64_t run_out = 1;
      for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
        own &= st[i][d] == run_out;
        zero &= st[i][d] == 0;
        run_out *= dims[d];
      }
      spec[2] |= (own ? kLoadElement : zero ? kLoadFirst : kLoadStrided) << (2 * i);
    }
    for (size_t d = 0; d < dims.size(); ++d) {
      params.shape[d] = static_cast<uint32_t>(dims[d]);
      for (int i = 0; i < num; ++i) params.strides[i][d] = static_cast<uint32_t>(st[i][d]);
    }
  }
  p.params = 0;
  if (spec[2] & 0xAAAAu) {  // some input is strided: the shape and strides go to the device
    p.params = params_.Upload(ctx, &params, sizeof(FusedParams));
    if (!ctx.ok()) return;
  }
  for (int i = 0; i < kMaxInputs; ++i) p.x[i] = in[std::min(i, num - 1)].address();
  p.z = z.address();
  p.n = static_cast<uint32_t>(n);
  p.zero = 0;
  // The variant with the fewest program slots that holds the program.
  const size_t len = program_.size();
  const std::string kernel = kernel_ + (len <= 8 ? "_p8" : len <= 16 ? "_p16" : len <= 32 ? "_p32" : "");
  ctx.DispatchSpecialized(kernel, spec, p, OpContext::GridFor(n));
}

// The output's shape: the NumPy broadcast of every input's. A dimension that
// two or more inputs leave unknown (and none fixes) makes the shape unknown.
void BroadcastShapeFn(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  const int64_t num = TF_ShapeInferenceContextNumInputs(ctx);
  std::vector<TF_ShapeHandle*> in;
  std::vector<int64_t> ranks;
  int64_t rank = 0;
  bool known = true;
  auto cleanup = [&in]() {
    for (TF_ShapeHandle* h : in) TF_DeleteShapeHandle(h);
  };
  for (int64_t i = 0; i < num; ++i) {
    in.push_back(TF_NewShapeHandle());
    TF_ShapeInferenceContextGetInput(ctx, static_cast<int>(i), in.back(), status);
    if (TF_GetCode(status) != TF_OK) return cleanup();
    if (!TF_ShapeInferenceContextRankKnown(ctx, in.back())) {
      known = false;
      ranks.push_back(-1);
    } else {
      ranks.push_back(TF_ShapeInferenceContextRank(ctx, in.back()));
      rank = std::max(rank, ranks.back());
    }
  }
  TF_ShapeHandle* out = TF_ShapeInferenceContextScalar(ctx);
  for (int64_t d = 0; known && d < rank; ++d) {
    int fixed = -1, unknown = -1, one = -1, unknowns = 0;
    int64_t fixed_k = 0, unknown_k = 0, one_k = 0, fixed_v = 0;
    for (int64_t i = 0; i < num; ++i) {
      const int64_t k = d - (rank - ranks[i]);
      if (k < 0) continue;
      TF_DimensionHandle* dh = TF_NewDimensionHandle();
      TF_ShapeInferenceContextDim(ctx, in[i], k, dh);
      if (TF_DimensionHandleValueKnown(dh)) {
        const int64_t v = TF_DimensionHandleValue(dh);
        if (v != 1 && fixed >= 0 && v != fixed_v) {
          TF_SetStatus(status, TF_INVALID_ARGUMENT, "Incompatible shapes in _TfmpFusedElementwise");
          TF_DeleteDimensionHandle(dh);
          TF_DeleteShapeHandle(out);
          return cleanup();
        }
        if (v != 1 && fixed < 0) fixed = static_cast<int>(i), fixed_k = k, fixed_v = v;
        if (v == 1) one = static_cast<int>(i), one_k = k;
      } else {
        ++unknowns;
        unknown = static_cast<int>(i), unknown_k = k;
      }
      TF_DeleteDimensionHandle(dh);
    }
    int src = fixed;
    int64_t src_k = fixed_k;
    if (src < 0 && unknowns == 1) src = unknown, src_k = unknown_k;
    if (src < 0 && unknowns == 0) src = one, src_k = one_k;
    if (src < 0) {
      known = false;
      break;
    }
    TF_ShapeHandle* piece = TF_NewShapeHandle();
    TF_ShapeInferenceContextSubshape(ctx, in[src], src_k, src_k + 1, piece, status);
    if (TF_GetCode(status) == TF_OK) {
      TF_ShapeHandle* joined = TF_NewShapeHandle();
      TF_ShapeInferenceContextConcatenateShapes(ctx, out, piece, joined, status);
      TF_DeleteShapeHandle(out);
      out = joined;
    }
    TF_DeleteShapeHandle(piece);
    if (TF_GetCode(status) != TF_OK) {
      TF_DeleteShapeHandle(out);
      return cleanup();
    }
  }
  if (known) TF_ShapeInferenceContextSetOutput(ctx, 0, out, status);
  else TF_ShapeInferenceContextSetUnknownShape(ctx, status);
  TF_DeleteShapeHandle(out);
  cleanup();
}

void RegisterFusedElementwiseOp() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder("_TfmpFusedElementwise");
  TF_OpDefinitionBuilderAddInput(b, "inputs: N * T");
  TF_OpDefinitionBuilderAddOutput(b, "output: T");
  TF_OpDefinitionBuilderAddAttr(b, "T: {float, half}");
  TF_OpDefinitionBuilderAddAttr(b, "N: int >= 1");
  TF_OpDefinitionBuilderAddAttr(b, "ops: list(string)");
  TF_OpDefinitionBuilderAddAttr(b, "args: list(int)");
  TF_OpDefinitionBuilderAddAttr(b, "consts: list(float) = []");
  TF_OpDefinitionBuilderAddAttr(b, "fused_ops: list(string) = []");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, BroadcastShapeFn);
  RegisterOpDefinition("_TfmpFusedElementwise", b);
}

}  // namespace

void RegisterFusedElementwiseKernels() {
  RegisterFusedElementwiseOp();
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) RegisterKernel<FusedElementwiseOp>("_TfmpFusedElementwise", {{"T", t}});
}

}  // namespace tfmp
