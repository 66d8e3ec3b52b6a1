// The softmax kernels' dispatch geometry (no TensorFlow): kernels/softmax.cc
// records it, tools/kernel_bench times the same launches.
#ifndef TFMP_KERNELS_SOFTMAX_PLAN_H_
#define TFMP_KERNELS_SOFTMAX_PLAN_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace tfmp {

struct SoftmaxPush {  // shaders/softmax.comp
  uint64_t x, y;
  uint32_t rows, cols;
  uint32_t lanes;  // invocations per row (a power of two, at most 256; 0: softmax_small)
  uint32_t vec;    // 4-vector loads and stores (2: eight in flight, long rows)
};

// Rows of at most this many elements take softmax_small_<dtype> (256 rows
// per workgroup through shared memory, one invocation per row). H200,
// [1048576, 10] float32: 0.0778 -> 0.0375 ms (1078 -> 2240 GB/s; PyTorch
// 0.052 ms) against 4 lanes per row.
constexpr int64_t kSoftmaxSmallCols = 16;

// Loads (4-vectors or elements) per lane a row's lanes are sized for: the
// fewest lanes (a power of two, at most 256) that take the row in about
// this many loads each (softmax.comp keeps up to CACHE = 8 in registers).
// H200, 8 against 4 (2026-12-02 10:31 and 10:36 runs, ms): [16384, 4096] 0.138 /
// 0.158 (0.93 / 0.82 of the copy), [65536, 1000] 0.137 / 0.151, [4097,
// 1001] 0.027 / 0.039 (PyTorch 0.015). TFMP_SOFTMAX_LOADS=N overrides (an
// experiment, read at each plan so that a benchmark case can set it).
inline int64_t SoftmaxLoadsPerLane() {
  const char* v = std::getenv("TFMP_SOFTMAX_LOADS");
  const int64_t n = v && *v ? std::atoll(v) : 0;
  return n > 0 ? n : 8;
}

// Fills p's lanes and vec (4-vectors where cols and both addresses allow;
// the small-row path: lanes = 0, 4-vectors where both addresses allow) and
// returns the workgroups. `elem`: the element size in bytes.
inline uint32_t SoftmaxGeometry(SoftmaxPush* p, size_t elem) {
  const uint64_t align = 4 * elem;
  if (p->cols <= kSoftmaxSmallCols) {
    p->vec = p->x % align == 0 && p->y % align == 0 ? 1 : 0;
    p->lanes = 0;
    return static_cast<uint32_t>(std::min<int64_t>((int64_t{p->rows} + 255) / 256, 65535));
  }
  p->vec = p->cols % 4 == 0 && p->x % align == 0 && p->y % align == 0 ? 1 : 0;
  const int64_t loads = p->vec ? p->cols / 4 : p->cols;
  const int64_t per_lane = SoftmaxLoadsPerLane();
  uint32_t lanes = 1;
  while (lanes < 256 && lanes * per_lane < loads) lanes *= 2;
  p->lanes = lanes;
  const int64_t per_group = 256 / lanes;
  // Rows read twice (more than softmax.comp's CACHE = 8 loads per lane):
  // vec = 2, eight loads in flight per lane. H200, [1024, 65536] float32:
  // 0.2613 -> 0.2104 ms (2055 -> 2551 GB/s, 0.50 -> 0.62 of the copy;
  // PyTorch 0.273). At most 1 / 2 / 4 workgroups per multiprocessor (rows
  // in flight within the L2 cache for the second read): 0.238 / 0.216 /
  // 0.212 ms, no better than all 1024 at once.
  if (p->vec == 1 && loads > 8 * static_cast<int64_t>(lanes)) p->vec = 2;
  return static_cast<uint32_t>(std::min<int64_t>((int64_t{p->rows} + per_group - 1) / per_group, 65535));
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_SOFTMAX_PLAN_H_
