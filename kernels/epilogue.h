// The fused epilogue of _FusedConv2D, _FusedDepthwiseConv2dNative,
// _FusedMatMul and _TfmpFusedBatchMatMul, applied in the contraction's own
// dispatch by shaders/epilogue.glsl (the activation codes below are its
// switch's). fused_ops, and the args each step reads in order:
//   BiasAdd [, Add] [, activation]                bias [, the added tensor]
//   FusedBatchNorm [, activation]                 scale, offset, mean, variance
//   BiasAdd, FusedBatchNorm [, activation]        bias, then the four above
//   [BiasAdd,] FusedBatchNorm, Add [, activation]  ... then a residual added
//                                                 after the BatchNorm (_FusedConv2D)
// FusedBatchNorm is an inference BatchNormalization folded in per output
// channel (TF's _FusedConv2D convention; the BiasAdd before it is the
// plugin's extension, for convolutions with a bias): its four vectors are
// float32 and attr epsilon is its epsilon. The activations are TF's
// fused_ops names plus the ones the plugin's Grappler pass matches as
// subgraphs (GeluExact, GeluApproximate, Swish).
#ifndef TFMP_KERNELS_EPILOGUE_H_
#define TFMP_KERNELS_EPILOGUE_H_

#include <cstring>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

struct Epilogue {
  bool bias = false;
  bool side = false;        // _FusedConv2D's residual Add
  bool batch_norm = false;  // FusedBatchNorm: 4 args after the bias
  bool bn_residual = false;  // an Add after the FusedBatchNorm: 1 more arg
  uint32_t act = 0;         // 0: none
  float alpha = 0.2f;       // LeakyRelu's
  float epsilon = 1e-4f;    // FusedBatchNorm's
  int num_args() const { return bias + side + 4 * batch_norm + bn_residual; }
};

constexpr struct {
  const char* op;
  uint32_t code;
} kEpilogueActivations[] = {{"Relu", 1},      {"Relu6", 2},     {"Elu", 3},
                            {"LeakyRelu", 4}, {"Tanh", 5},      {"Sigmoid", 6},
                            {"GeluExact", 7}, {"GeluApproximate", 8}, {"Swish", 9}};

// Reads fused_ops and leakyrelu_alpha; fails the construction (as
// Unimplemented, naming `op`) for a list the kernels cannot run.
inline Epilogue ParseEpilogue(OpConstruction& c, const std::string& op, bool allow_side) {
  Epilogue e;
  std::vector<std::string> ops = c.GetStringList("fused_ops");
  e.alpha = c.GetFloat("leakyrelu_alpha", 0.2f);
  e.epsilon = c.GetFloat("epsilon", 1e-4f);
  size_t i = 0;
  if (i < ops.size() && ops[i] == "BiasAdd") e.bias = true, ++i;
  if (e.bias && allow_side && i < ops.size() && ops[i] == "Add") e.side = true, ++i;
  if (!e.side && i < ops.size() && ops[i] == "FusedBatchNorm") {
    e.batch_norm = true, ++i;
    if (allow_side && i < ops.size() && ops[i] == "Add") e.bn_residual = true, ++i;
  }
  if (i < ops.size())
    for (const auto& a : kEpilogueActivations)
      if (ops[i] == a.op) {
        e.act = a.code;
        ++i;
        break;
      }
  if (!(e.bias || e.batch_norm) || i != ops.size()) {
    std::string list;
    for (const auto& o : ops) list += (list.empty() ? "" : ",") + o;
    c.Fail(TF_UNIMPLEMENTED, op + " with fused_ops [" + list + "] is not supported on this device yet");
    return e;
  }
  const int64_t num_args = c.GetInt("num_args", e.num_args());
  if (num_args != e.num_args())
    c.Fail(TF_INVALID_ARGUMENT, op + ": fused_ops need " + std::to_string(e.num_args()) +
                                    " args, num_args is " + std::to_string(num_args));
  return e;
}

// Records the table of a folded BatchNorm (shaders/epilogue.glsl: the
// addresses of scale, offset, mean and variance, inputs first .. first + 3,
// epsilon, and the residual, input first + 4, of shape `out`) into a
// temporary the caller holds until its dispatch is recorded (so that no
// output of the op reuses its memory). Invalid without a BatchNorm, or with
// the op failed when a vector is not float32 of `channels` elements or the
// residual not of shape `out`.
inline Tensor RecordBatchNormTable(OpContext& ctx, const Epilogue& e, int first, int64_t channels,
                                   const std::string& op, const Shape& out = Shape()) {
  if (!e.batch_norm) return Tensor();
  static const char* const kNames[] = {"scale", "offset", "mean", "variance"};
  uint32_t words[11] = {};
  for (int k = 0; k < 4; ++k) {
    Tensor t = ctx.input(first + k);
    if (!ctx.ok()) return Tensor();
    if (t.dtype() != TF_FLOAT) {
      ctx.Fail(TF_UNIMPLEMENTED, op + ": FusedBatchNorm's " + kNames[k] + " must be float32 on "
                                 "this device, got " + DtypeName(t.dtype()));
      return Tensor();
    }
    if (t.dims() != 1 || t.dim(0) != channels) {
      ctx.Fail(TF_INVALID_ARGUMENT, op + ": FusedBatchNorm's " + kNames[k] + " must be a vector of " +
                                        std::to_string(channels) + " elements, got " +
                                        ShapeString(t.shape()));
      return Tensor();
    }
    // An empty vector has no address; the shader reads none then (no channels).
    words[2 * k] = static_cast<uint32_t>(t.address());
    words[2 * k + 1] = static_cast<uint32_t>(t.address() >> 32);
  }
  std::memcpy(&words[8], &e.epsilon, 4);
  if (e.bn_residual) {
    Tensor r = ctx.input(first + 4);
    if (!ctx.ok()) return Tensor();
    if (r.dtype() != ctx.input(0).dtype() || r.shape() != out) {
      ctx.Fail(TF_INVALID_ARGUMENT, op + ": the input added after FusedBatchNorm is " +
                                        DtypeName(r.dtype()) + " " + ShapeString(r.shape()) +
                                        ", expected the output's dtype and shape " + ShapeString(out));
      return Tensor();
    }
    words[9] = static_cast<uint32_t>(r.address());
    words[10] = static_cast<uint32_t>(r.address() >> 32);
  }
  Tensor table = ctx.allocate_temp({static_cast<int64_t>(sizeof(words))}, TF_UINT8);
  if (!ctx.ok()) return Tensor();
  ctx.stream()->CopyHostToDevice(table.address(), words, sizeof(words));
  return table;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_EPILOGUE_H_
