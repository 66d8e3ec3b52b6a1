// How a convolution runs on shaders/conv.comp: the push constants, which
// variant (vector loads or general gathers, tile size), the grid and the K
// split of the filter gradient. Plain C++ with no TensorFlow, so that
// kernels/conv.cc and tools/kernel_bench.cc record exactly the same launch.
#ifndef TFMP_KERNELS_CONV_PLAN_H_
#define TFMP_KERNELS_CONV_PLAN_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <vector>

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
  uint32_t flags;  // activation (bits 0-7) | channels first (bit 8) | side is a BN table (bit 9)
  float alpha;     // LeakyRelu's
  // fwd: _FusedConv2D's bias and added input (0: none), or with flags bit 9
  // side is a folded BatchNorm's table (epilogue.h RecordBatchNormTable);
  // bwd_filter: bias = where the bias gradient goes (0: not wanted), side unused.
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
// 64x64, or 128x32 (variants.py CONV_GENERAL_TILES) for few output channels.
struct ConvTile {
  const char* name;
  uint32_t bm, bn;
};
constexpr ConvTile kConvTiles[] = {{"128x128", 128, 128}, {"128x64", 128, 64}, {"64x64", 64, 64},
                                   {"128x128k16", 128, 128}, {"64x128", 64, 128},
                                   {"128x32", 128, 32}, {"256x32", 256, 32}};
enum { kTile128x128, kTile128x64, kTile64x64, kTile128x128k16, kTile64x128, kTile128x32,
       kTile256x32 };

struct ConvPlan {
  std::string kernel;       // conv.comp variant
  uint32_t gx = 1, gy = 1, gz = 1;
  uint32_t splits = 1;      // > 1: float partial sums [splits][M * N] (+ [splits][N] with a
                            // bias gradient) that conv_splitk_sum adds up
  bool vec = false;
  bool a1 = false;          // vector variants with x loaded element by element ("_v4a1_")
  bool winograd = false;    // F(2x2, 3x3): four dispatches (ConvLaunches)
  bool phased = false;      // the input gradient per stride phase ("_v4p_", ConvPhased)
  // The filter gradient's Winograd GEMM (ConvWinograd): its tile (kConvTiles
  // index) and K slices (chunk: tiles per slice).
  int wgrad_tile = 0;
  uint32_t wgrad_splits = 1, wgrad_chunk = 0;
  std::string tile;         // the GEMM's tile (vector variants)
  std::string error;        // non-empty: cannot run (too large)
};

// One dispatch of a convolution: conv.comp's push constants (ConvPush), or
// the split sum's (ConvSplitSumPush) when `sum`.
struct ConvLaunch {
  std::string kernel;
  ConvPush push{};
  ConvSplitSumPush sum_push{};
  bool sum = false;
  uint32_t gx = 1, gy = 1, gz = 1;
};

// Enough workgroups to keep a large GPU busy: an H100/H200 has 132 SMs, and
// 128x64 tiles measured faster than 64x64 ones there from about two
// workgroups per SM on (tools/bench_training.py's CNN at batch 128, 256
// workgroups of 128x64: 16x16x64->64 3x3 forward 0.090 ms against 0.107,
// input gradient 0.099 against 0.121; 32x32x32->64 3x3 stride 2 forward
// 0.052 against 0.061; 1x1 stride 2 0.018 both; K = 32..576). With a
// longer K the earlier ResNet-50 measurements wanted about four per SM, so
// that threshold stays there (kConvTargetGroupsLongK).
constexpr uint32_t kConvTargetGroups = 256;
constexpr uint32_t kConvTargetGroupsLongK = 528;
constexpr uint64_t kConvShortK = 576;
// The filter gradient's K split aims at this many workgroups (four per
// multiprocessor where the device says how many it has) ...
constexpr uint32_t kConvSplitGroups = 528;
constexpr uint32_t kConvSplitGroupsPerUnit = 4;
// ... with at least this many K elements per slice.
constexpr uint32_t kConvMinKChunk = 512;
constexpr uint32_t kConvMaxSplits = 1024;

