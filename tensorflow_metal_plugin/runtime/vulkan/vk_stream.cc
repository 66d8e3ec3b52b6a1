#include "tensorflow_metal_plugin/runtime/vulkan/vk_stream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "tensorflow_metal_plugin/profile.h"
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

// Early submission: while fewer than two batches are in flight (the GPU is
// idle, or runs its last batch with none queued behind it), submit a batch
// as soon as it holds this many commands instead of waiting for 256. A
// training step records ~100-300 commands at 10-30 us of host time each
// (TF's executor included); without this the GPU idles until the step's
// result is read. 32 keeps the submit cost (~10 us) under ~15% of the
// recording it overlaps. 8 with IdleSubmit was tried on an H100 (profile
// timeline, docs/runtime.md): no step got faster, and the Transformer's
// steps waited longer for the host in two runs. TFMP_EARLY_SUBMIT=N sets
// it, 0 turns it off.
constexpr uint32_t kEarlySubmitDefault = 32;
uint32_t EarlySubmitCommands() {
  static const uint32_t n = [] {
    const char* v = std::getenv("TFMP_EARLY_SUBMIT");
    if (!v || !*v) return kEarlySubmitDefault;
    char* end = nullptr;
    const unsigned long x = std::strtoul(v, &end, 10);
    return *end == 0 ? static_cast<uint32_t>(std::min<unsigned long>(x, kMaxBatchCommands))
                     : kEarlySubmitDefault;
  }();
  return n;
}
// TFMP_IDLE_SUBMIT=1 (an experiment, off by default): early submissions
// from the runtime thread. With nothing in flight the op's thread only
// wakes the runtime thread (idle in its wait) to submit the batch; after
// retiring a batch the runtime thread submits the open one itself if it is
// due, so the submissions (~10 us each on NVIDIA) leave the thread TF's
// executor runs ops on. Measured on an H100 with TFMP_EARLY_SUBMIT=8: no
// faster steps; the runtime thread holds the stream's lock while it
// submits.
bool IdleSubmit() {
  static const bool on = [] {
    const char* v = std::getenv("TFMP_IDLE_SUBMIT");
    return v && v[0] == '1';
  }();
  return on;
}
// Timestamps per profiled batch: one at its start and one per command.
constexpr uint32_t kBatchQueries = kMaxBatchCommands + 8;
// Query pools a stream keeps ready when profiling starts: more than the
// batches a training step has in flight or open at once.
constexpr size_t kReservedQueryPools = 16;
// Ranges tracked since the last barrier; past this a barrier is cheaper than
// the overlap checks.
constexpr size_t kMaxPendingRanges = 64;

// TFMP_BARRIERS=full: every command ordered after the one before (the old
// scheme), for comparisons and as a fallback.
bool FullBarriers() {
  static const bool full = [] {
    const char* v = std::getenv("TFMP_BARRIERS");
    return v && std::strcmp(v, "full") == 0;
  }();
  return full;
}

bool Overlaps(const MemRange& r, const std::vector<MemRange>& set) {
  for (const MemRange& p : set)
    if (r.begin < p.end && p.begin < r.end) return true;
  return false;
}

// Adds ranges to a hazard set, skipping those it already covers (ops that
// read the same weights or inputs).
void Append(const MemRange* rs, uint32_t n, std::vector<MemRange>* set) {
  for (uint32_t i = 0; i < n; ++i) {
    const MemRange& r = rs[i];
    if (r.end <= r.begin) continue;
    bool covered = false;
    for (const MemRange& p : *set)
      if (p.begin <= r.begin && r.end <= p.end) {
        covered = true;
        break;
      }
    if (!covered) set->push_back(r);
  }
}

// A profiled batch's timestamp pool (VK_NULL_HANDLE if it cannot be made).
VkQueryPool NewQueryPool(VkDevice device) {
  VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qci.queryCount = kBatchQueries;
  VkQueryPool q = VK_NULL_HANDLE;
  return vkCreateQueryPool(device, &qci, nullptr, &q) == VK_SUCCESS ? q : VK_NULL_HANDLE;
}

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

