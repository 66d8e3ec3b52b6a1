// Vulkan instance, device selection, memory and pipelines.
#include "tensorflow_metal_plugin/runtime/vulkan/vk_device.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tensorflow_metal_plugin/runtime/kernel_library.h"
#include "tensorflow_metal_plugin/runtime/vulkan/vk_stream.h"
#include "tensorflow_metal_plugin/stats.h"

namespace tfmp {
namespace rt {
namespace vk {
namespace {

constexpr int kOutOfMemory = 8;   // TF_RESOURCE_EXHAUSTED
constexpr int kInternal = 13;     // TF_INTERNAL
constexpr int kUnavailable = 14;  // TF_UNAVAILABLE

Status VkError(VkResult r, const std::string& what) {
  Status s;
  s.code = (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
               ? kOutOfMemory
               : kInternal;
  s.message = what + " failed: " + ResultName(r);
  return s;
}

bool HasExtension(const std::vector<VkExtensionProperties>& exts, const char* name) {
  for (const auto& e : exts)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

std::vector<VkExtensionProperties> DeviceExtensions(VkPhysicalDevice pd) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  return exts;
}

struct Candidate {
  VkPhysicalDevice physical;
  DeviceInfo info;
  int rank;  // lower is preferred
};

// The process-wide Vulkan instance and the devices it offers.
struct Instance {
  VkInstance instance = VK_NULL_HANDLE;
  std::vector<Candidate> devices;  // filtered and ordered
  std::string why_none;
  std::mutex open_mu;
  std::vector<std::unique_ptr<VkDevice_>> opened;
};

// Returns a reason the device cannot run the plugin, or "" if it can.
std::string Unsupported(VkPhysicalDevice pd, const VkPhysicalDeviceProperties& props) {
  if (props.apiVersion < VK_API_VERSION_1_2) return "Vulkan 1.2 is required";
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  if (!f12.bufferDeviceAddress) return "bufferDeviceAddress is required";
  if (!f12.timelineSemaphore) return "timeline semaphores are required";
  if (!f2.features.shaderInt64) return "shaderInt64 is required";
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qs(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qs.data());
  for (const auto& q : qs)
    if (q.queueFlags & VK_QUEUE_COMPUTE_BIT) return "";
  return "no compute queue";
}

DeviceInfo Describe(VkPhysicalDevice pd) {
  VkPhysicalDeviceFloatControlsProperties floats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, &floats};
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                              &driver};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  const VkPhysicalDeviceProperties& p = p2.properties;
  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, &f11};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f12};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(pd, &mp);

  DeviceInfo info;
  info.name = p.deviceName;
  info.backend = "vulkan";
  std::ostringstream drv;
  drv << driver.driverName << " " << driver.driverInfo;
  info.driver = drv.str();
  switch (p.vendorID) {
    case 0x10DE: info.vendor = "NVIDIA"; break;
    case 0x1002: info.vendor = "AMD"; break;
    case 0x8086: info.vendor = "Intel"; break;
    case 0x106B: info.vendor = "Apple"; break;
    case 0x10005: info.vendor = "Mesa"; break;
    default: info.vendor = "unknown";
  }
  info.software = p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  uint64_t heap = 0;
  bool unified = true;
  for (uint32_t i = 0; i < mp.memoryHeapCount; ++i)
    if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      heap = std::max<uint64_t>(heap, mp.memoryHeaps[i].size);
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    const auto f = mp.memoryTypes[i].propertyFlags;
    if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
      unified = false;
  }
  info.memory_bytes = heap;
  info.unified_memory = unified;
  info.fp16 = f11.storageBuffer16BitAccess && f12.shaderFloat16;
  info.int8 = f12.storageBuffer8BitAccess && f12.shaderInt8;
  info.max_shared_memory = p.limits.maxComputeSharedMemorySize;
  info.max_workgroup_invocations = p.limits.maxComputeWorkGroupInvocations;
  info.subgroup_size = subgroup.subgroupSize;
  info.max_push_constants = p.limits.maxPushConstantsSize;
  info.ieee_nan = floats.shaderSignedZeroInfNanPreserveFloat32;
  return info;
}

