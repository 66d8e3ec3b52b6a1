// kernel_bench: the plugin's own compute kernels, run through its runtime
// (runtime/backend.h) on any Vulkan device, with no TensorFlow.
//
//   kernel_bench [--quick] [--filter REGEX] [--runs N] [--warmup N] [--list]
//                [--no-flush] [--perturb] [--grid-cap N] [--repeat N] [--warmup-ms MS]
//                [--matmul-configs TILE[:SPLITS],...] [--conv-configs TILE:SPLITS:WINOGRAD,...]
//   kernel_bench --pipelines [--threads N] [--offset N] [--limit N]   (pipeline creation
//                time, cold or warm on-disk cache: see CreateAllPipelines)
//
// Each case uploads random inputs (fixed seed, values in [-1, 1) or wider,
// never all zeros; two input sets alternate between runs where they fit),
// runs the op once and checks the result against a CPU reference in float64
// (every element for elementwise ops, a random sample of output elements for
// GEMMs and convolutions), then times it: `warmup` untimed runs, then `runs`
// runs each bracketed by GPU timestamps (runtime Timer), with the L2 cache
// flushed (a 256 MiB fill) before each, recorded back to back (the GPU does
// not idle between runs; --sync-runs waits for each run before recording
// the next, the method before 2026-12-02 14:00). One JSON object per line on stdout:
// first the device, then one per case (median/min/max milliseconds, FLOP/s
// or bytes/s, the check). Exit status 1 if any check failed. --perturb scales
// every result by 1.01 before its check (every check must then fail: a test
// of the checks); --no-flush skips the L2 flush; --grid-cap N caps the
// workgroups of grid-stride kernels at N instead of OpContext::GridFor's 65535
// (an experiment: what the kernels record is unchanged); --repeat N runs the
// selected cases N times over. --warmup-ms MS keeps repeating the warm-up
// runs until MS milliseconds have passed (nvidia-smi showed the H200 at 345
// MHz of 1980 through parts of kernel_bench runs: the GPU idles while the
// host prepares each case's inputs).
//
// Speed drifts within one process: on the H200 (driver 580) every case ran at
// full speed until ~1.5-2.5 GB had been allocated and freed by earlier cases,
// then at ~40% (the same kernel, first and last in one run: 3.8 vs 1.5 TB/s);
// a fresh process is fast again. tools/bench_kernels.py --isolate runs each
// case in its own process.
//
// Speed depends on the DATA on the H200 (driver 580; helper f16, round 3,
// KB_DATA switches): the same float32 copy of 256 MiB runs at 4106 GB/s over
// uniform random floats and 1661 over float16 values stored as float32 (low
// mantissa bits zero); copies of random 16-bit patterns are fast, float16
// relu (outputs of zeros, or of [0, 1) halves) at ~0.4 of the copy whatever
// the shader does, while relu_f32 (half zeros, half random floats) is fast.
// So kernels moving structured, low-entropy data (float16 values, quantized
// values, zeros) are slower than these random-input cases suggest, and
// the float16 elementwise gap to PyTorch is the data in this driver's
// memory, not the shaders (likely its memory compression: the host-visible
// device-local type behaves the same).
// --matmul-configs runs each
// GEMM case once per tile config ("128x128", "128x128:4" = 4 K splits,
// "default" = the plugin's choice; kernels/matmul_config.h), named "@config".
//
// The push-constant structs and dispatch geometry below repeat what
// kernels/*.cc record (the kernels are TF OpKernels and cannot be linked
// without TensorFlow). If a kernel's struct changes, the runtime rejects a
// push-constant size mismatch, and any other drift shows as a failed check
// (tests/test_kernel_bench.py runs --quick on lavapipe for that reason).
// Keep each struct next to the kernel file it mirrors in mind:
//   BinaryPush, UnaryPush  kernels/elementwise.cc
//   FusedPush              kernels/fused_elementwise.cc   (Adam) kernels/fused_update.cc
// The reductions' push constants and passes come from kernels/reduce_plan.h,
// the softmax's from kernels/softmax_plan.h, the convolutions' from
// kernels/conv_plan.h, the GEMM's (push constants, tile config, split-K) from
// kernels/matmul_config.h: the kernels include them too.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "kernels/conv_plan.h"  // ConvPush and the launch of kernels/conv.cc
#include "kernels/reduce_plan.h"
#include "kernels/scatter_plan.h"
#include "kernels/softmax_plan.h"
#include "kernels/matmul_config.h"
#include "tensorflow_metal_plugin/runtime/backend.h"
#include "tensorflow_metal_plugin/runtime/kernel_library.h"
#include "tensorflow_metal_plugin/stats.h"

using tfmp::ReducePush;  // kernels/reduce_plan.h, shared with kernels/reduction.cc
using tfmp::rt::Device;
using tfmp::rt::Status;
using tfmp::rt::Stream;
using tfmp::rt::Timer;

namespace {

// --- push constants (mirrors of kernels/*.cc) ---------------------------------

struct BinaryPush {  // kernels/elementwise.cc, shaders/binary.comp
  uint64_t a, b, z;
  uint32_t n, rank;
  uint32_t shape[6], a_stride[6], b_stride[6];
  float alpha;
  uint32_t vec;
};

struct UnaryPush {  // kernels/elementwise.cc, shaders/unary.comp
  uint64_t x, y;
  uint32_t n;
  float alpha;
  uint32_t vec;
};

// OpContext::GridFor's cap on workgroups (--grid-cap changes it, for experiments).
int64_t g_grid_cap = 65535;
uint32_t GridFor(int64_t n, uint32_t local = 256) {  // OpContext::GridFor
  int64_t g = (n + local - 1) / local;
  return static_cast<uint32_t>(std::max<int64_t>(1, std::min<int64_t>(g, g_grid_cap)));
}
// elementwise.cc: VectorGrid (vec 1: four elements per invocation, 2: eight,
// float16 -> float16 only) and the alignment test of its vector paths.
uint32_t VectorGrid(int64_t n, uint32_t vec) {
  return GridFor(vec == 2 ? (n + 7) / 8 : vec == 1 ? (n + 3) / 4 : n);
}
bool Aligned4(uint64_t addr, size_t elem) { return addr % (4 * elem) == 0; }
uint32_t Ceil(uint64_t a, uint64_t b) { return static_cast<uint32_t>((a + b - 1) / b); }

// --- host helpers ---------------------------------------------------------------

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffff;
  if (((x >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000;
    const uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) mant <<= 1, --exp;
      x = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

// xorshift64*: fast enough to fill hundreds of MiB.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [lo, hi).
  float Uniform(float lo, float hi) {
    return lo + (hi - lo) * static_cast<float>((Next() >> 40) * (1.0 / 16777216.0));
  }
};

constexpr double kEps32 = 1.1920929e-07, kEps16 = 9.765625e-04;

std::string JsonEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) o += ' ';
    else o += c;
  }
  return o;
}

// One tensor in device memory with its host copy (as float; float16 tensors
// hold the values rounded to half).
struct Tensor {
  Device* dev = nullptr;
  uint64_t addr = 0;
  uint64_t base = 0;  // the allocation (addr past it with KB_STAGGER_KB)
  int64_t n = 0;
  bool half = false;
  std::vector<float> host;
  uint64_t bytes() const { return static_cast<uint64_t>(n) * (half ? 2 : 4); }
  ~Tensor() {
    if (base) dev->Free(base);
  }
};

struct Options {
  bool quick = false;
  int runs = 30, warmup = 3;
  int warmup_ms = 0;  // repeat the warm-up runs for at least this long
  std::regex filter{".*"};
  bool list = false;
  bool flush = true;
  bool perturb = false;  // scale every result by 1.01 before its check: tests the checks
  bool sync_runs = false;  // wait for each timed run before recording the next
  std::vector<std::string> matmul_configs;  // --matmul-configs: GEMM cases per config
  std::vector<std::string> conv_configs;    // --conv-configs: convolution cases per config
};


// The outcome of a correctness check.
struct Check {
  bool pass = true;
  int64_t checked = 0;
  double worst = 0;  // largest |got - want| / tolerance (pass: <= 1)
  std::string detail;
  std::string extra;  // more JSON fields of the case (",  \"key\": value")
  // got vs want (float64), tolerance tol; where() names the element.
  template <typename F>
  void Add(double got, double want, double tol, F where) {
    ++checked;
    const double r = got == want ? 0.0 : std::fabs(got - want) / tol;  // (equal infinities too)
    if (!(r <= 1.0) && pass) {
      pass = false;
      char buf[256];
      std::snprintf(buf, sizeof(buf), "%s: got %.9g, want %.9g (tolerance %.3g)", where().c_str(),
                    got, want, tol);
      detail = buf;
    }
    if (r > worst || std::isnan(r)) worst = std::isnan(r) ? INFINITY : r;
  }
};

// Sum of products with its error scale: a float32 accumulation of K terms is
// within ~eps32 * sqrt(K) * ||terms||_2 of the exact sum (random rounding);
// the tolerance gives 16x that, plus the output's own rounding.
struct Dot {
  double sum = 0, sq = 0;
  int64_t k = 0;
  void Add(double t) { sum += t, sq += t * t, ++k; }
  double Tol(bool half_out) const {
    return 16 * kEps32 * std::sqrt(static_cast<double>(std::max<int64_t>(k, 1))) * std::sqrt(sq) +
           (half_out ? kEps16 : 4 * kEps32) * std::fabs(sum) + 1e-30;
  }
};

class Bench {
 public:
  Bench(Device* dev, const Options& o) : dev_(dev), opt_(o) {}

  bool Init(std::string* why) {
    Status s;
    stream_ = dev_->CreateStream(&s);
    if (stream_) timer_ = dev_->CreateTimer(&s);
    if (!stream_ || !timer_) {
      *why = s.message;
      return false;
    }
    flush_bytes_ = opt_.quick ? (8ull << 20) : (256ull << 20);
    if (opt_.flush) {
      flush_ = dev_->Allocate(flush_bytes_);
      if (!flush_) opt_.flush = false;
    }
    return true;
  }
  ~Bench() {
    if (stream_) stream_->Synchronize();
    if (flush_) dev_->Free(flush_);
  }

  std::unique_ptr<Tensor> NewTensor(int64_t n, bool half, Rng& rng, float lo = -1, float hi = 1,
                                    bool fill = true) {
    auto t = std::make_unique<Tensor>();
    t->dev = dev_;
    t->n = n;
    t->half = half;
    // KB_PREALLOC_MB (experiments): before the first tensor, a buffer of
    // that many MiB allocated and kept (moves where the case's buffers land;
    // read here, not at start-up, so that a WithEnv case can set it).
    if (const char* e = std::getenv("KB_PREALLOC_MB"); e && !preallocated_) {
      dev_->Allocate(std::strtoull(e, nullptr, 10) << 20);
      preallocated_ = true;
    }
    // KB_STAGGER_KB=N (an experiment, docs/benchmarks.md "Slow processes"):
    // the k-th tensor starts (k % 8) * N KiB into its allocation, so that
    // equal-sized buffers do not sit a power of two apart.
    const char* stagger = std::getenv("KB_STAGGER_KB");
    const uint64_t offset = stagger ? (tensors_made_++ % 8) * (std::strtoull(stagger, nullptr, 10) << 10) : 0;
    t->base = dev_->Allocate(std::max<uint64_t>(t->bytes(), 4) + offset);
    if (!t->base) {
      oom_ = true;
      return t;
    }
    t->addr = t->base + offset;
    if (!fill) return t;
    t->host.resize(n);
    // KB_DATA (experiments, helper f16): "bits16": float16 inputs of random
    // finite bit patterns; "zero16": float16 zeros; "half32": float32 inputs
    // that are float16 values (low 13 mantissa bits zero).
    const char* data = std::getenv("KB_DATA");
    const std::string kind = data ? data : "";
    if (half) {
      std::vector<uint16_t> h(n);
      for (int64_t i = 0; i < n; ++i) {
        if (kind == "bits16") {
          h[i] = static_cast<uint16_t>(rng.Next() >> 48);
          if (((h[i] >> 10) & 0x1f) == 0x1f) h[i] &= 0xbfff;
        } else if (kind == "zero16") {
          h[i] = 0;
        } else {
          h[i] = FloatToHalf(rng.Uniform(lo, hi));
        }
        t->host[i] = HalfToFloat(h[i]);
      }
      stream_->CopyHostToDevice(t->addr, h.data(), t->bytes());
    } else {
      for (int64_t i = 0; i < n; ++i) {
        t->host[i] = rng.Uniform(lo, hi);
        if (kind == "half32") t->host[i] = HalfToFloat(FloatToHalf(t->host[i]));
      }
      stream_->CopyHostToDevice(t->addr, t->host.data(), t->bytes());
    }
    return t;
  }

  // Device values of t as floats.
  std::vector<float> Download(const Tensor& t) {
    std::vector<float> out(t.n);
    if (t.half) {
      std::vector<uint16_t> h(t.n);
      stream_->CopyDeviceToHost(h.data(), t.addr, t.bytes());
      stream_->Synchronize();
      for (int64_t i = 0; i < t.n; ++i) out[i] = HalfToFloat(h[i]);
    } else {
      stream_->CopyDeviceToHost(out.data(), t.addr, t.bytes());
      stream_->Synchronize();
    }
    if (opt_.perturb)
      for (float& v : out) v *= 1.01f;
    return out;
  }

  Stream* stream() { return stream_.get(); }
  const tfmp::rt::DeviceInfo& device_info() const { return dev_->info(); }
  bool oom() const { return oom_; }
  const Options& opt() const { return opt_; }
  // How many input sets alternate between runs: two if they fit in `budget`.
  int Sets(uint64_t input_bytes) const {
    if (const char* e = std::getenv("KB_SETS")) return std::max(1, std::atoi(e));  // experiments
    return input_bytes * 2 <= (opt_.quick ? (64ull << 20) : (2ull << 30)) ? 2 : 1;
  }

  // Times `record(run)`; returns sorted milliseconds.
  std::vector<double> Time(const std::function<void(int)>& record) {
    for (int i = 0; i < opt_.warmup; ++i) record(i);
    stream_->Synchronize();
    if (opt_.warmup_ms > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(opt_.warmup_ms);
           ++i) {
        record(i);
        if (i % 4 == 3) stream_->Synchronize();  // bounded queue, busy GPU
      }
      stream_->Synchronize();
    }
    // The timed runs, each between its own timer's timestamps, recorded back
    // to back so that the GPU never waits for the host between them (with
    // --sync-runs the host reads each run's time before recording the next).
    if (!RunTimers(opt_.sync_runs ? 1 : opt_.runs)) return {};
    std::vector<double> ms;
    for (int i = 0; i < opt_.runs; ++i) {
      Timer* t = run_timers_[opt_.sync_runs ? 0 : i].get();
      if (opt_.flush) stream_->Fill(flush_, 0x3f800000u + static_cast<uint32_t>(i), flush_bytes_);
      stream_->StartTimer(t);
      record(i);
      stream_->StopTimer(t);
      if (opt_.sync_runs) ms.push_back(t->Nanoseconds() / 1e6);
    }
    if (!opt_.sync_runs) return ReadRunTimers(opt_.runs);
    std::sort(ms.begin(), ms.end());
    return ms;
  }

  // Times `runs` runs of record(run) submitted one by one with the host
  // busy for `gap_us` microseconds after each (no L2 flush): what a training
  // step's small kernels see between TensorFlow's ops. Sorted milliseconds.
  std::vector<double> TimeWithGaps(const std::function<void(int)>& record, int runs, double gap_us) {
    for (int i = 0; i < opt_.warmup; ++i) record(i);
    stream_->Synchronize();
    if (!RunTimers(runs)) return {};
    for (int i = 0; i < runs; ++i) {
      stream_->StartTimer(run_timers_[i].get());
      record(i);
      stream_->StopTimer(run_timers_[i].get());
      const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(static_cast<int64_t>(gap_us * 1e3));
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    return ReadRunTimers(runs);
  }

  Timer* timer() { return timer_.get(); }

 private:
  // At least n timers in run_timers_ (false if the device cannot make one).
  bool RunTimers(int n) {
    while (static_cast<int>(run_timers_.size()) < n) {
      Status s;
      run_timers_.push_back(dev_->CreateTimer(&s));
      if (!run_timers_.back()) {
        run_timers_.pop_back();
        return false;
      }
    }
    return true;
  }
  // The first n run timers' times (waiting for them), sorted, in ms.
  std::vector<double> ReadRunTimers(int n) {
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) ms.push_back(run_timers_[i]->Nanoseconds() / 1e6);
    std::sort(ms.begin(), ms.end());
    return ms;
  }

  Device* dev_;
  Options opt_;
  std::unique_ptr<Stream> stream_;
  std::unique_ptr<Timer> timer_;
  std::vector<std::unique_ptr<Timer>> run_timers_;  // Time()'s, one per run
  uint64_t tensors_made_ = 0;  // KB_STAGGER_KB's count
  bool preallocated_ = false;  // KB_PREALLOC_MB done
  uint64_t flush_ = 0, flush_bytes_ = 0;
  bool oom_ = false;
};

