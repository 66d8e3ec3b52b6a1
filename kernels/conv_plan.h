// How a convolution runs on shaders/conv.comp: the push constants, which
// variant (vector loads or general gathers, tile size), the grid and the K
// split of the filter gradient. Plain C++ with no TensorFlow, so that
// kernels/conv.cc and tools/kernel_bench.cc record exactly the same launch.
#ifndef TFMP_KERNELS_CONV_PLAN_H_
#define TFMP_KERNELS_CONV_PLAN_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace tfmp {

// Spatial sizes are (d, h, w); 2-D convolutions have depth 1.
struct ConvPush {
  uint64_t a, b, c;
  uint32_t M, K;  // N: out_c, or in_c for the input gradient
  uint32_t in_c, out_c;
  uint32_t in[3], out[3], k[3];
  uint32_t stride_dil[3];  // stride | dilation << 16
  int32_t pad[3];
  uint32_t k_chunk;
  uint32_t flags;  // activation (bits 0-7) | channels first (bit 8)
  float alpha;     // LeakyRelu's
  // fwd: _FusedConv2D's bias and added input (0: none); bwd_filter: bias =
  // where the bias gradient goes (0: not wanted), side unused.
  uint64_t bias, side;
};
static_assert(sizeof(ConvPush) <= 128, "push constants are limited to 128 bytes");

// conv.comp's SPLITK_SUM ("conv_splitk_sum_<dtype>").
struct ConvSplitSumPush {
  uint64_t partial, out1, out2;
  uint32_t mn, n2, splits;
};

enum class ConvMode { kFwd, kBwdInput, kBwdFilter };

// The tiles of the vector variants (kernels/shaders/variants.py CONV_TILES):
// BM x BN outputs per workgroup of 256 invocations. The general variants use
// 64x64.
struct ConvTile {
  const char* name;
  uint32_t bm, bn;
};
constexpr ConvTile kConvTiles[] = {{"128x128", 128, 128}, {"128x64", 128, 64}, {"64x64", 64, 64}};

struct ConvPlan {
  std::string kernel;       // conv.comp variant
  uint32_t gx = 1, gy = 1, gz = 1;
  uint32_t splits = 1;      // > 1: float partial sums [splits][M * N] (+ [splits][N] with a
                            // bias gradient) that conv_splitk_sum adds up
  bool vec = false;
  std::string error;        // non-empty: cannot run (too large)
};

// Enough workgroups to keep a large GPU busy (an H100/H200 has 132 SMs; two
// workgroups of 256 invocations fit on each).
constexpr uint32_t kConvTargetGroups = 264;
// The filter gradient's K split aims at this many workgroups ...
constexpr uint32_t kConvSplitGroups = 528;
// ... with at least this many K elements per slice.
constexpr uint32_t kConvMinKChunk = 512;
constexpr uint32_t kConvMaxSplits = 1024;

inline uint32_t ConvCeil(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// Test and benchmark overrides: TFMP_CONV_TILE (a tile name), TFMP_CONV_SPLITS
// (the filter gradient's K slices), TFMP_CONV_VEC=0 (general variants only).
inline const char* ConvEnv(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// Fills p->k_chunk and returns the launch. p holds the geometry (M, K,
// channels, sizes); `aligned`: the operands' addresses are multiples of 16.
// `dtype` is "f32" or "f16"; `spatial` 2 or 3.
inline ConvPlan PlanConv(ConvMode mode, int spatial, const char* dtype, bool aligned,
                         ConvPush* p) {
  ConvPlan plan;
  const uint32_t n = mode == ConvMode::kBwdInput ? p->in_c : p->out_c;
  const bool nchw = (p->flags & 0x100) != 0;
  const char* vec_env = ConvEnv("TFMP_CONV_VEC");
  plan.vec = spatial == 2 && !nchw && aligned && p->in_c % 4 == 0 && p->out_c % 4 == 0 &&
             !(vec_env && vec_env[0] == '0');
  ConvTile tile = kConvTiles[2];
  if (plan.vec) {
    const char* forced = ConvEnv("TFMP_CONV_TILE");
    bool chosen = false;
    for (const ConvTile& t : kConvTiles)
      if (forced && std::string(forced) == t.name) tile = t, chosen = true;
    if (!chosen) {
      // The largest tile that keeps the GPU busy and does not waste half of
      // itself on a small N or M.
      for (const ConvTile& t : kConvTiles) {
        if ((t.bn > 64 && n <= 64) || (t.bm > 64 && p->M <= 64)) continue;
        const uint64_t groups = static_cast<uint64_t>(ConvCeil(p->M, t.bm)) * ConvCeil(n, t.bn);
        if (mode == ConvMode::kBwdFilter || groups >= kConvTargetGroups) {
          tile = t;
          break;
        }
      }
    }
  }
  const uint64_t m_tiles = ConvCeil(p->M, tile.bm);
  plan.gx = ConvCeil(n, tile.bn);
  if (mode == ConvMode::kBwdFilter) {
    const uint64_t tiles = m_tiles * plan.gx;
    uint64_t splits = std::max<uint64_t>(1, kConvSplitGroups / std::max<uint64_t>(tiles, 1));
    splits = std::min<uint64_t>(splits, std::max<uint64_t>(1, p->K / kConvMinKChunk));
    splits = std::min<uint64_t>(splits, kConvMaxSplits);
    if (const char* s = ConvEnv("TFMP_CONV_SPLITS")) splits = std::max(1, std::atoi(s));
    // Slices are whole K tiles (16 covers every BK), then no empty slice.
    uint64_t chunk = (p->K + splits - 1) / splits;
    chunk = (chunk + 15) / 16 * 16;
    splits = (p->K + chunk - 1) / chunk;
    p->k_chunk = static_cast<uint32_t>(chunk);
    plan.splits = static_cast<uint32_t>(splits);
    plan.gy = static_cast<uint32_t>(m_tiles);
    plan.gz = plan.splits;
  } else {
    p->k_chunk = p->K;
    plan.gy = static_cast<uint32_t>(std::min<uint64_t>(m_tiles, 65535));
    plan.gz = ConvCeil(m_tiles, plan.gy);
  }
  if (m_tiles > 65535 * (mode == ConvMode::kBwdFilter ? 1ull : 65535ull) || plan.gx > 65535 ||
      plan.gz > 65535)
    plan.error = "convolution too large for one dispatch";
  static const char* kModes[] = {"fwd", "bwd_input", "bwd_filter"};
  plan.kernel = std::string(spatial == 3 ? "conv3d_" : "conv2d_") + kModes[static_cast<int>(mode)] +
                "_" + dtype;
  if (plan.splits > 1) plan.kernel += "_to_f32";
  if (plan.vec) plan.kernel += std::string("_v4_") + tile.name;
  return plan;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_CONV_PLAN_H_
