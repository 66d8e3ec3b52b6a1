// Stateless random ops, bit-exact with TF's CPU kernels (Philox4x32-10).
//   StatelessRandomGetKeyCounter / GetKeyCounterAlg / GetAlg: host-side, as on
//     TF's GPU (seed, key, counter and alg in host memory).
//   StatelessRandom{Uniform,Normal}V2, StatelessTruncatedNormalV2,
//     StatelessRandomUniform{Int,FullInt}V2: key and counter in device memory.
//   StatelessRandom{Uniform,Normal,UniformInt,UniformFullInt},
//     StatelessTruncatedNormal (V1):
//     key and counter derived from the host seed, then the same shaders.
// Stateful random ops, bit-exact with TF's CPU kernels on the same state:
//   RandomUniform, RandomStandardNormal, TruncatedNormal, RandomUniformInt:
//     a per-kernel Philox generator seeded from (seed, seed2) (random seeds
//     when both are 0), from which each call reserves 256 blocks per output
//     (TF's GuardedPhiloxRandom). Host arithmetic only: the key and counter
//     travel to the device with the call's dispatch.
//   RngSkip, RngReadAndSkip, Stateful{Uniform,StandardNormalV2,TruncatedNormal,
//     UniformInt,UniformFullInt}: the state lives in a device int64 variable
//     ([counter lo, counter hi, key]). One tiny dispatch (shaders/rng_skip.comp)
//     copies the old state aside and advances the counter on the device; the
//     fill reads key and counter from that copy. The host never reads the state.
// Shaders: shaders/random.comp ("random_<dist>_<dtype>"), shaders/rng_skip.comp.
#include <cstring>
#include <mutex>
#include <random>

#include "kernels/kernel.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

// tensorflow/core/framework/rng_alg.h
constexpr int kAlgPhilox = 1, kAlgThreeFry = 2, kAlgAutoSelect = 3;

struct Philox {
  uint32_t key[2];
  uint32_t counter[4];
};

// One Philox4x32-10 block of `counter` under `key` (tsl philox_random.h).
void PhiloxBlock(const uint32_t counter_in[4], const uint32_t key_in[2], uint32_t out[4]) {
  uint32_t c[4] = {counter_in[0], counter_in[1], counter_in[2], counter_in[3]};
  uint32_t k[2] = {key_in[0], key_in[1]};
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{0xD2511F53} * c[0], p1 = uint64_t{0xCD9E8D57} * c[2];
    const uint32_t n[4] = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
                           static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
    std::memcpy(c, n, sizeof(c));
    k[0] += 0x9E3779B9u;
    k[1] += 0xBB67AE85u;
  }
  std::memcpy(out, c, sizeof(c));
}

// GenerateKey (stateless_random_ops.cc): the int64 seed pair (an int32 seed is
// sign-extended) is scrambled by one Philox block under a fixed key.
Philox KeyCounterFromSeed(const Tensor& seed) {
  uint64_t s0, s1;
  if (seed.dtype() == TF_INT32) {
    s0 = static_cast<uint64_t>(static_cast<int64_t>(seed.host_data<int32_t>()[0]));
    s1 = static_cast<uint64_t>(static_cast<int64_t>(seed.host_data<int32_t>()[1]));
  } else {
    s0 = static_cast<uint64_t>(seed.host_data<int64_t>()[0]);
    s1 = static_cast<uint64_t>(seed.host_data<int64_t>()[1]);
  }
  const uint32_t key[2] = {0x3ec8f720u, 0x02461e29u};
  const uint32_t counter[4] = {static_cast<uint32_t>(s0), static_cast<uint32_t>(s0 >> 32),
                               static_cast<uint32_t>(s1), static_cast<uint32_t>(s1 >> 32)};
  uint32_t mix[4];
  PhiloxBlock(counter, key, mix);
  return Philox{{mix[0], mix[1]}, {0, 0, mix[2], mix[3]}};
}

