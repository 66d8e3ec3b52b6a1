#include "grappler/graph.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {

TensorRef ParseInput(const std::string& input) {
  TensorRef r;
  std::string s = input;
  if (!s.empty() && s[0] == '^') {
    r.control = true;
    r.port = -1;
    s = s.substr(1);
  }
  const size_t colon = s.rfind(':');
  if (!r.control && colon != std::string::npos && colon + 1 < s.size()) {
    bool digits = true;
    for (size_t i = colon + 1; i < s.size(); ++i) digits &= std::isdigit(static_cast<unsigned char>(s[i])) != 0;
    if (digits) {
      r.port = std::stoi(s.substr(colon + 1));
      s = s.substr(0, colon);
    }
  }
  r.node = s;
  return r;
}

std::string TensorName(const std::string& node, int port) {
  return port == 0 ? node : node + ":" + std::to_string(port);
}

bool OnPluginGpu(const std::string& device) {
  std::string d;
  for (char c : device) d += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // "/DEVICE:GPU:0" or the short "/GPU:0".
  return d.find("/DEVICE:GPU:") != std::string::npos || d.rfind("/GPU:", 0) == 0 ||
         d.find("/GPU:") != std::string::npos;
}

void GraphView::Rebuild() {
  index_.clear();
  consumers_.clear();
  nonzero_port_.clear();
  for (int i = 0; i < graph_->node_size(); ++i) index_[graph_->node(i).name()] = i;
  for (int i = 0; i < graph_->node_size(); ++i) {
    NodeDef* n = graph_->mutable_node(i);
    std::set<std::string> seen;
    for (const std::string& in : n->input()) {
      TensorRef r = ParseInput(in);
      if (r.port > 0) nonzero_port_.insert(r.node);
      if (seen.insert(r.node).second) consumers_[r.node].push_back(n);
    }
  }
}

NodeDef* GraphView::node(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : graph_->mutable_node(it->second);
}

const std::vector<NodeDef*>& GraphView::consumers(const std::string& name) const {
  static const std::vector<NodeDef*> kNone;
  auto it = consumers_.find(name);
  return it == consumers_.end() ? kNone : it->second;
}

bool GraphView::HasNonZeroPortConsumer(const std::string& name) const {
  return nonzero_port_.count(name) != 0;
}

int GraphView::NumDataInputs(const NodeDef& n) {
  int k = 0;
  for (const std::string& in : n.input())
    if (in.empty() || in[0] != '^') ++k;
  return k;
}

void GraphView::RemoveNodes(const std::set<std::string>& names) {
  auto* nodes = graph_->mutable_node();
  int out = 0;
  for (int i = 0; i < nodes->size(); ++i) {
    if (names.count(nodes->Get(i).name())) continue;
    if (out != i) nodes->SwapElements(out, i);
    ++out;
  }
  while (nodes->size() > out) nodes->RemoveLast();
  Rebuild();
}

bool GraphView::StaticShape(const std::string& tensor, std::vector<int64_t>* dims) const {
  const TensorRef r = ParseInput(tensor);
  if (r.control) return false;
  if (shapes_) {
    auto it = shapes_->find(TensorName(r.node, r.port));
    if (it != shapes_->end()) {
      *dims = it->second;
      return true;
    }
  }
  const NodeDef* n = node(r.node);
  if (n == nullptr) return false;
  auto os = n->attr().find("_output_shapes");
  if (os != n->attr().end() && r.port < os->second.list().shape_size()) {
    const tensorflow::TensorShapeProto& sp = os->second.list().shape(r.port);
    if (sp.unknown_rank()) return false;
    dims->clear();
    for (const auto& d : sp.dim()) dims->push_back(d.size());
    return true;
  }
  auto v = n->attr().find("value");
  if (n->op() == "Const" && r.port == 0 && v != n->attr().end() && v->second.has_tensor()) {
    dims->clear();
    for (const auto& d : v->second.tensor().tensor_shape().dim()) dims->push_back(d.size());
    return true;
  }
  return false;
}

std::string AttrString(const NodeDef& n, const std::string& name, const std::string& fallback) {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? fallback : it->second.s();
}

bool AttrBool(const NodeDef& n, const std::string& name, bool fallback) {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? fallback : it->second.b();
}

