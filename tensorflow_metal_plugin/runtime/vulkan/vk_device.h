// Vulkan implementation of the runtime's Device (see runtime/backend.h).
#ifndef TFMP_RUNTIME_VULKAN_VK_DEVICE_H_
#define TFMP_RUNTIME_VULKAN_VK_DEVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tensorflow_metal_plugin/runtime/backend.h"
#include "tensorflow_metal_plugin/runtime/kernel_library.h"
#include "tensorflow_metal_plugin/runtime/vulkan/vk_functions.h"

namespace tfmp {
namespace rt {
namespace vk {

// One VkBuffer bound to its own VkDeviceMemory. Device allocations are named
// by their buffer device address; staging chunks are also host-mapped.
struct Allocation {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  uint64_t address = 0;
  uint64_t size = 0;
  uint8_t* mapped = nullptr;
};

// A device address resolved to the buffer that holds it.
struct BufferRef {
  VkBuffer buffer = VK_NULL_HANDLE;
  uint64_t offset = 0;
  uint64_t available = 0;  // bytes from offset to the end of the allocation
};

class VkStream;

class VkDevice_ final : public Device {
 public:
  VkDevice_(VkPhysicalDevice physical, const DeviceInfo& info);
  ~VkDevice_() override;
  Status Init();

  const DeviceInfo& info() const override { return info_; }
  uint64_t Allocate(uint64_t bytes) override;
  void Free(uint64_t address) override;
  void MemoryUsage(int64_t* free_bytes, int64_t* total_bytes) override;
  std::unique_ptr<Stream> CreateStream(Status* status) override;
  std::unique_ptr<Timer> CreateTimer(Status* status) override;
  bool HasKernel(const std::string& name) const override;
  // True for "" and for the kernel-library feature tags (variants.py
  // REQUIRES) this device has enabled.
  bool HasFeature(const char* feature) const;
  bool PrepareKernel(const char* name, Status* status) override;
  Status SavePipelineCache() override;
  std::string PipelineCachePath() const override { return cache_path_; }
  // Writes the pipeline cache if pipelines were created since it was loaded
  // or last written (at exit).
  void SaveIfChanged();
  bool PipelineCacheLoaded() const override { return cache_loaded_; }

  // For streams and timers.
  VkDevice device() const { return device_; }
  uint32_t queue_family() const { return queue_family_; }
  float timestamp_period() const { return timestamp_period_; }
  uint64_t timestamp_mask() const { return timestamp_mask_; }
  VkPipelineLayout pipeline_layout() const { return layout_; }
  uint32_t push_constant_bytes() const { return push_bytes_; }
  // Resolves an address anywhere inside a device allocation; false if none.
  bool Resolve(uint64_t address, BufferRef* out);
  struct Pipeline {
    VkPipeline pipeline = VK_NULL_HANDLE;
    uint32_t push_bytes = 0;  // the shader's push-constant block size
  };
  // The kernel library's index of kernel `name`, or -1: a lookup in a table
  // built once (no lock).
  int32_t KernelIndex(const char* name) const;
  const char* KernelName(int32_t index) const { return bins_[index].name; }
  // Returns the pipeline of kernel `index`, creating it on first use
  // (pipeline == VK_NULL_HANDLE and *status set on failure). Once created, an
  // atomic load: no lock, no map.
  Pipeline GetPipeline(int32_t index, Status* status) {
    VkPipeline p = pipelines_[index].load(std::memory_order_acquire);
    if (p) return {p, bins_[index].push_constant_bytes};
    return CreatePipeline(index, status);
  }
  // The pipeline of kernel `index` with `spec_count` 32-bit specialization
  // constants (constant_id 0 .. spec_count - 1), one per distinct (index,
  // values): created once on first use (through the pipeline cache), then
  // found under a shared lock.
  Pipeline GetSpecializedPipeline(int32_t index, const uint32_t* spec, uint32_t spec_count,
                                  Status* status);
  // Queue submissions of all streams so far (streams order their work after
  // other streams' submissions).
  uint64_t submissions() const { return submissions_.load(std::memory_order_acquire); }
  // False if `v` is surely not an address inside a device allocation (cheap
  // test for scanning push constants; true may be a false positive).
  bool MaybeDeviceAddress(uint64_t v) const {
    return v >= address_lo_.load(std::memory_order_relaxed) &&
           v < address_hi_.load(std::memory_order_relaxed);
  }
  // The queue records timestamps (profiling works).
  bool timestamps() const { return timestamp_bits_ > 0; }
  // Host-visible staging memory of at least `bytes`; returned with
  // ReleaseStaging once the GPU work using it has completed.
  Allocation* AcquireStaging(uint64_t bytes, Status* status);
  void ReleaseStaging(Allocation* chunk);
  // Submits to the device's queue (externally synchronized, so serialized);
  // *before = submissions() just before this one.
  VkResult Submit(const VkSubmitInfo& info, uint64_t* before);

