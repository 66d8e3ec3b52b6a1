// Select and SelectV2: out = cond ? t : e. Shader: shaders/select.comp
// ("select_<dtype>").
#include <algorithm>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr int kMaxDims = 5;

struct SelectPush {
  uint64_t c, a, b, z;
  uint32_t n, rank;
  uint32_t shape[kMaxDims];
  uint32_t c_stride[kMaxDims], a_stride[kMaxDims], b_stride[kMaxDims];
};

// NumPy broadcasting of three shapes, collapsed where the strides allow.
bool Broadcast3(OpContext& ctx, const Shape* in[3], Shape* out, SelectPush* p) {
  size_t rank = 0;
  for (int k = 0; k < 3; ++k) rank = std::max(rank, in[k]->size());
  std::vector<Shape> padded(3, Shape(rank, 1));
  for (int k = 0; k < 3; ++k)
    std::copy(in[k]->begin(), in[k]->end(), padded[k].begin() + (rank - in[k]->size()));
  out->assign(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    for (int k = 0; k < 3; ++k) {
      const int64_t v = padded[k][d];
      if (v == 1 || v == (*out)[d]) continue;
      if ((*out)[d] != 1) {
        ctx.Fail(TF_INVALID_ARGUMENT, "condition " + ShapeString(*in[0]) + ", then " +
                                          ShapeString(*in[1]) + ", and else " +
                                          ShapeString(*in[2]) + " must be broadcastable");
        return false;
      }
      (*out)[d] = v;
    }
  }
  std::vector<int64_t> shape;
  std::vector<std::vector<int64_t>> st(3);
  std::vector<int64_t> run(3, 1);
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
    if ((*out)[d] == 1) continue;
    shape.insert(shape.begin(), (*out)[d]);
    for (int k = 0; k < 3; ++k) {
      st[k].insert(st[k].begin(), padded[k][d] == 1 ? 0 : run[k]);
      run[k] *= padded[k][d];
    }
  }
  for (size_t d = shape.empty() ? 0 : shape.size() - 1; d > 0; --d) {
    bool merge = true;
    for (int k = 0; k < 3; ++k) merge = merge && st[k][d - 1] == st[k][d] * shape[d];
    if (!merge) continue;
    shape[d] *= shape[d - 1];
    shape.erase(shape.begin() + (d - 1));
    for (int k = 0; k < 3; ++k) st[k].erase(st[k].begin() + (d - 1));
  }
  if (shape.size() > kMaxDims) {
    ctx.Fail(TF_UNIMPLEMENTED, "select broadcasting needs more than 5 dimensions");
    return false;
  }
  p->n = static_cast<uint32_t>(NumElements(*out));
  p->rank = static_cast<uint32_t>(shape.size());
  uint32_t* strides[3] = {p->c_stride, p->a_stride, p->b_stride};
  for (size_t d = 0; d < shape.size(); ++d) {
    p->shape[d] = static_cast<uint32_t>(shape[d]);
    for (int k = 0; k < 3; ++k) strides[k][d] = static_cast<uint32_t>(st[k][d]);
  }
  if (shape.empty()) {  // a single element
    p->rank = 1;
    p->shape[0] = 1;
  }
  return true;
}

template <bool kV2>
class SelectOp : public OpKernel {
 public:
  explicit SelectOp(OpConstruction& c) : dtype_(c.GetType("T")) {}
  void Compute(OpContext& ctx) override {
    Tensor c = ctx.input(0), a = ctx.input(1), b = ctx.input(2);
    if (!ctx.ok()) return;
    Shape cs = c.shape(), as = a.shape(), bs = b.shape();
    if (!kV2) {
      // Select: t and e have one shape; cond is that shape, a scalar, or a
      // vector along the first dimension.
      if (as != bs) {
        ctx.Fail(TF_INVALID_ARGUMENT, "'then' and 'else' must have the same size.  but received: " +
                                          ShapeString(as) + " vs. " + ShapeString(bs));
        return;
      }
      if (cs.size() == 1 && as.size() > 1) {
        if (cs[0] != as[0]) {
          ctx.Fail(TF_INVALID_ARGUMENT, "Number of batches of 'then' must match size of 'cond'");
          return;
        }
        cs.resize(as.size(), 1);  // broadcast along the trailing dims
      } else if (!cs.empty() && cs != as) {
        ctx.Fail(TF_INVALID_ARGUMENT, "'then' and 'cond' must have the same size.  but received: " +
                                          ShapeString(as) + " vs. " + ShapeString(cs));
        return;
      }
    }
    const Shape* in[3] = {&cs, &as, &bs};
    Shape out;
    SelectPush p{};
    if (!Broadcast3(ctx, in, &out, &p)) return;
    if (!ctx.CheckElements(NumElements(out))) return;
    Tensor z = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || p.n == 0) return;
    p.c = c.address();
    p.a = a.address();
    p.b = b.address();
    p.z = z.address();
    ctx.Dispatch(std::string("select_") + DtypeToken(dtype_), p, OpContext::GridFor(p.n));
  }

 private:
  TF_DataType dtype_;
};

}  // namespace

void RegisterSelectKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL}) {
    RegisterKernel<SelectOp<false>>("Select", {{"T", t}});
    RegisterKernel<SelectOp<true>>("SelectV2", {{"T", t}});
  }
}

}  // namespace tfmp