Instance* CreateInstance() {
  auto* inst = new Instance;
  if (!LoadLoader(&inst->why_none)) return inst;

  uint32_t n = 0;
  vkEnumerateInstanceExtensionProperties(nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateInstanceExtensionProperties(nullptr, &n, exts.data());
  std::vector<const char*> enabled;
  VkInstanceCreateFlags flags = 0;
  // MoltenVK is a "portability" implementation: without this extension and
  // flag the loader hides Apple GPUs.
  if (HasExtension(exts, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
    enabled.push_back(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME);
    flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
  }
  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tensorflow-metal-plugin";
  app.apiVersion = VK_API_VERSION_1_2;
  VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  ci.flags = flags;
  ci.pApplicationInfo = &app;
  ci.enabledExtensionCount = static_cast<uint32_t>(enabled.size());
  ci.ppEnabledExtensionNames = enabled.data();
  VkResult r = vkCreateInstance(&ci, nullptr, &inst->instance);
  if (r != VK_SUCCESS) {
    inst->why_none = std::string("vkCreateInstance failed: ") + ResultName(r) +
                     " (no Vulkan driver installed?)";
    return inst;
  }
  LoadInstanceFunctions(inst->instance);

  vkEnumeratePhysicalDevices(inst->instance, &n, nullptr);
  std::vector<VkPhysicalDevice> pds(n);
  vkEnumeratePhysicalDevices(inst->instance, &n, pds.data());
  const char* allow_sw = std::getenv("TFMP_ALLOW_SOFTWARE_DEVICE");
  const bool software_ok = allow_sw && std::strcmp(allow_sw, "1") == 0;
  std::vector<Candidate> found;
  std::vector<std::string> skipped;
  for (VkPhysicalDevice pd : pds) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    std::string why = Unsupported(pd, p);
    if (!why.empty()) {
      skipped.push_back(std::string(p.deviceName) + ": " + why);
      continue;
    }
    int rank;
    switch (p.deviceType) {
      case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: rank = 0; break;
      case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: rank = 1; break;
      case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: rank = 2; break;
      case VK_PHYSICAL_DEVICE_TYPE_CPU: rank = 4; break;
      default: rank = 3;
    }
    if (rank == 4 && !software_ok) {
      skipped.push_back(std::string(p.deviceName) +
                        ": a software device (set TFMP_ALLOW_SOFTWARE_DEVICE=1 to use it)");
      continue;
    }
    found.push_back({pd, Describe(pd), rank});
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const Candidate& a, const Candidate& b) { return a.rank < b.rank; });

  // TFMP_VISIBLE_DEVICES="1,0" picks and orders among the usable devices.
  if (const char* visible = std::getenv("TFMP_VISIBLE_DEVICES")) {
    std::vector<Candidate> picked;
    std::stringstream ss(visible);
    std::string item;
    while (std::getline(ss, item, ',')) {
      char* end = nullptr;
      long idx = std::strtol(item.c_str(), &end, 10);
      if (end != item.c_str() && idx >= 0 && idx < static_cast<long>(found.size()))
        picked.push_back(found[idx]);
    }
    if (picked.empty() && !found.empty())
      skipped.push_back("TFMP_VISIBLE_DEVICES=\"" + std::string(visible) +
                        "\" selects none of the " + std::to_string(found.size()) +
                        " usable devices");
    found = picked;
  }
  inst->devices = found;
  if (found.empty()) {
    std::string why = "no usable Vulkan device";
    if (!skipped.empty()) {
      why += " (";
      for (size_t i = 0; i < skipped.size(); ++i) why += (i ? "; " : "") + skipped[i];
      why += ")";
    }
    inst->why_none = why;
  }
  return inst;
}

Instance& GetInstance() {
  static Instance* inst = CreateInstance();
  return *inst;
}

}  // namespace

// ---------------------------------------------------------------------------
// VkDevice_

VkDevice_::VkDevice_(VkPhysicalDevice physical, const DeviceInfo& info)
    : physical_(physical), info_(info) {}

VkDevice_::~VkDevice_() {
  // Devices live for the whole process (TF never destroys its devices before
  // exit); nothing is torn down here to stay clear of exit-order issues.
}