Device* VkStream::device() { return dev_; }

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
    if (open_->queries) free_query_pools_.push_back(open_->queries);
  }
  for (VkQueryPool q : free_query_pools_) vkDestroyQueryPool(dev_->device(), q, nullptr);
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
  // Work of earlier batches needs no barrier here: the hazard sets carry over
  // (a barrier orders everything submitted before it on the queue).
  open_->profiled = Profiling() && dev_->timestamps();
  if (open_->profiled) {
    VkQueryPool q = VK_NULL_HANDLE;
    if (!free_query_pools_.empty()) {
      q = free_query_pools_.back();
      free_query_pools_.pop_back();
    } else {
      q = NewQueryPool(dev_->device());
    }
    if (q) {
      open_->queries = q;
      vkCmdResetQueryPool(cb, q, 0, kBatchQueries);
      vkCmdWriteTimestamp(cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, q, 0);
      open_->num_queries = 1;
      open_->open_ns = ProfileHostNs();
    } else {
      open_->profiled = false;
    }
  }
  return true;
}

void VkStream::OrderLocked(const MemRange* reads, uint32_t num_reads, const MemRange* writes,
                           uint32_t num_writes, bool declared) {
  if (FullBarriers()) declared = false;
  const bool pending = unknown_pending_ || !pending_writes_.empty() || !pending_reads_.empty();
  // Another stream submitted work since we last looked: its writes are
  // unknown here, so order after it.
  const uint64_t seen = dev_->submissions();
  const bool foreign = seen != submissions_seen_;
  submissions_seen_ = seen;
  bool need = foreign;
  if (!need && pending) {
    if (!declared || unknown_pending_ || open_->profiled ||
        pending_writes_.size() + num_writes > kMaxPendingRanges ||
        pending_reads_.size() + num_reads > kMaxPendingRanges) {
      need = true;
    } else {
      for (uint32_t i = 0; i < num_reads && !need; ++i) need = Overlaps(reads[i], pending_writes_);
      for (uint32_t i = 0; i < num_writes && !need; ++i)
        need = Overlaps(writes[i], pending_writes_) || Overlaps(writes[i], pending_reads_);
    }
  }
  if (need) {
    BarrierLocked();
  } else if (pending) {
    GlobalStats().barriers_avoided++;
  }
  if (!declared) {
    unknown_pending_ = true;
    GlobalStats().undeclared_commands++;
  } else {
    Append(reads, num_reads, &pending_reads_);
    Append(writes, num_writes, &pending_writes_);
  }
}

