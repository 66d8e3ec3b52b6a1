// Data movement: Transpose, Slice, StridedSlice, StridedSliceGrad, Tile,
// BroadcastTo, Pack, ConcatV2, Unpack, Split and SplitV, for every dtype of 1,
// 2, 4 or 8 bytes (the bits move, the dtype does not matter).
// Shader: shaders/strided_copy.comp ("strided_copy_b8/b16/b32/b64", by element
// size). Each op validates on the host as TF's CPU kernel does, describes its
// work as strided views (View below), and records each view as one dispatch,
// or as a plain buffer copy when the view collapses to one contiguous run.
// StridedSlice and StridedSliceGrad use TF's own exported mask logic
// (tensorflow::ValidateStridedSliceOp), reached through the C++ API.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/data_movement.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/util/strided_slice_op.h"

namespace tfmp {
namespace {

constexpr TF_DataType kTypes[] = {TF_FLOAT, TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                  TF_INT16, TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                  TF_UINT32, TF_UINT64, TF_BOOL};

constexpr int kMaxRank = 6;  // dims of strided_copy.comp's view
// Shader indices are 32-bit and SPIR-V treats access-chain indices as signed.
constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;
// A view still above 6 dims after collapsing loops on the host over its outer
// dims, one dispatch each, up to this many.
constexpr int64_t kMaxDispatches = 4096;

struct CopyPush {  // strided_copy.comp's push constants
  uint64_t x, y;
  uint32_t n, rank;
  uint32_t shape[kMaxRank];
  int32_t in_stride[kMaxRank];
  uint32_t out_stride[kMaxRank];
  uint32_t in_mod[kMaxRank];
  int32_t in_base;
};

// One strided copy, in elements: for each index k of the dims' sizes,
//   out[out_base + sum k_d*out_stride_d] = in[in_base + sum (k_d % in_mod_d)*in_stride_d]
// (in_mod_d = 0: no wrap). Strides may be negative on either side.
struct View {
  struct Dim {
    int64_t size, in_stride, out_stride, in_mod;
  };
  std::vector<Dim> dims;
  int64_t in_base = 0, out_base = 0;
  void Add(int64_t size, int64_t in_stride, int64_t out_stride, int64_t in_mod = 0) {
    dims.push_back({size, in_stride, out_stride, in_mod});
  }
  int64_t num_elements() const {
    int64_t n = 1;
    for (const Dim& d : dims) n *= d.size;
    return n;
  }
};

// Row-major strides of a contiguous tensor.
std::vector<int64_t> Strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t r = 1;
  for (int d = static_cast<int>(s.size()) - 1; d >= 0; --d) st[d] = r, r *= s[d];
  return st;
}

// Drops size-1 dims, makes output strides non-negative (walking such a dim
// backwards) and merges adjacent dims that address both sides contiguously.
void Simplify(View* v) {
  std::vector<View::Dim> out;
  for (View::Dim d : v->dims) {
    if (d.size == 1) continue;
    if (d.in_mod == 1) d.in_stride = 0;
    if (d.in_stride == 0 || d.in_mod >= d.size) d.in_mod = 0;
    if (d.out_stride < 0 && d.in_mod == 0) {
      v->out_base += (d.size - 1) * d.out_stride;
      v->in_base += (d.size - 1) * d.in_stride;
      d.out_stride = -d.out_stride;
      d.in_stride = -d.in_stride;
    }
    if (!out.empty()) {
      View::Dim& o = out.back();  // the next outer dim
      if (d.in_mod == 0 && o.out_stride == d.out_stride * d.size &&
          o.in_stride == d.in_stride * d.size) {
        o = {o.size * d.size, d.in_stride, d.out_stride, o.in_mod ? o.in_mod * d.size : 0};
        continue;
      }
    }
    out.push_back(d);
  }
  v->dims = std::move(out);
}

// Signed 32-bit indexing in strided_copy.comp: at most 2^31 - 1 elements.
bool CheckIndexable(OpContext& ctx, int64_t n) {
  if (n > kMaxElements) {
    ctx.Fail(TF_UNIMPLEMENTED,
             "data movement of tensors of more than 2^31-1 elements is not supported yet");
    return false;
  }
  return true;
}

// Records view `v` from the tensor at device address `in` to the one at `out`.
void Record(OpContext& ctx, size_t esize, uint64_t in, uint64_t out, View v) {
  if (!ctx.ok() || v.num_elements() == 0) return;
  Simplify(&v);
  const std::vector<View::Dim>& d = v.dims;
  if (d.empty() || (d.size() == 1 && d[0].in_stride == 1 && d[0].out_stride == 1 &&
                    d[0].in_mod == 0)) {
    ctx.stream()->CopyDeviceToDevice(out + v.out_base * esize, in + v.in_base * esize,
                                     v.num_elements() * esize);
    return;
  }
  const size_t outer = d.size() > kMaxRank ? d.size() - kMaxRank : 0;
  int64_t loops = 1;
  for (size_t i = 0; i < outer; ++i) loops *= d[i].size;
  if (loops > kMaxDispatches) {
    ctx.Fail(TF_UNIMPLEMENTED,
             "this copy needs " + std::to_string(d.size()) +
                 " dimensions after collapsing; the device kernel handles 6, plus at most " +
                 std::to_string(kMaxDispatches) + " dispatches over the outer ones (here " +
                 std::to_string(loops) + ")");
    return;
  }
  CopyPush p{};
  p.x = in;
  p.rank = static_cast<uint32_t>(d.size() - outer);
  int64_t n = 1;
  for (uint32_t i = 0; i < p.rank; ++i) {
    const View::Dim& e = d[outer + i];
    p.shape[i] = static_cast<uint32_t>(e.size);
    p.in_stride[i] = static_cast<int32_t>(e.in_stride);
    p.out_stride[i] = static_cast<uint32_t>(e.out_stride);
    p.in_mod[i] = static_cast<uint32_t>(e.in_mod);
    n *= e.size;
  }
  p.n = static_cast<uint32_t>(n);
  const std::string kernel = "strided_copy_b" + std::to_string(esize * 8);
  for (int64_t l = 0; l < loops; ++l) {
    int64_t in_off = v.in_base, out_off = v.out_base, rem = l;
    for (int i = static_cast<int>(outer) - 1; i >= 0; --i) {
      const int64_t k = rem % d[i].size;
      rem /= d[i].size;
      out_off += k * d[i].out_stride;
      in_off += (d[i].in_mod ? k % d[i].in_mod : k) * d[i].in_stride;
    }
    p.y = out + out_off * esize;
    p.in_base = static_cast<int32_t>(in_off);
    ctx.Dispatch(kernel, p, OpContext::GridFor(n));
  }
}

// Copies an [outer, cols] block between tensors seen as rows of in_row and
// out_row elements, starting at columns in_col and out_col: the one view of
// Pack, ConcatV2, Unpack, Split and SplitV.
void RecordBlock(OpContext& ctx, size_t esize, uint64_t in, uint64_t out, int64_t outer,
                 int64_t cols, int64_t in_row, int64_t in_col, int64_t out_row, int64_t out_col) {
  View v;
  v.Add(outer, in_row, out_row);
  v.Add(cols, 1, 1);
  v.in_base = in_col;
  v.out_base = out_col;
  Record(ctx, esize, in, out, v);
}

std::string Str(int64_t v) { return std::to_string(v); }

bool FailStatus(OpContext& ctx, const absl::Status& s) {
  if (!s.ok()) ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
  return !s.ok();
}

// Base: the dtype attr and its element size.
class MoveOp : public OpKernel {
 public:
  explicit MoveOp(OpConstruction& c) : dtype_(c.GetType("T")), esize_(DtypeSize(dtype_)) {}

