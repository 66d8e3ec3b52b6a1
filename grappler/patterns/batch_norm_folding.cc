// An inference BatchNormalization folded into the contraction before it:
// Conv2D / DepthwiseConv2dNative / MatMul [+ BiasAdd] + BatchNorm
// [+ activation] -> one _FusedConv2D / _FusedDepthwiseConv2dNative /
// _FusedMatMul with fused_ops [BiasAdd,] FusedBatchNorm [, activation]
// (kernels/epilogue.h; the variables stay inputs, read at run time). Two
// forms of the BatchNorm:
// - FusedBatchNorm / V2 / V3 with is_training=False (tf_keras, tf.compat.v1,
//   tf.nn.fused_batch_norm; convolutions only: it takes 4-D inputs), and
//   the _FusedBatchNormEx (+ Relu, Relu6, Elu) TF's remapper makes of it.
//   (The plugin has no FusedBatchNorm kernel yet: TF places these on the
//   CPU, where the pass leaves them; the fold fires where they are placed on
//   the GPU, e.g. a GraphDef optimized with tfmp.optimize_graph_def.)
// - the arithmetic of tf.nn.batch_normalization, which Keras 3's
//   BatchNormalization emits in inference (it never emits FusedBatchNormV3):
//     inv = Rsqrt(variance + epsilon) * gamma
//     y = x * inv + (beta - mean * inv)
//   channels-last, float32, gamma and beta present (scale=True,
//   center=True, Keras' defaults), every vector of static shape [C] (or a
//   Reshape of one to [1, ..., 1, C], as Keras makes for an explicit axis).
// Training graphs are never folded: FusedBatchNorm with is_training=True is
// not matched, and a training step's batch statistics and gradients read the
// contraction's output, which the driver's safety rule then keeps.
#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

const std::vector<std::string> kConvOps = {"Conv2D", "DepthwiseConv2dNative"};
const std::vector<std::string> kFusedConvOps = {"_FusedConv2D", "_FusedDepthwiseConv2dNative"};
const std::vector<std::string> kAdd = {"AddV2", "Add"};
const std::vector<std::string> kMul = {"Mul"};
const std::vector<std::string> kBatchNorm = {"FusedBatchNorm", "FusedBatchNormV2",
                                             "FusedBatchNormV3"};

bool FusedBiasOnly(const NodeDef& n) {
  auto it = n.attr().find("fused_ops");
  if (it == n.attr().end()) return false;
  const auto& ops = it->second.list().s();
  return ops.size() == 1 && ops[0] == "BiasAdd" && GraphView::NumDataInputs(n) == 3;
}

bool IsInferenceBatchNorm(const NodeDef& n) {
  if (AttrBool(n, "is_training", true)) return false;
  return n.op() == "FusedBatchNorm" || AttrType(n, "U") == tensorflow::DT_FLOAT;
}

// TF's remapper makes FusedBatchNormV3 + Relu into _FusedBatchNormEx (an
// activation_mode, no side input here).
bool IsInferenceBatchNormEx(const NodeDef& n) {
  const std::string mode = AttrString(n, "activation_mode", "Identity");
  return IsInferenceBatchNorm(n) && n.attr().count("num_side_inputs") &&
         n.attr().at("num_side_inputs").i() == 0 &&
         (mode == "Identity" || mode == "Relu" || mode == "Relu6" || mode == "Elu");
}

bool IsScalarFloat(const NodeDef& n) {
  std::vector<float> v;
  std::vector<int64_t> shape;
  return ConstFloats(n, &v, &shape) && v.size() == 1 && shape.empty() &&
         n.attr().at("dtype").type() == tensorflow::DT_FLOAT;
}

// A contraction (root label "x_out" renamed by Compose) and how it is read.
struct Contraction {
  std::string name;  // "conv", "conv_bias", "fused_conv", ...
  std::string main;  // the conv / matmul label
  std::string out;   // the label whose output the BatchNorm reads
  std::vector<PatternNode> nodes;
};

std::vector<Contraction> Contractions(bool conv) {
  const std::string c = conv ? "conv" : "matmul";
  const std::vector<std::string> ops = conv ? kConvOps : std::vector<std::string>{"MatMul"};
  const std::vector<std::string> fused =
      conv ? kFusedConvOps : std::vector<std::string>{"_FusedMatMul"};
  const std::vector<std::string> ins =
      conv ? std::vector<std::string>{"in", "filter"} : std::vector<std::string>{"a", "w"};
  std::vector<std::string> fused_ins = ins;
  fused_ins.push_back("b");
  return {{c, c, c, {{c, ops, ins}}},
          {c + "_bias", c, "bias", {{"bias", {"BiasAdd"}, {c, "b"}}, {c, ops, ins}}},
          {"fused_" + c, c, c, {{c, fused, fused_ins, false, FusedBiasOnly}}}};
}

