// Vulkan implementation of the runtime's Stream and Timer.
//
// A stream records into an open command buffer (a "batch") and submits it
// when it holds enough commands, when the host needs a result, when another
// stream must wait for it (early submissions mostly from the runtime
// thread, see vk_stream.cc). Each submission signals the stream's timeline
// semaphore with the next value: that value is the stream "point" of all work
// recorded before it. A runtime thread per stream waits for submissions to
// complete, runs their host-side steps in order (device-to-host copies out of
// staging memory, host callbacks), recycles command buffers and staging
// memory, and only then marks the point reached.
//
// Barriers only where a dependency needs one: each command may declare the
// device memory it reads and writes (MemAccess). The stream keeps the ranges
// written and read since its last barrier (across batches: a barrier orders
// everything submitted before it on the queue) and records a full memory
// barrier before a command only on a read-after-write, write-after-write or
// write-after-read overlap. A command that declares nothing, or whose push
// constants hold an address inside device memory outside its declared
// ranges, counts as touching everything: a barrier before it and before the
// next command. Work another stream submitted to the queue in between also
// gets a barrier (its writes are unknown here).
#ifndef TFMP_RUNTIME_VULKAN_VK_STREAM_H_
#define TFMP_RUNTIME_VULKAN_VK_STREAM_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tensorflow_metal_plugin/runtime/vulkan/vk_device.h"

namespace tfmp {
namespace rt {
namespace vk {

class VkTimer final : public Timer {
 public:
  explicit VkTimer(VkDevice_* dev) : dev_(dev) {}
  ~VkTimer() override;
  Status Init();
  uint64_t Nanoseconds() override;

 private:
  friend class VkStream;
  VkDevice_* dev_;
  VkQueryPool pool_ = VK_NULL_HANDLE;
  Stream* stream_ = nullptr;
  uint64_t stop_point_ = 0;
};

class VkStream final : public Stream {
 public:
  explicit VkStream(VkDevice_* dev) : dev_(dev) {}
  ~VkStream() override;
  Status Init();

  Device* device() override;
  const DeviceInfo& device_info() const override;
  void Dispatch(const char* name, const void* push, uint32_t push_bytes, uint32_t gx,
                uint32_t gy, uint32_t gz, const MemAccess* access) override;
  void DispatchSpecialized(const char* name, const uint32_t* spec, uint32_t spec_count,
                           const void* push, uint32_t push_bytes, uint32_t gx, uint32_t gy,
                           uint32_t gz, const MemAccess* access) override;
  void CopyHostToDevice(uint64_t dst, const void* src, uint64_t n) override;
  void CopyDeviceToHost(void* dst, uint64_t src, uint64_t n) override;
  void CopyDeviceToDevice(uint64_t dst, uint64_t src, uint64_t n) override;
  void Fill(uint64_t dst, uint32_t pattern, uint64_t n) override;
  uint64_t Flush() override;
  bool Reached(uint64_t point) override;
  Status HostWait(uint64_t point) override;
  void WaitFor(Stream* other, uint64_t point) override;
  void HostCallback(std::function<void()> fn) override;
  void StartTimer(Timer* t) override;
  void StopTimer(Timer* t) override;
  Status status() override;
  // Profiling's query pools for the next batches (backend.h PrepareProfiling).
  void ReserveQueryPools();

 private:
  struct Batch {
    VkCommandBuffer cb = VK_NULL_HANDLE;
    uint64_t value = 0;  // timeline value signalled on completion
    uint32_t commands = 0;
    std::vector<Allocation*> staging;
    std::vector<std::function<void()>> host_steps;
    std::vector<VkSemaphore> wait_semaphores;
    std::vector<uint64_t> wait_values;
    // Profiling: a timestamp after the batch's start and after each command;
    // labels[i] says what command i was (a kernel index >= 0, or
    // -1 - ProfileCopy kind), bytes[i] its bytes for copies.
    bool profiled = false;
    VkQueryPool queries = VK_NULL_HANDLE;
    uint32_t num_queries = 0;
    std::vector<int32_t> labels;
    std::vector<uint64_t> bytes;
    uint64_t open_ns = 0, submit_ns = 0;  // host clock (profile.h ProfileBatchTimes)
  };

  // All *Locked methods need mu_ held.
  bool EnsureOpenLocked();
  // Orders the next command after earlier ones as its access needs
  // (access == nullptr: after everything), recording a barrier if needed.
  void OrderLocked(const MemRange* reads, uint32_t num_reads, const MemRange* writes,
                   uint32_t num_writes, bool declared);
  void BarrierLocked();
  // After a command was recorded: its profiling timestamp, the batch size.
  void CommandDoneLocked(int32_t label, uint64_t bytes, bool flush_now = false);
  // On the runtime thread, once the batch completed (seen at host time done_ns).
  void ReadProfile(Batch* b, uint64_t done_ns);
  uint64_t FlushLocked();
  // Staging memory for n bytes inside the open batch.
  uint8_t* StageLocked(uint64_t n, VkBuffer* buffer, uint64_t* offset);
  bool ResolveLocked(uint64_t address, uint64_t n, BufferRef* ref, const char* what);
  void FailLocked(const Status& s);
  void RetireLoop();

  VkDevice_* dev_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkSemaphore timeline_ = VK_NULL_HANDLE;

  std::mutex mu_;
  std::unique_ptr<Batch> open_;
  VkPipeline bound_ = VK_NULL_HANDLE;
  // Hazard tracking since the last barrier (see the top of the file).
  bool unknown_pending_ = false;      // an undeclared command: touches anything
  std::vector<MemRange> pending_writes_;
  std::vector<MemRange> pending_reads_;
  uint64_t submissions_seen_ = 0;     // the device's submission count we know of
  std::vector<VkQueryPool> free_query_pools_;
  uint64_t submitted_ = 0;  // value of the last submitted batch
  uint64_t retired_ = 0;    // value whose work and host steps are all done
  std::deque<std::unique_ptr<Batch>> inflight_;
  std::vector<VkCommandBuffer> free_cbs_;
  Allocation* stage_chunk_ = nullptr;  // current chunk of the open batch
  uint64_t stage_offset_ = 0;
  Status error_;
  bool stopping_ = false;
  bool idle_flush_ = false;  // nothing in flight: the runtime thread is to submit the open batch
  std::condition_variable work_cv_;     // retire thread: a batch was submitted
  std::condition_variable retired_cv_;  // waiters: retired_ advanced
  std::thread retirer_;
};

}  // namespace vk
}  // namespace rt
}  // namespace tfmp

#endif  // TFMP_RUNTIME_VULKAN_VK_STREAM_H_
