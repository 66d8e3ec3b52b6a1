// Gathers and scatters by index tuples, and segment reductions: GatherNd
// (shaders/gather_nd.comp "gather_nd_b<bits>_<index>"), ScatterNd,
// TensorScatter{Update,Add,Sub,Min,Max}, UnsortedSegment{Sum,Prod,Max,Min},
// SegmentSum, SegmentMean (shaders/scatter_nd.comp: "scatter_nd_slots_<index>", "scatter_nd_<op>_<dtype>",
// "scatter_nd_update_b<bits>"; slots sorted by shaders/sort.comp "sort_u32").
//
// Duplicate indices without atomics (Apple GPUs have no float atomics): the
// updates' slots are sorted stably on the device (n update rows: by counting
// ranks, rank_sort.comp, for n <= 4096, else a bitonic sort, O(n log^2 n))
// and every output row with updates is combined by exactly
// one invocation, in update order (see scatter_nd.comp). Results are
// deterministic; sums of duplicates accumulate in float32 for float16.
//
// Indices out of range: TF's CPU kernels raise InvalidArgument, which would
// need the host to read the indices (a wait for the device). As TF's GPU
// kernels do, GatherNd gives zeros for such an index and the scatters skip the
// update (UnsortedSegment*: ids < 0 or >= num_segments are dropped, as on the
// CPU for negative ids).
#include <algorithm>
#include <cstring>
#include <string>

#include "kernels/scan_sort.h"
#include "kernels/scatter_plan.h"

namespace tfmp {
namespace {

constexpr TF_DataType kAllTypes[] = {TF_FLOAT, TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                     TF_INT16, TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                     TF_UINT32, TF_UINT64, TF_BOOL};
constexpr TF_DataType kNumbers[] = {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64};

std::string Str(int64_t v) { return std::to_string(v); }
std::string Bits(TF_DataType t) { return "b" + Str(DtypeSize(t) * 8); }
TF_DataType AccumulatorType(TF_DataType t) { return t == TF_HALF ? TF_FLOAT : t; }

// --- GatherNd ----------------------------------------------------------------------

struct GatherNdPush {
  uint64_t x, indices, y;
  uint32_t n, slice, depth;
  uint32_t dims[7];
};

class GatherNdOp : public OpKernel {
 public:
  explicit GatherNdOp(OpConstruction& c)
      : dtype_(c.GetType("Tparams")),
        index_(c.GetType("Tindices")),
        policy_(c.GetString("bad_indices_policy")) {}

  void Compute(OpContext& ctx) override {
    Tensor params = ctx.input(0), indices = ctx.input(1);
    if (!ctx.ok()) return;
    if (!policy_.empty() && policy_ != "DEFAULT" && policy_ != "IGNORE")
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "bad_indices_policy " + policy_ + " is not supported on the GPU");
    if (params.dims() < 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "params must be at least a vector");
    if (indices.dims() < 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "indices must be at least a vector");
    const Shape ps = params.shape(), is = indices.shape();
    const int64_t depth = is.back();
    if (depth > static_cast<int64_t>(ps.size()))
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "index innermost dimension length must be <= params rank; saw: " +
                          Str(depth) + " vs. " + Str(ps.size()));
    if (depth > 7)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Only indices.shape[-1] values between 1 and 7 are currently supported.  "
                      "Requested rank: " + Str(depth));
    Shape out(is.begin(), is.end() - 1);
    int64_t slice = 1;
    for (size_t d = depth; d < ps.size(); ++d) {
      out.push_back(ps[d]);
      slice *= ps[d];
    }
    if (NumElements(out) > 0 && params.num_elements() == 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Requested more than 0 entries, but params is empty.  Params shape: " +
                          ShapeString(ps));
    if (!ctx.CheckElements(params.num_elements()) || !ctx.CheckElements(NumElements(out)) ||
        !ctx.CheckElements(indices.num_elements()))
      return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    GatherNdPush p{};
    p.x = params.address();
    p.indices = indices.address();
    p.y = y.address();
    p.n = static_cast<uint32_t>(y.num_elements());
    p.slice = static_cast<uint32_t>(slice);
    p.depth = static_cast<uint32_t>(depth);
    for (int64_t d = 0; d < depth; ++d) p.dims[d] = static_cast<uint32_t>(ps[d]);
    ctx.Dispatch("gather_nd_" + Bits(dtype_) + "_" + DtypeToken(index_), p,
                 OpContext::GridFor(p.n));
  }

 private:
  TF_DataType dtype_, index_;
  std::string policy_;
};