// The BatchNorm over the leaf "x"; its root first.
std::vector<PatternNode> FusedBatchNormNodes() {
  return {{"bn", kBatchNorm, {"x", "scale", "offset", "mean", "var"}, false, IsInferenceBatchNorm}};
}
std::vector<PatternNode> FusedBatchNormExNodes() {
  return {{"bn", {"_FusedBatchNormEx"}, {"x", "scale", "offset", "mean", "var"}, false,
           IsInferenceBatchNormEx}};
}
std::vector<PatternNode> ArithmeticBatchNormNodes(bool residual = false) {
  // A residual added after it (a ResNet / MobileNetV2 block's Add): TF's
  // arithmetic optimizer regroups (x * inv + shift) + r as shift + AddN(x * inv, r).
  if (residual)
    return {{"bn", kAdd, {"bn_shift", "bn_sum"}, true},
            {"bn_sum", {"AddN"}, {"bn_mul_x", "residual"}, true},
            {"bn_mul_x", kMul, {"x", "bn_inv"}, true},
            {"bn_inv", kMul, {"bn_rsqrt", "scale"}, true},
            {"bn_rsqrt", {"Rsqrt"}, {"bn_var_eps"}},
            {"bn_var_eps", kAdd, {"var", "bn_eps"}, true},
            {"bn_eps", {"Const"}, {}, false, IsScalarFloat},
            {"bn_shift", {"Sub"}, {"offset", "bn_mul_mean"}},
            {"bn_mul_mean", kMul, {"mean", "bn_inv"}, true}};
  return {{"bn", kAdd, {"bn_mul_x", "bn_shift"}, true},
          {"bn_mul_x", kMul, {"x", "bn_inv"}, true},
          {"bn_inv", kMul, {"bn_rsqrt", "scale"}, true},
          {"bn_rsqrt", {"Rsqrt"}, {"bn_var_eps"}},
          {"bn_var_eps", kAdd, {"var", "bn_eps"}, true},
          {"bn_eps", {"Const"}, {}, false, IsScalarFloat},
          {"bn_shift", {"Sub"}, {"offset", "bn_mul_mean"}},
          {"bn_mul_mean", kMul, {"mean", "bn_inv"}, true}};
}

// The [C] vector a BatchNorm leaf holds: the tensor itself when of static
// shape [C], or what a Reshape to [1, ..., 1, C] reads when that is [C]
// (Keras' BatchNormalization with an explicit axis, e.g. axis=3, reshapes its
// vectors so); "" otherwise.
std::string VectorOf(const GraphView& g, const std::string& tensor, int64_t c) {
  std::vector<int64_t> v;
  if (!g.StaticShape(tensor, &v) || v.empty() || v.back() != c) return "";
  if (v.size() == 1) return tensor;
  for (size_t i = 0; i + 1 < v.size(); ++i)
    if (v[i] != 1) return "";
  const NodeDef* r = g.producer(tensor);
  if (r == nullptr || r->op() != "Reshape" || ParseInput(tensor).port != 0) return "";
  return VectorOf(g, r->input(0), c) == r->input(0) ? r->input(0) : "";
}

// The channel count of an arithmetic BatchNorm's input (its last dim), or 0.
int64_t Channels(const Pattern& p, const Match& m, const GraphView& g) {
  std::vector<int64_t> x;
  if (!g.StaticShape(m.node(p.param("out"))->name(), &x) || x.empty() || x.back() <= 0) return 0;
  return x.back();
}

bool Check(const Pattern& p, const Match& m, const GraphView& g) {
  const NodeDef* main = m.node(p.param("main"));
  const NodeDef* bn = m.node("bn");
  const bool residual = p.param("form") == "residual";
  const bool arithmetic = p.param("form") == "arithmetic" || residual;
  const int t = AttrType(*main, "T");
  const bool depthwise = main->op().find("Depthwise") != std::string::npos;
  const bool is_conv = main->op().find("Conv") != std::string::npos;
  // The four vectors are float32: args of T only where T is float32
  // (_FusedDepthwiseConv2dNative's and _FusedMatMul's args are num_args * T).
  if (t != tensorflow::DT_FLOAT && !(t == tensorflow::DT_HALF && is_conv && !depthwise && !arithmetic))
    return false;
  if (AttrType(*bn, "T") != t || (residual && depthwise)) return false;
  if (is_conv) {
    if (AttrString(*main, "filter_format", "HWIO") != "HWIO") return false;
    if (depthwise && AttrString(*main, "padding") == "EXPLICIT") return false;
  }
  const std::string format = AttrString(*main, "data_format", "NHWC");
  const NodeDef* bias = m.node("bias");
  if (bias && AttrString(*bias, "data_format", "NHWC") != format) return false;
  if (!arithmetic) return AttrString(*bn, "data_format", "NHWC") == format;  // FusedBatchNorm*
  // tf.nn.batch_normalization broadcasts its vectors over the last dim: only
  // a per-channel affine when the contraction is channels-last and every
  // vector is [C] with C its channel count.
  if (format != "NHWC") return false;
  const int64_t c = Channels(p, m, g);
  for (const char* leaf : {"scale", "offset", "mean", "var"})
    if (c == 0 || VectorOf(g, m.leaf(leaf), c).empty()) return false;
  if (!residual) return true;
  // The residual: exactly the output's static shape (no broadcast).
  std::vector<int64_t> x, r;
  if (!g.StaticShape(m.node(p.param("out"))->name(), &x) || !g.StaticShape(m.leaf("residual"), &r))
    return false;
  for (int64_t d : x)
    if (d < 0) return false;
  return x == r;
}