// A benchmark case: `params` (a JSON object body) tells tools/bench_kernels.py
// how to build the PyTorch equivalent.
struct Case {
  std::string name, op, dtype, params;
  double flops = 0, bytes = 0;  // per run, for FLOP/s and bytes/s
  // Needs DeviceInfo::coopmat_f16 (1), through VK_NV_cooperative_matrix (2),
  // or DeviceInfo::coopmat2 (3): left out (with a note) where absent.
  int coopmat = 0;
  // Sets up, checks and times; fills the result fields.
  std::function<bool(Bench&, Check*, std::vector<double>*, std::string*)> run;
};

void Emit(const Case& c, const Check& chk, const std::vector<double>& ms, const std::string& error) {
  std::string line = "{\"name\": \"" + c.name + "\", \"op\": \"" + c.op + "\", \"dtype\": \"" +
                     c.dtype + "\", \"params\": {" + c.params + "}";
  char buf[512];
  if (!error.empty()) {
    line += ", \"error\": \"" + JsonEscape(error) + "\", \"check\": \"FAIL\"}";
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    return;
  }
  if (!ms.empty()) {
    const double med = ms.size() % 2 ? ms[ms.size() / 2]
                                     : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    std::snprintf(buf, sizeof(buf),
                  ", \"runs\": %zu, \"ms_median\": %.6f, \"ms_min\": %.6f, \"ms_max\": %.6f",
                  ms.size(), med, ms.front(), ms.back());
    line += buf;
    if (c.flops > 0) {
      std::snprintf(buf, sizeof(buf), ", \"flops\": %.6g, \"tflops\": %.4f", c.flops,
                    c.flops / (med * 1e-3) / 1e12);
      line += buf;
    }
    if (c.bytes > 0) {
      std::snprintf(buf, sizeof(buf), ", \"bytes\": %.6g, \"gbps\": %.3f", c.bytes,
                    c.bytes / (med * 1e-3) / 1e9);
      line += buf;
    }
  }
  std::snprintf(buf, sizeof(buf),
                ", \"check\": \"%s\", \"checked\": %lld, \"worst_err_over_tol\": %.4g",
                chk.pass ? "pass" : "FAIL", static_cast<long long>(chk.checked),
                std::isfinite(chk.worst) ? chk.worst : 1e30);
  line += buf;
  if (!chk.detail.empty()) line += ", \"check_detail\": \"" + JsonEscape(chk.detail) + "\"";
  line += chk.extra + "}";
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string I(int64_t v) { return std::to_string(v); }

// --- cases ------------------------------------------------------------------------

// A device-to-device copy of n bytes: the runtime's CopyDeviceToDevice (the
// copy_b32 shader for whole words, else vkCmdCopyBuffer), or that shader
// dispatched directly (unary.comp's copy_b32, four words per invocation).
Case CopyCase(int64_t bytes, bool shader) {
  Case c;
  c.name = std::string(shader ? "copy_shader_d2d_" : "copy_d2d_") + I(bytes >> 20) + "MiB";
  c.op = "copy";
  c.dtype = "f32";
  c.params = "\"n\": " + I(bytes / 4);
  c.bytes = 2.0 * bytes;
  c.run = [bytes, shader](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(1);
    const int64_t n = bytes / 4;
    const int sets = b.Sets(bytes);
    std::vector<std::unique_ptr<Tensor>> src;
    for (int s = 0; s < sets; ++s) src.push_back(b.NewTensor(n, false, rng));
    auto dst = b.NewTensor(n, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    auto record = [&](int s) {
      if (!shader) {
        b.stream()->CopyDeviceToDevice(dst->addr, src[s]->addr, bytes);
        return;
      }
      const bool vec = Aligned4(dst->addr, 4) && Aligned4(src[s]->addr, 4);
      UnaryPush p{src[s]->addr, dst->addr, static_cast<uint32_t>(n), 0.0f, vec ? 1u : 0u};
      b.stream()->Dispatch("copy_b32", &p, sizeof(p), VectorGrid(n, vec));
    };
    record(0);
    std::vector<float> got = b.Download(*dst);
    if (std::memcmp(got.data(), src[0]->host.data(), bytes) != 0)
      chk->Add(1, 0, 0.5, [&] { return std::string("copy differs"); });
    chk->checked = n;
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// The controls, timed in every case's process right after the case, 5 runs
// each, medians. On the H200 a process now and then runs a case 2.4-3.6x
// slower from its first run to its last, where the previous run had it at
// full speed; a control well below the run's others says the process was
// slow, not the kernel (tools/bench_kernels.py reruns such cases in a fresh
// process). Three controls tell which part of the GPU is slow:
//  control_copy_gbps    copy_b32, 64 MiB each way (4 MiB with --quick): HBM;
//  control_l2copy_gbps  copy_b32, 4 MiB each way, which the L2 holds: the
//                       L2 and the SMs' load/store path, not HBM;
//  control_gemm_tflops  a float32 GEMM 2048^3 (512^3 with --quick) with its
//                       operands in L2: bound by the SMs' clock.
double MedianOf5(Bench& b, const std::function<void()>& record) {
  record();
  std::vector<double> ns;
  for (int i = 0; i < 5; ++i) {
    b.stream()->StartTimer(b.timer());
    record();
    b.stream()->StopTimer(b.timer());
    ns.push_back(static_cast<double>(b.timer()->Nanoseconds()));
  }
  std::sort(ns.begin(), ns.end());
  return b.stream()->status().ok() ? ns[2] : 0;
}

double ControlCopyGbps(Bench& b, int64_t bytes) {
  const int64_t n = bytes / 4;
  Rng rng(3);
  auto src = b.NewTensor(n, false, rng, 0, 0, false);
  auto dst = b.NewTensor(n, false, rng, 0, 0, false);
  if (b.oom() || !b.stream()->status().ok()) return 0;
  UnaryPush p{src->addr, dst->addr, static_cast<uint32_t>(n), 0.0f, 1u};
  const double ns = MedianOf5(b, [&] { b.stream()->Dispatch("copy_b32", &p, sizeof(p), VectorGrid(n, true)); });
  return ns > 0 ? 8.0 * n / ns : 0;
}

double ControlGemmTflops(Bench& b) {
  const int64_t s = b.opt().quick ? 512 : 2048;
  Rng rng(4);
  auto A = b.NewTensor(s * s, false, rng), B = b.NewTensor(s * s, false, rng);
  auto C = b.NewTensor(s * s, false, rng, 0, 0, false);
  if (b.oom() || !b.stream()->status().ok()) return 0;
  tfmp::GemmProblem prob{s, s, s, s, 1, s, 1, A->addr, B->addr, C->addr, 1, s * s, s * s, s * s, 4u};
  // The default tile, one dispatch (no split-K).
  const tfmp::GemmPlan plan = tfmp::PlanGemm(prob, b.device_info().compute_units, "", false);
  tfmp::MatMulPush p = tfmp::GemmPush(prob, plan, 0, 0, 0.0f);
  const std::string kernel = std::string("matmul_") + plan.tile->name + "_f32";
  const double ns = MedianOf5(b, [&] { b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), plan.gx, plan.gy, 1); });
  return ns > 0 ? 2e-3 * s * s * s / ns : 0;
}

// Where operand b of a binary case broadcasts: nowhere (flat, same shape),
// along the rows (b [cols], a bias) or along the columns (b [rows, 1]).
enum class Bcast { kNone, kRow, kCol };

// z = a OP b (add or mul) on [rows, cols], float32 or float16; `offset`
// elements into every buffer (1: misaligned, the scalar path).
Case BinaryCase(const char* op, int64_t rows, int64_t cols, Bcast bc, bool half = false,
                int64_t offset = 0) {
  Case c;
  const int64_t n = rows * cols;
  const char* dt = half ? "f16" : "f32";
  const std::string prefix = bc == Bcast::kRow ? "bcast_" : bc == Bcast::kCol ? "bcast_col_" : "";
  c.name = prefix + op + "_" + dt + "_" +
           (bc == Bcast::kNone ? (n % (1 << 20) ? I(n) : I(n >> 20) + "M") : I(rows) + "x" + I(cols)) +
           (offset ? "_off" + I(offset) : "");
  c.op = prefix + op;
  c.dtype = dt;
  c.params = bc != Bcast::kNone ? "\"rows\": " + I(rows) + ", \"cols\": " + I(cols) : "\"n\": " + I(n);
  const int64_t nb = bc == Bcast::kRow ? cols : bc == Bcast::kCol ? rows : n;
  const int es = half ? 2 : 4;
  c.bytes = es * (2.0 * n + nb);
  const std::string opname = op;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(2);
    const int sets = b.Sets(es * (n + nb));
    std::vector<std::unique_ptr<Tensor>> A, B;
    for (int s = 0; s < sets; ++s) {
      A.push_back(b.NewTensor(n + offset, half, rng));
      B.push_back(b.NewTensor(nb + offset, half, rng));
    }
    auto z = b.NewTensor(n + offset, half, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    BinaryPush p{};
    p.n = static_cast<uint32_t>(n);
    if (bc != Bcast::kNone) {  // elementwise.cc Broadcast(): [rows, cols]
      p.rank = 2;
      p.shape[0] = static_cast<uint32_t>(rows);
      p.shape[1] = static_cast<uint32_t>(cols);
      p.a_stride[0] = static_cast<uint32_t>(cols);
      p.a_stride[1] = 1;
      p.b_stride[0] = bc == Bcast::kRow ? 0 : 1;
      p.b_stride[1] = bc == Bcast::kRow ? 1 : 0;
    } else {  // DispatchFlatBinary
      p.rank = 0;
      p.a_stride[0] = p.b_stride[0] = 1;
    }
    const std::string kernel = opname + "_" + dt;
    const uint32_t last = p.rank == 0 ? 0 : p.rank - 1;
    auto record = [&](int s) {
      p.a = A[s]->addr + offset * es;
      p.b = B[s]->addr + offset * es;
      p.z = z->addr + offset * es;
      auto fits = [&](uint64_t w) {
        auto al = [&](uint64_t a) { return a % (w * es) == 0; };
        return (p.rank == 0 || p.shape[last] % w == 0) && (!p.a_stride[last] || al(p.a)) &&
               (!p.b_stride[last] || al(p.b)) && al(p.z);
      };
      p.vec = half && fits(8) ? 2 : fits(4) ? 1 : 0;
      b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), VectorGrid(n, p.vec));
    };
    record(0);
    std::vector<float> got = b.Download(*z);
    const bool add = opname == "add";
    int64_t inexact = 0;  // float16: results other than the correctly rounded one
    for (int64_t i = 0; i < n; ++i) {
      const int64_t ib = bc == Bcast::kRow ? i % cols : bc == Bcast::kCol ? i / cols : i;
      const double x = A[0]->host[offset + i], y = B[0]->host[offset + ib];
      double want = add ? x + y : x * y;
      // float16 overflow (random bit patterns, KB_DATA=bits16): infinity.
      if (half && std::isinf(HalfToFloat(FloatToHalf(static_cast<float>(want)))))
        want = HalfToFloat(FloatToHalf(static_cast<float>(want)));
      const double tol = half ? kEps16 * std::fabs(want) + 6e-8 : kEps32 * std::fabs(want) + 1e-38;
      chk->Add(got[offset + i], want, tol, [&] { return std::string("element " + I(i)); });
      if (half && got[offset + i] != HalfToFloat(FloatToHalf(static_cast<float>(want)))) ++inexact;
    }
    if (half) chk->extra += ", \"f16_not_rne\": " + I(inexact);
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// y = relu(x), [n] float32 or float16 (unary.comp, elementwise.cc DispatchUnary).
Case UnaryCase(int64_t n, bool half) {
  Case c;
  const char* dt = half ? "f16" : "f32";
  c.name = std::string("relu_") + dt + "_" + I(n >> 20) + "M";
  c.op = "relu";
  c.dtype = dt;
  c.params = "\"n\": " + I(n);
  const int es = half ? 2 : 4;
  c.bytes = 2.0 * es * n;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(10);
    const int sets = b.Sets(es * n);
    std::vector<std::unique_ptr<Tensor>> X;
    // Speed experiments (helper f16): KB_KERNEL another kernel with unary.comp's
    // push constants (KB_PER elements per invocation for the grid), KB_ALPHA
    // its alpha as 32 bits (hex), KB_LO the inputs' lower bound, KB_COPY=1
    // checks y = x.
    const char* kk = std::getenv("KB_KERNEL");
    const float lo = std::getenv("KB_LO") ? std::atof(std::getenv("KB_LO")) : -1.0f;
    for (int s = 0; s < sets; ++s) X.push_back(b.NewTensor(n, half, rng, lo, 1));
    auto y = b.NewTensor(n, half, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    const std::string kernel = kk ? std::string(kk) : std::string("relu_") + dt;
    const int per = std::getenv("KB_PER") ? std::atoi(std::getenv("KB_PER")) : 0;
    float alpha = 0.0f;
    if (std::getenv("KB_ALPHA")) {
      const uint32_t bits = static_cast<uint32_t>(std::strtoul(std::getenv("KB_ALPHA"), nullptr, 16));
      std::memcpy(&alpha, &bits, 4);
    }
    const bool copy = std::getenv("KB_COPY") != nullptr;
    auto record = [&](int s) {
      auto fits = [&](uint64_t w) { return X[s]->addr % (w * es) == 0 && y->addr % (w * es) == 0; };
      const uint32_t vec = half && fits(8) ? 2 : fits(4) ? 1 : 0;
      UnaryPush p{X[s]->addr, y->addr, static_cast<uint32_t>(n), alpha, vec};
      b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p),
                           per > 0 ? GridFor((n + per - 1) / per) : VectorGrid(n, vec));
    };
    record(0);
    std::vector<float> got = b.Download(*y);
    int64_t inexact = 0;  // float16: results other than the exact one
    for (int64_t i = 0; i < n; ++i) {
      const double want = copy ? X[0]->host[i] : std::max(0.0f, X[0]->host[i]);
      chk->Add(got[i], want, 1e-30 + (half ? kEps16 : kEps32) * std::fabs(want), [&] { return std::string("element " + I(i)); });
      if (half && got[i] != static_cast<float>(want)) ++inexact;
    }
    if (half) chk->extra += ", \"f16_not_rne\": " + I(inexact);
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// Sum of x [outer, len, inner] over its middle dim, float32 or float16, through
// the passes kernels/reduction.cc records (kernels/reduce_plan.h): rows when
// inner = 1 ("rows": x [rows, cols] over axis 1), columns otherwise ("cols":
// x [rows, cols] over axis 0 when outer = 1; "mid" for [outer, len, inner]).
// `mul` (float32): the sum of x * y (y of x's shape) through the first
// pass's prologue, as _TfmpFusedReduction runs it ("reduce_sum_mul_...").
Case ReduceCase(int64_t outer, int64_t len, int64_t inner, bool half = false, int64_t min_rows = 0,
                bool mul = false) {
  Case c;
  const char* dt = half ? "f16" : "f32";
  const bool rows = inner == 1, cols = !rows && outer == 1;
  c.op = mul ? "reduce_sum_mul" : "reduce_sum";
  c.dtype = dt;
  if (rows) {
    c.name = std::string(mul ? "reduce_sum_mul_" : "reduce_sum_") + (outer == 1 ? "all_" : "rows_") + dt + "_" +
             (outer == 1 ? I(len >> 20) + "M" : I(outer) + "x" + I(len));
    c.params = "\"rows\": " + I(outer) + ", \"cols\": " + I(len) + ", \"axis\": 1";
  } else if (cols) {
    c.name = std::string(mul ? "reduce_sum_mul_cols_" : "reduce_sum_cols_") + dt + "_" + I(len) + "x" +
             I(inner) + (min_rows ? "@min_rows" + I(min_rows) : "");
    c.params = "\"rows\": " + I(len) + ", \"cols\": " + I(inner) + ", \"axis\": 0";
  } else {
    c.name = std::string("reduce_sum_mid_") + dt + "_" + I(outer) + "x" + I(len) + "x" + I(inner);
    c.params = "\"outer\": " + I(outer) + ", \"len\": " + I(len) + ", \"inner\": " + I(inner);
  }
  const int es = half ? 2 : 4;
  const int64_t n = outer * len * inner, n_out = outer * inner;
  c.bytes = es * static_cast<double>((mul ? 2 : 1) * n + n_out);
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(3);
    const int sets = b.Sets(es * n * (mul ? 2 : 1));
    std::vector<std::unique_ptr<Tensor>> X, Y;
    for (int s = 0; s < sets; ++s) X.push_back(b.NewTensor(n, half, rng));
    if (mul)
      for (int s = 0; s < sets; ++s) Y.push_back(b.NewTensor(n, half, rng));
    auto y = b.NewTensor(n_out, half, rng, 0, 0, false);
    // The passes (reduction.cc RecordPasses), partial results in float32.
    struct Pass {
      ReducePush p;
      uint32_t groups;
      std::string kernel;
    };
    std::vector<Pass> passes;
    std::vector<std::unique_ptr<Tensor>> temps;
    {
      int64_t o = outer, l = len, in = inner;
      bool first = true;
      uint64_t x = X[0]->addr;
      while (true) {
        Pass pass{};
        pass.p.divisor = static_cast<uint32_t>(len);
        const size_t elem = first && half ? 2 : 4;
        const uint64_t aligned = first && mul ? x | Y[0]->addr : x;  // as reduction.cc plans
        pass.groups = in == 1 ? tfmp::PlanRowsPass(o, l, aligned, elem, &pass.p)
                              : min_rows ? tfmp::PlanColumnsPass(o, l, in, aligned, elem, &pass.p, min_rows)
                                         : tfmp::PlanColumnsPass(o, l, in, aligned, elem, &pass.p);
        // Speed experiments: KB_RLANES (rows: lanes per job), KB_RCHUNK (rows:
        // elements per job, first pass), KB_CSLABS (columns: slabs, first pass);
        // loads in flight and strip widths: TFMP_REDUCE_LOADS / _COLUMNS (reduce_plan.h).
        auto env = [](const char* k) { const char* v = std::getenv(k); return v ? std::atoll(v) : 0ll; };
        if (in == 1 && first && env("KB_RCHUNK") > 0 && l > env("KB_RCHUNK")) {
          pass.p.chunk_len = static_cast<uint32_t>(env("KB_RCHUNK"));
          pass.p.chunks = static_cast<uint32_t>((l + env("KB_RCHUNK") - 1) / env("KB_RCHUNK"));
          pass.groups = tfmp::reduce_plan::Groups(tfmp::reduce_plan::CeilDiv(o * pass.p.chunks, 256 / pass.p.lanes));
        }
        if (in == 1 && env("KB_RLANES") > 0) {
          pass.p.lanes = static_cast<uint32_t>(env("KB_RLANES"));
          pass.groups = tfmp::reduce_plan::Groups(tfmp::reduce_plan::CeilDiv(o * pass.p.chunks, 256 / pass.p.lanes));
        }
        if (in != 1 && first && env("KB_CSLABS") > 0) {
          const int64_t slab = tfmp::reduce_plan::CeilDiv(l, env("KB_CSLABS"));
          pass.p.chunk_len = static_cast<uint32_t>(slab);
          pass.p.chunks = static_cast<uint32_t>(tfmp::reduce_plan::CeilDiv(l, slab));
          pass.groups = tfmp::reduce_plan::Groups(o * tfmp::reduce_plan::CeilDiv(in, tfmp::ColumnsWidth(pass.p)) * pass.p.chunks);
        }
        const bool last = pass.p.chunks == 1;
        pass.kernel = std::string("reduce_sum_") + (first && mul ? "mul_" : "") + (first ? dt : "f32") +
                      "_to_" + (last ? dt : "f32");
        passes.push_back(pass);
        if (last) break;
        temps.push_back(b.NewTensor(o * in * pass.p.chunks, false, rng, 0, 0, false));
        if (b.oom()) break;
        x = temps.back()->addr;
        l = pass.p.chunks;
        if (in != 1) in *= o, o = 1;
        first = false;
      }
    }
    if (b.oom()) return *err = "out of device memory", false;
    std::string plan;
    for (const Pass& pass : passes)
      plan += (plan.empty() ? "" : ", ") + std::string("\"mode ") + I(pass.p.mode) + " chunks " +
              I(pass.p.chunks) + " lanes " + I(pass.p.lanes) + " vec " + I(pass.p.vec) + " groups " +
              I(pass.groups) + "\"";
    chk->extra = ", \"passes\": [" + plan + "]";
    auto record = [&](int s) {
      for (size_t i = 0; i < passes.size(); ++i) {
        Pass& pass = passes[i];
        pass.p.x = i == 0 ? X[s]->addr : temps[i - 1]->addr;
        if (i == 0 && mul) pass.p.b = Y[s]->addr;  // b_len 0: y of x's shape
        pass.p.y = i + 1 == passes.size() ? y->addr : temps[i]->addr;
        b.stream()->Dispatch(pass.kernel.c_str(), &pass.p, sizeof(pass.p), pass.groups);
      }
    };
    record(0);
    std::vector<float> got = b.Download(*y);
    // Every output for small outputs, else 4096 spread over them.
    const int64_t step = std::max<int64_t>(1, n_out / 4096);
    for (int64_t j = 0; j < n_out; j += step) {
      const int64_t o = j / inner, i = j % inner;
      Dot d;
      for (int64_t r = 0; r < len; ++r) {
        const int64_t k = (o * len + r) * inner + i;
        // (float32 only: the product is the float product, as the kernel rounds it)
        d.Add(mul ? static_cast<double>(X[0]->host[k] * Y[0]->host[k]) : X[0]->host[k]);
      }
      chk->Add(got[j], d.sum, d.Tol(half), [&] { return std::string("output " + I(j)); });
    }
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// UnsortedSegmentSum of [rows, cols] float32 updates into `segments` rows
// (an embedding gradient): kernels/scatter.cc RecordScatter's passes (slots,
// sort, combining passes), with its plan (scatter_plan.h) or, `legacy`, the
// plan before it (bitonic sort, chunks of 256).
struct SlotsPush {  // kernels/scatter.cc
  uint64_t indices, keys;
  uint32_t n, depth;
  uint32_t dims[10];
};
struct SortPush {  // kernels/scan_sort.cc
  uint64_t x, keys, idx, values, indices;
  uint32_t rows, n, k, log_p;
  uint32_t size_lo, size_hi, size, stride;
  uint32_t global_pass, src, dst;
};

Case ScatterCase(int64_t rows, int64_t cols, int64_t segments, bool legacy) {
  Case c;
  c.op = "segment_sum";
  c.dtype = "f32";
  c.name = std::string("segment_sum_f32_") + I(rows) + "x" + I(cols) + "_to_" + I(segments) +
           (legacy ? "_legacy" : "");
  c.params = "\"rows\": " + I(rows) + ", \"cols\": " + I(cols) + ", \"segments\": " + I(segments);
  c.bytes = 4.0 * (rows * cols + segments * cols + rows);
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(5);
    auto upd = b.NewTensor(rows * cols, false, rng);
    auto y = b.NewTensor(segments * cols, false, rng, 0, 0, false);
    auto ids = b.NewTensor(rows, false, rng, 0, 0, false);
    std::vector<int32_t> host_ids(rows);
    for (int64_t r = 0; r < rows; ++r) host_ids[r] = static_cast<int32_t>(rng.Next() % segments);
    if (rows) b.stream()->CopyHostToDevice(ids->addr, host_ids.data(), rows * 4);
    const uint32_t log_p = [&] { uint32_t q = 0; while ((int64_t{1} << q) < rows) ++q; return q; }();
    const bool rank = !legacy && rows <= tfmp::kRankSortMax;
    const int64_t padded = rank ? rows : int64_t{1} << log_p;
    const int64_t chunk = legacy ? 256 : tfmp::ScatterChunk(rows, cols);
    const int64_t chunks = (rows + chunk - 1) / chunk;
    auto keys = b.NewTensor(rows, false, rng, 0, 0, false);
    auto skeys = b.NewTensor(padded, false, rng, 0, 0, false);
    auto sidx = b.NewTensor(padded, false, rng, 0, 0, false);
    auto head = b.NewTensor(chunks * cols, false, rng, 0, 0, false);
    auto tail = b.NewTensor(chunks * cols, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    chk->extra = ", \"plan\": \"" + std::string(rank ? "rank sort" : "bitonic") + ", chunk " + I(chunk) + "\"";
    auto record = [&](int) {
      b.stream()->Fill(y->addr, 0, segments * cols * 4);
      SlotsPush sp{};
      sp.indices = ids->addr, sp.keys = keys->addr, sp.n = static_cast<uint32_t>(rows), sp.depth = 1;
      sp.dims[0] = static_cast<uint32_t>(segments);
      b.stream()->Dispatch("scatter_nd_slots_i32", &sp, sizeof(sp), GridFor(rows));
      if (rank) {
        tfmp::RankSortPush r{keys->addr, skeys->addr, sidx->addr, static_cast<uint32_t>(rows), 0};
        b.stream()->Dispatch("rank_sort_u32", &r, sizeof(r), Ceil(rows, 64));
      } else {
        // scan_sort.cc RecordSort: local passes of 2048, global ones between.
        SortPush q{};
        q.x = keys->addr, q.keys = skeys->addr, q.idx = sidx->addr;
        q.rows = 1, q.n = static_cast<uint32_t>(rows), q.log_p = log_p;
        const uint32_t blocks = Ceil(padded, 2048);
        auto local = [&](uint32_t lo, uint32_t hi, uint32_t src) {
          q.global_pass = 0, q.size_lo = lo, q.size_hi = hi, q.src = src;
          b.stream()->Dispatch("sort_u32", &q, sizeof(q), blocks);
        };
        local(2, static_cast<uint32_t>(std::min<int64_t>(padded, 2048)), 0);
        for (int64_t size = 4096; size <= padded; size *= 2) {
          for (int64_t stride = size / 2; stride >= 2048; stride /= 2) {
            q.global_pass = 1, q.size = static_cast<uint32_t>(size), q.stride = static_cast<uint32_t>(stride);
            b.stream()->Dispatch("sort_u32", &q, sizeof(q), GridFor(padded / 2, 1024));
          }
          local(static_cast<uint32_t>(size), static_cast<uint32_t>(size), 1);
        }
      }
      tfmp::ScatterPush p{};
      p.keys = skeys->addr, p.idx = sidx->addr, p.updates = upd->addr, p.dst = y->addr;
      p.head = head->addr, p.tail = tail->addr;
      p.n = static_cast<uint32_t>(rows), p.cols = static_cast<uint32_t>(cols);
      p.chunk = static_cast<uint32_t>(chunk), p.chunks = static_cast<uint32_t>(chunks);
      const uint32_t groups = GridFor(chunks * cols, 64);
      b.stream()->Dispatch("scatter_nd_sum_f32", &p, sizeof(p), groups);
      if (chunks > 1) {
        p.mode = 1;
        b.stream()->Dispatch("scatter_nd_sum_f32", &p, sizeof(p), groups);
      }
    };
    record(0);
    std::vector<float> got = b.Download(*y);
    std::vector<Dot> want(segments * cols);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) want[host_ids[r] * cols + j].Add(upd->host[r * cols + j]);
    for (int64_t e = 0; e < segments * cols; ++e)
      chk->Add(got[e], want[e].sum, want[e].Tol(false), [&] { return "output " + I(e); });
    *ms = b.Time(record);
    return true;
  };
  return c;
}

Case SoftmaxCase(int64_t rows, int64_t cols, bool log = false) {
  Case c;
  const std::string op = log ? "log_softmax" : "softmax";
  c.name = op + "_f32_" + I(rows) + "x" + I(cols);
  c.op = op;
  c.dtype = "f32";
  c.params = "\"rows\": " + I(rows) + ", \"cols\": " + I(cols);
  c.bytes = 8.0 * rows * cols;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(4);
    const int sets = b.Sets(4 * rows * cols);
    std::vector<std::unique_ptr<Tensor>> X;
    for (int s = 0; s < sets; ++s) X.push_back(b.NewTensor(rows * cols, false, rng, -4, 4));
    auto y = b.NewTensor(rows * cols, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    tfmp::SoftmaxPush p{};
    p.rows = static_cast<uint32_t>(rows);
    p.cols = static_cast<uint32_t>(cols);
    uint32_t groups = 0;
    auto record = [&](int s) {
      p.x = X[s]->addr;
      p.y = y->addr;
      groups = tfmp::SoftmaxGeometry(&p, 4);
      const std::string kernel = op + (p.lanes == 0 ? "_small_f32" : "_f32");
      b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), groups);
    };
    record(0);
    chk->extra = ", \"lanes\": " + I(p.lanes) + ", \"vec\": " + I(p.vec) + ", \"groups\": " + I(groups);
    std::vector<float> got = b.Download(*y);
    // Every row for small inputs, else 256 rows spread over the tensor.
    const int64_t step = std::max<int64_t>(1, rows / 256);
    for (int64_t r = 0; r < rows; r += step) {
      const float* x = &X[0]->host[r * cols];
      double m = -INFINITY, s = 0;
      for (int64_t j = 0; j < cols; ++j) m = std::max<double>(m, x[j]);
      for (int64_t j = 0; j < cols; ++j) s += std::exp(x[j] - m);
      for (int64_t j = 0; j < cols; ++j) {
        const double want = log ? x[j] - m - std::log(s) : std::exp(x[j] - m) / s;
        const double tol = log ? 2e-6 * (std::fabs(want) + std::fabs(m) + 1) : 2e-5 * want + 1e-12;
        chk->Add(got[r * cols + j], want, tol, [&] { return std::string("row " + I(r) + " col " + I(j)); });
      }
    }
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// C[M, N] = A[M, K] x B[K, N], row-major; A stored [K, M] when ta, B stored
// [N, K] when tb. Dispatched as kernels/matmul.cc records it (matmul_config.h's
// plan; `config` is a TFMP_MATMUL_CONFIG spec, "" for the default choice,
// which TFMP_MATMUL_CONFIG overrides as in the plugin).
Case MatMulCase(int64_t M, int64_t N, int64_t K, bool half, bool ta = false, bool tb = false,
                const std::string& config = "", int64_t batch = 1) {
  Case c;
  const char* dt = half ? "f16" : "f32";
  c.name = std::string("matmul_") + dt + "_" + I(M) + "x" + I(N) + "x" + I(K) +
           (ta || tb ? std::string("_") + (ta ? "t" : "n") + (tb ? "t" : "n") : "") +
           (batch > 1 ? "_b" + I(batch) : "") + (config.empty() ? "" : "@" + config);
  c.op = "matmul";
  c.dtype = dt;
  c.params = "\"M\": " + I(M) + ", \"N\": " + I(N) + ", \"K\": " + I(K) +
             ", \"ta\": " + (ta ? "true" : "false") + ", \"tb\": " + (tb ? "true" : "false") +
             ", \"batch\": " + I(batch);
  c.flops = 2.0 * M * N * K * batch;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(5);
    const int es = half ? 2 : 4;
    const int sets = b.Sets(es * batch * (M * K + K * N));
    std::vector<std::unique_ptr<Tensor>> A, B;
    for (int s = 0; s < sets; ++s) {
      A.push_back(b.NewTensor(batch * M * K, half, rng));
      B.push_back(b.NewTensor(batch * K * N, half, rng));
    }
    auto C = b.NewTensor(batch * M * N, half, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    tfmp::GemmProblem prob{M, N, K, ta ? 1 : K, ta ? M : 1, tb ? 1 : N, tb ? K : 1,
                           A[0]->addr, B[0]->addr, C->addr, batch, M * K, K * N, M * N,
                           static_cast<uint32_t>(es)};
    const char* env = std::getenv("TFMP_MATMUL_CONFIG");
    const tfmp::GemmPlan plan = tfmp::PlanGemm(prob, b.device_info().compute_units,
                                               config.empty() ? env : config.c_str());
    char plan_json[160];
    std::snprintf(plan_json, sizeof(plan_json),
                  ", \"tile\": \"%s\", \"splits\": %u, \"flags\": %u", plan.tile->name, plan.splits,
                  plan.flags);
    chk->extra = plan_json;
    std::unique_ptr<Tensor> P;
    if (plan.splits > 1) {
      P = b.NewTensor(batch * M * N * plan.splits, false, rng, 0, 0, false);
      if (b.oom()) return *err = "out of device memory", false;
    }
    tfmp::MatMulPush p = tfmp::GemmPush(prob, plan, 0, 0, 0.2f);  // GemmEpilogue's alpha
    const std::string kernel = std::string("matmul_") + plan.tile->name + "_" + dt;
    const std::string reduce = std::string("matmul_reduce_") + dt;
    auto record = [&](int s) {
      p.a = A[s]->addr;
      p.b = B[s]->addr;
      p.c = plan.splits > 1 ? P->addr : C->addr;
      b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), plan.gx, plan.gy,
                           static_cast<uint32_t>(batch * plan.splits));
      if (plan.splits > 1) {
        tfmp::MatMulReducePush r{};
        r.p = P->addr;
        r.c = C->addr;
        r.mn = static_cast<uint32_t>(M * N);
        r.pmn = r.mn;
        r.n = static_cast<uint32_t>(N);
        r.batch = static_cast<uint32_t>(batch);
        r.splits = plan.splits;
        r.c_batch = static_cast<uint32_t>(M * N);
        r.alpha = 0.2f;
        b.stream()->Dispatch(reduce.c_str(), &r, sizeof(r), GridFor(batch * M * N));
      }
    };
    record(0);
    std::vector<float> got = b.Download(*C);
    int64_t z = 0;  // the batch entry checked
    auto a_at = [&](int64_t m, int64_t k) { return A[0]->host[z * M * K + (ta ? k * M + m : m * K + k)]; };
    auto b_at = [&](int64_t k, int64_t n) { return B[0]->host[z * K * N + (tb ? n * K + k : k * N + n)]; };
    Rng pick(6);
    const int64_t samples = std::min<int64_t>(M * N, 1024);
    for (int64_t t = 0; t < samples; ++t) {
      // The corners first (tile edges), then random elements.
      int64_t m, n;
      if (t < 4) m = t & 1 ? M - 1 : 0, n = t & 2 ? N - 1 : 0;
      else if (samples == M * N) m = t / N, n = t % N;
      else m = pick.Next() % M, n = pick.Next() % N;
      z = t % batch;
      Dot d;
      for (int64_t k = 0; k < K; ++k) d.Add(static_cast<double>(a_at(m, k)) * b_at(k, n));
      chk->Add(got[z * M * N + m * N + n], d.sum, d.Tol(half), [&] { return std::string("C[" + I(m) + ", " + I(n) + "]"); });
    }
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// float16 GEMMs on matrix units: shaders/matmul_coopmat.comp as kernels/matmul.cc's
// RecordCoopMatMul dispatches it (push constants: CoopMatPush; the default
// case's tile by PickCoopTile as matmul.cc; `tile` forces one of variants.py's
// COOPMAT_TILES, e.g. "_128x256_64x64", with its BM x BN). ta / tb: A stored
// [K, M] / B stored [N, K] (transposes); act: epilogue code (0 none, 1 Relu,
// 5 Tanh) with a bias vector; batch entries with their own strides.
bool g_coopmat_khr = false;  // DeviceInfo::coopmat_khr: the "matmul_coopmat_khr_" variants

// cm2: shaders/matmul_coopmat2.comp (VK_NV_cooperative_matrix2), named
// coopmat2_f16<tile>_*, the default tile by PickCoop2Tile.
Case CoopMatMulCase(int64_t M, int64_t N, int64_t K, bool ta, bool tb, uint32_t act,
                    int64_t batch = 1, const std::string& tile = "", uint32_t bm = 128,
                    uint32_t bn = 128, bool cm2 = false) {
  Case c;
  c.coopmat = cm2 ? 3 : tile.empty() ? 1 : 2;  // the tile configurations exist for NV only
  c.name = std::string(cm2 ? "coopmat2_f16" : "coopmat_f16") + tile + "_" + I(M) + "x" + I(N) + "x" + I(K) + (ta ? "_ta" : "") +
           (tb ? "_tb" : "") + (act ? "_bias_act" + I(act) : "") + (batch > 1 ? "_b" + I(batch) : "");
  c.op = "matmul";
  c.dtype = "f16";
  c.params = "\"M\": " + I(M) + ", \"N\": " + I(N) + ", \"K\": " + I(K) + ", \"transpose_a\": " +
             (ta ? "true" : "false") + ", \"transpose_b\": " + (tb ? "true" : "false") +
             ", \"act\": " + I(act) + ", \"batch\": " + I(batch);
  c.flops = 2.0 * M * N * K * batch;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(11);
    const int sets = b.Sets(2 * batch * (M * K + K * N));
    std::vector<std::unique_ptr<Tensor>> A, B;
    for (int s = 0; s < sets; ++s) {
      A.push_back(b.NewTensor(batch * M * K, true, rng));
      B.push_back(b.NewTensor(batch * K * N, true, rng));
    }
    auto C = b.NewTensor(batch * M * N, true, rng, 0, 0, false);
    auto bias = b.NewTensor(N, true, rng);
    if (b.oom()) return *err = "out of device memory", false;
    tfmp::CoopMatPush p{};
    p.M = static_cast<uint32_t>(M);
    p.N = static_cast<uint32_t>(N);
    p.K = static_cast<uint32_t>(K);
    // A[m, k] = a[m * a_m + k * a_k], B[k, n] = b[k * b_k + n * b_n] (matmul.cc's GemmShape).
    p.a_m = static_cast<uint32_t>(ta ? 1 : K);
    p.a_k = static_cast<uint32_t>(ta ? M : 1);
    p.b_k = static_cast<uint32_t>(tb ? 1 : N);
    p.b_n = static_cast<uint32_t>(tb ? K : 1);
    p.a_batch = static_cast<uint32_t>(M * K);
    p.b_batch = static_cast<uint32_t>(K * N);
    p.c_batch = static_cast<uint32_t>(M * N);
    p.bias = act ? bias->addr : 0;
    p.act = act;
    p.alpha = 0.2f;
    // The default case dispatches what kernels/matmul.cc does (PickCoopTile).
    const tfmp::CoopTile& chosen =
        cm2 ? tfmp::PickCoop2Tile(M, N, batch, b.device_info().compute_units)
            : tfmp::PickCoopTile(M, N, batch, b.device_info().compute_units, g_coopmat_khr);
    const std::string suffix = tile.empty() ? std::string(chosen.name) : tile;
    const uint32_t tbm = tile.empty() ? chosen.bm : bm, tbn = tile.empty() ? chosen.bn : bn;
    const std::string kernel = std::string(cm2 ? "matmul_coopmat2_f16_"
                                           : g_coopmat_khr ? "matmul_coopmat_khr_f16_" : "matmul_coopmat_f16_") +
                               (ta ? "t" : "n") + (tb ? "t" : "n") + suffix;
    auto record = [&](int s) {
      p.a = A[s]->addr;
      p.b = B[s]->addr;
      p.c = C->addr;
      b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), Ceil(N, tbn), Ceil(M, tbm),
                           static_cast<uint32_t>(batch));
    };
    record(0);
    std::vector<float> got = b.Download(*C);
    const std::vector<float>& a = A[0]->host;
    const std::vector<float>& bb = B[0]->host;
    Rng pick(12);
    const int64_t total = batch * M * N;
    const int64_t samples = std::min<int64_t>(total, 2048);
    for (int64_t t = 0; t < samples; ++t) {
      // Corners of the first and last batch entries first (tile edges), then random elements.
      int64_t z, m, n;
      if (t < 8) z = t & 4 ? batch - 1 : 0, m = t & 1 ? M - 1 : 0, n = t & 2 ? N - 1 : 0;
      else if (samples == total) z = t / (M * N), m = t / N % M, n = t % N;
      else z = pick.Next() % batch, m = pick.Next() % M, n = pick.Next() % N;
      Dot d;
      for (int64_t k = 0; k < K; ++k)
        d.Add(static_cast<double>(a[z * M * K + m * p.a_m + k * p.a_k]) *
              bb[z * K * N + k * p.b_k + n * p.b_n]);
      double want = d.sum, tol = d.Tol(true);
      if (act) {  // + bias, then the activation (1-Lipschitz: the tolerance carries over)
        want += bias->host[n];
        want = act == 1 ? std::max(want, 0.0) : std::tanh(want);
        tol += kEps16 * std::fabs(want) + kEps16 * std::fabs(bias->host[n]);
      }
      chk->Add(got[z * M * N + m * N + n], want, tol, [&] {
        return std::string("C[" + I(z) + ", " + I(m) + ", " + I(n) + "]");
      });
    }
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// The matrix units' ceiling through Vulkan (shaders/mma_peak.comp, no op):
// each unit (a subgroup of 16x16x16 products, 8 accumulators, 4 subgroups a
// workgroup; or a workgroup of 256 with one 128x256x32 product, the float16
// GEMM's wide tile) multiplies the same A and B from registers `iters` times
// with no memory traffic. 2048 workgroups: under 4% of a wave left over on
// 100+ SMs. A and B hold -1, 0 and 1, so every result i + iters * (A x B) is
// exact and checked exactly. No reference: compare with the GEMM cases.
Case MmaPeakCase(bool workgroup) {
  Case c;
  const int64_t mt = workgroup ? 128 : 16, nt = workgroup ? 256 : 16, kt = workgroup ? 32 : 16;
  const int64_t units = workgroup ? 2048 : 2048 * 4, accs = workgroup ? 1 : 8;
  const uint32_t iters = workgroup ? 64 : 512;
  c.name = std::string("mma_peak_f16_") + (workgroup ? "workgroup" : "subgroup");
  c.op = "mma_peak";
  c.dtype = "f16";
  c.coopmat = 3;  // compiled with the coopmat2 kernels (glslang 16)
  c.params = "\"MT\": " + I(mt) + ", \"NT\": " + I(nt) + ", \"KT\": " + I(kt) + ", \"units\": " +
             I(units) + ", \"accumulators\": " + I(accs) + ", \"iters\": " + I(iters);
  c.flops = 2.0 * mt * nt * kt * units * accs * iters;
  const std::string kernel = c.name;  // the variant's name (variants.py mma_peak_variants)
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(21);
    auto A = b.NewTensor(mt * kt, true, rng, 0, 0, false);
    auto B = b.NewTensor(kt * nt, true, rng, 0, 0, false);
    auto C = b.NewTensor(units * accs * mt * nt, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    for (Tensor* t : {A.get(), B.get()}) {
      std::vector<uint16_t> h(t->n);
      t->host.resize(t->n);
      for (int64_t i = 0; i < t->n; ++i) {
        t->host[i] = static_cast<float>(static_cast<int>(rng.Next() % 3) - 1);
        h[i] = FloatToHalf(t->host[i]);
      }
      b.stream()->CopyHostToDevice(t->addr, h.data(), t->bytes());
    }
    struct {
      uint64_t a, b, c;
      uint32_t iters;
    } p{A->addr, B->addr, C->addr, iters};
    auto record = [&] { b.stream()->Dispatch(kernel.c_str(), &p, sizeof(p), 2048, 1, 1); };
    record();
    std::vector<float> got = b.Download(*C);
    Rng pick(22);
    for (int t = 0; t < 4096; ++t) {
      const int64_t row = t < 2 ? (t ? units * accs * mt - 1 : 0) : pick.Next() % (units * accs * mt);
      const int64_t col = t < 2 ? (t ? nt - 1 : 0) : pick.Next() % nt;
      const int64_t i = row / mt % accs, r = row % mt;
      double dot = 0;
      for (int64_t k = 0; k < kt; ++k) dot += A->host[r * kt + k] * B->host[k * nt + col];
      chk->Add(got[row * nt + col], static_cast<double>(i) + iters * dot, 0.5,
               [&] { return "C[" + I(row) + ", " + I(col) + "]"; });
    }
    *ms = b.Time([&](int) { record(); });
    return true;
  };
  return c;
}

// A SAME 2-D convolution (TensorFlow's padding: the odd pixel at the end),
// NHWC activations, HWIO filter; mode
// "fwd", "bwd_input", "bwd_filter" or "bwd_filter_bias" (the filter gradient
// with the bias gradient of _TfmpConv2DBackpropFilterBiasGrad), launched as
// kernels/conv.cc does (kernels/conv_plan.h; TFMP_CONV_TILE, TFMP_CONV_SPLITS
// and TFMP_CONV_VEC override its choices there and here).
struct ConvShape {
  const char* tag;
  int64_t n, h, w, ci, co, k;
  bool filter_only = false;  // just the filter gradient (a shape for its K split)
  int64_t stride = 1;
};

Case ConvCase(const ConvShape& s, const std::string& mode) {
  Case c;
  c.name = "conv2d_" + mode + "_f32_" + s.tag;
  c.op = "conv2d_" + mode;
  c.dtype = "f32";
  const int64_t st = s.stride, oh = (s.h + st - 1) / st, ow = (s.w + st - 1) / st;
  const int64_t pad_h = std::max<int64_t>((oh - 1) * st + s.k - s.h, 0) / 2,
                pad_w = std::max<int64_t>((ow - 1) * st + s.k - s.w, 0) / 2;
  // "pad": PyTorch's symmetric padding giving the same output size (timing
  // reference); "pad_top": TensorFlow's leading padding (what runs here).
  c.params = "\"n\": " + I(s.n) + ", \"h\": " + I(s.h) + ", \"w\": " + I(s.w) + ", \"ci\": " +
             I(s.ci) + ", \"co\": " + I(s.co) + ", \"k\": " + I(s.k) + ", \"stride\": " + I(st) +
             ", \"pad\": " + I((s.k - 1) / 2) + ", \"pad_top\": " + I(pad_h) + ", \"oh\": " + I(oh) +
             ", \"ow\": " + I(ow);
  c.flops = 2.0 * s.n * oh * ow * s.co * s.k * s.k * s.ci;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(7);
    const int64_t nx = s.n * s.h * s.w * s.ci, ny = s.n * oh * ow * s.co,
                  nw = s.k * s.k * s.ci * s.co;
    // Inputs of this mode: fwd (x, w) -> y; bwd_input (dy, w) -> dx; bwd_filter (x, dy) -> dw.
    const bool fwd = mode == "fwd", bin = mode == "bwd_input", with_db = mode == "bwd_filter_bias";
    const int64_t n0 = fwd || !bin ? nx : ny, n1 = fwd || bin ? nw : ny;
    const int64_t nout = fwd ? ny : bin ? nx : nw;
    const int sets = b.Sets(4 * (n0 + n1));
    std::vector<std::unique_ptr<Tensor>> I0, I1;
    for (int t = 0; t < sets; ++t) {
      I0.push_back(b.NewTensor(n0, false, rng));
      I1.push_back(b.NewTensor(n1, false, rng));
    }
    auto out = b.NewTensor(nout, false, rng, 0, 0, false);
    auto db = b.NewTensor(with_db ? s.co : 1, false, rng, 0, 0, false);
    tfmp::ConvPush p{};
    for (int i = 0; i < 3; ++i) p.in[i] = p.out[i] = p.k[i] = 1, p.stride_dil[i] = 1 | 1 << 16;
    p.in[1] = static_cast<uint32_t>(s.h);
    p.in[2] = static_cast<uint32_t>(s.w);
    p.out[1] = static_cast<uint32_t>(oh);
    p.out[2] = static_cast<uint32_t>(ow);
    p.stride_dil[1] = p.stride_dil[2] = static_cast<uint32_t>(st) | 1 << 16;
    p.k[1] = p.k[2] = static_cast<uint32_t>(s.k);
    p.pad[1] = static_cast<int32_t>(pad_h);
    p.pad[2] = static_cast<int32_t>(pad_w);
    p.in_c = static_cast<uint32_t>(s.ci);
    p.out_c = static_cast<uint32_t>(s.co);
    tfmp::ConvMode cmode;
    if (fwd) {
      cmode = tfmp::ConvMode::kFwd;
      p.M = static_cast<uint32_t>(s.n * oh * ow);
      p.K = static_cast<uint32_t>(s.k * s.k * s.ci);
    } else if (bin) {
      cmode = tfmp::ConvMode::kBwdInput;
      p.M = static_cast<uint32_t>(s.n * s.h * s.w);
      p.K = static_cast<uint32_t>(s.k * s.k * s.co);
    } else {
      cmode = tfmp::ConvMode::kBwdFilter;
      p.M = static_cast<uint32_t>(s.k * s.k * s.ci);
      p.K = static_cast<uint32_t>(s.n * oh * ow);
    }
    // conv.cc RunConv (device allocations are 256-byte aligned).
    const tfmp::ConvPlan plan = tfmp::PlanConv(cmode, 2, "f32", true, &p, b.device_info().compute_units);
    if (!plan.error.empty()) return *err = plan.error, false;
    std::vector<std::unique_ptr<Tensor>> scratch;
    std::vector<uint64_t> scratch_addr;
    for (uint64_t bytes : tfmp::ConvScratch(cmode, plan, p, with_db)) {
      scratch.push_back(b.NewTensor(static_cast<int64_t>(bytes / 4), false, rng, 0, 0, false));
      scratch_addr.push_back(scratch.back()->addr);
    }
    if (b.oom()) return *err = "out of device memory", false;
    char info[240];
    const bool wino = plan.winograd;
    std::snprintf(info, sizeof(info),
                  ", \"kernel\": \"%s\", \"grid\": [%u, %u, %u], \"splits\": %u, \"winograd\": %s",
                  plan.kernel.c_str(), plan.gx, plan.gy, plan.gz,
                  wino && cmode == tfmp::ConvMode::kBwdFilter ? plan.wgrad_splits : plan.splits,
                  wino ? "true" : "false");
    chk->extra = info;
    auto record = [&](int t) {
      p.a = I0[t]->addr;
      p.b = I1[t]->addr;
      for (const tfmp::ConvLaunch& l : tfmp::ConvLaunches(cmode, plan, p, out->addr,
                                                          with_db ? db->addr : 0, scratch_addr, "f32")) {
        if (l.sum)
          b.stream()->Dispatch(l.kernel.c_str(), &l.sum_push, sizeof(l.sum_push), l.gx, l.gy, l.gz);
        else
          b.stream()->Dispatch(l.kernel.c_str(), &l.push, sizeof(l.push), l.gx, l.gy, l.gz);
      }
    };
    record(0);
    std::vector<float> got = b.Download(*out);
    const std::vector<float>& A = I0[0]->host;
    const std::vector<float>& B = I1[0]->host;
    auto X = [&](const std::vector<float>& v, int64_t n, int64_t y, int64_t x, int64_t ch,
                 int64_t C) { return static_cast<double>(v[((n * s.h + y) * s.w + x) * C + ch]); };
    auto DY = [&](const std::vector<float>& v, int64_t n, int64_t y, int64_t x, int64_t ch) {
      return static_cast<double>(v[((n * oh + y) * ow + x) * s.co + ch]);
    };
    auto W = [&](int64_t ky, int64_t kx, int64_t i, int64_t o) {
      return static_cast<double>(
          B[((ky * s.k + kx) * s.ci + i) * s.co + o]);
    };
    Rng pick(8);
    const int64_t samples = std::min<int64_t>(nout, fwd || bin ? 1024 : 96);
    for (int64_t t = 0; t < samples; ++t) {
      // The first and last elements (tile edges), then random ones.
      const int64_t idx = samples == nout ? t
                          : t < 2         ? (t ? nout - 1 : 0)
                                          : static_cast<int64_t>(pick.Next() % nout);
      Dot d;
      if (fwd) {  // y[n, y, x, o] = sum x[n, y * st + ky - pad, x * st + kx - pad, i] * w[ky, kx, i, o]
        const int64_t o = idx % s.co, xx = idx / s.co % ow, yy = idx / s.co / ow % oh,
                      n = idx / s.co / ow / oh;
        for (int64_t ky = 0; ky < s.k; ++ky)
          for (int64_t kx = 0; kx < s.k; ++kx) {
            const int64_t iy = yy * st + ky - pad_h, ix = xx * st + kx - pad_w;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            for (int64_t i = 0; i < s.ci; ++i) d.Add(X(A, n, iy, ix, i, s.ci) * W(ky, kx, i, o));
          }
      } else if (bin) {  // dx[n, y, x, i] = sum dy[n, y - ky + pad, x - kx + pad, o] * w[ky, kx, i, o]
        const int64_t i = idx % s.ci, xx = idx / s.ci % s.w, yy = idx / s.ci / s.w % s.h,
                      n = idx / s.ci / s.w / s.h;
        for (int64_t ky = 0; ky < s.k; ++ky)
          for (int64_t kx = 0; kx < s.k; ++kx) {
            const int64_t ty = yy - ky + pad_h, tx = xx - kx + pad_w;
            if (ty < 0 || tx < 0 || ty % st != 0 || tx % st != 0) continue;
            const int64_t oy = ty / st, ox = tx / st;
            if (oy >= oh || ox >= ow) continue;
            for (int64_t o = 0; o < s.co; ++o) d.Add(DY(A, n, oy, ox, o) * W(ky, kx, i, o));
          }
      } else {  // dw[ky, kx, i, o] = sum x[n, y + ky - pad, x + kx - pad, i] * dy[n, y, x, o]
        const int64_t o = idx % s.co, i = idx / s.co % s.ci, kx = idx / s.co / s.ci % s.k,
                      ky = idx / s.co / s.ci / s.k;
        for (int64_t n = 0; n < s.n; ++n)
          for (int64_t yy = 0; yy < oh; ++yy)
            for (int64_t xx = 0; xx < ow; ++xx) {
              const int64_t iy = yy * st + ky - pad_h, ix = xx * st + kx - pad_w;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              d.Add(X(A, n, iy, ix, i, s.ci) * DY(B, n, yy, xx, o));
            }
      }
      chk->Add(got[idx], d.sum, d.Tol(false), [&] { return std::string("output element " + I(idx)); });
    }
    if (with_db) {  // db[o] = sum dy[n, y, x, o], every channel
      std::vector<float> got_db = b.Download(*db);
      for (int64_t o = 0; o < s.co; ++o) {
        Dot d;
        for (int64_t r = 0; r < s.n * oh * ow; ++r) d.Add(B[r * s.co + o]);
        chk->Add(got_db[o], d.sum, d.Tol(false), [&] { return std::string("bias gradient " + I(o)); });
      }
    }
    *ms = b.Time([&](int t) { record(t % sets); });
    return true;
  };
  return c;
}

