// Optimizer steps as one dispatch (family "optimizer"). Keras 3 optimizers
// emit no ResourceApply* ops: each variable's update is a small elementwise
// subgraph of ReadVariableOps, arithmetic and Assign{,Add,Sub}VariableOps
// ordered by control edges (Adam: m += (g - m) * (1 - b1); v += (g^2 - v) *
// (1 - b2); var -= m * alpha / (sqrt(v) + eps), alpha from lr and the
// iteration count; SGD with momentum, RMSprop, Adagrad, AdamW alike). Rather
// than one hand-written pattern per optimizer, the subgraph is compiled:
//
//  1. optimizer_cse: the iteration counter's reads and integer arithmetic
//     (iterations + 1, its Cast) are repeated per variable; ReadVariableOps of
//     one handle with the same control inputs (a legal schedule of the
//     original: they have the same predecessors) and pure integer ops with the
//     same inputs are merged, so the step's scalars are computed once (a
//     merged node TF preserves stays, its readers moved to the kept one).
//  2. optimizer_update: from each float32/float16 Assign*VariableOp the region
//     of the update is grown backwards over elementwise ops (the table below),
//     ReadVariableOps and, through control edges, the other assigns it is
//     ordered after; tensors from outside (gradients, lr, the step) and scalar
//     constants are its inputs. The region becomes one _TfmpFusedUpdate node
//     whose program (kernels/shaders/fused_update.comp) replays the ops in a
//     dependency order, in the graph's dtype and rounding: the unfused
//     result, bit for bit.
//  3. optimizer_multi: the _TfmpFusedUpdate nodes with the same program,
//     constants and device (one per variable of the step) become one node of
//     N entries: the whole step in one dispatch.
//
// Safety (the driver's rules): plugin GPU nodes only; nothing TF preserves
// is removed (a function's assigns and reads are kept: an absorbed assign
// stays as a NoOp ordered after the fused node, an absorbed read as it is); every removed non-assign node is read only inside the region;
// a variable written by AssignVariableOp is read in the region (an update,
// never an initialization); no input of the region depends on the region;
// the fused node carries the region's external control inputs and replaces
// its assigns wherever they were control inputs; grouped nodes are
// independent (no path between any two).
#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kFusedOp[] = "_TfmpFusedUpdate";
constexpr int kMaxRegisters = 48;  // fused_update.comp's register file
constexpr int kMaxSlots = 64, kSlotOperand = 64, kConstOperand = 128;
constexpr int kMaxConsts = 1 << 16;
constexpr int kRoundHalf = 256;
constexpr int kRead = 0, kStore = 2, kAdd = 3, kSub = 4;

// Elementwise ops the program runs: op type -> (opcode, arity).
const std::map<std::string, std::pair<int, int>>& Ops() {
  static const auto* ops = new std::map<std::string, std::pair<int, int>>{
      {"AddV2", {3, 2}},   {"Add", {3, 2}},         {"Sub", {4, 2}},     {"Mul", {5, 2}},
      {"RealDiv", {6, 2}}, {"Div", {6, 2}},         {"Pow", {7, 2}},     {"Maximum", {8, 2}},
      {"Minimum", {9, 2}}, {"Sqrt", {10, 1}},       {"Rsqrt", {11, 1}},  {"Square", {12, 1}},
      {"Neg", {13, 1}},    {"Reciprocal", {14, 1}}, {"Inv", {14, 1}},    {"Identity", {0, 1}},
      {"Cast", {0, 1}},
  };
  return *ops;
}

bool FloatType(int t) { return t == tensorflow::DT_FLOAT || t == tensorflow::DT_HALF; }
bool IntType(int t) {
  return t == tensorflow::DT_INT32 || t == tensorflow::DT_INT64 || t == tensorflow::DT_INT16 ||
         t == tensorflow::DT_INT8 || t == tensorflow::DT_UINT8;
}

bool IsAssign(const NodeDef& n) {
  return n.op() == "AssignVariableOp" || n.op() == "AssignAddVariableOp" ||
         n.op() == "AssignSubVariableOp";
}

// The dtype an elementwise node computes in (its output), 0 when not one.
int ElementwiseType(const NodeDef& n) {
  if (!Ops().count(n.op())) return 0;
  if (n.op() == "Cast") {
    const int src = AttrType(n, "SrcT"), dst = AttrType(n, "DstT");
    return FloatType(src) && FloatType(dst) ? dst : 0;
  }
  const int t = AttrType(n, "T");
  return FloatType(t) ? t : 0;
}