Status VkDevice_::Init() {
  uint32_t nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, nullptr);
  std::vector<VkQueueFamilyProperties> qs(nq);
  vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nq, qs.data());
  // Prefer a compute-only family (async compute on discrete GPUs), else any.
  int family = -1;
  for (uint32_t i = 0; i < nq; ++i)
    if ((qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(qs[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) &&
        qs[i].timestampValidBits > 0) {
      family = static_cast<int>(i);
      break;
    }
  if (family < 0)
    for (uint32_t i = 0; i < nq; ++i)
      if (qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
        family = static_cast<int>(i);
        break;
      }
  queue_family_ = static_cast<uint32_t>(family);
  const uint32_t ts_bits = qs[family].timestampValidBits;
  timestamp_mask_ = ts_bits >= 64 ? ~0ull : ((1ull << ts_bits) - 1);

  VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &f11};
  f11.pNext = &f12;
  f12.bufferDeviceAddress = VK_TRUE;
  f12.timelineSemaphore = VK_TRUE;
  f2.features.shaderInt64 = VK_TRUE;
  if (info_.fp16) {
    f11.storageBuffer16BitAccess = VK_TRUE;
    f12.shaderFloat16 = VK_TRUE;
  }
  if (info_.int8) {
    f12.storageBuffer8BitAccess = VK_TRUE;
    f12.shaderInt8 = VK_TRUE;
  }
  std::vector<const char*> exts;
  auto available = DeviceExtensions(physical_);
  if (HasExtension(available, "VK_KHR_portability_subset"))
    exts.push_back("VK_KHR_portability_subset");  // required where present (MoltenVK)

  float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queue_family_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, &f2};
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
  dci.ppEnabledExtensionNames = exts.data();
  VkResult r = vkCreateDevice(physical_, &dci, nullptr, &device_);
  if (r != VK_SUCCESS) return VkError(r, "vkCreateDevice");
  vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &m3};
  vkGetPhysicalDeviceProperties2(physical_, &p2);
  timestamp_period_ = p2.properties.limits.timestampPeriod;
  max_allocation_ = m3.maxMemoryAllocationSize;
  push_bytes_ = std::min<uint32_t>(128, p2.properties.limits.maxPushConstantsSize);

  // Memory types: tensors in device-local memory (on a discrete GPU never the
  // host-visible BAR window: it is slow for the GPU); staging in host-visible
  // coherent memory, cached if possible (for reads back to the host).
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties(physical_, &mp);
  int best_dev = -1, best_dev_score = -1, best_stage = -1, best_stage_score = -1;
  for (uint32_t i = 0; i < mp.memoryTypeCount; ++i) {
    const auto f = mp.memoryTypes[i].propertyFlags;
    if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
      int score = (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) ? 1 : 2;
      if (info_.unified_memory) score = 2;
      if (score > best_dev_score) best_dev = static_cast<int>(i), best_dev_score = score;
    }
    const auto want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    if ((f & want) == want) {
      int score = (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT) ? 2 : 1;
      if (score > best_stage_score) best_stage = static_cast<int>(i), best_stage_score = score;
    }
  }
  if (best_dev < 0 || best_stage < 0) {
    Status s;
    s.code = kUnavailable;
    s.message = "the device lacks device-local or host-visible memory types";
    return s;
  }
  device_memory_type_ = static_cast<uint32_t>(best_dev);
  staging_memory_type_ = static_cast<uint32_t>(best_stage);
  heap_bytes_ = mp.memoryHeaps[mp.memoryTypes[best_dev].heapIndex].size;

  VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes_};
  VkPipelineLayoutCreateInfo lci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  lci.pushConstantRangeCount = 1;
  lci.pPushConstantRanges = &range;
  r = vkCreatePipelineLayout(device_, &lci, nullptr, &layout_);
  if (r != VK_SUCCESS) return VkError(r, "vkCreatePipelineLayout");
  return Status::Ok();
}

bool VkDevice_::CreateBuffer(uint64_t bytes, uint32_t memory_type, bool map, Allocation* out) {
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = bytes;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
              VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT;
  bci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  if (vkCreateBuffer(device_, &bci, nullptr, &out->buffer) != VK_SUCCESS) return false;
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device_, out->buffer, &req);
  VkMemoryAllocateFlagsInfo flags{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO};
  flags.flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT;
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, &flags};
  mai.allocationSize = req.size;
  mai.memoryTypeIndex = memory_type;
  if (!(req.memoryTypeBits & (1u << memory_type)) ||
      vkAllocateMemory(device_, &mai, nullptr, &out->memory) != VK_SUCCESS) {
    vkDestroyBuffer(device_, out->buffer, nullptr);
    out->buffer = VK_NULL_HANDLE;
    return false;
  }
  vkBindBufferMemory(device_, out->buffer, out->memory, 0);
  VkBufferDeviceAddressInfo ai{VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO};
  ai.buffer = out->buffer;
  out->address = vkGetBufferDeviceAddress(device_, &ai);
  out->size = bytes;
  if (map) {
    void* p = nullptr;
    if (vkMapMemory(device_, out->memory, 0, VK_WHOLE_SIZE, 0, &p) != VK_SUCCESS) {
      DestroyBuffer(out);
      return false;
    }
    out->mapped = static_cast<uint8_t*>(p);
  }
  return true;
}