// --- The scatter recorder ----------------------------------------------------------

struct SlotsPush {
  uint64_t indices, keys;
  uint32_t n, depth;
  uint32_t dims[10];
};


// Records dst[slot(r), :] = APPLY(dst[slot(r), :], COMBINE over the update
// rows r of that slot) (the scatter_nd.comp variant `kernel`), where slot(r) is
// the row-major position of indices[r, :] (depth components) in `dims`.
// dst already holds the starting values.
void RecordScatter(OpContext& ctx, const std::string& kernel, TF_DataType acc,
                   const Tensor& indices, TF_DataType index, int64_t rows, int64_t depth,
                   const Shape& dims, uint64_t updates, int64_t cols, uint64_t dst) {
  if (rows == 0 || cols == 0) return;
  const bool rank_sort = rows <= kRankSortMax;
  const uint32_t log_p = Log2Ceil(static_cast<uint64_t>(rows));
  const int64_t padded = rank_sort ? rows : int64_t{1} << log_p;
  const int64_t chunk = ScatterChunk(rows, cols);
  const int64_t chunks = (rows + chunk - 1) / chunk;
  if (!ctx.CheckElements(2 * padded) || !ctx.CheckElements(chunks * cols)) return;
  Tensor keys = ctx.allocate_temp({rows}, TF_INT32);
  Tensor skeys = ctx.allocate_temp({padded}, TF_INT32);
  Tensor sidx = ctx.allocate_temp({padded}, TF_INT32);
  Tensor head, tail;
  if (chunks > 1) {
    head = ctx.allocate_temp({chunks * cols}, acc);
    tail = ctx.allocate_temp({chunks * cols}, acc);
  }
  if (!ctx.ok()) return;
  SlotsPush s{};
  s.indices = indices.address();
  s.keys = keys.address();
  s.n = static_cast<uint32_t>(rows);
  s.depth = static_cast<uint32_t>(depth);
  for (int64_t d = 0; d < depth; ++d) s.dims[d] = static_cast<uint32_t>(dims[d]);
  ctx.Dispatch(std::string("scatter_nd_slots_") + DtypeToken(index), s, OpContext::GridFor(rows));
  if (rank_sort) {
    RankSortPush r{keys.address(), skeys.address(), sidx.address(), static_cast<uint32_t>(rows), 0};
    ctx.Dispatch("rank_sort_u32", r, static_cast<uint32_t>((rows + 63) / 64));
  } else {
    RecordSort(ctx, "sort_u32", keys.address(), 1, static_cast<uint32_t>(rows), log_p,
               skeys.address(), sidx.address(), 0, 0, 0);
  }
  ScatterPush p{};
  p.keys = skeys.address();
  p.idx = sidx.address();
  p.updates = updates;
  p.dst = dst;
  p.head = head.valid() ? head.address() : 0;
  p.tail = tail.valid() ? tail.address() : 0;
  p.n = static_cast<uint32_t>(rows);
  p.cols = static_cast<uint32_t>(cols);
  p.chunk = static_cast<uint32_t>(chunk);
  p.chunks = static_cast<uint32_t>(chunks);
  const uint32_t groups = OpContext::GridFor(chunks * cols, 64);
  p.mode = 0;
  ctx.Dispatch(kernel, p, groups);
  if (chunks > 1) {
    p.mode = 1;
    ctx.Dispatch(kernel, p, groups);
  }
}