// One global memory barrier: every later command may read and overwrite
// what the commands before it wrote and read (on the H100 a barrier costs
// ~2 us of GPU time).
void VkStream::BarrierLocked() {
  VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  const VkPipelineStageFlags stages =
      VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  vkCmdPipelineBarrier(open_->cb, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
  GlobalStats().barriers++;
  unknown_pending_ = false;
  pending_writes_.clear();
  pending_reads_.clear();
}

void VkStream::CommandDoneLocked(int32_t label, uint64_t bytes, bool flush_now) {
  Batch& b = *open_;
  if (b.profiled) {
    vkCmdWriteTimestamp(b.cb, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, b.queries, b.num_queries++);
    b.labels.push_back(label);
    b.bytes.push_back(bytes);
  }
  ++b.commands;
  const uint32_t early = EarlySubmitCommands();
  if (b.commands >= kMaxBatchCommands || flush_now || (b.profiled && b.num_queries >= kBatchQueries)) {
    FlushLocked();
  } else if (early && b.commands >= early && inflight_.size() < 2) {
    if (!inflight_.empty() || !IdleSubmit()) {
      FlushLocked();
    } else if (!idle_flush_) {  // the runtime thread waits for work: it submits this
      idle_flush_ = true;
      work_cv_.notify_one();
    }
  }
}

void VkStream::ReadProfile(Batch* b, uint64_t done_ns) {
  if (!b->profiled || b->num_queries < 2) return;
  std::vector<uint64_t> ts(b->num_queries);
  if (vkGetQueryPoolResults(dev_->device(), b->queries, 0, b->num_queries,
                            ts.size() * sizeof(uint64_t), ts.data(), sizeof(uint64_t),
                            VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) != VK_SUCCESS)
    return;
  const uint64_t mask = dev_->timestamp_mask();
  const double period = dev_->timestamp_period();
  auto ns = [&](uint64_t a, uint64_t z) {
    return static_cast<uint64_t>(static_cast<double>(((z & mask) - (a & mask)) & mask) * period);
  };
  for (uint32_t i = 1; i < b->num_queries; ++i) {
    const int32_t label = b->labels[i - 1];
    const uint64_t t = ns(ts[i - 1], ts[i]);
    if (label >= 0)
      ProfileKernel(dev_->KernelName(label), t);
    else
      ProfileCopy(-1 - label, b->bytes[i - 1], t);
  }
  ProfileBatchTimes t;
  t.device = dev_;
  t.tick_ns = period;
  t.gpu_start = ts[0] & mask;
  t.gpu_end = t.gpu_start + (((ts[b->num_queries - 1] & mask) - t.gpu_start) & mask);
  t.open_ns = b->open_ns;
  t.submit_ns = b->submit_ns;
  t.done_ns = done_ns;
  t.commands = b->num_queries - 1;
  ProfileBatch(t);
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
  uint64_t before = 0;
  if (b.profiled) b.submit_ns = ProfileHostNs();
  VkResult r = dev_->Submit(si, &before);
  // Our own submission does not make later work need a barrier.
  if (before == submissions_seen_) submissions_seen_ = before + 1;
  if (r != VK_SUCCESS) FailLocked(Error(kInternal, std::string("vkQueueSubmit failed: ") + ResultName(r)));
  GlobalStats().command_buffers++;
  submitted_ = b.value;
  idle_flush_ = false;
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
    work_cv_.wait(lock, [this] { return stopping_ || !inflight_.empty() || idle_flush_; });
    if (inflight_.empty() && idle_flush_ && open_ && open_->commands > 0) {
      FlushLocked();
      GlobalStats().runtime_thread_submits++;
    }
    idle_flush_ = false;
    if (inflight_.empty()) {
      if (stopping_) return;  // nothing left
      continue;
    }
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
    const uint64_t done_ns = b->profiled ? ProfileHostNs() : 0;
    // Host steps run in stream order, outside the lock (a callback may use
    // the stream). They run even after a device error so nobody waits forever.
    for (auto& step : b->host_steps) step();
    if (r == VK_SUCCESS) ReadProfile(b, done_ns);
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
    if (done->queries) free_query_pools_.push_back(done->queries);
    retired_ = value;
    retired_cv_.notify_all();
    // The open batch is due (CommandDoneLocked's early submission).
    const uint32_t early = EarlySubmitCommands();
    if (IdleSubmit() && early && inflight_.size() < 2 && open_ && open_->commands >= early) {
      FlushLocked();
      GlobalStats().runtime_thread_submits++;
    }
  }
}

