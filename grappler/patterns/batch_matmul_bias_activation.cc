// Batched and reshaped matmuls with a bias and an activation, family "matmul":
// - BatchMatMul / V2 / V3 + BiasAdd (or Add of a constant vector) +
//   activation -> one _TfmpFusedBatchMatMul (kernels/batch_matmul.cc: the
//   batched GEMM with _FusedMatMul's epilogue), and an activation after one
//   whose fused_ops are just [BiasAdd];
// - MatMul + Reshape + BiasAdd [+ activation], what Keras 3's Dense emits on
//   inputs of rank > 2 (tf.tensordot: Reshape to [B*T, C], MatMul, Reshape
//   back), where the Reshape keeps the last dimension -> Reshape of one
//   _FusedMatMul [BiasAdd, activation] (the Reshape is free: no dispatch).
#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

const std::vector<std::string> kBatchMatMul = {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"};
constexpr char kFusedOp[] = "_TfmpFusedBatchMatMul";

bool FusedBiasOnly(const NodeDef& n) {
  auto it = n.attr().find("fused_ops");
  if (it == n.attr().end()) return false;
  const auto& ops = it->second.list().s();
  return ops.size() == 1 && ops[0] == "BiasAdd" && GraphView::NumDataInputs(n) == 3;
}

// The element type of a (batch) matmul; 0 unless float32 / float16 throughout.
int MatMulType(const NodeDef& n) {
  if (n.op() != "BatchMatMulV3") return IsFloatOrHalf(n) ? AttrType(n, "T") : 0;
  const int t = AttrType(n, "Ta");
  if (t != tensorflow::DT_FLOAT && t != tensorflow::DT_HALF) return 0;
  return AttrType(n, "Tb") == t && AttrType(n, "Tout") == t ? t : 0;
}

bool CheckBatch(const Pattern& p, const Match& m, const GraphView& g) {
  const NodeDef* mm = m.node("matmul");
  if (MatMulType(*mm) == 0) return false;
  const NodeDef* bias = m.node("bias");
  if (bias == nullptr) return true;  // the fused form
  if (bias->op() == "BiasAdd") return AttrString(*bias, "data_format", "NHWC") == "NHWC";
  NodeDef unused;
  return !BiasOf(g, *bias, mm->name(), &unused).empty();
}

bool BuildBatch(const Pattern& p, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* mm = m.node("matmul");
  const NodeDef* bias = m.node("bias");
  NodeDef vector;
  const std::string bias_tensor = bias ? BiasOf(g, *bias, mm->name(), &vector) : mm->input(2);
  if (bias_tensor.empty()) return false;
  const auto t = static_cast<tensorflow::DataType>(MatMulType(*mm));
  fused->set_op(kFusedOp);
  fused->add_input(mm->input(0));
  fused->add_input(mm->input(1));
  fused->add_input(bias_tensor);
  auto& attr = *fused->mutable_attr();
  attr["T"].set_type(t);
  attr["TArgs"].mutable_list()->add_type(t);
  attr["adj_x"].set_b(AttrBool(*mm, "adj_x"));
  attr["adj_y"].set_b(AttrBool(*mm, "adj_y"));
  attr["num_args"].set_i(1);
  for (const std::string& op : FusedOps(p.param("activation")))
    attr["fused_ops"].mutable_list()->add_s(op);
  attr["epsilon"].set_f(1e-4f);
  attr["leakyrelu_alpha"].set_f(LeakyReluAlpha(m));
  if (!vector.name().empty() && g.node(vector.name()) == nullptr) *g.graph()->add_node() = vector;
  return true;
}

// MatMul -> Reshape -> BiasAdd: the Reshape must keep the last dim (N), so
// that the bias adds along the MatMul's columns.
bool CheckReshaped(const Pattern& p, const Match& m, const GraphView& g) {
  const NodeDef* mm = m.node("matmul");
  const NodeDef* bias = m.node("bias");
  if (!IsFloatOrHalf(*mm) || AttrString(*bias, "data_format", "NHWC") != "NHWC") return false;
  std::vector<int64_t> out, mm_shape, a;
  if (!g.StaticShape(m.node("reshape")->name(), &out) || out.empty() || out.back() <= 0) return false;
  if (g.StaticShape(mm->name(), &mm_shape) && mm_shape.size() == 2 && mm_shape[1] > 0)
    return mm_shape[1] == out.back();
  // N from the element count: the Reshape keeps it, M comes from `a`.
  if (!g.StaticShape(mm->input(0), &a) || a.size() != 2) return false;
  const int64_t rows = a[AttrBool(*mm, "transpose_a") ? 1 : 0];
  int64_t total = 1;
  for (int64_t d : out) total = d < 0 ? -1 : total * d;
  return rows > 0 && total >= 0 && total == rows * out.back();
}

bool BuildReshaped(const Pattern& p, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* mm = m.node("matmul");
  const NodeDef* reshape = m.node("reshape");
  const NodeDef* bias = m.node("bias");
  NodeDef matmul;
  matmul.set_name(fused->name() + "/tfmp_fused_matmul");
  if (g.node(matmul.name()) != nullptr) return false;
  matmul.set_device(fused->device());
  matmul.set_op("_FusedMatMul");
  matmul.add_input(mm->input(0));
  matmul.add_input(mm->input(1));
  matmul.add_input(bias->input(1));
  auto& attr = *matmul.mutable_attr();
  for (const char* a : {"T", "transpose_a", "transpose_b"})
    if (mm->attr().count(a)) attr[a] = mm->attr().at(a);
  attr["num_args"].set_i(1);
  for (const std::string& op : FusedOps(p.param("activation")))
    attr["fused_ops"].mutable_list()->add_s(op);
  attr["epsilon"].set_f(1e-4f);
  attr["leakyrelu_alpha"].set_f(LeakyReluAlpha(m));
  // The root becomes the Reshape (same name, same shape out).
  fused->set_op("Reshape");
  fused->add_input(matmul.name());
  fused->add_input(reshape->input(1));
  for (const char* a : {"T", "Tshape"})
    if (reshape->attr().count(a)) (*fused->mutable_attr())[a] = reshape->attr().at(a);
  *g.graph()->add_node() = matmul;
  return true;
}

}  // namespace

