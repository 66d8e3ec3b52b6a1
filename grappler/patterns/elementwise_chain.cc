// Chains of elementwise ops (the Gelu, Swish, LayerNorm and Adam arithmetic
// Keras emits) -> one _TfmpFusedElementwise dispatch (kernels/fused_elementwise.cc).
//
// A variable-shape pattern with its own matcher: from a root it grows the
// largest connected set of elementwise nodes (float32 or float16, all of the
// root's dtype and device) whose outputs are read only inside the set (so
// the set has one output, the root's), within the interpreter's limits (8
// inputs, 16 registers, 64 instructions, 16 constants). Scalar constants
// become program constants. A root that a chain further down would absorb is
// skipped, so each fusion takes a maximal chain. Family "elementwise"; the
// pattern has one node, so it ranks after the conv/matmul epilogues.
//
// Broadcasting: a DAG of elementwise ops with NumPy broadcasting computes, at
// each coordinate of the broadcast of all its inputs' shapes, the composition
// of its ops on the inputs' broadcast values, and it fails exactly when those
// shapes are incompatible; the fused kernel computes the same. What the
// kernel cannot do is more than 6 collapsed dims, so every tensor involved
// must have a statically known rank (<= 6); the gradient ops (ReluGrad, ...),
// which require equal shapes instead of broadcasting, need both inputs'
// static shapes known and equal.
#include <algorithm>
#include <map>
#include <set>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

struct ElementwiseOp {
  const char* op;     // TF op
  const char* token;  // interpreter op (shaders/variants.py FUSED_OPS)
  int arity;
  bool same_shape;    // gradient ops: equal shapes, no broadcasting
};

const ElementwiseOp kOps[] = {
    {"Neg", "neg", 1, false},           {"Abs", "abs", 1, false},
    {"Square", "square", 1, false},     {"Exp", "exp", 1, false},
    {"Log", "log", 1, false},           {"Sqrt", "sqrt", 1, false},
    {"Rsqrt", "rsqrt", 1, false},       {"Relu", "relu", 1, false},
    {"Sigmoid", "sigmoid", 1, false},   {"Tanh", "tanh", 1, false},
    {"Reciprocal", "reciprocal", 1, false}, {"Inv", "reciprocal", 1, false},
    {"Erf", "erf", 1, false},           {"Erfc", "erfc", 1, false},
    {"Softplus", "softplus", 1, false}, {"Log1p", "log1p", 1, false},
    {"Expm1", "expm1", 1, false},       {"Relu6", "relu6", 1, false},
    {"Elu", "elu", 1, false},           {"Selu", "selu", 1, false},
    {"Softsign", "softsign", 1, false}, {"Sign", "sign", 1, false},
    {"Floor", "floor", 1, false},
    {"Add", "add", 2, false},           {"AddV2", "add", 2, false},
    {"Sub", "sub", 2, false},           {"Mul", "mul", 2, false},
    {"RealDiv", "div", 2, false},       {"Div", "div", 2, false},
    {"Maximum", "maximum", 2, false},   {"Minimum", "minimum", 2, false},
    {"Pow", "pow", 2, false},           {"SquaredDifference", "squared_difference", 2, false},
    {"DivNoNan", "div_no_nan", 2, false},
    {"ReluGrad", "relu_grad", 2, true}, {"SigmoidGrad", "sigmoid_grad", 2, true},
    {"TanhGrad", "tanh_grad", 2, true}, {"SqrtGrad", "sqrt_grad", 2, true},
    {"RsqrtGrad", "rsqrt_grad", 2, true}, {"ReciprocalGrad", "reciprocal_grad", 2, true},
    {"InvGrad", "reciprocal_grad", 2, true},
    // AddN (TF's arithmetic optimizer turns add trees into it, e.g. in
    // LayerNormalization): N - 1 adds in input order, as the plugin's AddN
    // kernel does them; equal shapes. Arity 0: any N >= 2.
    {"AddN", "add", 0, true},
};

constexpr int kMaxInputs = 8, kMaxRegs = 16, kMaxProgram = 64, kMaxConsts = 16, kMaxDims = 6;

const ElementwiseOp* Find(const std::string& op) {
  for (const ElementwiseOp& e : kOps)
    if (op == e.op) return &e;
  return nullptr;
}

std::vector<std::string> DataInputs(const NodeDef& n) {
  std::vector<std::string> v;
  for (const std::string& in : n.input())
    if (in.empty() || in[0] != '^') v.push_back(in);
  return v;
}

// Whether `n` may join a chain of dtype `t` on `device`.
bool Eligible(const NodeDef& n, int t, const std::string& device, const GraphView& g) {
  const ElementwiseOp* e = Find(n.op());
  if (e == nullptr || n.device() != device || AttrType(n, "T") != t) return false;
  const std::vector<std::string> in = DataInputs(n);
  if (e->arity ? static_cast<int>(in.size()) != e->arity : in.size() < 2) return false;
  std::vector<int64_t> out;
  if (!g.StaticShape(n.name(), &out) || out.size() > kMaxDims) return false;
  std::vector<std::vector<int64_t>> shapes;
  for (const std::string& x : in) {
    std::vector<int64_t> s;
    if (!g.StaticShape(x, &s) || s.size() > kMaxDims) return false;
    shapes.push_back(s);
  }
  if (e->same_shape) {
    for (const auto& s : shapes)
      if (s != shapes[0]) return false;
    for (int64_t d : shapes[0])
      if (d == -1) return false;
  }
  return true;
}

