// The plugin's Grappler optimizer (TF_InitGraph): the driver that applies the
// fusion patterns (pattern.h), its switches and its report.
#ifndef TFMP_GRAPPLER_OPTIMIZER_H_
#define TFMP_GRAPPLER_OPTIMIZER_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "grappler/graph.h"
#include "tensorflow/c/experimental/grappler/grappler.h"
#include "tensorflow/core/framework/graph.pb.h"

namespace tfmp {
namespace grappler {

// The fusion families a user can switch off (pattern.h's Pattern::family).
const std::vector<std::string>& Families();

// What is on, read at every optimization run: the environment
// (TFMP_FUSION=0 turns the pass off; TFMP_FUSION_DISABLE=conv,matmul or
// pattern names) under the Python API's overrides (SetOverride).
struct FusionConfig {
  bool enabled = true;
  std::set<std::string> disabled;  // families and pattern names
  bool Allows(const std::string& family, const std::string& pattern) const {
    return enabled && !disabled.count(family) && !disabled.count(pattern);
  }
};
FusionConfig CurrentConfig();
// name: "all", a family or a pattern name; value 1 on, 0 off, -1 back to the
// environment's say.
bool SetOverride(const std::string& name, int value);
std::string ConfigJson();

struct RunReport {
  int nodes_before = 0, nodes_after = 0, device_nodes = 0;
  std::map<std::string, int> fired;  // pattern -> times
  struct Fused {
    std::string name, op, pattern;
    std::vector<std::string> fused_ops;
  };
  std::vector<Fused> fused;
  bool skipped = false;  // pass off, or no node on the plugin's GPU
};

// Applies every allowed pattern to `graph` until none fires. Never touches
// `preserve` nodes' names away, nodes off the plugin's GPU, or nodes whose
// output other nodes still read.
// `shapes`: static shapes (TF's shape inference), when computed.
void Optimize(tensorflow::GraphDef* graph, const std::set<std::string>& preserve,
              const FusionConfig& config, RunReport* report,
              const GraphView::ShapeMap* shapes = nullptr);

// Keeps the last runs' reports for tfmp.fusion_report().
void Record(const RunReport& r);
std::string ReportJson();
void ResetReport();

// Runs the pass on a serialized GraphDef outside TF (tests, tools): the
// `preserve` nodes play the fetches' part. Records a report like a TF run.
// False (and *out empty) when `in` is not a GraphDef.
bool OptimizeSerialized(const std::string& in, const std::set<std::string>& preserve,
                        std::string* out);

// TF_InitGraph's body: registers the optimizer for the plugin's device type
// and TF's pass switches (layout optimizer off).
void InitGraph(TP_OptimizerRegistrationParams* params, TF_Status* status);

}  // namespace grappler
}  // namespace tfmp

#endif  // TFMP_GRAPPLER_OPTIMIZER_H_
