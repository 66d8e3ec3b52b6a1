// LossScaleOptimizer's scalar bookkeeping as one dispatch (family
// "optimizer", rewrite "optimizer_loss_scale"). After a finite step Keras 3
// runs
//   cond(step_counter == growth_steps - 1,
//        lambda: (step_counter.assign(0), dynamic_scale.assign(scale * 2)),
//        lambda: step_counter.assign_add(1))
// and the inner optimizer counts its step (iterations + 1, and Adam's
// float(iterations + 1)): an Equal, the lowered cond (a host round trip of
// the predicate) and one integer dispatch per branch, plus AddV2 and Cast -
// three dispatches whatever the number of variables, which the multi-tensor
// update and the finite check leave as most of a mixed-precision step.
//
// The rewrite replaces the whole lowered cond (its Switches, both branches,
// the branch_executed Merge) and the Equal by _TfmpLossScaleStep
// (kernels/fused_update.cc, shaders/loss_scale_step.comp: one invocation),
// which computes the new counter and scale without a branch, and folds in
// the iteration increment and its float Cast when they sit in the same
// branch of the outer (finite) cond. The variables are then written by plain
// AssignVariableOps of its outputs; the Merge becomes a NoOp after them.
//
// It fires only on exactly that structure: the cond's predicate is
// Equal(read of an int64 variable, constant), read only by the cond's
// Switches; its then branch assigns 0 to that variable and `scale * 2` (the
// float32 read of another variable times 2) to the other; its else branch
// assigns read + 1 to the counter; nothing else happens in either branch,
// nothing outside reads the branches, the Merge is read through control
// edges only, and nothing is a node TF preserves. The new reads take the
// cond's control inputs (they run where the cond's reads ran). Runs after
// optimizer_cse (one iteration increment left) and before optimizer_update
// (the scale * 2 still plain ops).
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kOp[] = "_TfmpLossScaleStep";

std::string Ctl(const std::string& node) { return "^" + node; }

// The canonical form of a data input ("x:0" -> "x").
std::string Canon(const std::string& input) {
  const TensorRef r = ParseInput(input);
  return TensorName(r.node, r.port);
}

// A scalar int64 Const's value.
bool ConstInt64(const NodeDef& n, int64_t* v) {
  if (n.op() != "Const" || AttrType(n, "dtype") != tensorflow::DT_INT64) return false;
  const auto it = n.attr().find("value");
  if (it == n.attr().end()) return false;
  const tensorflow::TensorProto& t = it->second.tensor();
  if (t.tensor_shape().dim_size() != 0) return false;
  if (t.int64_val_size() == 1) {
    *v = t.int64_val(0);
    return true;
  }
  if (t.tensor_content().size() == sizeof(int64_t)) {
    std::memcpy(v, t.tensor_content().data(), sizeof(int64_t));
    return true;
  }
  return false;
}

// Follows Identity nodes from a data input to what produces it.
std::string ThroughIdentities(const GraphView& g, std::string tensor) {
  for (int i = 0; i < 64; ++i) {
    const NodeDef* p = g.producer(tensor);
    if (!p || p->op() != "Identity" || GraphView::NumDataInputs(*p) != 1) break;
    tensor = p->input(0);
  }
  return Canon(tensor);
}

// The (predicate, port) of the Switch a handle passes through (via
// Identities), or ("", -1) when it passes through none.
std::pair<std::string, int> Branch(const GraphView& g, const std::string& handle) {
  const std::string t = ThroughIdentities(g, handle);
  const NodeDef* p = g.producer(t);
  if (!p || p->op() != "Switch" || p->input_size() < 2) return {"", -1};
  return {Canon(p->input(1)), ParseInput(t).port};
}

struct Cond {
  std::string equal, counter_read, switch_pred, merge;
  std::set<std::string> switches, body;  // body: both branches
  std::string counter, scale;            // the variables' handles outside the cond
  std::string counter_assign, scale_assign, scale_read;  // then-branch nodes (cloned)
  int64_t grow_at = 0;
};

// What a tensor inside the cond's branches is, for the few forms its branches
// may take: the handle it reads (through the cond's Switch) and on which side.
struct Side {
  std::string handle;
  int port = -1;
};

bool HandleInCond(const GraphView& g, const Cond& c, const std::string& tensor, Side* s) {
  const std::string t = ThroughIdentities(g, tensor);
  const NodeDef* p = g.producer(t);
  if (!p || !c.switches.count(p->name()) || p->name() == c.switch_pred) return false;
  s->handle = Canon(p->input(0));
  s->port = ParseInput(t).port;
  return true;
}

