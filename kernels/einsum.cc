// Einsum (float32/float16) for one or two operands, decomposed into the
// kernels of other families: a Sum (reduction.h) over the labels that only one
// operand has, a transpose (data_movement.h) of each operand into
// [batch, free, contracted] order unless a GEMM stride already reads it, one
// batched GEMM (matmul.h), and a transpose into the output's label order.
// Ellipses and a label repeated within one operand (diagonals) are not
// supported: UNIMPLEMENTED.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "kernels/data_movement.h"
#include "kernels/matmul.h"
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
    auto prod = [&](const std::string& ls) {
      int64_t n = 1;
      for (char c : ls) n *= size[c];
      return n;
    };
    const int64_t M = prod(free_a), N = prod(free_b), K = prod(contracted);
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