// A small kernel with the host idle between runs (Bench::TimeWithGaps): the
// row sums of [2048, 128] float32 (the Transformer's most frequent kernel:
// 2048 tokens, width 128), one submission per run, `gap_us` of host time
// after each, 400 runs. Named idle_gaps_<gap>us; a GPU that lowers its
// clocks while it idles runs the same kernel slower with longer gaps.
Case GapCase(int gap_us) {
  Case c;
  const int64_t rows = 2048, cols = 128;
  c.name = "idle_gaps_" + I(gap_us) + "us";
  c.op = "reduce_sum";
  c.dtype = "f32";
  c.params = "\"rows\": " + I(rows) + ", \"cols\": " + I(cols) + ", \"axis\": 1, \"gap_us\": " + I(gap_us);
  c.bytes = 4.0 * (rows * cols + rows);
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(5);
    auto x = b.NewTensor(rows * cols, false, rng);
    auto y = b.NewTensor(rows, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    ReducePush p{};
    p.divisor = static_cast<uint32_t>(cols);
    const uint32_t groups = tfmp::PlanRowsPass(rows, cols, x->addr, 4, &p);
    if (p.chunks != 1) return *err = "expected one rows pass", false;
    p.x = x->addr;
    p.y = y->addr;
    auto record = [&](int) { b.stream()->Dispatch("reduce_sum_f32_to_f32", &p, sizeof(p), groups); };
    record(0);
    std::vector<float> got = b.Download(*y);
    for (int64_t r = 0; r < rows; ++r) {
      Dot d;
      for (int64_t k = 0; k < cols; ++k) d.Add(x->host[r * cols + k]);
      chk->Add(got[r], d.sum, d.Tol(false), [&] { return std::string("row " + I(r)); });
    }
    *ms = b.TimeWithGaps(record, 400, gap_us);
    return true;
  };
  return c;
}

