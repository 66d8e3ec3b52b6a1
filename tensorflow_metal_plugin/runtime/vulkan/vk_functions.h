// Vulkan entry points the runtime uses, loaded at run time from the system's
// Vulkan loader (libvulkan.so.1 / libvulkan.1.dylib with MoltenVK). Loading
// by dlopen keeps the plugin importable on a machine without Vulkan: it then
// offers no device instead of failing to load.
#ifndef TFMP_RUNTIME_VULKAN_VK_FUNCTIONS_H_
#define TFMP_RUNTIME_VULKAN_VK_FUNCTIONS_H_

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <string>

// X-macro lists: global, instance-level and device-level functions.
#define TFMP_VK_GLOBAL_FUNCTIONS(X) \
  X(vkCreateInstance)               \
  X(vkEnumerateInstanceExtensionProperties) \
  X(vkEnumerateInstanceVersion)

#define TFMP_VK_INSTANCE_FUNCTIONS(X)          \
  X(vkDestroyInstance)                         \
  X(vkEnumeratePhysicalDevices)                \
  X(vkGetPhysicalDeviceProperties)             \
  X(vkGetPhysicalDeviceProperties2)            \
  X(vkGetPhysicalDeviceFeatures2)              \
  X(vkGetPhysicalDeviceMemoryProperties)       \
  X(vkGetPhysicalDeviceQueueFamilyProperties)  \
  X(vkEnumerateDeviceExtensionProperties)      \
  X(vkCreateDevice)                            \
  X(vkGetDeviceProcAddr)

#define TFMP_VK_DEVICE_FUNCTIONS(X)    \
  X(vkDestroyDevice)                   \
  X(vkGetDeviceQueue)                  \
  X(vkDeviceWaitIdle)                  \
  X(vkCreateBuffer)                    \
  X(vkDestroyBuffer)                   \
  X(vkGetBufferMemoryRequirements)     \
  X(vkAllocateMemory)                  \
  X(vkFreeMemory)                      \
  X(vkBindBufferMemory)                \
  X(vkMapMemory)                       \
  X(vkGetBufferDeviceAddress)          \
  X(vkCreateShaderModule)              \
  X(vkDestroyShaderModule)             \
  X(vkCreatePipelineLayout)            \
  X(vkDestroyPipelineLayout)           \
  X(vkCreateComputePipelines)          \
  X(vkDestroyPipeline)                 \
  X(vkCreatePipelineCache)             \
  X(vkDestroyPipelineCache)            \
  X(vkGetPipelineCacheData)            \
  X(vkMergePipelineCaches)             \
  X(vkCreateCommandPool)               \
  X(vkDestroyCommandPool)              \
  X(vkAllocateCommandBuffers)          \
  X(vkFreeCommandBuffers)              \
  X(vkResetCommandBuffer)              \
  X(vkBeginCommandBuffer)              \
  X(vkEndCommandBuffer)                \
  X(vkCmdBindPipeline)                 \
  X(vkCmdPushConstants)                \
  X(vkCmdDispatch)                     \
  X(vkCmdCopyBuffer)                   \
  X(vkCmdFillBuffer)                   \
  X(vkCmdPipelineBarrier)              \
  X(vkCmdResetQueryPool)               \
  X(vkCmdWriteTimestamp)               \
  X(vkCreateQueryPool)                 \
  X(vkDestroyQueryPool)                \
  X(vkGetQueryPoolResults)             \
  X(vkCreateSemaphore)                 \
  X(vkDestroySemaphore)                \
  X(vkWaitSemaphores)                  \
  X(vkGetSemaphoreCounterValue)        \
  X(vkQueueSubmit)

namespace tfmp {
namespace rt {
namespace vk {

#define TFMP_VK_DECLARE(name) extern PFN_##name name;
TFMP_VK_GLOBAL_FUNCTIONS(TFMP_VK_DECLARE)
TFMP_VK_INSTANCE_FUNCTIONS(TFMP_VK_DECLARE)
TFMP_VK_DEVICE_FUNCTIONS(TFMP_VK_DECLARE)
#undef TFMP_VK_DECLARE

// Loads the Vulkan loader library and the global functions. Returns false
// with a one-line reason when there is no usable loader.
bool LoadLoader(std::string* why);
// Loads instance and device functions (device ones as loader trampolines).
void LoadInstanceFunctions(VkInstance instance);

const char* ResultName(VkResult r);

}  // namespace vk
}  // namespace rt
}  // namespace tfmp

#endif  // TFMP_RUNTIME_VULKAN_VK_FUNCTIONS_H_