// The uint64 words TF keeps key and counter in (WriteKeyToMem, WriteCounterToMem).
void PackKeyCounter(const Philox& p, uint64_t words[3]) {
  words[0] = p.key[0] | uint64_t{p.key[1]} << 32;
  words[1] = p.counter[0] | uint64_t{p.counter[1]} << 32;
  words[2] = p.counter[2] | uint64_t{p.counter[3]} << 32;
}

bool CheckSeed(OpContext& ctx, const Tensor& seed) {
  if (seed.dims() != 1 || seed.dim(0) != 2) {
    ctx.Fail(TF_INVALID_ARGUMENT, "seed must have shape [2], not " + ShapeString(seed.shape()));
    return false;
  }
  return true;
}

// tensor::MakeShape: a host int32/int64 vector of non-negative sizes.
bool ReadShape(OpContext& ctx, const Tensor& t, Shape* shape) {
  if (t.dims() != 1) {
    ctx.Fail(TF_INVALID_ARGUMENT, "shape must be a vector of {int32,int64}, got shape " +
                                      ShapeString(t.shape()));
    return false;
  }
  *shape = t.host_ints();
  for (size_t i = 0; i < shape->size(); ++i) {
    if ((*shape)[i] < 0) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Dimension " + std::to_string((*shape)[i]) + " must be >= 0");
      return false;
    }
  }
  return true;
}

enum class Dist { kUniform, kNormal, kTruncatedNormal, kUniformInt, kFullInt };

const char* DistToken(Dist d) {
  switch (d) {
    case Dist::kUniform: return "uniform";
    case Dist::kNormal: return "normal";
    case Dist::kTruncatedNormal: return "truncated_normal";
    case Dist::kUniformInt: return "uniform_int";
    default: return "full_int";
  }
}

struct RandomPush {
  uint64_t key, counter, y, lo, range;
  uint32_t n;
};

// Reads scalar minval/maxval (host) into lo and range = maxval - minval.
bool ReadIntRange(OpContext& ctx, TF_DataType dtype, const Tensor& minval, const Tensor& maxval,
                  uint64_t* lo, uint64_t* range) {
  if (minval.dims() != 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "minval must be 0-D, got shape " + ShapeString(minval.shape()));
    return false;
  }
  if (maxval.dims() != 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "maxval must be 0-D, got shape " + ShapeString(maxval.shape()));
    return false;
  }
  const int64_t a = dtype == TF_INT64 ? minval.host_data<int64_t>()[0] : minval.host_data<int32_t>()[0];
  const int64_t b = dtype == TF_INT64 ? maxval.host_data<int64_t>()[0] : maxval.host_data<int32_t>()[0];
  if (!(a < b)) {
    ctx.Fail(TF_INVALID_ARGUMENT,
             "Need minval < maxval, got " + std::to_string(a) + " >= " + std::to_string(b));
    return false;
  }
  *lo = static_cast<uint64_t>(a);
  *range = static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
  return true;
}

std::string Token(Dist dist, TF_DataType dtype) {
  // uint32/uint64 (full-range ints only) share the int variants' bits.
  const char* t = dtype == TF_BFLOAT16 ? "bf16"
                  : dtype == TF_UINT32 ? "i32"
                  : dtype == TF_UINT64 ? "i64"
                                       : DtypeToken(dtype);
  return std::string("random_") + DistToken(dist) + "_" + t;
}

// Records the fill of y (n > 0 elements, checked) from the Philox key and
// counter words at device addresses key/counter (TF's memory layout).
void DispatchFill(OpContext& ctx, Dist dist, TF_DataType dtype, const Tensor& y, uint64_t key,
                  uint64_t counter, uint64_t lo = 0, uint64_t range = 0) {
  const int64_t n = y.num_elements();
  RandomPush p{key, counter, y.address(), lo, range, static_cast<uint32_t>(n)};
  const int64_t per_group = dtype == TF_INT64 || dtype == TF_UINT64 ? 2 : 4;
  ctx.Dispatch(Token(dist, dtype), p, OpContext::GridFor((n + per_group - 1) / per_group, 64));
}

