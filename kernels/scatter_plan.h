// Geometry of the scatter recorder (kernels/scatter.cc RecordScatter), with
// no TensorFlow: tools/kernel_bench.cc benchmarks exactly the same passes.
#ifndef TFMP_KERNELS_SCATTER_PLAN_H_
#define TFMP_KERNELS_SCATTER_PLAN_H_

#include <cstdint>

namespace tfmp {

// scatter_nd.comp's push constants (the combining passes).
struct ScatterPush {
  uint64_t keys, idx, updates, dst, head, tail;
  uint32_t n, cols, chunk, chunks;
  uint32_t mode;
};

// rank_sort.comp's push constants.
struct RankSortPush {
  uint64_t x, keys, idx;
  uint32_t n, pad_;
};

// Update rows sorted by rank_sort.comp (O(n^2) compares spread over n
// invocations) rather than the bitonic sort (one workgroup for n <= 2048).
constexpr int64_t kRankSortMax = 4096;

// Sorted positions per chunk of the combining pass: each (chunk, column)
// invocation walks its chunk serially, so for few update rows the chunks
// shrink (to 8) until there are ~32K invocations; large scatters keep 256
// (the cap on the pass's longest loop). H200: an embedding gradient of
// 2048 rows x 128 columns took 2 x 269 us in chunks of 256 (1024
// invocations of 256 dependent steps).
constexpr int64_t kScatterMaxChunk = 256, kScatterMinChunk = 8, kScatterTargetJobs = 32768;

inline int64_t ScatterChunk(int64_t rows, int64_t cols) {
  int64_t chunk = kScatterMaxChunk;
  while (chunk > kScatterMinChunk && (rows + chunk - 1) / chunk * cols < kScatterTargetJobs) chunk /= 2;
  return chunk;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_SCATTER_PLAN_H_
