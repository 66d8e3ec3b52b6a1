// Checks of the runtime below TensorFlow, run by tests/test_runtime.py:
//   runtime_test copies      copies at odd offsets and sizes (0 included) round-trip
//   runtime_test chain N     N dependent dispatches with no host wait in between
//   runtime_test overhead N  host cost per recorded dispatch (prints us/op)
//   runtime_test timer       GPU timestamps bracket work and grow with it
//   runtime_test callback    host callbacks run in stream order, after prior work
//   runtime_test coopmat     the cooperative-matrix GEMM kernels: where the device has
//                            them, every layout and edge shape against the portable
//                            matmul_f16 (every element) and float64 (sampled); where
//                            not, they are unavailable and fail cleanly
//   runtime_test barriers    barriers only where declared accesses overlap
//   runtime_test hazards N [SEED [LEN]]  N random dispatches and copies over overlapping
//                            slices, declared, checked against the host
//   runtime_test profile     per-command GPU timestamps reach the profile
//   runtime_test convplan    kernels/conv_plan.h's K splits and Winograd choices for
//                            ResNet-50's shapes on a 132-SM device, and the CNN cases'
//                            variants (no dispatch)
//   runtime_test tilepick    kernels/matmul_config.h's float16 GEMM tile choice (no dispatch)
// Exits non-zero with a message on the first mismatch.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv_plan.h"  // the convolution planner (convplan)
#include "kernels/matmul_config.h"  // the portable GEMM's push constants and plan
#include "tensorflow_metal_plugin/profile.h"
#include "tensorflow_metal_plugin/runtime/backend.h"
#include "tensorflow_metal_plugin/stats.h"

using tfmp::rt::Device;
using tfmp::rt::Status;
using tfmp::rt::Stream;

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  return 1;
}

int Copies(Device* dev) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  const uint64_t size = 1 << 20;
  uint64_t a = dev->Allocate(size), b = dev->Allocate(size);
  if (!a || !b) return Fail("allocation failed");
  std::mt19937 rng(42);
  std::vector<uint8_t> src(size), dst(size), expect(size, 0);
  for (auto& v : src) v = static_cast<uint8_t>(rng());
  stream->Fill(a, 0, size);
  stream->Fill(b, 0, size);
  const uint64_t offsets[] = {0, 1, 3, 7, 255, 4093, 65537};
  const uint64_t sizes[] = {0, 1, 2, 3, 5, 33, 1025, 4097, 100003};
  for (uint64_t off : offsets)
    for (uint64_t n : sizes) {
      // host -> a[off], a[off] -> b[off + 1], b[off + 1] -> host
      stream->CopyHostToDevice(a + off, src.data() + off, n);
      stream->CopyDeviceToDevice(b + off + 1, a + off, n);
      std::vector<uint8_t> back(n + 2, 0xAB);
      stream->CopyDeviceToHost(back.data() + 1, b + off + 1, n);
      Status st = stream->Synchronize();
      if (!st.ok()) return Fail(st.message);
      if (back[0] != 0xAB || back[n + 1] != 0xAB)
        return Fail("copy wrote outside its range at offset " + std::to_string(off));
      if (std::memcmp(back.data() + 1, src.data() + off, n) != 0)
        return Fail("round trip mismatch: offset " + std::to_string(off) + " size " +
                    std::to_string(n));
    }
  // Fill at unaligned offsets and sizes.
  stream->Fill(a + 3, 0x01020304u, 10);
  std::vector<uint8_t> f(16, 0);
  stream->CopyDeviceToHost(f.data(), a, 16);
  Status st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);
  const uint8_t want[] = {4, 3, 2, 1, 4, 3, 2, 1, 4, 3};
  if (std::memcmp(f.data() + 3, want, 10) != 0) return Fail("unaligned fill mismatch");
  // An address outside any allocation is an error, not a crash.
  stream->CopyHostToDevice(a + size + (1 << 30), src.data(), 4);
  if (stream->status().ok()) return Fail("a copy outside every allocation was not reported");
  std::printf("copies OK\n");
  dev->Free(a);
  dev->Free(b);
  return 0;
}

struct AddPush {
  uint64_t a, b, z;
  uint32_t n, rank;
  uint32_t shape[6], a_stride[6], b_stride[6];
  float alpha;  // binary.comp's attribute (LeakyRelu), unused by add
};