// Host cost of recording one dispatch, and the GPU time per dispatch in a
// batch, over `count` tiny dispatches (add_f32 on 256 floats):
//   dispatch_overhead              x += 1, declaring nothing (a full barrier
//                                  before each: the runtime's safe default)
//   dispatch_overhead_declared     x += 1, declaring x read+written: the same
//                                  barriers, plus the cost of tracking ranges
//   dispatch_overhead_independent  z_i = x + 1 into `count` distinct slices,
//                                  declared: no barrier between them
Case OverheadCase(int count, const std::string& mode) {
  Case c;
  c.name = mode.empty() ? "dispatch_overhead" : "dispatch_overhead_" + mode;
  c.op = "overhead";
  c.dtype = "f32";
  c.params = "\"count\": " + I(count);
  c.run = [count, mode](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(9);
    const bool independent = mode == "independent", declared = !mode.empty();
    auto x = b.NewTensor(256, false, rng);
    auto one = b.NewTensor(1, false, rng);
    std::unique_ptr<Tensor> z;
    if (independent) z = b.NewTensor(256 * static_cast<int64_t>(count), false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    const float v = 1.0f;
    b.stream()->CopyHostToDevice(one->addr, &v, 4);
    BinaryPush p{};
    p.a = x->addr;
    p.b = one->addr;
    p.z = x->addr;
    p.n = 256;
    p.a_stride[0] = 1;
    p.b_stride[0] = 0;
    tfmp::rt::MemRange reads[2] = {{x->addr, x->addr + 1024}, {one->addr, one->addr + 4}};
    tfmp::rt::MemRange writes[1] = {{x->addr, x->addr + 1024}};
    tfmp::rt::MemAccess access;
    access.reads = reads;
    access.num_reads = 2;
    access.writes = writes;
    access.num_writes = 1;
    auto record = [&](int i) {
      if (independent) {
        p.z = z->addr + 1024ull * i;
        writes[0] = {p.z, p.z + 1024};
      }
      b.stream()->Dispatch("add_f32", &p, sizeof(p), 1, 1, 1, declared ? &access : nullptr);
    };
    record(0);  // pipeline created
    b.stream()->Synchronize();
    std::vector<double> host_us;
    const int rounds = std::max(3, b.opt().runs / 3);
    const uint64_t barriers0 = tfmp::GlobalStats().barriers;
    for (int r = 0; r < rounds; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < count; ++i) record(i);
      auto t1 = std::chrono::steady_clock::now();
      b.stream()->Synchronize();
      host_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / count);
    }
    const double barriers_per_dispatch =
        static_cast<double>(tfmp::GlobalStats().barriers - barriers0) / (rounds * count);
    std::sort(host_us.begin(), host_us.end());
    // GPU time of the same batch (timestamps around it), per dispatch.
    b.stream()->StartTimer(b.timer());
    for (int i = 0; i < count; ++i) record(i);
    b.stream()->StopTimer(b.timer());
    const double gpu_us = b.timer()->Nanoseconds() / 1e3 / count;
    if (independent) {
      std::vector<float> got = b.Download(*z);
      for (int64_t i = 0; i < 256 * static_cast<int64_t>(count); i += 97)
        chk->Add(got[i], x->host[i % 256] + 1.0, 1e-6 + 1e-6 * std::fabs(x->host[i % 256]),
                 [&] { return std::string("element " + I(i)); });
    } else {
      std::vector<float> got = b.Download(*x);
      const double adds = 1.0 + static_cast<double>(rounds + 1) * count;
      for (int i = 0; i < 256; ++i)
        chk->Add(got[i], x->host[i] + adds, 1e-3 * std::fabs(x->host[i] + adds),
                 [&] { return std::string("element " + I(i)); });
    }
    char buf[320];
    std::snprintf(buf, sizeof(buf),
                  ", \"runs\": %zu, \"host_us_per_dispatch\": %.4f, \"host_us_min\": %.4f, "
                  "\"host_us_max\": %.4f, \"gpu_us_per_dispatch\": %.4f, "
                  "\"barriers_per_dispatch\": %.4f",
                  host_us.size(), host_us[host_us.size() / 2], host_us.front(), host_us.back(),
                  gpu_us, barriers_per_dispatch);
    chk->extra = buf;
    return true;
  };
  return c;
}