// The same from a generator state known on the host: its three words travel
// with the stream (no wait).
void DispatchFillFromHost(OpContext& ctx, Dist dist, TF_DataType dtype, const Tensor& y,
                          const Philox& state, uint64_t lo = 0, uint64_t range = 0) {
  uint64_t host[3];
  PackKeyCounter(state, host);
  Tensor words = ctx.allocate_temp({3}, TF_UINT64);
  if (!ctx.ok()) return;
  ctx.stream()->CopyHostToDevice(words.address(), host, sizeof(host));
  DispatchFill(ctx, dist, dtype, y, words.address(), words.address() + 8, lo, range);
}

// Stateless random op: V2 (shape, key, counter, alg[, minval, maxval]) or V1
// (shape, seed[, minval, maxval]).
template <Dist kDist, bool kV2>
class StatelessRandomOp : public OpKernel {
 public:
  explicit StatelessRandomOp(OpConstruction& c) : dtype_(c.GetType("dtype")) {}

  void Compute(OpContext& ctx) override {
    Tensor shape_t = ctx.input(0);
    if (!ctx.ok()) return;
    Tensor key, counter, seed;
    int next = 2;
    if (kV2) {
      key = ctx.input(1);
      counter = ctx.input(2);
      Tensor alg_t = ctx.input(3);
      if (!ctx.ok()) return;
      if (alg_t.dims() != 0) {
        ctx.Fail(TF_INVALID_ARGUMENT,
                 "input 3 (0-based) must have shape [], not " + ShapeString(alg_t.shape()));
        return;
      }
      if (alg_t.dtype() != TF_INT32) {
        ctx.Fail(TF_INVALID_ARGUMENT, "dtype of input 3 (0-based) must be int32, not " +
                                          DtypeName(alg_t.dtype()));
        return;
      }
      int alg = alg_t.host_data<int32_t>()[0];
      if (alg == kAlgAutoSelect) alg = kAlgPhilox;
      if (alg == kAlgThreeFry) {
        ctx.Fail(TF_UNIMPLEMENTED,
                 "the ThreeFry algorithm (alg=2) is not implemented on this GPU; use Philox "
                 "(alg=1) or auto-select (alg=3)");
        return;
      }
      if (alg != kAlgPhilox) {
        ctx.Fail(TF_INVALID_ARGUMENT, "Unsupported algorithm id: " + std::to_string(alg));
        return;
      }
      if (key.dims() != 1 || key.dim(0) != 1) {
        ctx.Fail(TF_INVALID_ARGUMENT, "key must have shape [1], not " + ShapeString(key.shape()) +
                                          ". (Note that batched keys are not supported yet.)");
        return;
      }
      if (counter.dims() != 1 || counter.dim(0) < 2) {
        ctx.Fail(TF_INVALID_ARGUMENT,
                 "counter must be a vector with length at least 2; got shape: " +
                     ShapeString(counter.shape()) +
                     ". (Note that batched counters are not supported yet.)");
        return;
      }
      next = 4;
    } else {
      seed = ctx.input(1);
      if (!ctx.ok()) return;
      // TF checks the shape first (MakeShape), then the seed.
    }
    Shape shape;
    if (!ReadShape(ctx, shape_t, &shape)) return;
    if (!kV2 && !CheckSeed(ctx, seed)) return;
    Tensor y = ctx.allocate_output(0, shape, dtype_);
    if (!ctx.ok()) return;
    const int64_t n = y.num_elements();
    if (n == 0) return;
    RandomPush p{};
    if (kDist == Dist::kUniformInt) {
      Tensor minval = ctx.input(next), maxval = ctx.input(next + 1);
      if (!ctx.ok() || !ReadIntRange(ctx, dtype_, minval, maxval, &p.lo, &p.range)) return;
    }
    if (!ctx.CheckElements(n)) return;
    if (kV2) {
      DispatchFill(ctx, kDist, dtype_, y, key.address(), counter.address(), p.lo, p.range);
    } else {
      DispatchFillFromHost(ctx, kDist, dtype_, y, KeyCounterFromSeed(seed), p.lo, p.range);
    }
  }

 private:
  TF_DataType dtype_;
};

