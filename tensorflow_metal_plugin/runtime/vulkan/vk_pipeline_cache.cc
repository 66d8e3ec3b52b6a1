// The pipeline cache on disk: compiled pipelines survive the process, so a
// second process starts without compiling its kernels again.
//
// Where: $TFMP_CACHE_DIR, else $XDG_CACHE_HOME/tensorflow_metal_plugin, else
// ~/.cache/tensorflow_metal_plugin; TFMP_PIPELINE_CACHE=0 turns it off. One
// file per (device, driver, plugin build): its name carries a key hashed from
// the device's vendor and device IDs, driver version, pipeline-cache UUID and
// driver name, the push-constant layout and every kernel of the embedded
// library, so a new driver or a rebuilt kernel library starts a new file.
//
// Format: a 40-byte header (magic "TFMPVKPC", format 1, the key, the data's
// size and checksum) and then the driver's vkGetPipelineCacheData blob. A file
// that is short, foreign (other key), corrupt (checksum) or whose Vulkan
// header (VkPipelineCacheHeaderVersionOne) names another device is ignored:
// the cache starts empty and is rewritten. Writes go to a temporary file in
// the same folder, then rename() over the old one, so readers in other
// processes see a whole old file or a whole new one; a writer first merges
// what another process wrote since (vkMergePipelineCaches), so concurrent
// processes do not drop each other's pipelines.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tensorflow_metal_plugin/runtime/vulkan/vk_device.h"