void VkDevice_::DestroyBuffer(Allocation* a) {
  if (a->buffer) vkDestroyBuffer(device_, a->buffer, nullptr);
  if (a->memory) vkFreeMemory(device_, a->memory, nullptr);
  a->buffer = VK_NULL_HANDLE;
  a->memory = VK_NULL_HANDLE;
}

uint64_t VkDevice_::Allocate(uint64_t bytes) {
  if (bytes == 0) bytes = 4;
  bytes = (bytes + 255) & ~uint64_t{255};
  {
    std::shared_lock<std::shared_mutex> lock(alloc_mu_);
    // A software device's "device memory" is the host's: never let it grow
    // past the heap it reports, or the OS kills the process instead of TF
    // raising ResourceExhaustedError.
    if (allocated_bytes_ + bytes > heap_bytes_) return 0;
  }
  if (max_allocation_ && bytes > max_allocation_) return 0;
  Allocation a;
  if (!CreateBuffer(bytes, device_memory_type_, false, &a)) return 0;
  GlobalStats().allocations++;
  std::unique_lock<std::shared_mutex> lock(alloc_mu_);
  allocated_bytes_ += bytes;
  allocations_[a.address] = a;
  return a.address;
}

void VkDevice_::Free(uint64_t address) {
  Allocation a;
  {
    std::unique_lock<std::shared_mutex> lock(alloc_mu_);
    auto it = allocations_.find(address);
    if (it == allocations_.end()) return;
    a = it->second;
    allocated_bytes_ -= a.size;
    allocations_.erase(it);
  }
  // TF frees memory only once the work using it is ordered before any reuse
  // (its allocators are stream-ordered), but the GPU may still be executing
  // commands that reference the buffer: wait for every stream first.
  SynchronizeAll();
  DestroyBuffer(&a);
}

void VkDevice_::MemoryUsage(int64_t* free_bytes, int64_t* total_bytes) {
  std::shared_lock<std::shared_mutex> lock(alloc_mu_);
  *total_bytes = static_cast<int64_t>(heap_bytes_);
  *free_bytes = static_cast<int64_t>(heap_bytes_ - std::min(heap_bytes_, allocated_bytes_));
}

bool VkDevice_::Resolve(uint64_t address, BufferRef* out) {
  std::shared_lock<std::shared_mutex> lock(alloc_mu_);
  auto it = allocations_.upper_bound(address);
  if (it == allocations_.begin()) return false;
  --it;
  const Allocation& a = it->second;
  if (address >= a.address + a.size) return false;
  out->buffer = a.buffer;
  out->offset = address - a.address;
  out->available = a.size - out->offset;
  return true;
}

Allocation* VkDevice_::AcquireStaging(uint64_t bytes, Status* status) {
  uint64_t size = 1ull << 22;  // 4 MiB chunks, larger for larger copies
  while (size < bytes) size <<= 1;
  {
    std::lock_guard<std::mutex> lock(staging_mu_);
    auto it = free_staging_.lower_bound(size);
    if (it != free_staging_.end() && it->first <= 4 * size) {
      Allocation* a = it->second;
      free_staging_bytes_ -= a->size;
      free_staging_.erase(it);
      return a;
    }
  }
  auto* a = new Allocation;
  if (!CreateBuffer(size, staging_memory_type_, true, a)) {
    delete a;
    status->code = kOutOfMemory;
    status->message = "out of host-visible staging memory (" + std::to_string(size) + " bytes)";
    return nullptr;
  }
  return a;
}

void VkDevice_::ReleaseStaging(Allocation* chunk) {
  constexpr uint64_t kKeep = 256ull << 20;  // cache at most this much
  {
    std::lock_guard<std::mutex> lock(staging_mu_);
    if (free_staging_bytes_ + chunk->size <= kKeep) {
      free_staging_bytes_ += chunk->size;
      free_staging_.emplace(chunk->size, chunk);
      return;
    }
  }
  DestroyBuffer(chunk);
  delete chunk;
}

