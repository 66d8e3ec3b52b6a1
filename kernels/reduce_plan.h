// Dispatch geometry of the reductions (shaders/reduce.comp), with no
// TensorFlow: kernels/reduction.cc records it, and tools/kernel_bench.cc
// benchmarks exactly the same passes.
#ifndef TFMP_KERNELS_REDUCE_PLAN_H_
#define TFMP_KERNELS_REDUCE_PLAN_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace tfmp {

constexpr int kReduceMaxGroups = 3;

// reduce.comp's push constants.
struct ReducePush {
  uint64_t x, y;
  uint32_t n_out, n_red;
  uint32_t kept_rank, red_rank;
  uint32_t kshape[kReduceMaxGroups], kstride[kReduceMaxGroups];
  uint32_t rshape[kReduceMaxGroups], rstride[kReduceMaxGroups];
  uint32_t mean;
  uint32_t divisor;
  uint32_t chunks, chunk_len;
  uint32_t mode;   // kReduceGeneric, kReduceRows, kReduceColumns, kReducePerOutput
  uint32_t lanes;  // rows: invocations per job; columns: invocations across a strip
  uint32_t vec;    // rows, columns: 4-vector loads, this many (1, 2 or 4) in flight per step
  uint32_t outer, inner;  // columns
  // The prologue's second operand (reduce_sum_<pro>_* variants, see
  // reduce.comp): b's element for x's flat index i is b[i] (b_len 0),
  // b[i / b_len] (b_len > 0) or b[i % -b_len] (b_len < 0).
  int32_t b_len;
  uint64_t b;
};
static_assert(sizeof(ReducePush) == 128, "reduce.comp's push constants: Vulkan guarantees 128 bytes");

// kReducePerOutput: the generic layout with one invocation per output.
enum : uint32_t { kReduceGeneric = 0, kReduceRows = 1, kReduceColumns = 2, kReducePerOutput = 3 };

// The columns a columns pass's strip spans.
inline int64_t ColumnsWidth(const ReducePush& p) { return int64_t{p.lanes} * (p.vec ? 4 : 1); }

namespace reduce_plan {

constexpr int64_t kTargetJobs = 1024;  // enough workgroups to fill a large GPU
constexpr int64_t kMinChunk = 4096;    // rows: elements a job takes at least when split
constexpr int64_t kMaxChunk = 65536;   // rows: and at most (short loops, lavapipe's limit)
// columns: a slab's rows per invocation, at least (H200, [2048, 128] column
// sums: 16 rows 28 us, 8 24, 4 22: more workgroups for small reductions)
constexpr int64_t kMinRowsPerInvocation = 4;
constexpr int64_t kMaxRowsPerInvocation = 1024;  // and at most (accuracy, loop limits)
// rows: about this many vector loads per lane (fewer lanes per row: more
// rows per workgroup); float16 inputs twice as many (see LoadsInFlight).
constexpr int64_t kLoadsPerLane = 4;

// Vector loads in flight per step (ReducePush::vec: 1, 2 or 4) where they
// measured faster. H200, one kernel_bench process per case, copy 4069 GB/s,
// one against two:
//   rows f32 [16384, 4096]     0.0811 -> 0.0749 ms (0.81 -> 0.88 of the copy)
//   rows f32 [1048576, 64]     0.0870 -> 0.0765    (0.77 -> 0.88)
//   all  f32 64M (two passes)  0.0811 -> 0.0794    (0.81 -> 0.83)
//   cols f32 [16384, 4096]     0.0816 -> 0.0812;  [1048576, 64] 0.0878 -> 0.0862
//   rows f16 [16384, 4096]     0.0664 -> 0.1906 at 256 lanes (4 loads each),
//                              0.0493 at 128 lanes (8 each): 0.50 -> 0.67
//   rows f16 [16384, 4096]     four in flight (TFMP_REDUCE_LOADS=4) 0.0468
//                              ms against two 0.0503 (14:19, two processes
//                              whose controls ran at full clock): 0.65 -> 0.69
// So: two for 4-byte elements in rows and columns passes; four for 2-byte
// elements in rows passes with 8 loads per lane and at most 128 lanes;
// others one.
// TFMP_REDUCE_LOADS=1|2|4 overrides (an experiment, read at each plan so
// that a benchmark case can set it).
inline uint32_t LoadsInFlight(size_t elem, bool rows, uint32_t lanes) {
  const char* v = std::getenv("TFMP_REDUCE_LOADS");
  const int n = v && *v ? std::atoi(v) : 0;
  if (n == 1 || n == 2 || n == 4) return static_cast<uint32_t>(n);
  if (elem == 2 && rows && lanes <= 128) return 4;
  return elem == 4 ? 2 : 1;
}

// Columns per strip of a columns pass (invocations across it: this over 4
// with 4-vectors). TFMP_REDUCE_COLUMNS=64|128|256 overrides (an experiment).
inline int64_t ColumnsPerStrip() {
  const char* v = std::getenv("TFMP_REDUCE_COLUMNS");
  const int n = v && *v ? std::atoi(v) : 0;
  return n == 64 || n == 128 || n == 256 ? n : 64;
}

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline uint32_t Groups(int64_t jobs) {
  return static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>(jobs, 65535)));
}
inline bool Aligned4(uint64_t address, size_t elem) { return address % (4 * elem) == 0; }

}  // namespace reduce_plan