// --- fused kernels (kernels/fused_elementwise.cc, kernels/fused_update.cc) --------

struct FusedPush {  // kernels/fused_elementwise.cc
  uint64_t x[8];
  uint64_t z, params;
  uint32_t n, rank, zero;
};

// Gelu (erf form) of x + b, x and b [n]: one _TfmpFusedElementwise dispatch
// (the program as specialization constants), or ("unfused") the six
// standalone kernels the unfused graph runs (add, mul, erf, add, mul, mul).
Case GeluCase(int64_t n, bool fused) {
  Case c;
  c.name = std::string(fused ? "fused" : "unfused") + "_gelu_f32_" + I(n >> 20) + "M";
  c.op = fused ? "fused_gelu" : "unfused_gelu";
  c.dtype = "f32";
  c.params = "\"n\": " + I(n);
  c.bytes = 4.0 * 3 * n;  // what one pass must move
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(11);
    const int sets = b.Sets(8 * n);
    std::vector<std::unique_ptr<Tensor>> X, B;
    for (int s = 0; s < sets; ++s) {
      X.push_back(b.NewTensor(n, false, rng, -3, 3));
      B.push_back(b.NewTensor(n, false, rng));
    }
    auto z = b.NewTensor(n, false, rng, 0, 0, false);
    std::vector<std::unique_ptr<Tensor>> tmp;
    for (int k = 0; k < (fused ? 0 : 2); ++k) tmp.push_back(b.NewTensor(n, false, rng, 0, 0, false));
    auto consts = b.NewTensor(3, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    const float kv[3] = {0.70710678f, 1.0f, 0.5f};
    b.stream()->CopyHostToDevice(consts->addr, kv, sizeof(kv));
    // ops: load 0, const 1, erf 14, add 25, mul 27 (fused_elementwise.cc kFusedOps)
    auto ins = [](uint32_t op, uint32_t dst, uint32_t a, uint32_t bb) {
      return op | dst << 8 | a << 16 | bb << 24;
    };
    const std::vector<uint32_t> prog = {ins(0, 0, 0, 0),  ins(0, 1, 1, 0),  ins(25, 2, 0, 1),
                                        ins(1, 3, 0, 0),  ins(27, 4, 2, 3),  ins(14, 5, 4, 0),
                                        ins(1, 6, 1, 0),  ins(25, 7, 5, 6),  ins(1, 8, 2, 0),
                                        ins(27, 9, 2, 8), ins(27, 10, 9, 7)};
    std::vector<uint32_t> spec(3 + 64 + 16, 0);
    spec[0] = static_cast<uint32_t>(prog.size());
    spec[1] = 10;
    std::copy(prog.begin(), prog.end(), spec.begin() + 3);
    for (int k = 0; k < 3; ++k) std::memcpy(&spec[67 + k], &kv[k], 4);
    auto binary = [&](const char* k, uint64_t a, uint64_t bb, bool scalar, uint64_t out) {
      BinaryPush p{};
      p.a = a, p.b = bb, p.z = out, p.n = static_cast<uint32_t>(n);
      p.a_stride[0] = 1, p.b_stride[0] = scalar ? 0 : 1;
      b.stream()->Dispatch(k, &p, sizeof(p), GridFor(n));
    };
    auto record = [&](int s) {
      if (fused) {
        FusedPush p{};
        p.x[0] = X[s]->addr;
        p.x[1] = B[s]->addr;
        for (int k = 2; k < 8; ++k) p.x[k] = X[s]->addr;
        p.z = z->addr;
        p.n = static_cast<uint32_t>(n);
        b.stream()->DispatchSpecialized("fused_elementwise_f32_p16", spec.data(),
                                        static_cast<uint32_t>(spec.size()), &p, sizeof(p), GridFor(n));
        return;
      }
      const uint64_t h = tmp[0]->addr, u = tmp[1]->addr;
      binary("add_f32", X[s]->addr, B[s]->addr, false, h);     // h = x + b
      binary("mul_f32", h, consts->addr, true, u);              // u = h * c
      UnaryPush up{u, u, static_cast<uint32_t>(n), 0.0f};
      b.stream()->Dispatch("erf_f32", &up, sizeof(up), GridFor(n));  // u = erf(u)
      binary("add_f32", u, consts->addr + 4, true, u);          // u = u + 1
      binary("mul_f32", h, consts->addr + 8, true, z->addr);    // z = h * 0.5
      binary("mul_f32", z->addr, u, false, z->addr);            // z = z * u
    };
    record(0);
    std::vector<float> got = b.Download(*z);
    for (int64_t i = 0; i < n; ++i) {
      const double h = static_cast<float>(X[0]->host[i] + B[0]->host[i]);
      const double want = h * 0.5 * (1.0 + std::erf(h * 0.70710678));
      chk->Add(got[i], want, 8 * kEps32 * std::fabs(h) + 1e-30, [&] { return std::string("element " + I(i)); });
    }
    *ms = b.Time([&](int i) { record(i % sets); });
    return true;
  };
  return c;
}