inline uint32_t ConvCeil(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// Workgroups of a vector tile (kConvTiles order) that one multiprocessor runs
// at once, from the H200's driver statistics (registers per invocation of
// the 256-invocation workgroups, of 65536 per SM: 127 at 128x128, 99 at
// 128x64, 75 at 64x64, 141 at 128x128k16, 91 at 64x128; 128x32 and 256x32
// are estimates from their accumulators: 16 and 32 per invocation).
constexpr uint32_t kConvResident[] = {2, 2, 3, 1, 2, 4, 2};

// The share of the workgroup slots that `groups` equal workgroups keep busy
// over their waves on `compute_units` multiprocessors holding `resident`
// each (1: the last wave is full).
inline double ConvWaveFill(uint64_t groups, uint32_t compute_units, uint32_t resident) {
  const uint64_t slots = static_cast<uint64_t>(compute_units) * resident;
  return slots == 0 || groups == 0 ? 1.0
                                   : static_cast<double>(groups) / (ConvCeil(groups, slots) * slots);
}

// The filter gradient's K split over `tiles` output tiles: enough slices for
// kConvSplitGroupsPerUnit workgroups per multiprocessor (kConvSplitGroups
// when the device does not say), each at least kConvMinKChunk deep. Where
// the device says how many multiprocessors it has and the last wave of
// workgroups would leave more than a tenth of them idle, up to three times
// as many slices (each at least kConvMinKChunkRefill deep) are tried and the
// count whose waves fill the device best is taken (the fewest on a tie:
// every slice adds a float32 partial sum of the whole output).
// H200 (132 SMs, two 128x128 workgroups each), ResNet-50's 7x7x512 3x3 at
// batch 64 (144 tiles of 128x128, K = 3136), ms by splits (wave fill):
// 3 0.572 (0.82), 4 0.633 (0.73), 5 0.528 (0.91), 6 0.572 (0.82), 7 0.513
// (0.95), 8 0.544 (0.87), 9 0.506 (0.98), 11 0.513 (1.0), 12 0.523 (0.94):
// the rule takes 9 (cuDNN: 0.19-0.21 ms). Other tiles were slower at every
// count (128x64 >= 0.564, 64x128 >= 0.574, 64x64 >= 0.670, 128x128k16 >=
// 0.556). The other ResNet-50 shapes' counts fill >= 95% already and stay.
constexpr uint32_t kConvMinKChunkRefill = 256;
inline uint64_t ConvSplits(uint64_t tiles, uint64_t K, uint32_t compute_units, int tile) {
  const uint64_t target = compute_units ? uint64_t{kConvSplitGroupsPerUnit} * compute_units
                                        : kConvSplitGroups;
  const uint64_t most =
      std::min<uint64_t>(kConvMaxSplits, std::max<uint64_t>(1, K / kConvMinKChunk));
  const uint64_t base =
      std::min<uint64_t>(most, std::max<uint64_t>(1, target / std::max<uint64_t>(tiles, 1)));
  if (!compute_units) return base;
  const uint32_t resident = kConvResident[tile];
  uint64_t best = base;
  double best_fill = ConvWaveFill(tiles * base, compute_units, resident);
  if (best_fill >= 0.9) return base;
  const uint64_t limit = std::min<uint64_t>(
      {kConvMaxSplits, 3 * base, std::max<uint64_t>(1, K / kConvMinKChunkRefill)});
  for (uint64_t s = base + 1; s <= limit; ++s) {
    const double fill = ConvWaveFill(tiles * s, compute_units, resident);
    if (fill > best_fill + 1e-9) best = s, best_fill = fill;
  }
  return best;
}

// Test and benchmark overrides: TFMP_CONV_TILE (a tile name), TFMP_CONV_SPLITS
// (the filter gradient's K slices), TFMP_CONV_VEC=0 (general variants only).
inline const char* ConvEnv(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// The tile of the vector variants for a GEMM of M x N (index into
// kConvTiles), from the H200 measurements (docs/benchmarks.md, ResNet-50's
// shapes at batch 64): the filter gradient (split K fills the GPU) takes the
// largest tile that does not waste half of itself on a small M or N; the
// input gradient 128x128 with BK = 16 from N > 64 on (0.49-0.60 ms where
// 64x64 took 0.66); otherwise 128x64 while that gives four workgroups per SM
// of an H200, else 64x64 (the forward convolution's 128x128 tiles were
// slower than 128x64 on every shape but 28x28x128, which Winograd takes).
// N <= 32 (a CNN's 32-channel layers, where 64-wide tiles waste half): 128x32
// (H200, batch 128, 32x32x32->32 3x3: forward 0.134 ms, input gradient
// 0.151, filter gradient 0.158, where 128x64 took 0.169 / 0.181 / 0.221,
// 256x32 0.154 / 0.168 / 0.189); 256x32 for an input gradient with K <= 64
// (32x32x32->64 1x1 stride 2: 0.047 against 0.055).
inline int ConvAutoTile(ConvMode mode, uint64_t m, uint64_t n, uint64_t k) {
  if (n <= 32 && m > 64) return mode == ConvMode::kBwdInput && k <= 64 ? kTile256x32 : kTile128x32;
  if (mode == ConvMode::kBwdFilter) {
    if (m > 64) return n > 64 ? kTile128x128 : kTile128x64;
    return n > 64 ? kTile64x128 : kTile64x64;
  }
  if (mode == ConvMode::kBwdInput && n > 64 && m > 64) return kTile128x128k16;
  const uint32_t target = k <= kConvShortK ? kConvTargetGroups : kConvTargetGroupsLongK;
  if (m > 64 && ConvCeil(m, 128) * ConvCeil(n, 64) >= target) return kTile128x64;
  return kTile64x64;
}

// Winograd's 2x2 tiles: batch x ceil(oh / 2) x ceil(ow / 2) of the forward
// convolution's output (dy for the filter gradient; the input gradient is a
// forward convolution over dy whose output is x).
inline uint64_t ConvWinogradTiles(ConvMode mode, const ConvPush& p) {
  const uint64_t oh = mode == ConvMode::kBwdInput ? p.in[1] : p.out[1];
  const uint64_t ow = mode == ConvMode::kBwdInput ? p.in[2] : p.out[2];
  // M (K for the filter gradient) = batch * those positions
  const uint64_t batch = (mode == ConvMode::kBwdFilter ? p.K : p.M) / std::max<uint64_t>(oh * ow, 1);
  return batch * ((oh + 1) / 2) * ((ow + 1) / 2);
}

// The Winograd F(2x2, 3x3) route: 3x3, stride 1, dilation 1 convolutions
// (vector variants), all three modes, where the outputs are large enough
// for the transforms to pay and both channel counts are 128+
// (TFMP_CONV_WINOGRAD=0 / 1 overrides). `p`: the convolution's geometry.
inline bool ConvWinograd(ConvMode mode, const ConvPush& p, bool vec) {
  if (!vec || p.k[1] != 3 || p.k[2] != 3 || p.stride_dil[1] != (1 | 1 << 16) ||
      p.stride_dil[2] != (1 | 1 << 16))
    return false;
  const uint64_t oh = mode == ConvMode::kBwdInput ? p.in[1] : p.out[1];
  const uint64_t ow = mode == ConvMode::kBwdInput ? p.in[2] : p.out[2];
  const uint64_t tiles = ConvWinogradTiles(mode, p);
  // Scratch: V and M (D) are 16 floats per tile and channel; at most 1 GiB of them.
  if (tiles == 0 || tiles > 65535ull * 64 || 64 * tiles * (p.in_c + p.out_c) > (1ull << 30) ||
      16ull * p.in_c * p.out_c >= (1ull << 31))
    return false;
  const char* w = ConvEnv("TFMP_CONV_WINOGRAD");
  if (w) return w[0] != '0';
  // H200: 0.42 / 0.37 ms (28x28x128 / 14x14x256) where the direct GEMM took
  // 0.52 / 0.59; at 56x56x64 (64 channels: short GEMMs) 0.59 against 0.54.
  // Odd sizes compute whole 2x2 tiles: taken from 7x7 on while those add at
  // most a third to the outputs (2.25x fewer multiplies still pay): 7x7x512
  // (64 outputs computed for 49) forward 0.353 ms against 0.584 direct,
  // input gradient 0.360 against 0.586 (cuDNN: 0.513 / 0.579).
  // The filter gradient (H200, 2026-12-02 09:45, ms, Winograd / direct
  // GEMM / cuDNN): 28x28x128 0.435 / 0.495 / 0.258, 14x14x256 0.359 /
  // 0.499 / 0.204, 7x7x512 0.405 / 0.506 / 0.191; with 64 channels it
  // loses: 56x56x64 0.664 / 0.555, the CNN's 16x16x64 at batch 128 0.149 /
  // 0.112 (bench/h200_kernels_2026-12-02_0950.json, the <case>@::1 rows;
  // the 10:03 run's @::0 rows agree).
  const uint64_t padded = (oh + 1) / 2 * 2 * ((ow + 1) / 2 * 2);
  return oh * ow >= 49 && 3 * padded <= 4 * oh * ow && p.in_c >= 128 && p.out_c >= 128;
}

// The input gradient of a strided convolution (vector variants, dilation 1)
// as one GEMM per stride phase (conv.comp PHASED, workgroup z = the phase):
// an input row i receives gradient only from the taps kh = (i + pad) % s +
// t * s, so the strided gather's (s^2 - 1) / s^2 zero products (3/4 at
// stride 2) are not multiplied. `m`, `k`: the largest phase's GEMM
// (ceil(in / s) rows and columns, ceil(k / s) taps each way).
// TFMP_CONV_PHASED=0 turns it off.
inline bool ConvPhased(ConvMode mode, const ConvPush& p, bool vec, uint64_t* m, uint64_t* k) {
  const uint32_t sh = p.stride_dil[1] & 0xffff, sw = p.stride_dil[2] & 0xffff;
  if (mode != ConvMode::kBwdInput || !vec || (sh == 1 && sw == 1) || p.stride_dil[1] >> 16 != 1 ||
      p.stride_dil[2] >> 16 != 1 || p.M == 0 || p.in[1] == 0 || p.in[2] == 0 || sh * sw > 1024)
    return false;
  if (const char* e = ConvEnv("TFMP_CONV_PHASED"))
    if (e[0] == '0') return false;
  const uint64_t batch = p.M / (static_cast<uint64_t>(p.in[1]) * p.in[2]);
  *m = batch * ConvCeil(p.in[1], sh) * ConvCeil(p.in[2], sw);
  *k = static_cast<uint64_t>(ConvCeil(p.k[1], sh)) * ConvCeil(p.k[2], sw) * p.out_c;
  return ConvCeil(*m, 64) <= 65535;  // one row of M tiles per phase
}

// Fills p->k_chunk and returns the launch. p holds the geometry (M, K,
// channels, sizes); `aligned`: the operands' addresses are multiples of 16.
// `dtype` is "f32" or "f16"; `spatial` 2 or 3.
inline ConvPlan PlanConv(ConvMode mode, int spatial, const char* dtype, bool aligned,
                         ConvPush* p, uint32_t compute_units = 0) {
  ConvPlan plan;
  const uint32_t n = mode == ConvMode::kBwdInput ? p->in_c : p->out_c;
  const bool nchw = (p->flags & 0x100) != 0;
  const char* vec_env = ConvEnv("TFMP_CONV_VEC");
  plan.vec = spatial == 2 && !nchw && aligned && p->in_c % 4 == 0 && p->out_c % 4 == 0 &&
             !(vec_env && vec_env[0] == '0');
  // in_c not a multiple of 4 (an RGB input) with out_c one: the forward
  // convolution and the filter gradient load x element by element, the rest
  // as the vector variants do (TFMP_CONV_A1=0: the general variants).
  const char* a1_env = ConvEnv("TFMP_CONV_A1");
  plan.a1 = spatial == 2 && !nchw && aligned && mode != ConvMode::kBwdInput && p->in_c % 4 != 0 &&
            p->out_c % 4 == 0 && !(vec_env && vec_env[0] == '0') && !(a1_env && a1_env[0] == '0');
  uint64_t gemm_m = p->M, gemm_k = p->K;  // the GEMM (of the largest phase when phased)
  plan.phased = ConvPhased(mode, *p, plan.vec, &gemm_m, &gemm_k);
  int tile_index = kTile64x64;
  const char* forced = ConvEnv("TFMP_CONV_TILE");
  // The a1 and general variants come in 128x32 and 64x64 (TFMP_CONV_TILE
  // picks either).
  auto narrow_or_64x64 = [forced](bool narrow) {
    if (forced && std::string(forced) == "128x32") return int{kTile128x32};
    if (forced && std::string(forced) == "64x64") return int{kTile64x64};
    return narrow ? int{kTile128x32} : int{kTile64x64};
  };
  if (plan.a1) {
    // 128x32 for N <= 32 even with a short M (H200, batch 128, 32x32x3->32
    // 3x3: forward 0.031 ms against 0.037, filter gradient (M = 27) 0.072
    // against 0.082; the general variants took 0.070 / 0.111).
    tile_index = narrow_or_64x64(n <= 32);
  } else if (plan.vec) {
    tile_index = -1;
    for (int i = 0; i < static_cast<int>(std::size(kConvTiles)); ++i)
      if (forced && std::string(forced) == kConvTiles[i].name) tile_index = i;
    if (tile_index < 0) tile_index = ConvAutoTile(mode, gemm_m, n, gemm_k);
  } else if (spatial == 2) {
    // The general variants: 64x64, or 128x32 for N <= 32 and M > 64 (H200,
    // 32x32x3->32 3x3 at batch 128: the input gradient (N = 3) 0.430 ms
    // against 0.493; the filter gradient (M = 27) stays 64x64: 0.111 against
    // 0.158).
    tile_index = narrow_or_64x64(n <= 32 && p->M > 64);
  }
  const ConvTile tile = kConvTiles[tile_index];
  const uint64_t m_tiles = ConvCeil(gemm_m, tile.bm);
  plan.gx = ConvCeil(n, tile.bn);
  if (mode == ConvMode::kBwdFilter) {
    const uint64_t tiles = m_tiles * plan.gx;
    // (The general variants run 64x64 tiles: kTile64x64 stands for them.)
    uint64_t splits = ConvSplits(tiles, p->K, compute_units, tile_index);
    if (const char* s = ConvEnv("TFMP_CONV_SPLITS")) splits = std::max(1, std::atoi(s));
    // Slices are whole K tiles (16 covers every BK), then no empty slice.
    uint64_t chunk = (p->K + splits - 1) / splits;
    chunk = (chunk + 15) / 16 * 16;
    splits = (p->K + chunk - 1) / chunk;
    p->k_chunk = static_cast<uint32_t>(chunk);
    plan.splits = static_cast<uint32_t>(splits);
    plan.gy = static_cast<uint32_t>(m_tiles);
    plan.gz = plan.splits;
  } else if (plan.phased) {
    p->k_chunk = p->K;
    plan.gy = static_cast<uint32_t>(m_tiles);  // <= 65535 (ConvPhased)
    plan.gz = (p->stride_dil[1] & 0xffff) * (p->stride_dil[2] & 0xffff);
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
  if (plan.vec) plan.kernel += std::string(plan.phased ? "_v4p_" : "_v4_") + tile.name;
  else if (plan.a1) plan.kernel += std::string("_v4a1_") + tile.name;
  else if (tile_index != kTile64x64) plan.kernel += std::string("_") + tile.name;
  plan.tile = tile.name;
  plan.winograd = ConvWinograd(mode, *p, plan.vec);
  if (plan.winograd && mode == ConvMode::kBwdFilter) {
    // 16 GEMMs [in_c, tiles] x [tiles, out_c]: K (the tiles) split to fill the device.
    const uint64_t ci = p->in_c, co = p->out_c, tiles = ConvWinogradTiles(mode, *p);
    plan.wgrad_tile = ci >= 128 && co >= 128 ? kTile128x128 : ci >= 128 ? kTile128x64 : kTile64x64;
    if (forced)
      for (int i = 0; i < static_cast<int>(std::size(kConvTiles)); ++i)
        if (std::string(forced) == kConvTiles[i].name) plan.wgrad_tile = i;
    const ConvTile& wt = kConvTiles[plan.wgrad_tile];
    uint64_t splits = ConvSplits(16 * ConvCeil(ci, wt.bm) * ConvCeil(co, wt.bn), tiles, compute_units,
                                 plan.wgrad_tile);
    if (const char* s = ConvEnv("TFMP_CONV_SPLITS")) splits = std::max(1, std::atoi(s));
    uint64_t chunk = (tiles + splits - 1) / splits;
    chunk = (chunk + 15) / 16 * 16;
    plan.wgrad_chunk = static_cast<uint32_t>(chunk);
    plan.wgrad_splits = static_cast<uint32_t>((tiles + chunk - 1) / chunk);
    // (P: 16 floats per slice and filter element; at most 1 GiB of them.)
    if (16ull * plan.wgrad_splits > 65535 || 64ull * plan.wgrad_splits * ci * co > (1ull << 30))
      plan.winograd = false;
  }
  return plan;
}

// The split-K sum: with fewer outputs than ~1000 per multiprocessor of an
// H200 the one-invocation-per-output variant runs a few latency-bound
// workgroups (~14 us for 9216 outputs over 175 slices), so each workgroup
// then sums 32 outputs in 8 rows of slices ("conv_splitk_sum_rows"); with
// many outputs that variant measured slower (ResNet-50's 7x7x512 filter
// gradient, 2.4M outputs over 9 slices: 0.549 ms against 0.506).
// TFMP_CONV_SUM=rows / plain overrides.
constexpr uint64_t kConvSumRowsBelow = 132 * 1024;
inline bool ConvSumRows(uint64_t outputs) {
  if (const char* e = ConvEnv("TFMP_CONV_SUM")) return std::string(e) == "rows";
  return outputs < kConvSumRowsBelow;
}

// A ConvPush of unit geometry (sizes, kernel, stride and dilation 1) with
// these channels: what the Winograd routes' transforms and GEMMs start from.
inline ConvPush UnitConvPush(uint32_t in_c, uint32_t out_c) {
  ConvPush q{};
  for (int i = 0; i < 3; ++i) q.in[i] = q.out[i] = q.k[i] = 1, q.stride_dil[i] = 1 | 1 << 16;
  q.in_c = in_c;
  q.out_c = out_c;
  return q;
}

// The float32 scratch buffers (bytes) that `plan` needs, in the order
// ConvLaunches takes their addresses: the split sums [splits][M * N] (+
// [splits][N] with a bias gradient); Winograd's U, V and M (the filter
// gradient's: V, D, P and, with a bias gradient, D's column sums).
inline std::vector<uint64_t> ConvScratch(ConvMode mode, const ConvPlan& plan, const ConvPush& p,
                                         bool bias_grad) {
  if (plan.winograd && mode == ConvMode::kBwdFilter) {
    // V [16][tiles][in_c], D [16][tiles][out_c], P [16][slices][in_c][out_c]
    // (+ the column sums of D [16][slices][out_c] for a bias gradient)
    const uint64_t tiles = ConvWinogradTiles(mode, p);
    std::vector<uint64_t> bytes = {64 * tiles * p.in_c, 64 * tiles * p.out_c,
                                   64ull * plan.wgrad_splits * p.in_c * p.out_c};
    if (bias_grad) bytes.push_back(64ull * plan.wgrad_splits * p.out_c);
    return bytes;
  }
  if (plan.winograd) {
    const bool fwd = mode == ConvMode::kFwd;
    const uint64_t k = fwd ? p.in_c : p.out_c, n = fwd ? p.out_c : p.in_c;
    const uint64_t tiles = ConvWinogradTiles(mode, p);
    return {64 * k * n, 64 * tiles * k, 64 * tiles * n};
  }
  if (plan.splits > 1)
    return {4ull * plan.splits * (static_cast<uint64_t>(p.M) * p.out_c + (bias_grad ? p.out_c : 0))};
  return {};
}

// The dispatches of `plan` for the operands in p (a, b; bias, side, flags
// of the forward epilogue): the result goes to `out`, the bias gradient (the
// filter gradient's, 0: none) to `db`; `scratch`: addresses of ConvScratch's
// buffers. `dtype`: "f32" or "f16".
inline std::vector<ConvLaunch> ConvLaunches(ConvMode mode, const ConvPlan& plan, ConvPush p,
                                            uint64_t out, uint64_t db,
                                            const std::vector<uint64_t>& scratch, const char* dtype) {
  auto grid = [](uint64_t n) {  // OpContext::GridFor: 256 invocations, at most 65535 groups
    return static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>((n + 255) / 256, 65535)));
  };
  std::vector<ConvLaunch> launches;
  const std::string t = dtype;
  if (plan.winograd && mode == ConvMode::kBwdFilter) {
    // The filter gradient, Winograd's transposed (conv.comp WINO_DY): V = B^T
    // x B, D = A dy A^T, P[xi][slice] = V[xi]^T x D[xi] over the slice's
    // tiles, dw = G^T (sum over slices of P) G. A bias gradient: D[5] of a
    // tile is the sum of its 2x2 dy, so db = the column sums of D[5] (the
    // GEMM's B), which the GEMM writes per slice and WINO_WGRAD_OUT adds up.
    const uint32_t ci = p.in_c, co = p.out_c;
    const uint32_t tiles = static_cast<uint32_t>(ConvWinogradTiles(mode, p));
    const uint64_t v = scratch[0], d = scratch[1], part = scratch[2];
    ConvPush q = UnitConvPush(ci, co);
    q.M = tiles;
    q.in[1] = p.in[1], q.in[2] = p.in[2], q.out[1] = p.out[1], q.out[2] = p.out[2];
    q.pad[1] = p.pad[1], q.pad[2] = p.pad[2];
    ConvLaunch l;
    l.kernel = "conv2d_wino_in_" + t;  // V = B^T x B
    l.push = q;
    l.push.a = p.a;
    l.push.c = v;
    l.gx = grid(static_cast<uint64_t>(tiles) * ci / 4);
    launches.push_back(l);
    l = ConvLaunch{};
    l.kernel = "conv2d_wino_dy_" + t;  // D = A dy A^T
    l.push = q;
    l.push.a = p.b;
    l.push.c = d;
    l.gx = grid(static_cast<uint64_t>(tiles) * co / 4);
    launches.push_back(l);
    // P[xi][slice] = V[xi]^T x D[xi]: a 1x1 filter gradient over `tiles` positions per xi
    ConvPush g = UnitConvPush(ci, co);
    g.in[2] = g.out[2] = tiles;
    g.a = v;
    g.b = d;
    g.c = part;
    g.M = ci;
    g.K = tiles;
    g.k_chunk = plan.wgrad_chunk;
    g.bias = db ? scratch[3] : 0;
    const ConvTile& wt = kConvTiles[plan.wgrad_tile];
    l = ConvLaunch{};
    l.kernel = std::string("conv2d_wgemm_bwd_filter_f32_v4_") + wt.name;
    l.push = g;
    l.gx = ConvCeil(co, wt.bn);
    l.gy = ConvCeil(ci, wt.bm);
    l.gz = 16 * plan.wgrad_splits;
    launches.push_back(l);
    l = ConvLaunch{};
    l.kernel = "conv2d_wino_wgrad_out_" + t;  // dw = G^T M G
    l.push = q;
    l.push.a = part;
    l.push.c = out;
    l.push.k_chunk = plan.wgrad_splits;
    l.push.bias = db ? scratch[3] : 0;  // the column sums of D per (xi, slice)
    l.push.side = db;
    l.gx = grid(static_cast<uint64_t>(ci) * co / 4);
    launches.push_back(l);
    return launches;
  }
  if (plan.winograd) {
    const bool fwd = mode == ConvMode::kFwd;
    // The forward convolution computed: input (x or dy) of k channels, n output channels.
    const uint32_t k = fwd ? p.in_c : p.out_c, n = fwd ? p.out_c : p.in_c;
    const uint32_t ih = fwd ? p.in[1] : p.out[1], iw = fwd ? p.in[2] : p.out[2];
    const uint32_t oh = fwd ? p.out[1] : p.in[1], ow = fwd ? p.out[2] : p.in[2];
    const int32_t ph = fwd ? p.pad[1] : 2 - p.pad[1], pw = fwd ? p.pad[2] : 2 - p.pad[2];
    const uint32_t tiles = static_cast<uint32_t>(ConvWinogradTiles(mode, p));
    const uint64_t u = scratch[0], v = scratch[1], m = scratch[2];
    ConvPush q = UnitConvPush(k, n);
    ConvLaunch l;
    // U = G g G^T (a: the filter)
    l.kernel = "conv2d_wino_filter_" + std::string(fwd ? "" : "bwd_input_") + t;
    l.push = q;
    l.push.a = p.b;
    l.push.c = u;
    l.gx = grid(static_cast<uint64_t>(k) * n / 4);
    launches.push_back(l);
    // V = B^T d B (a: x or dy)
    ConvPush in = q;
    in.a = p.a;
    in.c = v;
    in.M = tiles;
    in.in[1] = ih, in.in[2] = iw, in.out[1] = oh, in.out[2] = ow;
    in.pad[1] = ph, in.pad[2] = pw;
    l = ConvLaunch{};
    l.kernel = "conv2d_wino_in_" + t;
    l.push = in;
    l.gx = grid(static_cast<uint64_t>(tiles) * k / 4);
    launches.push_back(l);
    // M[xi] = V[xi] x U[xi]: 16 GEMMs [tiles, k] x [k, n], as 1x1 convolutions
    ConvPush g = q;
    g.a = v;
    g.b = u;
    g.c = m;
    g.M = tiles;
    g.K = k;
    g.k_chunk = k;
    g.in[1] = g.out[1] = tiles;
    // The tile: 128x64 (H200: 0.42 ms at 28x28x128, where 64x64 took 0.45
    // and 128x128 with BK = 16 0.53), TFMP_CONV_TILE to measure others.
    ConvTile tile = kConvTiles[tiles > 64 ? kTile128x64 : kTile64x64];
    if (const char* forced = ConvEnv("TFMP_CONV_TILE"))
      for (const ConvTile& c : kConvTiles)
        if (std::string(forced) == c.name) tile = c;
    l = ConvLaunch{};
    l.kernel = std::string("conv2d_wgemm_f32_v4_") + tile.name;
    l.push = g;
    l.gx = ConvCeil(n, tile.bn);
    l.gy = ConvCeil(tiles, tile.bm);  // tiles <= 65535 * 64: one row of M tiles
    l.gz = 16;
    launches.push_back(l);
    // y = A^T M A + epilogue
    ConvPush o = in;
    o.a = m;
    o.c = out;
    o.bias = p.bias;
    o.side = p.side;
    o.flags = p.flags;
    o.alpha = p.alpha;
    l = ConvLaunch{};
    l.kernel = "conv2d_wino_out_" + t;
    l.push = o;
    l.gx = grid(static_cast<uint64_t>(tiles) * n / 4);
    launches.push_back(l);
    return launches;
  }
  ConvLaunch l;
  l.kernel = plan.kernel;
  l.gx = plan.gx, l.gy = plan.gy, l.gz = plan.gz;
  if (plan.splits == 1) {
    p.c = out;
    if (mode == ConvMode::kBwdFilter) p.bias = db;
    l.push = p;
    launches.push_back(l);
    return launches;
  }
  // Split K (the filter gradient): float32 partial sums, then their sum
  // (stored as the output dtype) in one more dispatch.
  const uint64_t mn = static_cast<uint64_t>(p.M) * p.out_c, n2 = db ? p.out_c : 0;
  p.c = scratch[0];
  p.bias = db ? scratch[0] + 4 * plan.splits * mn : 0;
  l.push = p;
  launches.push_back(l);
  ConvLaunch s;
  s.sum = true;
  s.sum_push = ConvSplitSumPush{scratch[0], out, db, static_cast<uint32_t>(mn),
                                static_cast<uint32_t>(n2), plan.splits};
  if (ConvSumRows(mn + n2)) {
    s.kernel = "conv_splitk_sum_rows_" + t;
    s.gx = static_cast<uint32_t>(std::min<uint64_t>(ConvCeil(mn + n2, 32), 65535));  // 32 sums each
  } else {
    s.kernel = "conv_splitk_sum_" + t;
    s.gx = grid(mn + n2);
  }
  launches.push_back(s);
  return launches;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_CONV_PLAN_H_