// x <- x + 1, N times, then x is checked: the batching must neither reorder
// nor drop work, and the host must not wait in between.
int Chain(Device* dev, int n) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  const uint32_t count = 1000;
  uint64_t x = dev->Allocate(count * 4), one = dev->Allocate(4);
  std::vector<float> init(count);
  for (uint32_t i = 0; i < count; ++i) init[i] = static_cast<float>(i);
  const float v = 1.0f;
  stream->CopyHostToDevice(x, init.data(), count * 4);
  stream->CopyHostToDevice(one, &v, 4);
  AddPush p{};
  p.a = x;
  p.b = one;
  p.z = x;
  p.n = count;
  p.rank = 0;
  p.a_stride[0] = 1;
  p.b_stride[0] = 0;
  tfmp::GlobalStats().host_waits = 0;
  const uint64_t submits_before = tfmp::GlobalStats().command_buffers;
  for (int i = 0; i < n; ++i) stream->Dispatch("add_f32", &p, sizeof(p), 4);
  const uint64_t waits_during = tfmp::GlobalStats().host_waits;
  std::vector<float> out(count);
  stream->CopyDeviceToHost(out.data(), x, count * 4);
  Status st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);
  for (uint32_t i = 0; i < count; ++i)
    if (out[i] != static_cast<float>(i) + n)
      return Fail("element " + std::to_string(i) + " is " + std::to_string(out[i]) +
                  ", expected " + std::to_string(static_cast<float>(i) + n));
  if (waits_during != 0) return Fail("the host waited while recording the chain");
  std::printf("chain OK: %d dispatches, %llu command buffers\n", n,
              static_cast<unsigned long long>(tfmp::GlobalStats().command_buffers - submits_before));
  return 0;
}

int Overhead(Device* dev, int n) {
  Status s;
  auto stream = dev->CreateStream(&s);
  uint64_t x = dev->Allocate(4096), one = dev->Allocate(4);
  AddPush p{};
  p.a = x;
  p.b = one;
  p.z = x;
  p.n = 1;
  p.b_stride[0] = 0;
  p.a_stride[0] = 1;
  stream->Dispatch("add_f32", &p, sizeof(p), 1);  // create the pipeline
  stream->Synchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) stream->Dispatch("add_f32", &p, sizeof(p), 1);
  auto t1 = std::chrono::steady_clock::now();
  stream->Synchronize();
  auto t2 = std::chrono::steady_clock::now();
  const double record_us = std::chrono::duration<double, std::micro>(t1 - t0).count() / n;
  const double total_us = std::chrono::duration<double, std::micro>(t2 - t0).count() / n;
  std::printf("overhead: %.2f us/op host recording, %.2f us/op until complete (%s)\n", record_us,
              total_us, dev->info().name.c_str());
  return 0;
}

int Timer(Device* dev) {
  Status s;
  auto stream = dev->CreateStream(&s);
  auto timer = dev->CreateTimer(&s);
  if (!stream || !timer) return Fail(s.message);
  const uint32_t count = 1 << 20;
  uint64_t x = dev->Allocate(count * 4), one = dev->Allocate(4);
  stream->Fill(x, 0, count * 4);
  stream->Fill(one, 0x3f800000u, 4);
  AddPush p{};
  p.a = x;
  p.b = one;
  p.z = x;
  p.n = count;
  p.a_stride[0] = 1;
  uint64_t ns[2];
  for (int round = 0; round < 2; ++round) {
    stream->StartTimer(timer.get());
    for (int i = 0; i < (round ? 40 : 4); ++i) stream->Dispatch("add_f32", &p, sizeof(p), 4096);
    stream->StopTimer(timer.get());
    ns[round] = timer->Nanoseconds();
  }
  if (ns[0] == 0 || ns[1] <= ns[0])
    return Fail("timer: 4 dispatches took " + std::to_string(ns[0]) + " ns, 40 took " +
                std::to_string(ns[1]) + " ns");
  std::printf("timer OK: 4 dispatches %.1f us, 40 dispatches %.1f us\n", ns[0] / 1e3, ns[1] / 1e3);
  return 0;
}

int Callback(Device* dev) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  uint64_t x = dev->Allocate(4);
  std::vector<int> order;
  float seen = -1;
  const float v = 42.0f;
  stream->CopyHostToDevice(x, &v, 4);
  float back = 0;
  stream->CopyDeviceToHost(&back, x, 4);
  stream->HostCallback([&] { order.push_back(1); seen = back; });
  stream->HostCallback([&] { order.push_back(2); });
  Status st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);
  if (order != std::vector<int>{1, 2} || seen != 42.0f)
    return Fail("host callbacks ran out of order or before the copy landed");
  std::printf("callback OK\n");
  return 0;
}

// --- cooperative-matrix GEMMs (kernels/shaders/matmul_coopmat.comp) ---------------

uint16_t ToHalf(float f) {  // round to nearest even; |f| <= 1 here (no overflow)
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int e = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = (x & 0x7fffffu) | 0x800000u;
  if (e < -10) return static_cast<uint16_t>(sign);
  const int shift = e <= 0 ? 14 - e : 13;
  uint32_t h = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
  if (rem > half || (rem == half && (h & 1))) ++h;
  if (e > 0) h = (static_cast<uint32_t>(e) << 10) + (h - 0x400);
  return static_cast<uint16_t>(sign | h);
}

