// Fusion patterns as data (DESIGN.md, section 3): a pattern is a small DAG of
// PatternNodes (op types, input edges by label, an attribute predicate), a
// Check for what the structure cannot say, and a Build that writes the fused
// node. One file per fusion under patterns/, registered in one list
// (patterns/registry.cc) and tried largest first. The driver
// (optimizer.cc) enforces what every fusion needs: all nodes on the plugin's
// GPU, every removed node consumed only inside the pattern and not a node
// TF asked to preserve (fetches, feeds, function outputs).
#ifndef TFMP_GRAPPLER_PATTERN_H_
#define TFMP_GRAPPLER_PATTERN_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "grappler/graph.h"

namespace tfmp {
namespace grappler {

struct PatternNode {
  std::string label;
  std::vector<std::string> ops;     // accepted op types
  // Data inputs by label, in order. A label that no PatternNode of the
  // pattern declares is a leaf: it binds any tensor (the same tensor each
  // time it appears).
  std::vector<std::string> inputs;
  bool commutative = false;          // two inputs that may come in either order
  bool (*pred)(const NodeDef&) = nullptr;  // attribute / constant predicate
};

// What a match binds: pattern nodes to graph nodes, leaves to tensor names.
struct Match {
  std::map<std::string, NodeDef*> nodes;
  std::map<std::string, std::string> leaves;
  NodeDef* node(const std::string& label) const {
    auto it = nodes.find(label);
    return it == nodes.end() ? nullptr : it->second;
  }
  std::string leaf(const std::string& label) const {
    auto it = leaves.find(label);
    return it == leaves.end() ? "" : it->second;
  }
};

struct Pattern;
// The fused node replaces the root (it keeps the root's name and device, so
// every reference to it stays valid); Build fills in op, inputs and attrs and
// may add helper nodes (e.g. a reshaped constant) to the graph.
using CheckFn = bool (*)(const Pattern&, const Match&, const GraphView&);
using BuildFn = bool (*)(const Pattern&, const Match&, GraphView&, NodeDef* fused);
// A pattern of variable shape matches with its own function instead of the
// node list (which then only names the root's op types, nodes[0].ops).
using MatchFn = bool (*)(const Pattern&, const GraphView&, NodeDef* root, Match* m);

struct Pattern {
  std::string name;    // reported in the fusion report, e.g. "conv2d_bias_relu"
  std::string family;  // the switch that turns it off: "conv", "matmul", ...
  std::vector<PatternNode> nodes;  // nodes[0] is the root
  CheckFn check = nullptr;
  BuildFn build = nullptr;
  // Free-form data the pattern file's Check/Build read (e.g. the fused
  // activation's name in TF's fused_ops vocabulary).
  std::map<std::string, std::string> params;
  std::string param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? "" : it->second;
  }
  size_t size() const { return nodes.size(); }
  MatchFn match = nullptr;  // set for variable-shape patterns (e.g. elementwise chains)
};

// Matches `p` with its root at `root`; fills *m.
bool MatchPattern(const Pattern& p, const GraphView& g, NodeDef* root, Match* m);

// --- Activations: sub-patterns appended to a contraction ---------------------
// An activation template: nodes[0] is the activation's output; the leaf "x"
// is its input. `fused_op` is its name in fused_ops ("" for none).
struct Activation {
  std::string name;      // "relu", "gelu_erf", ...
  std::string fused_op;  // "Relu", "GeluExact", ...
  std::vector<PatternNode> nodes;
};
const std::vector<Activation>& Activations();  // patterns/activations.cc

// The pattern `contraction` (root: the node computing the pre-activation
// value) followed by activation `a`: a's leaf "x" becomes the contraction's
// root; the activation's output becomes the root.
Pattern WithActivation(Pattern contraction, const Activation& a);

// Adds a contraction's patterns to `out`: each of `biased` (contraction + bias)
// alone and with every activation, and `fused` (TF's own fused op with just a
// bias) with every activation.
void AddContractionPatterns(const std::vector<Pattern>& biased, const Pattern& fused,
                            std::vector<Pattern>* out);

// Every pattern, largest first (patterns/registry.cc).
const std::vector<Pattern>& AllPatterns();

// Pattern files' registration functions (one per file).
void AddConvPatterns(std::vector<Pattern>* out);
void AddMatMulPatterns(std::vector<Pattern>* out);
// Inference BatchNorms folded into conv / matmul epilogues (patterns/batch_norm_folding.cc).
void AddBatchNormFoldingPatterns(std::vector<Pattern>* out);
// BatchMatMul + bias + activation, Dense on rank > 2 (patterns/batch_matmul_bias_activation.cc).
void AddBatchMatMulPatterns(std::vector<Pattern>* out);
// Sum over the batch of BatchMatMul(x, dy, adj_x) -> one MatMul (patterns/batch_matmul_grad_sum.cc).
void AddBatchMatMulGradSumPatterns(std::vector<Pattern>* out);
// Sum / Mean of a Mul or SquaredDifference -> _TfmpFusedReduction (patterns/reduce_prologue.cc).
void AddReduceProloguePatterns(std::vector<Pattern>* out);
// Elementwise chains -> _TfmpFusedElementwise (patterns/elementwise_chain.cc);
// its one pattern ranks last (one node), after the conv/matmul epilogues.
void AddElementwisePatterns(std::vector<Pattern>* out);

// --- Graph rewrites: fusions that are not one root's DAG ---------------------
// (multi-sink subgraphs ordered by control edges, e.g. an optimizer's update
// of a variable and its slots). Each runs once per optimization, after the
// patterns, in list order, and enforces the driver's safety rules itself
// (plugin GPU only, no `preserve` node removed, control edges kept).
struct RewriteResult {
  std::string name, op, pattern;
  std::vector<std::string> fused_ops;
};
struct GraphRewrite {
  std::string name;    // reported, and a switch (TFMP_FUSION_DISABLE=name)
  std::string family;  // the family switch, e.g. "optimizer"
  void (*run)(GraphView& g, const std::set<std::string>& preserve,
              std::vector<RewriteResult>* done);
};
const std::vector<GraphRewrite>& AllRewrites();  // patterns/registry.cc
void AddOptimizerRewrites(std::vector<GraphRewrite>* out);  // patterns/optimizer_update.cc
void AddAllFiniteRewrites(std::vector<GraphRewrite>* out);  // patterns/all_finite.cc
void AddLossScaleRewrites(std::vector<GraphRewrite>* out);  // patterns/loss_scale.cc
void AddConvRewrites(std::vector<GraphRewrite>* out);  // patterns/conv_bias_grad.cc
void AddMatMulRewrites(std::vector<GraphRewrite>* out);     // patterns/matmul_bias_grad.cc

// Shared by pattern files: predicates and builders.
bool IsFloatOrHalf(const NodeDef& n);  // attr T is float32 or float16
// The 1-D bias tensor a BiasAdd / Add-of-constant node adds to `x`, where
// `channels_last`: for Add, the other input must be a Const of shape [C]
// (or [1, ..., 1, C]); an Add's constant is reshaped to [C] as a new Const
// (its name returned in *bias_node_to_add). Empty when not a bias.
std::string BiasOf(const GraphView& g, const NodeDef& add, const std::string& x_tensor,
                   NodeDef* new_const);
// The names of TF's fused_ops list for a bias and an activation.
std::vector<std::string> FusedOps(const std::string& activation);
// The LeakyRelu alpha an activation match carries (0.2 otherwise).
float LeakyReluAlpha(const Match& m);

}  // namespace grappler
}  // namespace tfmp

#endif  // TFMP_GRAPPLER_PATTERN_H_