// The dtype a node's data input `i` has (for the fused op's Tin).
int InputType(const NodeDef& n, int i) {
  if (n.op() == "Cast") return AttrType(n, "SrcT");
  if (IsAssign(n)) return AttrType(n, "dtype");
  return AttrType(n, "T");
}

std::string ControlName(const std::string& node) { return "^" + node; }

// Rewrites every reference to `from` (data or control) into `to`, dropping
// duplicate control inputs.
void Redirect(GraphView& g, const std::string& from, const std::string& to) {
  for (NodeDef* c : std::vector<NodeDef*>(g.consumers(from))) {
    std::vector<std::string> data, controls;
    std::set<std::string> seen;
    for (const std::string& in : c->input()) {
      TensorRef r = ParseInput(in);
      if (r.node == from) r.node = to;
      if (r.control) {
        if (r.node != c->name() && seen.insert(r.node).second) controls.push_back(ControlName(r.node));
      } else {
        data.push_back(TensorName(r.node, r.port));
      }
    }
    c->clear_input();
    for (const std::string& d : data) c->add_input(d);
    for (const std::string& k : controls) c->add_input(k);
  }
}

// Nodes a fusion into `fused` removes: references to them move to the fused
// node; one TF preserves stays: an assign as a NoOp after the fused node, a
// read as it is (its control inputs now name the fused node).
void Replace(GraphView& g, const std::set<std::string>& preserve, const std::string& fused,
             std::set<std::string>* removed) {
  for (const std::string& name : std::set<std::string>(*removed)) {
    NodeDef* n = g.node(name);
    if (preserve.count(name) && n->op() == "ReadVariableOp") {
      removed->erase(name);  // stays, read by nobody but TF's fetch
    } else if (preserve.count(name)) {
      const std::string device = n->device();
      n->Clear();
      n->set_name(name);
      n->set_op("NoOp");
      n->set_device(device);
      n->add_input(ControlName(fused));
      removed->erase(name);
    } else {
      Redirect(g, name, fused);
    }
  }
}

// --- 1. optimizer_cse ------------------------------------------------------------

std::string CseKey(const NodeDef& n) {
  std::vector<std::string> data, controls;
  for (const std::string& in : n.input()) {
    const TensorRef r = ParseInput(in);
    (r.control ? controls : data).push_back(r.control ? r.node : TensorName(r.node, r.port));
  }
  std::sort(controls.begin(), controls.end());
  std::string key = n.op() + "|" + n.device() + "|";
  if (n.op() == "ReadVariableOp") {
    key += std::to_string(AttrType(n, "dtype"));
  } else if (n.op() == "AddV2" || n.op() == "Add" || n.op() == "Mul" || n.op() == "Sub") {
    if (!IntType(AttrType(n, "T"))) return "";
    key += std::to_string(AttrType(n, "T"));
    if (n.op() != "Sub") std::sort(data.begin(), data.end());
  } else if (n.op() == "Cast") {
    if (!IntType(AttrType(n, "SrcT"))) return "";
    key += std::to_string(AttrType(n, "SrcT")) + "," + std::to_string(AttrType(n, "DstT")) + "," +
           (AttrBool(n, "Truncate") ? "t" : "");
  } else {
    return "";
  }
  for (const std::string& d : data) key += "|" + d;
  key += "|^";
  for (const std::string& c : controls) key += "|" + c;
  return key;
}

void RunCse(GraphView& g, const std::set<std::string>& preserve, std::vector<RewriteResult>* done) {
  for (int round = 0; round < 8; ++round) {
    std::map<std::string, std::string> first;  // key -> kept node
    std::vector<std::pair<std::string, std::string>> merges;  // removed -> kept
    for (const NodeDef& n : g.graph()->node()) {
      if (!OnPluginGpu(n.device())) continue;
      const std::string key = CseKey(n);
      if (key.empty()) continue;
      auto it = first.find(key);
      if (it == first.end()) first[key] = n.name();
      // A node TF preserves stays, read by nobody.
      else if (!preserve.count(n.name()) || !g.consumers(n.name()).empty())
        merges.emplace_back(n.name(), it->second);
    }
    if (merges.empty()) return;
    std::set<std::string> removed;
    for (const auto& m : merges) {
      Redirect(g, m.first, m.second);
      if (!preserve.count(m.first)) removed.insert(m.first);
      done->push_back({m.second, g.node(m.second)->op(), "optimizer_cse", {m.first}});
    }
    g.RemoveNodes(removed);
  }
}

// --- 2. optimizer_update -----------------------------------------------------------

struct Region {
  std::set<std::string> nodes;  // sinks and the nodes they absorb
  std::vector<std::string> sinks;
};