// StatelessRandomGetKeyCounter[Alg] (seed, key, counter, alg all host memory).
template <bool kWithAlg>
class GetKeyCounterOp : public OpKernel {
 public:
  explicit GetKeyCounterOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    Tensor seed = ctx.input(0);
    if (!ctx.ok() || !CheckSeed(ctx, seed)) return;
    Tensor key = ctx.allocate_output(0, {1}, TF_UINT64);
    Tensor counter = ctx.allocate_output(1, {2}, TF_UINT64);
    Tensor alg = kWithAlg ? ctx.allocate_output(2, {}, TF_INT32) : Tensor();
    if (!ctx.ok()) return;
    uint64_t words[3];
    PackKeyCounter(KeyCounterFromSeed(seed), words);
    std::memcpy(TF_TensorData(key.get()), words, 8);
    std::memcpy(TF_TensorData(counter.get()), words + 1, 16);
    if (kWithAlg) *static_cast<int32_t*>(TF_TensorData(alg.get())) = kAlgPhilox;
  }
};

class GetAlgOp : public OpKernel {
 public:
  explicit GetAlgOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    Tensor alg = ctx.allocate_output(0, {}, TF_INT32);
    if (ctx.ok()) *static_cast<int32_t*>(TF_TensorData(alg.get())) = kAlgPhilox;
  }
};


// ---- Stateful ops ----

// TF's PhiloxRandom::Skip: count blocks added to the 128-bit counter, with
// its 32-bit carry logic (rng_skip.comp does the same on the device).
void Skip(Philox* g, uint64_t count) {
  const uint32_t count_lo = static_cast<uint32_t>(count);
  uint32_t count_hi = static_cast<uint32_t>(count >> 32);
  g->counter[0] += count_lo;
  if (g->counter[0] < count_lo) ++count_hi;
  g->counter[1] += count_hi;
  if (g->counter[1] < count_hi && ++g->counter[2] == 0) ++g->counter[3];
}

// Samples per output that TF reserves in the counter space (the multiplier
// of ReserveRandomOutputs and SkipPhiloxRandom; FillPhiloxRandomTask's 256).
constexpr uint64_t kBlocksPerOutput = 256;

// random::New64 for unseeded kernels.
uint64_t New64() {
  static std::mutex mu;
  static std::mt19937_64 gen(std::random_device{}());
  std::lock_guard<std::mutex> lock(mu);
  return gen();
}

// RandomUniform, RandomStandardNormal, TruncatedNormal, RandomUniformInt: TF's
// PhiloxRandomOp / RandomUniformIntOp with a GuardedPhiloxRandom. The
// generator state is per kernel instance, on the host.
template <Dist kDist>
class PhiloxRandomOp : public OpKernel {
 public:
  explicit PhiloxRandomOp(OpConstruction& c)
      : dtype_(c.GetType(kDist == Dist::kUniformInt ? "Tout" : "dtype")) {
    int64_t seed = c.GetInt("seed"), seed2 = c.GetInt("seed2");
    if (seed == 0 && seed2 == 0) {
      seed = static_cast<int64_t>(New64());
      seed2 = static_cast<int64_t>(New64());
    }
    const uint64_t lo = static_cast<uint64_t>(seed), hi = static_cast<uint64_t>(seed2);
    state_ = Philox{{static_cast<uint32_t>(lo), static_cast<uint32_t>(lo >> 32)},
                    {0, 0, static_cast<uint32_t>(hi), static_cast<uint32_t>(hi >> 32)}};
  }