  void RegisterStream(VkStream* s);
  void UnregisterStream(VkStream* s);
  Status SynchronizeAll() override;
  void ReserveQueryPools();  // backend.h PrepareProfiling

 private:
  bool CreateBuffer(uint64_t bytes, uint32_t memory_type, bool map, Allocation* out);
  void DestroyBuffer(Allocation* a);
  Pipeline CreatePipeline(int32_t index, Status* status);
  // Compiles kernel `index`'s pipeline with the given specialization (none
  // when spec_count == 0); VK_NULL_HANDLE with *status set on failure.
  VkPipeline BuildPipeline(int32_t index, const uint32_t* spec, uint32_t spec_count,
                           Status* status);
  void InitPipelineCache();
  void PrintPipelineStats(const char* name, VkPipeline pipeline);  // TFMP_PIPELINE_STATS=1

  VkPhysicalDevice physical_;
  DeviceInfo info_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::mutex queue_mu_;
  uint32_t device_memory_type_ = 0;
  uint32_t staging_memory_type_ = 0;
  // A device-local type the host can map (the BAR window), or -1: tensors
  // there only with TFMP_MAPPABLE_MEMORY=1 (an experiment, docs/benchmarks.md).
  int mappable_device_type_ = -1;
  uint64_t heap_bytes_ = 0;
  uint64_t max_allocation_ = 0;
  float timestamp_period_ = 1.0f;
  uint64_t timestamp_mask_ = ~0ull;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  uint32_t push_bytes_ = 128;
  bool pipeline_stats_ = false;

  std::shared_mutex alloc_mu_;
  std::map<uint64_t, Allocation> allocations_;  // by device address
  uint64_t allocated_bytes_ = 0;

  // Pipelines by kernel library index; created under a striped lock.
  const KernelBinary* bins_ = nullptr;
  size_t num_bins_ = 0;
  std::unordered_map<std::string_view, int32_t> kernel_index_;
  std::unique_ptr<std::atomic<VkPipeline>[]> pipelines_;
  std::mutex create_mu_[16];
  // Specialized pipelines by (index, spec values...).
  std::shared_mutex spec_mu_;
  std::map<std::vector<uint32_t>, VkPipeline> spec_pipelines_;
  bool creation_feedback_ = false;  // VK_EXT_pipeline_creation_feedback on
  uint32_t timestamp_bits_ = 0;
  std::atomic<uint64_t> submissions_{0};
  std::atomic<uint64_t> address_lo_{~0ull};
  std::atomic<uint64_t> address_hi_{0};

  // The pipeline cache (runtime/vulkan/vk_pipeline_cache.cc).
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::string cache_path_;   // "" when the on-disk cache is off
  bool cache_loaded_ = false;
  uint64_t cache_key_ = 0;
  uint64_t cache_file_sum_ = 0;  // checksum of what we last read or wrote
  std::atomic<uint64_t> created_since_save_{0};
  std::mutex save_mu_;

  std::mutex staging_mu_;
  std::multimap<uint64_t, Allocation*> free_staging_;  // by size
  uint64_t free_staging_bytes_ = 0;

  std::mutex streams_mu_;
  std::set<VkStream*> streams_;
};

}  // namespace vk
}  // namespace rt
}  // namespace tfmp

#endif  // TFMP_RUNTIME_VULKAN_VK_DEVICE_H_