// Grows the update region of `sink`; false when it cannot be fused.
bool Grow(const GraphView& g, NodeDef* sink, const std::set<std::string>& preserve,
          const std::set<std::string>& claimed, Region* r) {
  const std::string dev = sink->device();
  // Assigns may be nodes TF preserves (a function's control outputs): their
  // names stay, as NoOps after the fused node (Replace).
  auto ok_node = [&](const NodeDef* n) {
    return n && n->device() == dev &&
           (IsAssign(*n) || n->op() == "ReadVariableOp" || !preserve.count(n->name())) &&
           !claimed.count(n->name());
  };
  std::deque<const NodeDef*> work = {sink};
  r->nodes.insert(sink->name());
  // Nodes reached forward (from an assign, through the reads ordered after
  // it): their elementwise and assign consumers belong to the update too.
  std::set<std::string> forward;
  auto add = [&](NodeDef* c, bool fwd) {
    if (fwd) forward.insert(c->name());
    if (r->nodes.insert(c->name()).second) work.push_back(c);
  };
  while (!work.empty()) {
    const NodeDef* n = work.front();
    work.pop_front();
    if (IsAssign(*n) || forward.count(n->name())) {
      for (NodeDef* c : g.consumers(n->name())) {
        if (!ok_node(c) || r->nodes.count(c->name())) continue;
        bool control = false, data = false;
        for (const std::string& in : c->input()) {
          const TensorRef ref = ParseInput(in);
          if (ref.node != n->name()) continue;
          (ref.control ? control : data) = true;
        }
        const bool read = c->op() == "ReadVariableOp" && FloatType(AttrType(*c, "dtype"));
        const bool assign = IsAssign(*c) && FloatType(AttrType(*c, "dtype"));
        if (IsAssign(*n) && control && (read || assign)) add(c, read);
        else if (!IsAssign(*n) && data && (ElementwiseType(*c) || assign)) add(c, !assign);
      }
    }
    const bool handle_first = IsAssign(*n) || n->op() == "ReadVariableOp";
    for (int i = 0; i < n->input_size(); ++i) {
      const TensorRef ref = ParseInput(n->input(i));
      NodeDef* p = g.node(ref.node);
      if (ref.control) {
        if (ok_node(p) && IsAssign(*p) && FloatType(AttrType(*p, "dtype"))) add(p, false);
        continue;
      }
      if (handle_first && i == 0) continue;  // the resource handle: an input
      if (!ok_node(p) || ref.port != 0 || r->nodes.count(p->name())) continue;
      const bool read = p->op() == "ReadVariableOp" && FloatType(AttrType(*p, "dtype"));
      if (read || ElementwiseType(*p)) add(p, false);
    }
  }
  // Only what feeds an assign is the update (a read after it, for a later
  // computation, is not).
  std::set<std::string> useful;
  std::deque<std::string> back;
  for (const std::string& name : r->nodes)
    if (IsAssign(*g.node(name)) && useful.insert(name).second) back.push_back(name);
  while (!back.empty()) {
    const NodeDef* n = g.node(back.front());
    back.pop_front();
    for (const std::string& in : n->input()) {
      const std::string p = ParseInput(in).node;
      if (r->nodes.count(p) && useful.insert(p).second) back.push_back(p);
    }
  }
  r->nodes = useful;
  // Closure: non-assign nodes read only inside. A read read outside stays
  // outside (an input), unless it is ordered after one of the region's
  // assigns (its control input could not be kept).
  for (bool changed = true; changed;) {
    changed = false;
    for (const std::string& name : std::set<std::string>(r->nodes)) {
      const NodeDef* n = g.node(name);
      if (IsAssign(*n)) continue;
      bool outside = g.HasNonZeroPortConsumer(name), inside = false;
      for (const NodeDef* c : g.consumers(name)) {
        outside |= !r->nodes.count(c->name());
        inside |= r->nodes.count(c->name()) != 0;
      }
      if (!outside) continue;
      if (n->op() != "ReadVariableOp") return false;
      if (!inside) {  // a read after the update, for someone else: stays
        r->nodes.erase(name);
        changed = true;
        continue;
      }
      for (const std::string& in : n->input())
        if (ParseInput(in).control && r->nodes.count(ParseInput(in).node)) return false;
      r->nodes.erase(name);
      changed = true;
    }
  }
  for (const std::string& name : r->nodes)
    if (IsAssign(*g.node(name))) r->sinks.push_back(name);
  // An AssignVariableOp must overwrite a variable the region reads.
  for (const std::string& s : r->sinks) {
    const NodeDef* n = g.node(s);
    if (n->op() != "AssignVariableOp") continue;
    bool reads = false;
    for (const std::string& name : r->nodes) {
      const NodeDef* m = g.node(name);
      reads |= m->op() == "ReadVariableOp" && m->input(0) == n->input(0);
    }
    if (!reads) return false;
  }
  // Some arithmetic: a bare copy is not worth a fused op.
  int arithmetic = 0;
  for (const std::string& name : r->nodes) arithmetic += ElementwiseType(*g.node(name)) != 0;
  if (arithmetic == 0) return false;
  // No input of the region may depend on it (the fused node would wait on itself).
  std::set<std::string> below;
  std::deque<std::string> q(r->nodes.begin(), r->nodes.end());
  while (!q.empty()) {
    const std::string x = q.front();
    q.pop_front();
    for (const NodeDef* c : g.consumers(x))
      if (!r->nodes.count(c->name()) && below.insert(c->name()).second) q.push_back(c->name());
  }
  for (const std::string& name : r->nodes)
    for (const std::string& in : g.node(name)->input()) {
      const std::string p = ParseInput(in).node;
      if (!r->nodes.count(p) && below.count(p)) return false;
    }
  return true;
}