 protected:
  TF_DataType dtype_;
  size_t esize_;
};

// --- Transpose ----------------------------------------------------------------

class TransposeOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), perm_t = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    const int rank = static_cast<int>(in.size());
    if (perm_t.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "perm must be rank 1, got shape " +
                                               ShapeString(perm_t.shape()));
    const std::vector<int64_t> perm = perm_t.host_ints();
    if (static_cast<int>(perm.size()) != rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "transpose expects a vector of size " + Str(rank) +
                                               ". But input(1) is a vector of size " +
                                               Str(perm.size()));
    std::vector<bool> seen(rank, false);
    Shape out(rank);
    for (int i = 0; i < rank; ++i) {
      if (perm[i] < 0 || perm[i] >= rank)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        Str(perm[i]) + " is out of range [0 .. " + Str(rank) + ")");
      seen[perm[i]] = true;
      out[i] = in[perm[i]];
    }
    for (int i = 0; i < rank; ++i) {
      if (seen[i]) continue;
      std::string list;
      for (int64_t p : perm) list += (list.empty() ? "" : ",") + Str(p);
      return ctx.Fail(TF_INVALID_ARGUMENT, Str(i) + " is missing from {" + list + "}.");
    }
    if (!CheckIndexable(ctx, x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    const std::vector<int64_t> in_st = Strides(in), out_st = Strides(out);
    View v;
    for (int i = 0; i < rank; ++i) v.Add(out[i], in_st[perm[i]], out_st[i]);
    Record(ctx, esize_, x.address(), y.address(), v);
  }
};

