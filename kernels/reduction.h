// Entry point of the reduction kernels for other kernel families.
#ifndef TFMP_KERNELS_REDUCTION_H_
#define TFMP_KERNELS_REDUCTION_H_

#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

// An elementwise prologue of a sum: the reduction reads pro(x, b) instead
// of x, with b broadcast as b_len says (kernels/reduce_plan.h ReducePush);
// op: "mul" or "sqdiff" (shaders/reduce.comp's PRO variants, float32 and
// float16).
struct ReducePrologue {
  const char* op;
  uint64_t b;
  int32_t b_len;
};

// Records y = reduction `op` ("sum", "prod", "max", "min", "all", "any") of x
// (shape `in`, dtype `dtype`) over the dims flagged in `reduced`; y holds the
// kept elements in order. `mean` divides sums by the reduced count. `pro`
// (sums only): reduce pro(x, b) instead.
void RecordReduction(OpContext& ctx, const char* op, bool mean, TF_DataType dtype, uint64_t x,
                     const Shape& in, const std::vector<bool>& reduced, uint64_t y,
                     const ReducePrologue* pro = nullptr);

}  // namespace tfmp

#endif  // TFMP_KERNELS_REDUCTION_H_
