// A Dense layer's backward graph: dW = MatMul(x, dy, transpose_a=true) and
// db = BiasAddGrad(dy) both read dy; -> one _TfmpMatMulBiasGrad(x, dy)
// (kernels/matmul.cc) whose outputs are dW and db, one dispatch instead of
// two: the GEMM's first row of workgroups sums the dy tiles it loads anyway.
//
// A graph rewrite (pattern.h), not a single-root pattern: the two sinks share
// only their input. The fused node takes the MatMul's name (output 0 stays
// dW); the BiasAddGrad's readers move to output 1 and the node goes, or
// becomes an Identity of output 1 when TF preserves it (a fetch). Family
// "matmul", switch "matmul_bias_grad".
//
// Conditions: both on the same plugin GPU device, float32 or float16, the
// MatMul with transpose_a and without transpose_b reading the BiasAddGrad's
// input as its second operand (then dy's column sums are the GEMM's sums of
// B over k), the BiasAddGrad's input of rank 2 (so any data_format sums the
// same axis), and neither node reachable from the other (no cycle).
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kFusedOp[] = "_TfmpMatMulBiasGrad";

bool SameTensor(const std::string& x, const std::string& y) {
  const TensorRef a = ParseInput(x), b = ParseInput(y);
  return !a.control && !b.control && a.node == b.node && a.port == b.port;
}

// Whether `target` is an ancestor of `from` (data or control inputs).
bool Reaches(const GraphView& g, const NodeDef* from, const std::string& target) {
  std::set<std::string> seen;
  std::vector<const NodeDef*> stack{from};
  while (!stack.empty()) {
    const NodeDef* n = stack.back();
    stack.pop_back();
    for (const std::string& in : n->input()) {
      const std::string name = ParseInput(in).node;
      if (name == target) return true;
      if (!seen.insert(name).second) continue;
      if (const NodeDef* p = g.node(name)) stack.push_back(p);
    }
  }
  return false;
}

// The MatMul that can absorb BiasAddGrad `bg`, or null.
NodeDef* Partner(const GraphView& g, const NodeDef& bg) {
  if (GraphView::NumDataInputs(bg) != 1 || !IsFloatOrHalf(bg)) return nullptr;
  const std::string dy = bg.input(0);
  std::vector<int64_t> dims;
  if (g.StaticShape(dy, &dims) && dims.size() != 2) return nullptr;
  const NodeDef* producer = g.producer(dy);
  if (producer == nullptr) return nullptr;
  for (NodeDef* mm : g.consumers(producer->name())) {
    if (mm->op() != "MatMul" || mm->device() != bg.device() || GraphView::NumDataInputs(*mm) != 2 ||
        !SameTensor(mm->input(1), dy) || !AttrBool(*mm, "transpose_a") ||
        AttrBool(*mm, "transpose_b") || AttrType(*mm, "T") != AttrType(bg, "T"))
      continue;
    if (Reaches(g, mm, bg.name()) || Reaches(g, &bg, mm->name())) continue;
    return mm;
  }
  return nullptr;
}

void RunMatMulBiasGrad(GraphView& g, const std::set<std::string>& preserve,
                       std::vector<RewriteResult>* done) {
  std::vector<std::string> names;
  for (const NodeDef& n : g.graph()->node())
    if (n.op() == "BiasAddGrad" && OnPluginGpu(n.device())) names.push_back(n.name());
  for (const std::string& name : names) {
    NodeDef* bg = g.node(name);
    NodeDef* mm = bg ? Partner(g, *bg) : nullptr;
    if (mm == nullptr) continue;
    const std::string fused_name = mm->name(), grad = TensorName(fused_name, 1);
    // The fused node: the MatMul's name, inputs and control inputs, plus the
    // BiasAddGrad's control inputs.
    NodeDef fused;
    fused.set_name(fused_name);
    fused.set_device(mm->device());
    fused.set_op(kFusedOp);
    fused.add_input(mm->input(0));
    fused.add_input(mm->input(1));
    std::set<std::string> controls;
    for (const NodeDef* n : {static_cast<const NodeDef*>(mm), static_cast<const NodeDef*>(bg)})
      for (const std::string& in : n->input()) {
        const TensorRef r = ParseInput(in);
        if (r.control && r.node != fused_name) controls.insert(r.node);
      }
    for (const std::string& c : controls) fused.add_input("^" + c);
    (*fused.mutable_attr())["T"] = mm->attr().at("T");
    // Static shapes of both outputs (the driver's shape map knows the old
    // nodes' only) for later patterns that need them.
    std::vector<int64_t> s0, s1;
    if (g.StaticShape(fused_name, &s0) && g.StaticShape(name, &s1)) {
      auto* shapes = (*fused.mutable_attr())["_output_shapes"].mutable_list();
      for (const auto* s : {&s0, &s1}) {
        tensorflow::TensorShapeProto* sp = shapes->add_shape();
        for (int64_t d : *s) sp->add_dim()->set_size(d < 0 ? -1 : d);
      }
    }
    // The BiasAddGrad's readers read output 1 (control readers the fused node).
    for (NodeDef* c : std::vector<NodeDef*>(g.consumers(name))) {
      for (int i = 0; i < c->input_size(); ++i) {
        const TensorRef r = ParseInput(c->input(i));
        if (r.node != name) continue;
        c->set_input(i, r.control ? "^" + fused_name : grad);
      }
    }
    *mm = std::move(fused);
    if (preserve.count(name)) {
      // TF fetches it by name: an Identity of output 1 (no dispatch).
      NodeDef id;
      id.set_name(name);
      id.set_device(bg->device());
      id.set_op("Identity");
      id.add_input(grad);
      (*id.mutable_attr())["T"] = bg->attr().at("T");
      *bg = std::move(id);
      g.Rebuild();
    } else {
      g.RemoveNodes({name});
    }
    done->push_back({fused_name, kFusedOp, "matmul_bias_grad", {"MatMul", "BiasAddGrad"}});
  }
}

}  // namespace

void AddMatMulRewrites(std::vector<GraphRewrite>* out) {
  out->push_back({"matmul_bias_grad", "matmul", RunMatMulBiasGrad});
}

}  // namespace grappler
}  // namespace tfmp
