// Sliding-window geometry shared by convolutions and pooling (TF's
// GetWindowedOutputSize, tensorflow/core/framework/kernel_shape_util.cc).
#ifndef TFMP_KERNELS_WINDOW_H_
#define TFMP_KERNELS_WINDOW_H_

#include <algorithm>
#include <string>

#include "kernels/kernel.h"

namespace tfmp {

// Output size and leading padding of one spatial dim of a window of size k,
// stride s, dilation d, with padding "VALID", "SAME" or "EXPLICIT" (then
// `explicit_before/after`). Fails the op like TF when the output would be
// negative or the padding is unknown.
inline bool WindowedOutputSize(OpContext& ctx, int64_t in, int64_t k, int64_t s, int64_t d,
                               const std::string& padding, int64_t explicit_before,
                               int64_t explicit_after, int64_t* out, int64_t* pad_before) {
  const int64_t eff = (k - 1) * d + 1;
  int64_t padded = in;
  if (padding == "VALID") {
    *pad_before = 0;
  } else if (padding == "SAME") {
    *out = (in + s - 1) / s;
    *pad_before = std::max<int64_t>((*out - 1) * s + eff - in, 0) / 2;
    return true;
  } else if (padding == "EXPLICIT") {
    *pad_before = explicit_before;
    padded = in + explicit_before + explicit_after;
  } else {
    ctx.Fail(TF_INVALID_ARGUMENT, "Unknown padding " + padding);
    return false;
  }
  *out = (padded - eff + s) / s;
  if (*out < 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "Computed output size would be negative: " +
                                      std::to_string(*out) + " [input_size: " + std::to_string(in) +
                                      ", effective_filter_size: " + std::to_string(eff) +
                                      ", stride: " + std::to_string(s) + "]");
    return false;
  }
  return true;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_WINDOW_H_
