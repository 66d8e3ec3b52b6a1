// The core library's exported entry points. TF never loads this library
// directly: the loader in site-packages/tensorflow-plugins (loader/loader.cc)
// checks the TensorFlow release first, then forwards TF's plugin entry points
// here. The tfmp_* functions are the Python package's window (via ctypes).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <sstream>
#include <string>

#include "grappler/optimizer.h"
#include "kernels/kernel.h"
#include "tensorflow_metal_plugin/profile.h"
#include "tensorflow_metal_plugin/se_types.h"
#include "tensorflow_metal_plugin/stats.h"

#define TFMP_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

std::string DevicesJson() {
  std::string why;
  auto devices = tfmp::rt::EnumerateDevices(&why);
  std::ostringstream o;
  o << "{\"devices\": [";
  for (size_t i = 0; i < devices.size(); ++i) {
    const auto& d = devices[i];
    o << (i ? ", " : "") << "{\"name\": \"" << JsonEscape(d.name) << "\", \"backend\": \""
      << d.backend << "\", \"driver\": \"" << JsonEscape(d.driver) << "\", \"vendor\": \""
      << JsonEscape(d.vendor) << "\", \"memory_bytes\": " << d.memory_bytes
      << ", \"software\": " << (d.software ? "true" : "false")
      << ", \"unified_memory\": " << (d.unified_memory ? "true" : "false")
      << ", \"float16\": " << (d.fp16 ? "true" : "false")
      << ", \"preserves_nan\": " << (d.ieee_nan ? "true" : "false")
      << ", \"max_shared_memory\": " << d.max_shared_memory
      << ", \"subgroup_size\": " << d.subgroup_size
      << ", \"cooperative_matrix_f16\": " << (d.coopmat_f16 ? "true" : "false")
      << ", \"cooperative_matrix\": \"" << JsonEscape(d.coopmat) << "\"}";
  }
  o << "], \"why_none\": \"" << JsonEscape(why) << "\"}";
  return o.str();
}

}  // namespace

// Number of usable devices; when 0, `why` (if given) receives the reason.
TFMP_EXPORT int tfmp_core_device_count(char* why, int why_size) {
  std::string reason;
  int n = static_cast<int>(tfmp::rt::EnumerateDevices(&reason).size());
  if (why && why_size > 0) std::snprintf(why, why_size, "%s", reason.c_str());
  return n;
}

TFMP_EXPORT void tfmp_core_init_plugin(SE_PlatformRegistrationParams* params, TF_Status* status) {
  tfmp::InitStreamExecutor(params, status);
}

TFMP_EXPORT void tfmp_core_init_kernel() { tfmp::RegisterAllKernels(); }

TFMP_EXPORT void tfmp_core_init_graph(TP_OptimizerRegistrationParams* params, TF_Status* status) {
  tfmp::grappler::InitGraph(params, status);
}

// The Grappler pass's switches (grappler/optimizer.h): name "all", a family
// or a pattern; value 1 on, 0 off, -1 back to the environment's say. Returns
// 0 for an unknown name.
TFMP_EXPORT int tfmp_fusion_set(const char* name, int value) {
  return tfmp::grappler::SetOverride(name ? name : "", value) ? 1 : 0;
}

// JSON: the effective switches and the patterns, largest first.
TFMP_EXPORT const char* tfmp_fusion_config_json() {
  static thread_local std::string json;
  json = tfmp::grappler::ConfigJson();
  return json.c_str();
}

// JSON: what the pass did in its recent runs (patterns fired, node counts).
TFMP_EXPORT const char* tfmp_fusion_report_json() {
  static thread_local std::string json;
  json = tfmp::grappler::ReportJson();
  return json.c_str();
}

TFMP_EXPORT void tfmp_fusion_reset_report() { tfmp::grappler::ResetReport(); }