// Fills t with the identity of a scatter op: 0 (sum), 1 (prod), the lowest
// (max) or the highest (min) value of the dtype, as TF's kernels do.
void FillIdentity(OpContext& ctx, const Tensor& t, TF_DataType dtype, const char* op) {
  const int64_t n = t.num_elements();
  if (n == 0) return;
  const std::string o = op;
  if (o == "sum") {
    ctx.stream()->Fill(t.address(), 0, n * DtypeSize(dtype));
    return;
  }
  const bool one = o == "prod", low = o == "max";
  uint8_t bytes[8] = {0};
  switch (dtype) {
    case TF_FLOAT: {
      const uint32_t v = one ? 0x3f800000u : (low ? 0xff7fffffu : 0x7f7fffffu);
      std::memcpy(bytes, &v, 4);
      break;
    }
    case TF_HALF: {
      const uint16_t v = one ? 0x3c00 : (low ? 0xfbff : 0x7bff);
      std::memcpy(bytes, &v, 2);
      break;
    }
    case TF_INT32: {
      const uint32_t v = one ? 1u : (low ? 0x80000000u : 0x7fffffffu);
      std::memcpy(bytes, &v, 4);
      break;
    }
    default: {
      const uint64_t v = one ? 1u : (low ? 0x8000000000000000ull : 0x7fffffffffffffffull);
      std::memcpy(bytes, &v, 8);
      break;
    }
  }
  ctx.stream()->CopyHostToDevice(t.address(), bytes, DtypeSize(dtype));
  struct {
    uint64_t value, y;
    uint32_t n;
  } p{t.address(), t.address(), static_cast<uint32_t>(n)};
  ctx.Dispatch(std::string("fill_") + DtypeToken(dtype), p, OpContext::GridFor(n));
}

// Checks updates against indices and the output shape as TF's ScatterNd and
// TensorScatter ops do; sets the scatter geometry.
bool ValidateScatter(OpContext& ctx, const Shape& shape, const Tensor& indices,
                     const Tensor& updates, int64_t* rows, int64_t* depth, int64_t* cols) {
  const Shape is = indices.shape(), us = updates.shape();
  auto fail = [&](const std::string& m) {
    ctx.Fail(TF_INVALID_ARGUMENT, m);
    return false;
  };
  if (is.empty())
    return fail("Indices shape must have rank at least one. Found:" + ShapeString(is));
  if (us.empty())
    return fail("Updates shape must have rank at least one. Found:" + ShapeString(us));
  if (shape.empty())
    return fail("Output must be at least 1-D, got shape: " + ShapeString(shape));
  const int64_t n_out = NumElements(shape), n_idx = indices.num_elements(),
                n_upd = updates.num_elements();
  if (!(n_idx == 0 && n_upd == 0) && (n_out == 0 || n_idx == 0 || n_upd == 0))
    return fail("Indices and updates specified for empty output.  indices shape: " +
                ShapeString(is) + ", updates shape: " + ShapeString(us) + ", output shape: " +
                ShapeString(shape));
  if (us[0] != is[0])
    return fail("Dimensions [0,1) of indices[shape=" + ShapeString(is) + "] = " + Str(is[0]) +
                " must match dimensions [0,1) of updates[shape=" + ShapeString(us) + "] = " +
                Str(us[0]));
  // TF's CPU kernel validates a vector of indices both as one index tuple and
  // as a batch of scalar indices: no shapes pass both checks.
  if (is.size() == 1 && !(n_idx == 0 && n_upd == 0))
    return fail("Dimensions [1," + Str(shape.size()) + ") of input[shape=" + ShapeString(shape) +
                "] must match dimensions [1," + Str(us.size()) + ") of updates[shape=" +
                ShapeString(us) + "]");
  const int64_t slice_dim = is.back();
  const int64_t batch_dim = static_cast<int64_t>(is.size()) - 1;
  const int64_t urank = static_cast<int64_t>(us.size()), prank = static_cast<int64_t>(shape.size());
  const std::string prefix = "Dimensions [0," + Str(batch_dim) + ") of indices[shape=" +
                             ShapeString(is) + "] must match dimensions [0," + Str(batch_dim) +
                             ") of updates[shape=" + ShapeString(us) + "]";
  const std::string suffix = "Dimensions [" + Str(slice_dim) + "," + Str(prank) +
                             ") of input[shape=" + ShapeString(shape) +
                             "] must match dimensions [" + Str(slice_dim) + "," + Str(urank) +
                             ") of updates[shape=" + ShapeString(us) + "]";
  if (urank < batch_dim) return fail(prefix);
  if (prank < slice_dim + (urank - batch_dim)) return fail(suffix);
  if (urank != batch_dim + prank - slice_dim) return fail(suffix);
  for (int64_t d = 0; d < batch_dim; ++d)
    if (us[d] != is[d]) return fail(prefix);
  for (int64_t d = 0; d < urank - batch_dim; ++d)
    if (us[d + batch_dim] != shape[d + slice_dim]) return fail(suffix);
  if (slice_dim < 1 || slice_dim > 10)
    return fail("Only indices.shape[-1] values between 1 and 10 are currently supported.  "
                "Requested rank: " + Str(slice_dim));
  int64_t slots = 1, slice = 1;
  for (int64_t d = 0; d < prank; ++d) (d < slice_dim ? slots : slice) *= shape[d];
  if (slots >= 0xffffffffll) {
    ctx.Fail(TF_UNIMPLEMENTED, "scatters into more than 2^32 - 1 rows are not supported");
    return false;
  }
  *depth = slice_dim;
  *rows = NumElements(Shape(is.begin(), is.end() - 1));
  *cols = slice;
  return ctx.CheckElements(n_out) && ctx.CheckElements(n_upd) && ctx.CheckElements(n_idx);
}