namespace tfmp {
namespace rt {
namespace vk {
namespace {

constexpr char kMagic[8] = {'T', 'F', 'M', 'P', 'V', 'K', 'P', 'C'};
constexpr uint32_t kFormat = 1;
constexpr size_t kHeaderBytes = 40;
// Bump when the runtime changes how it creates pipelines (layout, flags).
constexpr char kRuntimeVersion[] = "tfmp-pipelines-1";

uint64_t Fnv(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

// Word-wise (fast) hash of the kernel library.
uint64_t LibraryHash() {
  size_t count = 0;
  const KernelBinary* bins = KernelBinaries(&count);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < count; ++i) {
    h = Fnv(bins[i].name, std::strlen(bins[i].name) + 1, h);
    const uint32_t extra[3] = {bins[i].push_constant_bytes, bins[i].needs_fp16 ? 1u : 0u,
                               bins[i].needs_int8 ? 1u : 0u};
    h = Fnv(extra, sizeof(extra), h);
    const size_t words = bins[i].spirv_bytes / 4;
    uint64_t w = h;
    for (size_t j = 0; j < words; ++j) w = (w ^ bins[i].spirv[j]) * 1099511628211ull;
    h = w;
  }
  return h;
}

std::string CacheDir() {
  if (const char* d = std::getenv("TFMP_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::string(x) + "/tensorflow_metal_plugin";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/tensorflow_metal_plugin";
  return "";
}

bool MakeDirs(const std::string& path) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) return false;
  }
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool ReadFile(const std::string& path, std::vector<uint8_t>* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  out->clear();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->insert(out->end(), buf, buf + n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

// The driver's data inside a cache file of ours, or false if the file is not
// a valid cache for this device and build.
static bool Unwrap(const std::vector<uint8_t>& file, uint64_t key,
                   const VkPhysicalDeviceProperties& props, const uint8_t** data, size_t* size,
                   uint64_t* sum) {
  if (file.size() < kHeaderBytes || std::memcmp(file.data(), kMagic, 8) != 0) return false;
  uint32_t format;
  std::memcpy(&format, file.data() + 8, 4);
  if (format != kFormat || Get64(file.data() + 16) != key) return false;
  const uint64_t n = Get64(file.data() + 24);
  if (n != file.size() - kHeaderBytes) return false;
  const uint8_t* d = file.data() + kHeaderBytes;
  if (Fnv(d, n) != Get64(file.data() + 32)) return false;
  // VkPipelineCacheHeaderVersionOne: length, version, vendor, device, UUID.
  if (n < 16 + VK_UUID_SIZE) return false;
  uint32_t hdr[4];
  std::memcpy(hdr, d, 16);
  if (hdr[0] < 16 + VK_UUID_SIZE || hdr[0] > n || hdr[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE ||
      hdr[2] != props.vendorID || hdr[3] != props.deviceID ||
      std::memcmp(d + 16, props.pipelineCacheUUID, VK_UUID_SIZE) != 0)
    return false;
  *data = d;
  *size = n;
  *sum = Get64(file.data() + 32);
  return true;
}

void VkDevice_::InitPipelineCache() {
  const char* env = std::getenv("TFMP_PIPELINE_CACHE");
  if (env && std::strcmp(env, "0") == 0) return;  // no cache at all
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  uint64_t h = Fnv(kRuntimeVersion, sizeof(kRuntimeVersion));
  const uint32_t ids[4] = {props.vendorID, props.deviceID, props.driverVersion, push_bytes_};
  h = Fnv(ids, sizeof(ids), h);
  h = Fnv(props.pipelineCacheUUID, VK_UUID_SIZE, h);
  h = Fnv(info_.driver.data(), info_.driver.size(), h);
  h ^= LibraryHash() * 0x9E3779B97F4A7C15ull;
  cache_key_ = h;

  std::vector<uint8_t> file;
  const uint8_t* data = nullptr;
  size_t size = 0;
  const std::string dir = CacheDir();
  if (!dir.empty() && MakeDirs(dir)) {
    char name[96];
    std::snprintf(name, sizeof(name), "/vk-%04x-%04x-%016llx.bin", props.vendorID,
                  props.deviceID, static_cast<unsigned long long>(cache_key_));
    cache_path_ = dir + name;
    if (ReadFile(cache_path_, &file) && Unwrap(file, cache_key_, props, &data, &size, &cache_file_sum_))
      cache_loaded_ = true;
  }
  VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  ci.initialDataSize = cache_loaded_ ? size : 0;
  ci.pInitialData = cache_loaded_ ? data : nullptr;
  if (vkCreatePipelineCache(device_, &ci, nullptr, &cache_) != VK_SUCCESS) {
    // The driver refused the data: start empty.
    cache_loaded_ = false;
    ci.initialDataSize = 0;
    ci.pInitialData = nullptr;
    if (vkCreatePipelineCache(device_, &ci, nullptr, &cache_) != VK_SUCCESS) cache_ = VK_NULL_HANDLE;
  }
}

Status VkDevice_::SavePipelineCache() {
  std::lock_guard<std::mutex> lock(save_mu_);
  if (!cache_ || cache_path_.empty()) return Status::Ok();
  created_since_save_ = 0;
  VkPhysicalDeviceProperties props;
  vkGetPhysicalDeviceProperties(physical_, &props);
  // Another process may have written pipelines we lack: merge them first.
  std::vector<uint8_t> file;
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint64_t sum = 0;
  if (ReadFile(cache_path_, &file) && Unwrap(file, cache_key_, props, &data, &size, &sum) &&
      sum != cache_file_sum_) {
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = size;
    ci.pInitialData = data;
    VkPipelineCache theirs = VK_NULL_HANDLE;
    if (vkCreatePipelineCache(device_, &ci, nullptr, &theirs) == VK_SUCCESS) {
      vkMergePipelineCaches(device_, cache_, 1, &theirs);
      vkDestroyPipelineCache(device_, theirs, nullptr);
    }
  }
  size_t n = 0;
  Status st;
  if (vkGetPipelineCacheData(device_, cache_, &n, nullptr) != VK_SUCCESS) {
    st.code = 13;
    st.message = "vkGetPipelineCacheData failed";
    return st;
  }
  std::vector<uint8_t> out(kHeaderBytes + n);
  VkResult r = vkGetPipelineCacheData(device_, cache_, &n, out.data() + kHeaderBytes);
  if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
    st.code = 13;
    st.message = std::string("vkGetPipelineCacheData failed: ") + ResultName(r);
    return st;
  }
  out.resize(kHeaderBytes + n);
  std::memcpy(out.data(), kMagic, 8);
  std::memcpy(out.data() + 8, &kFormat, 4);
  std::memset(out.data() + 12, 0, 4);
  Put64(out.data() + 16, cache_key_);
  Put64(out.data() + 24, n);
  const uint64_t new_sum = Fnv(out.data() + kHeaderBytes, n);
  Put64(out.data() + 32, new_sum);
  static std::atomic<unsigned> counter{0};
  const std::string tmp = cache_path_ + ".tmp." + std::to_string(getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  size_t done = 0;
  while (ok && done < out.size()) {
    ssize_t w = write(fd, out.data() + done, out.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = false; else done += static_cast<size_t>(w);
  }
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (ok && rename(tmp.c_str(), cache_path_.c_str()) != 0) ok = false;
  if (!ok) {
    unlink(tmp.c_str());
    st.code = 13;
    st.message = "writing the pipeline cache " + cache_path_ + " failed: " + std::strerror(errno);
    return st;
  }
  cache_file_sum_ = new_sum;
  return st;
}

void VkDevice_::SaveIfChanged() {
  if (created_since_save_.load() > 0) SavePipelineCache();
}

}  // namespace vk
}  // namespace rt
}  // namespace tfmp