float AttrFloat(const NodeDef& n, const std::string& name, float fallback) {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? fallback : it->second.f();
}

int AttrType(const NodeDef& n, const std::string& name) {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? 0 : static_cast<int>(it->second.type());
}

namespace {
float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}
}  // namespace

bool ConstFloats(const NodeDef& n, std::vector<float>* values, std::vector<int64_t>* shape) {
  if (n.op() != "Const") return false;
  auto it = n.attr().find("value");
  if (it == n.attr().end() || !it->second.has_tensor()) return false;
  const tensorflow::TensorProto& t = it->second.tensor();
  shape->clear();
  int64_t count = 1;
  for (const auto& d : t.tensor_shape().dim()) {
    shape->push_back(d.size());
    count *= d.size();
  }
  if (count < 0 || count > (1 << 24)) return false;
  values->assign(static_cast<size_t>(count), 0.0f);
  if (t.dtype() == tensorflow::DT_FLOAT) {
    if (!t.tensor_content().empty()) {
      if (t.tensor_content().size() != count * sizeof(float)) return false;
      std::memcpy(values->data(), t.tensor_content().data(), t.tensor_content().size());
    } else {
      if (t.float_val_size() == 0) return count == 0;
      for (int64_t i = 0; i < count; ++i)
        (*values)[i] = t.float_val(std::min<int64_t>(i, t.float_val_size() - 1));
    }
    return true;
  }
  if (t.dtype() == tensorflow::DT_HALF) {
    if (!t.tensor_content().empty()) {
      if (t.tensor_content().size() != count * 2) return false;
      const auto* h = reinterpret_cast<const uint16_t*>(t.tensor_content().data());
      for (int64_t i = 0; i < count; ++i) (*values)[i] = HalfToFloat(h[i]);
    } else {
      if (t.half_val_size() == 0) return count == 0;
      for (int64_t i = 0; i < count; ++i)
        (*values)[i] = HalfToFloat(static_cast<uint16_t>(t.half_val(std::min<int64_t>(i, t.half_val_size() - 1))));
    }
    return true;
  }
  return false;
}

namespace {
// count elements of type V from t's tensor_content, or from `vals` (the
// last value repeated, TF's short form); false on a size mismatch.
template <typename V, typename Repeated>
bool ReadInts(const tensorflow::TensorProto& t, int64_t count, const Repeated& vals,
              std::vector<int64_t>* out) {
  if (!t.tensor_content().empty()) {
    if (t.tensor_content().size() != static_cast<size_t>(count) * sizeof(V)) return false;
    for (int64_t i = 0; i < count; ++i) {
      V v;
      std::memcpy(&v, t.tensor_content().data() + sizeof(V) * i, sizeof(V));
      out->push_back(v);
    }
  } else {
    for (int64_t i = 0; i < count; ++i)
      out->push_back(vals.size() == 0 ? 0 : vals.Get(std::min<int64_t>(i, vals.size() - 1)));
  }
  return true;
}
}  // namespace

bool ConstInts(const NodeDef& n, std::vector<int64_t>* out) {
  if (n.op() != "Const" || !n.attr().count("value")) return false;
  const tensorflow::TensorProto& t = n.attr().at("value").tensor();
  if (t.tensor_shape().dim_size() > 1) return false;
  const int64_t count = t.tensor_shape().dim_size() == 0 ? 1 : t.tensor_shape().dim(0).size();
  out->clear();
  if (t.dtype() == tensorflow::DT_INT32) return ReadInts<int32_t>(t, count, t.int_val(), out);
  if (t.dtype() == tensorflow::DT_INT64) return ReadInts<int64_t>(t, count, t.int64_val(), out);
  return false;
}

bool IsScalarConst(const NodeDef& n, float v) {
  std::vector<float> values;
  std::vector<int64_t> shape;
  if (!ConstFloats(n, &values, &shape) || values.empty()) return false;
  // float16 constants carry up to 2^-11 relative rounding error.
  const bool half = n.attr().at("value").tensor().dtype() == tensorflow::DT_HALF;
  const float tol = half ? 1e-3f : 1e-6f;
  for (float x : values)
    if (!(std::fabs(x - v) <= tol * std::fabs(v) + 1e-7f)) return false;
  return true;
}

}  // namespace grappler
}  // namespace tfmp