void VkStream::ReserveQueryPools() {
  std::lock_guard<std::mutex> lock(mu_);
  while (free_query_pools_.size() < kReservedQueryPools) {
    VkQueryPool q = NewQueryPool(dev_->device());
    if (!q) return;
    free_query_pools_.push_back(q);
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

const DeviceInfo& VkStream::device_info() const { return dev_->info(); }

void VkStream::Dispatch(const char* name, const void* push, uint32_t push_bytes, uint32_t gx,
                        uint32_t gy, uint32_t gz, const MemAccess* access) {
  DispatchSpecialized(name, nullptr, 0, push, push_bytes, gx, gy, gz, access);
}

void VkStream::DispatchSpecialized(const char* name, const uint32_t* spec, uint32_t spec_count,
                                   const void* push, uint32_t push_bytes, uint32_t gx,
                                   uint32_t gy, uint32_t gz, const MemAccess* access) {
  if (gx == 0 || gy == 0 || gz == 0) return;
  Status s;
  const int32_t index = dev_->KernelIndex(name);
  VkDevice_::Pipeline p;
  if (index < 0) {
    s.code = kInternal;
    s.message = std::string("no compute kernel named ") + name + " in the kernel library";
  } else if (spec_count == 0) {
    p = dev_->GetPipeline(index, &s);
  } else {
    p = dev_->GetSpecializedPipeline(index, spec, spec_count, &s);
  }
  const VkPipeline pipeline = p.pipeline;
  // A declared access counts only if every device address in the push
  // constants lies inside a declared range (else the kernel reaches memory
  // it did not declare, e.g. through a variable: order it after everything).
  bool declared = access != nullptr;
  if (declared) {
    const uint32_t scan = push_bytes < p.push_bytes ? push_bytes : p.push_bytes;
    for (uint32_t off = 0; off + 8 <= scan && declared; off += 8) {
      uint64_t v;
      std::memcpy(&v, static_cast<const uint8_t*>(push) + off, 8);
      if (!v || !dev_->MaybeDeviceAddress(v)) continue;
      bool covered = false;
      for (uint32_t i = 0; i < access->num_reads && !covered; ++i)
        covered = access->reads[i].begin <= v && v < access->reads[i].end;
      for (uint32_t i = 0; i < access->num_writes && !covered; ++i)
        covered = access->writes[i].begin <= v && v < access->writes[i].end;
      declared = covered;
    }
  }
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
  if (declared)
    OrderLocked(access->reads, access->num_reads, access->writes, access->num_writes, true);
  else
    OrderLocked(nullptr, 0, nullptr, 0, false);
  VkCommandBuffer cb = open_->cb;
  if (bound_ != pipeline) {
    vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    bound_ = pipeline;
  }
  if (p.push_bytes)
    vkCmdPushConstants(cb, dev_->pipeline_layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, p.push_bytes,
                       push);
  vkCmdDispatch(cb, gx, gy, gz);
  GlobalStats().dispatches++;
  CommandDoneLocked(index, 0);
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
  const MemRange w{dst, dst + n};
  OrderLocked(nullptr, 0, &w, 1, true);
  VkBufferCopy region{soff, d.offset, n};
  vkCmdCopyBuffer(open_->cb, sbuf, d.buffer, 1, &region);
  GlobalStats().copies_host_to_device++;
  GlobalStats().bytes_host_to_device += n;
  CommandDoneLocked(-1 - kProfileHostToDevice, n);
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
  const MemRange r{src, src + n};
  OrderLocked(&r, 1, nullptr, 0, true);
  VkBufferCopy region{s.offset, soff, n};
  vkCmdCopyBuffer(open_->cb, s.buffer, sbuf, 1, &region);
  open_->host_steps.push_back([dst, p, n] { std::memcpy(dst, p, n); });
  GlobalStats().copies_device_to_host++;
  GlobalStats().bytes_device_to_host += n;
  // The host wants this data: start the work now.
  CommandDoneLocked(-1 - kProfileDeviceToHost, n, /*flush_now=*/true);
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
    static const int32_t index = dev_->KernelIndex("copy_b32");
    if (index >= 0) shader = dev_->GetPipeline(index, &ignored);
  }
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef d, s;
  if (!ResolveLocked(dst, n, &d, "device-to-device copy") ||
      !ResolveLocked(src, n, &s, "device-to-device copy") || !EnsureOpenLocked())
    return;
  const MemRange r{src, src + n}, w{dst, dst + n};
  OrderLocked(&r, 1, &w, 1, true);
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
  GlobalStats().copies_device_to_device++;
  GlobalStats().bytes_device_to_device += n;
  CommandDoneLocked(-1 - kProfileDeviceToDevice, n);
}

void VkStream::Fill(uint64_t dst, uint32_t pattern, uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  BufferRef d;
  if (!ResolveLocked(dst, n, &d, "fill") || !EnsureOpenLocked()) return;
  const MemRange w{dst, dst + n};
  if (d.offset % 4 == 0 && n % 4 == 0) {
    OrderLocked(nullptr, 0, &w, 1, true);
    vkCmdFillBuffer(open_->cb, d.buffer, d.offset, n, pattern);
  } else {
    // vkCmdFillBuffer needs 4-byte alignment: stage the pattern instead.
    VkBuffer sbuf;
    uint64_t soff;
    uint8_t* p = StageLocked(n, &sbuf, &soff);
    if (!p) return;
    for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(pattern >> (8 * (i % 4)));
    OrderLocked(nullptr, 0, &w, 1, true);
    VkBufferCopy region{soff, d.offset, n};
    vkCmdCopyBuffer(open_->cb, sbuf, d.buffer, 1, &region);
  }
  CommandDoneLocked(-1 - kProfileFill, n);
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
  // The timed work must not overlap what came before the start point.
  unknown_pending_ = true;
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