bool MatchCond(const GraphView& g, const std::set<std::string>& preserve, NodeDef* eq, Cond* c) {
  if (eq->op() != "Equal" || AttrType(*eq, "T") != tensorflow::DT_INT64 ||
      GraphView::NumDataInputs(*eq) != 2 || !OnPluginGpu(eq->device()) || preserve.count(eq->name()))
    return false;
  c->equal = eq->name();
  const NodeDef* read = nullptr;
  bool have_const = false;
  for (int i = 0; i < 2; ++i) {
    const NodeDef* p = g.producer(eq->input(i));
    if (!p || ParseInput(eq->input(i)).port != 0) return false;
    if (p->op() == "ReadVariableOp" && AttrType(*p, "dtype") == tensorflow::DT_INT64) read = p;
    else if (ConstInt64(*p, &c->grow_at)) have_const = true;
  }
  if (!read || !have_const) return false;
  c->counter_read = read->name();
  c->counter = Canon(read->input(0));
  // The Equal is read only by Switches' predicates: the cond.
  for (const NodeDef* s : g.consumers(eq->name())) {
    if (s->op() != "Switch" || s->input_size() < 2 || Canon(s->input(1)) != eq->name() ||
        preserve.count(s->name()) || !OnPluginGpu(s->device()))
      return false;
    for (int i = 2; i < s->input_size(); ++i)
      if (!ParseInput(s->input(i)).control) return false;
    if (Canon(s->input(0)) == eq->name()) {
      if (!c->switch_pred.empty()) return false;
      c->switch_pred = s->name();
    }
    c->switches.insert(s->name());
  }
  if (c->switch_pred.empty() || c->switches.size() < 2) return false;
  // Both branches: everything downstream of the Switches up to the Merge.
  std::deque<std::string> queue(c->switches.begin(), c->switches.end());
  std::set<std::string> merges;
  while (!queue.empty()) {
    const std::string name = queue.front();
    queue.pop_front();
    for (const NodeDef* n : g.consumers(name)) {
      if (c->body.count(n->name()) || c->switches.count(n->name())) continue;
      if (preserve.count(n->name()) || !OnPluginGpu(n->device())) return false;
      if (n->op() == "Merge") {
        merges.insert(n->name());
        continue;
      }
      c->body.insert(n->name());
      queue.push_back(n->name());
    }
  }
  if (merges.size() != 1) return false;
  c->merge = *merges.begin();
  const NodeDef* merge = g.node(c->merge);
  for (const std::string& in : merge->input())
    if (!c->body.count(ParseInput(in).node)) return false;
  for (const NodeDef* n : g.consumers(c->merge))
    for (const std::string& in : n->input()) {
      const TensorRef r = ParseInput(in);
      if (r.node == c->merge && !r.control) return false;
    }
  // Nothing outside the cond reads its branches.
  for (const std::string& b : c->body)
    for (const NodeDef* n : g.consumers(b))
      if (!c->body.count(n->name()) && n->name() != c->merge) return false;
  // Every branch node's inputs come from the cond (Switches, branches) or
  // are constants' control inputs.
  for (const std::string& b : c->body) {
    const NodeDef* n = g.node(b);
    for (const std::string& in : n->input()) {
      const std::string src = ParseInput(in).node;
      if (!c->body.count(src) && !c->switches.count(src)) return false;
    }
  }
  // The branches' effects: exactly three assigns of the forms above.
  bool counter_zero = false, counter_inc = false, scale_double = false;
  for (const std::string& b : c->body) {
    const NodeDef* n = g.node(b);
    const std::string& op = n->op();
    if (op == "Identity" || op == "NoOp" || op == "Const" || op == "ReadVariableOp" ||
        op == "AddV2" || op == "Mul")
      continue;  // pure: judged where an assign reads them
    if (op != "AssignVariableOp" || GraphView::NumDataInputs(*n) != 2) return false;
    Side s;
    if (!HandleInCond(g, *c, n->input(0), &s)) return false;
    const NodeDef* v = g.producer(n->input(1));
    if (!v || ParseInput(n->input(1)).port != 0) return false;
    int64_t k;
    if (s.handle == c->counter && s.port == 1 && ConstInt64(*v, &k) && k == 0 && !counter_zero) {
      counter_zero = true;
      c->counter_assign = n->name();
      continue;
    }
    if (s.handle == c->counter && s.port == 0 && v->op() == "AddV2" && !counter_inc &&
        AttrType(*v, "T") == tensorflow::DT_INT64) {
      bool ok = false;
      for (int i = 0; i < 2 && !ok; ++i) {
        const NodeDef* r = g.producer(v->input(i));
        const NodeDef* one = g.producer(v->input(1 - i));
        Side rs;
        ok = r && one && r->op() == "ReadVariableOp" && ConstInt64(*one, &k) && k == 1 &&
             HandleInCond(g, *c, r->input(0), &rs) && rs.handle == c->counter && rs.port == 0;
      }
      if (!ok) return false;
      counter_inc = true;
      continue;
    }
    if (s.port == 1 && v->op() == "Mul" && AttrType(*v, "T") == tensorflow::DT_FLOAT &&
        AttrType(*n, "dtype") == tensorflow::DT_FLOAT && !scale_double && s.handle != c->counter) {
      bool ok = false;
      for (int i = 0; i < 2 && !ok; ++i) {
        const NodeDef* r = g.producer(v->input(i));
        const NodeDef* two = g.producer(v->input(1 - i));
        Side rs;
        ok = r && two && r->op() == "ReadVariableOp" && ParseInput(v->input(i)).port == 0 &&
             IsScalarConst(*two, 2.0f) && AttrType(*two, "dtype") == tensorflow::DT_FLOAT &&
             HandleInCond(g, *c, r->input(0), &rs) && rs.handle == s.handle && rs.port == 1;
        if (ok) c->scale_read = r->name();
      }
      if (!ok) return false;
      scale_double = true;
      c->scale = s.handle;
      c->scale_assign = n->name();
      continue;
    }
    return false;
  }
  return counter_zero && counter_inc && scale_double;
}

