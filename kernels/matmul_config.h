// The tiled GEMM's push constants, tile configs and the choice among them
// (shaders/matmul.comp, shaders/matmul_reduce.comp). Header-only and free of
// TensorFlow: kernels/matmul.cc records with it, and tools/kernel_bench.cc
// includes it so that the benchmark dispatches exactly what the kernel does.
#ifndef TFMP_KERNELS_MATMUL_CONFIG_H_
#define TFMP_KERNELS_MATMUL_CONFIG_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace tfmp {

struct MatMulPush {  // shaders/matmul.comp
  uint64_t a, b, c;
  uint32_t M, N, K;
  uint32_t a_m, a_k, b_k, b_n;
  uint32_t a_batch, b_batch, c_batch;
  uint64_t bias;
  uint32_t act;
  float alpha;
  uint32_t flags;
  uint32_t splits;   // 1, or split-K: c receives float partial sums
  uint32_t k_split;  // k elements per split
  // Two-level batches (GemmProblem::batch2): entry z at (z / batch2) *
  // x_batch + (z % batch2) * x_batch2; C's rows c_m elements apart.
  uint32_t batch2;
  uint32_t a_batch2, b_batch2, c_batch2;
  uint32_t c_m;
  uint64_t grad;  // "_bias_grad" variants: N column sums of B
  uint64_t bn;    // a folded BatchNorm's table (kernels/epilogue.h), or 0; no split-K with it
};
static_assert(sizeof(MatMulPush) == 128, "the push constants must match matmul.comp's");

// shaders/matmul_coopmat.comp (float16 GEMMs on matrix units; kernels/matmul.cc
// RecordCoopMatMul): matmul.comp's first fields, without its split-K tail.
struct CoopMatPush {
  uint64_t a, b, c;
  uint32_t M, N, K;
  uint32_t a_m, a_k, b_k, b_n;
  uint32_t a_batch, b_batch, c_batch;
  uint64_t bias;
  uint32_t act;
  float alpha;
};
static_assert(sizeof(CoopMatPush) == 80, "the push constants must match matmul_coopmat.comp's");

// matmul_coopmat.comp's tile configurations (shaders/variants.py
// COOPMAT_TILES; VK_NV_cooperative_matrix only): variant suffix, BM, BN.
struct CoopTile {
  const char* name;
  uint32_t bm, bn;
};
constexpr CoopTile kCoopTiles[] = {
    {"", 128, 128},                // 64 x 32 per subgroup, BK 32
    {"_128x256_64x64", 128, 256},  // 64 x 64 per subgroup, BK 32
};

// The tile for an M x N (x batch) float16 GEMM on a device with
// `compute_units` SMs (0: unknown). Measured on the H200 (driver 580,
// kernel_bench, warmed up; cuBLAS via PyTorch in brackets):
//              128x128 (64x32)   128x256 (64x64)
//   1024^3      22.3 TFLOP/s      12.7            [250]
//   2048^3      76.0              75.7            [650]
//   4096^3      87.7             103.5-103.7      [803]
//   8192^3     103.0             124.9            [743]
// 128x256 tiles (each subgroup a 64x64 block: half the shared-memory
// fragment loads per product) win once they fill every SM; below that the
// 128x128 tile's 2x workgroups win. TFMP_COOP_TILE=<suffix> forces one
// (experiments; an unknown name: this choice). KHR: only the default exists.
// The shared rule of PickCoopTile and PickCoop2Tile over a tile table whose
// [0] is the default and [1] the wide tile: `forced` (an environment value
// read once by the caller) names one, else the wide tile where its
// workgroups fill every SM.
template <size_t kN>
const CoopTile& PickWideOrDefault(const CoopTile (&tiles)[kN], const char* forced, int64_t M,
                                  int64_t N, int64_t batch, uint32_t compute_units) {
  if (forced)
    for (const CoopTile& t : tiles)
      if (std::strcmp(t.name, forced) == 0) return t;
  const CoopTile& wide = tiles[1];
  const int64_t groups = (M + wide.bm - 1) / wide.bm * ((N + wide.bn - 1) / wide.bn) * batch;
  return groups >= (compute_units ? int64_t{compute_units} : 256) ? wide : tiles[0];
}

inline const CoopTile& PickCoopTile(int64_t M, int64_t N, int64_t batch, uint32_t compute_units,
                                    bool khr) {
  if (khr) return kCoopTiles[0];
  static const char* const env = std::getenv("TFMP_COOP_TILE");  // read once, not per GEMM
  return PickWideOrDefault(kCoopTiles, env, M, N, batch, compute_units);
}