float FromHalf(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, x;
  if (e == 0) {
    if (m == 0) {
      x = sign;
    } else {
      e = 113;
      while (!(m & 0x400)) m <<= 1, --e;
      x = sign | (e << 23) | ((m & 0x3ff) << 13);
    }
  } else {
    x = sign | ((e == 31 ? 255 : e + 112) << 23) | (m << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

int CoopMat(Device* dev) {
  const auto& info = dev->info();
  std::printf("device %s: cooperative_matrix_f16=%d %s\n", info.name.c_str(), info.coopmat_f16 ? 1 : 0,
              info.coopmat.c_str());
  const char* layouts[] = {"nn", "nt", "tn", "tt"};
  // The variants of the extension in use (NV or KHR), and not the other's.
  const std::string prefix = info.coopmat_khr ? "matmul_coopmat_khr_f16_" : "matmul_coopmat_f16_";
  const std::string other = info.coopmat_khr ? "matmul_coopmat_f16_" : "matmul_coopmat_khr_f16_";
  for (const char* l : layouts)
    if (dev->HasKernel(prefix + l) != info.coopmat_f16 || dev->HasKernel(other + l))
      return Fail("HasKernel(" + prefix + l + ") disagrees with the device info");
  for (const char* l : layouts)
    if (dev->HasKernel(std::string("matmul_coopmat2_f16_") + l) != info.coopmat2)
      return Fail(std::string("HasKernel(matmul_coopmat2_f16_") + l + ") disagrees with the device info");
  if (!dev->HasKernel("matmul_64x64_f16") && info.fp16) return Fail("no portable matmul_64x64_f16");
  Status s;
  if (!info.coopmat_f16 && !info.coopmat2) {
    // Dispatching it fails the stream with a message naming the feature.
    auto stream = dev->CreateStream(&s);
    if (!stream) return Fail(s.message);
    tfmp::CoopMatPush p{};
    stream->Dispatch("matmul_coopmat_f16_nn", &p, sizeof(p), 1);
    Status st = stream->status();
    if (st.ok() || st.message.find("coopmat_nv") == std::string::npos)
      return Fail("dispatching a cooperative-matrix kernel without the feature: '" + st.message + "'");
    std::printf("coopmat unavailable, refused cleanly: %s\n", st.message.c_str());
    return 0;
  }
  struct Shape { int64_t M, N, K, batch; uint32_t act; };
  const Shape shapes[] = {{1, 1, 1, 1, 0},   {7, 33, 16, 1, 0},     {129, 127, 33, 1, 1},
                          {128, 128, 32, 1, 0}, {200, 136, 72, 2, 5}, {256, 264, 1025, 1, 0},
                          {64, 8, 8, 3, 0},  {17, 9, 0, 1, 1},      {1000, 1000, 1000, 1, 0}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  int checked = 0;
  // Every tile configuration (kernels/matmul_config.h kCoopTiles; KHR: the
  // default only), and with VK_NV_cooperative_matrix2 every kCoop2Tiles one.
  std::vector<std::pair<std::string, const tfmp::CoopTile*>> kernels;
  if (info.coopmat_f16)
    for (size_t ti = 0; ti < (info.coopmat_khr ? 1 : sizeof(tfmp::kCoopTiles) / sizeof(tfmp::kCoopTiles[0])); ++ti)
      kernels.push_back({prefix, &tfmp::kCoopTiles[ti]});
  if (info.coopmat2)
    for (const tfmp::CoopTile& t : tfmp::kCoop2Tiles) kernels.push_back({"matmul_coopmat2_f16_", &t});
  const size_t tiles = kernels.size();
  for (const auto& kt : kernels)
  for (const Shape& sh : shapes) {
    for (const char* l : layouts) {
      const tfmp::CoopTile& tile = *kt.second;
      const bool ta = l[0] == 't', tb = l[1] == 't';
      const int64_t M = sh.M, N = sh.N, K = sh.K, Z = sh.batch;
      auto stream = dev->CreateStream(&s);
      if (!stream) return Fail(s.message);
      std::vector<uint16_t> ha(std::max<int64_t>(Z * M * K, 1)), hb(std::max<int64_t>(Z * K * N, 1)),
          hbias(N);
      for (auto& v : ha) v = ToHalf(uni(rng));
      for (auto& v : hb) v = ToHalf(uni(rng));
      for (auto& v : hbias) v = ToHalf(uni(rng));
      const uint64_t cbytes = Z * M * N * 2;
      uint64_t a = dev->Allocate(ha.size() * 2), b = dev->Allocate(hb.size() * 2),
               bias = dev->Allocate(N * 2), c1 = dev->Allocate(cbytes), c2 = dev->Allocate(cbytes);
      if (!a || !b || !bias || !c1 || !c2) return Fail("allocation failed");
      stream->CopyHostToDevice(a, ha.data(), ha.size() * 2);
      stream->CopyHostToDevice(b, hb.data(), hb.size() * 2);
      stream->CopyHostToDevice(bias, hbias.data(), N * 2);
      tfmp::CoopMatPush p{a, b, c1, static_cast<uint32_t>(M), static_cast<uint32_t>(N), static_cast<uint32_t>(K),
                 static_cast<uint32_t>(ta ? 1 : K), static_cast<uint32_t>(ta ? M : 1),
                 static_cast<uint32_t>(tb ? 1 : N), static_cast<uint32_t>(tb ? K : 1),
                 static_cast<uint32_t>(M * K), static_cast<uint32_t>(K * N), static_cast<uint32_t>(M * N),
                 sh.act ? bias : 0, sh.act, 0.2f};
      const uint32_t z = static_cast<uint32_t>(Z);
      stream->Dispatch((kt.first + l + tile.name).c_str(), &p, sizeof(p),
                       static_cast<uint32_t>((N + tile.bn - 1) / tile.bn),
                       static_cast<uint32_t>((M + tile.bm - 1) / tile.bm), z);
      // The portable shader (kernels/matmul.cc's plan, forced to 64x64, no split).
      const tfmp::GemmProblem prob{M, N, K, p.a_m, p.a_k, p.b_k, p.b_n, a, b, c2,
                                   Z, p.a_batch, p.b_batch, p.c_batch, 2};
      const tfmp::GemmPlan plan = tfmp::PlanGemm(prob, info.compute_units, "64x64", false);
      const tfmp::MatMulPush q = tfmp::GemmPush(prob, plan, p.bias, p.act, p.alpha);
      stream->Dispatch((std::string("matmul_") + plan.tile->name + "_f16").c_str(), &q, sizeof(q),
                       plan.gx, plan.gy, z);
      std::vector<uint16_t> r1(Z * M * N), r2(Z * M * N);
      stream->CopyDeviceToHost(r1.data(), c1, cbytes);
      stream->CopyDeviceToHost(r2.data(), c2, cbytes);
      Status st = stream->Synchronize();
      if (!st.ok()) return Fail(st.message);
      const std::string what = kt.first + l + tile.name + " " + std::to_string(M) + "x" + std::to_string(N) +
                               "x" + std::to_string(K) + " batch " + std::to_string(Z);
      for (int64_t zz = 0; zz < Z; ++zz)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            const int64_t i = zz * M * N + m * N + n;
            const float x1 = FromHalf(r1[i]), x2 = FromHalf(r2[i]);
            // Both accumulate in float32 (in different orders) and round once to
            // float16; every 64th element also against float64.
            double tol = 2 * 9.765625e-4 * std::max(std::fabs(x1), std::fabs(x2)) +
                         64 * 1.2e-7 * std::sqrt(static_cast<double>(K) + 1) + 1e-30;
            if (!(std::fabs(x1 - x2) <= tol))
              return Fail(what + ": C[" + std::to_string(zz) + ", " + std::to_string(m) + ", " +
                          std::to_string(n) + "] = " + std::to_string(x1) + ", portable " +
                          std::to_string(x2));
            if (i % 64 == 0) {
              double sum = 0;
              for (int64_t k = 0; k < K; ++k)
                sum += static_cast<double>(FromHalf(ha[zz * M * K + m * p.a_m + k * p.a_k])) *
                       FromHalf(hb[zz * K * N + k * p.b_k + n * p.b_n]);
              if (sh.act) {
                sum += FromHalf(hbias[n]);
                sum = sh.act == 1 ? std::max(sum, 0.0) : std::tanh(sum);
              }
              if (!(std::fabs(x1 - sum) <= tol))
                return Fail(what + ": C[" + std::to_string(i) + "] = " + std::to_string(x1) +
                            ", float64 " + std::to_string(sum));
            }
            ++checked;
          }
      for (uint64_t x : {a, b, bias, c1, c2}) dev->Free(x);
    }
  }
  std::printf("coopmat OK (%s%s): %d elements of %zu shapes x 4 layouts x %zu tiles match\n",
              info.coopmat_khr ? "KHR" : "NV", info.coopmat2 ? " + coopmat2" : "", checked, sizeof(shapes) / sizeof(shapes[0]), tiles);
  return 0;
}

using tfmp::rt::MemAccess;
using tfmp::rt::MemRange;

uint64_t Barriers() { return tfmp::GlobalStats().barriers.load(); }

// z[0:n] = a[0:n] + b[0] (b broadcast), declaring what it touches.
void AddScalar(Stream* s, uint64_t z, uint64_t a, uint64_t b, uint32_t n, bool declare = true) {
  AddPush p{};
  p.a = a;
  p.b = b;
  p.z = z;
  p.n = n;
  p.a_stride[0] = 1;
  p.b_stride[0] = 0;
  MemRange reads[2] = {{a, a + 4ull * n}, {b, b + 4}};
  MemRange writes[1] = {{z, z + 4ull * n}};
  MemAccess acc;
  acc.reads = reads;
  acc.num_reads = 2;
  acc.writes = writes;
  acc.num_writes = 1;
  s->Dispatch("add_f32", &p, sizeof(p), (n + 255) / 256, 1, 1, declare ? &acc : nullptr);
}

int Barriers(Device* dev) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  const uint32_t n = 256;
  uint64_t x = dev->Allocate(4 * n), one = dev->Allocate(4), warm = dev->Allocate(4 * n);
  uint64_t outs = dev->Allocate(4ull * n * 16);
  std::vector<float> init(n);
  for (uint32_t i = 0; i < n; ++i) init[i] = static_cast<float>(i);
  const float v = 1.0f;
  stream->CopyHostToDevice(x, init.data(), 4 * n);
  stream->CopyHostToDevice(one, &v, 4);
  AddScalar(stream.get(), warm, x, one, n);
  Status st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);

  // 1. Independent dispatches (same inputs, distinct outputs): no barrier.
  uint64_t b0 = Barriers();
  for (int i = 0; i < 16; ++i) AddScalar(stream.get(), outs + 4ull * n * i, x, one, n);
  if (Barriers() != b0)
    return Fail("16 independent dispatches recorded " + std::to_string(Barriers() - b0) +
                " barriers");
  // 2. A dispatch reading what one of them wrote: one barrier (read after write).
  b0 = Barriers();
  AddScalar(stream.get(), warm, outs + 4ull * n * 3, one, n);
  if (Barriers() != b0 + 1) return Fail("read-after-write got no barrier");
  // 3. Write after read: overwriting x, which the next dispatch reads ...
  b0 = Barriers();
  AddScalar(stream.get(), outs, warm, one, n);       // reads warm (written in 2: barrier)
  AddScalar(stream.get(), warm + 0, x, one, n);      // writes warm, read just before: barrier
  if (Barriers() != b0 + 2) return Fail("write-after-read / write-after-write got no barrier");
  // 4. Copies declare their ranges: a copy from an output just written waits,
  // a copy into an untouched buffer does not.
  uint64_t spare = dev->Allocate(4 * n);
  b0 = Barriers();
  stream->CopyHostToDevice(spare, init.data(), 4 * n);
  if (Barriers() != b0) return Fail("an independent host-to-device copy got a barrier");
  stream->CopyDeviceToDevice(spare, warm, 4 * n);  // reads warm (just written), rewrites spare
  if (Barriers() != b0 + 1) return Fail("a copy of fresh output got no barrier");
  // 5. An undeclared dispatch orders after everything, and the next after it.
  b0 = Barriers();
  AddScalar(stream.get(), outs + 4ull * n * 5, x, one, n, /*declare=*/false);
  AddScalar(stream.get(), outs + 4ull * n * 6, x, one, n);
  if (Barriers() != b0 + 2) return Fail("an undeclared dispatch was not fenced on both sides");
  // 6. An address in the push constants outside the declared ranges makes a
  // dispatch undeclared (a kernel reaching memory it did not declare).
  const uint64_t undeclared0 = tfmp::GlobalStats().undeclared_commands;
  {
    AddPush p{};
    p.a = x;
    p.b = one;
    p.z = outs + 4ull * n * 7;
    p.n = n;
    p.a_stride[0] = 1;
    MemRange reads[1] = {{x, x + 4ull * n}};  // `one` left out
    MemRange writes[1] = {{p.z, p.z + 4ull * n}};
    MemAccess acc;
    acc.reads = reads;
    acc.num_reads = 1;
    acc.writes = writes;
    acc.num_writes = 1;
    stream->Dispatch("add_f32", &p, sizeof(p), 1, 1, 1, &acc);
  }
  if (tfmp::GlobalStats().undeclared_commands != undeclared0 + 1)
    return Fail("a push-constant address outside the declared ranges went unnoticed");
  // The results are right.
  std::vector<float> got(16ull * n);
  stream->CopyDeviceToHost(got.data(), outs, 4ull * n * 16);
  std::vector<float> w(n);
  stream->CopyDeviceToHost(w.data(), warm, 4 * n);
  st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);
  for (int k = 0; k < 16; ++k)
    for (uint32_t i = 0; i < n; ++i) {
      float want = init[i] + 1.0f;
      if (k == 0) want = init[i] + 3.0f;  // outs[0] = warm(after 2) + 1 = x + 1 + 1 + 1
      if (got[k * n + i] != want)
        return Fail("slice " + std::to_string(k) + " element " + std::to_string(i) + " is " +
                    std::to_string(got[k * n + i]) + ", expected " + std::to_string(want));
    }
  for (uint32_t i = 0; i < n; ++i)
    if (w[i] != init[i] + 1.0f) return Fail("warm is wrong at " + std::to_string(i));
  std::printf("barriers OK\n");
  return 0;
}