// |x| of complex64 x [n] (ComplexAbs, kernels/complex.cc): real and imaginary
// parts over 2^-60 .. 2^60, checked against float64 hypot at the test suite's
// rtol 1e-6 (tests/test_fft_linalg.py, which the H100 failed by a hair).
Case ComplexAbsCase(int64_t n) {
  Case c;
  c.name = "complex_abs_c64_" + I(n);
  c.op = "complex_abs";
  c.dtype = "c64";
  c.params = "\"n\": " + I(n);
  c.bytes = 12.0 * n;
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(13);
    std::vector<float> x(2 * n);
    for (int64_t i = 0; i < 2 * n; ++i)
      x[i] = rng.Uniform(-1, 1) * std::ldexp(1.0f, static_cast<int>(rng.Uniform(-60, 60)));
    if (n > 4) x[0] = 3e38f, x[1] = 3e38f, x[2] = 1e-30f, x[3] = -1e-30f, x[4] = 0.0f, x[5] = -0.0f;
    auto xt = b.NewTensor(2 * n, false, rng, 0, 0, false);
    auto z = b.NewTensor(n, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    b.stream()->CopyHostToDevice(xt->addr, x.data(), 8 * n);
    UnaryPush p{xt->addr, z->addr, static_cast<uint32_t>(n), 0.0f};
    auto record = [&]() { b.stream()->Dispatch("complex_abs_c64", &p, sizeof(p), GridFor(n)); };
    record();
    std::vector<float> got = b.Download(*z);
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::hypot(static_cast<double>(x[2 * i]), static_cast<double>(x[2 * i + 1]));
      const double w = want > 3.4028234663852886e38 ? INFINITY : want;
      if (std::isinf(w)) {
        chk->Add(std::isinf(got[i]) ? 0.0 : 1.0, 0.0, 0.5, [&] { return std::string("element " + I(i)); });
        continue;
      }
      chk->Add(got[i], w, 1e-6 * w + 1e-45, [&] { return std::string("element " + I(i)); });
    }
    *ms = b.Time([&](int) { record(); });
    return true;
  };
  return c;
}

// One Adam step (m, v, var of each variable, lr-scaled alpha a scalar) over
// an MLP's variables (784x512, 512, 512x512, 512, 512x10, 10): the
// multi-tensor _TfmpFusedUpdate as specialized ("spec": fused_update_spec,
// one workgroup per chunk) or interpreted ("interp": fused_update, a binary
// search per element), or ("unfused") 12 standalone kernels per variable.
Case AdamCase(const std::string& mode, int64_t scale) {
  Case c;
  c.name = "adam_" + mode + "_f32_mlp" + (scale != 1 ? "x" + I(scale) : std::string());
  c.op = "adam_" + mode;
  c.dtype = "f32";
  // scale 0 (--quick): small odd sizes
  const std::vector<int64_t> sizes =
      scale ? std::vector<int64_t>{784 * 512 * scale, 512, 512 * 512 * scale, 512, 5120, 10}
            : std::vector<int64_t>{5000, 512, 2049, 1, 1025, 10};
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  c.params = "\"elements\": " + I(total) + ", \"sizes\": [";
  for (size_t k = 0; k < sizes.size(); ++k) c.params += (k ? ", " : "") + I(sizes[k]);
  c.params += "]";
  c.bytes = 4.0 * 7 * total;  // read var, m, v, g; write var, m, v
  c.run = [=](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    Rng rng(12);
    const int nv = static_cast<int>(sizes.size());
    std::vector<std::unique_ptr<Tensor>> var, m, v, g, t1, t2;
    for (int64_t n : sizes) {
      var.push_back(b.NewTensor(n, false, rng));
      m.push_back(b.NewTensor(n, false, rng, -0.1f, 0.1f));
      v.push_back(b.NewTensor(n, false, rng, 0.0f, 0.01f));
      g.push_back(b.NewTensor(n, false, rng));
      if (mode == "unfused") {
        t1.push_back(b.NewTensor(n, false, rng, 0, 0, false));
        t2.push_back(b.NewTensor(n, false, rng, 0, 0, false));
      }
    }
    auto scalars = b.NewTensor(4, false, rng, 0, 0, false);
    if (b.oom()) return *err = "out of device memory", false;
    const float alpha = 1e-3f, c0 = 0.1f, c1 = 0.001f, eps = 1e-7f;
    const float sv[4] = {alpha, c0, c1, eps};
    b.stream()->CopyHostToDevice(scalars->addr, sv, sizeof(sv));
    // Slots: 0 var, 1 m, 2 v, 3 g, 4 alpha; constants c0, c1, eps.
    const std::vector<int64_t> prog = {
        0, 0, 65, 0,   4, 1, 67, 0,   5, 2, 1, 128,  3, 3, 0, 2,    2, 0, 1, 3,
        0, 4, 66, 0,   12, 5, 67, 0,  4, 6, 5, 4,    5, 7, 6, 129,  3, 8, 4, 7,  2, 0, 2, 8,
        10, 9, 8, 0,   3, 10, 9, 130, 5, 11, 3, 68,  6, 12, 11, 10, 0, 13, 64, 0,
        4, 14, 13, 12, 2, 0, 0, 14};
    const std::vector<uint32_t> cbits = {0x3dcccccdu, 0x3a83126fu, 0x33d6bf95u};  // 0.1, 0.001, 1e-7
    const int slots = 5;
    std::vector<uint32_t> table;
    std::vector<uint32_t> spec(5 + 64 + 32 + 1, 0);  // fused_update.cc kSpecCount
    spec.back() = slots;
    uint32_t gx = 0, gy = 1;
    struct InterpPush { uint64_t table; uint32_t total, entries, entry_words, prog_off, prog_len, const_off; } ip{};
    struct SpecPush { uint64_t table; uint32_t entry_words, chunk_off, chunks, chunk; } sp{};
    auto addr = [&](int e, int s) -> uint64_t {
      return s == 0 ? var[e]->addr : s == 1 ? m[e]->addr : s == 2 ? v[e]->addr : s == 3 ? g[e]->addr
                                                                                   : scalars->addr;
    };
    if (mode == "interp") {
      int64_t start = 0;
      for (int e = 0; e < nv; ++e) {
        table.push_back(static_cast<uint32_t>(start));
        table.push_back(static_cast<uint32_t>(sizes[e]));
        for (int s = 0; s < slots; ++s) {
          table.push_back(static_cast<uint32_t>(addr(e, s)));
          table.push_back(static_cast<uint32_t>(addr(e, s) >> 32));
          table.push_back(s < 4 ? 1u : 0u);
        }
        start += sizes[e];
      }
      ip.entries = nv, ip.entry_words = 2 + 3 * slots, ip.total = static_cast<uint32_t>(total);
      ip.prog_off = static_cast<uint32_t>(table.size());
      ip.prog_len = static_cast<uint32_t>(prog.size() / 4);
      for (int64_t x : prog) table.push_back(static_cast<uint32_t>(x));
      ip.const_off = static_cast<uint32_t>(table.size());
      for (uint32_t x : cbits) table.push_back(x);
      gx = GridFor(total);
    } else if (mode == "spec") {  // fused_update.cc DispatchSpecialized
      for (int e = 0; e < nv; ++e) {
        table.push_back(static_cast<uint32_t>(sizes[e]));
        for (int s = 0; s < slots; ++s) {
          table.push_back(static_cast<uint32_t>(addr(e, s)));
          table.push_back(static_cast<uint32_t>(addr(e, s) >> 32));
        }
      }
      sp.entry_words = 1 + 2 * slots;
      sp.chunk_off = static_cast<uint32_t>(table.size());
      sp.chunk = 256;
      for (int e = 0; e < nv; ++e)
        for (int64_t f = 0; f < sizes[e]; f += sp.chunk) {
          table.push_back(static_cast<uint32_t>(e));
          table.push_back(static_cast<uint32_t>(f));
        }
      sp.chunks = static_cast<uint32_t>((table.size() - sp.chunk_off) / 2);
      gx = std::min<uint32_t>(sp.chunks, 65535), gy = (sp.chunks + gx - 1) / gx;
      spec[0] = static_cast<uint32_t>(prog.size() / 4);
      spec[1] = 1 | 1 << 2 | 1 << 4 | 1 << 6;  // slots 0-3: n elements; 4: a scalar
      for (size_t k = 0; k < prog.size(); k += 4)
        spec[5 + k / 4] = static_cast<uint32_t>(prog[k] | prog[k + 1] << 5 | prog[k + 2] << 11 |
                                                prog[k + 3] << 20);
      for (size_t k = 0; k < cbits.size(); ++k) spec[69 + k] = cbits[k];
    }
    std::unique_ptr<Tensor> tab;
    if (!table.empty()) {
      tab = b.NewTensor(static_cast<int64_t>(table.size()), false, rng, 0, 0, false);
      if (b.oom()) return *err = "out of device memory", false;
      b.stream()->CopyHostToDevice(tab->addr, table.data(), table.size() * 4);
      ip.table = sp.table = tab->addr;
    }
    auto binary = [&](const char* k, uint64_t a, uint64_t bb, bool scalar, uint64_t out, int64_t n) {
      BinaryPush p{};
      p.a = a, p.b = bb, p.z = out, p.n = static_cast<uint32_t>(n);
      p.a_stride[0] = 1, p.b_stride[0] = scalar ? 0 : 1;
      b.stream()->Dispatch(k, &p, sizeof(p), GridFor(n));
    };
    auto record = [&]() {
      if (mode == "interp") {
        b.stream()->Dispatch("fused_update", &ip, sizeof(ip), gx);
      } else if (mode == "spec") {
        b.stream()->DispatchSpecialized("fused_update_spec_p32", spec.data(), static_cast<uint32_t>(spec.size()),
                                        &sp, sizeof(sp), gx, gy);
      } else {
        const uint64_t al = scalars->addr, k0 = al + 4, k1 = al + 8, ke = al + 12;
        for (int e = 0; e < nv; ++e) {
          const int64_t n = sizes[e];
          const uint64_t a = t1[e]->addr, t = t2[e]->addr;
          binary("sub_f32", g[e]->addr, m[e]->addr, false, a, n);     // g - m
          binary("mul_f32", a, k0, true, a, n);                       // * (1 - b1)
          binary("add_f32", m[e]->addr, a, false, m[e]->addr, n);     // m +=
          binary("mul_f32", g[e]->addr, g[e]->addr, false, a, n);     // g^2
          binary("sub_f32", a, v[e]->addr, false, a, n);              // - v
          binary("mul_f32", a, k1, true, a, n);                       // * (1 - b2)
          binary("add_f32", v[e]->addr, a, false, v[e]->addr, n);     // v +=
          UnaryPush up{v[e]->addr, t, static_cast<uint32_t>(n), 0.0f};
          b.stream()->Dispatch("sqrt_f32", &up, sizeof(up), GridFor(n));  // sqrt(v)
          binary("add_f32", t, ke, true, t, n);                       // + eps
          binary("mul_f32", m[e]->addr, al, true, a, n);              // m * alpha
          binary("div_f32", a, t, false, a, n);                       // / (sqrt(v) + eps)
          binary("sub_f32", var[e]->addr, a, false, var[e]->addr, n); // var -=
        }
      }
    };
    record();
    for (int e = 0; e < nv; ++e) {
      std::vector<float> gv = b.Download(*var[e]), gm = b.Download(*m[e]), gvv = b.Download(*v[e]);
      for (int64_t i = 0; i < sizes[e]; ++i) {
        const double gg = g[e]->host[i];
        const double mm = m[e]->host[i] + (gg - m[e]->host[i]) * 0.1;
        const double vv = v[e]->host[i] + (gg * gg - v[e]->host[i]) * 0.001;
        const double w = var[e]->host[i] - mm * 1e-3 / (std::sqrt(vv) + 1e-7);
        auto where = [&] { return "variable " + I(e) + " element " + I(i); };
        chk->Add(gm[i], mm, 8 * kEps32 * (std::fabs(mm) + std::fabs(gg)) + 1e-30, where);
        chk->Add(gvv[i], vv, 8 * kEps32 * (std::fabs(vv) + gg * gg) + 1e-30, where);
        // float32 rounding of m (a difference of terms of |m0| and |g| / 10)
        // carries into the step: the tolerance scales with the terms.
        const double step = 1e-3 * (std::fabs(m[e]->host[i]) + 0.1 * std::fabs(gg)) / (std::sqrt(vv) + 1e-7);
        chk->Add(gv[i], w, 8 * kEps32 * (std::fabs(w) + std::fabs(var[e]->host[i]) + step) + 1e-30, where);
      }
    }
    *ms = b.Time([&](int) { record(); });
    return true;
  };
  return c;
}

