// Entry point of the reduction kernels for other kernel families.
#ifndef TFMP_KERNELS_REDUCTION_H_
#define TFMP_KERNELS_REDUCTION_H_

#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

// Records y = reduction `op` ("sum", "prod", "max", "min", "all", "any") of x
// (shape `in`, dtype `dtype`) over the dims flagged in `reduced`; y holds the
// kept elements in order. `mean` divides sums by the reduced count.
void RecordReduction(OpContext& ctx, const char* op, bool mean, TF_DataType dtype, uint64_t x,
                     const Shape& in, const std::vector<bool>& reduced, uint64_t y);

}  // namespace tfmp

#endif  // TFMP_KERNELS_REDUCTION_H_
