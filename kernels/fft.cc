// FFT, IFFT, RFFT, IRFFT and their 2D/3D forms (complex64, float32) on
// shaders/fft.comp ("fft_c64"): one 1-D transform per axis, innermost first
// (IRFFT: outer axes first, the Hermitian axis last, as TF's CPU kernel).
//
// A 1-D transform of length L whose prime factors are all <= kMaxRadix is a
// mixed-radix Stockham FFT, one dispatch per radix (4s first, then 2, 3, 5,
// ...), every twiddle computed from its exact integer exponent. Any other L
// goes through Bluestein's chirp-z transform on a power-of-2 FFT of length
// M >= 2L - 1: the FFT of the chirp kernel, the FFT of the chirped input, and
// the inverse FFT of their product (the product and the chirps are folded
// into the first and last stages' loads and stores). Per-invocation loops are
// bounded by the radix (<= kMaxRadix).
//
// fft_length (RFFT/IRFFT, host memory) follows TF's CPU kernel: each input
// dim must be at least fft_length (IRFFT's inner one fft_length / 2 + 1) and
// is cropped to it; the imaginary parts of an IRFFT input's DC and Nyquist
// terms are ignored.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

constexpr int64_t kMaxRadix = 32;

// Flags of shaders/fft.comp.
enum : uint32_t {
  kInverse = 1,
  kChirpInv = 2,
  kRealIn = 4,
  kHerm = 8,
  kChirpIn = 16,
  kMulTable = 32,
  kChirpKernel = 64,
  kChirpOut = 128,
  kRealOut = 256,
};

struct FftPush {
  uint64_t src, dst, table;
  uint32_t count, n, radix, ns, inner, src_ext, src_len, out_len, flags, chirp_n, herm_l;
  float scale;
};

std::string Str(int64_t v) { return std::to_string(v); }

// Radices of a Stockham FFT of length n (4s first), or empty when n has a
// prime factor above kMaxRadix.
std::vector<int64_t> Radices(int64_t n) {
  std::vector<int64_t> r;
  while (n % 4 == 0) r.push_back(4), n /= 4;
  for (int64_t p = 2; p <= kMaxRadix && n > 1; ++p)
    while (n % p == 0) r.push_back(p), n /= p;
  if (n > 1) r.clear();
  return r;
}

// The source and destination of one 1-D transform along an axis, seen as
// [outer, extent, inner].
struct Axis {
  uint64_t src = 0, dst = 0;
  int64_t outer = 1, inner = 1;
  int64_t src_ext = 0;   // the source's extent along the axis
  int64_t src_len = 0;   // positions read; further ones are zero
  int64_t out_len = 0;   // positions written (the destination's extent)
  uint32_t in_flags = 0;   // kRealIn, kHerm
  uint32_t out_flags = 0;  // kRealOut
  float scale = 1.0f;
};

class FftRecorder {
 public:
  explicit FftRecorder(OpContext& ctx) : ctx_(ctx) {}

  // A length-L transform (forward or inverse, unnormalized except for
  // a.scale) along one axis.
  void Transform(const Axis& a, int64_t L, bool inverse) {
    if (!ctx_.ok()) return;
    const std::vector<int64_t> radices = L == 1 ? std::vector<int64_t>{1} : Radices(L);
    if (!radices.empty()) {
      FftPush p = Base(a, L, inverse);
      Stages(p, a, radices, p.flags & (kRealIn | kHerm), a.out_flags, a.scale);
      return;
    }
    Bluestein(a, L, inverse);
  }

 private:
  FftPush Base(const Axis& a, int64_t L, bool inverse) {
    FftPush p{};
    p.src = a.src;
    p.dst = a.dst;
    p.n = static_cast<uint32_t>(L);
    p.inner = static_cast<uint32_t>(a.inner);
    p.src_ext = static_cast<uint32_t>(a.src_ext);
    p.src_len = static_cast<uint32_t>(a.src_len);
    p.herm_l = static_cast<uint32_t>(L);
    p.flags = a.in_flags | (inverse ? kInverse : 0);
    return p;
  }

