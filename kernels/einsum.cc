// Einsum (float32/float16) for one or two operands, decomposed into the
// kernels of other families: a Sum (reduction.h) over the labels that only one
// operand has, then one batched GEMM (matmul.h) that reads the operands and
// writes the output in place where each group of labels has one stride (the
// batch at most two: RecordStridedGemm), else a transpose (data_movement.h) of
// each operand into [batch, free, contracted] order unless a GEMM stride
// already reads it, the GEMM, and a transpose into the output's label order.
// Ellipses and a label repeated within one operand (diagonals) are not
// supported: UNIMPLEMENTED.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "kernels/data_movement.h"
#include "kernels/matmul.h"
#include "kernels/matmul_config.h"
#include "kernels/reduction.h"

namespace tfmp {
namespace {

struct Operand {
  std::string labels;
  Shape shape;
  uint64_t address;
};

bool Has(const std::string& s, char c) { return s.find(c) != std::string::npos; }

// perm with in's labels reordered as `order`.
std::vector<int> PermTo(const std::string& in, const std::string& order) {
  std::vector<int> perm;
  for (char c : order) perm.push_back(static_cast<int>(in.find(c)));
  return perm;
}

bool Identity(const std::vector<int>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int>(i)) return false;
  return true;
}

// The number of elements the labels span.
int64_t Extent(const std::string& labels, const std::map<char, int64_t>& size) {
  int64_t n = 1;
  for (char c : labels) n *= size.at(c);
  return n;
}

// The element stride of each label of a row-major tensor.
std::map<char, int64_t> Strides(const std::string& labels, const Shape& shape) {
  std::map<char, int64_t> st;
  int64_t s = 1;
  for (int d = static_cast<int>(labels.size()) - 1; d >= 0; --d) {
    st[labels[d]] = s;
    s *= shape[d];
  }
  return st;
}

// The stride that steps through the labels `group` (in this order) as one
// index, or -1 where no single stride does; labels of size 1 do not count
// (an empty group: 0).
int64_t GroupStride(const std::string& group, const std::map<char, int64_t>& stride,
                    const std::map<char, int64_t>& size) {
  int64_t inner = -1, next = 0;
  for (int i = static_cast<int>(group.size()) - 1; i >= 0; --i) {
    const char l = group[i];
    if (size.at(l) == 1) continue;
    if (inner < 0) inner = stride.at(l);
    else if (stride.at(l) != next) return -1;
    next = stride.at(l) * size.at(l);
  }
  return inner < 0 ? 0 : inner;
}

class EinsumOp : public OpKernel {
 public:
  explicit EinsumOp(OpConstruction& c)
      : dtype_(c.GetType("T")), equation_(c.GetString("equation")) {
    std::string eq;
    for (char ch : equation_)
      if (ch != ' ') eq += ch;
    if (eq.find("...") != std::string::npos || eq.find('.') != std::string::npos) {
      error_ = TF_UNIMPLEMENTED;
      message_ = "Einsum with an ellipsis is not supported on this device yet: " + equation_;
      return;
    }
    const size_t arrow = eq.find("->");
    std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
    size_t start = 0;
    for (size_t comma; (comma = lhs.find(',', start)) != std::string::npos; start = comma + 1)
      inputs_.push_back(lhs.substr(start, comma - start));
    inputs_.push_back(lhs.substr(start));
    if (arrow == std::string::npos || eq.find("->", arrow + 2) != std::string::npos) {
      error_ = TF_INVALID_ARGUMENT;  // as TF's kernel: no implicit output
      message_ = "Expecting exactly one '->' in einsum equation: " + equation_;
      return;
    }
    output_ = eq.substr(arrow + 2);
    if (inputs_.size() > 2) {
      error_ = TF_INVALID_ARGUMENT;
      message_ = "Expected either 1 or 2 input subscripts, but got: " + std::to_string(inputs_.size());
      return;
    }
    for (const std::string& in : inputs_)
      for (size_t i = 0; i < in.size(); ++i) {
        if (!isalpha(static_cast<unsigned char>(in[i]))) {
          error_ = TF_INVALID_ARGUMENT;
          message_ = "Invalid character in einsum equation: " + equation_;
          return;
        }
        if (in.find(in[i], i + 1) != std::string::npos) {
          error_ = TF_UNIMPLEMENTED;
          message_ = "Einsum with a label repeated within one operand is not supported on this "
                     "device yet: " + equation_;
          return;
        }
      }
    for (size_t i = 0; i < output_.size(); ++i) {
      bool found = false;
      for (const std::string& in : inputs_) found = found || Has(in, output_[i]);
      if (!found || output_.find(output_[i], i + 1) != std::string::npos) {
        error_ = TF_INVALID_ARGUMENT;
        message_ = "Output subscripts of einsum must be unique and appear in an input: " + equation_;
        return;
      }
    }
  }

