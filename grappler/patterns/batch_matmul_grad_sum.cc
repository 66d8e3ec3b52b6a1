// A weight gradient computed per batch entry and then summed, family
// "matmul": Sum(BatchMatMulV2(x, dy, adj_x=True, adj_y=False), axes = every
// batch axis) -> one MatMul(Reshape(x, [-1, C]), Reshape(dy, [-1, N]),
// transpose_a=True).
//
// TF's gradient of a matmul whose second operand was broadcast over the
// batch (Keras 3's EinsumDense: multi-head attention's query, key, value and
// output projections, [B, T, C] x [C, N]) is a BatchMatMul producing one
// [C, N] product per batch entry, then a Sum over the batch axes: B GEMMs
// with K = T, a [B, C, N] intermediate and a reduction. The same sum is one
// GEMM with K = B * T over the rows of x and dy, which are contiguous in
// that order (adj_x: x[b] is [T, C], read transposed; not adj_y: dy[b] is
// [T, N]): no intermediate, one dispatch (split-K where the output is
// small, kernels/matmul_config.h), the Reshapes free. The sum's order of
// additions changes (one K loop instead of per-entry products summed):
// float rounding only.
//
// Conditions: float32 / float16; x and dy of static rank r >= 3 with the
// same known batch dims (nothing broadcast) and known last dims; the Sum's
// axes a Const naming exactly axes 0 .. r-3, keep_dims false (its output
// is then [C, N], the MatMul's). The driver removes the BatchMatMulV2 only
// when the Sum is its one reader.
#include <algorithm>
#include <string>
#include <vector>

#include "grappler/pattern.h"
#include "tensorflow/core/framework/attr_value.pb.h"
#include "tensorflow/core/framework/tensor.pb.h"
#include "tensorflow/core/framework/tensor_shape.pb.h"
#include "tensorflow/core/framework/types.pb.h"

namespace tfmp {
namespace grappler {
namespace {

bool IsGradForm(const NodeDef& n) { return AttrBool(n, "adj_x") && !AttrBool(n, "adj_y") && IsFloatOrHalf(n); }

bool IsSumWithoutKeepDims(const NodeDef& n) { return !AttrBool(n, "keep_dims") && IsFloatOrHalf(n); }

bool Check(const Pattern&, const Match& m, const GraphView& g) {
  const NodeDef* bmm = m.node("bmm");
  std::vector<int64_t> x, dy, axes;
  if (!g.StaticShape(bmm->input(0), &x) || !g.StaticShape(bmm->input(1), &dy)) return false;
  if (x.size() < 3 || x.size() != dy.size() || x.back() <= 0 || dy.back() <= 0) return false;
  const size_t batch_rank = x.size() - 2;
  for (size_t i = 0; i < batch_rank; ++i)
    if (x[i] <= 0 || x[i] != dy[i]) return false;
  if (x[batch_rank] <= 0 || x[batch_rank] != dy[batch_rank]) return false;  // T, the contraction
  const NodeDef* c = g.producer(m.leaf("axes"));
  if (c == nullptr || !ConstInts(*c, &axes) || axes.size() != batch_rank) return false;
  const int64_t rank = static_cast<int64_t>(x.size());
  for (int64_t& a : axes) a = a < 0 ? a + rank : a;
  std::sort(axes.begin(), axes.end());
  for (size_t i = 0; i < batch_rank; ++i)
    if (axes[i] != static_cast<int64_t>(i)) return false;
  return true;
}

bool Build(const Pattern&, const Match& m, GraphView& g, NodeDef* fused) {
  const NodeDef* bmm = m.node("bmm");
  const NodeDef* axes = g.producer(m.leaf("axes"));
  std::vector<int64_t> x, dy;
  if (!g.StaticShape(bmm->input(0), &x) || !g.StaticShape(bmm->input(1), &dy)) return false;
  const std::string base = fused->name() + "/tfmp_rows";
  // x -> [B*T, C], dy -> [B*T, N]: shape Consts placed like the Sum's axes.
  std::vector<NodeDef> added;
  auto reshape = [&](const std::string& input, int64_t cols, const char* tag) {
    NodeDef shape;
    shape.set_name(base + "/" + tag + "_shape");
    shape.set_device(axes->device());
    shape.set_op("Const");
    (*shape.mutable_attr())["dtype"].set_type(tensorflow::DT_INT32);
    tensorflow::TensorProto* t = (*shape.mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tensorflow::DT_INT32);
    t->mutable_tensor_shape()->add_dim()->set_size(2);
    t->add_int_val(-1);
    t->add_int_val(static_cast<int32_t>(cols));
    NodeDef r;
    r.set_name(base + "/" + tag);
    r.set_device(fused->device());
    r.set_op("Reshape");
    r.add_input(input);
    r.add_input(shape.name());
    (*r.mutable_attr())["T"] = bmm->attr().at("T");
    (*r.mutable_attr())["Tshape"].set_type(tensorflow::DT_INT32);
    added.push_back(shape);
    added.push_back(r);
    return r.name();
  };
  const std::string a = reshape(bmm->input(0), x.back(), "x");
  const std::string b = reshape(bmm->input(1), dy.back(), "dy");
  for (const NodeDef& n : added)
    if (g.node(n.name()) != nullptr) return false;
  fused->set_op("MatMul");
  fused->add_input(a);
  fused->add_input(b);
  auto& attr = *fused->mutable_attr();
  attr["T"] = bmm->attr().at("T");
  attr["transpose_a"].set_b(true);
  attr["transpose_b"].set_b(false);
  for (NodeDef& n : added) *g.graph()->add_node() = std::move(n);
  return true;
}

}  // namespace

void AddBatchMatMulGradSumPatterns(std::vector<Pattern>* out) {
  out->push_back({"batch_matmul_grad_sum",
                  "matmul",
                  {{"sum", {"Sum"}, {"bmm", "axes"}, false, IsSumWithoutKeepDims},
                   {"bmm", {"BatchMatMulV2", "BatchMatMul"}, {"x", "dy"}, false, IsGradForm}},
                  Check,
                  Build});
}

}  // namespace grappler
}  // namespace tfmp