// A rows pass over x [rows, len] (reduced along each row) at address x of
// `elem`-byte elements: fills p's geometry (x, y, mean and divisor are the
// caller's) and returns the workgroups. When p->chunks > 1 its output is
// [rows, chunks] partial results, to be reduced by another rows pass.
inline uint32_t PlanRowsPass(int64_t rows, int64_t len, uint64_t x, size_t elem, ReducePush* p) {
  using namespace reduce_plan;
  p->mode = kReduceRows;
  p->n_out = static_cast<uint32_t>(rows);
  p->n_red = static_cast<uint32_t>(len);
  p->vec = Aligned4(x, elem) ? 1 : 0;  // rows need not be: their heads and tails load as elements
  int64_t chunks = std::max<int64_t>(1, CeilDiv(len, kMaxChunk));
  if (rows < kTargetJobs && len > 2 * kMinChunk)
    chunks = std::max(chunks, std::min(CeilDiv(len, kMinChunk), CeilDiv(kTargetJobs, rows)));
  int64_t chunk = len;
  if (chunks > 1) {
    chunk = CeilDiv(CeilDiv(len, chunks), 1024) * 1024;  // whole vectors of every lane
    chunks = CeilDiv(len, chunk);
  }
  p->chunks = static_cast<uint32_t>(chunks);
  p->chunk_len = static_cast<uint32_t>(chunk);
  // About kLoadsPerLane loads (vectors) per lane, at most 256 lanes.
  const int64_t loads = CeilDiv(std::min(chunk, std::max<int64_t>(len, 1)), p->vec ? 4 : 1);
  const int64_t per_lane = p->vec && elem == 2 ? 2 * kLoadsPerLane : kLoadsPerLane;
  uint32_t lanes = 1;
  while (lanes < 256 && lanes * per_lane < loads) lanes *= 2;
  if (p->vec) p->vec = LoadsInFlight(elem, true, lanes);
  p->lanes = lanes;
  return Groups(CeilDiv(rows * chunks, 256 / lanes));
}

// A columns pass over x [outer, len, inner] (reduced along the middle dim):
// as PlanRowsPass; when p->chunks > 1 the output is [chunks, outer * inner]
// partial results, to be reduced by a columns pass over [1, chunks, outer * inner].
inline uint32_t PlanColumnsPass(int64_t outer, int64_t len, int64_t inner, uint64_t x, size_t elem,
                                ReducePush* p,
                                int64_t min_rows = reduce_plan::kMinRowsPerInvocation) {
  using namespace reduce_plan;
  p->mode = kReduceColumns;
  p->outer = static_cast<uint32_t>(outer);
  p->inner = static_cast<uint32_t>(inner);
  p->n_out = static_cast<uint32_t>(outer * inner);
  p->n_red = static_cast<uint32_t>(len);
  p->vec = inner % 4 == 0 && Aligned4(x, elem) ? 1 : 0;
  int64_t width = ColumnsPerStrip();
  while (width > 64 && width / 2 >= inner) width /= 2;  // no strip mostly past the columns
  p->lanes = static_cast<uint32_t>(p->vec ? width / 4 : std::min<int64_t>(width, 256));
  const int64_t cy = 256 / p->lanes;  // invocations along the reduced dim
  if (p->vec) p->vec = LoadsInFlight(elem, false, 0);
  const int64_t jobs = outer * CeilDiv(inner, ColumnsWidth(*p));
  int64_t slabs = std::max<int64_t>(1, CeilDiv(len, cy * kMaxRowsPerInvocation));
  if (jobs < kTargetJobs)
    slabs = std::max(slabs, std::min(CeilDiv(kTargetJobs, jobs), CeilDiv(len, cy * min_rows)));
  const int64_t slab = CeilDiv(std::max<int64_t>(len, 1), slabs);
  p->chunks = static_cast<uint32_t>(std::max<int64_t>(1, CeilDiv(len, slab)));
  p->chunk_len = static_cast<uint32_t>(slab);
  return Groups(jobs * p->chunks);
}

// Whether a columns pass suits [outer, len, inner]: rows wide enough to keep
// most of a strip's 64 columns busy (else the generic layout does better).
inline bool ColumnsSuit(int64_t inner) { return inner >= 16; }

}  // namespace tfmp

#endif  // TFMP_KERNELS_REDUCE_PLAN_H_