  // The strided GEMM (matmul.h RecordStridedGemm) for C[batch, free_a,
  // free_b] = A[batch, free_a, contracted] x B[batch, contracted, free_b]
  // read from a and b and written into out in their own label orders;
  // false (nothing recorded) where the strides do not allow it.
  bool RecordInPlace(OpContext& ctx, const Operand& a, const Operand& b, const Tensor& out,
                     const std::string& batch, const std::string& free_a,
                     const std::string& free_b, const std::string& contracted,
                     const std::map<char, int64_t>& size) {
    Shape out_shape;
    for (char c : output_) out_shape.push_back(size.at(c));
    const std::map<char, int64_t> sa = Strides(a.labels, a.shape), sb = Strides(b.labels, b.shape),
                                  sc = Strides(output_, out_shape);
    GemmProblem p{};
    p.M = Extent(free_a, size), p.N = Extent(free_b, size), p.K = Extent(contracted, size);
    p.a_m = GroupStride(free_a, sa, size), p.a_k = GroupStride(contracted, sa, size);
    p.b_k = GroupStride(contracted, sb, size), p.b_n = GroupStride(free_b, sb, size);
    p.c_m = GroupStride(free_a, sc, size);
    if (p.a_m < 0 || p.a_k < 0 || p.b_k < 0 || p.b_n < 0 || p.c_m < 0) return false;
    if (p.N > 1 && GroupStride(free_b, sc, size) != 1) return false;  // C's columns contiguous
    if (p.M == 1) p.c_m = p.N;
    // The batch as [hi, lo]: the longest hi that one stride steps through in
    // all three (lo empty: one level), else the first split that works.
    bool found = false;
    for (int k = static_cast<int>(batch.size()); k >= 0 && !found; --k) {
      const std::string hi = batch.substr(0, k), lo = batch.substr(k);
      const int64_t ah = GroupStride(hi, sa, size), bh = GroupStride(hi, sb, size),
                    ch = GroupStride(hi, sc, size), al = GroupStride(lo, sa, size),
                    bl = GroupStride(lo, sb, size), cl = GroupStride(lo, sc, size);
      if (ah < 0 || bh < 0 || ch < 0 || al < 0 || bl < 0 || cl < 0) continue;
      found = true;
      p.batch = Extent(batch, size), p.batch2 = Extent(lo, size);
      p.a_batch = ah, p.b_batch = bh, p.c_batch = ch;
      p.a_batch2 = al, p.b_batch2 = bl, p.c_batch2 = cl;
    }
    if (!found) return false;
    p.a = a.address, p.b = b.address, p.c = out.address();
    p.esize = static_cast<uint32_t>(DtypeSize(dtype_));
    return RecordStridedGemm(ctx, dtype_, p);
  }