// --- Slice ----------------------------------------------------------------------

class SliceOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), begin_t = ctx.input(1), sizes_t = ctx.input(2);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    const int rank = static_cast<int>(in.size());
    if (begin_t.dims() != 1 || sizes_t.dims() != 1 || begin_t.num_elements() != rank ||
        sizes_t.num_elements() != rank)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Expected begin and size arguments to be 1-D tensors of size " + Str(rank) +
                          ", but got shapes " + ShapeString(begin_t.shape()) + " and " +
                          ShapeString(sizes_t.shape()) + " instead.");
    const std::vector<int64_t> begin = begin_t.host_ints(), size = sizes_t.host_ints();
    Shape out(rank);
    for (int i = 0; i < rank; ++i) {
      const int64_t b = begin[i], s = size[i] == -1 ? in[i] - b : size[i];
      if (in[i] == 0) {
        if (b != 0 || s != 0)
          return ctx.Fail(TF_INVALID_ARGUMENT, "Expected begin[" + Str(i) + "] == 0 (got " +
                                                   Str(b) + ") and size[" + Str(i) +
                                                   "] == 0 (got " + Str(s) + ") when input.dim_size(" +
                                                   Str(i) + ") == 0");
      } else if (b < 0 || b > in[i]) {
        return ctx.Fail(TF_INVALID_ARGUMENT, "Expected begin[" + Str(i) + "] in [0, " +
                                                 Str(in[i]) + "], but got " + Str(b));
      } else if (s < 0 || b + s > in[i]) {
        return ctx.Fail(TF_INVALID_ARGUMENT, "Expected size[" + Str(i) + "] in [0, " +
                                                 Str(in[i] - b) + "], but got " + Str(s));
      }
      out[i] = s;
    }
    if (!CheckIndexable(ctx, x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    const std::vector<int64_t> in_st = Strides(in), out_st = Strides(out);
    View v;
    for (int i = 0; i < rank; ++i) {
      v.Add(out[i], in_st[i], out_st[i]);
      v.in_base += begin[i] * in_st[i];
    }
    Record(ctx, esize_, x.address(), y.address(), v);
  }
};

// --- StridedSlice, StridedSliceGrad -----------------------------------------------

class StridedSliceBase : public MoveOp {
 public:
  explicit StridedSliceBase(OpConstruction& c)
      : MoveOp(c),
        begin_mask_(c.GetInt("begin_mask")),
        end_mask_(c.GetInt("end_mask")),
        ellipsis_mask_(c.GetInt("ellipsis_mask")),
        new_axis_mask_(c.GetInt("new_axis_mask")),
        shrink_axis_mask_(c.GetInt("shrink_axis_mask")) {}

 protected:
  // TF's own validation and canonicalization of begin/end/strides (inputs
  // first..first+2) against `shape`. On success `v` is the slice's view of a
  // contiguous tensor of `shape` (its indices on the in side), over the
  // processing shape (one dim per dim of `shape`); `final` is the op's shape.
  bool Validate(OpContext& ctx, int first, const Shape& shape, View* v,
                tensorflow::TensorShape* final) {
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    tensorflow::TensorShape processing;
    bool is_identity = false, is_simple_slice = false, slice_dim0 = false;
    absl::InlinedVector<int64_t, 4> begin, end, strides;
    const absl::Status s = tensorflow::ValidateStridedSliceOp(
        &cc->input(first), &cc->input(first + 1), cc->input(first + 2),
        tensorflow::PartialTensorShape(absl::Span<const int64_t>(shape)), begin_mask_, end_mask_,
        ellipsis_mask_, new_axis_mask_, shrink_axis_mask_, &processing, final, &is_identity,
        &is_simple_slice, &slice_dim0, &begin, &end, &strides);
    if (FailStatus(ctx, s)) return false;
    const std::vector<int64_t> st = Strides(shape);
    Shape proc(processing.dims());
    for (int d = 0; d < processing.dims(); ++d) proc[d] = processing.dim_size(d);
    const std::vector<int64_t> proc_st = Strides(proc);
    for (size_t d = 0; d < proc.size(); ++d) {
      v->Add(proc[d], st[d] * strides[d], proc_st[d]);
      if (proc[d] > 0) v->in_base += begin[d] * st[d];
    }
    return true;
  }

