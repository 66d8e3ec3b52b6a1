#include "tensorflow_metal_plugin/runtime/vulkan/vk_stream.h"

#include <algorithm>
#include <cstring>

#include "tensorflow_metal_plugin/stats.h"

namespace tfmp {
namespace rt {
namespace vk {
namespace {

constexpr int kInvalidArgument = 3;
constexpr int kInternal = 13;
// Submit once a batch holds this many commands, so the GPU starts on early
// work while the host keeps recording.
constexpr uint32_t kMaxBatchCommands = 256;

Status Error(int code, std::string message) {
  Status s;
  s.code = code;
  s.message = std::move(message);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------
// VkTimer

VkTimer::~VkTimer() {
  if (pool_) vkDestroyQueryPool(dev_->device(), pool_, nullptr);
}

Status VkTimer::Init() {
  VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qci.queryCount = 2;
  if (vkCreateQueryPool(dev_->device(), &qci, nullptr, &pool_) != VK_SUCCESS)
    return Error(kInternal, "vkCreateQueryPool failed");
  return Status::Ok();
}

uint64_t VkTimer::Nanoseconds() {
  if (!stream_) return 0;
  if (!stream_->HostWait(stop_point_).ok()) return 0;
  uint64_t ts[2] = {0, 0};
  if (vkGetQueryPoolResults(dev_->device(), pool_, 0, 2, sizeof(ts), ts, sizeof(uint64_t),
                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
    return 0;
  const uint64_t ticks = ((ts[1] & dev_->timestamp_mask()) - (ts[0] & dev_->timestamp_mask())) &
                         dev_->timestamp_mask();
  return static_cast<uint64_t>(static_cast<double>(ticks) * dev_->timestamp_period());
}

// ---------------------------------------------------------------------------
// VkStream

Status VkStream::Init() {
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = dev_->queue_family();
  if (vkCreateCommandPool(dev_->device(), &pci, nullptr, &pool_) != VK_SUCCESS)
    return Error(kInternal, "vkCreateCommandPool failed");
  VkSemaphoreTypeCreateInfo tci{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
  tci.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
  tci.initialValue = 0;
  VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, &tci};
  if (vkCreateSemaphore(dev_->device(), &sci, nullptr, &timeline_) != VK_SUCCESS)
    return Error(kInternal, "vkCreateSemaphore(timeline) failed");
  retirer_ = std::thread([this] { RetireLoop(); });
  dev_->RegisterStream(this);
  return Status::Ok();
}

VkStream::~VkStream() {
  dev_->UnregisterStream(this);
  Synchronize();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  if (retirer_.joinable()) retirer_.join();
  if (open_) {
    for (Allocation* a : open_->staging) dev_->ReleaseStaging(a);
    if (open_->cb) free_cbs_.push_back(open_->cb);
  }
  if (pool_) vkDestroyCommandPool(dev_->device(), pool_, nullptr);
  if (timeline_) vkDestroySemaphore(dev_->device(), timeline_, nullptr);
}

void VkStream::FailLocked(const Status& s) {
  if (error_.ok()) error_ = s;
}

bool VkStream::EnsureOpenLocked() {
  if (open_ && open_->cb) return true;
  if (!open_) open_ = std::make_unique<Batch>();
  VkCommandBuffer cb = VK_NULL_HANDLE;
  if (!free_cbs_.empty()) {
    cb = free_cbs_.back();
    free_cbs_.pop_back();
  } else {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    if (vkAllocateCommandBuffers(dev_->device(), &ai, &cb) != VK_SUCCESS) {
      FailLocked(Error(kInternal, "vkAllocateCommandBuffers failed"));
      return false;
    }
  }
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkBeginCommandBuffer(cb, &bi);
  open_->cb = cb;
  bound_ = VK_NULL_HANDLE;
  // Work of earlier batches on this queue may still be in flight.
  barrier_pending_ = true;
  return true;
}

// One global memory barrier between consecutive commands: every command may
// read what the one before wrote. (Fine-grained dependency tracking is
// future work; on the H100 a barrier costs ~2 us.)
void VkStream::BarrierLocked() {
  if (!barrier_pending_) return;
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages =
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(open_->cb, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  GlobalStats().barriers++;
  barrier_pending_ = false;
}

uint64_t VkStream::FlushLocked() {
  if (!open_) return submitted_;
  Batch& b = *open_;
  if (b.cb) {
    // Make every write visible to the host (device-to-host copies land in
    // staging memory that the retire thread reads).
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(b.cb, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1,
                         &mb, 0, nullptr, 0, nullptr);
    vkEndCommandBuffer(b.cb);
  }
  b.value = submitted_ + 1;
  std::vector<VkPipelineStageFlags> wait_stages(b.wait_semaphores.size(),
                                                VK_PIPELINE_STAGE_ALL_COMMANDS_BIT);
  VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
  ts.waitSemaphoreValueCount = static_cast<uint32_t>(b.wait_values.size());
  ts.pWaitSemaphoreValues = b.wait_values.data();
  ts.signalSemaphoreValueCount = 1;
  ts.pSignalSemaphoreValues = &b.value;
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO, &ts};
  si.waitSemaphoreCount = static_cast<uint32_t>(b.wait_semaphores.size());
  si.pWaitSemaphores = b.wait_semaphores.data();
  si.pWaitDstStageMask = wait_stages.data();
  si.commandBufferCount = b.cb ? 1 : 0;
  si.pCommandBuffers = &b.cb;
  si.signalSemaphoreCount = 1;
  si.pSignalSemaphores = &timeline_;
  VkResult r = dev_->Submit(si);
  if (r != VK_SUCCESS) FailLocked(Error(kInternal, std::string("vkQueueSubmit failed: ") + ResultName(r)));
  GlobalStats().command_buffers++;
  submitted_ = b.value;
  inflight_.push_back(std::move(open_));
  stage_chunk_ = nullptr;
  stage_offset_ = 0;
  work_cv_.notify_one();
  return submitted_;
}

uint64_t VkStream::Flush() {
  std::lock_guard<std::mutex> lock(mu_);
  return FlushLocked();
}

void VkStream::RetireLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !inflight_.empty(); });
    if (inflight_.empty()) return;  // stopping, nothing left
    Batch* b = inflight_.front().get();
    const uint64_t value = b->value;
    lock.unlock();
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &timeline_;
    wi.pValues = &value;
    VkResult r;
    do {
      r = vkWaitSemaphores(dev_->device(), &wi, 1000000000ull);
    } while (r == VK_TIMEOUT);
    // Host steps run in stream order, outside the lock (a callback may use
    // the stream). They run even after a device error so nobody waits forever.
    for (auto& step : b->host_steps) step();
    lock.lock();
    if (r != VK_SUCCESS)
      FailLocked(Error(kInternal, std::string("waiting for the device failed: ") + ResultName(r)));
    std::unique_ptr<Batch> done = std::move(inflight_.front());
    inflight_.pop_front();
    if (done->cb) {
      vkResetCommandBuffer(done->cb, 0);
      free_cbs_.push_back(done->cb);
    }
    for (Allocation* a : done->staging) dev_->ReleaseStaging(a);
    retired_ = value;
    retired_cv_.notify_all();
  }
}

bool VkStream::Reached(uint64_t point) {
  std::lock_guard<std::mutex> lock(mu_);
  return retired_ >= point;
}

Status VkStream::HostWait(uint64_t point) {
  std::unique_lock<std::mutex> lock(mu_);
  if (point > submitted_) FlushLocked();
  if (retired_ < point) {
    GlobalStats().host_waits++;
    retired_cv_.wait(lock, [&] { return retired_ >= point; });
  }
  return error_;
}

Status VkStream::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void VkStream::WaitFor(Stream* other, uint64_t point) {
  if (other == this || point == 0) return;
  auto* o = static_cast<VkStream*>(other);
  if (o->Reached(point)) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_) open_ = std::make_unique<Batch>();
  // The whole open batch waits; flush what it holds first so only later work
  // is held back.
  if (open_->commands > 0) {
    FlushLocked();
    open_ = std::make_unique<Batch>();
  }
  open_->wait_semaphores.push_back(o->timeline_);
  open_->wait_values.push_back(point);
}

bool VkStream::ResolveLocked(uint64_t address, uint64_t n, BufferRef* ref, const char* what) {
  if (!dev_->Resolve(address, ref) || ref->available < n) {
    FailLocked(Error(kInvalidArgument, std::string(what) + ": address 0x" +
                                           std::to_string(address) + " (+" + std::to_string(n) +
                                           " bytes) is not inside a device allocation"));
    return false;
  }
  return true;
}

uint8_t* VkStream::StageLocked(uint64_t n, VkBuffer* buffer, uint64_t* offset) {
  if (!stage_chunk_ || stage_offset_ + n > stage_chunk_->size) {
    Status s;
    Allocation* chunk = dev_->AcquireStaging(n, &s);
    if (!chunk) {
      FailLocked(s);
      return nullptr;
    }
    open_->staging.push_back(chunk);
    stage_chunk_ = chunk;
    stage_offset_ = 0;
  }
  *buffer = stage_chunk_->buffer;
  *offset = stage_offset_;
  uint8_t* p = stage_chunk_->mapped + stage_offset_;
  stage_offset_ = (stage_offset_ + n + 15) & ~uint64_t{15};
  return p;
}

void VkStream::Dispatch(const char* name, const void* push, uint32_t push_bytes, uint32_t gx,
                        uint32_t gy, uint32_t gz) {
  DispatchSpecialized(name, nullptr, 0, push, push_bytes, gx, gy, gz);
}

void VkStream::DispatchSpecialized(const char* name, const uint32_t* spec, uint32_t spec_count,
                                   const void* push, uint32_t push_bytes, uint32_t gx,
                                   uint32_t gy, uint32_t gz) {
  if (gx == 0 || gy == 0 || gz == 0) return;
  Status s;
  VkDevice_::Pipeline p = dev_->GetPipeline(name, spec, spec_count, &s);
  const VkPipeline pipeline = p.pipeline;
  std::lock_guard<std::mutex> lock(mu_);
  if (!pipeline) {
    FailLocked(s);
    return;
  }
  // The host's push-constant struct must match the shader's block (up to the
  // C++ struct's tail padding to 8 bytes).
  if (push_bytes < p.push_bytes || push_bytes >= p.push_bytes + 8 ||
      p.push_bytes > dev_->push_constant_bytes()) {
    FailLocked(Error(kInternal, std::string(name) + ": " + std::to_string(push_bytes) +
                                    " bytes of push constants, the shader declares " +
                                    std::to_string(p.push_bytes)));
    return;
  }
  if (!EnsureOpenLocked()) return;
  BarrierLocked();
  VkCommandBuffer cb = open_->cb;
  if (bound_ != pipeline) {
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    bound_ = pipeline;
  }
  if (p.push_bytes)
    vkCmdPushConstants(cb, dev_->pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, p.push_bytes,
                       push);
  vkCmdDispatch(cb, gx, gy, gz);
  barrier_pending_ = true;
  GlobalStats().dispatches++;
  if (++open_->commands >= kMaxBatchCommands) FlushLocked();
}

void VkStream::CopyHostToDevice(uint64_t dst, const void* src, uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef d;
  if (!ResolveLocked(dst, n, &d, "host-to-device copy") || !EnsureOpenLocked()) return;
  VkBuffer sbuf;
  uint64_t soff;
  uint8_t* p = StageLocked(n, &sbuf, &soff);
  if (!p) return;
  std::memcpy(p, src, n);
  BarrierLocked();
  VkBufferCopy region{soff, d.offset, n};
  vkCmdCopyBuffer(open_->cb, sbuf, d.buffer, 1, &region);
  barrier_pending_ = true;
  GlobalStats().copies_host_to_device++;
  GlobalStats().bytes_host_to_device += n;
  if (++open_->commands >= kMaxBatchCommands) FlushLocked();
}

void VkStream::CopyDeviceToHost(void* dst, uint64_t src, uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef s;
  if (!ResolveLocked(src, n, &s, "device-to-host copy") || !EnsureOpenLocked()) return;
  VkBuffer sbuf;
  uint64_t soff;
  uint8_t* p = StageLocked(n, &sbuf, &soff);
  if (!p) return;
  BarrierLocked();
  VkBufferCopy region{s.offset, soff, n};
  vkCmdCopyBuffer(open_->cb, s.buffer, sbuf, 1, &region);
  barrier_pending_ = true;
  open_->commands++;
  open_->host_steps.push_back([dst, p, n] { std::memcpy(dst, p, n); });
  GlobalStats().copies_device_to_host++;
  GlobalStats().bytes_device_to_host += n;
  // The host wants this data: start the work now.
  FlushLocked();
}

void VkStream::CopyDeviceToDevice(uint64_t dst, uint64_t src, uint64_t n) {
  if (n == 0 || dst == src) return;
  // Whole 32-bit words are copied by a compute shader (copy_b32: unary.comp,
  // four words per invocation where 16-byte aligned): vkCmdCopyBuffer moved
  // 845 GB/s on an H100 and on an H200, the shader 4.1 TB/s on the H200, as
  // fast as cudaMemcpy (kernel_bench copy_d2d / copy_shader_d2d).
  VkDevice_::Pipeline shader;
  if (dst % 4 == 0 && src % 4 == 0 && n % 4 == 0 && n / 4 <= 0xffffffffull) {
    Status ignored;  // no such kernel: vkCmdCopyBuffer
    shader = dev_->GetPipeline("copy_b32", &ignored);
  }
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef d, s;
  if (!ResolveLocked(dst, n, &d, "device-to-device copy") ||
      !ResolveLocked(src, n, &s, "device-to-device copy") || !EnsureOpenLocked())
    return;
  BarrierLocked();
  if (shader.pipeline) {
    struct {  // unary.comp's push constants
      uint64_t x, y;
      uint32_t n;
      float alpha;
      uint32_t vec;
    } p{src, dst, static_cast<uint32_t>(n / 4), 0.0f, (src | dst) % 16 == 0 ? 1u : 0u};
    const uint64_t invocations = p.vec ? (n / 4 + 3) / 4 : n / 4;
    const uint32_t groups = static_cast<uint32_t>(std::min<uint64_t>((invocations + 255) / 256, 65535));
    if (bound_ != shader.pipeline) {
      vkCmdBindPipeline(open_->cb, VK_PIPELINE_BIND_POINT_COMPUTE, shader.pipeline);
      bound_ = shader.pipeline;
    }
    vkCmdPushConstants(open_->cb, dev_->pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0,
                       std::min<uint32_t>(shader.push_bytes, sizeof(p)), &p);
    vkCmdDispatch(open_->cb, groups, 1, 1);
  } else {
    VkBufferCopy region{s.offset, d.offset, n};
    vkCmdCopyBuffer(open_->cb, s.buffer, d.buffer, 1, &region);
  }
  barrier_pending_ = true;
  GlobalStats().copies_device_to_device++;
  GlobalStats().bytes_device_to_device += n;
  if (++open_->commands >= kMaxBatchCommands) FlushLocked();
}

void VkStream::Fill(uint64_t dst, uint32_t pattern, uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef d;
  if (!ResolveLocked(dst, n, &d, "fill") || !EnsureOpenLocked()) return;
  BarrierLocked();
  if (d.offset % 4 == 0 && n % 4 == 0) {
    vkCmdFillBuffer(open_->cb, d.buffer, d.offset, n, pattern);
  } else {
    // vkCmdFillBuffer needs 4-byte alignment: stage the pattern instead.
    VkBuffer sbuf;
    uint64_t soff;
    uint8_t* p = StageLocked(n, &sbuf, &soff);
    if (!p) return;
    for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(pattern >> (8 * (i % 4)));
    VkBufferCopy region{soff, d.offset, n};
    vkCmdCopyBuffer(open_->cb, sbuf, d.buffer, 1, &region);
  }
  barrier_pending_ = true;
  if (++open_->commands >= kMaxBatchCommands) FlushLocked();
}

void VkStream::HostCallback(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!open_) open_ = std::make_unique<Batch>();
  open_->host_steps.push_back(std::move(fn));
  FlushLocked();
}

void VkStream::StartTimer(Timer* t) {
  auto* timer = static_cast<VkTimer*>(t);
  std::lock_guard<std::mutex> lock(mu_);
  if (!EnsureOpenLocked()) return;
  vkCmdResetQueryPool(open_->cb, timer->pool_, 0, 2);
  vkCmdWriteTimestamp(open_->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timer->pool_, 0);
  timer->stream_ = this;
}

void VkStream::StopTimer(Timer* t) {
  auto* timer = static_cast<VkTimer*>(t);
  std::lock_guard<std::mutex> lock(mu_);
  if (!EnsureOpenLocked()) return;
  vkCmdWriteTimestamp(open_->cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, timer->pool_, 1);
  timer->stop_point_ = FlushLocked();
}

}  // namespace vk
}  // namespace rt
}  // namespace tfmp