// Whether any of `targets` is downstream (data or control) of `from`.
bool Reaches(const GraphView& g, const std::set<std::string>& from,
             const std::set<std::string>& targets) {
  std::set<std::string> seen(from.begin(), from.end());
  std::deque<std::string> queue(from.begin(), from.end());
  while (!queue.empty()) {
    const std::string name = queue.front();
    queue.pop_front();
    for (const NodeDef* n : g.consumers(name)) {
      if (targets.count(n->name())) return true;
      if (seen.insert(n->name()).second) queue.push_back(n->name());
    }
  }
  return false;
}

NodeDef Clone(const NodeDef& n, const std::string& name) {
  NodeDef c = n;
  c.set_name(name);
  c.clear_input();
  c.mutable_attr()->erase("_class");
  return c;
}

std::string Unique(const GraphView& g, const std::string& base) {
  std::string name = base;
  for (int i = 1; g.node(name); ++i) name = base + "_" + std::to_string(i);
  return name;
}

void RunLossScale(GraphView& g, const std::set<std::string>& preserve,
                  std::vector<RewriteResult>* done) {
  std::vector<std::string> equals;
  for (const NodeDef& n : g.graph()->node())
    if (n.op() == "Equal" && OnPluginGpu(n.device())) equals.push_back(n.name());
  for (const std::string& name : equals) {
    NodeDef* eq = g.node(name);
    Cond c;
    if (!eq || !MatchCond(g, preserve, eq, &c)) continue;
    const std::string device = eq->device();
    // The cond's control inputs: the new reads run where its reads ran.
    std::vector<std::string> controls = {Ctl(c.counter_read)};
    for (const std::string& in : g.node(c.switch_pred)->input())
      if (ParseInput(in).control) controls.push_back(in);

    // The inner optimizer's iteration increment in the same branch of the
    // outer cond: AddV2(read of an int64 variable, 1), assigned back; its
    // float32 Casts go too.
    std::string iter_add, iter_read, iter_handle;
    std::vector<std::string> casts;
    const auto branch = Branch(g, c.counter);
    for (const NodeDef& n : g.graph()->node()) {
      if (n.op() != "AddV2" || AttrType(n, "T") != tensorflow::DT_INT64 || !OnPluginGpu(n.device()) ||
          preserve.count(n.name()) || c.body.count(n.name()) || GraphView::NumDataInputs(n) != 2)
        continue;
      std::string read;
      for (int i = 0; i < 2 && read.empty(); ++i) {
        const NodeDef* r = g.producer(n.input(i));
        const NodeDef* one = g.producer(n.input(1 - i));
        int64_t k;
        if (r && one && r->op() == "ReadVariableOp" && ParseInput(n.input(i)).port == 0 &&
            ConstInt64(*one, &k) && k == 1)
          read = r->name();
      }
      if (read.empty()) continue;
      const std::string handle = Canon(g.node(read)->input(0));
      if (handle == c.counter || handle == c.scale || Branch(g, handle) != branch) continue;
      bool assigned = false;
      std::vector<std::string> cs;
      for (const NodeDef* u : g.consumers(n.name())) {
        bool data = false;
        for (const std::string& in : u->input()) {
          const TensorRef r = ParseInput(in);
          if (r.node == n.name()) data |= !r.control;
        }
        if (!data) continue;
        if (u->op() == "AssignVariableOp" && Canon(u->input(0)) == handle) assigned = true;
        else if (u->op() == "Cast" && AttrType(*u, "DstT") == tensorflow::DT_FLOAT &&
                 !preserve.count(u->name()) && u->device() == n.device())
          cs.push_back(u->name());
      }
      if (!assigned) continue;
      // No cycle: the step's inputs may not depend on the increment.
      std::set<std::string> sources = {read};
      for (const std::string& k : controls) sources.insert(ParseInput(k).node);
      if (Reaches(g, {n.name()}, sources)) continue;
      // ... nor the increment's read on the cond.
      std::set<std::string> cond_nodes(c.switches.begin(), c.switches.end());
      cond_nodes.insert(c.equal);
      if (Reaches(g, cond_nodes, {read})) continue;
      if (!iter_add.empty()) {  // two candidates: leave both alone
        iter_add.clear();
        break;
      }
      iter_add = n.name();
      iter_read = read;
      iter_handle = handle;
      casts = cs;
    }

    // The new nodes: two reads, the step, two assigns; the Merge a NoOp.
    const std::string base = c.merge;
    const std::string rc = Unique(g, base + "/counter_read"), rs = Unique(g, base + "/scale_read");
    const std::string ac = Unique(g, base + "/counter_assign"), as = Unique(g, base + "/scale_assign");
    NodeDef read_c = Clone(*g.node(c.counter_read), rc);
    NodeDef read_s = Clone(*g.node(c.scale_read), rs);
    for (NodeDef* r : {&read_c, &read_s}) r->set_device(device);
    read_c.add_input(c.counter);
    read_s.add_input(c.scale);
    for (const std::string& k : controls) {
      read_c.add_input(k);
      read_s.add_input(k);
    }
    NodeDef step;
    step.set_name(c.equal);
    step.set_op(kOp);
    step.set_device(device);
    step.add_input(rc);
    step.add_input(rs);
    if (!iter_add.empty()) step.add_input(iter_read);
    (*step.mutable_attr())["grow_at"].set_i(c.grow_at);
    (*step.mutable_attr())["Ni"].set_i(iter_add.empty() ? 0 : 1);
    NodeDef assign_c = Clone(*g.node(c.counter_assign), ac);
    NodeDef assign_s = Clone(*g.node(c.scale_assign), as);
    assign_c.add_input(c.counter);
    assign_c.add_input(TensorName(c.equal, 0));
    assign_s.add_input(c.scale);
    assign_s.add_input(TensorName(c.equal, 1));
    for (NodeDef* a : {&assign_c, &assign_s}) a->set_device(device);
    NodeDef merge;
    merge.set_name(c.merge);
    merge.set_op("NoOp");
    merge.set_device(g.node(c.merge)->device());
    merge.add_input(Ctl(ac));
    merge.add_input(Ctl(as));

    std::set<std::string> removed = c.body;
    removed.insert(c.switches.begin(), c.switches.end());
    removed.insert(c.equal);
    removed.insert(c.merge);
    std::vector<std::string> fused_ops = {"Equal", "Switch x" + std::to_string(c.switches.size()),
                                          "Merge", "AddV2", "Mul", "AssignVariableOp x3"};
    if (!iter_add.empty()) {
      // Readers of the increment read the step's output 2, of its float
      // Casts output 3.
      for (const std::string& cast : casts) {
        for (NodeDef* u : std::vector<NodeDef*>(g.consumers(cast)))
          for (int i = 0; i < u->input_size(); ++i) {
            const TensorRef r = ParseInput(u->input(i));
            if (r.node == cast) u->set_input(i, r.control ? Ctl(c.equal) : TensorName(c.equal, 3));
          }
        removed.insert(cast);
        fused_ops.push_back("Cast");
      }
      for (NodeDef* u : std::vector<NodeDef*>(g.consumers(iter_add)))
        for (int i = 0; i < u->input_size(); ++i) {
          const TensorRef r = ParseInput(u->input(i));
          if (r.node == iter_add) u->set_input(i, r.control ? Ctl(c.equal) : TensorName(c.equal, 2));
        }
      // The increment's control inputs (its constant's, the branch's pivot)
      // stay with the step.
      for (const std::string& in : g.node(iter_add)->input())
        if (ParseInput(in).control) step.add_input(in);
      removed.insert(iter_add);
      fused_ops.push_back("AddV2 (iterations)");
    }
    g.RemoveNodes(removed);
    for (NodeDef* n : {&read_c, &read_s, &step, &assign_c, &assign_s, &merge})
      *g.graph()->add_node() = *n;
    g.Rebuild();
    done->push_back({c.equal, kOp, "optimizer_loss_scale", fused_ops});
  }
}

}  // namespace

void AddLossScaleRewrites(std::vector<GraphRewrite>* out) {
  out->push_back({"optimizer_loss_scale", "optimizer", RunLossScale});
}

}  // namespace grappler
}  // namespace tfmp
