// Scans and sorts on the device, shared by the index-op families
// (kernels/scan_sort.cc, kernels/scatter.cc).
#ifndef TFMP_KERNELS_SCAN_SORT_H_
#define TFMP_KERNELS_SCAN_SORT_H_

#include <string>

#include "kernels/kernel.h"

namespace tfmp {

// Records y = the inclusive or exclusive scan ("sum" or "prod") of x, seen as
// [outer, len, inner], along len (reversed with `reverse`). x and y may be
// the same buffer. Accumulates in float32 for float16.
void RecordScan(OpContext& ctx, const char* op, TF_DataType dtype, uint64_t x, uint64_t y,
                int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse);

// Records a bitonic sort (shaders/sort.comp variant `kernel`) of each row of x
// ([rows, n]) padded to 2^log_p. keys/idx: temps of rows << log_p elements
// (the variant's compute type / uint32), needed when 2^log_p > 2048 or when
// values == 0; the sorted pairs stay there when values == 0. Otherwise the
// first k of each row go to values/indices ([rows, k]).
void RecordSort(OpContext& ctx, const std::string& kernel, uint64_t x, uint32_t rows, uint32_t n,
                uint32_t log_p, uint64_t keys, uint64_t idx, uint64_t values, uint64_t indices,
                uint32_t k);

// Positions of one sorted block in shared memory (shaders/sort.comp).
constexpr uint32_t kSortBlock = 2048;

// The smallest p with 2^p >= n.
uint32_t Log2Ceil(uint64_t n);

}  // namespace tfmp

#endif  // TFMP_KERNELS_SCAN_SORT_H_