  void Compute(OpContext& ctx) override {
    Tensor shape_t = ctx.input(0);
    Tensor minval, maxval;
    if (kDist == Dist::kUniformInt) {
      minval = ctx.input(1);
      maxval = ctx.input(2);
    }
    if (!ctx.ok()) return;
    if (kDist == Dist::kUniformInt && !CheckScalar(ctx, minval, "minval")) return;
    if (kDist == Dist::kUniformInt && !CheckScalar(ctx, maxval, "maxval")) return;
    Shape shape;
    if (!ReadShape(ctx, shape_t, &shape)) return;
    Tensor y = ctx.allocate_output(0, shape, dtype_);
    if (!ctx.ok()) return;
    const int64_t n = y.num_elements();
    uint64_t lo = 0, range = 0;
    // RandomUniformInt returns before checking the range when the output is empty.
    if (kDist == Dist::kUniformInt && n == 0) return;
    if (kDist == Dist::kUniformInt && !ReadIntRange(ctx, dtype_, minval, maxval, &lo, &range)) return;
    if (!ctx.CheckElements(n)) return;
    Philox local;
    {
      std::lock_guard<std::mutex> lock(mu_);  // ReserveRandomOutputs(n, 256)
      local = state_;
      Skip(&state_, static_cast<uint64_t>(n) * kBlocksPerOutput);
    }
    if (n > 0) DispatchFillFromHost(ctx, kDist, dtype_, y, local, lo, range);
  }

 private:
  static bool CheckScalar(OpContext& ctx, const Tensor& t, const char* name) {
    if (t.dims() == 0) return true;
    ctx.Fail(TF_INVALID_ARGUMENT,
             std::string(name) + " must be 0-D, got shape " + ShapeString(t.shape()));
    return false;
  }

  TF_DataType dtype_;
  std::mutex mu_;
  Philox state_;
};

// A host scalar input of the expected dtype (TF's GetScalar in stateful_random_ops.cc).
template <typename T>
bool GetScalar(OpContext& ctx, int index, T* value) {
  Tensor t = ctx.input(index);
  if (!ctx.ok()) return false;
  if (t.dims() != 0) {
    ctx.Fail(TF_INVALID_ARGUMENT, "input " + std::to_string(index) +
                                      " (0-based) must have shape [], not " + ShapeString(t.shape()));
    return false;
  }
  *value = t.host_data<T>()[0];
  return true;
}

// Input 0, the RNG state variable, locked for the rest of the kernel: checked
// as TF's CheckState / CheckPhiloxState do, and made private to the variable
// (PrepareToUpdateVariable: a buffer someone else holds is copied on the
// device first). state() is then the device address of [counter lo, counter
// hi, key, ...].
class StateVar {
 public:
  StateVar(OpContext& ctx, int64_t alg) {
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    absl::Status s = tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, 0), &var_);
    if (!s.ok()) {
      ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
      return;
    }
    lock_ = std::unique_lock<tensorflow::mutex>(*var_->mu());
    tensorflow::Tensor* t = var_->tensor();
    if (t->dtype() != tensorflow::DT_INT64) {
      ctx.Fail(TF_INVALID_ARGUMENT, "dtype of RNG state variable must be int64, not " +
                                        tensorflow::DataTypeString(t->dtype()));
      return;
    }
    if (t->dims() != 1) {
      ctx.Fail(TF_INVALID_ARGUMENT, "RNG state must have one and only one dimension, not " +
                                        std::to_string(t->dims()));
      return;
    }
    if (alg != kAlgPhilox && alg != kAlgAutoSelect) {
      // TF's CPU kernels handle ThreeFry (alg 2) in RngSkip/RngReadAndSkip only,
      // and corrupt memory doing it; the GPU keeps to Philox.
      ctx.Fail(TF_INVALID_ARGUMENT, "Unsupported algorithm id: " + std::to_string(alg));
      return;
    }
    if (t->NumElements() < 3) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "For the Philox algorithm, the size of state must be at least 3; got " +
                   std::to_string(t->NumElements()));
      return;
    }
    if (var_->copy_on_read_mode.load() || !t->RefCountIsOne()) {
      tensorflow::Tensor fresh;
      s = cc->allocate_temp(t->dtype(), t->shape(), &fresh, tensorflow::AllocatorAttributes());
      if (!s.ok()) {
        ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
        return;
      }
      ctx.stream()->CopyDeviceToDevice(reinterpret_cast<uint64_t>(fresh.data()),
                                       reinterpret_cast<uint64_t>(t->data()), t->TotalBytes());
      *t = fresh;
    }
    state_ = reinterpret_cast<uint64_t>(t->data());
  }
  uint64_t state() const { return state_; }

 private:
  tensorflow::core::RefCountPtr<tensorflow::Var> var_;
  std::unique_lock<tensorflow::mutex> lock_;
  uint64_t state_ = 0;
};

