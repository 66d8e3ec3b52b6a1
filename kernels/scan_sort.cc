// Scans and sorts: Cumsum, Cumprod (shaders/scan.comp "scan_<op>_<dtype>"),
// Where (scan.comp "where_<dtype>") and TopKV2 (shaders/sort.comp
// "topk_<dtype>_<index>"), plus the scan and sort recorders other families use
// (kernels/scan_sort.h).
//
// Where is the one op here that waits for the device: its output shape is the
// number of nonzero elements, which the host needs to allocate the output
// (TF's GPU kernel waits the same way). Everything else records and returns.
#include "kernels/scan_sort.h"

#include <algorithm>

namespace tfmp {

namespace {

struct ScanPush {
  uint64_t x, y, totals, offsets, coords;
  uint32_t outer, len, inner;
  uint32_t chunks, chunk;
  uint32_t mode;
  uint32_t exclusive, reverse;
  uint32_t rank;
  uint32_t shape[8];
};

// A line this long or shorter is scanned by one invocation; longer ones in
// chunks of kScanChunk whose totals are scanned again (recursively).
constexpr int64_t kScanDirect = 1024;
constexpr int64_t kScanChunk = 256;
constexpr uint32_t kScanLocal = 64;  // scan.comp's workgroup size

TF_DataType AccumulatorType(TF_DataType t) { return t == TF_HALF ? TF_FLOAT : t; }

std::string Str(int64_t v) { return std::to_string(v); }

struct SortPush {
  uint64_t x, keys, idx, values, indices;
  uint32_t rows, n, k, log_p;
  uint32_t size_lo, size_hi, size, stride;
  uint32_t global_pass, src, dst;
};

}  // namespace

uint32_t Log2Ceil(uint64_t n) {
  uint32_t p = 0;
  while ((uint64_t{1} << p) < n) ++p;
  return p;
}

void RecordScan(OpContext& ctx, const char* op, TF_DataType dtype, uint64_t x, uint64_t y,
                int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse) {
  if (outer * len * inner == 0) return;
  ScanPush p{};
  p.x = x;
  p.y = y;
  p.outer = static_cast<uint32_t>(outer);
  p.len = static_cast<uint32_t>(len);
  p.inner = static_cast<uint32_t>(inner);
  p.exclusive = exclusive ? 1 : 0;
  p.reverse = reverse ? 1 : 0;
  const std::string kernel = std::string("scan_") + op + "_" + DtypeToken(dtype);
  if (len <= kScanDirect) {
    p.chunks = 1;
    p.chunk = p.len;
    p.mode = 1;
    ctx.Dispatch(kernel, p, OpContext::GridFor(outer * inner, kScanLocal));
    return;
  }
  const int64_t chunks = (len + kScanChunk - 1) / kScanChunk;
  const TF_DataType acc = AccumulatorType(dtype);
  Tensor totals = ctx.allocate_temp({outer * chunks * inner}, acc);
  Tensor offsets = ctx.allocate_temp({outer * chunks * inner}, acc);
  if (!ctx.ok()) return;
  p.chunks = static_cast<uint32_t>(chunks);
  p.chunk = static_cast<uint32_t>(kScanChunk);
  p.totals = totals.address();
  p.offsets = offsets.address();
  const uint32_t groups = OpContext::GridFor(outer * chunks * inner, kScanLocal);
  p.mode = 0;
  ctx.Dispatch(kernel, p, groups);
  // The exclusive scan of the chunk totals, in scan order already.
  RecordScan(ctx, op, acc, totals.address(), offsets.address(), outer, chunks, inner, true, false);
  p.mode = 1;
  ctx.Dispatch(kernel, p, groups);
}

void RecordSort(OpContext& ctx, const std::string& kernel, uint64_t x, uint32_t rows, uint32_t n,
                uint32_t log_p, uint64_t keys, uint64_t idx, uint64_t values, uint64_t indices,
                uint32_t k) {
  const uint64_t P = uint64_t{1} << log_p;
  const uint64_t total = rows * P;
  SortPush p{};
  p.x = x;
  p.keys = keys;
  p.idx = idx;
  p.values = values;
  p.indices = indices;
  p.rows = rows;
  p.n = n;
  p.k = k;
  p.log_p = log_p;
  const uint32_t blocks =
      static_cast<uint32_t>(std::min<uint64_t>((total + kSortBlock - 1) / kSortBlock, 65535));
  auto local = [&](uint32_t lo, uint32_t hi, bool from_temp, bool last) {
    p.global_pass = 0;
    p.size_lo = lo;
    p.size_hi = hi;
    p.src = from_temp ? 1 : 0;
    p.dst = (last && values != 0) ? 1 : 0;
    ctx.Dispatch(kernel, p, blocks);
  };
  if (P <= kSortBlock) {
    local(2, static_cast<uint32_t>(P), false, true);
    return;
  }
  local(2, kSortBlock, false, false);
  for (uint64_t size = 2 * kSortBlock; size <= P; size *= 2) {
    for (uint64_t stride = size / 2; stride >= kSortBlock; stride /= 2) {
      p.global_pass = 1;
      p.size = static_cast<uint32_t>(size);
      p.stride = static_cast<uint32_t>(stride);
      ctx.Dispatch(kernel, p, OpContext::GridFor(static_cast<int64_t>(total / 2), 1024));
    }
    local(static_cast<uint32_t>(size), static_cast<uint32_t>(size), true, size == P);
  }
}

namespace {

// --- Cumsum, Cumprod ---------------------------------------------------------------

template <bool kProd>
class ScanOp : public OpKernel {
 public:
  explicit ScanOp(OpConstruction& c)
      : dtype_(c.GetType("T")),
        exclusive_(c.GetBool("exclusive")),
        reverse_(c.GetBool("reverse")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), axis_t = ctx.input(1);
    if (!ctx.ok()) return;
    if (axis_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "ScanOp: axis must be a scalar, not " + ShapeString(axis_t.shape()));
    const int rank = x.dims();
    int64_t axis = axis_t.host_ints()[0];
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "ScanOp: Expected scan axis in the range [" +
                                               Str(-rank) + ", " + Str(rank) + "), but got " +
                                               Str(axis_t.host_ints()[0]));
    const Shape in = x.shape();
    if (!ctx.CheckElements(x.num_elements())) return;
    Tensor y = ctx.allocate_output(0, in, dtype_);
    if (!ctx.ok() || x.num_elements() == 0) return;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < rank; ++d) {
      if (d < axis) outer *= in[d];
      if (d > axis) inner *= in[d];
    }
    RecordScan(ctx, kProd ? "prod" : "sum", dtype_, x.address(), y.address(), outer, in[axis],
               inner, exclusive_, reverse_);
  }

 private:
  TF_DataType dtype_;
  bool exclusive_, reverse_;
};

