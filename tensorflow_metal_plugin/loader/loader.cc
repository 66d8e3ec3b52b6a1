// The library TensorFlow loads from site-packages/tensorflow-plugins.
//
// It links nothing of TensorFlow, so it loads into any TF release. It checks
// that the running TF is the release the core library (libtfmp_core.so, which
// uses TF's C++ ABI for resource variables) was built for, and that a usable
// GPU exists; only then does it load the core and forward TF's entry points
// to it. Otherwise it "declines": it registers the platform with no devices,
// logs one line, and TF carries on on the CPU. (TF 2.21's import fails on any
// plugin error, so declining must never be an error.)
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <tuple>

#include "tensorflow/c/experimental/grappler/grappler.h"
#include "tensorflow/c/experimental/stream_executor/stream_executor.h"
#include "tensorflow/c/tf_status.h"

#ifndef TFMP_BUILT_FOR_TF
#error "TFMP_BUILT_FOR_TF must name the TensorFlow release the core is built for"
#endif

#define TFMP_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using InitPluginFn = void (*)(SE_PlatformRegistrationParams*, TF_Status*);
using InitKernelFn = void (*)();
using InitGraphFn = void (*)(TP_OptimizerRegistrationParams*, TF_Status*);
using DeviceCountFn = int (*)(char*, int);

struct Loader {
  bool loaded_by_tf = false;  // TF called SE_InitPlugin
  bool decided = false;
  void* core = nullptr;  // non-null: accepted
  std::string reason;    // why we declined
};

Loader& State() {
  static Loader loader;
  return loader;
}

const char* RunningTfVersion() {
  // TF_Version lives in libtensorflow_cc, which TF's Python module has loaded.
  void* cc = dlopen("libtensorflow_cc.so.2", RTLD_LAZY | RTLD_NOLOAD);
  void* sym = cc ? dlsym(cc, "TF_Version") : dlsym(RTLD_DEFAULT, "TF_Version");
  if (!sym) return nullptr;
  return reinterpret_cast<const char* (*)()>(sym)();
}

std::string CorePath() {
  // <site-packages>/tensorflow-plugins/<this>.so -> <site-packages>/tensorflow_metal_plugin/
  Dl_info info;
  if (!dladdr(reinterpret_cast<void*>(&RunningTfVersion), &info) || !info.dli_fname) return "";
  std::string self = info.dli_fname;
  std::string dir = self.substr(0, self.rfind('/'));
  std::string site = dir.substr(0, dir.rfind('/'));
  return site + "/tensorflow_metal_plugin/libtfmp_core.so";
}

void Decide() {
  Loader& s = State();
  if (s.decided) return;
  s.decided = true;
  const char* running = RunningTfVersion();
  std::string expected = TFMP_BUILT_FOR_TF;
  if (!running) {
    s.reason = "cannot tell which TensorFlow release is running (no TF_Version)";
    return;
  }
  if (expected != running) {
    s.reason = "built for TensorFlow " + expected + " but running in TensorFlow " + running +
               "; install the plugin release built for it";
    return;
  }
  std::string path = CorePath();
  void* core = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!core) {
    const char* err = dlerror();
    s.reason = "cannot load " + path + ": " + (err ? err : "unknown error");
    return;
  }
  auto count = reinterpret_cast<DeviceCountFn>(dlsym(core, "tfmp_core_device_count"));
  char why[1024] = {0};
  if (!count || count(why, sizeof(why)) == 0) {
    s.reason = count ? why : "the core library lacks tfmp_core_device_count";
    return;  // the core stays loaded for the Python package's diagnostics
  }
  s.core = core;
}

// --- the declined platform: registered, but with no devices -------------------

void NoDevices(const SP_Platform*, int* count, TF_Status* status) {
  *count = 0;
  TF_SetStatus(status, TF_OK, "");
}
void Declined(TF_Status* status) {
  TF_SetStatus(status, TF_UNAVAILABLE, ("tensorflow-metal-plugin: " + State().reason).c_str());
}
void NoCreateDevice(const SP_Platform*, SE_CreateDeviceParams*, TF_Status* s) { Declined(s); }
void NoDestroyDevice(const SP_Platform*, SP_Device*) {}
void NoDestroyDeviceFns(const SP_Platform*, SP_DeviceFns*) {}
void NoDestroyStreamExecutor(const SP_Platform*, SP_StreamExecutor*) {}
void NoDestroyTimerFns(const SP_Platform*, SP_TimerFns*) {}
void NoDestroyPlatform(SP_Platform*) {}
void NoDestroyPlatformFns(SP_PlatformFns*) {}

// TF creates (and validates) the device functions, the StreamExecutor and the
// timer functions even for a platform with no devices; none is ever called.
void DeclinedDeviceFns(const SP_Platform*, SE_CreateDeviceFnsParams* params, TF_Status* status) {
  SP_DeviceFns* f = params->device_fns;
  f->struct_size = SP_DEVICE_FNS_STRUCT_SIZE;
  f->get_numa_node = [](auto...) -> int32_t { return -1; };
  f->get_memory_bandwidth = [](auto...) -> int64_t { return 0; };
  f->get_gflops = [](auto...) -> double { return 0; };
  TF_SetStatus(status, TF_OK, "");
}

