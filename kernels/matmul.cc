// MatMul with transposes. Shader: shaders/matmul.comp ("matmul_<dtype>").
#include "kernels/kernel.h"

namespace tfmp {
namespace {

struct MatMulPush {
  uint64_t a, b, c;
  uint32_t M, N, K;
  uint32_t a_m, a_k, b_k, b_n;
  uint32_t a_batch, b_batch, c_batch;
};

constexpr uint32_t kTile = 64;

class MatMulOp : public OpKernel {
 public:
  explicit MatMulOp(OpConstruction& c)
      : dtype_(c.GetType("T")),
        transpose_a_(c.GetBool("transpose_a")),
        transpose_b_(c.GetBool("transpose_b")) {}

  void Compute(OpContext& ctx) override {
    Tensor a = ctx.input(0), b = ctx.input(1);
    if (!ctx.ok()) return;
    if (a.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "In[0] is not a matrix. Instead it has shape " +
                                        ShapeString(a.shape()));
      return;
    }
    if (b.dims() != 2) {
      ctx.Fail(TF_INVALID_ARGUMENT, "In[1] is not a matrix. Instead it has shape " +
                                        ShapeString(b.shape()));
      return;
    }
    const int64_t M = a.dim(transpose_a_ ? 1 : 0), K = a.dim(transpose_a_ ? 0 : 1);
    const int64_t Kb = b.dim(transpose_b_ ? 1 : 0), N = b.dim(transpose_b_ ? 0 : 1);
    if (K != Kb) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: " + ShapeString(a.shape()) +
                                        ", In[1]: " + ShapeString(b.shape()));
      return;
    }
    if (!ctx.CheckElements(M * K) || !ctx.CheckElements(K * N) || !ctx.CheckElements(M * N)) return;
    Tensor c = ctx.allocate_output(0, {M, N}, dtype_);
    if (!ctx.ok() || M == 0 || N == 0) return;
    if (K == 0) {  // an empty sum: zeros
      ctx.stream()->Fill(c.address(), 0, M * N * DtypeSize(dtype_));
      return;
    }
    MatMulPush p{};
    p.a = a.address();
    p.b = b.address();
    p.c = c.address();
    p.M = static_cast<uint32_t>(M);
    p.N = static_cast<uint32_t>(N);
    p.K = static_cast<uint32_t>(K);
    // A[m, k] = a[m * a_m + k * a_k]; a is stored [M, K], or [K, M] transposed.
    p.a_m = transpose_a_ ? 1 : static_cast<uint32_t>(K);
    p.a_k = transpose_a_ ? static_cast<uint32_t>(M) : 1;
    p.b_k = transpose_b_ ? 1 : static_cast<uint32_t>(N);
    p.b_n = transpose_b_ ? static_cast<uint32_t>(K) : 1;
    ctx.Dispatch(std::string("matmul_") + DtypeToken(dtype_), p,
                 static_cast<uint32_t>((N + kTile - 1) / kTile),
                 static_cast<uint32_t>((M + kTile - 1) / kTile), 1);
  }

 private:
  TF_DataType dtype_;
  bool transpose_a_, transpose_b_;
};

}  // namespace

void RegisterMatMulKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF}) RegisterKernel<MatMulOp>("MatMul", {{"T", t}});
}

}  // namespace tfmp