// Random dispatches (z = a + b over slices of 4 buffers, slices overlapping
// at random, in place too), fills and copies, all declared, checked against
// the same sequence on the host. On a GPU that overlaps independent work a
// missing barrier shows as a wrong value.
int Hazards(Device* dev, int steps, unsigned seed, uint32_t len) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  const int kBufs = 4;
  const uint32_t kLen = len;  // floats per buffer
  std::vector<uint64_t> buf(kBufs);
  std::vector<std::vector<float>> host(kBufs, std::vector<float>(kLen));
  std::mt19937 rng(seed);
  for (int i = 0; i < kBufs; ++i) {
    buf[i] = dev->Allocate(4ull * kLen);
    for (auto& x : host[i]) x = static_cast<float>(static_cast<int>(rng() % 17) - 8);
    stream->CopyHostToDevice(buf[i], host[i].data(), 4ull * kLen);
  }
  const uint64_t b0 = Barriers(), avoided0 = tfmp::GlobalStats().barriers_avoided;
  for (int step = 0; step < steps; ++step) {
    const int kind = rng() % 10;
    const uint32_t n = 1 + rng() % (kLen / 4);
    const int ib = rng() % kBufs, ia = rng() % kBufs, iz = rng() % kBufs;
    uint32_t oa = rng() % (kLen - n), oz = rng() % (kLen - n), ob = rng() % kLen;
    // Within one command, what is written is either exactly what is read
    // (in place) or disjoint from it: anything else races inside the command
    // (and vkCmdCopyBuffer forbids overlapping regions).
    auto overlap = [](uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1) {
      return a0 < b1 && b0 < a1;
    };
    if (iz == ia && oz != oa && overlap(oz, oz + n, oa, oa + n)) oz = oa;
    if (iz == ib && overlap(oz, oz + n, ob, ob + 1)) ob = oz < kLen / 2 ? kLen - 1 : 0;
    if (iz == ib && overlap(oz, oz + n, ob, ob + 1)) continue;
    if (kind >= 7 && kind < 9 && iz == ia && oz == oa) continue;
    if (kind < 7) {
      // z[oz:oz+n] = a[oa:oa+n] + b[ob]; the host mirrors it (reads first).
      std::vector<float> a(host[ia].begin() + oa, host[ia].begin() + oa + n);
      const float b = host[ib][ob];
      AddScalar(stream.get(), buf[iz] + 4ull * oz, buf[ia] + 4ull * oa, buf[ib] + 4ull * ob, n);
      for (uint32_t i = 0; i < n; ++i) host[iz][oz + i] = a[i] + b;
    } else if (kind < 9) {
      std::vector<float> a(host[ia].begin() + oa, host[ia].begin() + oa + n);
      stream->CopyDeviceToDevice(buf[iz] + 4ull * oz, buf[ia] + 4ull * oa, 4ull * n);
      if (buf[iz] + 4ull * oz != buf[ia] + 4ull * oa)
        for (uint32_t i = 0; i < n; ++i) host[iz][oz + i] = a[i];
    } else {
      const float v = static_cast<float>(step % 5);
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      stream->Fill(buf[iz] + 4ull * oz, bits, 4ull * n);
      for (uint32_t i = 0; i < n; ++i) host[iz][oz + i] = v;
    }
  }
  std::vector<std::vector<float>> got(kBufs, std::vector<float>(kLen));
  for (int i = 0; i < kBufs; ++i) stream->CopyDeviceToHost(got[i].data(), buf[i], 4ull * kLen);
  Status st = stream->Synchronize();
  if (!st.ok()) return Fail(st.message);
  for (int b = 0; b < kBufs; ++b)
    for (uint32_t i = 0; i < kLen; ++i)
      if (got[b][i] != host[b][i])
        return Fail("hazards: buffer " + std::to_string(b) + " element " + std::to_string(i) +
                    " is " + std::to_string(got[b][i]) + ", expected " +
                    std::to_string(host[b][i]));
  std::printf("hazards OK: %d commands, %llu barriers, %llu avoided (%s)\n", steps,
              static_cast<unsigned long long>(Barriers() - b0),
              static_cast<unsigned long long>(tfmp::GlobalStats().barriers_avoided - avoided0),
              dev->info().name.c_str());
  for (uint64_t b : buf) dev->Free(b);
  return 0;
}