// A structural signature of a node's data subtree inside the region: orders
// the assigns the same way in every variable's region.
std::string Signature(const GraphView& g, const Region& r, const std::string& name, int depth) {
  const NodeDef* n = g.node(name);
  if (!n || !r.nodes.count(name) || depth > 12) return "L";
  std::string s = n->op() + "(";
  for (const std::string& in : n->input()) {
    const TensorRef ref = ParseInput(in);
    s += ref.control ? "^" : Signature(g, r, ref.node, depth + 1);
    s += ",";
  }
  return s + ")";
}

struct Program {
  std::vector<int64_t> code;         // 4 ints per instruction
  std::vector<int64_t> const_bits;
  std::vector<std::string> handles;  // slot order
  std::vector<std::string> tensors;
  std::vector<int> tensor_types;
  std::vector<std::string> op_types;  // what was fused, in program order
};

// Compiles the region; false when it does not fit (registers, slots) or a
// constant is not a float scalar.
bool Compile(const GraphView& g, const Region& r, Program* p, std::string* last_sink) {
  std::map<std::string, int> reg;  // node -> register
  std::map<std::string, int> handle_slot, tensor_slot;
  std::set<std::string> visiting;
  constexpr int kTensorTag = 1 << 20;  // tensor operands, fixed up at the end
  bool ok = true;
  int next_reg = 0;
  auto new_reg = [&]() {
    if (next_reg >= kMaxRegisters) ok = false;
    return next_reg++;
  };
  auto handle = [&](const std::string& t) {
    auto it = handle_slot.find(t);
    if (it != handle_slot.end()) return kSlotOperand + it->second;
    const int s = static_cast<int>(p->handles.size());
    p->handles.push_back(t);
    handle_slot[t] = s;
    return kSlotOperand + s;
  };
  auto operand = [&](const NodeDef& user, int i) -> int {
    const TensorRef ref = ParseInput(user.input(i));
    const std::string t = TensorName(ref.node, ref.port);
    if (ref.port == 0 && reg.count(ref.node)) return reg[ref.node];
    const NodeDef* c = g.node(ref.node);
    std::vector<float> values;
    std::vector<int64_t> shape;
    if (c && ref.port == 0 && ConstFloats(*c, &values, &shape) && values.size() == 1) {
      uint32_t bits;
      std::memcpy(&bits, &values[0], 4);
      for (size_t k = 0; k < p->const_bits.size(); ++k)
        if (p->const_bits[k] == bits) return kConstOperand + static_cast<int>(k);
      p->const_bits.push_back(bits);
      if (p->const_bits.size() > kMaxConsts) ok = false;
      return kConstOperand + static_cast<int>(p->const_bits.size() - 1);
    }
    auto it = tensor_slot.find(t);
    if (it != tensor_slot.end()) return kTensorTag + it->second;
    const int type = InputType(user, i);
    if (!FloatType(type)) ok = false;
    tensor_slot[t] = static_cast<int>(p->tensors.size());
    p->tensors.push_back(t);
    p->tensor_types.push_back(type);
    return kTensorTag + static_cast<int>(p->tensors.size() - 1);
  };
  auto emit = [&](int code, int dst, int a, int b) {
    p->code.insert(p->code.end(), {code, dst, a, b});
  };
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (!ok || reg.count(name) || !r.nodes.count(name)) return;
    if (!visiting.insert(name).second) {
      if (!IsAssign(*g.node(name))) ok = false;  // a cycle (cannot happen in a GraphDef)
      return;
    }
    const NodeDef& n = *g.node(name);
    // Control inputs first (assigns this node is ordered after), then data.
    for (const std::string& in : n.input())
      if (ParseInput(in).control) visit(ParseInput(in).node);
    for (const std::string& in : n.input())
      if (!ParseInput(in).control) visit(ParseInput(in).node);
    if (!ok) return;
    p->op_types.push_back(n.op());
    if (n.op() == "ReadVariableOp") {
      const int dst = new_reg();
      emit(kRead, dst, handle(n.input(0)), 0);
      reg[name] = dst;
    } else if (IsAssign(n)) {
      const int h = handle(n.input(0));
      int value = operand(n, 1);
      if (n.op() != "AssignVariableOp") {
        const int dst = new_reg();
        const int round = AttrType(n, "dtype") == tensorflow::DT_HALF ? kRoundHalf : 0;
        emit((n.op() == "AssignAddVariableOp" ? kAdd : kSub) | round, dst, h, value);
        value = dst;
      }
      emit(kStore, 0, h - kSlotOperand, value);
      reg[name] = -1;  // done
      *last_sink = name;
    } else {
      const auto& info = Ops().at(n.op());
      const int type = ElementwiseType(n);
      const int a = operand(n, 0);
      const int b = info.second == 2 ? operand(n, 1) : 0;
      const int dst = new_reg();
      emit(info.first | (type == tensorflow::DT_HALF ? kRoundHalf : 0), dst, a, b);
      reg[name] = dst;
    }
  };
  std::vector<std::pair<std::string, std::string>> order;
  for (const std::string& s : r.sinks) order.emplace_back(Signature(g, r, s, 0), s);
  std::sort(order.begin(), order.end());
  for (const auto& o : order) visit(o.second);
  const int slots = static_cast<int>(p->handles.size() + p->tensors.size());
  if (!ok || slots > kMaxSlots - 0 || slots >= kConstOperand - kSlotOperand) return false;
  // Tensor operands come after the handles.
  for (size_t k = 0; k < p->code.size(); k += 4)
    for (int j = 2; j < 4; ++j)
      if (p->code[k + j] >= kTensorTag)
        p->code[k + j] = kSlotOperand + static_cast<int64_t>(p->handles.size()) +
                         (p->code[k + j] - kTensorTag);
  // The first slot stored to sizes the entry: it must be a variable slot.
  return true;
}

