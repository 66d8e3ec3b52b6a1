// Entry points of the data-movement kernels for other kernel families.
#ifndef TFMP_KERNELS_DATA_MOVEMENT_H_
#define TFMP_KERNELS_DATA_MOVEMENT_H_

#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

// Records out = transpose(in, perm) for a contiguous tensor `in` of shape
// `in_shape` and elements of `esize` bytes (a plain copy for the identity).
void RecordTranspose(OpContext& ctx, size_t esize, uint64_t in, const Shape& in_shape,
                     const std::vector<int>& perm, uint64_t out);

}  // namespace tfmp

#endif  // TFMP_KERNELS_DATA_MOVEMENT_H_
