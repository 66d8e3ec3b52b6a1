// Vulkan instance, device selection, memory and pipelines.
#include "tensorflow_metal_plugin/runtime/vulkan/vk_device.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "tensorflow_metal_plugin/runtime/kernel_library.h"
#include "tensorflow_metal_plugin/profile.h"
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

// The Vulkan version the instance asked for (CreateInstance).
uint32_t g_instance_api = VK_API_VERSION_1_2;

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

// Cooperative matrices for the matmul_coopmat kernels (kernels/shaders/
// matmul_coopmat.comp, variants.py REQUIRES "coopmat_nv" / "coopmat_khr"):
// VK_NV_cooperative_matrix or VK_KHR_cooperative_matrix offering float16 x
// float16 -> float32 16x16x16 at subgroup scope in compute shaders, subgroups
// of 32 with the basic operations, the Vulkan memory model (the shaders
// declare it) and 16-bit storage. Fills info->coopmat_f16, coopmat_khr (which
// extension serves it) and coopmat (the offers, and what is used or why not).
// NV by default; the KHR kernels (a build-time SPIR-V rewrite, validated
// offline but not yet run on a device: its first H200 run crashed the driver
// on a since-fixed forward reference) only with TFMP_COOPMAT=khr. TFMP_COOPMAT=0
// turns the path off.
std::string ComponentName(int t) {
  switch (t) {
    case 0: return "f16";
    case 1: return "f32";
    case 2: return "f64";
    case 3: return "s8";
    case 5: return "s32";
    case 7: return "u8";
    case 9: return "u32";
    default: return "t" + std::to_string(t);
  }
}

// One extension's offer: its f16*f16+f32 16x16x16 subgroup shape or why not.
struct CoopOffer {
  bool present = false, usable = false;
  std::string shapes, why_not;
};

template <typename Props>
void AddShape(const Props& s, CoopOffer* o) {
  o->shapes += " " + ComponentName(s.AType) + "*" + ComponentName(s.BType) + "+" +
               ComponentName(s.CType) + " " + std::to_string(s.MSize) + "x" + std::to_string(s.NSize) +
               "x" + std::to_string(s.KSize) + (s.scope == 3 ? "" : " (not subgroup)") + ",";
  if (s.MSize == 16 && s.NSize == 16 && s.KSize == 16 && s.AType == 0 && s.BType == 0 &&
      s.CType == 1 && s.scope == 3)
    o->usable = true;
}

// Whether an extension's offer is usable (the feature, compute shaders, the
// 16x16x16 f16*f16+f32 shape AddShape looked for), and why not.
CoopOffer Decide(CoopOffer o, VkBool32 feature, VkShaderStageFlags stages) {
  if (!feature) o.why_not = "the cooperativeMatrix feature is absent";
  else if (!(stages & VK_SHADER_STAGE_COMPUTE_BIT)) o.why_not = "not in compute shaders";
  else if (!o.usable) o.why_not = "no f16*f16+f32 16x16x16 subgroup shape";
  o.usable = o.why_not.empty();
  return o;
}

CoopOffer QueryCoopNV(VkPhysicalDevice pd, const std::vector<VkExtensionProperties>& exts) {
  CoopOffer o;
  if (!HasExtension(exts, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)
    return o;
  o.present = true;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &features};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  VkPhysicalDeviceCooperativeMatrixPropertiesNV props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &props};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  uint32_t n = 0;
  vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, nullptr);
  std::vector<VkCooperativeMatrixPropertiesNV> shapes(
      n, VkCooperativeMatrixPropertiesNV{VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, shapes.data());
  shapes.resize(n);
  for (const auto& s : shapes) AddShape(s, &o);
  return Decide(o, features.cooperativeMatrix, props.cooperativeMatrixSupportedStages);
}

