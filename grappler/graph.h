// A mutable view of a GraphDef for the fusion patterns: nodes by name, the
// consumers of each node, tensor references ("name", "name:1", "^name"), and
// the few attribute and constant readers the patterns need.
#ifndef TFMP_GRAPPLER_GRAPH_H_
#define TFMP_GRAPPLER_GRAPH_H_

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensorflow/core/framework/graph.pb.h"
#include "tensorflow/core/framework/node_def.pb.h"

namespace tfmp {
namespace grappler {

using tensorflow::GraphDef;
using tensorflow::NodeDef;

// A parsed input reference of a NodeDef.
struct TensorRef {
  std::string node;
  int port = 0;
  bool control = false;
};
TensorRef ParseInput(const std::string& input);
std::string TensorName(const std::string& node, int port);

// True when `device` names a GPU device ("/job:.../device:GPU:0", "/GPU:0",
// "/device:gpu:1"): the plugin's device type. Unplaced nodes ("") are not.
bool OnPluginGpu(const std::string& device);

class GraphView {
 public:
  explicit GraphView(GraphDef* graph) : graph_(graph) { Rebuild(); }
  // Recomputes the maps after a mutation.
  void Rebuild();

  GraphDef* graph() const { return graph_; }
  NodeDef* node(const std::string& name) const;
  // The node producing a tensor reference, or null.
  NodeDef* producer(const std::string& input) const { return node(ParseInput(input).node); }
  // Nodes reading `name` (each consumer once, data or control).
  const std::vector<NodeDef*>& consumers(const std::string& name) const;
  // Whether any consumer reads `name` through an output port other than 0.
  bool HasNonZeroPortConsumer(const std::string& name) const;
  // Data inputs (control inputs come last in a NodeDef).
  static int NumDataInputs(const NodeDef& n);

  // Removes the named nodes (one pass over the graph) and rebuilds the maps.
  void RemoveNodes(const std::set<std::string>& names);

  // Static shapes by tensor name ("node", "node:1"), from TF's shape
  // inference (the driver fills them in; null when not computed). Dims are
  // -1 when unknown, < -1 for symbolic dims (equal values: equal sizes).
  using ShapeMap = std::map<std::string, std::vector<int64_t>>;
  void set_shapes(const ShapeMap* shapes) { shapes_ = shapes; }
  // The static shape of a tensor, false when its rank is unknown: from the
  // shape map, else the producer's _output_shapes attribute, else a Const's
  // value.
  bool StaticShape(const std::string& tensor, std::vector<int64_t>* dims) const;

 private:
  GraphDef* graph_;
  std::unordered_map<std::string, int> index_;
  std::unordered_map<std::string, std::vector<NodeDef*>> consumers_;
  std::set<std::string> nonzero_port_;
  const ShapeMap* shapes_ = nullptr;
};

// Attribute readers with fallbacks.
std::string AttrString(const NodeDef& n, const std::string& name, const std::string& fallback = "");
bool AttrBool(const NodeDef& n, const std::string& name, bool fallback = false);
float AttrFloat(const NodeDef& n, const std::string& name, float fallback = 0.0f);
int AttrType(const NodeDef& n, const std::string& name);  // tensorflow::DataType, 0 when absent

// The values of a float (or half) Const node, and its shape; false otherwise.
bool ConstFloats(const NodeDef& n, std::vector<float>* values, std::vector<int64_t>* shape);
// The values of an int32 / int64 Const of rank <= 1; false otherwise.
bool ConstInts(const NodeDef& n, std::vector<int64_t>* out);
// Whether `n` is a Const whose every element is within 1e-6 (relative) of v.
bool IsScalarConst(const NodeDef& n, float v);

}  // namespace grappler
}  // namespace tfmp

#endif  // TFMP_GRAPPLER_GRAPH_H_
