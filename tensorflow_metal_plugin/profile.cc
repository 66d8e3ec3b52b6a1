#include "tensorflow_metal_plugin/profile.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensorflow_metal_plugin/runtime/backend.h"

namespace tfmp {
namespace {

struct Entry {
  uint64_t count = 0;
  uint64_t ns = 0;
  uint64_t bytes = 0;
};

struct State {
  std::mutex mu;
  std::atomic<bool> active{false};
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point stop = start;
  std::unordered_map<const char*, Entry> kernels;
  Entry copies[kProfileCopyKinds];
  std::unordered_map<std::string, Entry> ops;
  uint64_t batch_ns = 0, batches = 0, commands = 0;
  std::vector<ProfileBatchTimes> timeline;  // the first kMaxTimeline batches
};

// Batches kept for the timeline (~56 bytes each): a whole-process profile
// (TFMP_PROFILE=1) of a long run keeps its first 1M.
constexpr size_t kMaxTimeline = size_t{1} << 20;

uint64_t Ns(std::chrono::steady_clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

State& S() {
  static State* s = new State;
  return *s;
}

const char* kCopyNames[kProfileCopyKinds] = {"host_to_device", "device_to_host",
                                             "device_to_device", "fill"};

std::string Escape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

struct Row {
  std::string name;
  Entry e;
};

template <typename Map>
std::vector<Row> Sorted(const Map& m) {
  std::vector<Row> rows;
  for (const auto& kv : m) rows.push_back({kv.first, kv.second});
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return a.e.ns != b.e.ns ? a.e.ns > b.e.ns : a.name < b.name;
  });
  return rows;
}

double WallMs(State& s) {
  auto end = s.active ? std::chrono::steady_clock::now() : s.stop;
  return std::chrono::duration<double, std::milli>(end - s.start).count();
}

// profile.h "The timeline". All times in host nanoseconds since the start.
struct Timeline {
  bool valid = false;
  double busy = 0, host = 0, unsubmitted = 0, launch = 0, after = 0, align = 0;
  uint64_t gaps = 0;
};

Timeline ComputeTimeline(State& s) {
  Timeline t;
  if (s.timeline.empty()) return t;
  const void* device = s.timeline[0].device;
  for (const ProfileBatchTimes& b : s.timeline)
    if (b.device != device) return t;  // clock domains differ
  const double start = static_cast<double>(Ns(s.start));
  const double stop = static_cast<double>(Ns(s.active ? std::chrono::steady_clock::now() : s.stop));
  // GPU ticks relative to the earliest start, in ns.
  uint64_t base = s.timeline[0].gpu_start;
  for (const ProfileBatchTimes& b : s.timeline) base = std::min(base, b.gpu_start);
  struct Span {
    double begin, end, open, submit;
  };
  std::vector<Span> spans;
  double lo = -1e300, hi = 1e300;  // host = gpu + offset, offset in [lo, hi]
  for (const ProfileBatchTimes& b : s.timeline) {
    const double gs = static_cast<double>(b.gpu_start - base) * b.tick_ns;
    const double ge = static_cast<double>(b.gpu_end - base) * b.tick_ns;
    lo = std::max(lo, static_cast<double>(b.submit_ns) - gs);
    hi = std::min(hi, static_cast<double>(b.done_ns) - ge);
    spans.push_back({gs, ge, static_cast<double>(b.open_ns), static_cast<double>(b.submit_ns)});
  }
  // The earliest the GPU could have started each batch: the tightest
  // submission bound (launch latency ~ a few us on a discrete GPU).
  const double offset = lo;
  t.align = std::max(0.0, hi - lo);
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  double cursor = start;  // host time up to which the idle time is accounted
  for (const Span& sp : spans) {
    const double b = std::min(std::max(sp.begin + offset, start), stop);
    const double e = std::min(std::max(sp.end + offset, start), stop);
    if (b > cursor) {  // idle from cursor to b: what was the host doing?
      const double open = std::min(std::max(sp.open, cursor), b);
      const double submit = std::min(std::max(sp.submit, open), b);
      t.host += open - cursor;
      t.unsubmitted += submit - open;
      t.launch += b - submit;
      t.gaps++;
      cursor = b;
    }
    if (e > cursor) {
      t.busy += e - cursor;
      cursor = e;
    }
  }
  t.after = std::max(0.0, stop - cursor);
  t.valid = true;
  return t;
}

}  // namespace