NodeDef FusedNode(const std::string& name, const std::string& device, const Program& p,
                  const std::set<std::string>& controls) {
  NodeDef fused;
  fused.set_name(name);
  fused.set_device(device);
  fused.set_op(kFusedOp);
  for (const std::string& h : p.handles) fused.add_input(h);
  for (const std::string& t : p.tensors) fused.add_input(t);
  for (const std::string& c : controls) fused.add_input(ControlName(c));
  auto& attr = *fused.mutable_attr();
  attr["num_handles"].set_i(static_cast<int64_t>(p.handles.size()));
  attr["N"].set_i(1);
  attr["Tin"].mutable_list();
  for (int t : p.tensor_types)
    attr["Tin"].mutable_list()->add_type(static_cast<tensorflow::DataType>(t));
  attr["program"].mutable_list();
  for (int64_t c : p.code) attr["program"].mutable_list()->add_i(c);
  attr["const_bits"].mutable_list();
  for (int64_t c : p.const_bits) attr["const_bits"].mutable_list()->add_i(c);
  return fused;
}

void RunUpdate(GraphView& g, const std::set<std::string>& preserve,
               std::vector<RewriteResult>* done) {
  std::set<std::string> claimed;
  std::vector<std::string> sinks;
  for (const NodeDef& n : g.graph()->node())
    if (IsAssign(n) && OnPluginGpu(n.device()) && FloatType(AttrType(n, "dtype")))
      sinks.push_back(n.name());
  for (const std::string& s : sinks) {
    NodeDef* sink = g.node(s);
    if (!sink || claimed.count(s)) continue;
    Region r;
    Program p;
    std::string last;
    if (!Grow(g, sink, preserve, claimed, &r) || !Compile(g, r, &p, &last)) {
      claimed.insert(r.nodes.begin(), r.nodes.end());  // tried: not again from its other assigns
      continue;
    }
    std::set<std::string> controls;
    for (const std::string& name : r.nodes)
      for (const std::string& in : g.node(name)->input()) {
        const TensorRef ref = ParseInput(in);
        if (ref.control && !r.nodes.count(ref.node)) controls.insert(ref.node);
      }
    *g.node(last) = FusedNode(last, sink->device(), p, controls);
    std::set<std::string> removed = r.nodes;
    removed.erase(last);
    Replace(g, preserve, last, &removed);
    g.RemoveNodes(removed);
    claimed.insert(r.nodes.begin(), r.nodes.end());
    done->push_back({last, kFusedOp, "optimizer_update", p.op_types});
  }
}