// --- ScatterNd ---------------------------------------------------------------------

class ScatterNdOp : public OpKernel {
 public:
  explicit ScatterNdOp(OpConstruction& c)
      : dtype_(c.GetType("T")),
        index_(c.GetType("Tindices")),
        policy_(c.GetString("bad_indices_policy")) {}

  void Compute(OpContext& ctx) override {
    Tensor indices = ctx.input(0), updates = ctx.input(1), shape_t = ctx.input(2);
    if (!ctx.ok()) return;
    if (!policy_.empty() && policy_ != "DEFAULT" && policy_ != "IGNORE")
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "bad_indices_policy " + policy_ + " is not supported on the GPU");
    if (shape_t.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Shape must be a 1-D tensor, got shape " + ShapeString(shape_t.shape()));
    const Shape shape = shape_t.host_ints();
    for (int64_t d : shape)
      if (d < 0) return ctx.Fail(TF_INVALID_ARGUMENT, "Dimension " + Str(d) + " must be >= 0");
    int64_t rows = 0, depth = 0, cols = 0;
    if (!ValidateScatter(ctx, shape, indices, updates, &rows, &depth, &cols)) return;
    Tensor y = ctx.allocate_output(0, shape, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    FillIdentity(ctx, y, dtype_, "sum");
    RecordScatter(ctx, std::string("scatter_nd_sum_") + DtypeToken(dtype_), AccumulatorType(dtype_),
                  indices, index_, rows, depth, shape, updates.address(), cols, y.address());
  }

 private:
  TF_DataType dtype_, index_;
  std::string policy_;
};

// --- TensorScatterUpdate / Add / Sub / Min / Max -------------------------------

class TensorScatterOp : public OpKernel {
 public:
  TensorScatterOp(OpConstruction& c, const char* op)
      : op_(op),
        dtype_(c.GetType("T")),
        index_(c.GetType("Tindices")),
        policy_(c.GetString("bad_indices_policy")) {}

  void Compute(OpContext& ctx) override {
    Tensor tensor = ctx.input(0), indices = ctx.input(1), updates = ctx.input(2);
    if (!ctx.ok()) return;
    if (!policy_.empty() && policy_ != "DEFAULT" && policy_ != "IGNORE")
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "bad_indices_policy " + policy_ + " is not supported on the GPU");
    const Shape shape = tensor.shape();
    if (shape.empty())
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Input shape must have rank at least one. Found:" + ShapeString(shape));
    int64_t rows = 0, depth = 0, cols = 0;
    if (!ValidateScatter(ctx, shape, indices, updates, &rows, &depth, &cols)) return;
    Tensor y = ctx.forward_or_allocate_output(0, 0, shape, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    if (y.address() != tensor.address())
      ctx.stream()->CopyDeviceToDevice(y.address(), tensor.address(),
                                       y.num_elements() * DtypeSize(dtype_));
    const bool update = std::string(op_) == "update";
    RecordScatter(ctx,
                  update ? "scatter_nd_update_" + Bits(dtype_)
                         : std::string("scatter_nd_") + op_ + "_" + DtypeToken(dtype_),
                  update ? dtype_ : AccumulatorType(dtype_), indices, index_, rows, depth, shape,
                  updates.address(), cols, y.address());
  }

