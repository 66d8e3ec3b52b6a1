// What the plugin's StreamExecutor handles (SP_Stream, SP_Event, SP_Timer)
// point to. Kernels reach their stream through TF_GetStream.
#ifndef TFMP_SE_TYPES_H_
#define TFMP_SE_TYPES_H_

#include <memory>

#include "tensorflow/c/experimental/stream_executor/stream_executor.h"
#include "tensorflow_metal_plugin/runtime/backend.h"

// Every SP_Stream of a device shares the device's one runtime stream (see
// CreateStream in stream_executor.cc).
struct SP_Stream_st {
  std::shared_ptr<tfmp::rt::Stream> stream;
};

struct SP_Event_st {
  tfmp::rt::Stream* stream = nullptr;  // null until recorded
  uint64_t point = 0;
};

struct SP_Timer_st {
  std::unique_ptr<tfmp::rt::Timer> timer;
};

namespace tfmp {

inline rt::Device* DeviceOf(const SP_Device* d) {
  return static_cast<rt::Device*>(d->device_handle);
}
inline rt::Stream* StreamOf(SP_Stream s) { return s->stream.get(); }
inline uint64_t AddressOf(const SP_DeviceMemoryBase* m) {
  return reinterpret_cast<uint64_t>(m->opaque);
}

// Registers the platform (SE_InitPlugin's body); see stream_executor.cc.
void InitStreamExecutor(SE_PlatformRegistrationParams* params, TF_Status* status);

}  // namespace tfmp

#endif  // TFMP_SE_TYPES_H_
