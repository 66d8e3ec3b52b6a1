// The runtime's backend interface: a device, its memory, command streams and
// compute kernels. Everything above this header (StreamExecutor, kernels,
// Grappler) is backend-neutral; the only implementation today is Vulkan
// (runtime/vulkan/), which also serves Apple GPUs through MoltenVK.
//
// Memory model: device memory is named by 64-bit GPU virtual addresses
// ("device addresses"). TensorFlow does pointer arithmetic on them (a slice of a
// tensor shares its buffer at an offset), so every API here takes an address
// anywhere inside an allocation. Kernels receive addresses directly in their
// push constants: no descriptor sets, no lookups on the dispatch path.
#ifndef TFMP_RUNTIME_BACKEND_H_
#define TFMP_RUNTIME_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tfmp {
namespace rt {

// Outcome of a runtime call. `code` uses TF_Code values (0 = OK) so callers can
// hand it to TF unchanged.
struct Status {
  int code = 0;
  std::string message;
  bool ok() const { return code == 0; }
  static Status Ok() { return {}; }
};

struct DeviceInfo {
  std::string name;      // e.g. "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)"
  std::string backend;   // "vulkan"
  std::string driver;    // driver name and version
  std::string vendor;
  uint64_t memory_bytes = 0;      // size of the device-local heap
  bool software = false;          // a CPU implementation such as lavapipe
  bool unified_memory = false;    // device-local memory is also host-visible
  bool fp16 = false;              // 16-bit storage in shaders: float16 kernels
  bool int8 = false;              // 8-bit storage in shaders: bool kernels
  bool ieee_nan = false;          // shaders may keep NaN/inf/-0 (float controls)
  uint32_t max_shared_memory = 0;
  uint32_t max_workgroup_invocations = 0;
  uint32_t subgroup_size = 0;
  uint32_t max_push_constants = 0;
  // Matrix units in shaders: float16 x float16 -> float32 16x16x16 products
  // at subgroup scope (VK_NV_cooperative_matrix or VK_KHR_cooperative_matrix,
  // subgroup size 32, Vulkan memory model), enabled at device creation;
  // kernels tagged "coopmat_nv" / "coopmat_khr" (kernels/shaders/variants.py
  // REQUIRES) run only then, through the extension enabled (coopmat_khr).
  // NV by default; KHR only with TFMP_COOPMAT=khr (not yet verified on a
  // device). TFMP_COOPMAT=0 turns it off (A/B comparisons).
  bool coopmat_f16 = false;
  bool coopmat_khr = false;
  // Workgroup-scope cooperative matrices (VK_NV_cooperative_matrix2: flexible
  // dimensions, tensor addressing, per-element operations, on
  // VK_KHR_cooperative_matrix and Vulkan 1.3): kernels tagged "coopmat2_nv"
  // run only then; float16 GEMMs prefer them (kernels/matmul.cc).
  // TFMP_COOPMAT2=0 turns it off (the coopmat_nv kernels serve).
  bool coopmat2 = false;
  // What the device offers, for logs: e.g. "VK_NV_cooperative_matrix: f16*f16+f32 16x16x16, ...";
  // "" when it has no cooperative matrices, or why they are off.
  std::string coopmat;
  uint32_t compute_units = 0;     // multiprocessors (SMs, CUs), 0 when the driver does not say
};

class Stream;

// A byte range [begin, end) of device memory.
struct MemRange {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// The device memory a command may read and write. The stream records a
// barrier before a command only where it overlaps what earlier commands not
// yet behind a barrier wrote (read-after-write, write-after-write) or read
// (write-after-read). A command that declares nothing (access == nullptr)
// gets a full barrier, as does one whose push constants hold an address
// inside a live allocation that no declared range covers.
struct MemAccess {
  const MemRange* reads = nullptr;
  uint32_t num_reads = 0;
  const MemRange* writes = nullptr;
  uint32_t num_writes = 0;
};

// A GPU timer: the time between two points of one stream, from GPU timestamps.
class Timer {
 public:
  virtual ~Timer() = default;
  // Nanoseconds between start and stop; waits for the stop point to complete.
  virtual uint64_t Nanoseconds() = 0;
};

class Device {
 public:
  virtual ~Device() = default;
  virtual const DeviceInfo& info() const = 0;

  // Device-local memory. Returns the device address, or 0 when the device is
  // out of memory (never throws, never aborts).
  virtual uint64_t Allocate(uint64_t bytes) = 0;
  virtual void Free(uint64_t address) = 0;
  virtual void MemoryUsage(int64_t* free_bytes, int64_t* total_bytes) = 0;

  virtual std::unique_ptr<Stream> CreateStream(Status* status) = 0;
  // Waits for all work on every stream of the device.
  virtual Status SynchronizeAll() = 0;
  virtual std::unique_ptr<Timer> CreateTimer(Status* status) = 0;