void DeclinedStreamExecutor(const SP_Platform*, SE_CreateStreamExecutorParams* params,
                            TF_Status* status) {
  SP_StreamExecutor* se = params->stream_executor;
  se->struct_size = SP_STREAMEXECUTOR_STRUCT_SIZE;
  auto nothing = [](auto...) {};
  auto fail = [](auto... args) { Declined(std::get<sizeof...(args) - 1>(std::tie(args...))); };
  auto no = [](auto...) -> TF_Bool { return false; };
  se->allocate = [](const SP_Device*, uint64_t, int64_t, SP_DeviceMemoryBase* m) {
    m->opaque = nullptr;
    m->size = 0;
  };
  se->deallocate = nothing;
  se->host_memory_allocate = [](auto...) -> void* { return nullptr; };
  se->host_memory_deallocate = nothing;
  se->unified_memory_allocate = [](auto...) -> void* { return nullptr; };
  se->unified_memory_deallocate = nothing;
  se->get_allocator_stats = no;
  se->device_memory_usage = no;
  se->create_stream = fail;
  se->destroy_stream = nothing;
  se->create_stream_dependency = fail;
  se->get_stream_status = fail;
  se->create_event = fail;
  se->destroy_event = nothing;
  se->get_event_status = [](auto...) { return SE_EVENT_ERROR; };
  se->record_event = fail;
  se->wait_for_event = fail;
  se->create_timer = fail;
  se->destroy_timer = nothing;
  se->start_timer = fail;
  se->stop_timer = fail;
  se->memcpy_dtoh = fail;
  se->memcpy_htod = fail;
  se->memcpy_dtod = fail;
  se->sync_memcpy_dtoh = fail;
  se->sync_memcpy_htod = fail;
  se->sync_memcpy_dtod = fail;
  se->block_host_for_event = fail;
  se->block_host_until_done = fail;
  se->synchronize_all_activity = fail;
  se->mem_zero = fail;
  se->memset = fail;
  se->memset32 = fail;
  se->host_callback = no;
  TF_SetStatus(status, TF_OK, "");
}

void DeclinedTimerFns(const SP_Platform*, SP_TimerFns* fns, TF_Status* status) {
  fns->struct_size = SP_TIMER_FNS_STRUCT_SIZE;
  fns->nanoseconds = [](SP_Timer) -> uint64_t { return 0; };
  TF_SetStatus(status, TF_OK, "");
}

void RegisterDeclined(SE_PlatformRegistrationParams* params, TF_Status* status) {
  params->major_version = SE_MAJOR;
  params->minor_version = SE_MINOR;
  params->patch_version = SE_PATCH;
  params->platform->struct_size = SP_PLATFORM_STRUCT_SIZE;
  params->platform->name = "TFMP";
  params->platform->type = "GPU";
  params->platform->supports_unified_memory = false;
  params->platform->use_bfc_allocator = true;
  params->platform->force_memory_growth = true;
  SP_PlatformFns* f = params->platform_fns;
  f->struct_size = SP_PLATFORM_FNS_STRUCT_SIZE;
  f->get_device_count = NoDevices;
  f->create_device = NoCreateDevice;
  f->destroy_device = NoDestroyDevice;
  f->create_device_fns = DeclinedDeviceFns;
  f->destroy_device_fns = NoDestroyDeviceFns;
  f->create_stream_executor = DeclinedStreamExecutor;
  f->destroy_stream_executor = NoDestroyStreamExecutor;
  f->create_timer_fns = DeclinedTimerFns;
  f->destroy_timer_fns = NoDestroyTimerFns;
  params->destroy_platform = NoDestroyPlatform;
  params->destroy_platform_fns = NoDestroyPlatformFns;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace

TFMP_EXPORT void SE_InitPlugin(SE_PlatformRegistrationParams* params, TF_Status* status) {
  Decide();
  Loader& s = State();
  s.loaded_by_tf = true;
  if (s.core) {
    reinterpret_cast<InitPluginFn>(dlsym(s.core, "tfmp_core_init_plugin"))(params, status);
    return;
  }
  std::fprintf(stderr, "tensorflow-metal-plugin: no GPU device offered: %s\n", s.reason.c_str());
  RegisterDeclined(params, status);
}

TFMP_EXPORT void TF_InitKernel() {
  Decide();
  Loader& s = State();
  if (s.core) reinterpret_cast<InitKernelFn>(dlsym(s.core, "tfmp_core_init_kernel"))();
}

// TF looks this up and, when present, must be given a valid optimizer. When
// the core is loaded it registers the plugin's Grappler pass; when the loader
// declined, it registers a pass that returns every graph unchanged, for a
// device type no device has, so TF never runs it and no TF switch changes.
TFMP_EXPORT void TF_InitGraph(TP_OptimizerRegistrationParams* params, TF_Status* status) {
  Decide();
  Loader& s = State();
  if (s.core) {
    reinterpret_cast<InitGraphFn>(dlsym(s.core, "tfmp_core_init_graph"))(params, status);
    return;
  }
  params->major_version = GO_MAJOR;
  params->minor_version = GO_MINOR;
  params->patch_version = GO_PATCH;
  params->device_type = "TFMP_DECLINED";
  params->optimizer->optimize_func = [](void*, const TF_Buffer* in, const TF_GrapplerItem*,
                                        TF_Buffer* out, TF_Status* st) {
    void* copy = std::malloc(in->length ? in->length : 1);
    std::memcpy(copy, in->data, in->length);
    out->data = copy;
    out->length = in->length;
    out->data_deallocator = [](void* d, size_t) { std::free(d); };
    TF_SetStatus(st, TF_OK, "");
  };
  TF_SetStatus(status, TF_OK, "");
}

// For the Python package: "" when the plugin offers its devices to TF, else why not.
TFMP_EXPORT const char* tfmp_loader_status() {
  Decide();
  if (!State().loaded_by_tf && State().reason.empty())
    return "TensorFlow did not load the plugin: it loads tensorflow-plugins/ only from "
           "sys.path entries whose path contains 'site-packages'";
  return State().reason.c_str();
}

// The release the core was built for.
TFMP_EXPORT const char* tfmp_built_for_tf() { return TFMP_BUILT_FOR_TF; }
