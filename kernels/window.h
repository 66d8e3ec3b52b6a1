// Sliding-window geometry shared by convolutions and pooling (TF's
// GetWindowedOutputSize, tensorflow/core/framework/kernel_shape_util.cc).
#ifndef TFMP_KERNELS_WINDOW_H_
#define TFMP_KERNELS_WINDOW_H_

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {

// The attributes every sliding-window op has (Conv2D, Conv3D,
// DepthwiseConv2dNative, the pools), read once; each family validates them as
// its TF kernels do. `spatial` is the number of spatial dimensions (2 or 3:
// data formats NHWC / NCHW or NDHWC / NCDHW).
struct WindowAttrs {
  int spatial = 2;
  bool nchw = false;  // channels first (NCHW, NCDHW)
  std::string padding;
  std::vector<int64_t> strides, dilations, explicit_paddings;

  // False (and the op fails) on an unknown data_format. Attributes an op does
  // not have are left empty (dilations: all 1).
  bool ParseCommon(OpConstruction& c, int spatial_dims = 2) {
    spatial = spatial_dims;
    const std::string last = spatial == 3 ? "NDHWC" : "NHWC";
    const std::string first = spatial == 3 ? "NCDHW" : "NCHW";
    const std::string format = c.GetString("data_format", last);
    if (format != last && format != first) {
      c.Fail(TF_INVALID_ARGUMENT, "Invalid data format");
      return false;
    }
    nchw = format == first;
    padding = c.GetString("padding");
    strides = c.GetIntList("strides", {});
    dilations = c.GetIntList("dilations", std::vector<int64_t>(spatial + 2, 1));
    explicit_paddings = c.GetIntList("explicit_paddings", {});
    return true;
  }
  int rank() const { return spatial + 2; }
  // Dimension index of spatial dimension i (0: the outermost, D or H).
  int spatial_dim(int i) const { return (nchw ? 2 : 1) + i; }
  int h_dim() const { return spatial_dim(spatial - 2); }
  int w_dim() const { return spatial_dim(spatial - 1); }
  int c_dim() const { return nchw ? 1 : spatial + 1; }
};

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