 private:
  const char* op_;
  TF_DataType dtype_, index_;
  std::string policy_;
};

template <int I>
class TensorScatterOpOf : public TensorScatterOp {
 public:
  static constexpr const char* kOps[] = {"update", "sum", "sub", "min", "max"};
  explicit TensorScatterOpOf(OpConstruction& c) : TensorScatterOp(c, kOps[I]) {}
};

// --- UnsortedSegmentSum / Prod / Max / Min -----------------------------------------

class UnsortedSegmentOp : public OpKernel {
 public:
  UnsortedSegmentOp(OpConstruction& c, const char* op)
      : op_(op), dtype_(c.GetType("T")), index_(c.GetType("Tindices")) {}

  void Compute(OpContext& ctx) override {
    Tensor data = ctx.input(0), ids = ctx.input(1), num_t = ctx.input(2);
    if (!ctx.ok()) return;
    if (num_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "num_segments should be a scalar, not shape " + ShapeString(num_t.shape()));
    const Shape ds = data.shape(), is = ids.shape();
    bool prefix = is.size() <= ds.size();
    for (size_t d = 0; prefix && d < is.size(); ++d) prefix = is[d] == ds[d];
    if (!prefix)
      return ctx.Fail(TF_INVALID_ARGUMENT, "data.shape = " + ShapeString(ds) +
                                               " does not start with segment_ids.shape = " +
                                               ShapeString(is));
    const int64_t segments = num_t.host_ints()[0];
    if (segments < 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Input num_segments == " + Str(segments) + " must not be negative.");
    if (segments >= 0xffffffffll)
      return ctx.Fail(TF_UNIMPLEMENTED, "more than 2^32 - 1 segments are not supported");
    Shape out = {segments};
    int64_t cols = 1;
    for (size_t d = is.size(); d < ds.size(); ++d) {
      out.push_back(ds[d]);
      cols *= ds[d];
    }
    if (!ctx.CheckElements(data.num_elements()) || !ctx.CheckElements(NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    FillIdentity(ctx, y, dtype_, op_);
    RecordScatter(ctx, std::string("scatter_nd_") + op_ + "_" + DtypeToken(dtype_),
                  AccumulatorType(dtype_), ids, index_, ids.num_elements(), 1, {segments},
                  data.address(), cols, y.address());
  }

 private:
  const char* op_;
  TF_DataType dtype_, index_;
};

template <int I>
class UnsortedSegmentOpOf : public UnsortedSegmentOp {
 public:
  static constexpr const char* kOps[] = {"sum", "prod", "max", "min"};
  explicit UnsortedSegmentOpOf(OpConstruction& c) : UnsortedSegmentOp(c, kOps[I]) {}
};

// --- SegmentSum / SegmentMean ------------------------------------------------------
//
// The output has (last segment id + 1) rows: the host reads the last id (a
// wait for the device, as TF's GPU kernel does) before it allocates the
// output. The ids are then scattered like UnsortedSegmentSum's: ids that are
// not sorted give the unsorted result (TF's CPU kernel raises; its GPU kernel
// does not check), negative ids are dropped, and an empty segment gives 0.

class SegmentOp : public OpKernel {
 public:
  SegmentOp(OpConstruction& c, bool mean)
      : mean_(mean), dtype_(c.GetType("T")), index_(c.GetType("Tindices")) {}

  void Compute(OpContext& ctx) override {
    Tensor data = ctx.input(0), ids = ctx.input(1);
    if (!ctx.ok()) return;
    if (ids.dims() != 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "segment_ids should be a vector.");
    if (data.dims() < 1)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Shape must be at least rank 1 but is rank 0");
    const int64_t n = ids.dim(0);
    if (n != data.dim(0))
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "segment_ids should be the same size as dimension 0 of input.");
    if (!ctx.CheckElements(data.num_elements())) return;
    int64_t last = -1;
    if (n > 0) {
      const size_t size = DtypeSize(index_);
      int64_t raw = 0;
      ctx.stream()->CopyDeviceToHost(&raw, ids.address() + (n - 1) * size, size);
      rt::Status s = ctx.stream()->Synchronize();
      if (!s.ok()) return ctx.Fail(static_cast<TF_Code>(s.code), s.message);
      last = size == 4 ? static_cast<int64_t>(static_cast<int32_t>(raw)) : raw;
    }
    const int64_t segments = last + 1;
    if (segments < 0) return ctx.Fail(TF_INVALID_ARGUMENT, "segment ids must be >= 0");
    if (segments >= 0xffffffffll)
      return ctx.Fail(TF_UNIMPLEMENTED, "more than 2^32 - 1 segments are not supported");
    Shape out = data.shape();
    out[0] = segments;
    const int64_t cols = NumElements(out) / std::max<int64_t>(segments, 1);
    if (!ctx.CheckElements(NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, dtype_);
    if (!ctx.ok() || y.num_elements() == 0) return;
    FillIdentity(ctx, y, dtype_, "sum");
    RecordScatter(ctx, std::string(mean_ ? "scatter_nd_mean_" : "scatter_nd_sum_") + DtypeToken(dtype_),
                  AccumulatorType(dtype_), ids, index_, n, 1, {segments}, data.address(), cols,
                  y.address());
  }

 private:
  bool mean_;
  TF_DataType dtype_, index_;
};

template <bool kMean>
class SegmentOpOf : public SegmentOp {
 public:
  explicit SegmentOpOf(OpConstruction& c) : SegmentOp(c, kMean) {}
};

}  // namespace

void RegisterScatterKernels() {
  for (TF_DataType i : {TF_INT32, TF_INT64}) {
    for (TF_DataType t : kAllTypes) {
      RegisterKernel<GatherNdOp>("GatherNd", {{"Tparams", t}, {"Tindices", i}});
      RegisterKernel<TensorScatterOpOf<0>>("TensorScatterUpdate", {{"T", t}, {"Tindices", i}});
    }
    for (TF_DataType t : kNumbers) {
      RegisterKernel<ScatterNdOp>("ScatterNd", {{"T", t}, {"Tindices", i}}, {"shape"});
      RegisterKernel<TensorScatterOpOf<1>>("TensorScatterAdd", {{"T", t}, {"Tindices", i}});
      RegisterKernel<TensorScatterOpOf<2>>("TensorScatterSub", {{"T", t}, {"Tindices", i}});
      RegisterKernel<TensorScatterOpOf<3>>("TensorScatterMin", {{"T", t}, {"Tindices", i}});
      RegisterKernel<TensorScatterOpOf<4>>("TensorScatterMax", {{"T", t}, {"Tindices", i}});
      RegisterKernel<SegmentOpOf<false>>("SegmentSum", {{"T", t}, {"Tindices", i}});
      RegisterKernel<SegmentOpOf<true>>("SegmentMean", {{"T", t}, {"Tindices", i}});
      for (TF_DataType n : {TF_INT32, TF_INT64}) {
        const std::initializer_list<std::pair<const char*, TF_DataType>> types = {
            {"T", t}, {"Tindices", i}, {"Tnumsegments", n}};
        RegisterKernel<UnsortedSegmentOpOf<0>>("UnsortedSegmentSum", types, {"num_segments"});
        RegisterKernel<UnsortedSegmentOpOf<1>>("UnsortedSegmentProd", types, {"num_segments"});
        RegisterKernel<UnsortedSegmentOpOf<2>>("UnsortedSegmentMax", types, {"num_segments"});
        RegisterKernel<UnsortedSegmentOpOf<3>>("UnsortedSegmentMin", types, {"num_segments"});
      }
    }
  }
}

}  // namespace tfmp