struct SkipPush {
  uint64_t state, old, delta;
  uint32_t write_old;
};

// Advances the state's counter by `delta` blocks on the device; with `old`,
// first copies the three state words there.
void DispatchSkip(OpContext& ctx, uint64_t state, uint64_t old, uint64_t delta) {
  ctx.Dispatch("rng_skip", SkipPush{state, old, delta, old != 0 ? 1u : 0u}, 1);
}

// StatefulUniform, StatefulStandardNormalV2, StatefulTruncatedNormal,
// StatefulUniformInt, StatefulUniformFullInt (resource, algorithm, shape[,
// minval, maxval]): the old state is copied aside while the counter advances
// by 256 blocks per output, then the fill reads key and counter from the copy.
template <Dist kDist>
class StatefulRandomOp : public OpKernel {
 public:
  explicit StatefulRandomOp(OpConstruction& c) : dtype_(c.GetType("dtype")) {}

  void Compute(OpContext& ctx) override {
    int64_t alg;
    if (!GetScalar(ctx, 1, &alg)) return;
    uint64_t lo = 0, range = 0;
    if (kDist == Dist::kUniformInt) {  // checked before the shape, even for an empty output
      Tensor minval = ctx.input(3), maxval = ctx.input(4);
      if (!ctx.ok() || !ReadIntRange(ctx, dtype_, minval, maxval, &lo, &range)) return;
    }
    Tensor shape_t = ctx.input(2);
    if (!ctx.ok()) return;
    Shape shape;
    if (!ReadShape(ctx, shape_t, &shape)) return;
    Tensor y = ctx.allocate_output(0, shape, dtype_);
    if (!ctx.ok()) return;
    StateVar var(ctx, alg);
    if (!ctx.ok()) return;
    const int64_t n = y.num_elements();
    if (n == 0 || !ctx.CheckElements(n)) return;  // an empty output skips 0 blocks
    Tensor old = ctx.allocate_temp({3}, TF_INT64);
    if (!ctx.ok()) return;
    DispatchSkip(ctx, var.state(), old.address(), static_cast<uint64_t>(n) * kBlocksPerOutput);
    DispatchFill(ctx, kDist, dtype_, y, old.address() + 16, old.address(), lo, range);
  }

 private:
  TF_DataType dtype_;
};

// RngSkip (algorithm int64, delta int64) and RngReadAndSkip (alg int32, delta
// uint64; outputs the old state's three words): delta * 256 blocks.
template <bool kRead>
class RngSkipOp : public OpKernel {
 public:
  explicit RngSkipOp(OpConstruction&) {}

  void Compute(OpContext& ctx) override {
    int64_t alg;
    uint64_t delta;
    if (kRead) {
      int32_t a;
      if (!GetScalar(ctx, 1, &a) || !GetScalar(ctx, 2, &delta)) return;
      alg = a;
    } else {
      int64_t d;
      if (!GetScalar(ctx, 1, &alg) || !GetScalar(ctx, 2, &d)) return;
      delta = static_cast<uint64_t>(d);
    }
    StateVar var(ctx, alg);
    if (!ctx.ok()) return;
    Tensor out;
    if (kRead) {
      out = ctx.allocate_output(0, {3}, TF_INT64);
      if (!ctx.ok()) return;
    }
    DispatchSkip(ctx, var.state(), kRead ? out.address() : 0, delta * kBlocksPerOutput);
  }
};

}  // namespace