VkDevice_::Pipeline VkDevice_::GetPipeline(const char* name, const uint32_t* spec,
                                           uint32_t spec_count, Status* status) {
  std::string key(name);
  if (spec_count) {
    key.push_back('\0');
    key.append(reinterpret_cast<const char*>(spec), spec_count * sizeof(uint32_t));
  }
  std::lock_guard<std::mutex> lock(pipeline_mu_);
  auto it = pipelines_.find(key);
  if (it != pipelines_.end()) return it->second;
  const KernelBinary* bin = FindKernelBinary(name);
  if (!bin) {
    status->code = kInternal;
    status->message = std::string("no compute kernel named ") + name + " in the kernel library";
    return {};
  }
  if (bin->needs_fp16 && !info_.fp16) {
    status->code = kInternal;
    status->message = std::string(name) + " needs 16-bit storage, which this device lacks";
    return {};
  }
  if (bin->needs_int8 && !info_.int8) {
    status->code = kInternal;
    status->message = std::string(name) + " needs 8-bit storage, which this device lacks";
    return {};
  }
  VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smci.codeSize = bin->spirv_bytes;
  smci.pCode = bin->spirv;
  VkShaderModule module;
  VkResult r = vkCreateShaderModule(device_, &smci, nullptr, &module);
  if (r != VK_SUCCESS) {
    *status = VkError(r, std::string("vkCreateShaderModule(") + name + ")");
    return {};
  }
  VkComputePipelineCreateInfo cci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  cci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cci.stage.module = module;
  cci.stage.pName = "main";
  std::vector<VkSpecializationMapEntry> entries(spec_count);
  for (uint32_t i = 0; i < spec_count; ++i)
    entries[i] = {i, static_cast<uint32_t>(i * sizeof(uint32_t)), sizeof(uint32_t)};
  VkSpecializationInfo si{spec_count, entries.data(), spec_count * sizeof(uint32_t), spec};
  if (spec_count) cci.stage.pSpecializationInfo = &si;
  cci.layout = layout_;
  VkPipeline pipeline = VK_NULL_HANDLE;
  r = vkCreateComputePipelines(device_, VK_NULL_HANDLE, 1, &cci, nullptr, &pipeline);
  vkDestroyShaderModule(device_, module, nullptr);
  if (r != VK_SUCCESS) {
    *status = VkError(r, std::string("vkCreateComputePipelines(") + name + ")");
    return {};
  }
  GlobalStats().pipelines_created++;
  Pipeline entry{pipeline, bin->push_constant_bytes};
  pipelines_.emplace(key, entry);
  return entry;
}

bool VkDevice_::HasKernel(const std::string& name) const {
  const KernelBinary* bin = FindKernelBinary(name.c_str());
  return bin && (!bin->needs_fp16 || info_.fp16) && (!bin->needs_int8 || info_.int8);
}

VkResult VkDevice_::Submit(const VkSubmitInfo& info) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  return vkQueueSubmit(queue_, 1, &info, VK_NULL_HANDLE);
}

void VkDevice_::RegisterStream(VkStream* s) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.insert(s);
}

void VkDevice_::UnregisterStream(VkStream* s) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.erase(s);
}

Status VkDevice_::SynchronizeAll() {
  std::vector<VkStream*> streams;
  {
    std::lock_guard<std::mutex> lock(streams_mu_);
    streams.assign(streams_.begin(), streams_.end());
  }
  Status first;
  for (VkStream* s : streams) {
    Status st = s->Synchronize();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

std::unique_ptr<Stream> VkDevice_::CreateStream(Status* status) {
  auto s = std::make_unique<VkStream>(this);
  *status = s->Init();
  if (!status->ok()) return nullptr;
  return s;
}

std::unique_ptr<Timer> VkDevice_::CreateTimer(Status* status) {
  auto t = std::make_unique<VkTimer>(this);
  *status = t->Init();
  if (!status->ok()) return nullptr;
  return t;
}

}  // namespace vk

// ---------------------------------------------------------------------------
// Backend entry points.

std::vector<DeviceInfo> EnumerateDevices(std::string* why_none) {
  vk::Instance& inst = vk::GetInstance();
  std::vector<DeviceInfo> out;
  for (const auto& c : inst.devices) out.push_back(c.info);
  if (out.empty() && why_none) *why_none = inst.why_none;
  return out;
}

Device* OpenDevice(int ordinal, Status* status) {
  vk::Instance& inst = vk::GetInstance();
  if (ordinal < 0 || ordinal >= static_cast<int>(inst.devices.size())) {
    status->code = 3;  // TF_INVALID_ARGUMENT
    status->message = "no device " + std::to_string(ordinal);
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(inst.open_mu);
  if (inst.opened.size() < inst.devices.size()) inst.opened.resize(inst.devices.size());
  if (!inst.opened[ordinal]) {
    auto dev = std::make_unique<vk::VkDevice_>(inst.devices[ordinal].physical,
                                               inst.devices[ordinal].info);
    *status = dev->Init();
    if (!status->ok()) return nullptr;
    inst.opened[ordinal] = std::move(dev);
  }
  return inst.opened[ordinal].get();
}

}  // namespace rt
}  // namespace tfmp
