// Backward graphs: Conv2DBackpropFilter(x, filter_sizes, dy) and
// BiasAddGrad(dy) of the same dy (a Conv2D + BiasAdd layer's gradients: Keras'
// Conv2D with a bias) -> one _TfmpConv2DBackpropFilterBiasGrad
// (kernels/conv.cc) whose filter-gradient dispatch also sums dy per channel:
// one pass over dy and one dispatch fewer.
//
// Two sinks that share an input, not one root's DAG: a GraphRewrite
// (pattern.h). The filter-gradient node becomes the fused node (its name and
// output 0 unchanged); the BiasAddGrad node becomes an Identity of the fused
// node's output 1 (its name kept, so every reader and fetch stays valid; an
// Identity dispatches nothing) with its control inputs also on the fused
// node. Both nodes on the same plugin GPU, same T (float or half) and data
// format. Family "conv"; switch name "conv_bias_grad".
#include <map>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kFusedOp[] = "_TfmpConv2DBackpropFilterBiasGrad";

// "name:0" and "name" are the same tensor.
std::string Canonical(const std::string& input) {
  const TensorRef r = ParseInput(input);
  return TensorName(r.node, r.port);
}

void RunConvBiasGrad(GraphView& g, const std::set<std::string>& preserve,
                     std::vector<RewriteResult>* done) {
  (void)preserve;  // both names stay, with the same values on their outputs
  GraphDef* graph = g.graph();
  // Filter gradients by their dy tensor (the first of each, if several).
  std::map<std::string, std::string> filter_grad_of;
  for (const NodeDef& n : graph->node())
    if (n.op() == "Conv2DBackpropFilter" && OnPluginGpu(n.device()) && IsFloatOrHalf(n) &&
        GraphView::NumDataInputs(n) == 3)
      filter_grad_of.emplace(Canonical(n.input(2)), n.name());
  bool changed = false;
  for (int i = 0; i < graph->node_size(); ++i) {
    NodeDef* bias_grad = graph->mutable_node(i);
    if (bias_grad->op() != "BiasAddGrad" || !OnPluginGpu(bias_grad->device()) ||
        GraphView::NumDataInputs(*bias_grad) != 1)
      continue;
    auto it = filter_grad_of.find(Canonical(bias_grad->input(0)));
    if (it == filter_grad_of.end()) continue;
    NodeDef* filter_grad = g.node(it->second);
    if (filter_grad == nullptr || filter_grad->op() != "Conv2DBackpropFilter" ||
        filter_grad->device() != bias_grad->device() ||
        AttrType(*filter_grad, "T") != AttrType(*bias_grad, "T") ||
        AttrString(*filter_grad, "data_format", "NHWC") !=
            AttrString(*bias_grad, "data_format", "NHWC"))
      continue;
    filter_grad_of.erase(it);
    filter_grad->set_op(kFusedOp);  // same inputs and attributes, one more output
    // The bias gradient's control inputs now gate the fused node as well.
    std::vector<std::string> controls;
    for (int k = GraphView::NumDataInputs(*bias_grad); k < bias_grad->input_size(); ++k)
      controls.push_back(bias_grad->input(k));
    for (const std::string& c : controls) {
      bool have = false;
      for (const std::string& in : filter_grad->input()) have |= in == c;
      if (!have) filter_grad->add_input(c);
    }
    const std::string fused_name = filter_grad->name();
    bias_grad->set_op("Identity");
    bias_grad->clear_input();
    bias_grad->add_input(TensorName(fused_name, 1));
    for (const std::string& c : controls) bias_grad->add_input(c);
    const tensorflow::AttrValue t = bias_grad->attr().at("T");
    bias_grad->clear_attr();
    (*bias_grad->mutable_attr())["T"] = t;
    done->push_back({fused_name, kFusedOp, "conv_bias_grad", {"Conv2DBackpropFilter", "BiasAddGrad"}});
    changed = true;
  }
  if (changed) g.Rebuild();
}

}  // namespace

void AddConvRewrites(std::vector<GraphRewrite>* out) {
  out->push_back({"conv_bias_grad", "conv", RunConvBiasGrad});
}

}  // namespace grappler
}  // namespace tfmp
