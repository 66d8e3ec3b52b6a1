// Entry point of the tiled GEMM (shaders/matmul.comp) for other kernel families.
#ifndef TFMP_KERNELS_MATMUL_H_
#define TFMP_KERNELS_MATMUL_H_

#include "kernels/kernel.h"

namespace tfmp {

struct GemmProblem;  // matmul_config.h

// Strides (in elements) of one GEMM operand set: A[m, k] = a[m * a_m + k * a_k],
// B[k, n] = b[k * b_k + n * b_n]; C is row-major [M, N]. Batch entry z reads
// a + z * a_batch, b + z * b_batch and writes c + z * c_batch.
struct GemmShape {
  int64_t M, N, K;
  int64_t a_m, a_k, b_k, b_n;
};

// The fused epilogue of a GEMM: C = act(BN(A x B + bias[n])) (epilogue.h's codes).
struct GemmEpilogue {
  uint64_t bias = 0;  // device address of N elements, or 0
  uint32_t act = 0;
  float alpha = 0.2f;
  uint64_t bn = 0;    // a folded BatchNorm's table (RecordBatchNormTable), or 0
  // _TfmpMatMulBiasGrad: the device address of N elements that receive the
  // column sums of B (sum over k of B[k, n]), or 0. Batch 1 only.
  uint64_t bias_grad = 0;
};

// Records `batch` GEMMs (gl_WorkGroupID.z = batch entry, split into several
// dispatches past the 65535 limit). a, b, c are device addresses; K == 0
// writes zeros (with an epilogue: act(bias)).
void RecordMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a, uint64_t b,
                  uint64_t c, int64_t batch, int64_t a_batch, int64_t b_batch, int64_t c_batch,
                  const GemmEpilogue& epilogue = GemmEpilogue());

// Records a GEMM of GemmProblem's strided form (matmul_config.h: a batch of
// two dims and/or C's rows p.c_m apart; addresses and esize filled in) on
// matmul.comp, no epilogue, no split-K: Einsum reads its operands and writes
// its product in place instead of transposing them. Returns false, having
// recorded nothing, where it does not apply (a batch past 65535 entries).
bool RecordStridedGemm(OpContext& ctx, TF_DataType dtype, const GemmProblem& p);

// Records C = A x B over broadcast batch dims: a_batch and b_batch are the
// operands' batch shapes padded with leading 1s to the rank of c_batch (each
// dim equal to c's or 1, which broadcasts). a, b, c are contiguous, each
// batch entry one matrix of g's shape; g's strides address within a matrix.
// One dispatch when the broadcast collapses to one batch stride per operand,
// else a loop on the host over the outer batch dims.
void RecordBatchMatMul(OpContext& ctx, TF_DataType dtype, const GemmShape& g, uint64_t a,
                       const Shape& a_batch, uint64_t b, const Shape& b_batch, uint64_t c,
                       const Shape& c_batch, const GemmEpilogue& epilogue = GemmEpilogue());

}  // namespace tfmp

#endif  // TFMP_KERNELS_MATMUL_H_
