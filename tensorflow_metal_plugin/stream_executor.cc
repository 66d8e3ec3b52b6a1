// The StreamExecutor C API (tensorflow/c/experimental/stream_executor) on top
// of the runtime backend. Every callback is set: TF validates that.
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tensorflow/c/tf_status.h"
#include "tensorflow_metal_plugin/se_types.h"

namespace tfmp {
namespace {

// The platform name must differ from "METAL" (Apple's tensorflow-metal and
// another open-source plugin use it; two plugins with one name abort TF).
constexpr char kPlatformName[] = "TFMP";
constexpr char kDeviceType[] = "GPU";

void SetStatus(TF_Status* status, const rt::Status& s) {
  if (s.ok())
    TF_SetStatus(status, TF_OK, "");
  else
    TF_SetStatus(status, static_cast<TF_Code>(s.code), s.message.c_str());
}

// --- memory ---------------------------------------------------------------

void Allocate(const SP_Device* device, uint64_t size, int64_t memory_space,
              SP_DeviceMemoryBase* mem) {
  mem->struct_size = SP_DEVICE_MEMORY_BASE_STRUCT_SIZE;
  const uint64_t address = DeviceOf(device)->Allocate(size);
  mem->opaque = reinterpret_cast<void*>(address);  // nullptr: out of memory
  mem->size = address ? size : 0;
}

void Deallocate(const SP_Device* device, SP_DeviceMemoryBase* mem) {
  if (mem->opaque) DeviceOf(device)->Free(AddressOf(mem));
  mem->opaque = nullptr;
  mem->size = 0;
}

void* HostMemoryAllocate(const SP_Device*, uint64_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, 64, size ? size : 64) != 0) return nullptr;
  return p;
}

void HostMemoryDeallocate(const SP_Device*, void* mem) { std::free(mem); }

void* UnifiedMemoryAllocate(const SP_Device*, uint64_t) { return nullptr; }
void UnifiedMemoryDeallocate(const SP_Device*, void*) {}

TF_Bool GetAllocatorStats(const SP_Device*, SP_AllocatorStats*) {
  return false;  // TF's BFC allocator keeps the statistics.
}

TF_Bool DeviceMemoryUsage(const SP_Device* device, int64_t* free, int64_t* total) {
  DeviceOf(device)->MemoryUsage(free, total);
  return true;
}

// --- streams and events ---------------------------------------------------

// TF creates a compute stream and host-to-device, device-to-host and
// device-to-device copy streams per device, all served by one BFC allocator
// that hands out memory freed by work still pending on the compute stream.
// TF orders the copy streams after the compute stream only where it asks for
// it (ThenWaitFor), and PluggableDevice::MakeTensorFromProto does not: a
// tf.function's Const is uploaded on the host-to-device stream with
// sync_dst_compute=false (pluggable_device.cc), so before this plugin ordered
// its streams, that upload could overwrite a freed input of an eager op still
// pending on the compute stream (tests/test_stream_order.py). TF's GPU device
// avoids this with sync_dst_compute=true; CUDA's legacy default stream would
// avoid it too.
//
// So every SP_Stream of a device is the device's one runtime stream: all
// device work runs in the order the host issued it, whatever stream TF names.
// This gives up no parallelism: every stream submits to the device's single
// queue, and within the one stream independent commands still overlap on the
// device - barriers are recorded only where commands' declared memory
// overlaps (runtime/vulkan/vk_stream.h), so an upload into memory a pending
// kernel still reads waits for it (write after read) and one into fresh
// memory does not. Work stays asynchronous (batched, no host waits);
// dependencies between TF's streams cost nothing.
std::shared_ptr<rt::Stream> DeviceStream(rt::Device* device, rt::Status* status) {
  static std::mutex* mu = new std::mutex;
  static auto* streams = new std::map<rt::Device*, std::weak_ptr<rt::Stream>>;
  std::lock_guard<std::mutex> lock(*mu);
  std::shared_ptr<rt::Stream> s = (*streams)[device].lock();
  if (s) return s;
  std::unique_ptr<rt::Stream> created = device->CreateStream(status);
  if (!created) return nullptr;
  s = std::move(created);
  (*streams)[device] = s;
  return s;
}