void RegisterRandomKernels() {
  RegisterKernel<GetKeyCounterOp<false>>("StatelessRandomGetKeyCounter", {},
                                         {"seed", "key", "counter"});
  RegisterKernel<GetKeyCounterOp<true>>("StatelessRandomGetKeyCounterAlg", {},
                                        {"seed", "key", "counter", "alg"});
  RegisterKernel<GetAlgOp>("StatelessRandomGetAlg", {}, {"alg"});
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16}) {
    RegisterKernel<StatelessRandomOp<Dist::kUniform, true>>("StatelessRandomUniformV2",
                                                            {{"dtype", t}}, {"shape", "alg"});
    RegisterKernel<StatelessRandomOp<Dist::kNormal, true>>("StatelessRandomNormalV2",
                                                           {{"dtype", t}}, {"shape", "alg"});
    RegisterKernel<StatelessRandomOp<Dist::kTruncatedNormal, true>>(
        "StatelessTruncatedNormalV2", {{"dtype", t}}, {"shape", "alg"});
    RegisterKernel<StatelessRandomOp<Dist::kUniform, false>>("StatelessRandomUniform",
                                                             {{"dtype", t}}, {"shape", "seed"});
    RegisterKernel<StatelessRandomOp<Dist::kNormal, false>>("StatelessRandomNormal",
                                                            {{"dtype", t}}, {"shape", "seed"});
    RegisterKernel<StatelessRandomOp<Dist::kTruncatedNormal, false>>(
        "StatelessTruncatedNormal", {{"dtype", t}}, {"shape", "seed"});
  }
  for (TF_DataType t : {TF_INT32, TF_INT64}) {
    RegisterKernel<StatelessRandomOp<Dist::kUniformInt, true>>(
        "StatelessRandomUniformIntV2", {{"dtype", t}}, {"shape", "alg", "minval", "maxval"});
    RegisterKernel<StatelessRandomOp<Dist::kUniformInt, false>>(
        "StatelessRandomUniformInt", {{"dtype", t}}, {"shape", "seed", "minval", "maxval"});
  }
  for (TF_DataType t : {TF_INT32, TF_INT64, TF_UINT32, TF_UINT64}) {
    RegisterKernel<StatelessRandomOp<Dist::kFullInt, true>>("StatelessRandomUniformFullIntV2",
                                                            {{"dtype", t}}, {"shape", "alg"});
    RegisterKernel<StatelessRandomOp<Dist::kFullInt, false>>("StatelessRandomUniformFullInt",
                                                             {{"dtype", t}}, {"shape", "seed"});
  }
  // Stateful: per-kernel generators (seed, seed2) and RNG state variables.
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_BFLOAT16}) {
    RegisterKernel<PhiloxRandomOp<Dist::kUniform>>("RandomUniform", {{"dtype", t}}, {"shape"});
    RegisterKernel<PhiloxRandomOp<Dist::kNormal>>("RandomStandardNormal", {{"dtype", t}}, {"shape"});
    RegisterKernel<PhiloxRandomOp<Dist::kTruncatedNormal>>("TruncatedNormal", {{"dtype", t}},
                                                            {"shape"});
    const std::initializer_list<const char*> host = {"resource", "algorithm", "shape"};
    RegisterKernel<StatefulRandomOp<Dist::kUniform>>("StatefulUniform", {{"dtype", t}}, host);
    RegisterKernel<StatefulRandomOp<Dist::kNormal>>("StatefulStandardNormalV2", {{"dtype", t}}, host);
    RegisterKernel<StatefulRandomOp<Dist::kTruncatedNormal>>("StatefulTruncatedNormal",
                                                              {{"dtype", t}}, host);
  }
  for (TF_DataType t : {TF_INT32, TF_INT64}) {
    RegisterKernel<PhiloxRandomOp<Dist::kUniformInt>>("RandomUniformInt", {{"Tout", t}},
                                                       {"shape", "minval", "maxval"});
    RegisterKernel<StatefulRandomOp<Dist::kUniformInt>>(
        "StatefulUniformInt", {{"dtype", t}}, {"resource", "algorithm", "shape", "minval", "maxval"});
  }
  for (TF_DataType t : {TF_INT32, TF_INT64, TF_UINT32, TF_UINT64})
    RegisterKernel<StatefulRandomOp<Dist::kFullInt>>("StatefulUniformFullInt", {{"dtype", t}},
                                                     {"resource", "algorithm", "shape"});
  RegisterKernel<RngSkipOp<false>>("RngSkip", {}, {"resource", "algorithm", "delta"});
  RegisterKernel<RngSkipOp<true>>("RngReadAndSkip", {}, {"resource", "alg", "delta"});
}

}  // namespace tfmp