// A chain compiled to the interpreter's program.
struct Program {
  std::vector<std::string> inputs;  // tensor names
  std::vector<std::string> ops;     // tokens
  std::vector<int64_t> args;        // dst, a, b per instruction
  std::vector<float> consts;
  std::vector<std::string> fused_ops;
  std::vector<std::string> const_nodes;  // inlined Const nodes
};

// A one-element Const that broadcasting against `consumer`'s output cannot
// change: inlined as a program constant.
bool InlineConst(const NodeDef& c, const NodeDef& consumer, const GraphView& g, float* value) {
  std::vector<float> v;
  std::vector<int64_t> shape, out;
  if (!ConstFloats(c, &v, &shape) || v.size() != 1) return false;
  if (!g.StaticShape(consumer.name(), &out) || shape.size() > out.size()) return false;
  *value = v[0];
  return true;
}

// Compiles the nodes (root first; every node's consumers inside, but the
// root's) in topological order with linear-scan register allocation.
bool Compile(const std::vector<NodeDef*>& nodes, const GraphView& g, Program* p) {
  *p = Program();
  std::set<const NodeDef*> inside(nodes.begin(), nodes.end());
  // Topological order: inputs first, root last.
  std::vector<NodeDef*> order;
  std::set<const NodeDef*> seen;
  std::vector<std::pair<NodeDef*, bool>> stack = {{nodes[0], false}};
  while (!stack.empty()) {
    auto [n, expanded] = stack.back();
    stack.pop_back();
    if (expanded) {
      order.push_back(n);
      continue;
    }
    if (!seen.insert(n).second) continue;
    stack.push_back({n, true});
    const std::vector<std::string> in = DataInputs(*n);
    for (auto it = in.rbegin(); it != in.rend(); ++it) {
      NodeDef* q = g.producer(*it);
      if (q && inside.count(q) && !seen.count(q)) stack.push_back({q, false});
    }
  }
  if (order.size() != nodes.size()) return false;
  // Values: "n:<name>" node outputs, "i:<tensor>" inputs, "c:<node>" constants.
  std::map<std::string, int> last_use;
  std::vector<std::vector<std::string>> operands(order.size());
  std::map<std::string, float> const_value;
  for (size_t k = 0; k < order.size(); ++k) {
    for (const std::string& x : DataInputs(*order[k])) {
      const TensorRef r = ParseInput(x);
      NodeDef* q = g.node(r.node);
      std::string v;
      float c = 0.0f;
      if (q && inside.count(q)) {
        v = "n:" + q->name();
      } else if (q && r.port == 0 && InlineConst(*q, *order[k], g, &c)) {
        v = "c:" + q->name();
        const_value[v] = c;
      } else {
        v = "i:" + TensorName(r.node, r.port);
      }
      operands[k].push_back(v);
      last_use[v] = static_cast<int>(k);
    }
  }
  std::map<std::string, int> reg;  // value -> register
  std::vector<bool> busy(kMaxRegs, false);
  std::map<std::string, int> input_index, const_index;
  auto alloc = [&busy]() {
    for (int r = 0; r < kMaxRegs; ++r)
      if (!busy[r]) {
        busy[r] = true;
        return r;
      }
    return -1;
  };
  auto emit = [p](const std::string& op, int dst, int a, int b) {
    p->ops.push_back(op);
    p->args.insert(p->args.end(), {dst, a, b});
  };
  for (size_t k = 0; k < order.size(); ++k) {
    for (const std::string& v : operands[k]) {
      if (reg.count(v)) continue;
      const int r = alloc();
      if (r < 0) return false;
      reg[v] = r;
      if (v[0] == 'i') {
        if (!input_index.count(v)) {
          input_index[v] = static_cast<int>(p->inputs.size());
          p->inputs.push_back(v.substr(2));
        }
        emit("load", r, input_index[v], 0);
      } else {
        if (!const_index.count(v)) {
          const_index[v] = static_cast<int>(p->consts.size());
          p->consts.push_back(const_value[v]);
          p->const_nodes.push_back(v.substr(2));
        }
        emit("const", r, const_index[v], 0);
      }
    }
    const int a = reg[operands[k][0]];
    const int b = operands[k].size() > 1 ? reg[operands[k][1]] : 0;
    if (operands[k].size() > 2) {  // AddN: accumulate in a fresh register, then free
      const int dst = alloc();
      if (dst < 0) return false;
      emit("add", dst, a, b);
      for (size_t j = 2; j < operands[k].size(); ++j) emit("add", dst, dst, reg[operands[k][j]]);
      for (const std::string& v : operands[k])
        if (last_use[v] == static_cast<int>(k) && reg.count(v)) {
          busy[reg[v]] = false;
          reg.erase(v);
        }
      reg["n:" + order[k]->name()] = dst;
      // The report lists the dispatches replaced: AddN's N - 1 adds.
      p->fused_ops.insert(p->fused_ops.end(), operands[k].size() - 1, order[k]->op());
      continue;
    }
    for (const std::string& v : operands[k])
      if (last_use[v] == static_cast<int>(k) && reg.count(v)) {
        busy[reg[v]] = false;
        reg.erase(v);
      }
    const int dst = alloc();
    if (dst < 0) return false;
    reg["n:" + order[k]->name()] = dst;
    emit(Find(order[k]->op())->token, dst, a, b);
    p->fused_ops.push_back(order[k]->op());
  }
  return p->inputs.size() <= kMaxInputs && p->ops.size() <= kMaxProgram &&
         p->consts.size() <= kMaxConsts && !p->inputs.empty();
}