// --- Where -------------------------------------------------------------------------

class WhereOp : public OpKernel {
 public:
  explicit WhereOp(OpConstruction& c) : dtype_(c.GetType("T")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const int rank = x.dims();
    if (rank < 1 || rank > 8)  // as TF's CPU kernel
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "WhereOp : Unhandled input dimensions: " + Str(rank));
    const int64_t n = x.num_elements();
    if (!ctx.CheckElements(n)) return;
    if (n == 0) {
      ctx.allocate_output(0, {0, rank}, TF_INT64);
      return;
    }
    const std::string kernel = std::string("where_") + DtypeToken(dtype_);
    const int64_t chunks = (n + kScanChunk - 1) / kScanChunk;
    Tensor totals = ctx.allocate_temp({chunks}, TF_INT64);
    Tensor offsets = ctx.allocate_temp({chunks}, TF_INT64);
    if (!ctx.ok()) return;
    ScanPush p{};
    p.x = x.address();
    p.totals = totals.address();
    p.offsets = offsets.address();
    p.outer = p.inner = 1;
    p.len = static_cast<uint32_t>(n);
    p.chunks = static_cast<uint32_t>(chunks);
    p.chunk = static_cast<uint32_t>(kScanChunk);
    p.rank = static_cast<uint32_t>(rank);
    for (int d = 0; d < rank; ++d) p.shape[d] = static_cast<uint32_t>(x.dim(d));
    const uint32_t groups = OpContext::GridFor(chunks, kScanLocal);
    p.mode = 0;
    ctx.Dispatch(kernel, p, groups);
    if (chunks > 1)
      RecordScan(ctx, "sum", TF_INT64, totals.address(), offsets.address(), 1, chunks, 1, true,
                 false);
    // The count: the last chunk's offset plus its total. The one host wait.
    int64_t last[2] = {0, 0};
    ctx.stream()->CopyDeviceToHost(&last[0], totals.address() + 8 * (chunks - 1), 8);
    if (chunks > 1)
      ctx.stream()->CopyDeviceToHost(&last[1], offsets.address() + 8 * (chunks - 1), 8);
    rt::Status s = ctx.stream()->Synchronize();
    if (!s.ok()) return ctx.Fail(static_cast<TF_Code>(s.code), s.message);
    const int64_t count = last[0] + last[1];
    Tensor y = ctx.allocate_output(0, {count, rank}, TF_INT64);
    if (!ctx.ok() || count == 0 || rank == 0) return;
    p.coords = y.address();
    p.mode = 1;
    ctx.Dispatch(kernel, p, groups);
  }

 private:
  TF_DataType dtype_;
};

