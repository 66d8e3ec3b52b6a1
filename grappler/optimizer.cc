// The driver: TF hands the plugin each graph (twice: TF's meta-optimizer runs
// two rounds) after its own passes and placement; this applies the fusion
// patterns, largest first, until none fires, and reports what it did.
#include "grappler/optimizer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>

#include "grappler/graph.h"
#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/grappler/costs/op_performance_data.pb.h"

namespace tfmp {
namespace grappler {
namespace {

std::mutex& Mu() {
  static std::mutex* mu = new std::mutex;
  return *mu;
}
std::map<std::string, int>& Overrides() {
  static auto* o = new std::map<std::string, int>;
  return *o;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',' || c == ' ') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

// --- matching and rewriting ---------------------------------------------------

// What a match would remove, or false when the fusion is not safe: every
// non-constant node on the root's (plugin GPU) device, every node but the
// root read only inside the pattern and not one TF must preserve.
bool SafeToFuse(const Match& m, const NodeDef* root, const GraphView& g,
                const std::set<std::string>& preserve, std::set<std::string>* removed) {
  if (g.HasNonZeroPortConsumer(root->name())) return false;  // a fused op has one output
  std::set<const NodeDef*> inside;
  for (const auto& kv : m.nodes) inside.insert(kv.second);
  for (const auto& kv : m.nodes) {
    const NodeDef* n = kv.second;
    if (n == root || n->op() == "Const") continue;
    if (n->device() != root->device() || preserve.count(n->name())) return false;
    for (const NodeDef* c : g.consumers(n->name()))
      if (!inside.count(c)) return false;
    removed->insert(n->name());
  }
  return true;
}

// Replaces the match by `fused` (which has the root's name) and removes the
// nodes it absorbed: control inputs of absorbed nodes move to the fused node;
// constants only the pattern read go too.
void Apply(const Match& m, NodeDef* root, NodeDef fused, std::set<std::string> removed,
           const std::set<std::string>& preserve, GraphView& g) {
  std::set<std::string> controls;
  for (const auto& kv : m.nodes) {
    const NodeDef* n = kv.second;
    if (n->op() == "Const" && n != root) continue;
    for (const std::string& in : n->input()) {
      TensorRef r = ParseInput(in);
      if (r.control && !removed.count(r.node) && r.node != root->name()) controls.insert(r.node);
    }
  }
  std::set<std::string> fused_reads;
  for (const std::string& in : fused.input()) fused_reads.insert(ParseInput(in).node);
  for (const std::string& c : controls) fused.add_input("^" + c);
  // Constants now read by nobody.
  for (const auto& kv : m.nodes) {
    const NodeDef* n = kv.second;
    if (n->op() != "Const" || n == root || preserve.count(n->name()) || fused_reads.count(n->name()))
      continue;
    bool dead = true;
    for (const NodeDef* c : g.consumers(n->name())) dead &= removed.count(c->name()) != 0;
    if (dead) removed.insert(n->name());
  }
  *root = std::move(fused);
  g.RemoveNodes(removed);
}

}  // namespace

const std::vector<std::string>& Families() {
  static const std::vector<std::string>* f =
      new std::vector<std::string>{"conv", "matmul", "elementwise", "optimizer"};
  return *f;
}

FusionConfig CurrentConfig() {
  FusionConfig c;
  const std::string on = Env("TFMP_FUSION");
  for (const char* off : {"0", "off", "false", "no"})
    if (on == off) c.enabled = false;
  for (const std::string& name : SplitList(Env("TFMP_FUSION_DISABLE"))) c.disabled.insert(name);
  std::lock_guard<std::mutex> lock(Mu());
  for (const auto& kv : Overrides()) {
    if (kv.first == "all") c.enabled = kv.second != 0;
    else if (kv.second == 0) c.disabled.insert(kv.first);
    else c.disabled.erase(kv.first);
  }
  return c;
}

bool SetOverride(const std::string& name, int value) {
  bool known = name == "all" ||
               std::find(Families().begin(), Families().end(), name) != Families().end();
  for (const Pattern& p : AllPatterns()) known |= p.name == name;
  for (const GraphRewrite& r : AllRewrites()) known |= r.name == name;
  if (!known) return false;
  std::lock_guard<std::mutex> lock(Mu());
  if (value < 0) Overrides().erase(name);
  else Overrides()[name] = value != 0;
  return true;
}

std::string ConfigJson() {
  const FusionConfig c = CurrentConfig();
  std::ostringstream o;
  o << "{\"enabled\": " << (c.enabled ? "true" : "false") << ", \"families\": {";
  for (size_t i = 0; i < Families().size(); ++i)
    o << (i ? ", " : "") << Json(Families()[i]) << ": "
      << (c.Allows(Families()[i], "") ? "true" : "false");
  o << "}, \"disabled\": [";
  bool first = true;
  for (const std::string& d : c.disabled) o << (first ? "" : ", ") << Json(d), first = false;
  o << "], \"env\": {\"TFMP_FUSION\": " << Json(Env("TFMP_FUSION"))
    << ", \"TFMP_FUSION_DISABLE\": " << Json(Env("TFMP_FUSION_DISABLE")) << "}, \"patterns\": [";
  first = true;
  for (const Pattern& p : AllPatterns()) {
    o << (first ? "" : ", ") << "{\"name\": " << Json(p.name) << ", \"family\": " << Json(p.family)
      << ", \"nodes\": " << p.size() << "}";
    first = false;
  }
  for (const GraphRewrite& r : AllRewrites()) {
    o << (first ? "" : ", ") << "{\"name\": " << Json(r.name) << ", \"family\": " << Json(r.family)
      << ", \"nodes\": 0}";
    first = false;
  }
  o << "]}";
  return o.str();
}

void Optimize(tensorflow::GraphDef* graph, const std::set<std::string>& preserve,
              const FusionConfig& config, RunReport* report, const GraphView::ShapeMap* shapes) {
  report->nodes_before = graph->node_size();
  for (const NodeDef& n : graph->node()) report->device_nodes += OnPluginGpu(n.device());
  if (!config.enabled || report->device_nodes == 0) {
    report->skipped = true;
    report->nodes_after = graph->node_size();
    return;
  }
  GraphView g(graph);
  g.set_shapes(shapes);
  // Graph rewrites (pattern.h) first: the optimizer updates take whole
  // per-variable subgraphs (reads, arithmetic, assigns), which the
  // elementwise-chain pattern would otherwise split.
  for (const GraphRewrite& r : AllRewrites()) {
    if (!config.Allows(r.family, r.name)) continue;
    std::vector<RewriteResult> done;
    r.run(g, preserve, &done);
    for (RewriteResult& d : done) {
      report->fired[d.pattern]++;
      report->fused.push_back({d.name, d.op, d.pattern, std::move(d.fused_ops)});
    }
  }
  // Fixpoint: a fusion can make another possible (e.g. an activation after
  // a bias fused when the activation's input had other readers).
  for (int round = 0, changed = 1; changed && round < 8; ++round) {
    changed = 0;
    for (const Pattern& p : AllPatterns()) {
      if (!config.Allows(p.family, p.name)) continue;
      const std::vector<std::string>& root_ops = p.nodes[0].ops;
      for (int i = 0; i < graph->node_size(); ++i) {
        NodeDef* root = graph->mutable_node(i);
        if (std::find(root_ops.begin(), root_ops.end(), root->op()) == root_ops.end() ||
            !OnPluginGpu(root->device()))
          continue;
        Match m;
        std::set<std::string> removed;
        const bool matched = p.match ? p.match(p, g, root, &m) : MatchPattern(p, g, root, &m);
        if (!matched || !SafeToFuse(m, root, g, preserve, &removed) ||
            (p.check && !p.check(p, m, g)))
          continue;
        NodeDef fused;
        fused.set_name(root->name());
        fused.set_device(root->device());
        if (!p.build(p, m, g, &fused)) continue;
        RunReport::Fused f{fused.name(), fused.op(), p.name, {}};
        if (fused.attr().count("fused_ops"))
          for (const std::string& s : fused.attr().at("fused_ops").list().s()) f.fused_ops.push_back(s);
        Apply(m, root, std::move(fused), removed, preserve, g);
        report->fired[p.name]++;
        report->fused.push_back(f);
        changed = 1;
        i = -1;  // indices moved: scan again
      }
    }
  }
  report->nodes_after = graph->node_size();
}

// --- the report -----------------------------------------------------------------

namespace {
struct ReportStore {
  std::deque<RunReport> runs;
  std::map<std::string, long> totals;
  long optimized = 0;
};
ReportStore& Store() {
  static auto* s = new ReportStore;
  return *s;
}
constexpr size_t kKeepRuns = 256;
}  // namespace

void Record(const RunReport& r) {
  std::lock_guard<std::mutex> lock(Mu());
  ReportStore& s = Store();
  s.optimized++;
  for (const auto& kv : r.fired) s.totals[kv.first] += kv.second;
  s.runs.push_back(r);
  while (s.runs.size() > kKeepRuns) s.runs.pop_front();
}

std::string ReportJson() {
  std::lock_guard<std::mutex> lock(Mu());
  const ReportStore& s = Store();
  std::ostringstream o;
  o << "{\"graphs_optimized\": " << s.optimized << ", \"totals\": {";
  bool first = true;
  for (const auto& kv : s.totals) o << (first ? "" : ", ") << Json(kv.first) << ": " << kv.second, first = false;
  o << "}, \"runs\": [";
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const RunReport& r = s.runs[i];
    o << (i ? ", " : "") << "{\"nodes_before\": " << r.nodes_before
      << ", \"nodes_after\": " << r.nodes_after << ", \"device_nodes\": " << r.device_nodes
      << ", \"skipped\": " << (r.skipped ? "true" : "false") << ", \"fired\": {";
    first = true;
    for (const auto& kv : r.fired) o << (first ? "" : ", ") << Json(kv.first) << ": " << kv.second, first = false;
    o << "}, \"fused\": [";
    for (size_t j = 0; j < r.fused.size(); ++j) {
      const auto& f = r.fused[j];
      o << (j ? ", " : "") << "{\"name\": " << Json(f.name) << ", \"op\": " << Json(f.op)
        << ", \"pattern\": " << Json(f.pattern) << ", \"fused_ops\": [";
      for (size_t k = 0; k < f.fused_ops.size(); ++k) o << (k ? ", " : "") << Json(f.fused_ops[k]);
      o << "]}";
    }
    o << "]}";
  }
  o << "]}";
  return o.str();
}

void ResetReport() {
  std::lock_guard<std::mutex> lock(Mu());
  Store() = ReportStore();
}

// --- TF's plugin interface ------------------------------------------------------

namespace {

void SetOutput(const void* data, size_t size, TF_Buffer* out) {
  void* copy = std::malloc(size ? size : 1);
  if (size) std::memcpy(copy, data, size);
  out->data = copy;
  out->length = size;
  out->data_deallocator = [](void* d, size_t) { std::free(d); };
}

std::set<std::string> NamesFrom(const TF_GrapplerItem* item, bool fetch_only) {
  std::set<std::string> names;
  TF_Status* s = TF_NewStatus();
  int num = 0;
  size_t storage = 0;
  if (fetch_only) TF_GetFetchNodesListSize(item, &num, &storage, s);
  else TF_GetNodesToPreserveListSize(item, &num, &storage, s);
  if (TF_GetCode(s) == TF_OK && num > 0) {
    std::vector<char*> values(num);
    std::vector<size_t> lengths(num);
    std::vector<char> buffer(storage);
    if (fetch_only)
      TF_GetFetchNodesList(item, values.data(), lengths.data(), num, buffer.data(), storage, s);
    else
      TF_GetNodesToPreserveList(item, values.data(), lengths.data(), num, buffer.data(), storage, s);
    if (TF_GetCode(s) == TF_OK)
      for (int i = 0; i < num; ++i) names.insert(ParseInput(std::string(values[i], lengths[i])).node);
  }
  TF_DeleteStatus(s);
  return names;
}

// Static output shapes of every node (TF's shape inference on the item), for
// patterns that need them (elementwise chains); only computed when such a
// pattern is on.
GraphView::ShapeMap InferShapes(const TF_GrapplerItem* item, const tensorflow::GraphDef& graph) {
  GraphView::ShapeMap shapes;
  TF_Status* s = TF_NewStatus();
  TF_GraphProperties* props = TF_NewGraphProperties(item);
  TF_InferStatically(props, /*assume_valid_feeds=*/false, /*aggressive_shape_inference=*/false,
                     /*include_input_tensor_values=*/false, /*include_output_tensor_values=*/false, s);
  for (int i = 0; TF_GetCode(s) == TF_OK && i < graph.node_size(); ++i) {
    const std::string& name = graph.node(i).name();
    int num = 0;
    TF_GetOutputPropertiesListSize(props, name.c_str(), &num, s);
    if (TF_GetCode(s) != TF_OK || num <= 0) {
      TF_SetStatus(s, TF_OK, "");
      continue;
    }
    std::vector<TF_Buffer*> bufs(num);
    for (auto& b : bufs) b = TF_NewBuffer();
    TF_GetOutputPropertiesList(props, name.c_str(), bufs.data(), num, s);
    for (int k = 0; TF_GetCode(s) == TF_OK && k < num; ++k) {
      tensorflow::OpInfo::TensorProperties tp;
      if (!tp.ParseFromArray(bufs[k]->data, static_cast<int>(bufs[k]->length)) ||
          tp.shape().unknown_rank())
        continue;
      std::vector<int64_t> dims;
      for (const auto& d : tp.shape().dim()) dims.push_back(d.size());
      shapes[TensorName(name, k)] = dims;
    }
    for (auto& b : bufs) TF_DeleteBuffer(b);
    TF_SetStatus(s, TF_OK, "");
  }
  TF_DeleteGraphProperties(props);
  TF_DeleteStatus(s);
  return shapes;
}

void Dump(const std::string& tag, const tensorflow::GraphDef& g) {
  const std::string dir = Env("TFMP_FUSION_DUMP");
  if (dir.empty()) return;
  static std::atomic<int> counter{0};
  std::string bytes;
  g.SerializeToString(&bytes);
  char name[64];
  std::snprintf(name, sizeof(name), "/graph_%04d_%s.pb", counter.fetch_add(1), tag.c_str());
  std::ofstream(dir + name, std::ios::binary) << bytes;
}

void OptimizeGraph(void*, const TF_Buffer* in, const TF_GrapplerItem* item, TF_Buffer* out,
                   TF_Status* status) {
  TF_SetStatus(status, TF_OK, "");
  const FusionConfig config = CurrentConfig();
  tensorflow::GraphDef graph;
  if (!config.enabled || !graph.ParseFromArray(in->data, static_cast<int>(in->length))) {
    RunReport r;
    r.skipped = true;
    Record(r);
    SetOutput(in->data, in->length, out);  // unchanged
    return;
  }
  std::set<std::string> preserve = NamesFrom(item, false);
  for (const std::string& f : NamesFrom(item, true)) preserve.insert(f);
  Dump("before", graph);
  RunReport report;
  GraphView::ShapeMap shapes;
  bool any_on_gpu = false;
  for (const NodeDef& n : graph.node()) any_on_gpu |= OnPluginGpu(n.device());
  // Static shapes: for the elementwise chains, the optimizer's finite check,
  // and the conv/matmul patterns that check a broadcast or a reshape
  // (BatchNorm folding, Dense on rank > 2).
  bool need_shapes = false;
  for (const char* family : {"elementwise", "optimizer", "conv", "matmul"})
    need_shapes |= config.Allows(family, "");
  if (any_on_gpu && need_shapes) shapes = InferShapes(item, graph);
  Optimize(&graph, preserve, config, &report, &shapes);
  Record(report);
  if (report.fused.empty()) {
    SetOutput(in->data, in->length, out);
    return;
  }
  Dump("after", graph);
  std::string bytes;
  graph.SerializeToString(&bytes);
  SetOutput(bytes.data(), bytes.size(), out);
}

}  // namespace

bool OptimizeSerialized(const std::string& in, const std::set<std::string>& preserve,
                        std::string* out) {
  out->clear();
  tensorflow::GraphDef graph;
  if (!graph.ParseFromString(in)) return false;
  RunReport report;
  Optimize(&graph, preserve, CurrentConfig(), &report);
  Record(report);
  return graph.SerializeToString(out);
}

void InitGraph(TP_OptimizerRegistrationParams* params, TF_Status* status) {
  params->major_version = GO_MAJOR;
  params->minor_version = GO_MINOR;
  params->patch_version = GO_PATCH;
  params->device_type = "GPU";
  // TF's layout optimizer would wrap every convolution in NHWC<->NCHW
  // transposes for a "GPU"; the plugin's kernels take NHWC. TF applies these
  // switches to every graph of the process (DESIGN.md): the layout optimizer
  // does nothing for NHWC graphs on the CPU, so CPU graphs lose nothing.
  // TF's remapper stays on: it fuses CPU graphs (which turning it off would
  // slow down), and on this device its output (_FusedConv2D) is what the
  // plugin's patterns build on (patterns/conv_bias_activation.cc).
  params->optimizer_configs->struct_size = TP_OPTIMIZER_CONFIGS_STRUCT_SIZE;
  params->optimizer_configs->layout_optimizer = TF_TriState_Off;
  params->optimizer->struct_size = TP_OPTIMIZER_STRUCT_SIZE;
  params->optimizer->create_func = nullptr;
  params->optimizer->optimize_func = OptimizeGraph;
  params->optimizer->destroy_func = nullptr;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace grappler
}  // namespace tfmp