int Profile(Device* dev) {
  Status s;
  auto stream = dev->CreateStream(&s);
  if (!stream) return Fail(s.message);
  const uint32_t n = 1 << 20;
  uint64_t x = dev->Allocate(4 * n), one = dev->Allocate(4), y = dev->Allocate(4 * n);
  stream->Fill(one, 0x3f800000u, 4);
  stream->Fill(x, 0, 4ull * n);
  stream->Synchronize();
  tfmp::StartProfile();
  for (int i = 0; i < 20; ++i) AddScalar(stream.get(), y, x, one, n);
  std::vector<float> back(n);
  stream->CopyDeviceToHost(back.data(), y, 4ull * n);
  Status st = stream->Synchronize();
  tfmp::StopProfile();
  if (!st.ok()) return Fail(st.message);
  const std::string json = tfmp::ProfileJson();
  if (json.find("\"name\": \"add_f32\", \"count\": 20,") == std::string::npos)
    return Fail("profile lacks 20 add_f32 dispatches: " + json);
  if (json.find("\"kind\": \"device_to_host\", \"count\": 1, \"bytes\": 4194304") ==
      std::string::npos)
    return Fail("profile lacks the device-to-host copy: " + json);
  if (json.find("\"gpu_ms\": 0.0000,") != std::string::npos)
    return Fail("a profiled command took no time: " + json);
  // Off again: nothing more is recorded.
  for (int i = 0; i < 5; ++i) AddScalar(stream.get(), y, x, one, n);
  stream->Synchronize();
  if (tfmp::ProfileJson() != json) return Fail("profiling went on after StopProfile");
  std::printf("%s", tfmp::ProfileText(10).c_str());
  std::printf("profile OK\n");
  return 0;
}

