// The pattern matcher (backtracking over commutative inputs) and the helpers
// the pattern files share.
#include "grappler/pattern.h"

#include <algorithm>
#include <utility>

#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

const PatternNode* Find(const Pattern& p, const std::string& label) {
  for (const PatternNode& n : p.nodes)
    if (n.label == label) return &n;
  return nullptr;
}

// A label to match against a tensor name; matched depth first, with every
// alternative ordering of commutative inputs tried (full backtracking).
using Goal = std::pair<std::string, std::string>;

bool Solve(const Pattern& p, const GraphView& g, std::vector<Goal> goals, Match* m) {
  if (goals.empty()) return true;
  const Goal goal = goals.back();
  goals.pop_back();
  const PatternNode* pn = Find(p, goal.first);
  const TensorRef ref = ParseInput(goal.second);
  if (ref.control) return false;
  if (pn == nullptr) {  // a leaf: any tensor, the same one each time
    const std::string name = TensorName(ref.node, ref.port);
    auto it = m->leaves.find(goal.first);
    if (it != m->leaves.end()) return it->second == name && Solve(p, g, goals, m);
    m->leaves[goal.first] = name;
    return Solve(p, g, goals, m);
  }
  if (ref.port != 0) return false;
  NodeDef* n = g.node(ref.node);
  if (n == nullptr) return false;
  auto bound = m->nodes.find(pn->label);
  if (bound != m->nodes.end()) return bound->second == n && Solve(p, g, goals, m);
  for (const auto& kv : m->nodes)
    if (kv.second == n) return false;  // one graph node per label
  if (std::find(pn->ops.begin(), pn->ops.end(), n->op()) == pn->ops.end()) return false;
  if (pn->pred && !pn->pred(*n)) return false;
  if (GraphView::NumDataInputs(*n) != static_cast<int>(pn->inputs.size())) return false;
  std::vector<std::string> ins(n->input().begin(), n->input().begin() + pn->inputs.size());
  const int orders = pn->commutative && ins.size() == 2 ? 2 : 1;
  for (int order = 0; order < orders; ++order) {
    Match trial = *m;
    trial.nodes[pn->label] = n;
    std::vector<Goal> next = goals;
    for (size_t i = 0; i < ins.size(); ++i)
      next.emplace_back(pn->inputs[i], ins[order ? ins.size() - 1 - i : i]);
    if (Solve(p, g, next, &trial)) {
      *m = std::move(trial);
      return true;
    }
  }
  return false;
}

}  // namespace

bool MatchPattern(const Pattern& p, const GraphView& g, NodeDef* root, Match* m) {
  *m = Match();
  if (p.nodes.empty() || root == nullptr) return false;
  if (!Solve(p, g, {{p.nodes[0].label, root->name()}}, m)) return false;
  return m->nodes.size() == p.nodes.size();
}

Pattern WithActivation(Pattern contraction, const Activation& a) {
  const std::string x = contraction.nodes.at(0).label;
  std::vector<PatternNode> nodes = a.nodes;
  for (PatternNode& n : nodes)
    for (std::string& in : n.inputs)
      if (in == "x") in = x;
  nodes.insert(nodes.end(), contraction.nodes.begin(), contraction.nodes.end());
  contraction.nodes = std::move(nodes);
  contraction.name += "_" + a.name;
  contraction.params["activation"] = a.fused_op;
  return contraction;
}

void AddContractionPatterns(const std::vector<Pattern>& biased, const Pattern& fused,
                            std::vector<Pattern>* out) {
  for (const Pattern& c : biased) {
    out->push_back(c);
    for (const Activation& a : Activations()) out->push_back(WithActivation(c, a));
  }
  for (const Activation& a : Activations()) out->push_back(WithActivation(fused, a));
}

bool IsFloatOrHalf(const NodeDef& n) {
  const int t = AttrType(n, "T");
  return t == tensorflow::DT_FLOAT || t == tensorflow::DT_HALF;
}

std::string BiasOf(const GraphView& g, const NodeDef& add, const std::string& x_tensor,
                   NodeDef* new_const) {
  if (add.op() == "BiasAdd") return add.input(1);
  // Add / AddV2 of x and a constant vector along the last dimension.
  std::string other;
  for (int i = 0; i < 2; ++i) {
    const TensorRef r = ParseInput(add.input(i)), x = ParseInput(x_tensor);
    if (r.node == x.node && r.port == x.port) other = add.input(1 - i);
  }
  const NodeDef* c = g.producer(other);
  std::vector<float> values;
  std::vector<int64_t> shape;
  if (c == nullptr || other.empty() || !ConstFloats(*c, &values, &shape) || shape.empty()) return "";
  if (c->attr().at("dtype").type() != add.attr().at("T").type()) return "";
  for (size_t i = 0; i + 1 < shape.size(); ++i)
    if (shape[i] != 1) return "";
  // A single channel would broadcast over any number of them: not a bias we
  // can size without shapes.
  if (shape.back() < 2) return "";
  if (shape.size() == 1) return other;
  // [1, ..., 1, C]: the same constant as a vector.
  *new_const = *c;
  new_const->set_name(c->name() + "/tfmp_vector");
  auto* t = (*new_const->mutable_attr())["value"].mutable_tensor();
  t->mutable_tensor_shape()->clear_dim();
  t->mutable_tensor_shape()->add_dim()->set_size(shape.back());
  if (g.node(new_const->name())) return new_const->name();  // made by an earlier rewrite
  return new_const->name();
}

std::vector<std::string> FusedOps(const std::string& activation) {
  std::vector<std::string> ops = {"BiasAdd"};
  if (!activation.empty()) ops.push_back(activation);
  return ops;
}

float LeakyReluAlpha(const Match& m) {
  NodeDef* act = m.node("act");
  return act && act->op() == "LeakyRelu" ? AttrFloat(*act, "alpha", 0.2f) : 0.2f;
}

}  // namespace grappler
}  // namespace tfmp
