// Entry points of the elementwise kernels for other kernel families.
#ifndef TFMP_KERNELS_ELEMENTWISE_H_
#define TFMP_KERNELS_ELEMENTWISE_H_

#include <string>

#include "kernels/kernel.h"

namespace tfmp {

// Records z = OP(a, b) over n elements of the same shape (op token: "add",
// "sub", ...; see shaders/variants.py).
void DispatchFlatBinary(OpContext& ctx, const char* op_token, TF_DataType dtype, uint64_t a,
                        uint64_t b, uint64_t z, int64_t n);

// z = OP(a, b) with NumPy broadcasting into output 0 of type out_dtype, through
// the binary.comp variant `kernel` (e.g. "complex_f32"); alpha is pushed for
// ops with a float attribute. Fails with TF's message on incompatible shapes.
void DispatchBroadcastBinary(OpContext& ctx, const std::string& kernel, const Tensor& a,
                             const Tensor& b, TF_DataType out_dtype, float alpha = 0.0f);

// y = OP(x) elementwise into output 0 of type out_dtype (unary.comp variant).
void DispatchUnary(OpContext& ctx, const std::string& kernel, const Tensor& x,
                   TF_DataType out_dtype, float alpha = 0.0f);

}  // namespace tfmp

#endif  // TFMP_KERNELS_ELEMENTWISE_H_