// --- 3. optimizer_multi ------------------------------------------------------------

// The per-entry key of a fused update: what must agree to share a program.
std::string GroupKey(const NodeDef& n) {
  const int64_t entries = n.attr().at("N").i();
  const int64_t k_h = n.attr().at("num_handles").i() / entries;
  const auto& tin = n.attr().at("Tin").list();
  const int64_t k_t = tin.type_size() / entries;
  std::string key = n.device() + "|" + std::to_string(k_h) + "|";
  for (int i = 0; i < k_t; ++i) key += std::to_string(tin.type(i)) + ",";
  key += "|";
  std::string bytes;
  n.attr().at("program").SerializeToString(&bytes);
  key += bytes + "|";
  n.attr().at("const_bits").SerializeToString(&bytes);
  return key + bytes;
}

void RunMulti(GraphView& g, const std::set<std::string>& preserve,
              std::vector<RewriteResult>* done) {
  std::map<std::string, std::vector<std::string>> groups;
  for (const NodeDef& n : g.graph()->node())
    if (n.op() == kFusedOp && OnPluginGpu(n.device()) && n.attr().count("N") &&
        n.attr().count("program") && n.attr().count("Tin") && n.attr().count("const_bits"))
      groups[GroupKey(n)].push_back(n.name());
  for (auto& kv : groups) {
    std::vector<std::string>& members = kv.second;
    if (members.size() < 2) continue;
    // Ancestors of each member: two members join only when neither is
    // upstream of the other.
    std::map<std::string, std::set<std::string>> up;
    for (const std::string& m : members) {
      std::set<std::string>& seen = up[m];
      std::deque<std::string> q = {m};
      while (!q.empty()) {
        const NodeDef* n = g.node(q.front());
        q.pop_front();
        if (!n) continue;
        for (const std::string& in : n->input()) {
          const std::string p = ParseInput(in).node;
          if (seen.insert(p).second) q.push_back(p);
        }
      }
    }
    // The variables each member reads and writes: a member joins only when
    // it writes nothing another one touches and touches nothing another one
    // writes (the entries of one dispatch run in no order).
    auto variables = [&](const std::string& m, bool written) {
      const NodeDef& n = *g.node(m);
      const int64_t entries = n.attr().at("N").i();
      const int64_t k_h = n.attr().at("num_handles").i() / entries;
      std::set<int64_t> slots;
      const auto& code = n.attr().at("program").list().i();
      for (int k = 0; k + 3 < code.size(); k += 4)
        if ((code[k] & 255) == kStore) slots.insert(code[k + 2]);
      std::set<std::string> out;
      for (int64_t i = 0; i < n.attr().at("num_handles").i(); ++i)
        if (!written || slots.count(i % k_h)) out.insert(ParseInput(n.input(i)).node + ":" +
                                                         std::to_string(ParseInput(n.input(i)).port));
      return out;
    };
    std::vector<std::string> group;
    std::set<std::string> group_touched, group_written;
    for (const std::string& m : members) {
      bool independent = true;
      for (const std::string& o : group) independent &= !up[m].count(o) && !up[o].count(m);
      const std::set<std::string> touched = variables(m, false), written = variables(m, true);
      for (const std::string& v : touched) independent &= !group_written.count(v);
      for (const std::string& v : written) independent &= !group_touched.count(v);
      if (!independent) continue;
      group.push_back(m);
      group_touched.insert(touched.begin(), touched.end());
      group_written.insert(written.begin(), written.end());
    }
    if (group.size() < 2) continue;
    const std::string keep = group[0];
    NodeDef merged = *g.node(keep);
    merged.clear_input();
    auto& attr = *merged.mutable_attr();
    attr["Tin"].mutable_list()->clear_type();
    int64_t entries = 0, handles = 0;
    std::vector<std::string> tensors;
    std::set<std::string> controls, members_set(group.begin(), group.end());
    for (const std::string& m : group) {
      const NodeDef& n = *g.node(m);
      const int64_t nh = n.attr().at("num_handles").i();
      entries += n.attr().at("N").i();
      handles += nh;
      int i = 0;
      for (const std::string& in : n.input()) {
        const TensorRef ref = ParseInput(in);
        if (ref.control) {
          if (!members_set.count(ref.node)) controls.insert(ref.node);
        } else if (i++ < nh) {
          merged.add_input(in);
        } else {
          tensors.push_back(in);
        }
      }
      for (int t : n.attr().at("Tin").list().type())
        attr["Tin"].mutable_list()->add_type(static_cast<tensorflow::DataType>(t));
    }
    for (const std::string& t : tensors) merged.add_input(t);
    for (const std::string& c : controls) merged.add_input(ControlName(c));
    attr["N"].set_i(entries);
    attr["num_handles"].set_i(handles);
    *g.node(keep) = merged;
    std::set<std::string> removed(group.begin() + 1, group.end());
    Replace(g, preserve, keep, &removed);
    g.RemoveNodes(removed);
    done->push_back({keep, kFusedOp, "optimizer_multi", {"entries=" + std::to_string(entries)}});
  }
}

