// MatMul (with transposes) + BiasAdd (or Add of a constant vector) +
// activation -> one _FusedMatMul dispatch (kernels/matmul.cc), and an
// activation after a _FusedMatMul whose fused_ops are just [BiasAdd].
#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"

namespace tfmp {
namespace grappler {
namespace {

bool FusedBiasOnly(const NodeDef& n) {
  auto it = n.attr().find("fused_ops");
  if (it == n.attr().end()) return false;
  const auto& ops = it->second.list().s();
  return ops.size() == 1 && ops[0] == "BiasAdd" && GraphView::NumDataInputs(n) == 3;
}

bool CheckMatMul(const Pattern& p, const Match& m, const GraphView& g) {
  const NodeDef* mm = m.node("matmul");
  if (!IsFloatOrHalf(*mm)) return false;
  const NodeDef* bias = m.node("bias");
  if (bias == nullptr || bias->op() == "BiasAdd") return true;
  NodeDef unused;
  return !BiasOf(g, *bias, mm->name(), &unused).empty();
}

bool BuildMatMul(const Pattern& p, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* mm = m.node("matmul");
  const NodeDef* bias = m.node("bias");
  NodeDef vector;
  const std::string bias_tensor = bias ? BiasOf(g, *bias, mm->name(), &vector) : mm->input(2);
  if (bias_tensor.empty()) return false;
  fused->set_op("_FusedMatMul");
  fused->add_input(mm->input(0));
  fused->add_input(mm->input(1));
  fused->add_input(bias_tensor);
  auto& attr = *fused->mutable_attr();
  for (const char* a : {"T", "transpose_a", "transpose_b"})
    if (mm->attr().count(a)) attr[a] = mm->attr().at(a);
  attr["num_args"].set_i(1);
  for (const std::string& op : FusedOps(p.param("activation")))
    attr["fused_ops"].mutable_list()->add_s(op);
  attr["epsilon"].set_f(1e-4f);
  attr["leakyrelu_alpha"].set_f(LeakyReluAlpha(m));
  if (!vector.name().empty() && g.node(vector.name()) == nullptr) *g.graph()->add_node() = vector;
  return true;
}

}  // namespace

void AddMatMulPatterns(std::vector<Pattern>* out) {
  const Pattern bias_add{"matmul_bias",
                         "matmul",
                         {{"bias", {"BiasAdd"}, {"matmul", "b"}}, {"matmul", {"MatMul"}, {"a", "w"}}},
                         CheckMatMul,
                         BuildMatMul};
  const Pattern add_const{"matmul_addconst",
                          "matmul",
                          {{"bias", {"Add", "AddV2"}, {"matmul", "b"}, true},
                           {"matmul", {"MatMul"}, {"a", "w"}}},
                          CheckMatMul,
                          BuildMatMul};
  const Pattern fused{"fused_matmul",
                      "matmul",
                      {{"matmul", {"_FusedMatMul"}, {"a", "w", "b"}, false, FusedBiasOnly}},
                      CheckMatMul,
                      BuildMatMul};
  AddContractionPatterns({bias_add, add_const}, fused, out);
}

}  // namespace grappler
}  // namespace tfmp
