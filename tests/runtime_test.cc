// Checks of the runtime below TensorFlow, run by tests/test_runtime.py:
//   runtime_test copies      copies at odd offsets and sizes (0 included) round-trip
//   runtime_test chain N     N dependent dispatches with no host wait in between
//   runtime_test overhead N  host cost per recorded dispatch (prints us/op)
//   runtime_test timer       GPU timestamps bracket work and grow with it
//   runtime_test callback    host callbacks run in stream order, after prior work
// Exits non-zero with a message on the first mismatch.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("usage: runtime_test copies|chain N|overhead N");
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
  return Fail("unknown command " + cmd);
}