// --- ResourceApply* ops (TF1 / tf_keras optimizers) --------------------------------
// The dense ResourceApply* ops with a program per formula: the same
// operations as kernels/optimizers.cc's apply.comp (variants.py APPLY), so
// optimizer_multi can put the whole step in one dispatch.

class ApplyBuilder {
 public:
  ApplyBuilder(const NodeDef& n, int handles, bool half) : half_(half), k_(handles) {
    for (int i = 0; i < GraphView::NumDataInputs(n); ++i)
      (i < handles ? p.handles : p.tensors).push_back(n.input(i));
    p.tensor_types.assign(p.tensors.size(), AttrType(n, "T"));
  }
  int Slot(int i) const { return kSlotOperand + i; }  // input i of the op
  int Read(int handle) { return Op(kRead, Slot(handle), 0, false); }
  int One() {
    p.const_bits = {0x3f800000};
    return kConstOperand;
  }
  int Op(int code, int a, int b = 0, bool round = true) {
    const int dst = next_++;
    p.code.insert(p.code.end(), {code | (round && half_ ? kRoundHalf : 0), dst, a, b});
    return dst;
  }
  void Store(int handle, int value) { p.code.insert(p.code.end(), {kStore, 0, handle, value}); }
  bool Ok() const { return next_ <= kMaxRegisters && k_ + p.tensors.size() < 64; }
  Program p;

 private:
  bool half_;
  int k_, next_ = 0;
};

constexpr int kMul = 5, kDiv = 6, kSqrt = 10, kRsqrt = 11;