// --- TopKV2 ------------------------------------------------------------------------

class TopKOp : public OpKernel {
 public:
  explicit TopKOp(OpConstruction& c)
      : dtype_(c.GetType("T")), index_(c.GetType("index_type")) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0), k_t = ctx.input(1);
    if (!ctx.ok()) return;
    if (k_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "k must be scalar, got shape " + ShapeString(k_t.shape()));
    const int64_t k = k_t.host_ints()[0];
    if (k < 0) return ctx.Fail(TF_INVALID_ARGUMENT, "Need k >= 0, got " + Str(k));
    if (x.dims() < 1)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "input must be >= 1-D, got shape " + ShapeString(x.shape()));
    Shape out = x.shape();
    const int64_t n = out.back();
    if (n < k)
      return ctx.Fail(TF_INVALID_ARGUMENT, "input must have at least k columns. Had " + Str(n) +
                                               ", needed " + Str(k));
    out.back() = k;
    const int64_t rows = n == 0 ? 0 : x.num_elements() / n;
    const uint32_t log_p = Log2Ceil(static_cast<uint64_t>(n));
    if (!ctx.CheckElements(x.num_elements()) || !ctx.CheckElements(2 * (rows << log_p))) return;
    Tensor values = ctx.allocate_output(0, out, dtype_);
    Tensor indices = ctx.allocate_output(1, out, index_);
    if (!ctx.ok() || k == 0 || rows == 0) return;
    Tensor keys, idx;
    if ((int64_t{1} << log_p) > kSortBlock) {
      keys = ctx.allocate_temp({rows << log_p}, AccumulatorType(dtype_));
      idx = ctx.allocate_temp({rows << log_p}, TF_INT32);
      if (!ctx.ok()) return;
    }
    RecordSort(ctx, std::string("topk_") + DtypeToken(dtype_) + "_" + DtypeToken(index_),
               x.address(), static_cast<uint32_t>(rows), static_cast<uint32_t>(n), log_p,
               keys.valid() ? keys.address() : 0, idx.valid() ? idx.address() : 0,
               values.address(), indices.address(), static_cast<uint32_t>(k));
  }

 private:
  TF_DataType dtype_, index_;
};

}  // namespace

void RegisterScanSortKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64}) {
    for (TF_DataType i : {TF_INT32, TF_INT64}) {
      RegisterKernel<ScanOp<false>>("Cumsum", {{"T", t}, {"Tidx", i}}, {"axis"});
      RegisterKernel<ScanOp<true>>("Cumprod", {{"T", t}, {"Tidx", i}}, {"axis"});
      for (TF_DataType tk : {TF_INT32, TF_INT64})
        RegisterKernel<TopKOp>("TopKV2", {{"T", t}, {"Tk", tk}, {"index_type", i}}, {"k"});
    }
  }
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64, TF_BOOL})
    RegisterKernel<WhereOp>("Where", {{"T", t}});
}

}  // namespace tfmp