void StartProfile() {
  State& s = S();
  // Work recorded before starts is not profiled: let it finish, so that the
  // batches after this point are opened (and timed) with profiling on.
  rt::SetProfiling(true);
  rt::SynchronizeOpenDevices();
  rt::PrepareProfiling();
  std::lock_guard<std::mutex> lock(s.mu);
  s.kernels.clear();
  s.ops.clear();
  for (Entry& e : s.copies) e = Entry();
  s.batch_ns = s.batches = s.commands = 0;
  s.timeline.clear();
  s.start = std::chrono::steady_clock::now();
  s.active = true;
}

void StopProfile() {
  State& s = S();
  // New batches are not timed; the timed ones complete and are read back.
  rt::SetProfiling(false);
  rt::SynchronizeOpenDevices();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.active) s.stop = std::chrono::steady_clock::now();
  s.active = false;
}

bool ProfileActive() { return S().active; }

void ProfileKernel(const char* kernel, uint64_t gpu_ns) {
  State& s = S();
  if (!s.active) return;
  std::lock_guard<std::mutex> lock(s.mu);
  Entry& e = s.kernels[kernel];
  e.count++;
  e.ns += gpu_ns;
}

void ProfileCopy(int kind, uint64_t bytes, uint64_t gpu_ns) {
  if (kind < 0 || kind >= kProfileCopyKinds) return;
  State& s = S();
  if (!s.active) return;
  std::lock_guard<std::mutex> lock(s.mu);
  Entry& e = s.copies[kind];
  e.count++;
  e.ns += gpu_ns;
  e.bytes += bytes;
}

void ProfileBatch(const ProfileBatchTimes& b) {
  State& s = S();
  if (!s.active) return;
  std::lock_guard<std::mutex> lock(s.mu);
  s.batch_ns += static_cast<uint64_t>(static_cast<double>(b.gpu_end - b.gpu_start) * b.tick_ns);
  s.batches++;
  s.commands += b.commands;
  if (s.timeline.size() < kMaxTimeline) s.timeline.push_back(b);
}

uint64_t ProfileHostNs() { return Ns(std::chrono::steady_clock::now()); }

void ProfileOp(const std::string& op_type, uint64_t host_ns) {
  State& s = S();
  if (!s.active) return;
  std::lock_guard<std::mutex> lock(s.mu);
  Entry& e = s.ops[op_type];
  e.count++;
  e.ns += host_ns;
}

std::string ProfileJson() {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  char buf[512];
  std::string out;
  std::snprintf(buf, sizeof(buf),
                "{\"active\": %s, \"wall_ms\": %.4f, \"gpu_ms\": %.4f, \"batches\": %llu, "
                "\"commands\": %llu, \"kernels\": [",
                s.active ? "true" : "false", WallMs(s), s.batch_ns / 1e6,
                static_cast<unsigned long long>(s.batches),
                static_cast<unsigned long long>(s.commands));
  out += buf;
  std::unordered_map<std::string, Entry> kernels;
  for (const auto& kv : s.kernels) kernels[kv.first] = kv.second;
  bool first = true;
  for (const Row& r : Sorted(kernels)) {
    std::snprintf(buf, sizeof(buf),
                  "%s{\"name\": \"%s\", \"count\": %llu, \"gpu_ms\": %.4f, \"mean_us\": %.3f}",
                  first ? "" : ", ", Escape(r.name).c_str(),
                  static_cast<unsigned long long>(r.e.count), r.e.ns / 1e6,
                  r.e.count ? r.e.ns / 1e3 / r.e.count : 0.0);
    out += buf;
    first = false;
  }
  out += "], \"copies\": [";
  for (int k = 0; k < kProfileCopyKinds; ++k) {
    const Entry& e = s.copies[k];
    std::snprintf(buf, sizeof(buf),
                  "%s{\"kind\": \"%s\", \"count\": %llu, \"bytes\": %llu, \"gpu_ms\": %.4f}",
                  k ? ", " : "", kCopyNames[k], static_cast<unsigned long long>(e.count),
                  static_cast<unsigned long long>(e.bytes), e.ns / 1e6);
    out += buf;
  }
  out += "], \"ops\": [";
  first = true;
  for (const Row& r : Sorted(s.ops)) {
    std::snprintf(buf, sizeof(buf),
                  "%s{\"op\": \"%s\", \"count\": %llu, \"host_ms\": %.4f, \"mean_us\": %.3f}",
                  first ? "" : ", ", Escape(r.name).c_str(),
                  static_cast<unsigned long long>(r.e.count), r.e.ns / 1e6,
                  r.e.count ? r.e.ns / 1e3 / r.e.count : 0.0);
    out += buf;
    first = false;
  }
  out += "], \"timeline\": ";
  const Timeline t = ComputeTimeline(s);
  if (t.valid) {
    std::snprintf(buf, sizeof(buf),
                  "{\"busy_ms\": %.4f, \"host_ms\": %.4f, \"unsubmitted_ms\": %.4f, "
                  "\"launch_ms\": %.4f, \"after_ms\": %.4f, \"gaps\": %llu, \"align_us\": %.2f}",
                  t.busy / 1e6, t.host / 1e6, t.unsubmitted / 1e6, t.launch / 1e6, t.after / 1e6,
                  static_cast<unsigned long long>(t.gaps), t.align / 1e3);
    out += buf;
  } else {
    out += "null";
  }
  out += "}";
  return out;
}

