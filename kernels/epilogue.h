// The fused epilogue of _FusedConv2D, _FusedDepthwiseConv2dNative and
// _FusedMatMul: fused_ops = BiasAdd [, Add] [, activation], applied in the
// contraction's own dispatch by shaders/epilogue.glsl (the activation codes
// below are its switch's). The activations are TF's fused_ops names plus
// the ones the plugin's Grappler pass matches as subgraphs (GeluExact,
// GeluApproximate, Swish).
#ifndef TFMP_KERNELS_EPILOGUE_H_
#define TFMP_KERNELS_EPILOGUE_H_

#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

struct Epilogue {
  bool bias = false;
  bool side = false;  // _FusedConv2D's residual Add
  uint32_t act = 0;   // 0: none
  float alpha = 0.2f;  // LeakyRelu's
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
  size_t i = 0;
  if (i < ops.size() && ops[i] == "BiasAdd") e.bias = true, ++i;
  if (allow_side && i < ops.size() && ops[i] == "Add") e.side = true, ++i;
  if (i < ops.size())
    for (const auto& a : kEpilogueActivations)
      if (ops[i] == a.op) {
        e.act = a.code;
        ++i;
        break;
      }
  if (!e.bias || i != ops.size()) {
    std::string list;
    for (const auto& o : ops) list += (list.empty() ? "" : ",") + o;
    c.Fail(TF_UNIMPLEMENTED, op + " with fused_ops [" + list + "] is not supported on this device yet");
  }
  return e;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_EPILOGUE_H_
