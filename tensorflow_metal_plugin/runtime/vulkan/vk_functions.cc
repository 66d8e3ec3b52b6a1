#include "tensorflow_metal_plugin/runtime/vulkan/vk_functions.h"

#include <dirent.h>
#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace tfmp {
namespace rt {
namespace vk {

#define TFMP_VK_DEFINE(name) PFN_##name name = nullptr;
TFMP_VK_GLOBAL_FUNCTIONS(TFMP_VK_DEFINE)
TFMP_VK_INSTANCE_FUNCTIONS(TFMP_VK_DEFINE)
TFMP_VK_DEVICE_FUNCTIONS(TFMP_VK_DEFINE)
#undef TFMP_VK_DEFINE

static PFN_vkGetInstanceProcAddr get_instance_proc_addr = nullptr;

// TensorFlow's libtensorflow_framework.so.2 is loaded into the global symbol
// scope and exports its own copy of LLVM. Mesa's Vulkan drivers (lavapipe,
// and radv builds using LLVM) link the system's libLLVM; loaded the usual way
// their LLVM calls bind to TF's LLVM and crash. Preloading each Mesa driver
// with RTLD_DEEPBIND makes it (and the libLLVM it pulls in) bind to its own
// dependencies first; the Vulkan loader then finds it already loaded.
static std::vector<std::string> IcdManifests() {
  std::vector<std::string> files;
  for (const char* var : {"VK_DRIVER_FILES", "VK_ICD_FILENAMES"}) {
    if (const char* v = std::getenv(var)) {
      std::stringstream ss(v);
      std::string f;
      while (std::getline(ss, f, ':'))
        if (!f.empty()) files.push_back(f);
      return files;
    }
  }
  for (const char* dir : {"/usr/share/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                          "/etc/vulkan/icd.d"}) {
    if (DIR* d = opendir(dir)) {
      while (dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name.size() > 5 && name.substr(name.size() - 5) == ".json")
          files.push_back(std::string(dir) + "/" + name);
      }
      closedir(d);
    }
  }
  return files;
}

static void PreloadMesaDrivers() {
  for (const std::string& manifest : IcdManifests()) {
    std::ifstream in(manifest);
    std::stringstream buf;
    buf << in.rdbuf();
    const std::string json = buf.str();
    size_t key = json.find("\"library_path\"");
    if (key == std::string::npos) continue;
    size_t open = json.find('"', json.find(':', key) + 1);
    size_t close = json.find('"', open + 1);
    if (open == std::string::npos || close == std::string::npos) continue;
    const std::string path = json.substr(open + 1, close - open - 1);
    const std::string base = path.substr(path.rfind('/') + 1);
    if (base.rfind("libvulkan_", 0) == 0) dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  }
}

bool LoadLoader(std::string* why) {
  if (get_instance_proc_addr) return true;
  PreloadMesaDrivers();
  const char* candidates[] = {"libvulkan.so.1", "libvulkan.so", "libvulkan.1.dylib",
                              "libMoltenVK.dylib"};
  void* lib = nullptr;
  for (const char* name : candidates) {
    lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (lib) break;
  }
  if (!lib) {
    *why = "no Vulkan loader found (install libvulkan1, or MoltenVK on macOS)";
    return false;
  }
  get_instance_proc_addr =
      reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(lib, "vkGetInstanceProcAddr"));
  if (!get_instance_proc_addr) {
    *why = "the Vulkan loader has no vkGetInstanceProcAddr";
    return false;
  }
#define TFMP_VK_LOAD_GLOBAL(name) \
  name = reinterpret_cast<PFN_##name>(get_instance_proc_addr(nullptr, #name));
  TFMP_VK_GLOBAL_FUNCTIONS(TFMP_VK_LOAD_GLOBAL)
#undef TFMP_VK_LOAD_GLOBAL
  if (!vkCreateInstance) {
    *why = "the Vulkan loader has no vkCreateInstance";
    return false;
  }
  return true;
}

void LoadInstanceFunctions(VkInstance instance) {
#define TFMP_VK_LOAD_INSTANCE(name) \
  name = reinterpret_cast<PFN_##name>(get_instance_proc_addr(instance, #name));
  TFMP_VK_INSTANCE_FUNCTIONS(TFMP_VK_LOAD_INSTANCE)
  // Device functions through the instance: the loader's trampolines dispatch
  // to the right driver for any VkDevice, so several devices can coexist.
  TFMP_VK_DEVICE_FUNCTIONS(TFMP_VK_LOAD_INSTANCE)
#undef TFMP_VK_LOAD_INSTANCE
}

const char* ResultName(VkResult r) {
  switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
  }
}

}  // namespace vk
}  // namespace rt
}  // namespace tfmp