 private:
  int32_t begin_mask_, end_mask_, ellipsis_mask_, new_axis_mask_, shrink_axis_mask_;
};

Shape ToShape(const tensorflow::TensorShape& s) {
  Shape out(s.dims());
  for (int d = 0; d < s.dims(); ++d) out[d] = s.dim_size(d);
  return out;
}

class StridedSliceOp : public StridedSliceBase {
 public:
  using StridedSliceBase::StridedSliceBase;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    View v;
    tensorflow::TensorShape final;
    if (!Validate(ctx, 1, x.shape(), &v, &final) || !CheckIndexable(ctx, x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, ToShape(final), dtype_);
    if (!ctx.ok()) return;
    Record(ctx, esize_, x.address(), y.address(), v);
  }
};

// dy scattered into a zeroed tensor of `shape`: the slice's view with its
// sides swapped.
class StridedSliceGradOp : public StridedSliceBase {
 public:
  using StridedSliceBase::StridedSliceBase;
  void Compute(OpContext& ctx) override {
    Tensor shape_t = ctx.input(0), dy = ctx.input(4);
    if (!ctx.ok()) return;
    if (shape_t.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "shape must be 1-D, got shape.shape = " + ShapeString(shape_t.shape()));
    tensorflow::TensorShape shape;
    const absl::Status s =
        shape_t.dtype() == TF_INT64
            ? tensorflow::TensorShapeUtils::MakeShape(shape_t.host_data<int64_t>(),
                                                      shape_t.num_elements(), &shape)
            : tensorflow::TensorShapeUtils::MakeShape(shape_t.host_data<int32_t>(),
                                                      shape_t.num_elements(), &shape);
    if (FailStatus(ctx, s)) return;
    const Shape out = ToShape(shape);
    View v;
    tensorflow::TensorShape final;
    if (!Validate(ctx, 1, out, &v, &final)) return;
    if (ToShape(final) != dy.shape())
      return ctx.Fail(TF_INVALID_ARGUMENT, "shape of dy was " + ShapeString(dy.shape()) +
                                               " instead of " + ShapeString(ToShape(final)));
    if (!CheckIndexable(ctx, NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    // Slices never hit an element twice: a slice as large as the tensor covers it.
    if (v.num_elements() < y.num_elements())
      ctx.stream()->Fill(y.address(), 0, y.num_elements() * esize_);
    for (View::Dim& d : v.dims) std::swap(d.in_stride, d.out_stride);
    std::swap(v.in_base, v.out_base);
    Record(ctx, esize_, dy.address(), y.address(), v);
  }
};

// --- Tile, BroadcastTo --------------------------------------------------------------

class TileOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), mult_t = ctx.input(1);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    const int rank = static_cast<int>(in.size());
    if (mult_t.dims() != 1 || mult_t.num_elements() != rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Expected multiples argument to be a vector of length " +
                                               Str(rank) + " but got length " +
                                               Str(mult_t.dims() ? mult_t.dim(0) : 0));
    const std::vector<int64_t> mult = mult_t.host_ints();
    Shape out(rank);
    for (int i = 0; i < rank; ++i) {
      if (mult[i] < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT, "Expected multiples[" + Str(i) + "] >= 0, but got " +
                                                 Str(mult[i]));
      out[i] = in[i] * mult[i];
    }
    if (!CheckIndexable(ctx, x.num_elements()) || !CheckIndexable(ctx, NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    const std::vector<int64_t> in_st = Strides(in), out_st = Strides(out);
    View v;
    for (int i = 0; i < rank; ++i) v.Add(out[i], in_st[i], out_st[i], in[i]);
    Record(ctx, esize_, x.address(), y.address(), v);
  }
};

class BroadcastToOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), shape_t = ctx.input(1);
    if (!ctx.ok()) return;
    if (shape_t.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "shape must be a vector of {int32,int64}, got shape " +
                                               ShapeString(shape_t.shape()));
    const Shape in = x.shape(), out = shape_t.host_ints();
    for (int64_t d : out)
      if (d < 0) return ctx.Fail(TF_INVALID_ARGUMENT, "Dimension " + Str(d) + " must be >= 0");
    if (in.size() > out.size())
      return ctx.Fail(TF_INVALID_ARGUMENT, "Rank of input (" + Str(in.size()) +
                                               ") must be no greater than rank of output shape (" +
                                               Str(out.size()) + ").");
    // As TF's BCast: dims that broadcast neither way, then ones that only
    // broadcast the target up to the input.
    const size_t lead = out.size() - in.size();
    bool incompatible = false, shrinks = false;
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i] == out[lead + i] || in[i] == 1) continue;
      (out[lead + i] == 1 ? shrinks : incompatible) = true;
    }
    if (incompatible)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Incompatible shapes: " + ShapeString(in) + " vs. " + ShapeString(out));
    if (shrinks)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Unable to broadcast tensor of shape " +
                                               ShapeString(in) + " to tensor of shape " +
                                               ShapeString(out));
    if (!CheckIndexable(ctx, NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    const std::vector<int64_t> in_st = Strides(in), out_st = Strides(out);
    View v;
    for (size_t i = 0; i < out.size(); ++i)
      v.Add(out[i], i < lead || in[i - lead] == 1 ? 0 : in_st[i - lead], out_st[i]);
    Record(ctx, esize_, x.address(), y.address(), v);
  }
};