// kernels/conv_plan.h's choices for ResNet-50's stride-1 convolutions at
// batch 64 on a device of 132 multiprocessors (an H200) and on one that does
// not say (0): the filter gradient's K split (by wave fill; its direct GEMM's)
// and Winograd (forward and filter gradient alike).
int ConvPlans() {
  struct Want {
    int64_t h, c_in, c_out, k;
    uint32_t splits_132, splits_0;
    bool winograd;
  };
  const Want wants[] = {{56, 64, 64, 3, 105, 105, false}, {28, 128, 128, 3, 58, 58, true},
                        {14, 256, 256, 3, 14, 14, true},  {7, 512, 512, 3, 9, 3, true},
                        {56, 64, 256, 1, 262, 262, false}};
  for (const Want& w : wants) {
    tfmp::ConvPush p{};
    for (int i = 0; i < 3; ++i) p.in[i] = p.out[i] = p.k[i] = 1, p.stride_dil[i] = 1 | 1 << 16;
    p.in[1] = p.out[1] = p.in[2] = p.out[2] = static_cast<uint32_t>(w.h);
    p.k[1] = p.k[2] = static_cast<uint32_t>(w.k);
    p.pad[1] = p.pad[2] = static_cast<int32_t>(w.k / 2);
    p.in_c = static_cast<uint32_t>(w.c_in);
    p.out_c = static_cast<uint32_t>(w.c_out);
    const std::string tag = std::to_string(w.h) + "x" + std::to_string(w.h) + "x" +
                            std::to_string(w.c_in) + "to" + std::to_string(w.c_out);
    for (uint32_t units : {132u, 0u}) {
      tfmp::ConvPush f = p;
      f.M = static_cast<uint32_t>(w.k * w.k * w.c_in);
      f.K = static_cast<uint32_t>(64 * w.h * w.h);
      const tfmp::ConvPlan plan = tfmp::PlanConv(tfmp::ConvMode::kBwdFilter, 2, "f32", true, &f, units);
      const uint32_t want = units ? w.splits_132 : w.splits_0;
      if (plan.splits != want)
        return Fail("bwd_filter " + tag + " on " + std::to_string(units) + " units: " +
                    std::to_string(plan.splits) + " K splits, want " + std::to_string(want));
      if (plan.winograd != w.winograd)
        return Fail("bwd_filter " + tag + ": Winograd " + std::to_string(plan.winograd));
    }
    tfmp::ConvPush g = p;
    g.M = static_cast<uint32_t>(64 * w.h * w.h);
    g.K = static_cast<uint32_t>(w.k * w.k * w.c_in);
    const tfmp::ConvPlan fwd = tfmp::PlanConv(tfmp::ConvMode::kFwd, 2, "f32", true, &g, 132);
    if (fwd.winograd != w.winograd) return Fail("fwd " + tag + ": Winograd " + std::to_string(fwd.winograd));
  }
  // tools/bench_training.py's CNN at batch 128 (kernel_bench's cnn_* cases):
  // the variants the H200 measurements picked (kernels/conv_plan.h).
  struct CnnWant {
    uint32_t h, c_in, c_out, k, stride;
    const char* fwd;
    const char* bwd_input;
    const char* bwd_filter;
  };
  const CnnWant cnn[] = {
      {32, 3, 32, 3, 1, "conv2d_fwd_f32_v4a1_128x32", "conv2d_bwd_input_f32_128x32",
       "conv2d_bwd_filter_f32_to_f32_v4a1_128x32"},
      {32, 32, 32, 3, 1, "conv2d_fwd_f32_v4_128x32", "conv2d_bwd_input_f32_v4_128x32",
       "conv2d_bwd_filter_f32_to_f32_v4_128x32"},
      // stride 2: the input gradient per stride phase ("_v4p_", ConvPhased)
      {32, 32, 64, 3, 2, "conv2d_fwd_f32_v4_128x64", "conv2d_bwd_input_f32_v4p_128x32",
       "conv2d_bwd_filter_f32_to_f32_v4_128x64"},
      {16, 64, 64, 3, 1, "conv2d_fwd_f32_v4_128x64", "conv2d_bwd_input_f32_v4_128x64",
       "conv2d_bwd_filter_f32_to_f32_v4_128x64"},
      {32, 32, 64, 1, 2, "conv2d_fwd_f32_v4_128x64", "conv2d_bwd_input_f32_v4p_256x32",
       "conv2d_bwd_filter_f32_to_f32_v4_64x64"}};
  for (const CnnWant& w : cnn) {
    const uint32_t o = (w.h + w.stride - 1) / w.stride;
    tfmp::ConvPush p{};
    for (int i = 0; i < 3; ++i) p.in[i] = p.out[i] = p.k[i] = 1, p.stride_dil[i] = 1 | 1 << 16;
    p.in[1] = p.in[2] = w.h;
    p.out[1] = p.out[2] = o;
    p.k[1] = p.k[2] = w.k;
    p.stride_dil[1] = p.stride_dil[2] = w.stride | 1 << 16;
    p.pad[1] = p.pad[2] = w.stride == 1 ? static_cast<int32_t>(w.k / 2) : 0;
    p.in_c = w.c_in;
    p.out_c = w.c_out;
    const std::string tag = "cnn " + std::to_string(w.h) + "x" + std::to_string(w.c_in) + "to" +
                            std::to_string(w.c_out) + " " + std::to_string(w.k) + "x" +
                            std::to_string(w.k) + " s" + std::to_string(w.stride);
    const struct {
      tfmp::ConvMode mode;
      uint32_t M, K;
      const char* want;
    } modes[] = {{tfmp::ConvMode::kFwd, 128 * o * o, w.k * w.k * w.c_in, w.fwd},
                 {tfmp::ConvMode::kBwdInput, 128 * w.h * w.h, w.k * w.k * w.c_out, w.bwd_input},
                 {tfmp::ConvMode::kBwdFilter, w.k * w.k * w.c_in, 128 * o * o, w.bwd_filter}};
    for (const auto& m : modes) {
      tfmp::ConvPush q = p;
      q.M = m.M;
      q.K = m.K;
      const tfmp::ConvPlan plan = tfmp::PlanConv(m.mode, 2, "f32", true, &q, 132);
      if (plan.kernel != m.want || plan.winograd)
        return Fail(tag + ": " + plan.kernel + (plan.winograd ? " (Winograd)" : "") + ", want " + m.want);
    }
  }
  std::printf("conv plans OK\n");
  return 0;
}