CoopOffer QueryCoopKHR(VkPhysicalDevice pd, const std::vector<VkExtensionProperties>& exts) {
  CoopOffer o;
  if (!HasExtension(exts, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)
    return o;
  o.present = true;
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR features{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &features};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  VkPhysicalDeviceCooperativeMatrixPropertiesKHR props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_KHR};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &props};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  uint32_t n = 0;
  vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR(pd, &n, nullptr);
  std::vector<VkCooperativeMatrixPropertiesKHR> shapes(
      n, VkCooperativeMatrixPropertiesKHR{VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR});
  vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR(pd, &n, shapes.data());
  shapes.resize(n);
  for (const auto& s : shapes) AddShape(s, &o);
  return Decide(o, features.cooperativeMatrix, props.cooperativeMatrixSupportedStages);
}

void DescribeCoopMat(VkPhysicalDevice pd, const VkPhysicalDeviceSubgroupProperties& subgroup,
                     bool vulkan_memory_model, DeviceInfo* info) {
  const auto exts = DeviceExtensions(pd);
  CoopOffer nv = QueryCoopNV(pd, exts), khr = QueryCoopKHR(pd, exts);
  if (!nv.present && !khr.present) return;
  std::string common;  // requirements beyond the extension
  if (subgroup.subgroupSize != 32) common = "subgroup size is not 32";
  else if (!(subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ||
           !(subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT))
    common = "no basic subgroup operations in compute shaders";
  else if (!vulkan_memory_model) common = "no Vulkan memory model";
  else if (!info->fp16) common = "no 16-bit storage";
  const char* env = std::getenv("TFMP_COOPMAT");
  const std::string mode = env ? env : "";
  std::string why_not = common;
  bool use_khr = false;
  if (why_not.empty()) {
    if (mode == "0") why_not = "off by TFMP_COOPMAT=0";
    else if (mode != "khr" && nv.usable) use_khr = false;
    else if (mode == "khr" && khr.usable) use_khr = true;
    else if (mode == "khr") why_not = "TFMP_COOPMAT=khr and VK_KHR_cooperative_matrix does not qualify";
    else if (khr.usable) why_not = "the KHR path is opt-in (TFMP_COOPMAT=khr): not yet verified on a device";
    else why_not = "no extension qualifies";
  }
  std::string offer;
  for (const auto* o : {&nv, &khr}) {
    if (!o->present) continue;
    std::string sh = o->shapes;
    if (!sh.empty() && sh.back() == ',') sh.pop_back();
    offer += std::string(offer.empty() ? "" : "; ") + (o == &nv ? "VK_NV_cooperative_matrix:" : "VK_KHR_cooperative_matrix:") +
             sh + (o->why_not.empty() ? "" : " (" + o->why_not + ")");
  }
  info->coopmat_f16 = why_not.empty();
  info->coopmat_khr = info->coopmat_f16 && use_khr;
  info->coopmat = offer + (why_not.empty() ? std::string("; using ") + (use_khr ? "KHR" : "NV")
                                           : "; unused: " + why_not);
}

// Workgroup-scope cooperative matrices for the matmul_coopmat2 kernels
// (kernels/shaders/matmul_coopmat2.comp, variants.py REQUIRES "coopmat2_nv"):
// VK_NV_cooperative_matrix2 with workgroup scope, flexible dimensions, tensor
// addressing and per-element operations, a flexible-dimensions shape
// f16*f16+f32 at workgroup scope for 256 invocations whose granularity
// divides the tiles (multiples of 128 x 128 x 32), on VK_KHR_cooperative_matrix,
// Vulkan 1.3 (the kernels are SPIR-V 1.6), the Vulkan memory model and 16-bit
// storage. Fills info->coopmat2 and appends the offer (and what is used or why
// not) to info->coopmat. TFMP_COOPMAT2=0 (or TFMP_COOPMAT=0) turns it off:
// float16 GEMMs then take the coopmat_nv kernels.
void DescribeCoopMat2(VkPhysicalDevice pd, uint32_t api_version, bool vulkan_memory_model,
                      DeviceInfo* info) {
  const auto exts = DeviceExtensions(pd);
  if (!HasExtension(exts, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME)) return;
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV f2nv{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR fkhr{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR, &f2nv};
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &fkhr};
  vkGetPhysicalDeviceFeatures2(pd, &f2);
  VkPhysicalDeviceCooperativeMatrix2PropertiesNV props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_PROPERTIES_NV};
  VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &props};
  vkGetPhysicalDeviceProperties2(pd, &p2);
  std::string shapes;
  bool shape_ok = false;
  if (vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV) {
    uint32_t n = 0;
    vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV(pd, &n, nullptr);
    std::vector<VkCooperativeMatrixFlexibleDimensionsPropertiesNV> v(
        n, VkCooperativeMatrixFlexibleDimensionsPropertiesNV{
               VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV});
    vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV(pd, &n, v.data());
    v.resize(n);
    for (const auto& s : v) {
      if (s.AType != 0 || s.BType != 0) continue;  // float16 inputs only, for the log
      shapes += " " + ComponentName(s.AType) + "*" + ComponentName(s.BType) + "+" +
                ComponentName(s.CType) + " " + std::to_string(s.MGranularity) + "x" +
                std::to_string(s.NGranularity) + "x" + std::to_string(s.KGranularity) +
                (s.scope == 2 ? " wg" + std::to_string(s.workgroupInvocations) : " sg") + ",";
      if (s.CType == 1 && s.ResultType == 1 && s.scope == 2 && s.workgroupInvocations == 256 &&
          s.MGranularity && 128 % s.MGranularity == 0 && s.NGranularity &&
          128 % s.NGranularity == 0 && s.KGranularity && 32 % s.KGranularity == 0)
        shape_ok = true;
    }
  }
  if (!shapes.empty() && shapes.back() == ',') shapes.pop_back();
  std::string why_not;
  const char* env2 = std::getenv("TFMP_COOPMAT2");
  const char* env1 = std::getenv("TFMP_COOPMAT");
  if (env2 && std::strcmp(env2, "0") == 0) why_not = "off by TFMP_COOPMAT2=0";
  else if (env1 && std::strcmp(env1, "0") == 0) why_not = "off by TFMP_COOPMAT=0";
  else if (api_version < VK_API_VERSION_1_3) why_not = "Vulkan 1.3 is required";
  else if (!HasExtension(exts, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME) || !fkhr.cooperativeMatrix)
    why_not = "no VK_KHR_cooperative_matrix";
  else if (!f2nv.cooperativeMatrixWorkgroupScope || !f2nv.cooperativeMatrixFlexibleDimensions ||
           !f2nv.cooperativeMatrixTensorAddressing || !f2nv.cooperativeMatrixPerElementOperations)
    why_not = "a feature is absent (workgroup scope, flexible dimensions, tensor addressing, per-element ops)";
  else if (!vulkan_memory_model) why_not = "no Vulkan memory model";
  else if (!info->fp16) why_not = "no 16-bit storage";
  else if (!shape_ok) why_not = "no f16*f16+f32 workgroup shape for 256 invocations";
  else if (!FindKernelBinary("matmul_coopmat2_f16_nn"))
    why_not = "this build has no coopmat2 kernels (glslang 16 was unavailable: tools/glslang16.py)";
  info->coopmat2 = why_not.empty();
  info->coopmat += std::string(info->coopmat.empty() ? "" : "; ") + "VK_NV_cooperative_matrix2:" + shapes +
                   " (max wg " + std::to_string(props.cooperativeMatrixWorkgroupScopeMaxWorkgroupSize) +
                   ", reserved shared " +
                   std::to_string(props.cooperativeMatrixWorkgroupScopeReservedSharedMemory) + ")" +
                   (why_not.empty() ? "; using coopmat2" : "; coopmat2 unused: " + why_not);
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
  DescribeCoopMat(pd, subgroup, f12.vulkanMemoryModel, &info);
  DescribeCoopMat2(pd, std::min(p.apiVersion, g_instance_api), f12.vulkanMemoryModel, &info);
  if (HasExtension(DeviceExtensions(pd), VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME)) {
    VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 q{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &sm};
    vkGetPhysicalDeviceProperties2(pd, &q);
    info.compute_units = sm.shaderSMCount;
  }
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
  // Vulkan 1.3 where the loader has it (SPIR-V 1.6: the coopmat2 kernels);
  // every other kernel needs 1.2 only.
  uint32_t loader = VK_API_VERSION_1_0;
  if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader);
  g_instance_api = loader >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
  app.apiVersion = g_instance_api;
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
  // TFMP_QUEUE_FAMILY=graphics takes the graphics family's queue instead
  // (an experiment: NVIDIA's clock governor on the H200, docs/benchmarks.md
  // "Slow processes").
  const char* want = std::getenv("TFMP_QUEUE_FAMILY");
  const bool graphics = want && std::strcmp(want, "graphics") == 0;
  int family = -1;
  for (uint32_t i = 0; i < nq; ++i)
    if ((qs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) &&
        static_cast<bool>(qs[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) == graphics &&
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
  timestamp_bits_ = ts_bits;
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
  // Cooperative matrices through one extension (DescribeCoopMat checked it all).
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coopmat_nv{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR coopmat_khr{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR};
  if (info_.coopmat_f16) {
    f12.vulkanMemoryModel = VK_TRUE;
    if (info_.coopmat_khr) {
      exts.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
      coopmat_khr.cooperativeMatrix = VK_TRUE;
      f12.pNext = &coopmat_khr;
    } else {
      exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
      coopmat_nv.cooperativeMatrix = VK_TRUE;
      f12.pNext = &coopmat_nv;
    }
  }
  // Workgroup-scope cooperative matrices (DescribeCoopMat2 checked it all):
  // VK_NV_cooperative_matrix2 on VK_KHR_cooperative_matrix, next to the
  // subgroup-scope extension above (whose kernels serve the other shapes).
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV coopmat2{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV};
  const size_t exts_before_coopmat2 = exts.size();
  void* const f12_next_before_coopmat2 = f12.pNext;
  if (info_.coopmat2) {
    f12.vulkanMemoryModel = VK_TRUE;
    coopmat2.cooperativeMatrixWorkgroupScope = VK_TRUE;
    coopmat2.cooperativeMatrixFlexibleDimensions = VK_TRUE;
    coopmat2.cooperativeMatrixTensorAddressing = VK_TRUE;
    coopmat2.cooperativeMatrixPerElementOperations = VK_TRUE;
    if (!info_.coopmat_khr) {
      exts.push_back(VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
      coopmat_khr.cooperativeMatrix = VK_TRUE;
      coopmat_khr.pNext = f12.pNext;
      f12.pNext = &coopmat_khr;
    }
    exts.push_back(VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME);
    coopmat2.pNext = f12.pNext;
    f12.pNext = &coopmat2;
  }
  // Tells whether a pipeline came from the pipeline cache (stats).
  if (HasExtension(available, VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME)) {
    exts.push_back(VK_EXT_PIPELINE_CREATION_FEEDBACK_EXTENSION_NAME);
    creation_feedback_ = true;
  }
  // TFMP_PIPELINE_STATS=1: print the driver's statistics of each compute
  // pipeline (registers, spills, ...) to stderr as it is created.
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec_props{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
  const char* stats_env = std::getenv("TFMP_PIPELINE_STATS");
  if (stats_env && std::strcmp(stats_env, "1") == 0 &&
      HasExtension(available, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME)) {
    exts.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    exec_props.pipelineExecutableInfo = VK_TRUE;
    exec_props.pNext = f2.pNext;
    f2.pNext = &exec_props;
    pipeline_stats_ = true;
  }

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
  if (r != VK_SUCCESS && info_.coopmat2) {
    // Without VK_NV_cooperative_matrix2 (GEMMs then take the coopmat_nv kernels).
    std::fprintf(stderr, "tensorflow-metal-plugin: vkCreateDevice with VK_NV_cooperative_matrix2 failed (%s); "
                 "retrying without it\n", ResultName(r));
    info_.coopmat2 = false;
    info_.coopmat += std::string("; coopmat2 off: vkCreateDevice failed with it (") + ResultName(r) + ")";
    exts.erase(exts.begin() + exts_before_coopmat2, exts.begin() + exts_before_coopmat2 +
               (info_.coopmat_khr ? 1 : 2));
    f12.pNext = f12_next_before_coopmat2;
    dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    dci.ppEnabledExtensionNames = exts.data();
    r = vkCreateDevice(physical_, &dci, nullptr, &device_);
  }
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
      if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && mappable_device_type_ < 0)
        mappable_device_type_ = static_cast<int>(i);
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

  // The kernel table: name -> index, built once and only read afterwards.
  bins_ = KernelBinaries(&num_bins_);
  pipelines_.reset(new std::atomic<VkPipeline>[num_bins_]);
  kernel_index_.reserve(num_bins_);
  for (size_t i = 0; i < num_bins_; ++i) {
    pipelines_[i].store(VK_NULL_HANDLE, std::memory_order_relaxed);
    kernel_index_.emplace(bins_[i].name, static_cast<int32_t>(i));
  }
  InitPipelineCache();
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
  VkMemoryDedicatedAllocateInfo dedicated{VK_STRUCTURE_TYPE_MEMORY_DEDICATED_ALLOCATE_INFO};
  dedicated.buffer = out->buffer;
  // TFMP_DEDICATED_MEMORY=1 (an experiment, docs/benchmarks.md), read at
  // each allocation so that a benchmark case can set it for its own buffers.
  const char* dedicated_env = std::getenv("TFMP_DEDICATED_MEMORY");
  if (!map && dedicated_env && std::strcmp(dedicated_env, "1") == 0) flags.pNext = &dedicated;
  // TFMP_MAPPABLE_MEMORY=1 (an experiment, read the same way): tensors in the
  // device-local memory the host can map, which a driver cannot compress.
  const char* mappable_env = std::getenv("TFMP_MAPPABLE_MEMORY");
  if (!map && memory_type == device_memory_type_ && mappable_device_type_ >= 0 && mappable_env &&
      std::strcmp(mappable_env, "1") == 0 && (req.memoryTypeBits & (1u << mappable_device_type_)))
    memory_type = static_cast<uint32_t>(mappable_device_type_);
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
  // The span of addresses ever allocated (only grows): push-constant scans.
  uint64_t lo = address_lo_.load();
  while (a.address < lo && !address_lo_.compare_exchange_weak(lo, a.address)) {
  }
  uint64_t hi = address_hi_.load();
  while (a.address + bytes > hi && !address_hi_.compare_exchange_weak(hi, a.address + bytes)) {
  }
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

int32_t VkDevice_::KernelIndex(const char* name) const {
  auto it = kernel_index_.find(std::string_view(name));
  return it == kernel_index_.end() ? -1 : it->second;
}

VkDevice_::Pipeline VkDevice_::CreatePipeline(int32_t index, Status* status) {
  // Different kernels are created in parallel; the same one once.
  std::lock_guard<std::mutex> lock(create_mu_[index % 16]);
  const KernelBinary* bin = &bins_[index];
  VkPipeline existing = pipelines_[index].load(std::memory_order_acquire);
  if (existing) return {existing, bin->push_constant_bytes};
  VkPipeline pipeline = BuildPipeline(index, nullptr, 0, status);
  if (!pipeline) return {};
  pipelines_[index].store(pipeline, std::memory_order_release);
  return {pipeline, bin->push_constant_bytes};
}

VkDevice_::Pipeline VkDevice_::GetSpecializedPipeline(int32_t index, const uint32_t* spec,
                                                      uint32_t spec_count, Status* status) {
  if (spec_count == 0) return GetPipeline(index, status);
  std::vector<uint32_t> key;
  key.reserve(spec_count + 1);
  key.push_back(static_cast<uint32_t>(index));
  key.insert(key.end(), spec, spec + spec_count);
  const uint32_t push_bytes = bins_[index].push_constant_bytes;
  {
    std::shared_lock<std::shared_mutex> read(spec_mu_);
    auto it = spec_pipelines_.find(key);
    if (it != spec_pipelines_.end()) return {it->second, push_bytes};
  }
  // Created once: the kernel's creation lock, then a second look.
  std::lock_guard<std::mutex> lock(create_mu_[index % 16]);
  {
    std::shared_lock<std::shared_mutex> read(spec_mu_);
    auto it = spec_pipelines_.find(key);
    if (it != spec_pipelines_.end()) return {it->second, push_bytes};
  }
  VkPipeline pipeline = BuildPipeline(index, spec, spec_count, status);
  if (!pipeline) return {};
  std::unique_lock<std::shared_mutex> write(spec_mu_);
  spec_pipelines_.emplace(std::move(key), pipeline);
  return {pipeline, push_bytes};
}

VkPipeline VkDevice_::BuildPipeline(int32_t index, const uint32_t* spec, uint32_t spec_count,
                                    Status* status) {
  const KernelBinary* bin = &bins_[index];
  const char* name = bin->name;
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
  if (!HasFeature(bin->requires_feature)) {
    status->code = kInternal;
    status->message = std::string(name) + " needs the device feature " + bin->requires_feature +
                      ", which this device lacks or has turned off";
    return {};
  }
  const auto t0 = std::chrono::steady_clock::now();
  VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smci.codeSize = bin->spirv_bytes;
  smci.pCode = bin->spirv;
  VkShaderModule module;
  VkResult r = vkCreateShaderModule(device_, &smci, nullptr, &module);
  if (r != VK_SUCCESS) {
    *status = VkError(r, std::string("vkCreateShaderModule(") + name + ")");
    return {};
  }
  VkPipelineCreationFeedbackEXT feedback{};
  VkPipelineCreationFeedbackEXT stage_feedback{};
  VkPipelineCreationFeedbackCreateInfoEXT fci{
      VK_STRUCTURE_TYPE_PIPELINE_CREATION_FEEDBACK_CREATE_INFO_EXT};
  fci.pPipelineCreationFeedback = &feedback;
  fci.pipelineStageCreationFeedbackCount = 1;
  fci.pPipelineStageCreationFeedbacks = &stage_feedback;
  VkComputePipelineCreateInfo cci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
                                  creation_feedback_ ? &fci : nullptr};
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
  if (pipeline_stats_) cci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
  VkPipeline pipeline = VK_NULL_HANDLE;
  r = vkCreateComputePipelines(device_, cache_, 1, &cci, nullptr, &pipeline);
  vkDestroyShaderModule(device_, module, nullptr);
  if (r != VK_SUCCESS) {
    *status = VkError(r, std::string("vkCreateComputePipelines(") + name + ")");
    return {};
  }
  if (pipeline_stats_) PrintPipelineStats(name, pipeline);
  GlobalStats().pipelines_created++;
  GlobalStats().pipeline_create_us += static_cast<uint64_t>(
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  if (creation_feedback_ && (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_VALID_BIT_EXT) &&
      (feedback.flags & VK_PIPELINE_CREATION_FEEDBACK_APPLICATION_PIPELINE_CACHE_HIT_BIT_EXT))
    GlobalStats().pipeline_cache_hits++;
  created_since_save_++;
  return pipeline;
}

bool VkDevice_::PrepareKernel(const char* name, Status* status) {
  const int32_t index = KernelIndex(name);
  if (index < 0) {
    status->code = kInternal;
    status->message = std::string("no compute kernel named ") + name + " in the kernel library";
    return false;
  }
  return GetPipeline(index, status).pipeline != VK_NULL_HANDLE;
}

void VkDevice_::PrintPipelineStats(const char* name, VkPipeline pipeline) {
  auto props = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(
      vkGetDeviceProcAddr(device_, "vkGetPipelineExecutablePropertiesKHR"));
  auto stats = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(
      vkGetDeviceProcAddr(device_, "vkGetPipelineExecutableStatisticsKHR"));
  if (!props || !stats) return;
  VkPipelineInfoKHR pi{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
  pi.pipeline = pipeline;
  uint32_t n = 0;
  if (props(device_, &pi, &n, nullptr) != VK_SUCCESS) return;
  std::vector<VkPipelineExecutablePropertiesKHR> execs(
      n, VkPipelineExecutablePropertiesKHR{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR});
  props(device_, &pi, &n, execs.data());
  for (uint32_t e = 0; e < n; ++e) {
    VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
    ei.pipeline = pipeline;
    ei.executableIndex = e;
    uint32_t ns = 0;
    if (stats(device_, &ei, &ns, nullptr) != VK_SUCCESS) continue;
    std::vector<VkPipelineExecutableStatisticKHR> st(
        ns, VkPipelineExecutableStatisticKHR{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
    stats(device_, &ei, &ns, st.data());
    std::ostringstream o;
    o << "tfmp pipeline stats " << name << " [" << execs[e].name << "]:";
    for (const auto& s : st) {
      o << " " << s.name << "=";
      switch (s.format) {
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: o << s.value.b32; break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: o << s.value.i64; break;
        case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: o << s.value.u64; break;
        default: o << s.value.f64;
      }
    }
    std::fprintf(stderr, "%s\n", o.str().c_str());
  }
}

bool VkDevice_::HasKernel(const std::string& name) const {
  const KernelBinary* bin = FindKernelBinary(name.c_str());
  return bin && (!bin->needs_fp16 || info_.fp16) && (!bin->needs_int8 || info_.int8) &&
         HasFeature(bin->requires_feature);
}

bool VkDevice_::HasFeature(const char* feature) const {
  if (!feature || !*feature) return true;
  if (std::strcmp(feature, "coopmat_nv") == 0) return info_.coopmat_f16 && !info_.coopmat_khr;
  if (std::strcmp(feature, "coopmat_khr") == 0) return info_.coopmat_f16 && info_.coopmat_khr;
  if (std::strcmp(feature, "coopmat2_nv") == 0) return info_.coopmat2;
  return false;  // a feature this runtime does not know
}

VkResult VkDevice_::Submit(const VkSubmitInfo& info, uint64_t* before) {
  std::lock_guard<std::mutex> lock(queue_mu_);
  *before = submissions_.fetch_add(1, std::memory_order_acq_rel);
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

void VkDevice_::ReserveQueryPools() {
  if (!timestamps()) return;
  std::lock_guard<std::mutex> lock(streams_mu_);
  for (VkStream* s : streams_) s->ReserveQueryPools();
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

namespace {
std::atomic<bool> g_profiling{false};

// The devices opened so far (they stay open until the process exits).
std::vector<vk::VkDevice_*> OpenedDevices() {
  vk::Instance& inst = vk::GetInstance();
  std::vector<vk::VkDevice_*> devices;
  std::lock_guard<std::mutex> lock(inst.open_mu);
  for (auto& d : inst.opened)
    if (d) devices.push_back(d.get());
  return devices;
}

void AtExit() {
  const std::vector<vk::VkDevice_*> devices = OpenedDevices();
  for (vk::VkDevice_* d : devices) d->SaveIfChanged();
  if (ProfileActive() && std::getenv("TFMP_PROFILE")) {
    StopProfile();  // waits for the timed work still in flight
    std::string text = ProfileText(25);
    std::fprintf(stderr, "%s", text.c_str());
  }
}
}  // namespace

void SetProfiling(bool on) { g_profiling.store(on, std::memory_order_release); }
bool Profiling() { return g_profiling.load(std::memory_order_acquire); }

void PrepareProfiling() {
  const std::vector<vk::VkDevice_*> devices = OpenedDevices();
  for (vk::VkDevice_* d : devices) d->ReserveQueryPools();
}

Status SynchronizeOpenDevices() {
  const std::vector<vk::VkDevice_*> devices = OpenedDevices();
  Status first;
  for (vk::VkDevice_* d : devices) {
    Status s = d->SynchronizeAll();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

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
  bool first_open = false;
  Device* dev_out = nullptr;
  {
    std::lock_guard<std::mutex> lock(inst.open_mu);
    if (inst.opened.size() < inst.devices.size()) inst.opened.resize(inst.devices.size());
    if (!inst.opened[ordinal]) {
      auto dev = std::make_unique<vk::VkDevice_>(inst.devices[ordinal].physical,
                                                 inst.devices[ordinal].info);
      *status = dev->Init();
      if (!status->ok()) return nullptr;
      inst.opened[ordinal] = std::move(dev);
      static bool registered = false;
      first_open = !registered;
      registered = true;
    }
    dev_out = inst.opened[ordinal].get();
  }
  if (first_open) {
    // At exit: write the pipeline caches, print the profile of TFMP_PROFILE=1
    // (started here, outside open_mu: starting synchronizes open devices).
    const char* prof = std::getenv("TFMP_PROFILE");
    if (prof && std::strcmp(prof, "1") == 0) StartProfile();
    std::atexit(AtExit);
  }
  return dev_out;
}

}  // namespace rt
}  // namespace tfmp