// --- Pack, ConcatV2 ---------------------------------------------------------------

class PackOp : public MoveOp {
 public:
  explicit PackOp(OpConstruction& c) : MoveOp(c), axis_(c.GetInt("axis")) {}
  void Compute(OpContext& ctx) override {
    const int n = ctx.num_inputs();
    std::vector<Tensor> xs;
    for (int i = 0; i < n && ctx.ok(); ++i) xs.push_back(ctx.input(i));
    if (!ctx.ok()) return;
    const Shape in = xs[0].shape();
    const int64_t rank = static_cast<int64_t>(in.size()) + 1;
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "axis = " + Str(axis_) + " not in [" + Str(-rank) +
                                               ", " + Str(rank) + ")");
    for (int i = 1; i < n; ++i)
      if (xs[i].shape() != in)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Shapes of all inputs must match: values[0].shape = " + ShapeString(in) +
                            " != values[" + Str(i) + "].shape = " + ShapeString(xs[i].shape()));
    Shape out = in;
    out.insert(out.begin() + axis, n);
    if (!CheckIndexable(ctx, NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank - 1; ++d) (d < axis ? outer : inner) *= in[d];
    for (int i = 0; i < n; ++i)
      RecordBlock(ctx, esize_, xs[i].address(), y.address(), outer, inner, inner, 0, n * inner,
                  i * inner);
  }

 private:
  int64_t axis_;
};

class ConcatOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    const int n = ctx.num_inputs() - 1;
    Tensor axis_t = ctx.input(n);
    std::vector<Tensor> xs;
    for (int i = 0; i < n && ctx.ok(); ++i) xs.push_back(ctx.input(i));
    if (!ctx.ok()) return;
    if (axis_t.dims() > 1 || axis_t.num_elements() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "axis tensor should be a scalar integer, but got shape " +
                          ShapeString(axis_t.shape()));
    const int64_t axis_in = axis_t.host_ints()[0];
    const Shape first = xs[0].shape();
    const int64_t rank = static_cast<int64_t>(first.size());
    const int64_t axis = axis_in < 0 ? axis_in + rank : axis_in;
    if (rank == 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "ConcatOp : Can't concatenate scalars (use tf.stack instead)");
    if (axis < 0 || axis >= rank)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "ConcatOp : Expected concatenating dimensions in the range [" + Str(-rank) +
                          ", " + Str(rank) + "), but got " + Str(axis_in));
    Shape out = first;
    out[axis] = 0;
    for (int i = 0; i < n; ++i) {
      const Shape s = xs[i].shape();
      if (static_cast<int64_t>(s.size()) != rank)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "ConcatOp : Ranks of all input tensors should match: shape[0] = " +
                            ShapeString(first) + " vs. shape[" + Str(i) + "] = " + ShapeString(s));
      for (int64_t d = 0; d < rank; ++d)
        if (d != axis && s[d] != first[d])
          return ctx.Fail(TF_INVALID_ARGUMENT,
                          "ConcatOp : Dimension " + Str(d) + " in both shapes must be equal: "
                          "shape[0] = " + ShapeString(first) + " vs. shape[" + Str(i) + "] = " +
                              ShapeString(s));
      out[axis] += s[axis];
    }
    if (!CheckIndexable(ctx, NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok()) return;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis) (d < axis ? outer : inner) *= first[d];
    int64_t col = 0;
    for (int i = 0; i < n; ++i) {
      const int64_t cols = xs[i].dim(axis) * inner;
      RecordBlock(ctx, esize_, xs[i].address(), y.address(), outer, cols, cols, 0,
                  out[axis] * inner, col);
      col += cols;
    }
  }
};

// --- Unpack, Split, SplitV ----------------------------------------------------------

// Output i gets sizes[i] consecutive slices along `axis` of x.
void SplitInto(OpContext& ctx, const Tensor& x, int64_t axis, const std::vector<int64_t>& sizes,
               bool keep_axis, TF_DataType dtype) {
  const Shape in = x.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d)
    if (d != axis) (d < axis ? outer : inner) *= in[d];
  if (!CheckIndexable(ctx, x.num_elements())) return;
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape out = in;
    if (keep_axis) out[axis] = sizes[i];
    else out.erase(out.begin() + axis);
    Tensor y = ctx.allocate_output(static_cast<int>(i), out, dtype);
    if (!ctx.ok()) return;
    RecordBlock(ctx, DtypeSize(dtype), x.address(), y.address(), outer, sizes[i] * inner,
                in[axis] * inner, offset * inner, sizes[i] * inner, 0);
    offset += sizes[i];
  }
}

class UnpackOp : public MoveOp {
 public:
  explicit UnpackOp(OpConstruction& c) : MoveOp(c), axis_(c.GetInt("axis")) {}
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const int num = TF_NumOutputs(ctx.raw());
    const int64_t rank = x.dims();
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 0 || axis >= rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "axis = " + Str(axis_) + " not in [" + Str(-rank) +
                                               ", " + Str(rank) + ")");
    if (x.dim(axis) != num)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Input shape axis " + Str(axis) + " must equal " +
                                               Str(num) + ", got shape " + ShapeString(x.shape()));
    SplitInto(ctx, x, axis, std::vector<int64_t>(num, 1), false, dtype_);
  }

 private:
  int64_t axis_;
};

bool SplitAxis(OpContext& ctx, const Tensor& split_dim, int64_t rank, int64_t* axis) {
  const int64_t d = split_dim.host_ints()[0];
  *axis = d < 0 ? d + rank : d;
  if (*axis >= 0 && *axis < rank) return true;
  ctx.Fail(TF_INVALID_ARGUMENT, "-input rank(-" + Str(rank) + ") <= split_dim < input rank (" +
                                    Str(rank) + "), but got " + Str(d));
  return false;
}

class SplitOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor dim_t = ctx.input(0), x = ctx.input(1);
    if (!ctx.ok()) return;
    const int num = TF_NumOutputs(ctx.raw());
    if (dim_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "split_dim must be a scalar but has rank " + Str(dim_t.dims()));
    int64_t axis;
    if (!SplitAxis(ctx, dim_t, x.dims(), &axis)) return;
    if (x.dim(axis) % num != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Number of ways to split should evenly divide the split dimension, but got "
                      "split_dim " + Str(axis) + " (size = " + Str(x.dim(axis)) +
                          ") and num_split " + Str(num));
    SplitInto(ctx, x, axis, std::vector<int64_t>(num, x.dim(axis) / num), true, dtype_);
  }
};