// Runs the pass on a serialized GraphDef (tests, tools); `preserve` is a
// comma-separated list of node names. Returns the size of the result written
// to a malloc'ed *out (free it with tfmp_free), or -1 if `data` is no GraphDef.
TFMP_EXPORT long tfmp_fusion_optimize(const char* data, long size, const char* preserve,
                                      char** out) {
  std::set<std::string> keep;
  std::string cur;
  for (const char* p = preserve ? preserve : ""; ; ++p) {
    if (*p == ',' || *p == 0) {
      if (!cur.empty()) keep.insert(cur);
      cur.clear();
      if (*p == 0) break;
    } else {
      cur += *p;
    }
  }
  std::string result;
  *out = nullptr;
  if (!tfmp::grappler::OptimizeSerialized(std::string(data, size), keep, &result)) return -1;
  *out = static_cast<char*>(std::malloc(result.size() ? result.size() : 1));
  std::memcpy(*out, result.data(), result.size());
  return static_cast<long>(result.size());
}

TFMP_EXPORT void tfmp_free(void* p) { std::free(p); }

// JSON description of the usable devices (static storage, valid until the next call).
TFMP_EXPORT const char* tfmp_devices_json() {
  static std::string json;
  json = DevicesJson();
  return json.c_str();
}

// Counters: names (comma-separated) and values, in the same order.
TFMP_EXPORT const char* tfmp_stats_names() {
  static const char* names =
#define TFMP_STATS_NAME(name, doc) #name ","
      TFMP_STATS_COUNTERS(TFMP_STATS_NAME)
#undef TFMP_STATS_NAME
      ;
  return names;
}

TFMP_EXPORT int tfmp_stats(uint64_t* values, int capacity) {
  tfmp::Stats& s = tfmp::GlobalStats();
  int i = 0;
#define TFMP_STATS_READ(name, doc) \
  if (i < capacity) values[i] = s.name.load(); \
  ++i;
  TFMP_STATS_COUNTERS(TFMP_STATS_READ)
#undef TFMP_STATS_READ
  return i;
}

TFMP_EXPORT void tfmp_reset_stats() {
  tfmp::Stats& s = tfmp::GlobalStats();
#define TFMP_STATS_RESET(name, doc) s.name.store(0);
  TFMP_STATS_COUNTERS(TFMP_STATS_RESET)
#undef TFMP_STATS_RESET
}

// --- profiling (tensorflow_metal_plugin/profile.h) -----------------------------

TFMP_EXPORT void tfmp_profile_start() { tfmp::StartProfile(); }
TFMP_EXPORT void tfmp_profile_stop() { tfmp::StopProfile(); }

// The report as JSON or as a table (static storage, valid until the next call).
TFMP_EXPORT const char* tfmp_profile_json() {
  static std::string json;
  json = tfmp::ProfileJson();
  return json.c_str();
}

TFMP_EXPORT const char* tfmp_profile_text(int top) {
  static std::string text;
  text = tfmp::ProfileText(top);
  return text.c_str();
}

// --- the pipeline cache on disk ----------------------------------------------

// [{"device", "path", "loaded"}] for every usable device (opening it).
TFMP_EXPORT const char* tfmp_pipeline_cache_json() {
  static std::string json;
  std::ostringstream o;
  o << "[";
  const size_t n = tfmp::rt::EnumerateDevices(nullptr).size();
  bool first = true;
  for (size_t i = 0; i < n; ++i) {
    tfmp::rt::Status s;
    tfmp::rt::Device* d = tfmp::rt::OpenDevice(static_cast<int>(i), &s);
    if (!d) continue;
    o << (first ? "" : ", ") << "{\"device\": \"" << JsonEscape(d->info().name) << "\", \"path\": \""
      << JsonEscape(d->PipelineCachePath()) << "\", \"loaded\": "
      << (d->PipelineCacheLoaded() ? "true" : "false") << "}";
    first = false;
  }
  o << "]";
  json = o.str();
  return json.c_str();
}

// Writes every device's pipeline cache now; "" or the first error.
TFMP_EXPORT const char* tfmp_pipeline_cache_save() {
  static std::string err;
  err.clear();
  const size_t n = tfmp::rt::EnumerateDevices(nullptr).size();
  for (size_t i = 0; i < n; ++i) {
    tfmp::rt::Status s;
    tfmp::rt::Device* d = tfmp::rt::OpenDevice(static_cast<int>(i), &s);
    if (d) s = d->SavePipelineCache();
    if (!s.ok() && err.empty()) err = s.message;
  }
  return err.c_str();
}
