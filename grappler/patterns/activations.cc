// The activations a contraction's epilogue can absorb, as sub-patterns with
// input leaf "x". Single ops, plus the subgraphs Keras 3 / tf.nn emit for
// Gelu (erf and tanh forms) and Swish/SiLU. fused_op is the name used in
// fused_ops; the kernels' epilogue (kernels/epilogue.h) knows each one.
#include "grappler/pattern.h"

namespace tfmp {
namespace grappler {
namespace {

bool IsHalf(const NodeDef& n) { return IsScalarConst(n, 0.5f); }
bool IsOne(const NodeDef& n) { return IsScalarConst(n, 1.0f); }
bool IsThree(const NodeDef& n) { return IsScalarConst(n, 3.0f); }
bool IsRsqrt2(const NodeDef& n) { return IsScalarConst(n, 0.70710678f); }
bool IsMinusRsqrt2(const NodeDef& n) { return IsScalarConst(n, -0.70710678f); }
bool IsSqrt2(const NodeDef& n) { return IsScalarConst(n, 1.41421356f); }
bool IsSqrt2OverPi(const NodeDef& n) { return IsScalarConst(n, 0.7978845608f); }
bool IsGeluCubic(const NodeDef& n) { return IsScalarConst(n, 0.044715f); }

const std::vector<std::string> kMul = {"Mul"};
const std::vector<std::string> kAdd = {"AddV2", "Add"};
const std::vector<std::string> kConst = {"Const"};

Activation Single(const char* name, const char* op) { return {name, op, {{"act", {op}, {"x"}}}}; }

std::vector<Activation> Make() {
  std::vector<Activation> a = {
      Single("relu", "Relu"),       Single("relu6", "Relu6"),     Single("elu", "Elu"),
      Single("leaky_relu", "LeakyRelu"), Single("sigmoid", "Sigmoid"), Single("tanh", "Tanh"),
  };
  // Gelu = 0.5 * x * F(x). tf.nn.gelu writes (0.5 * x) * F; TF's arithmetic
  // optimizer reassociates it to (0.5 * F) * x: both shapes, same name.
  auto gelu = [&a](const char* name, const char* fused_op, std::vector<PatternNode> f) {
    std::vector<PatternNode> as_written = {{"act", kMul, {"act_half_x", "act_f"}, true},
                                           {"act_half_x", kMul, {"act_half", "x"}, true},
                                           {"act_half", kConst, {}, false, IsHalf}};
    std::vector<PatternNode> reassociated = {{"act", kMul, {"act_half_f", "x"}, true},
                                             {"act_half_f", kMul, {"act_half", "act_f"}, true},
                                             {"act_half", kConst, {}, false, IsHalf}};
    as_written.insert(as_written.end(), f.begin(), f.end());
    reassociated.insert(reassociated.end(), f.begin(), f.end());
    a.push_back({name, fused_op, reassociated});
    a.push_back({name, fused_op, as_written});
  };
  // tf.nn.gelu(approximate=False) in TF 2.21: F = erfc(-x * 1/sqrt(2)).
  gelu("gelu_erf", "GeluExact",
       {{"act_f", {"Erfc"}, {"act_arg"}},
        {"act_arg", kMul, {"act_neg", "act_rsqrt2"}, true},
        {"act_neg", {"Neg"}, {"x"}},
        {"act_rsqrt2", kConst, {}, false, IsRsqrt2}});
  // ... with Neg folded into the constant: erfc(x * -1/sqrt(2)).
  gelu("gelu_erf", "GeluExact",
       {{"act_f", {"Erfc"}, {"act_arg"}},
        {"act_arg", kMul, {"x", "act_mrsqrt2"}, true},
        {"act_mrsqrt2", kConst, {}, false, IsMinusRsqrt2}});
  // Older TF / hand-written: F = 1 + erf(x / sqrt(2)).
  gelu("gelu_erf", "GeluExact",
       {{"act_f", kAdd, {"act_one", "act_erf"}, true},
        {"act_one", kConst, {}, false, IsOne},
        {"act_erf", {"Erf"}, {"act_arg"}},
        {"act_arg", {"RealDiv"}, {"x", "act_sqrt2"}},
        {"act_sqrt2", kConst, {}, false, IsSqrt2}});
  // tf.nn.gelu(approximate=True): F = 1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)).
  gelu("gelu_tanh", "GeluApproximate",
       {{"act_f", kAdd, {"act_one", "act_tanh"}, true},
        {"act_one", kConst, {}, false, IsOne},
        {"act_tanh", {"Tanh"}, {"act_inner"}},
        {"act_inner", kMul, {"act_c", "act_sum"}, true},
        {"act_c", kConst, {}, false, IsSqrt2OverPi},
        {"act_sum", kAdd, {"x", "act_cubic"}, true},
        {"act_cubic", kMul, {"act_k", "act_pow"}, true},
        {"act_k", kConst, {}, false, IsGeluCubic},
        {"act_pow", {"Pow"}, {"x", "act_three"}},
        {"act_three", kConst, {}, false, IsThree}});
  // Swish / SiLU: x * sigmoid(x), and tf.nn.silu's x * sigmoid(1.0 * x).
  a.push_back({"swish", "Swish",
               {{"act", kMul, {"x", "act_sigmoid"}, true}, {"act_sigmoid", {"Sigmoid"}, {"x"}}}});
  a.push_back({"swish",
               "Swish",
               {{"act", kMul, {"x", "act_sigmoid"}, true},
                {"act_sigmoid", {"Sigmoid"}, {"act_bx"}},
                {"act_bx", kMul, {"act_beta", "x"}, true},
                {"act_beta", kConst, {}, false, IsOne}}});
  return a;
}

}  // namespace

const std::vector<Activation>& Activations() {
  static const std::vector<Activation>* all = new std::vector<Activation>(Make());
  return *all;
}

}  // namespace grappler
}  // namespace tfmp
