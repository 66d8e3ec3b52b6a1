// Conv2D / DepthwiseConv2dNative + BiasAdd (or Add of a constant vector) +
// activation -> one _FusedConv2D / _FusedDepthwiseConv2dNative dispatch
// (kernels/conv.cc, kernels/depthwise_conv.cc), and an activation after a
// _FusedConv2D whose fused_ops are just [BiasAdd] (TF's remapper makes those,
// and so does this file when an activation's input had other readers).
#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"

namespace tfmp {
namespace grappler {
namespace {

const std::vector<std::string> kConvOps = {"Conv2D", "DepthwiseConv2dNative"};
const std::vector<std::string> kFusedConvOps = {"_FusedConv2D", "_FusedDepthwiseConv2dNative"};

bool FusedBiasOnly(const NodeDef& n) {
  auto it = n.attr().find("fused_ops");
  if (it == n.attr().end()) return false;
  const auto& ops = it->second.list().s();
  return ops.size() == 1 && ops[0] == "BiasAdd" && GraphView::NumDataInputs(n) == 3;
}

bool CheckConv(const Pattern& p, const Match& m, const GraphView& g) {
  const NodeDef* conv = m.node("conv");
  if (!IsFloatOrHalf(*conv)) return false;
  const std::string format = AttrString(*conv, "data_format", "NHWC");
  const bool depthwise = conv->op().find("Depthwise") != std::string::npos;
  // _FusedDepthwiseConv2dNative has no explicit_paddings.
  if (depthwise && AttrString(*conv, "padding") == "EXPLICIT") return false;
  if (AttrString(*conv, "filter_format", "HWIO") != "HWIO") return false;
  const NodeDef* bias = m.node("bias");
  if (bias == nullptr) return true;  // the _Fused form
  if (bias->op() == "BiasAdd") return AttrString(*bias, "data_format", "NHWC") == format;
  NodeDef unused;
  return format == "NHWC" && !BiasOf(g, *bias, conv->name(), &unused).empty();
}

bool BuildConv(const Pattern& p, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* conv = m.node("conv");
  const NodeDef* bias = m.node("bias");
  const bool depthwise = conv->op().find("Depthwise") != std::string::npos;
  std::string bias_tensor;
  NodeDef vector;
  if (bias != nullptr) {
    bias_tensor = BiasOf(g, *bias, conv->name(), &vector);
    if (bias_tensor.empty()) return false;
  } else {
    bias_tensor = conv->input(2);
  }
  fused->set_op(depthwise ? "_FusedDepthwiseConv2dNative" : "_FusedConv2D");
  fused->add_input(conv->input(0));
  fused->add_input(conv->input(1));
  fused->add_input(bias_tensor);
  auto& attr = *fused->mutable_attr();
  for (const char* a : {"T", "strides", "padding", "data_format", "dilations"})
    if (conv->attr().count(a)) attr[a] = conv->attr().at(a);
  if (!depthwise) {
    for (const char* a : {"explicit_paddings", "use_cudnn_on_gpu"})
      if (conv->attr().count(a)) attr[a] = conv->attr().at(a);
    attr["TArgs"].mutable_list()->add_type(conv->attr().at("T").type());
    attr["num_host_args"].set_i(0);
    attr["filter_format"].set_s("HWIO");
  }
  attr["num_args"].set_i(1);
  for (const std::string& op : FusedOps(p.param("activation")))
    attr["fused_ops"].mutable_list()->add_s(op);
  attr["epsilon"].set_f(conv->attr().count("epsilon") ? conv->attr().at("epsilon").f() : 1e-4f);
  attr["leakyrelu_alpha"].set_f(LeakyReluAlpha(m));
  if (!vector.name().empty() && g.node(vector.name()) == nullptr) *g.graph()->add_node() = vector;
  return true;
}

}  // namespace

void AddConvPatterns(std::vector<Pattern>* out) {
  const Pattern bias_add{"conv_bias",
                         "conv",
                         {{"bias", {"BiasAdd"}, {"conv", "b"}}, {"conv", kConvOps, {"in", "filter"}}},
                         CheckConv,
                         BuildConv};
  const Pattern add_const{"conv_addconst",
                          "conv",
                          {{"bias", {"Add", "AddV2"}, {"conv", "b"}, true},
                           {"conv", kConvOps, {"in", "filter"}}},
                          CheckConv,
                          BuildConv};
  const Pattern fused{"fused_conv",
                      "conv",
                      {{"conv", kFusedConvOps, {"in", "filter", "b"}, false, FusedBiasOnly}},
                      CheckConv,
                      BuildConv};
  AddContractionPatterns({bias_add, add_const}, fused, out);
}

}  // namespace grappler
}  // namespace tfmp