std::string ProfileText(int top) {
  State& s = S();
  std::lock_guard<std::mutex> lock(s.mu);
  std::string out;
  char buf[512];
  const double wall = WallMs(s), gpu = s.batch_ns / 1e6;
  std::snprintf(buf, sizeof(buf),
                "tensorflow-metal-plugin profile: %.2f ms wall, %.2f ms GPU busy (%.0f%%), "
                "%llu commands in %llu command buffers\n",
                wall, gpu, wall > 0 ? 100.0 * gpu / wall : 0.0,
                static_cast<unsigned long long>(s.commands),
                static_cast<unsigned long long>(s.batches));
  out += buf;
  const Timeline t = ComputeTimeline(s);
  if (t.valid) {
    std::snprintf(buf, sizeof(buf),
                  "GPU idle %.2f ms: %.2f waiting for the host to record work, %.2f recorded but "
                  "not submitted, %.2f submitted but not started, %.2f after the last GPU work "
                  "(%llu gaps; clocks aligned within %.0f us)\n",
                  (t.host + t.unsubmitted + t.launch + t.after) / 1e6, t.host / 1e6,
                  t.unsubmitted / 1e6, t.launch / 1e6, t.after / 1e6,
                  static_cast<unsigned long long>(t.gaps), t.align / 1e3);
    out += buf;
  }
  std::unordered_map<std::string, Entry> kernels;
  for (const auto& kv : s.kernels) kernels[kv.first] = kv.second;
  std::vector<Row> rows = Sorted(kernels);
  uint64_t total = 0;
  for (const Row& r : rows) total += r.e.ns;
  for (const Entry& e : s.copies) total += e.ns;
  std::snprintf(buf, sizeof(buf), "%-44s %8s %11s %10s %6s\n", "GPU: kernel", "count", "total ms",
                "mean us", "%");
  out += buf;
  int shown = 0;
  uint64_t rest_ns = 0, rest_count = 0;
  for (const Row& r : rows) {
    if (shown++ < top) {
      std::snprintf(buf, sizeof(buf), "%-44s %8llu %11.3f %10.2f %6.1f\n", r.name.c_str(),
                    static_cast<unsigned long long>(r.e.count), r.e.ns / 1e6,
                    r.e.count ? r.e.ns / 1e3 / r.e.count : 0.0,
                    total ? 100.0 * r.e.ns / total : 0.0);
      out += buf;
    } else {
      rest_ns += r.e.ns;
      rest_count += r.e.count;
    }
  }
  if (rest_count) {
    std::snprintf(buf, sizeof(buf), "%-44s %8llu %11.3f %10s %6.1f\n",
                  ("(" + std::to_string(rows.size() - top) + " more kernels)").c_str(),
                  static_cast<unsigned long long>(rest_count), rest_ns / 1e6, "",
                  total ? 100.0 * rest_ns / total : 0.0);
    out += buf;
  }
  for (int k = 0; k < kProfileCopyKinds; ++k) {
    const Entry& e = s.copies[k];
    if (!e.count) continue;
    std::snprintf(buf, sizeof(buf), "%-44s %8llu %11.3f %10.2f %6.1f  %.2f MB\n",
                  (std::string("copy ") + kCopyNames[k]).c_str(),
                  static_cast<unsigned long long>(e.count), e.ns / 1e6, e.ns / 1e3 / e.count,
                  total ? 100.0 * e.ns / total : 0.0, e.bytes / 1e6);
    out += buf;
  }
  std::vector<Row> ops = Sorted(s.ops);
  if (!ops.empty()) {
    std::snprintf(buf, sizeof(buf), "%-44s %8s %11s %10s\n", "host: op (time in Compute)",
                  "count", "total ms", "mean us");
    out += buf;
    shown = 0;
    for (const Row& r : ops) {
      if (shown++ >= top) break;
      std::snprintf(buf, sizeof(buf), "%-44s %8llu %11.3f %10.2f\n", r.name.c_str(),
                    static_cast<unsigned long long>(r.e.count), r.e.ns / 1e6,
                    r.e.count ? r.e.ns / 1e3 / r.e.count : 0.0);
      out += buf;
    }
  }
  return out;
}

}  // namespace tfmp