void CreateStream(const SP_Device* device, SP_Stream* stream, TF_Status* status) {
  rt::Status s;
  auto rs = DeviceStream(DeviceOf(device), &s);
  if (!rs) {
    *stream = nullptr;
    SetStatus(status, s);
    return;
  }
  *stream = new SP_Stream_st{std::move(rs)};
  TF_SetStatus(status, TF_OK, "");
}

void DestroyStream(const SP_Device*, SP_Stream stream) { delete stream; }

void CreateStreamDependency(const SP_Device*, SP_Stream dependent, SP_Stream other,
                            TF_Status* status) {
  // Streams of one device are one stream: already ordered, nothing to submit.
  if (StreamOf(dependent) != StreamOf(other))
    StreamOf(dependent)->WaitFor(StreamOf(other), StreamOf(other)->Flush());
  TF_SetStatus(status, TF_OK, "");
}

void GetStreamStatus(const SP_Device*, SP_Stream stream, TF_Status* status) {
  SetStatus(status, StreamOf(stream)->status());
}

void CreateEvent(const SP_Device*, SP_Event* event, TF_Status* status) {
  *event = new SP_Event_st;
  TF_SetStatus(status, TF_OK, "");
}

void DestroyEvent(const SP_Device*, SP_Event event) { delete event; }

SE_EventStatus GetEventStatus(const SP_Device*, SP_Event event) {
  if (!event->stream) return SE_EVENT_COMPLETE;  // never recorded
  if (!event->stream->status().ok()) return SE_EVENT_ERROR;
  return event->stream->Reached(event->point) ? SE_EVENT_COMPLETE : SE_EVENT_PENDING;
}

void RecordEvent(const SP_Device*, SP_Stream stream, SP_Event event, TF_Status* status) {
  event->stream = StreamOf(stream);
  event->point = StreamOf(stream)->Flush();
  TF_SetStatus(status, TF_OK, "");
}

void WaitForEvent(const SP_Device*, SP_Stream stream, SP_Event event, TF_Status* status) {
  if (event->stream) StreamOf(stream)->WaitFor(event->stream, event->point);
  TF_SetStatus(status, TF_OK, "");
}

void BlockHostForEvent(const SP_Device*, SP_Event event, TF_Status* status) {
  if (!event->stream) {
    TF_SetStatus(status, TF_OK, "");
    return;
  }
  SetStatus(status, event->stream->HostWait(event->point));
}

void BlockHostUntilDone(const SP_Device*, SP_Stream stream, TF_Status* status) {
  SetStatus(status, StreamOf(stream)->Synchronize());
}

// --- timers -----------------------------------------------------------------

void CreateTimer(const SP_Device* device, SP_Timer* timer, TF_Status* status) {
  rt::Status s;
  auto t = DeviceOf(device)->CreateTimer(&s);
  if (!t) {
    *timer = nullptr;
    SetStatus(status, s);
    return;
  }
  *timer = new SP_Timer_st{std::move(t)};
  TF_SetStatus(status, TF_OK, "");
}

void DestroyTimer(const SP_Device*, SP_Timer timer) { delete timer; }

void StartTimer(const SP_Device*, SP_Stream stream, SP_Timer timer, TF_Status* status) {
  StreamOf(stream)->StartTimer(timer->timer.get());
  TF_SetStatus(status, TF_OK, "");
}

void StopTimer(const SP_Device*, SP_Stream stream, SP_Timer timer, TF_Status* status) {
  StreamOf(stream)->StopTimer(timer->timer.get());
  TF_SetStatus(status, TF_OK, "");
}

uint64_t TimerNanoseconds(SP_Timer timer) { return timer->timer->Nanoseconds(); }

// --- copies -----------------------------------------------------------------

void MemcpyDtoH(const SP_Device*, SP_Stream stream, void* host_dst,
                const SP_DeviceMemoryBase* device_src, uint64_t size, TF_Status* status) {
  StreamOf(stream)->CopyDeviceToHost(host_dst, AddressOf(device_src), size);
  SetStatus(status, StreamOf(stream)->status());
}

void MemcpyHtoD(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* device_dst,
                const void* host_src, uint64_t size, TF_Status* status) {
  StreamOf(stream)->CopyHostToDevice(AddressOf(device_dst), host_src, size);
  SetStatus(status, StreamOf(stream)->status());
}

void MemcpyDtoD(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* device_dst,
                const SP_DeviceMemoryBase* device_src, uint64_t size, TF_Status* status) {
  StreamOf(stream)->CopyDeviceToDevice(AddressOf(device_dst), AddressOf(device_src), size);
  SetStatus(status, StreamOf(stream)->status());
}

