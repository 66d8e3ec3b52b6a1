// Process-wide counters that let a user (and a test) see the work the plugin
// does: read from Python with tensorflow_metal_plugin.stats().
#ifndef TFMP_STATS_H_
#define TFMP_STATS_H_

#include <atomic>
#include <cstdint>

namespace tfmp {

// X-macro: one line per counter, in the order the C API reports them.
#define TFMP_STATS_COUNTERS(X)                                               \
  X(dispatches, "compute dispatches recorded")                               \
  X(command_buffers, "command buffers submitted")                            \
  X(host_waits, "times the host blocked waiting for the device")             \
  X(barriers, "pipeline barriers recorded")                                  \
  X(copies_host_to_device, "host-to-device copies")                          \
  X(copies_device_to_host, "device-to-host copies")                          \
  X(copies_device_to_device, "device-to-device copies")                      \
  X(bytes_host_to_device, "bytes copied host to device")                     \
  X(bytes_device_to_host, "bytes copied device to host")                     \
  X(bytes_device_to_device, "bytes copied device to device")                 \
  X(allocations, "device memory allocations")                                \
  X(pipelines_created, "compute pipelines created")                          \
  X(pipeline_create_us, "microseconds spent creating pipelines")             \
  X(pipeline_cache_hits, "pipelines the driver found in the pipeline cache") \
  X(barriers_avoided, "commands recorded without the barrier a full-barrier scheme would add") \
  X(undeclared_commands, "commands that declared no memory access (full barrier)") \
  X(runtime_thread_submits, "command buffers the streams' runtime threads submitted (early submission)")

struct Stats {
#define TFMP_STATS_FIELD(name, doc) std::atomic<uint64_t> name{0};
  TFMP_STATS_COUNTERS(TFMP_STATS_FIELD)
#undef TFMP_STATS_FIELD
};

Stats& GlobalStats();

}  // namespace tfmp

#endif  // TFMP_STATS_H_
