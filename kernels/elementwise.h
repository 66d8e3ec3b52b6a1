// Entry points of the elementwise kernels for other kernel families.
#ifndef TFMP_KERNELS_ELEMENTWISE_H_
#define TFMP_KERNELS_ELEMENTWISE_H_

#include "kernels/kernel.h"

namespace tfmp {

// Records z = OP(a, b) over n elements of the same shape (op token: "add",
// "sub", ...; see shaders/variants.py).
void DispatchFlatBinary(OpContext& ctx, const char* op_token, TF_DataType dtype, uint64_t a,
                        uint64_t b, uint64_t z, int64_t n);

}  // namespace tfmp

#endif  // TFMP_KERNELS_ELEMENTWISE_H_
