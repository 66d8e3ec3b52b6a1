// Per-command GPU time, aggregated by kernel and by copy direction, plus the
// host time TF ops spend in their kernels' Compute: where a step's time goes.
//
// Off by default. While on (tensorflow_metal_plugin.start_profile(), or
// TFMP_PROFILE=1 from the start of the process, which also prints the report
// at exit), every stream writes a GPU timestamp after each command and orders
// each command after the one before (a full barrier), so a command's time is
// the span between the end of the previous command and its own end: its
// execution plus its launch, and the times of one batch add up to the batch's
// GPU time. Timestamps are read back when a batch completes, on the stream's
// runtime thread: profiling adds no host waits.
#ifndef TFMP_PROFILE_H_
#define TFMP_PROFILE_H_

#include <cstdint>
#include <string>

namespace tfmp {

// What a timed command that is not a kernel dispatch was.
enum ProfileCopy : int {
  kProfileHostToDevice = 0,
  kProfileDeviceToHost = 1,
  kProfileDeviceToDevice = 2,
  kProfileFill = 3,
  kProfileCopyKinds = 4,
};

// Switches profiling on (clearing what was gathered) or off (keeping it).
void StartProfile();
void StopProfile();
bool ProfileActive();

// Recorded by the runtime. `kernel` must outlive the process (the kernel
// library's names do).
void ProfileKernel(const char* kernel, uint64_t gpu_ns);
void ProfileCopy(int kind, uint64_t bytes, uint64_t gpu_ns);
// One timed command buffer. Host times are steady_clock nanoseconds: when
// its first command was recorded (open), submitted, and seen complete by
// the runtime thread (done); GPU times are the timestamps at its start and
// end in ticks of `tick_ns` nanoseconds, in the clock domain of `device`.
struct ProfileBatchTimes {
  const void* device = nullptr;
  double tick_ns = 1.0;
  uint64_t gpu_start = 0, gpu_end = 0;
  uint64_t open_ns = 0, submit_ns = 0, done_ns = 0;
  uint32_t commands = 0;
};
void ProfileBatch(const ProfileBatchTimes& b);
// steady_clock now, in the nanoseconds ProfileBatchTimes uses.
uint64_t ProfileHostNs();
// Recorded by the kernel wrapper: host time of one op's Compute.
void ProfileOp(const std::string& op_type, uint64_t host_ns);

// The timeline: where the GPU sat idle during the profile's wall time. GPU
// timestamps are put on the host clock by the tightest offset the batches
// allow (a batch starts after its submission and completes before the
// runtime thread sees it done); `align_us` is how far apart those bounds are.
// Each idle gap before a batch started is split by what the host had done
// by then: nothing of that batch recorded yet (`host_ms`: the framework,
// Python and ops' host code were the bottleneck), recorded but not yet
// submitted (`unsubmitted_ms`: batching), submitted but not yet started
// (`launch_ms`); `after_ms` is the idle time after the last GPU work until
// the profile stopped. busy + the four = wall.
//
// The report as JSON: {"active", "wall_ms", "gpu_ms", "batches", "commands",
// "kernels": [{"name", "count", "gpu_ms", "mean_us"}] (by gpu_ms, largest
// first), "copies": [{"kind", "count", "bytes", "gpu_ms"}], "ops": [{"op",
// "count", "host_ms", "mean_us"}], "timeline": {"busy_ms", "host_ms",
// "unsubmitted_ms", "launch_ms", "after_ms", "gaps", "align_us"} (null when
// no batch was timed, or batches of several devices were)}.
std::string ProfileJson();
// The same as a readable table (the `top` largest kernels and ops).
std::string ProfileText(int top);

}  // namespace tfmp

#endif  // TFMP_PROFILE_H_