// shaders/matmul_coopmat2.comp's tile configurations (variants.py
// COOPMAT2_TILES; VK_NV_cooperative_matrix2, DeviceInfo::coopmat2): variant
// suffix, BM, BN. Same push constants as matmul_coopmat.comp (CoopMatPush).
constexpr CoopTile kCoop2Tiles[] = {
    {"", 128, 128},                  // BK 32, unrolled x8
    {"_128x256_k32_u16", 128, 256},  // PickCoop2Tile's wide tile
    {"_128x256_k32_u8", 128, 256},
    {"_128x256_k64_u4", 128, 256},
    {"_256x128_k32_u8", 256, 128},
    {"_128x128_t128_k32_u8", 128, 128},  // PickCoop2Tile's mid tile (128 invocations)
};
constexpr int kCoop2MidTile = 5;

// The coopmat2 tile for an M x N (x batch) float16 GEMM: 128x256 (x16)
// where its workgroups fill every SM; else 128x128 with 128 invocations
// where those fill every SM; else 128x128 with 256. H200 (driver 580,
// TFLOP/s, 2026-12-02 10:03, 10:31 and 10:36 runs; cuBLAS 761 at 4096^3, 709 at
// 8192^3): 4096^3 274 (x8 265; the mid tile 257), 8192^3 293-297 (mid
// 273); 2048^3 (128 wide tiles: fewer than the 132 SMs) mid 205 against 144
// for 128x128 with 256 invocations; 1024^3 (64 tiles) 57 against the mid
// tile's 50; more in variants.py COOPMAT2_TILES. Every tile compiles to 255
// registers an invocation. TFMP_COOP2_TILE=<suffix> forces one
// (experiments; an unknown name: the wide-or-128x128 rule, no mid tile).
inline const CoopTile& PickCoop2Tile(int64_t M, int64_t N, int64_t batch, uint32_t compute_units) {
  static const char* const env = std::getenv("TFMP_COOP2_TILE");  // read once, not per GEMM
  const CoopTile& t = PickWideOrDefault(kCoop2Tiles, env, M, N, batch, compute_units);
  if (&t != &kCoop2Tiles[0] || (env && *env)) return t;
  const CoopTile& mid = kCoop2Tiles[kCoop2MidTile];
  const int64_t groups = (M + mid.bm - 1) / mid.bm * ((N + mid.bn - 1) / mid.bn) * batch;
  return groups >= (compute_units ? int64_t{compute_units} : 256) ? mid : t;
}

struct MatMulReducePush {  // shaders/matmul_reduce.comp
  uint64_t p, c, bias, grad;
  uint32_t mn, n;
  uint32_t batch, splits;
  uint32_t c_batch;
  uint32_t act;
  float alpha;
  uint32_t pmn;  // partial elements per split: M * N, (M + 1) * N with grad
};
static_assert(sizeof(MatMulReducePush) == 64, "the push constants must match matmul_reduce.comp's");

// matmul.comp's flags.
enum : uint32_t {
  kGemmAVecK = 1,   // A read as vec4 along k (a_k == 1)
  kGemmAVecO = 2,   // A read as vec4 along m (a_m == 1)
  kGemmBVecK = 4,   // B read as vec4 along k (b_k == 1)
  kGemmBVecO = 8,   // B read as vec4 along n (b_n == 1)
  kGemmCVec = 16,   // C (or the partial sums) written as vec4
};

// The tile configs: kernels/shaders/variants.py's GEMM_TILES (the shader
// token is "matmul_<name>_<dtype>").
struct GemmTile {
  const char* name;
  uint32_t bm, bn, bk;
};
inline constexpr GemmTile kGemmTiles[] = {
    {"128x128", 128, 128, 8},
    {"128x64", 128, 64, 16},
    {"64x64", 64, 64, 16},
    // BK 16 without padding (32 KiB of shared memory, 141 registers on the
    // H200: one workgroup per SM): faster where A is read along k.
    {"128x128k16", 128, 128, 16},
};

// One GEMM problem: C[z] = A[z] x B[z] for z < batch, C row-major [M, N]
// with rows c_m elements apart (0: N); A[m, k] = a[m * a_m + k * a_k],
// B[k, n] = b[k * b_k + n * b_n] (elements); batch entry z at element
// offsets z * a_batch, z * b_batch, z * c_batch, or with batch2 > 1 (a batch
// of two dims, [batch / batch2, batch2], that no single stride steps
// through: Einsum's "aecd,abcd->acbe" reads batch (a, c) in place) at
// (z / batch2) * x_batch + (z % batch2) * x_batch2. No split-K then.
struct GemmProblem {
  int64_t M, N, K;
  int64_t a_m, a_k, b_k, b_n;
  uint64_t a, b, c;  // device addresses
  int64_t batch, a_batch, b_batch, c_batch;
  uint32_t esize;  // bytes per element of A, B and C
  int64_t batch2 = 1, a_batch2 = 0, b_batch2 = 0, c_batch2 = 0;
  int64_t c_m = 0;
  int64_t ldc() const { return c_m ? c_m : N; }
  bool strided() const { return batch2 > 1 || ldc() != N; }
};

