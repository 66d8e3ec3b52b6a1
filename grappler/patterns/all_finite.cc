// LossScaleOptimizer's finite check as one dispatch (family "optimizer",
// rewrite "optimizer_all_finite"). Keras 3's mixed precision computes
//   all(stack([all(is_finite(g)) for g in grads]))
// before its cond: two dispatches per gradient (IsFinite, All) plus the Pack
// and the final All. The rewrite turns the final All into _TfmpAllFinite of
// the gradients (kernels/fused_update.cc: every element of every tensor in
// one multi-tensor dispatch) and removes the per-gradient nodes.
//
// It fires only on exactly that structure, with static shapes proving each
// inner All and the final one reduce to a scalar (so "every element" is what
// the graph computed); each removed node is read only by the next one of the
// chain, TF preserves none of them, all on the plugin's GPU. Their control
// inputs move to the fused node. It runs before the per-variable updates
// are fused, with optimizer_identity_n (below).
#include <set>
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kOp[] = "_TfmpAllFinite";

bool Scalar(const GraphView& g, const std::string& tensor) {
  std::vector<int64_t> dims;
  return g.StaticShape(tensor, &dims) && dims.empty();
}

// The node `name` reads its data input 0 from (port 0) and is its only
// reader; null otherwise.
NodeDef* SoleInput(const GraphView& g, const NodeDef& n, int i, const char* op,
                   const std::set<std::string>& preserve) {
  if (GraphView::NumDataInputs(n) <= i) return nullptr;
  const TensorRef r = ParseInput(n.input(i));
  NodeDef* p = g.node(r.node);
  if (!p || r.port != 0 || p->op() != op || p->device() != n.device() || preserve.count(p->name()) ||
      g.consumers(p->name()).size() != 1 || g.HasNonZeroPortConsumer(p->name()))
    return nullptr;
  return p;
}

void RunAllFinite(GraphView& g, const std::set<std::string>& preserve,
                  std::vector<RewriteResult>* done) {
  std::vector<std::string> roots;
  for (const NodeDef& n : g.graph()->node())
    if (n.op() == "All" && OnPluginGpu(n.device())) roots.push_back(n.name());
  bool changed = false;
  for (const std::string& name : roots) {
    NodeDef* root = g.node(name);
    if (!root || root->op() != "All" || !Scalar(g, name)) continue;
    NodeDef* pack = SoleInput(g, *root, 0, "Pack", preserve);
    if (!pack || AttrType(*pack, "T") != tensorflow::DT_BOOL) continue;
    std::vector<std::string> grads, removed = {pack->name()};
    std::vector<int> types;
    bool ok = GraphView::NumDataInputs(*pack) >= 1;
    for (int i = 0; ok && i < GraphView::NumDataInputs(*pack); ++i) {
      NodeDef* all = SoleInput(g, *pack, i, "All", preserve);
      NodeDef* fin = all ? SoleInput(g, *all, 0, "IsFinite", preserve) : nullptr;
      const int t = fin ? AttrType(*fin, "T") : 0;
      ok = fin && Scalar(g, all->name()) && (t == tensorflow::DT_FLOAT || t == tensorflow::DT_HALF) &&
           GraphView::NumDataInputs(*fin) == 1;
      if (!ok) break;
      grads.push_back(fin->input(0));
      types.push_back(t);
      removed.push_back(all->name());
      removed.push_back(fin->name());
    }
    if (!ok) continue;
    std::set<std::string> controls;
    for (const std::string& r : removed)
      for (const std::string& in : g.node(r)->input())
        if (ParseInput(in).control) controls.insert(ParseInput(in).node);
    for (const std::string& in : root->input())
      if (ParseInput(in).control) controls.insert(ParseInput(in).node);
    NodeDef fused;
    fused.set_name(name);
    fused.set_op(kOp);
    fused.set_device(root->device());
    for (const std::string& t : grads) fused.add_input(t);
    for (const std::string& c : controls) fused.add_input("^" + c);
    auto& list = *(*fused.mutable_attr())["T"].mutable_list();
    for (int t : types) list.add_type(static_cast<tensorflow::DataType>(t));
    *root = fused;
    done->push_back({name, kOp, "optimizer_all_finite",
                     {"IsFinite x" + std::to_string(grads.size()), "All x" + std::to_string(grads.size()),
                      "Pack", "All"}});
    g.RemoveNodes(std::set<std::string>(removed.begin(), removed.end()));
    changed = true;
  }
  if (changed) g.Rebuild();
}

// Keras passes the unscaled gradients through an IdentityN before the inner
// optimizer's update: a pure identity that would keep each variable's
// unscale (g / scale) out of its fused update (an outside reader). Its
// readers read its inputs instead (same device, no control edges to keep,
// not a node TF preserves), and it goes.
void RunIdentityN(GraphView& g, const std::set<std::string>& preserve,
                  std::vector<RewriteResult>* done) {
  std::vector<std::string> names;
  for (const NodeDef& n : g.graph()->node())
    if (n.op() == "IdentityN" && OnPluginGpu(n.device()) && !preserve.count(n.name()))
      names.push_back(n.name());
  std::set<std::string> removed;
  for (const std::string& name : names) {
    const NodeDef* n = g.node(name);
    bool ok = true;
    for (const std::string& in : n->input()) {
      const TensorRef r = ParseInput(in);
      const NodeDef* p = g.node(r.node);
      ok &= !r.control && p && p->device() == n->device();
    }
    for (const NodeDef* c : g.consumers(name))
      for (const std::string& in : c->input()) {
        const TensorRef r = ParseInput(in);
        ok &= !(r.control && r.node == name);
      }
    if (!ok) continue;
    const std::vector<std::string> inputs(n->input().begin(), n->input().end());
    for (NodeDef* c : std::vector<NodeDef*>(g.consumers(name)))
      for (int i = 0; i < c->input_size(); ++i) {
        const TensorRef r = ParseInput(c->input(i));
        if (r.node == name && r.port < static_cast<int>(inputs.size())) c->set_input(i, inputs[r.port]);
      }
    removed.insert(name);
    done->push_back({name, "IdentityN", "optimizer_identity_n", {"IdentityN"}});
  }
  if (!removed.empty()) g.RemoveNodes(removed);
}

}  // namespace

void AddAllFiniteRewrites(std::vector<GraphRewrite>* out) {
  out->push_back({"optimizer_identity_n", "optimizer", RunIdentityN});
  out->push_back({"optimizer_all_finite", "optimizer", RunAllFinite});
}

}  // namespace grappler
}  // namespace tfmp
