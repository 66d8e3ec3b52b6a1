// A sum of products, family "elementwise", switch "reduce_prologue":
// Sum or Mean(Mul or SquaredDifference(a, b), axes) where nothing else reads
// the product -> one _TfmpFusedReduction(x, y, axes) (kernels/reduction.cc):
// the reduction reads both operands and computes each product as it loads
// it, so the product tensor is never written nor read back, and one dispatch
// (with its barrier) goes. The result is the unfused pair's, bit for bit
// (shaders/reduce.comp: the product rounded to T as the Mul kernel writes
// it, no fma with the sum, the same layouts).
//
// Training graphs are full of them: LayerNorm's variance (Mean of
// SquaredDifference(x, mean) over the last axis), its backward pass (Sum of
// dy * x_hat over the batch for gamma, Sum of dy * gamma over the features),
// the softmax gradient (Sum of dy * y over the last axis): 14 pairs per step
// of tools/bench_training.py's Transformer.
//
// Conditions: float32 / float16; static shapes where one operand (x) has
// the product's shape and the other (y) is the same shape, that shape with
// the last dim 1, or a vector along the last dim ([C], [1, ..., 1, C]);
// dims equal only where known or the same symbolic dim (shape inference),
// so the runtime shapes cannot differ. The kernel checks the shapes again
// and fails loudly otherwise.
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"

namespace tfmp {
namespace grappler {
namespace {

constexpr char kFusedOp[] = "_TfmpFusedReduction";

// Sizes equal at run time: the same known size or the same symbolic dim.
bool SameDim(int64_t a, int64_t b) { return a == b && a != -1; }

// Whether y broadcasts to x in one of the forms the kernel takes.
bool Broadcasts(const std::vector<int64_t>& x, const std::vector<int64_t>& y) {
  if (x.size() == y.size()) {
    bool same = true, rows = !x.empty() && y.back() == 1;
    for (size_t d = 0; d < x.size(); ++d) {
      same &= SameDim(x[d], y[d]);
      if (d + 1 < x.size()) rows &= SameDim(x[d], y[d]);
    }
    if (same || rows) return true;
  }
  if (y.empty() || y.size() > x.size() || !SameDim(x.back(), y.back())) return false;
  for (size_t d = 0; d + 1 < y.size(); ++d)
    if (y[d] != 1) return false;
  return true;
}

// The operands in (x, y) order, or false.
bool Operands(const Match& m, const GraphView& g, std::string* x, std::string* y) {
  const NodeDef* pro = m.node("pro");
  std::vector<int64_t> a, b;
  if (!g.StaticShape(pro->input(0), &a) || !g.StaticShape(pro->input(1), &b)) return false;
  // Both Mul and SquaredDifference are symmetric, exactly.
  if (Broadcasts(a, b)) return *x = pro->input(0), *y = pro->input(1), true;
  if (Broadcasts(b, a)) return *x = pro->input(1), *y = pro->input(0), true;
  return false;
}

bool Check(const Pattern&, const Match& m, const GraphView& g) {
  const NodeDef* red = m.node("red");
  const NodeDef* pro = m.node("pro");
  std::string x, y;
  return AttrType(*red, "T") == AttrType(*pro, "T") && Operands(m, g, &x, &y);
}

bool Build(const Pattern&, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* red = m.node("red");
  const NodeDef* pro = m.node("pro");
  std::string x, y;
  if (!Operands(m, g, &x, &y)) return false;
  fused->set_op(kFusedOp);
  fused->add_input(x);
  fused->add_input(y);
  fused->add_input(red->input(1));
  auto& attr = *fused->mutable_attr();
  attr["T"] = red->attr().at("T");
  if (red->attr().count("Tidx")) attr["Tidx"] = red->attr().at("Tidx");
  attr["keep_dims"].set_b(AttrBool(*red, "keep_dims"));
  attr["reduction"].set_s(red->op());
  attr["prologue"].set_s(pro->op());
  return true;
}

}  // namespace

void AddReduceProloguePatterns(std::vector<Pattern>* out) {
  out->push_back({"reduce_prologue",
                  "elementwise",
                  {{"red", {"Sum", "Mean"}, {"pro", "axes"}, false, IsFloatOrHalf},
                   {"pro", {"Mul", "SquaredDifference"}, {"a", "b"}, false, IsFloatOrHalf}},
                  Check,
                  Build});
}

}  // namespace grappler
}  // namespace tfmp