// How to run a GEMM: tile config, split-K and the vec4 paths.
struct GemmPlan {
  const GemmTile* tile = nullptr;
  uint32_t splits = 1, k_split = 0;
  uint32_t flags = 0;
  uint32_t gx = 0, gy = 0;  // workgroups along N and M (z: batch * splits)
};

// Splits of K at most (a bound on the float32 scratch too).
constexpr uint32_t kGemmMaxSplits = 16;

inline const GemmTile* FindGemmTile(const std::string& name) {
  for (const GemmTile& t : kGemmTiles)
    if (name == t.name) return &t;
  return nullptr;
}

// The vec4 paths a problem allows. An operand reads vec4 along its unit
// stride when the other stride, its batch stride and the extent along the
// unit stride are multiples of 4 and its address is aligned to 4 elements.
inline uint32_t GemmFlags(const GemmProblem& p, bool partial) {
  const uint64_t align = 4ull * p.esize;
  auto ok4 = [](int64_t v) { return v % 4 == 0; };
  uint32_t f = 0;
  const bool a_al = p.a % align == 0 && ok4(p.a_batch) && ok4(p.a_batch2),
             b_al = p.b % align == 0 && ok4(p.b_batch) && ok4(p.b_batch2);
  if (a_al && p.a_k == 1 && ok4(p.a_m) && ok4(p.K)) f |= kGemmAVecK;
  else if (a_al && p.a_m == 1 && ok4(p.a_k) && ok4(p.M)) f |= kGemmAVecO;
  if (b_al && p.b_n == 1 && ok4(p.b_k) && ok4(p.N)) f |= kGemmBVecO;
  else if (b_al && p.b_k == 1 && ok4(p.b_n) && ok4(p.K)) f |= kGemmBVecK;
  // Partial sums: float32 scratch (16-byte aligned, [batch * splits][M][N]).
  if (ok4(p.N) && (partial || (p.c % align == 0 && ok4(p.c_batch) && ok4(p.c_batch2) && ok4(p.ldc()))))
    f |= kGemmCVec;
  return f;
}