  void Compute(OpContext& ctx) override {
    if (ctx.num_inputs() != static_cast<int>(inputs_.size()) && error_ == TF_OK)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Expected " + std::to_string(inputs_.size()) +
                                               " inputs but got: " +
                                               std::to_string(ctx.num_inputs()));
    if (error_ != TF_OK) return ctx.Fail(error_, message_);
    std::vector<Tensor> ins;
    std::vector<Operand> ops;
    std::map<char, int64_t> size;
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      ins.push_back(ctx.input(i));
      if (!ctx.ok()) return;
      const Tensor& t = ins.back();
      const std::string& labels = inputs_[i];
      if (t.dims() != static_cast<int>(labels.size()))
        return ctx.Fail(TF_INVALID_ARGUMENT, "Input " + std::to_string(i) + " to einsum has " +
                                                 std::to_string(t.dims()) +
                                                 " dimensions but subscript '" + labels +
                                                 "' names " + std::to_string(labels.size()));
      for (int d = 0; d < t.dims(); ++d) {
        auto it = size.find(labels[d]);
        if (it != size.end() && it->second != t.dim(d))
          return ctx.Fail(TF_INVALID_ARGUMENT,
                          "Expected dimension " + std::to_string(it->second) + " at axis " +
                              std::to_string(d) + " of the input shaped " +
                              ShapeString(t.shape()) + " but got dimension " +
                              std::to_string(t.dim(d)));
        size[labels[d]] = t.dim(d);
      }
      if (!ctx.CheckElements(t.num_elements())) return;
      ops.push_back({labels, t.shape(), t.address()});
    }
    Shape out_shape;
    for (char c : output_) out_shape.push_back(size[c]);
    if (!ctx.CheckElements(NumElements(out_shape))) return;
    Tensor out = ctx.allocate_output(0, out_shape, dtype_);
    if (!ctx.ok() || out.num_elements() == 0) return;
    const size_t esize = DtypeSize(dtype_);
    for (const Operand& o : ops)
      if (NumElements(o.shape) == 0) {  // a sum over an empty label: zeros
        ctx.stream()->Fill(out.address(), 0, out.num_elements() * esize);
        return;
      }
    std::vector<Tensor> temps;  // alive until every dispatch is recorded
    auto temp = [&](const Shape& s) {
      temps.push_back(ctx.allocate_temp(s, dtype_));
      return ctx.ok() ? temps.back().address() : uint64_t{0};
    };
    // Sum out the labels that only this operand has and the output lacks.
    for (size_t i = 0; i < ops.size(); ++i) {
      Operand& o = ops[i];
      const std::string other = ops.size() == 2 ? ops[1 - i].labels : "";
      std::vector<bool> reduced(o.labels.size());
      std::string kept;
      Shape kept_shape;
      bool any = false;
      for (size_t d = 0; d < o.labels.size(); ++d) {
        reduced[d] = !Has(output_, o.labels[d]) && !Has(other, o.labels[d]);
        any = any || reduced[d];
        if (!reduced[d]) kept += o.labels[d], kept_shape.push_back(o.shape[d]);
      }
      if (!any) continue;
      const uint64_t y = temp(kept_shape);
      if (!ctx.ok()) return;
      RecordReduction(ctx, "sum", false, dtype_, o.address, o.shape, reduced, y);
      o = {kept, kept_shape, y};
    }
    if (!ctx.ok()) return;
    if (ops.size() == 1) {
      RecordTranspose(ctx, esize, ops[0].address, ops[0].shape, PermTo(ops[0].labels, output_),
                      out.address());
      return;
    }
    Operand &a = ops[0], &b = ops[1];
    std::string batch, free_a, free_b, contracted;
    for (char c : output_) {
      if (Has(a.labels, c) && Has(b.labels, c)) batch += c;
      else if (Has(a.labels, c)) free_a += c;
      else free_b += c;
    }
    // The product comes out as [batch, free_a, free_b]: with the operands
    // swapped it is [batch, free_b, free_a], which may be the output's order
    // (attention scores "aecd,abcd->acbe"), saving a transpose of the product.
    if (batch + free_a + free_b != output_ && batch + free_b + free_a == output_) {
      std::swap(a, b);
      std::swap(free_a, free_b);
    }
    for (char c : a.labels)
      if (Has(b.labels, c) && !Has(output_, c)) contracted += c;
    const int64_t M = Extent(free_a, size), N = Extent(free_b, size), K = Extent(contracted, size);
    // Where the operands or the product would need a transpose, one GEMM that
    // reads and writes them in place: each group of labels (rows, columns,
    // contracted) one stride, the batch labels at most two (attention's
    // "aecd,abcd->acbe" and "acbe,aecd->abcd": batch (a, c) of [a, e, c, d]),
    // the output's columns contiguous.
    auto readable = [&](const Operand& o, const std::string& first, const std::string& second) {
      return Identity(PermTo(o.labels, batch + first + second)) ||
             Identity(PermTo(o.labels, batch + second + first));
    };
    if (!(readable(a, free_a, contracted) && readable(b, contracted, free_b) &&
          batch + free_a + free_b == output_) &&
        RecordInPlace(ctx, a, b, out, batch, free_a, free_b, contracted, size))
      return;
    // Each operand as [batch, rows, cols] or [batch, cols, rows] (a transposed
    // GEMM operand), transposed on the device only if neither order is its own.
    auto arrange = [&](Operand& o, const std::string& first, const std::string& second,
                       bool* swapped) {
      *swapped = false;
      if (Identity(PermTo(o.labels, batch + first + second))) return;
      if (Identity(PermTo(o.labels, batch + second + first))) {
        *swapped = true;
        return;
      }
      const std::string order = batch + first + second;
      Shape s;
      for (char c : order) s.push_back(size[c]);
      const uint64_t t = temp(s);
      if (!ctx.ok()) return;
      RecordTranspose(ctx, esize, o.address, o.shape, PermTo(o.labels, order), t);
      o = {order, s, t};
    };
    bool adj_a, adj_b;
    arrange(a, free_a, contracted, &adj_a);
    arrange(b, contracted, free_b, &adj_b);
    if (!ctx.ok()) return;
    const std::string product = batch + free_a + free_b;
    const bool direct = product == output_;
    Shape product_shape;
    for (char c : product) product_shape.push_back(size[c]);
    const uint64_t c = direct ? out.address() : temp(product_shape);
    if (!ctx.ok()) return;
    Shape batch_shape;
    for (char l : batch) batch_shape.push_back(size[l]);
    GemmShape g{M, N, K, adj_a ? 1 : K, adj_a ? M : 1, adj_b ? 1 : N, adj_b ? K : 1};
    RecordBatchMatMul(ctx, dtype_, g, a.address, batch_shape, b.address, batch_shape, c,
                      batch_shape);
    if (!direct)
      RecordTranspose(ctx, esize, c, product_shape, PermTo(product, output_), out.address());
  }

 private:
  TF_DataType dtype_;
  std::string equation_;
  std::vector<std::string> inputs_;
  std::string output_;
  TF_Code error_ = TF_OK;
  std::string message_;
};

}  // namespace

void RegisterEinsumKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) RegisterKernel<EinsumOp>("Einsum", {{"T", t}});
}

}  // namespace tfmp