// Synchronous copies are ordered after all work issued so far on the device
// (like CUDA's legacy default stream): they go on the device stream, and the
// host waits for them.
template <typename Fn>
void SyncCopy(const SP_Device* device, TF_Status* status, Fn record) {
  rt::Status s;
  auto stream = DeviceStream(DeviceOf(device), &s);
  if (!stream) {
    SetStatus(status, s);
    return;
  }
  record(stream.get());
  SetStatus(status, stream->Synchronize());
}

void SynchronizeAllActivity(const SP_Device* device, TF_Status* status) {
  SetStatus(status, DeviceOf(device)->SynchronizeAll());
}

void SyncMemcpyDtoH(const SP_Device* device, void* host_dst, const SP_DeviceMemoryBase* device_src,
                    uint64_t size, TF_Status* status) {
  SyncCopy(device, status,
           [&](rt::Stream* s) { s->CopyDeviceToHost(host_dst, AddressOf(device_src), size); });
}

void SyncMemcpyHtoD(const SP_Device* device, SP_DeviceMemoryBase* device_dst, const void* host_src,
                    uint64_t size, TF_Status* status) {
  SyncCopy(device, status,
           [&](rt::Stream* s) { s->CopyHostToDevice(AddressOf(device_dst), host_src, size); });
}

void SyncMemcpyDtoD(const SP_Device* device, SP_DeviceMemoryBase* device_dst,
                    const SP_DeviceMemoryBase* device_src, uint64_t size, TF_Status* status) {
  SyncCopy(device, status, [&](rt::Stream* s) {
    s->CopyDeviceToDevice(AddressOf(device_dst), AddressOf(device_src), size);
  });
}

void MemZero(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint64_t size,
             TF_Status* status) {
  StreamOf(stream)->Fill(AddressOf(location), 0, size);
  SetStatus(status, StreamOf(stream)->status());
}

void Memset(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint8_t pattern,
            uint64_t size, TF_Status* status) {
  const uint32_t p = pattern * 0x01010101u;
  StreamOf(stream)->Fill(AddressOf(location), p, size);
  SetStatus(status, StreamOf(stream)->status());
}

void Memset32(const SP_Device*, SP_Stream stream, SP_DeviceMemoryBase* location, uint32_t pattern,
              uint64_t size, TF_Status* status) {
  StreamOf(stream)->Fill(AddressOf(location), pattern, size);
  SetStatus(status, StreamOf(stream)->status());
}

TF_Bool HostCallback(const SP_Device*, SP_Stream stream, SE_StatusCallbackFn fn, void* arg) {
  StreamOf(stream)->HostCallback([fn, arg] {
    TF_Status* s = TF_NewStatus();
    fn(arg, s);
    TF_DeleteStatus(s);
  });
  return true;
}

// --- platform ---------------------------------------------------------------

void GetDeviceCount(const SP_Platform*, int* count, TF_Status* status) {
  *count = static_cast<int>(rt::EnumerateDevices(nullptr).size());
  TF_SetStatus(status, TF_OK, "");
}

void CreateDevice(const SP_Platform*, SE_CreateDeviceParams* params, TF_Status* status) {
  rt::Status s;
  rt::Device* dev = rt::OpenDevice(params->ordinal, &s);
  if (!dev) {
    SetStatus(status, s);
    return;
  }
  SP_Device* d = params->device;
  d->struct_size = SP_DEVICE_STRUCT_SIZE;
  d->ordinal = params->ordinal;
  d->device_handle = dev;
  d->hardware_name = dev->info().name.c_str();
  d->device_vendor = dev->info().vendor.c_str();
  d->pci_bus_id = nullptr;
  TF_SetStatus(status, TF_OK, "");
}

void DestroyDevice(const SP_Platform*, SP_Device* device) { device->device_handle = nullptr; }

int32_t GetNumaNode(const SP_Device*) { return -1; }
int64_t GetMemoryBandwidth(const SP_Device*) { return 0; }
double GetGflops(const SP_Device*) { return 0; }

void CreateDeviceFns(const SP_Platform*, SE_CreateDeviceFnsParams* params, TF_Status* status) {
  SP_DeviceFns* f = params->device_fns;
  f->struct_size = SP_DEVICE_FNS_STRUCT_SIZE;
  f->get_numa_node = GetNumaNode;
  f->get_memory_bandwidth = GetMemoryBandwidth;
  f->get_gflops = GetGflops;
  TF_SetStatus(status, TF_OK, "");
}