// --pipelines: creates the pipeline of every kernel the device supports
// (threads in parallel) and reports the time, with the on-disk pipeline cache
// cold or warm (run twice with the same TFMP_CACHE_DIR).
int CreateAllPipelines(Device* dev, int threads, int offset, int limit) {
  size_t count = 0;
  const tfmp::rt::KernelBinary* bins = tfmp::rt::KernelBinaries(&count);
  std::vector<const char*> names;
  for (size_t i = 0; i < count; ++i)
    if (dev->HasKernel(bins[i].name)) names.push_back(bins[i].name);
  names.erase(names.begin(), names.begin() + std::min(names.size(), static_cast<size_t>(offset)));
  if (limit > 0 && names.size() > static_cast<size_t>(limit)) names.resize(limit);
  const bool loaded = dev->PipelineCacheLoaded();
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < names.size();) {
        Status s;
        if (!dev->PrepareKernel(names[i], &s)) {
          std::fprintf(stderr, "kernel_bench: %s: %s\n", names[i], s.message.c_str());
          failed++;
        }
      }
    });
  for (auto& th : pool) th.join();
  const double create_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto t1 = std::chrono::steady_clock::now();
  Status saved = dev->SavePipelineCache();
  const double save_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  std::printf("{\"name\": \"pipeline_create_all\", \"kernels\": %zu, \"threads\": %d, "
              "\"create_ms\": %.2f, \"per_kernel_ms\": %.3f, \"cache_path\": \"%s\", "
              "\"cache_loaded\": %s, \"cache_hits\": %llu, \"save_ms\": %.2f, "
              "\"save_error\": \"%s\", \"failed\": %d}\n",
              names.size(), threads, create_ms, names.empty() ? 0.0 : create_ms / names.size(),
              JsonEscape(dev->PipelineCachePath()).c_str(), loaded ? "true" : "false",
              static_cast<unsigned long long>(tfmp::GlobalStats().pipeline_cache_hits.load()),
              save_ms, JsonEscape(saved.message).c_str(), failed.load());
  return failed ? 1 : 0;
}

// Case c run with environment variables set (an empty value: unset), all
// unset after it, named <c.name>@<tag>: the runtime and kernel_bench read
// them as they plan, allocate and fill (TFMP_CONV_*, TFMP_DEDICATED_MEMORY,
// KB_DATA).
Case WithEnv(const Case& c, const std::string& tag,
             const std::vector<std::pair<std::string, std::string>>& env) {
  Case d = c;
  d.name += "@" + tag;
  auto inner = c.run;
  d.run = [inner, env](Bench& b, Check* chk, std::vector<double>* ms, std::string* err) {
    for (const auto& kv : env) {
      if (kv.second.empty()) unsetenv(kv.first.c_str());
      else setenv(kv.first.c_str(), kv.second.c_str(), 1);
    }
    const bool ok = inner(b, chk, ms, err);
    for (const auto& kv : env) unsetenv(kv.first.c_str());
    return ok;
  };
  return d;
}

// --conv-configs TILE:SPLITS:WINOGRAD,... (an experiment): each convolution
// case once per config, with TFMP_CONV_TILE / _SPLITS / _WINOGRAD set to the
// non-empty fields (kernels/conv_plan.h reads them), named "@config".
std::vector<Case> WithConvConfigs(const std::vector<Case>& cases, const std::vector<std::string>& configs) {
  std::vector<Case> out;
  for (const Case& c : cases) {
    if (configs.empty() || c.op.compare(0, 7, "conv2d_") != 0) {
      out.push_back(c);
      continue;
    }
    for (const std::string& cfg : configs) {
      std::string f[3];
      size_t at = 0;
      for (int i = 0; i < 3 && at <= cfg.size(); ++i) {
        const size_t colon = std::min(cfg.find(':', at), cfg.size());
        f[i] = cfg.substr(at, colon - at);
        at = colon + 1;
      }
      const char* names[3] = {"TFMP_CONV_TILE", "TFMP_CONV_SPLITS", "TFMP_CONV_WINOGRAD"};
      std::vector<std::pair<std::string, std::string>> env;
      for (int i = 0; i < 3; ++i) env.emplace_back(names[i], f[i] == "-" ? "" : f[i]);
      out.push_back(WithEnv(c, cfg, env));
    }
  }
  return out;
}

std::vector<Case> AllCases(bool quick, const std::vector<std::string>& matmul_configs) {
  std::vector<Case> cases;
  for (const char* mode : {"", "declared", "independent"})
    cases.push_back(OverheadCase(quick ? 500 : 10000, mode));
  if (!quick)
    for (int gap : {0, 20, 100, 1000}) cases.push_back(GapCase(gap));
  // KB_COPY_MB (experiments, helper f16): the copies' size in MiB.
  const int64_t copy_bytes = std::getenv("KB_COPY_MB") ? std::atoll(std::getenv("KB_COPY_MB")) << 20
                             : quick ? (4ll << 20) : (256ll << 20);
  cases.push_back(CopyCase(copy_bytes, false));
  cases.push_back(CopyCase(copy_bytes, true));
  const int64_t n = quick ? (1 << 20) : (64 << 20);
  cases.push_back(BinaryCase("add", 1, n, Bcast::kNone));
  cases.push_back(BinaryCase("mul", 1, n, Bcast::kNone));
  cases.push_back(BinaryCase("add", 1, n, Bcast::kNone, true));
  cases.push_back(BinaryCase("add", 1, n - 1, Bcast::kNone, false, 1));  // misaligned: scalar path
  {  // KB_UNARY_N (experiments, helper f16): the relu cases' element count
    const int64_t un = std::getenv("KB_UNARY_N") ? std::atoll(std::getenv("KB_UNARY_N")) : n;
    cases.push_back(UnaryCase(un, false));
    cases.push_back(UnaryCase(un, true));
  }
  const int64_t R = quick ? 512 : 16384, Cn = quick ? 512 : 4096;
  cases.push_back(BinaryCase("add", R, Cn, Bcast::kRow));
  cases.push_back(BinaryCase("add", R, Cn, Bcast::kCol));
  cases.push_back(BinaryCase("add", R, Cn, Bcast::kRow, true));
  // A bias of few channels: 3 (scalar path) and 64.
  cases.push_back(BinaryCase("add", n / 64, 3, Bcast::kRow));
  cases.push_back(BinaryCase("add", n / 64, 64, Bcast::kRow));
  cases.push_back(ReduceCase(R, Cn, 1));      // rows
  cases.push_back(ReduceCase(1, R, Cn));      // columns
  // sums of products (_TfmpFusedReduction): two inputs read, no product written
  cases.push_back(ReduceCase(R, Cn, 1, false, 0, true));
  cases.push_back(ReduceCase(1, R, Cn, false, 0, true));
  cases.push_back(ReduceCase(R, Cn, 1, true));
  cases.push_back(ReduceCase(1, n, 1));       // everything
  cases.push_back(ReduceCase(n / 64, 64, 1));  // short rows
  cases.push_back(ReduceCase(1, n / 64, 64));  // few columns (a batch norm's channels)
  cases.push_back(ReduceCase(quick ? 8 : 64, quick ? 196 : 784, 256));  // global average pool
  cases.push_back(ReduceCase(R - 1, Cn + 1, 1));  // odd sizes: scalar loads
  cases.push_back(ReduceCase(1, R + 1, Cn - 3));
  cases.push_back(SoftmaxCase(quick ? 256 : 16384, quick ? 1000 : 4096));
  cases.push_back(SoftmaxCase(quick ? 256 : 16384, quick ? 1000 : 4096, true));
  cases.push_back(SoftmaxCase(quick ? 4096 : 65536, 1000));  // classes
  cases.push_back(SoftmaxCase(quick ? 4096 : 1 << 20, 10));  // few classes: scalar loads
  cases.push_back(SoftmaxCase(quick ? 16 : 1024, quick ? 9000 : 65536));  // long rows: two reads
  cases.push_back(SoftmaxCase(quick ? 33 : 4097, 1001));  // odd sizes
  cases.push_back(ComplexAbsCase(quick ? 3 * 1025 : (4 << 20)));
  for (bool fused : {true, false}) cases.push_back(GeluCase(quick ? (1 << 18) : (16 << 20), fused));
  for (const char* mode : {"spec", "interp", "unfused"}) cases.push_back(AdamCase(mode, quick ? 0 : 8));
  // The Transformer's embedding gradient (2048 tokens x 128 into 1000 rows):
  // before and after kernels/scatter_plan.h, and odd sizes.
  for (bool legacy : {true, false}) cases.push_back(ScatterCase(2048, 128, 1000, legacy));
  cases.push_back(ScatterCase(quick ? 4097 : 16384, 128, 1000, false));  // bitonic
  cases.push_back(ScatterCase(33, 7, 5, false));
  // The Transformer of tools/bench_training.py (batch 32, sequence 64, width
  // 128, 4 heads; 2048 tokens): its GEMMs (projections, attention batches of
  // 128, the feed-forward layer, forward and backward) under the default plan
  // and the alternatives, and its reductions (bias and LayerNorm gradients:
  // [2048, 128] columns and rows; softmax gradient rows of 64).
  if (!quick) {
    struct Gemm {
      int64_t M, N, K;
      bool ta, tb;
      int64_t batch;
      std::vector<std::string> configs;
    };
    const std::vector<std::string> small = {"", "64x64"};
    const std::vector<std::string> deep = {"", "64x64", "128x128:8", "64x64:8", "64x64:16"};
    // (the projections are EinsumDense layers: BatchMatMulV2 of [32, 64, 128]
    // by a broadcast [128, 128]; kernels/matmul.cc folds such a batch into M)
    const Gemm gemms[] = {
        {64, 128, 128, false, false, 32, small},    // projections, batch 32
        {2048, 128, 128, false, false, 1, small},   // the same folded into M
        {2048, 128, 128, false, true, 1, small},    // their dX, folded
        {128, 128, 64, true, false, 32, {"", "64x64", "128x64"}},  // their dW (+ a Sum)
        {128, 128, 2048, true, false, 1, deep},     // the same as one GEMM
        {64, 64, 32, false, false, 128, small},     // attention scores
        {64, 32, 64, false, false, 128, small},     // context
        {64, 32, 64, true, false, 128, small},      // attention backward
        {32, 64, 64, false, false, 128, small},
        {2048, 512, 128, false, false, 1, small},   // feed-forward (Tensordot: MatMul)
        {2048, 128, 512, false, false, 1, {"", "64x64", "64x64:2", "64x64:4", "128x64:2"}},
        {2048, 512, 128, false, true, 1, small},    // dX
        {2048, 128, 512, false, true, 1, {"", "64x64", "64x64:4"}},
        {128, 512, 2048, true, false, 1, deep},     // dW
        {512, 128, 2048, true, false, 1, deep},
    };
    for (const Gemm& g : gemms)
      for (const std::string& cfg : g.configs)
        cases.push_back(MatMulCase(g.M, g.N, g.K, false, g.ta, g.tb, cfg, g.batch));
    for (int64_t min_rows : {0, 16, 8}) cases.push_back(ReduceCase(1, 2048, 128, false, min_rows));
    cases.push_back(ReduceCase(2048, 128, 1));
    cases.push_back(ReduceCase(8192, 64, 1));
    cases.push_back(ReduceCase(1, 2048, 512));
  }
  // The GEMM: every config of --matmul-configs, else the default choice.
  std::vector<std::string> configs = matmul_configs;
  if (configs.empty()) configs.push_back("");
  if (quick) {
    for (const std::string& cfg : configs) {
      cases.push_back(MatMulCase(128, 128, 128, false, false, false, cfg));
      cases.push_back(MatMulCase(192, 160, 200, false, false, false, cfg));  // partial tiles
      cases.push_back(MatMulCase(128, 128, 128, true, false, false, cfg));
      cases.push_back(MatMulCase(129, 65, 257, false, true, false, cfg));  // scalar paths
      cases.push_back(MatMulCase(96, 132, 516, false, true, true, cfg));   // vec4 transposed
      cases.push_back(MatMulCase(64, 256, 1024, false, false, true, cfg));  // split-K by default
      cases.push_back(MatMulCase(127, 33, 255, true, false, true, cfg));
    }
  } else {
    for (const std::string& cfg : configs) {
      for (int64_t s : {1024, 2048, 4096}) cases.push_back(MatMulCase(s, s, s, false, false, false, cfg));
      // A Dense layer's backward GEMMs: dX = dY W^T, dW = X^T dY.
      cases.push_back(MatMulCase(4096, 4096, 4096, false, false, true, cfg));
      cases.push_back(MatMulCase(4096, 4096, 4096, false, true, false, cfg));
      cases.push_back(MatMulCase(4096, 4096, 4096, true, false, false, cfg));
    }
  }
  // Matrix-unit float16 GEMMs (only where the device has them): edges, every
  // transpose, the epilogue, batches; full size: the speed sizes and the
  // tile configurations.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) cases.push_back(CoopMatMulCase(200, 136, 72, ta, tb, 0));
  cases.push_back(CoopMatMulCase(1, 1, 1, false, false, 0));
  cases.push_back(CoopMatMulCase(129, 127, 33, false, false, 1));   // tile +-1, K % 16 != 0
  cases.push_back(CoopMatMulCase(130, 250, 17, true, true, 5));
  cases.push_back(CoopMatMulCase(7, 9, 0, false, false, 1));        // K == 0: act(bias)
  cases.push_back(CoopMatMulCase(96, 80, 36, false, true, 0, 3));   // batched, unaligned rows
  cases.push_back(CoopMatMulCase(256, 256, 1025, true, false, 0));
  if (!quick) {
    for (int64_t s : {1024, 2048, 4096, 8192}) cases.push_back(CoopMatMulCase(s, s, s, false, false, 0));
    cases.push_back(CoopMatMulCase(1000, 1000, 1000, false, false, 0));
    cases.push_back(CoopMatMulCase(4096, 4096, 4096, true, false, 0));
    cases.push_back(CoopMatMulCase(4096, 4096, 4096, false, true, 0));
    cases.push_back(CoopMatMulCase(4096, 4096, 4096, true, true, 0));
    cases.push_back(CoopMatMulCase(4096, 4096, 4096, false, false, 1));
    cases.push_back(CoopMatMulCase(4096, 4096, 1024, false, false, 0, 4));
  }
  // The tuning configurations of variants.py's COOPMAT_TILES (matmul_config.h):
  // edge cases of every layout (checked like the default's), and with the
  // full run the speed sizes.
  for (const tfmp::CoopTile& t : tfmp::kCoopTiles) {
    if (!*t.name) continue;  // the default: the cases above
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        cases.push_back(CoopMatMulCase(200, 136, 72, ta, tb, 0, 1, t.name, t.bm, t.bn));
    cases.push_back(CoopMatMulCase(129, 127, 33, false, false, 1, 1, t.name, t.bm, t.bn));
    cases.push_back(CoopMatMulCase(96, 80, 36, false, true, 0, 3, t.name, t.bm, t.bn));
    cases.push_back(CoopMatMulCase(300, 520, 1025, true, false, 0, 1, t.name, t.bm, t.bn));
    if (!quick) {
      for (int64_t s : {1024, 2048, 4096, 8192})
        cases.push_back(CoopMatMulCase(s, s, s, false, false, 0, 1, t.name, t.bm, t.bn));
      cases.push_back(CoopMatMulCase(1000, 1000, 1000, false, false, 0, 1, t.name, t.bm, t.bn));
      cases.push_back(CoopMatMulCase(4096, 4096, 4096, false, true, 0, 1, t.name, t.bm, t.bn));
    }
  }
  // The same through VK_NV_cooperative_matrix2 (matmul_coopmat2.comp):
  // every tile's edges, layouts, epilogue and batches, and with the full run
  // the speed sizes (odd ones too: the clamped path).
  for (const tfmp::CoopTile& t : tfmp::kCoop2Tiles) {
    auto add = [&](int64_t M, int64_t N, int64_t K, bool ta, bool tb, uint32_t act, int64_t batch = 1) {
      cases.push_back(CoopMatMulCase(M, N, K, ta, tb, act, batch, t.name, t.bm, t.bn, true));
    };
    for (bool ta : {false, true})
      for (bool tb : {false, true}) add(200, 136, 72, ta, tb, 0);
    add(129, 127, 33, false, false, 1);
    add(130, 250, 17, true, true, 5);
    add(96, 80, 36, false, true, 0, 3);
    add(300, 520, 1025, true, false, 0);
    if (!*t.name) {
      add(1, 1, 1, false, false, 0);
      add(7, 9, 0, false, false, 1);
      add(256, 256, 1024, false, false, 0, 2);  // the unclamped path, batched
    }
    if (!quick) {
      for (int64_t s : {1024, 2048, 4096, 8192}) add(s, s, s, false, false, 0);
      add(1000, 1000, 1000, false, false, 0);
      add(4097, 4096, 4096, false, false, 0);
      add(4096, 4096, 4100, false, false, 0);
      add(4096, 4096, 4096, true, false, 0);
      add(4096, 4096, 4096, false, true, 0);
      add(4096, 4096, 4096, true, true, 0);
      add(4096, 4096, 4096, false, false, 1);
      add(4096, 4096, 1024, false, false, 0, 4);
    }
  }
  if (!quick)
    for (bool workgroup : {false, true}) cases.push_back(MmaPeakCase(workgroup));
  std::vector<ConvShape> shapes;
  if (quick) {
    shapes = {{"2x14x14x16to16_3x3", 2, 14, 14, 16, 16, 3},
              {"2x7x7x32to48_3x3", 2, 7, 7, 32, 48, 3},
              {"2x14x14x16to32_1x1", 2, 14, 14, 16, 32, 1},
              {"2x9x9x3to5_3x3", 2, 9, 9, 3, 5, 3},  // odd channels: the general variants
              {"2x11x13x128to132_3x3", 2, 11, 13, 128, 132, 3},  // Winograd, partial 2x2 tiles
              {"1x132x132x4to4_3x3", 1, 132, 132, 4, 4, 3, true},  // long K: split
              {"2x9x11x8to32_3x3s2", 2, 9, 11, 8, 32, 3, false, 2},  // stride 2, N = 32
              {"2x9x9x3to32_3x3", 2, 9, 9, 3, 32, 3}};  // RGB input, 32 filters
  } else {  // ResNet-50's stride-1 convolutions at batch 64
    shapes = {{"r50_64x56x56x64to64_3x3", 64, 56, 56, 64, 64, 3},
              {"r50_64x28x28x128to128_3x3", 64, 28, 28, 128, 128, 3},
              {"r50_64x14x14x256to256_3x3", 64, 14, 14, 256, 256, 3},
              {"r50_64x7x7x512to512_3x3", 64, 7, 7, 512, 512, 3},
              {"r50_64x56x56x64to256_1x1", 64, 56, 56, 64, 256, 1},
              // ResNet-50 v1.5's stride 2 (stage 2's first 3x3)
              {"r50_64x56x56x128to128_3x3s2", 64, 56, 56, 128, 128, 3, false, 2},
              // tools/bench_training.py's "cnn" at batch 128 (issue 5)
              {"cnn_128x32x32x3to32_3x3", 128, 32, 32, 3, 32, 3},
              {"cnn_128x32x32x32to32_3x3", 128, 32, 32, 32, 32, 3},
              {"cnn_128x32x32x32to64_3x3s2", 128, 32, 32, 32, 64, 3, false, 2},
              {"cnn_128x16x16x64to64_3x3", 128, 16, 16, 64, 64, 3},
              {"cnn_128x32x32x32to64_1x1s2", 128, 32, 32, 32, 64, 1, false, 2}};
  }
  for (const ConvShape& s : shapes)
    for (const char* mode : {"fwd", "bwd_input", "bwd_filter", "bwd_filter_bias"}) {
      const std::string m = mode;
      if (s.filter_only && m.compare(0, 10, "bwd_filter") != 0) continue;
      // The bias gradient: the 3x3 shapes; two of the small ones.
      if (m == "bwd_filter_bias" && (quick ? s.ci != 32 && s.ci != 128 : s.k != 3)) continue;
      cases.push_back(ConvCase(s, mode));
    }
  // The float16 bandwidth question (docs/benchmarks.md): the same cases with
  // every buffer a dedicated allocation (TFMP_DEDICATED_MEMORY=1, named
  // <case>@dedicated) and over other data (KB_DATA: @zero16, @bits16,
  // @half32), so that one report answers both.
  if (!quick) {
    std::vector<Case> extra;
    for (const Case& c : cases) {
      if (c.name == "relu_f16_64M" || c.name == "add_f16_64M" || c.name == "relu_f32_64M" ||
          c.name == "copy_shader_d2d_256MiB")
        extra.push_back(WithEnv(c, "dedicated", {{"TFMP_DEDICATED_MEMORY", "1"}}));
      if (c.name == "relu_f16_64M" || c.name == "add_f16_64M") {
        extra.push_back(WithEnv(c, "zero16", {{"KB_DATA", "zero16"}}));
        extra.push_back(WithEnv(c, "bits16", {{"KB_DATA", "bits16"}}));
      }
      if (c.name == "copy_shader_d2d_256MiB" || c.name == "relu_f32_64M")
        extra.push_back(WithEnv(c, "half32", {{"KB_DATA", "half32"}}));
      // In device-local memory the host can map (TFMP_MAPPABLE_MEMORY=1):
      // does the float16 and structured-data slowness follow the memory?
      if (c.name == "relu_f16_64M" || c.name == "add_f16_64M")
        extra.push_back(WithEnv(c, "mappable", {{"TFMP_MAPPABLE_MEMORY", "1"}}));
      // Where the buffers land (docs/benchmarks.md "Slow processes"): a
      // buffer allocated first and kept, and staggered buffer starts.
      if (c.name == "relu_f16_64M" || c.name == "add_f16_64M" || c.name == "reduce_sum_rows_f16_16384x4096") {
        for (const char* mb : {"2", "6", "130"})
          extra.push_back(WithEnv(c, std::string("pre") + mb, {{"KB_PREALLOC_MB", mb}}));
        extra.push_back(WithEnv(c, "stagger68k", {{"KB_STAGGER_KB", "68"}}));
      }
      // Softmax rows sized for 4 loads a lane, the default's half (twice the
      // lanes, half the rows per workgroup; kernels/softmax_plan.h).
      if (c.name == "softmax_f32_4097x1001" || c.name == "softmax_f32_16384x4096" ||
          c.name == "softmax_f32_65536x1000")
        extra.push_back(WithEnv(c, "loads4", {{"TFMP_SOFTMAX_LOADS", "4"}}));
      // The large reductions with four vector loads in flight (float16 rows:
      // also two), the column sums also with wider strips (kernels/reduce_plan.h).
      if (c.op == "reduce_sum" && c.bytes >= 64e6) {
        extra.push_back(WithEnv(c, "loads4", {{"TFMP_REDUCE_LOADS", "4"}}));
        if (c.dtype == "f16")  // four by default: the previous default beside it
          extra.push_back(WithEnv(c, "loads2", {{"TFMP_REDUCE_LOADS", "2"}}));
        if (c.name.compare(0, 16, "reduce_sum_cols_") == 0)
          for (const char* w : {"128", "256"})
            extra.push_back(WithEnv(c, std::string("cols") + w, {{"TFMP_REDUCE_COLUMNS", w}}));
      }
      // Strided input gradients without the stride phases (kernels/conv_plan.h
      // ConvPhased): the strided gather, as before.
      if (c.op == "conv2d_bwd_input" && c.name.find("s2") != std::string::npos)
        extra.push_back(WithEnv(c, "unphased", {{"TFMP_CONV_PHASED", "0"}}));
      if (c.name == "copy_shader_d2d_256MiB" || c.name == "relu_f32_64M")
        extra.push_back(WithEnv(c, "half32_mappable", {{"KB_DATA", "half32"}, {"TFMP_MAPPABLE_MEMORY", "1"}}));
    }
    cases.insert(cases.end(), extra.begin(), extra.end());
  }
  // The 3x3 stride-1 filter gradients with 128+ channels (Winograd F(2x2,
  // 3x3) by default, kernels/conv_plan.h ConvWinograd) beside the direct
  // GEMM (TFMP_CONV_WINOGRAD=0), named <case>@::0.
  if (!quick) {
    std::vector<Case> direct;
    for (const Case& c : cases)
      if (c.name.compare(0, 21, "conv2d_bwd_filter_f32") == 0 && c.name.find("_r50_") != std::string::npos &&
          c.name.size() > 4 && c.name.compare(c.name.size() - 4, 4, "_3x3") == 0 &&
          c.name.find("x64to64_") == std::string::npos)
        direct.push_back(c);
    for (const Case& c : WithConvConfigs(direct, {"::0"})) cases.push_back(c);
  }
  return cases;
}