class SplitVOp : public MoveOp {
 public:
  using MoveOp::MoveOp;
  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), sizes_t = ctx.input(1), dim_t = ctx.input(2);
    if (!ctx.ok()) return;
    const int num = TF_NumOutputs(ctx.raw());
    if (dim_t.num_elements() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "split_dim_tensor must have exactly one element.");
    if (sizes_t.dims() != 1 || sizes_t.num_elements() != num)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "size of the split_tensor must be 1-D and have the same elements as outputs "
                      "got " + Str(sizes_t.dims()) + " -D and " + Str(sizes_t.num_elements()) +
                          " elements");
    std::vector<int64_t> sizes = sizes_t.host_ints();
    int64_t axis;
    if (!SplitAxis(ctx, dim_t, x.dims(), &axis)) return;
    const int64_t total = x.dim(axis);
    if (num == 1 && sizes[0] != total)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "If there is only one output, it must have the same size as the input. "
                      "Input size: " + Str(total) + " output size: " + Str(sizes[0]));
    int neg_one = -1;
    int64_t known = 0;
    for (int i = 0; i < num; ++i) {
      if (sizes[i] != -1) {
        known += sizes[i];
      } else if (neg_one >= 0) {
        return ctx.Fail(TF_INVALID_ARGUMENT, "There can only be one -1 in the input.");
      } else {
        neg_one = i;
      }
    }
    if (!((neg_one < 0 && known == total) || (neg_one >= 0 && known <= total)))
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Determined shape must either match input shape along split_dim exactly if "
                      "fully specified, or be less than the size of the input along split_dim if "
                      "not fully specified.  Got: " + Str(known));
    if (neg_one >= 0) sizes[neg_one] = total - known;
    for (int i = 0; i < num; ++i)
      if (sizes[i] < 0)
        return ctx.Fail(TF_INVALID_ARGUMENT, "Split size at index " + Str(i) +
                                                 " must be >= 0. Got: " + Str(sizes[i]));
    SplitInto(ctx, x, axis, sizes, true, dtype_);
  }
};

// --- registration ---------------------------------------------------------------

// Registers K for every dtype, times each index dtype of `index_attr` if any.
template <typename K>
void Register(const char* op, const char* index_attr, std::initializer_list<TF_DataType> indices,
              std::initializer_list<const char*> host_memory) {
  for (TF_DataType t : kTypes) {
    if (!index_attr) {
      RegisterKernel<K>(op, {{"T", t}}, host_memory);
      continue;
    }
    for (TF_DataType i : indices) RegisterKernel<K>(op, {{"T", t}, {index_attr, i}}, host_memory);
  }
}

}  // namespace

void RecordTranspose(OpContext& ctx, size_t esize, uint64_t in, const Shape& in_shape,
                     const std::vector<int>& perm, uint64_t out) {
  if (!CheckIndexable(ctx, NumElements(in_shape))) return;
  Shape out_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_shape[i] = in_shape[perm[i]];
  const std::vector<int64_t> in_st = Strides(in_shape), out_st = Strides(out_shape);
  View v;
  for (size_t i = 0; i < perm.size(); ++i) v.Add(out_shape[i], in_st[perm[i]], out_st[i]);
  Record(ctx, esize, in, out, v);
}

void RegisterDataMovementKernels() {
  const auto kIdx = {TF_INT32, TF_INT64};
  Register<TransposeOp>("Transpose", "Tperm", kIdx, {"perm"});
  Register<SliceOp>("Slice", "Index", kIdx, {"begin", "size"});
  Register<StridedSliceOp>("StridedSlice", "Index", {TF_INT16, TF_INT32, TF_INT64},
                           {"begin", "end", "strides"});
  Register<StridedSliceGradOp>("StridedSliceGrad", "Index", kIdx,
                               {"shape", "begin", "end", "strides"});
  Register<TileOp>("Tile", "Tmultiples", kIdx, {"multiples"});
  Register<BroadcastToOp>("BroadcastTo", "Tidx", kIdx, {"shape"});
  Register<PackOp>("Pack", nullptr, {}, {});
  Register<ConcatOp>("ConcatV2", "Tidx", kIdx, {"axis"});
  Register<UnpackOp>("Unpack", nullptr, {}, {});
  Register<SplitOp>("Split", nullptr, {}, {"split_dim"});
  Register<SplitVOp>("SplitV", "Tlen", {TF_INT8, TF_INT32, TF_INT64}, {"size_splits", "split_dim"});
}

}  // namespace tfmp