// Fills the program for a ResourceApply* node; false for ops not handled.
bool ApplyProgram(const NodeDef& n, Program* out) {
  const bool half = AttrType(n, "T") == tensorflow::DT_HALF;
  if (!FloatType(AttrType(n, "T"))) return false;
  const std::string& op = n.op();
  const bool nesterov = AttrBool(n, "use_nesterov");
  if (op == "ResourceApplyGradientDescent") {  // var, alpha, delta
    ApplyBuilder b(n, 1, half);
    const int var = b.Read(0);
    b.Store(0, b.Op(kSub, var, b.Op(kMul, b.Slot(2), b.Slot(1))));
    *out = b.p;
    return b.Ok();
  }
  if (op == "ResourceApplyMomentum" || op == "ResourceApplyKerasMomentum") {
    ApplyBuilder b(n, 2, half);  // var, accum, lr, grad, momentum
    const int var = b.Read(0), accum0 = b.Read(1), lr = b.Slot(2), g = b.Slot(3), mom = b.Slot(4);
    int accum, nv;
    if (op == "ResourceApplyMomentum") {
      accum = b.Op(kAdd, b.Op(kMul, accum0, mom), g);
      nv = nesterov ? b.Op(kSub, var, b.Op(kAdd, b.Op(kMul, g, lr), b.Op(kMul, b.Op(kMul, accum, mom), lr)))
                    : b.Op(kSub, var, b.Op(kMul, accum, lr));
    } else {
      accum = b.Op(kSub, b.Op(kMul, accum0, mom), b.Op(kMul, g, lr));
      nv = nesterov ? b.Op(kAdd, var, b.Op(kSub, b.Op(kMul, accum, mom), b.Op(kMul, g, lr)))
                    : b.Op(kAdd, var, accum);
    }
    b.Store(0, nv);
    b.Store(1, accum);
    *out = b.p;
    return b.Ok();
  }
  if (op == "ResourceApplyAdam") {
    // var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad
    ApplyBuilder b(n, 3, half);
    const int one = b.One();
    const int var = b.Read(0), m0 = b.Read(1), v0 = b.Read(2);
    const int b1p = b.Slot(3), b2p = b.Slot(4), lr = b.Slot(5), b1 = b.Slot(6), b2 = b.Slot(7),
              eps = b.Slot(8), g = b.Slot(9);
    const int alpha =
        b.Op(kDiv, b.Op(kMul, lr, b.Op(kSqrt, b.Op(kSub, one, b2p))), b.Op(kSub, one, b1p));
    const int m = b.Op(kAdd, m0, b.Op(kMul, b.Op(kSub, g, m0), b.Op(kSub, one, b1)));
    const int v =
        b.Op(kAdd, v0, b.Op(kMul, b.Op(kSub, b.Op(kMul, g, g), v0), b.Op(kSub, one, b2)));
    const int num = nesterov ? b.Op(kMul, b.Op(kAdd, b.Op(kMul, g, b.Op(kSub, one, b1)), b.Op(kMul, b1, m)), alpha)
                             : b.Op(kMul, m, alpha);
    b.Store(0, b.Op(kSub, var, b.Op(kDiv, num, b.Op(kAdd, b.Op(kSqrt, v), eps))));
    b.Store(1, m);
    b.Store(2, v);
    *out = b.p;
    return b.Ok();
  }
  if (op == "ResourceApplyRMSProp") {
    // var, ms, mom, lr, rho, momentum, epsilon, grad
    ApplyBuilder b(n, 3, half);
    const int one = b.One();
    const int var = b.Read(0), ms0 = b.Read(1), mom0 = b.Read(2);
    const int lr = b.Slot(3), rho = b.Slot(4), momentum = b.Slot(5), eps = b.Slot(6), g = b.Slot(7);
    const int ms =
        b.Op(kAdd, ms0, b.Op(kMul, b.Op(kSub, b.Op(kMul, g, g), ms0), b.Op(kSub, one, rho)));
    const int mom = b.Op(kAdd, b.Op(kMul, mom0, momentum),
                         b.Op(kDiv, b.Op(kMul, g, lr), b.Op(kSqrt, b.Op(kAdd, ms, eps))));
    b.Store(0, b.Op(kSub, var, mom));
    b.Store(1, ms);
    b.Store(2, mom);
    *out = b.p;
    return b.Ok();
  }
  if (op == "ResourceApplyAdagrad" || op == "ResourceApplyAdagradV2") {
    // var, accum, lr, [epsilon,] grad
    const bool v2 = op == "ResourceApplyAdagradV2";
    ApplyBuilder b(n, 2, half);
    const int var = b.Read(0), accum0 = b.Read(1), lr = b.Slot(2), g = b.Slot(v2 ? 4 : 3);
    const bool update = AttrBool(n, "update_slots", true);
    const int accum = update ? b.Op(kAdd, accum0, b.Op(kMul, g, g)) : accum0;
    const int step = v2 ? b.Op(kDiv, b.Op(kMul, g, lr), b.Op(kAdd, b.Op(kSqrt, accum), b.Slot(3)))
                        : b.Op(kMul, b.Op(kMul, g, lr), b.Op(kRsqrt, accum));
    b.Store(0, b.Op(kSub, var, step));
    if (update) b.Store(1, accum);
    *out = b.p;
    return b.Ok();
  }
  return false;
}

void RunApply(GraphView& g, const std::set<std::string>& preserve,
              std::vector<RewriteResult>* done) {
  std::vector<std::string> names;
  for (const NodeDef& n : g.graph()->node())
    if (OnPluginGpu(n.device()) && n.op().rfind("ResourceApply", 0) == 0) names.push_back(n.name());
  for (const std::string& name : names) {
    NodeDef* n = g.node(name);
    Program p;
    if (!ApplyProgram(*n, &p)) continue;
    std::set<std::string> controls;
    for (const std::string& in : n->input())
      if (ParseInput(in).control) controls.insert(ParseInput(in).node);
    const std::string op = n->op();
    *n = FusedNode(name, n->device(), p, controls);
    done->push_back({name, kFusedOp, "optimizer_apply", {op}});
  }
  g.Rebuild();
}

}  // namespace

void AddOptimizerRewrites(std::vector<GraphRewrite>* out) {
  out->push_back({"optimizer_cse", "optimizer", RunCse});
  out->push_back({"optimizer_update", "optimizer", RunUpdate});
  out->push_back({"optimizer_apply", "optimizer", RunApply});
  out->push_back({"optimizer_multi", "optimizer", RunMulti});
}

}  // namespace grappler
}  // namespace tfmp