  // The stages of a Stockham FFT of length p.n: the first with the load
  // flags `first` (and p's source), the last with the store flags `last`,
  // the scale and a's destination; ping-pong temporaries between.
  void Stages(FftPush p, const Axis& a, const std::vector<int64_t>& radices, uint32_t first,
              uint32_t last, float scale) {
    const int64_t n = p.n;
    const int64_t full = a.outer * n * a.inner;
    if (!ctx_.CheckElements(full)) return;
    Tensor tmp[2];
    if (radices.size() > 1) tmp[0] = ctx_.allocate_temp({full}, TF_COMPLEX64);
    if (radices.size() > 2) tmp[1] = ctx_.allocate_temp({full}, TF_COMPLEX64);
    if (!ctx_.ok()) return;
    const uint32_t keep = p.flags & (kInverse | kChirpInv);
    const uint64_t src = p.src, dst = p.dst;
    int64_t ns = 1;
    for (size_t s = 0; s < radices.size(); ++s) {
      const bool is_first = s == 0, is_last = s + 1 == radices.size();
      p.radix = static_cast<uint32_t>(radices[s]);
      p.ns = static_cast<uint32_t>(ns);
      p.flags = keep | (is_first ? first : 0) | (is_last ? last : 0);
      p.src = is_first ? src : tmp[(s - 1) % 2].address();
      if (!is_first) p.src_ext = p.src_len = static_cast<uint32_t>(n);
      p.dst = is_last ? dst : tmp[s % 2].address();
      p.out_len = static_cast<uint32_t>(is_last ? a.out_len : n);
      p.scale = is_last ? scale : 1.0f;
      const int64_t count = a.outer * p.out_len * a.inner;
      p.count = static_cast<uint32_t>(count);
      if (count > 0) ctx_.Dispatch("fft_c64", p, OpContext::GridFor(count));
      ns *= radices[s];
    }
  }

  void Bluestein(const Axis& a, int64_t L, bool inverse) {
    int64_t M = 1;
    while (M < 2 * L - 1) M *= 2;
    if (M > (int64_t{1} << 30))
      return ctx_.Fail(TF_UNIMPLEMENTED, "FFT length " + Str(L) + " is not supported");
    const std::vector<int64_t> radices = Radices(M);
    const uint32_t chirp = inverse ? kChirpInv : 0;
    // kernel: B = FFT_M(conj(chirp)), one row shared by the whole batch
    Tensor kernel = ctx_.allocate_temp({M}, TF_COMPLEX64);
    Tensor chirped = ctx_.allocate_temp({a.outer * M * a.inner}, TF_COMPLEX64);
    if (!ctx_.ok()) return;
    Axis k{};
    k.dst = kernel.address();
    k.out_len = M;
    FftPush p = Base(k, M, false);
    p.chirp_n = static_cast<uint32_t>(L);
    p.flags |= chirp;
    Stages(p, k, radices, kChirpKernel, 0, 1.0f);
    // A = FFT_M(x * chirp), x zero beyond L
    Axis f = a;
    f.dst = chirped.address();
    f.out_len = M;
    p = Base(f, M, false);
    p.chirp_n = static_cast<uint32_t>(L);
    p.herm_l = static_cast<uint32_t>(L);
    p.flags |= chirp;
    Stages(p, f, radices, a.in_flags | kChirpIn, 0, 1.0f);
    // y = chirp * IFFT_M(A * B) / M
    Axis g = a;
    g.src = chirped.address();
    g.src_ext = g.src_len = M;
    p = Base(g, M, true);
    p.flags &= ~(kRealIn | kHerm);
    p.chirp_n = static_cast<uint32_t>(L);
    p.flags |= chirp;
    p.table = kernel.address();
    Stages(p, g, radices, kMulTable, a.out_flags | kChirpOut,
           static_cast<float>(static_cast<double>(a.scale) / static_cast<double>(M)));
  }

  OpContext& ctx_;
};

enum class Kind { kC2C, kR2C, kC2R };

template <int kRank, Kind kKind, bool kInverse>
class FftOp : public OpKernel {
 public:
  explicit FftOp(OpConstruction&) {}