// kernels/matmul_config.h's float16 GEMM tile choice on a 132-SM device (an
// H200) and on one that does not say (0: 256 assumed): the wide tile where it
// fills every SM, the 128-invocation 128x128 tile where that does, else the
// 256-invocation 128x128 tile.
int TilePicks() {
  struct Want {
    int64_t m, n, batch;
    uint32_t units;
    const char* tile;
  };
  const Want wants[] = {{4096, 4096, 1, 132, "_128x256_k32_u16"}, {2048, 2048, 1, 132, "_128x128_t128_k32_u8"},
                        {1024, 1024, 1, 132, ""},                 {1024, 1024, 4, 132, "_128x128_t128_k32_u8"},
                        {2048, 2048, 1, 0, "_128x128_t128_k32_u8"}, {1536, 1536, 1, 0, ""},
                        {8192, 8192, 1, 0, "_128x256_k32_u16"}};
  for (const Want& w : wants) {
    const char* got = tfmp::PickCoop2Tile(w.m, w.n, w.batch, w.units).name;
    if (std::string(got) != w.tile)
      return Fail(std::to_string(w.m) + "x" + std::to_string(w.n) + "x" + std::to_string(w.batch) + " on " +
                  std::to_string(w.units) + " units: tile \"" + got + "\", want \"" + w.tile + "\"");
  }
  std::printf("tile picks OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return Fail("usage: runtime_test copies|chain N|overhead N|timer|callback|coopmat|barriers|hazards N|"
                "profile|convplan|tilepick");
  std::string why;
  auto devices = tfmp::rt::EnumerateDevices(&why);
  if (devices.empty()) return Fail("no device: " + why);
  Status s;
  Device* dev = tfmp::rt::OpenDevice(0, &s);
  if (!dev) return Fail(s.message);
  std::string cmd = argv[1];
  int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  if (cmd == "copies") return Copies(dev);
  if (cmd == "chain") return Chain(dev, n);
  if (cmd == "overhead") return Overhead(dev, n);
  if (cmd == "timer") return Timer(dev);
  if (cmd == "callback") return Callback(dev);
  if (cmd == "coopmat") return CoopMat(dev);
  if (cmd == "barriers") return Barriers(dev);
  if (cmd == "hazards")
    return Hazards(dev, n, argc > 3 ? std::atoi(argv[3]) : 7,
                   argc > 4 ? static_cast<uint32_t>(std::atoi(argv[4])) : (1u << 16));
  if (cmd == "profile") return Profile(dev);
  if (cmd == "convplan") return ConvPlans();
  if (cmd == "tilepick") return TilePicks();
  return Fail("unknown command " + cmd);
}