  // True if the kernel library has a compute kernel of this name.
  virtual bool HasKernel(const std::string& name) const = 0;
  // Creates the pipeline of kernel `name` now (it is otherwise created on
  // first use). Thread-safe; false with *status set if it cannot be created.
  virtual bool PrepareKernel(const char* name, Status* status) = 0;
  // Writes the on-disk pipeline cache now (it is also written at exit when
  // new pipelines were created). A no-op when the cache is off.
  virtual Status SavePipelineCache() = 0;
  // Where the pipeline cache lives ("" when off) and whether it was loaded.
  virtual std::string PipelineCachePath() const = 0;
  virtual bool PipelineCacheLoaded() const = 0;
};

// An ordered queue of device work. Work is recorded into an open batch and
// submitted without waiting; the host waits only when it needs a result.
// Every stream position is a "point": a monotonically increasing value that
// becomes reached once all work recorded before it has completed (including
// host-side steps such as device-to-host copies landing in host memory).
// Methods are thread-safe.
class Stream {
 public:
  virtual ~Stream() = default;
  // The device the stream records for (capabilities: device()->info()).
  virtual Device* device() = 0;
  // The device the stream runs on (kernels size their dispatches by it).
  virtual const DeviceInfo& device_info() const = 0;

  // Records a compute dispatch of kernel `name` with `push_bytes` of push
  // constants (at most 128) over `groups` workgroups. `access` (optional)
  // declares the memory it reads and writes (see MemAccess); without it the
  // dispatch is ordered after everything before it by a full barrier.
  virtual void Dispatch(const char* name, const void* push, uint32_t push_bytes,
                        uint32_t groups_x, uint32_t groups_y = 1, uint32_t groups_z = 1,
                        const MemAccess* access = nullptr) = 0;
  // The same with `spec_count` 32-bit specialization constants (constant_id
  // 0 .. spec_count - 1; ncnn's runtime switches): each distinct (kernel,
  // spec) is its own pipeline, compiled on first use (through the pipeline
  // cache) and kept, so the driver folds what they decide (a fused kernel's
  // program: no interpreter). The profiler names it by its kernel.
  virtual void DispatchSpecialized(const char* name, const uint32_t* spec, uint32_t spec_count,
                                   const void* push, uint32_t push_bytes, uint32_t groups_x,
                                   uint32_t groups_y = 1, uint32_t groups_z = 1,
                                   const MemAccess* access = nullptr) = 0;

  // Copies of any size (0 allowed) at any offset. The host source of
  // CopyHostToDevice may be reused as soon as the call returns; the host
  // destination of CopyDeviceToHost is written by the time the stream reaches
  // the current point.
  virtual void CopyHostToDevice(uint64_t dst, const void* src, uint64_t n) = 0;
  virtual void CopyDeviceToHost(void* dst, uint64_t src, uint64_t n) = 0;
  virtual void CopyDeviceToDevice(uint64_t dst, uint64_t src, uint64_t n) = 0;
  // Fills n bytes with a repeated 32-bit pattern (n and dst need no alignment).
  virtual void Fill(uint64_t dst, uint32_t pattern, uint64_t n) = 0;

  // Submits recorded work; returns the point that follows it.
  virtual uint64_t Flush() = 0;
  virtual bool Reached(uint64_t point) = 0;
  // Blocks the host until `point` is reached (flushing first if needed).
  virtual Status HostWait(uint64_t point) = 0;
  Status Synchronize() { return HostWait(Flush()); }
  // Makes future work on this stream wait (on the GPU) for `other` to reach
  // `point`. The host does not block.
  virtual void WaitFor(Stream* other, uint64_t point) = 0;
  // Runs fn on a runtime thread once all work recorded so far has completed.
  virtual void HostCallback(std::function<void()> fn) = 0;

  virtual void StartTimer(Timer* t) = 0;
  virtual void StopTimer(Timer* t) = 0;

  // The first error the stream hit (device lost, out of memory), if any.
  virtual Status status() = 0;
};

// Per-command GPU timing (see tensorflow_metal_plugin/profile.h): while on,
// streams time every command with GPU timestamps and order every command
// after the one before (full barriers), so each command's time is its own.
void SetProfiling(bool on);
bool Profiling();
// Gives every stream of the devices opened so far the GPU timestamp query
// pools of its next batches, so that the first profiled batches do not pay
// for creating them (on the H100 ~1 ms of one op's host time in the first
// profiled step, with early submission at 8 commands).
void PrepareProfiling();
// Waits for all work on every device opened so far.
Status SynchronizeOpenDevices();

// Devices the backend can offer, in preference order (discrete GPUs, then
// integrated, then - only with TFMP_ALLOW_SOFTWARE_DEVICE=1 - CPU
// implementations), filtered by TFMP_VISIBLE_DEVICES. When the list is empty,
// `why_none` says why in one line.
std::vector<DeviceInfo> EnumerateDevices(std::string* why_none);
// Opens device `ordinal` of EnumerateDevices(). Thread-safe, returns the same
// object for the same ordinal; nullptr with *status set on failure.
Device* OpenDevice(int ordinal, Status* status);

}  // namespace rt
}  // namespace tfmp

#endif  // TFMP_RUNTIME_BACKEND_H_