void DestroyDeviceFns(const SP_Platform*, SP_DeviceFns*) {}

void CreateStreamExecutor(const SP_Platform*, SE_CreateStreamExecutorParams* params,
                          TF_Status* status) {
  SP_StreamExecutor* se = params->stream_executor;
  se->struct_size = SP_STREAMEXECUTOR_STRUCT_SIZE;
  se->allocate = Allocate;
  se->deallocate = Deallocate;
  se->host_memory_allocate = HostMemoryAllocate;
  se->host_memory_deallocate = HostMemoryDeallocate;
  se->unified_memory_allocate = UnifiedMemoryAllocate;
  se->unified_memory_deallocate = UnifiedMemoryDeallocate;
  se->get_allocator_stats = GetAllocatorStats;
  se->device_memory_usage = DeviceMemoryUsage;
  se->create_stream = CreateStream;
  se->destroy_stream = DestroyStream;
  se->create_stream_dependency = CreateStreamDependency;
  se->get_stream_status = GetStreamStatus;
  se->create_event = CreateEvent;
  se->destroy_event = DestroyEvent;
  se->get_event_status = GetEventStatus;
  se->record_event = RecordEvent;
  se->wait_for_event = WaitForEvent;
  se->create_timer = CreateTimer;
  se->destroy_timer = DestroyTimer;
  se->start_timer = StartTimer;
  se->stop_timer = StopTimer;
  se->memcpy_dtoh = MemcpyDtoH;
  se->memcpy_htod = MemcpyHtoD;
  se->memcpy_dtod = MemcpyDtoD;
  se->sync_memcpy_dtoh = SyncMemcpyDtoH;
  se->sync_memcpy_htod = SyncMemcpyHtoD;
  se->sync_memcpy_dtod = SyncMemcpyDtoD;
  se->block_host_for_event = BlockHostForEvent;
  se->block_host_until_done = BlockHostUntilDone;
  se->synchronize_all_activity = SynchronizeAllActivity;
  se->mem_zero = MemZero;
  se->memset = Memset;
  se->memset32 = Memset32;
  se->host_callback = HostCallback;
  TF_SetStatus(status, TF_OK, "");
}

void DestroyStreamExecutor(const SP_Platform*, SP_StreamExecutor*) {}

void CreateTimerFns(const SP_Platform*, SP_TimerFns* fns, TF_Status* status) {
  fns->struct_size = SP_TIMER_FNS_STRUCT_SIZE;
  fns->nanoseconds = TimerNanoseconds;
  TF_SetStatus(status, TF_OK, "");
}

void DestroyTimerFns(const SP_Platform*, SP_TimerFns*) {}
void DestroyPlatform(SP_Platform*) {}
void DestroyPlatformFns(SP_PlatformFns*) {}

}  // namespace

void InitStreamExecutor(SE_PlatformRegistrationParams* params, TF_Status* status) {
  params->major_version = SE_MAJOR;
  params->minor_version = SE_MINOR;
  params->patch_version = SE_PATCH;
  SP_Platform* p = params->platform;
  p->struct_size = SP_PLATFORM_STRUCT_SIZE;
  p->name = kPlatformName;
  p->type = kDeviceType;
  p->supports_unified_memory = false;
  // TF's BFC allocator sub-allocates regions it gets from Allocate() and
  // keeps real statistics (tf.config.experimental.get_memory_info); memory
  // growth keeps it from reserving the whole device up front.
  p->use_bfc_allocator = true;
  p->force_memory_growth = true;
  SP_PlatformFns* f = params->platform_fns;
  f->struct_size = SP_PLATFORM_FNS_STRUCT_SIZE;
  f->get_device_count = GetDeviceCount;
  f->create_device = CreateDevice;
  f->destroy_device = DestroyDevice;
  f->create_device_fns = CreateDeviceFns;
  f->destroy_device_fns = DestroyDeviceFns;
  f->create_stream_executor = CreateStreamExecutor;
  f->destroy_stream_executor = DestroyStreamExecutor;
  f->create_timer_fns = CreateTimerFns;
  f->destroy_timer_fns = DestroyTimerFns;
  params->destroy_platform = DestroyPlatform;
  params->destroy_platform_fns = DestroyPlatformFns;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace tfmp
