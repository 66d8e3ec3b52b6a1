// Vulkan implementation of the runtime's Device (see runtime/backend.h).
#ifndef TFMP_RUNTIME_VULKAN_VK_DEVICE_H_
#define TFMP_RUNTIME_VULKAN_VK_DEVICE_H_

#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensorflow_metal_plugin/runtime/backend.h"
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
  // Returns the pipeline of kernel `name`, creating it on first use
  // (pipeline == VK_NULL_HANDLE and *status set on failure).
  // With `spec_count` specialization constants (ids 0 ..), cached per values.
  Pipeline GetPipeline(const char* name, const uint32_t* spec, uint32_t spec_count,
                       Status* status);
  Pipeline GetPipeline(const char* name, Status* status) {
    return GetPipeline(name, nullptr, 0, status);
  }
  // Host-visible staging memory of at least `bytes`; returned with
  // ReleaseStaging once the GPU work using it has completed.
  Allocation* AcquireStaging(uint64_t bytes, Status* status);
  void ReleaseStaging(Allocation* chunk);
  // Submits to the device's queue (externally synchronized, so serialized).
  VkResult Submit(const VkSubmitInfo& info);

  void RegisterStream(VkStream* s);
  void UnregisterStream(VkStream* s);
  Status SynchronizeAll() override;

 private:
  bool CreateBuffer(uint64_t bytes, uint32_t memory_type, bool map, Allocation* out);
  void DestroyBuffer(Allocation* a);

  VkPhysicalDevice physical_;
  DeviceInfo info_;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::mutex queue_mu_;
  uint32_t device_memory_type_ = 0;
  uint32_t staging_memory_type_ = 0;
  uint64_t heap_bytes_ = 0;
  uint64_t max_allocation_ = 0;
  float timestamp_period_ = 1.0f;
  uint64_t timestamp_mask_ = ~0ull;
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  uint32_t push_bytes_ = 128;

  std::shared_mutex alloc_mu_;
  std::map<uint64_t, Allocation> allocations_;  // by device address
  uint64_t allocated_bytes_ = 0;

  std::mutex pipeline_mu_;
  std::unordered_map<std::string, Pipeline> pipelines_;

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
