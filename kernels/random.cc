// Stateless random ops, bit-exact with TF's CPU kernels (Philox4x32-10).
//   StatelessRandomGetKeyCounter / GetKeyCounterAlg / GetAlg: host-side, as on
//     TF's GPU (seed, key, counter and alg in host memory).
//   StatelessRandom{Uniform,Normal}V2, StatelessTruncatedNormalV2,
//     StatelessRandomUniformIntV2: key and counter in device memory.
//   StatelessRandom{Uniform,Normal,UniformInt}, StatelessTruncatedNormal (V1):
//     key and counter derived from the host seed, then the same shaders.
// Shader: shaders/random.comp ("random_<dist>_<dtype>").
#include <cstring>

#include "kernels/kernel.h"

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

enum class Dist { kUniform, kNormal, kTruncatedNormal, kUniformInt };

const char* DistToken(Dist d) {
  switch (d) {
    case Dist::kUniform: return "uniform";
    case Dist::kNormal: return "normal";
    case Dist::kTruncatedNormal: return "truncated_normal";
    default: return "uniform_int";
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
  const char* t = dtype == TF_BFLOAT16 ? "bf16" : DtypeToken(dtype);
  return std::string("random_") + DistToken(dist) + "_" + t;
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
    Tensor words;
    if (kV2) {
      p.key = key.address();
      p.counter = counter.address();
    } else {
      uint64_t host[3];
      PackKeyCounter(KeyCounterFromSeed(seed), host);
      words = ctx.allocate_temp({3}, TF_UINT64);
      if (!ctx.ok()) return;
      ctx.stream()->CopyHostToDevice(words.address(), host, sizeof(host));
      p.key = words.address();
      p.counter = words.address() + 8;
    }
    p.y = y.address();
    p.n = static_cast<uint32_t>(n);
    const int64_t per_group = dtype_ == TF_INT64 ? 2 : 4;
    ctx.Dispatch(Token(kDist, dtype_), p, OpContext::GridFor((n + per_group - 1) / per_group, 64));
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
}

}  // namespace tfmp