int Usage() {
  std::fprintf(stderr,
               "usage: kernel_bench [--quick] [--filter REGEX] [--runs N] [--warmup N] "
               "[--no-flush] [--perturb] [--list] [--grid-cap N] [--repeat N] [--warmup-ms MS] [--sync-runs]\n"
               "                    [--matmul-configs TILE[:SPLITS],...] [--conv-configs TILE:SPLITS:WINOGRAD,...]\n"
               "       kernel_bench --pipelines [--threads N] [--offset N] [--limit N]\n");
  return 2;
}

}  // namespace

// "a,b,,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> SplitCommas(const std::string& list) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    if (comma > at) out.push_back(list.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

int main(int argc, char** argv) {
  Options opt;
  bool runs_set = false, warm_set = false, pipelines = false;
  int threads = 0, offset = 0, limit = 0;
  int repeat = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--quick") {
      opt.quick = true;
    } else if (a == "--list") {
      opt.list = true;
    } else if (a == "--no-flush") {
      opt.flush = false;
    } else if (a == "--repeat") {
      const char* v = next();
      if (!v) return Usage();
      repeat = std::max(1, std::atoi(v));
    } else if (a == "--grid-cap") {
      const char* v = next();
      if (!v) return Usage();
      g_grid_cap = std::max(1, std::atoi(v));
    } else if (a == "--perturb") {
      opt.perturb = true;
    } else if (a == "--matmul-configs") {
      const char* v = next();
      if (!v) return Usage();
      opt.matmul_configs = SplitCommas(v);
    } else if (a == "--conv-configs") {
      const char* v = next();
      if (!v) return Usage();
      opt.conv_configs = SplitCommas(v);
    } else if (a == "--filter") {
      const char* v = next();
      if (!v) return Usage();
      opt.filter = std::regex(v);
    } else if (a == "--runs") {
      const char* v = next();
      if (!v) return Usage();
      opt.runs = std::max(1, std::atoi(v));
      runs_set = true;
    } else if (a == "--sync-runs") {
      opt.sync_runs = true;
    } else if (a == "--warmup-ms") {
      const char* v = next();
      if (!v) return Usage();
      opt.warmup_ms = std::max(0, std::atoi(v));
    } else if (a == "--pipelines") {
      pipelines = true;
    } else if (a == "--threads" || a == "--limit" || a == "--offset") {
      const char* v = next();
      if (!v) return Usage();
      (a == "--threads" ? threads : a == "--limit" ? limit : offset) = std::max(0, std::atoi(v));
    } else if (a == "--warmup") {
      const char* v = next();
      if (!v) return Usage();
      opt.warmup = std::max(0, std::atoi(v));
      warm_set = true;
    } else {
      return Usage();
    }
  }
  if (opt.quick) {
    if (!runs_set) opt.runs = 5;
    if (!warm_set) opt.warmup = 1;
  }
  std::vector<Case> cases = WithConvConfigs(AllCases(opt.quick, opt.matmul_configs), opt.conv_configs);
  if (opt.list) {
    for (const Case& c : cases)
      if (std::regex_search(c.name, opt.filter)) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  // Any Vulkan device will do, lavapipe included (discrete GPUs come first).
  setenv("TFMP_ALLOW_SOFTWARE_DEVICE", "1", 0);
  std::string why;
  auto devices = tfmp::rt::EnumerateDevices(&why);
  if (devices.empty()) {
    std::fprintf(stderr, "kernel_bench: no device: %s\n", why.c_str());
    return 2;
  }
  Status s;
  Device* dev = tfmp::rt::OpenDevice(0, &s);
  if (!dev) {
    std::fprintf(stderr, "kernel_bench: %s\n", s.message.c_str());
    return 2;
  }
  const auto& info = dev->info();
  if (pipelines) {
    if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
    return CreateAllPipelines(dev, threads, offset, limit);
  }
  std::printf("{\"device\": \"%s\", \"driver\": \"%s\", \"vendor\": \"%s\", \"backend\": \"%s\", "
              "\"software\": %s, \"memory_bytes\": %llu, \"quick\": %s, \"runs\": %d, "
              "\"warmup\": %d, \"warmup_ms\": %d, \"sync_runs\": %s, \"l2_flush_bytes\": %llu, \"cooperative_matrix_f16\": %s, "
              "\"cooperative_matrix\": \"%s\"}\n",
              JsonEscape(info.name).c_str(), JsonEscape(info.driver).c_str(),
              JsonEscape(info.vendor).c_str(), info.backend.c_str(),
              info.software ? "true" : "false", static_cast<unsigned long long>(info.memory_bytes),
              opt.quick ? "true" : "false", opt.runs, opt.warmup, opt.warmup_ms,
              opt.sync_runs ? "true" : "false", opt.flush ? (opt.quick ? 8ull << 20 : 256ull << 20) : 0ull,
              info.coopmat_f16 ? "true" : "false", JsonEscape(info.coopmat).c_str());
  std::fflush(stdout);
  g_coopmat_khr = info.coopmat_khr;
  bool all_pass = true;
  int left_out = 0;
  for (int rep = 0; rep < repeat; ++rep)
  for (const Case& c : cases) {
    if (!std::regex_search(c.name, opt.filter)) continue;
    if ((c.coopmat && c.coopmat != 3 && !info.coopmat_f16) || (c.coopmat == 2 && info.coopmat_khr) ||
        (c.coopmat == 3 && !info.coopmat2)) {
      ++left_out;
      continue;
    }
    Check chk;
    std::vector<double> ms;
    std::string err;
    Bench b(dev, opt);  // a fresh stream per case: one failure does not poison the rest
    if (!b.Init(&why)) {
      Emit(c, chk, ms, why);
      all_pass = false;
      continue;
    }
    bool ok = c.run(b, &chk, &ms, &err);
    Status st = b.stream()->status();
    if (ok && !st.ok()) ok = false, err = st.message;
    if (ok && !ms.empty()) {
      char buf[160];
      std::snprintf(buf, sizeof(buf),
                    ", \"control_copy_gbps\": %.1f, \"control_l2copy_gbps\": %.1f, \"control_gemm_tflops\": %.4g",
                    ControlCopyGbps(b, opt.quick ? 4ll << 20 : 64ll << 20), ControlCopyGbps(b, 4ll << 20),
                    ControlGemmTflops(b));
      chk.extra += buf;
    }
    if (!ok && err.empty()) err = "failed";
    Emit(c, chk, ms, ok ? "" : err);
    all_pass = all_pass && ok && chk.pass;
  }
  if (left_out)
    std::fprintf(stderr, "kernel_bench: %d cooperative-matrix cases left out: %s\n", left_out,
                 info.coopmat.empty() ? "the device has no cooperative matrices" : info.coopmat.c_str());
  return all_pass ? 0 : 1;
}