bool Build(const Pattern& p, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* main = m.node(p.param("main"));
  const NodeDef* bn = m.node("bn");
  const NodeDef* bias = m.node("bias");
  const bool fused_bias = main->op()[0] == '_';
  const bool has_bias = bias != nullptr || fused_bias;
  const bool is_conv = main->op().find("Conv") != std::string::npos;
  const bool depthwise = main->op().find("Depthwise") != std::string::npos;
  const auto t = main->attr().at("T").type();
  fused->set_op(depthwise ? "_FusedDepthwiseConv2dNative" : is_conv ? "_FusedConv2D" : "_FusedMatMul");
  fused->add_input(main->input(0));
  fused->add_input(main->input(1));
  if (has_bias) fused->add_input(bias ? bias->input(1) : main->input(2));
  const bool residual = p.param("form") == "residual";
  const bool arithmetic = p.param("form") == "arithmetic" || residual;
  const int64_t c = arithmetic ? Channels(p, m, g) : 0;
  for (const char* leaf : {"scale", "offset", "mean", "var"}) {
    const std::string v = arithmetic ? VectorOf(g, m.leaf(leaf), c) : m.leaf(leaf);
    if (v.empty()) return false;
    fused->add_input(v);
  }
  if (residual) fused->add_input(m.leaf("residual"));
  auto& attr = *fused->mutable_attr();
  std::vector<const char*> copy = {"T", "transpose_a", "transpose_b"};
  if (is_conv) copy = {"T", "strides", "padding", "data_format", "dilations"};
  if (is_conv && !depthwise) copy.insert(copy.end(), {"explicit_paddings", "use_cudnn_on_gpu"});
  for (const char* a : copy)
    if (main->attr().count(a)) attr[a] = main->attr().at(a);
  if (is_conv && !depthwise) {
    auto* targs = attr["TArgs"].mutable_list();
    if (has_bias) targs->add_type(t);
    for (int i = 0; i < 4; ++i) targs->add_type(tensorflow::DT_FLOAT);
    if (residual) targs->add_type(t);
    attr["num_host_args"].set_i(0);
    attr["filter_format"].set_s("HWIO");
  }
  attr["num_args"].set_i(has_bias + 4 + residual);
  auto* ops = attr["fused_ops"].mutable_list();
  if (has_bias) ops->add_s("BiasAdd");
  ops->add_s("FusedBatchNorm");
  if (residual) ops->add_s("Add");
  std::string act = p.param("activation");
  if (bn->op() == "_FusedBatchNormEx" && AttrString(*bn, "activation_mode") != "Identity")
    act = AttrString(*bn, "activation_mode");
  if (!act.empty()) ops->add_s(act);
  float epsilon = 1e-4f;
  if (arithmetic) {
    std::vector<float> v;
    std::vector<int64_t> shape;
    if (!ConstFloats(*m.node("bn_eps"), &v, &shape) || v.size() != 1) return false;
    epsilon = v[0];
  } else {
    epsilon = AttrFloat(*bn, "epsilon", 1e-4f);
  }
  attr["epsilon"].set_f(epsilon);
  attr["leakyrelu_alpha"].set_f(LeakyReluAlpha(m));
  return true;
}

Pattern Compose(const Contraction& c, const std::vector<PatternNode>& bn, const std::string& form,
                bool conv) {
  Pattern p;
  p.name = c.name + (form == "arithmetic" ? "_batchnorm" : form == "residual" ? "_batchnorm_add"
                                                                               : "_" + form);
  p.family = conv ? "conv" : "matmul";
  p.nodes = bn;
  for (PatternNode& n : p.nodes)
    for (std::string& in : n.inputs)
      if (in == "x") in = c.out;
  p.nodes.insert(p.nodes.end(), c.nodes.begin(), c.nodes.end());
  p.check = Check;
  p.build = Build;
  p.params = {{"main", c.main}, {"out", c.out}, {"form", form}};
  return p;
}

}  // namespace

void AddBatchNormFoldingPatterns(std::vector<Pattern>* out) {
  for (bool conv : {true, false}) {
    for (const Contraction& c : Contractions(conv)) {
      std::vector<Pattern> base = {Compose(c, ArithmeticBatchNormNodes(), "arithmetic", conv)};
      if (conv) base.push_back(Compose(c, FusedBatchNormNodes(), "fusedbatchnorm", conv));
      // _FusedConv2D only: _FusedDepthwiseConv2dNative and _FusedMatMul take no Add.
      if (conv) base.push_back(Compose(c, ArithmeticBatchNormNodes(true), "residual", conv));
      for (const Pattern& b : base) {
        out->push_back(b);
        for (const Activation& a : Activations()) out->push_back(WithActivation(b, a));
      }
      if (conv) out->push_back(Compose(c, FusedBatchNormExNodes(), "fusedbatchnormex", conv));
    }
  }
}

}  // namespace grappler
}  // namespace tfmp