  void Compute(OpContext& ctx) override {
    Tensor x = ctx.input(0);
    if (!ctx.ok()) return;
    const Shape in = x.shape();
    const int rank = static_cast<int>(in.size());
    if (rank < kRank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Input must have rank of at least " + Str(kRank) +
                                               " but got: " + ShapeString(in));
    Shape out = in;
    int64_t L[3] = {0, 0, 0};  // transform lengths of the last kRank dims
    if (kKind != Kind::kC2C) {
      Tensor len = ctx.input(1);
      if (!ctx.ok()) return;
      if (len.dims() != 1 || len.dim(0) != kRank)
        return ctx.Fail(TF_INVALID_ARGUMENT, "fft_length must have shape [" + Str(kRank) + "]");
      const std::vector<int64_t> v = len.host_ints();
      for (int i = 0; i < kRank; ++i) {
        if (v[i] < 0)
          return ctx.Fail(TF_INVALID_ARGUMENT, "fft_length[" + Str(i) + "] must >= 0, but got: " +
                                                   Str(v[i]));
        L[i] = v[i];
        const bool inner_most = i == kRank - 1;
        const int64_t min_len = inner_most && kKind == Kind::kC2R ? L[i] / 2 + 1 : L[i];
        const int d = rank - kRank + i;
        if (in[d] != 0 && in[d] < min_len)
          return ctx.Fail(TF_INVALID_ARGUMENT, "Input dimension " + Str(d) +
                                                   " must have length of at least " +
                                                   Str(min_len) + " but got: " + Str(in[d]));
        out[d] = inner_most && kKind == Kind::kR2C && L[i] != 0 ? L[i] / 2 + 1 : L[i];
      }
    } else {
      for (int i = 0; i < kRank; ++i) L[i] = in[rank - kRank + i];
    }
    if (!ctx.CheckElements(x.num_elements()) || !ctx.CheckElements(NumElements(out))) return;
    Tensor y = ctx.allocate_output(0, out, kKind == Kind::kC2R ? TF_FLOAT : TF_COMPLEX64);
    if (!ctx.ok() || y.num_elements() == 0) return;
    Run(ctx, x, in, y, out, L);
  }

 private:
  // One 1-D transform per axis; `cur` is the shape of the data so far.
  void Run(OpContext& ctx, const Tensor& x, const Shape& in, const Tensor& y, const Shape& out,
           const int64_t* L) {
    const int rank = static_cast<int>(in.size());
    double total = 1.0;
    for (int i = 0; i < kRank; ++i) total *= static_cast<double>(L[i]);
    // Axis order: innermost first; IRFFT: outer axes first, the inner one last.
    int order[3];
    for (int i = 0; i < kRank; ++i) order[i] = kKind == Kind::kC2R ? i : kRank - 1 - i;
    FftRecorder rec(ctx);
    Shape cur = in;
    uint64_t src = x.address();
    Tensor hold[2];
    for (int s = 0; s < kRank && ctx.ok(); ++s) {
      const int i = order[s];
      const int d = rank - kRank + i;
      const bool last = s + 1 == kRank;
      Axis a;
      a.src = src;
      a.src_ext = cur[d];
      for (int k = 0; k < d; ++k) a.outer *= cur[k];
      for (int k = d + 1; k < rank; ++k) a.inner *= cur[k];
      const bool herm_axis = kKind == Kind::kC2R && i == kRank - 1;
      if (herm_axis) {
        a.in_flags |= kHerm;
        a.src_len = std::min<int64_t>(cur[d], L[i] / 2 + 1);
        a.out_flags |= kRealOut;
      } else {
        a.src_len = std::min<int64_t>(cur[d], L[i]);
      }
      if (s == 0 && kKind == Kind::kR2C) a.in_flags |= kRealIn;
      a.out_len = out[d];
      cur[d] = out[d];
      if (last) {
        a.dst = y.address();
        if (kInverse) a.scale = static_cast<float>(1.0 / total);
      } else {
        if (!ctx.CheckElements(NumElements(cur))) return;
        hold[s % 2] = ctx.allocate_temp({NumElements(cur)}, TF_COMPLEX64);
        if (!ctx.ok()) return;
        a.dst = hold[s % 2].address();
      }
      if (a.outer * a.inner > 0) rec.Transform(a, L[i], kInverse);
      src = a.dst;
    }
  }
};

template <int kRank>
void RegisterRank(const char* fft, const char* ifft, const char* rfft, const char* irfft) {
  RegisterKernel<FftOp<kRank, Kind::kC2C, false>>(fft, {{"Tcomplex", TF_COMPLEX64}});
  RegisterKernel<FftOp<kRank, Kind::kC2C, true>>(ifft, {{"Tcomplex", TF_COMPLEX64}});
  RegisterKernel<FftOp<kRank, Kind::kR2C, false>>(
      rfft, {{"Treal", TF_FLOAT}, {"Tcomplex", TF_COMPLEX64}}, {"fft_length"});
  RegisterKernel<FftOp<kRank, Kind::kC2R, true>>(
      irfft, {{"Treal", TF_FLOAT}, {"Tcomplex", TF_COMPLEX64}}, {"fft_length"});
}

}  // namespace

void RegisterFftKernels() {
  RegisterRank<1>("FFT", "IFFT", "RFFT", "IRFFT");
  RegisterRank<2>("FFT2D", "IFFT2D", "RFFT2D", "IRFFT2D");
  RegisterRank<3>("FFT3D", "IFFT3D", "RFFT3D", "IRFFT3D");
}

}  // namespace tfmp