// Chooses the tile config and split-K for a problem on a device with
// `compute_units` multiprocessors (0: unknown). `override_spec` (the value of
// TFMP_MATMUL_CONFIG: "<tile>[:<splits>]" or ":<splits>", e.g. "128x64",
// "128x128:4") forces a choice; an unknown tile name (e.g. "default") keeps
// the default tile. `can_split`:
// whether the caller can provide the float32 scratch of split-K.
inline GemmPlan PlanGemm(const GemmProblem& p, uint32_t compute_units, const char* override_spec,
                         bool can_split = true) {
  const uint32_t units = compute_units ? compute_units : 32;
  auto groups = [&](const GemmTile& t) {
    return ((p.M + t.bm - 1) / t.bm) * ((p.N + t.bn - 1) / t.bn) * p.batch;
  };
  GemmPlan plan;
  int64_t splits = 1;
  // Workgroups that fill the device: two resident per multiprocessor.
  // Measured on the H200 (132 SMs; fp32, TFLOP/s; kernel_bench): 4096^3 NN
  // 128x128 35.8, 128x128k16 38.1, 128x64 19.7 (NT 34.9 / 37.9; TN 36.8 /
  // 21.0); 2048^3 35.3 / 36.5, 64x64 30.3; 1024^3 128x128:4 26.7, 128x64:2
  // 26.4, 64x64 25.4, 128x128 13.8.
  const int64_t fill = 2 * static_cast<int64_t>(units);
  const uint32_t vec = GemmFlags(p, false);
  if (groups(kGemmTiles[0]) * 4 >= fill * 3) {
    plan.tile = &kGemmTiles[0];
    // float32 with A read along k and B vec4: BK 16 (for a transposed A
    // it was 1.75x slower).
    if (p.esize == 4 && (vec & kGemmAVecK) && (vec & (kGemmBVecO | kGemmBVecK)))
      plan.tile = &kGemmTiles[3];
  } else if (groups(kGemmTiles[1]) * 4 >= fill * 3) {
    plan.tile = &kGemmTiles[1];
  } else {
    // Too few output tiles: 128x128 (not for a side of 64 or less) when,
    // with K split (splits at least 256 deep; a reduce dispatch more), it
    // makes workgroups for half of `fill`, else 64x64 with K split (splits
    // at least 128 deep), unless 128x128 made more workgroups. Before, the
    // 128x128 split came first whenever it made as many workgroups as
    // unsplit 64x64 tiles, and small GEMMs of a Transformer (2048 tokens,
    // width 128) ran on 8 to 64 workgroups. H200 (kernel_bench, us, one
    // process per shape): dW 512x128x2048 and 128x512x2048 (A transposed)
    // 128x128:8 52, 64x64:16 23 (32x32:16 25); 128x128x2048 128x128:8 53,
    // 64x64:16 20 (32x32:16 22.5); 2048x128x512 64x64 35, 64x64:4 23.
    // (A 32x32 tile was no faster anywhere: 2048x128x128 19.1 vs 64x64's 17.2.)
    const GemmTile* order[] = {&kGemmTiles[0], &kGemmTiles[2]};
    int64_t best = -1;
    for (const GemmTile* t : order) {
      if (t->bm > 64 && (p.M <= 64 || p.N <= 64)) continue;
      const int64_t g = groups(*t);
      int64_t s = std::min<int64_t>({(fill + g - 1) / g, kGemmMaxSplits, p.K / (t->bm > 64 ? 256 : 128)});
      s = can_split ? std::max<int64_t>(s, 1) : 1;
      if (g * s >= best) best = g * s, plan.tile = t, splits = s;
      if (g * s * 2 >= fill) break;
    }
  }
  std::string spec = override_spec ? override_spec : "";
  if (!spec.empty()) {
    const size_t colon = spec.find(':');
    const GemmTile* t = FindGemmTile(spec.substr(0, colon));
    if (t) plan.tile = t;
    if (colon != std::string::npos) splits = std::max(1, std::atoi(spec.c_str() + colon + 1));
    else if (t) splits = 1;
  }
  if (!can_split || p.K == 0 || p.strided()) splits = 1;  // matmul_reduce.comp writes C contiguous
  splits = std::min<int64_t>({splits, kGemmMaxSplits, std::max<int64_t>(1, p.K / plan.tile->bk)});
  // The float32 partial sums must stay within 32-bit indexing.
  // (one more row of N: _TfmpMatMulBiasGrad's column sums).
  while (splits > 1 && splits * p.batch * (p.M + 1) * p.N >= (int64_t(1) << 32)) --splits;
  const int64_t bk = plan.tile->bk;
  int64_t k_split = ((p.K + splits - 1) / splits + bk - 1) / bk * bk;
  if (splits > 1) splits = (p.K + k_split - 1) / k_split;  // no empty split
  plan.splits = static_cast<uint32_t>(splits);
  plan.k_split = static_cast<uint32_t>(splits > 1 ? k_split : std::max<int64_t>(p.K, 1));
  plan.flags = GemmFlags(p, splits > 1);
  plan.gx = static_cast<uint32_t>((p.N + plan.tile->bn - 1) / plan.tile->bn);
  plan.gy = static_cast<uint32_t>((p.M + plan.tile->bm - 1) / plan.tile->bm);
  return plan;
}

// The GEMM's push constants for a plan (addresses of batch entry 0; the
// caller offsets them for dispatches past 65535 batch entries).
inline MatMulPush GemmPush(const GemmProblem& p, const GemmPlan& plan, uint64_t bias, uint32_t act,
                           float alpha) {
  MatMulPush q{};
  q.a = p.a, q.b = p.b, q.c = p.c;
  q.M = static_cast<uint32_t>(p.M);
  q.N = static_cast<uint32_t>(p.N);
  q.K = static_cast<uint32_t>(p.K);
  q.a_m = static_cast<uint32_t>(p.a_m);
  q.a_k = static_cast<uint32_t>(p.a_k);
  q.b_k = static_cast<uint32_t>(p.b_k);
  q.b_n = static_cast<uint32_t>(p.b_n);
  q.a_batch = static_cast<uint32_t>(p.a_batch);
  q.b_batch = static_cast<uint32_t>(p.b_batch);
  q.c_batch = static_cast<uint32_t>(p.c_batch);
  q.bias = bias;
  q.act = act;
  q.alpha = alpha;
  q.flags = plan.flags;
  q.splits = plan.splits;
  q.k_split = plan.k_split;
  q.batch2 = static_cast<uint32_t>(p.batch2);
  q.a_batch2 = static_cast<uint32_t>(p.a_batch2);
  q.b_batch2 = static_cast<uint32_t>(p.b_batch2);
  q.c_batch2 = static_cast<uint32_t>(p.c_batch2);
  q.c_m = static_cast<uint32_t>(p.ldc());
  return q;
}

}  // namespace tfmp

#endif  // TFMP_KERNELS_MATMUL_CONFIG_H_