// The maximal chain with its output at `root` (root first).
std::vector<NodeDef*> Grow(NodeDef* root, const GraphView& g) {
  const int t = AttrType(*root, "T");
  std::vector<NodeDef*> chain = {root};
  std::set<const NodeDef*> inside = {root}, rejected;
  Program prog;
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < chain.size(); ++i) {
      for (const std::string& x : DataInputs(*chain[i])) {
        NodeDef* q = g.producer(x);
        if (q == nullptr || ParseInput(x).port != 0 || inside.count(q) || rejected.count(q) ||
            !Eligible(*q, t, root->device(), g))
          continue;
        bool read_inside = true;
        for (const NodeDef* c : g.consumers(q->name())) read_inside &= inside.count(c) != 0;
        if (!read_inside) continue;  // perhaps later, once its other readers joined
        chain.push_back(q);
        inside.insert(q);
        if (Compile(chain, g, &prog)) {
          changed = true;
        } else {
          chain.pop_back();
          inside.erase(q);
          rejected.insert(q);
        }
      }
    }
  }
  return chain;
}

bool MatchChain(const Pattern&, const GraphView& g, NodeDef* root, Match* m) {
  const int t = AttrType(*root, "T");
  if ((t != tensorflow::DT_FLOAT && t != tensorflow::DT_HALF) ||
      !Eligible(*root, t, root->device(), g))
    return false;
  // Skip a root that a chain further down absorbs (that chain fuses it).
  std::vector<NodeDef*> down, todo = {root};
  std::set<const NodeDef*> seen = {root};
  while (!todo.empty() && down.size() < 64) {
    NodeDef* n = todo.back();
    todo.pop_back();
    for (NodeDef* c : g.consumers(n->name()))
      if (!seen.count(c) && Eligible(*c, t, root->device(), g)) {
        seen.insert(c);
        down.push_back(c);
        todo.push_back(c);
      }
  }
  for (NodeDef* d : down) {
    const std::vector<NodeDef*> chain = Grow(d, g);
    if (std::find(chain.begin(), chain.end(), root) != chain.end()) return false;
  }
  const std::vector<NodeDef*> chain = Grow(root, g);
  if (chain.size() < 2) return false;
  Program prog;
  if (!Compile(chain, g, &prog)) return false;
  m->nodes.clear();
  m->leaves.clear();
  for (size_t i = 0; i < chain.size(); ++i) m->nodes["n" + std::to_string(i)] = chain[i];
  for (size_t i = 0; i < prog.const_nodes.size(); ++i)
    m->nodes["c" + std::to_string(i)] = g.node(prog.const_nodes[i]);
  return true;
}

bool BuildChain(const Pattern&, const Match& m, GraphView& g, NodeDef* fused) {
  std::vector<NodeDef*> chain;
  for (size_t i = 0;; ++i) {
    NodeDef* n = m.node("n" + std::to_string(i));
    if (n == nullptr) break;
    chain.push_back(n);
  }
  Program prog;
  if (chain.empty() || !Compile(chain, g, &prog)) return false;
  fused->set_op("_TfmpFusedElementwise");
  for (const std::string& x : prog.inputs) fused->add_input(x);
  auto& attr = *fused->mutable_attr();
  attr["T"] = chain[0]->attr().at("T");
  attr["N"].set_i(static_cast<int64_t>(prog.inputs.size()));
  for (const std::string& op : prog.ops) attr["ops"].mutable_list()->add_s(op);
  for (int64_t a : prog.args) attr["args"].mutable_list()->add_i(a);
  auto* consts = attr["consts"].mutable_list();
  for (float c : prog.consts) consts->add_f(c);
  for (const std::string& op : prog.fused_ops) attr["fused_ops"].mutable_list()->add_s(op);
  return true;
}

}  // namespace

void AddElementwisePatterns(std::vector<Pattern>* out) {
  Pattern p;
  p.name = "elementwise_chain";
  p.family = "elementwise";
  PatternNode root;
  root.label = "n0";
  for (const ElementwiseOp& e : kOps) root.ops.push_back(e.op);
  p.nodes = {root};
  p.match = MatchChain;
  p.build = BuildChain;
  out->push_back(p);
}

}  // namespace grappler
}  // namespace tfmp