void AddBatchMatMulPatterns(std::vector<Pattern>* out) {
  const Pattern bias_add{"batch_matmul_bias",
                         "matmul",
                         {{"bias", {"BiasAdd"}, {"matmul", "b"}}, {"matmul", kBatchMatMul, {"x", "y"}}},
                         CheckBatch,
                         BuildBatch};
  const Pattern add_const{"batch_matmul_addconst",
                          "matmul",
                          {{"bias", {"Add", "AddV2"}, {"matmul", "b"}, true},
                           {"matmul", kBatchMatMul, {"x", "y"}}},
                          CheckBatch,
                          BuildBatch};
  const Pattern fused{"fused_batch_matmul",
                      "matmul",
                      {{"matmul", {kFusedOp}, {"x", "y", "b"}, false, FusedBiasOnly}},
                      CheckBatch,
                      BuildBatch};
  AddContractionPatterns({bias_add, add_const}, fused, out);
  const Pattern reshaped{"matmul_reshape_bias",
                         "matmul",
                         {{"bias", {"BiasAdd"}, {"reshape", "b"}},
                          {"reshape", {"Reshape"}, {"matmul", "shape"}},
                          {"matmul", {"MatMul"}, {"a", "w"}}},
                         CheckReshaped,
                         BuildReshaped};
  out->push_back(reshaped);
  for (const Activation& a : Activations()) out->push_back(WithActivation(reshaped, a));
}

}  // namespace grappler
}  // namespace tfmp
