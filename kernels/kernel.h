// The kernel framework: op kernels on TF's C API (tensorflow/c/kernels.h).
//
// An op kernel is a class with a constructor that parses attributes
// (OpConstruction) and a Compute(OpContext&) that validates inputs, allocates
// outputs and records dispatches on the stream. Registration is explicit: each
// kernels/<family>.cc exposes Register<Family>Kernels(), called from
// kernels/registry.cc; there are no static initializers.
#ifndef TFMP_KERNELS_KERNEL_H_
#define TFMP_KERNELS_KERNEL_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"
#include "tensorflow_metal_plugin/runtime/backend.h"

namespace tfmp {

using Shape = std::vector<int64_t>;

std::string ShapeString(const Shape& s);
int64_t NumElements(const Shape& s);
// The shader token of a dtype ("f32", "f16", "i32", "i64", "bool"), or "".
const char* DtypeToken(TF_DataType t);
size_t DtypeSize(TF_DataType t);
std::string DtypeName(TF_DataType t);

// Owns one TF_Tensor reference.
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(TF_Tensor* t, bool owned = true) : t_(t), owned_(owned) {}
  Tensor(Tensor&& o) noexcept : t_(o.t_), owned_(o.owned_) { o.t_ = nullptr; }
  Tensor& operator=(Tensor&& o) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();

  bool valid() const { return t_ != nullptr; }
  TF_Tensor* get() const { return t_; }
  TF_DataType dtype() const { return TF_TensorType(t_); }
  int dims() const { return TF_NumDims(t_); }
  int64_t dim(int i) const { return TF_Dim(t_, i); }
  Shape shape() const;
  int64_t num_elements() const { return TF_TensorElementCount(t_); }
  // Device address of the data (0 for an empty tensor). Only for tensors in
  // device memory: never dereference it on the host.
  uint64_t address() const { return reinterpret_cast<uint64_t>(TF_TensorData(t_)); }
  // Values of a host-memory integer tensor (int8/16/32/64), as int64.
  std::vector<int64_t> host_ints() const;
  // Host pointer of a tensor registered as HostMemory.
  template <typename T>
  const T* host_data() const {
    return static_cast<const T*>(TF_TensorData(t_));
  }

 private:
  TF_Tensor* t_ = nullptr;
  bool owned_ = true;  // false: a view of a tensor the OpContext owns
};

// Attribute access while a kernel is constructed.
class OpConstruction {
 public:
  explicit OpConstruction(TF_OpKernelConstruction* c) : c_(c) {}
  bool GetBool(const char* name, bool fallback = false);
  int64_t GetInt(const char* name, int64_t fallback = 0);
  TF_DataType GetType(const char* name);
  std::string GetString(const char* name, const std::string& fallback = "");
  std::vector<int64_t> GetIntList(const char* name, const std::vector<int64_t>& fallback = {});
  std::vector<std::string> GetStringList(const char* name);
  float GetFloat(const char* name, float fallback = 0.0f);
  std::vector<float> GetFloatList(const char* name);  // empty when absent
  void Fail(TF_Code code, const std::string& message);
  bool ok() const { return ok_; }

 private:
  TF_OpKernelConstruction* c_;
  bool ok_ = true;
};

// Everything a Compute needs: inputs, outputs, the stream, error reporting.
// Errors are reported once (the first wins) with the op's name, as TF's own
// kernels do; Compute returns right after a failure.
//
// Barriers only where needed: the context remembers the device memory of the
// tensors it handed out (inputs as read; outputs and temporaries as written)
// and every Dispatch declares them to the stream, which then orders the
// dispatch only after earlier commands that touch the same memory. This is
// conservative (a dispatch is assumed to read every input and write every
// output and temporary allocated so far, so an op's own dispatches stay
// ordered). A kernel that reaches memory any other way - through raw(), e.g.
// resource variables - gets full barriers for all its dispatches.
class OpContext {
 public:
  explicit OpContext(TF_OpKernelContext* ctx);
  ~OpContext();

  int num_inputs() const { return TF_NumInputs(ctx_); }
  Tensor input(int i);
  Tensor allocate_output(int i, const Shape& shape, TF_DataType dtype);
  // Reuses input `input_index`'s buffer for output `i` when TF allows it.
  Tensor forward_or_allocate_output(int input_index, int i, const Shape& shape, TF_DataType dtype);
  // A temporary, kept allocated until Compute returns (the context owns it;
  // the Tensor is a view): TF's allocator hands freed memory to the next op
  // at once, and that op may be recorded by another thread before this op's
  // dispatch that reads the temporary.
  Tensor allocate_temp(const Shape& shape, TF_DataType dtype);
  // Device memory for `bytes` that the caller owns (ParamCache): the context
  // does not free it and declares nothing for it.
  std::shared_ptr<TF_Tensor> allocate_owned(int64_t bytes);
  // Keeps `t` alive until Compute returns (a buffer a dispatch reads).
  void hold(std::shared_ptr<TF_Tensor> t) { held_.push_back(std::move(t)); }
  void set_output(int i, const Tensor& t);
  TF_DataType expected_output_dtype(int i) const { return TF_ExpectedOutputDataType(ctx_, i); }
  int num_outputs() const { return TF_NumOutputs(ctx_); }
  rt::Stream* stream() const { return stream_; }

  bool ok() const { return ok_; }
  void Fail(TF_Code code, const std::string& message);
  // Shaders index with 32 bits: false (and the op fails) past 2^32 elements.
  bool CheckElements(int64_t n);
  // The TF context itself. Using it makes this op's dispatches undeclared
  // (full barriers): memory reached through it is unknown to the context.
  TF_OpKernelContext* raw() const {
    opaque_ = true;
    return ctx_;
  }

  // Records a dispatch of `kernel` (a shader token) with push constants `p`.
  template <typename Push>
  void Dispatch(const std::string& kernel, const Push& p, uint32_t gx, uint32_t gy = 1,
                uint32_t gz = 1) {
    DispatchBytes(kernel.c_str(), &p, sizeof(Push), gx, gy, gz);
  }
  // The same with specialization constants (constant_id 0 .. spec.size() - 1):
  // one pipeline per distinct spec, compiled on first use (rt::Stream).
  // Declares its memory as Dispatch does.
  template <typename Push>
  void DispatchSpecialized(const std::string& kernel, const std::vector<uint32_t>& spec,
                           const Push& p, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1) {
    DispatchBytes(kernel.c_str(), &p, sizeof(Push), gx, gy, gz, spec.data(),
                  static_cast<uint32_t>(spec.size()));
  }
  void DispatchBytes(const char* kernel, const void* push, uint32_t push_bytes, uint32_t gx,
                     uint32_t gy, uint32_t gz, const uint32_t* spec = nullptr,
                     uint32_t spec_count = 0);
  // Declares device memory this op's dispatches touch beyond the tensors the
  // context handed out (e.g. a slice of a buffer found otherwise).
  void DeclareRead(uint64_t address, uint64_t bytes);
  void DeclareWrite(uint64_t address, uint64_t bytes);
  // Workgroups for a grid-stride loop over n elements with `local` invocations
  // per workgroup.
  static uint32_t GridFor(int64_t n, uint32_t local = 256);

 private:
  TF_OpKernelContext* ctx_;
  TF_Status* status_;
  rt::Stream* stream_ = nullptr;
  bool ok_ = true;
  mutable bool opaque_ = false;
  std::vector<rt::MemRange> reads_, writes_;
  std::vector<TF_Tensor*> temps_;
  std::vector<std::shared_ptr<TF_Tensor>> held_;
  // TF_AllocateTemp in device memory; on failure the op fails and nullptr.
  TF_Tensor* AllocateDeviceTemp(const int64_t* dims, int rank, TF_DataType dtype);
};

// A small read-only parameter block (a table of addresses, shapes, strides)
// in device memory that a kernel keeps between calls: Upload returns the
// address of a buffer holding `data`, recording a host-to-device copy only
// when the bytes differ from the previous call's. A training step repeats
// its tables (same shapes, and TF's allocator hands out the same addresses),
// so the copy, its staging memory and the barrier after it go away. The
// buffer is never written after its upload; one replaced by a new upload
// stays allocated until every Compute that read it has returned (the
// context holds it), as temporaries do. The dispatch that reads it is
// declared to read it.
class ParamCache {
 public:
  uint64_t Upload(OpContext& ctx, const void* data, size_t bytes);

 private:
  std::mutex mu_;
  std::vector<uint8_t> bytes_;
  std::shared_ptr<TF_Tensor> buffer_;
};

// Base of every op kernel.
class OpKernel {
 public:
  virtual ~OpKernel() = default;
  virtual void Compute(OpContext& ctx) = 0;
};

namespace internal {
template <typename K>
void* Create(TF_OpKernelConstruction* c) {
  OpConstruction oc(c);
  return new K(oc);
}
// Runs the kernel's Compute (timed per op type while profiling).
void Compute(void* kernel, TF_OpKernelContext* ctx);
inline void Delete(void* kernel) { delete static_cast<OpKernel*>(kernel); }
void Register(const char* op, TF_KernelBuilder* builder,
              std::initializer_list<std::pair<const char*, TF_DataType>> types,
              std::initializer_list<const char*> host_memory, int32_t priority);
}  // namespace internal

// Registers kernel class K (constructible from OpConstruction&) for `op` on
// the GPU device with the given type constraints (attr, dtype) and HostMemory
// arguments. Priority 1 overrides TF's generic DEVICE_DEFAULT kernels.
template <typename K>
void RegisterKernel(const char* op,
                    std::initializer_list<std::pair<const char*, TF_DataType>> types,
                    std::initializer_list<const char*> host_memory = {}, int32_t priority = 1) {
  TF_KernelBuilder* b =
      TF_NewKernelBuilder(op, "GPU", &internal::Create<K>, &internal::Compute, &internal::Delete);
  internal::Register(op, b, types, host_memory, priority);
}

// Registers the definition of one of the plugin's own ops (`b`, consumed;
// `op` its name, for the message). One TF already has (a second load) is
// left as it is; any other failure is printed.
void RegisterOpDefinition(const char* op, TF_OpDefinitionBuilder* b);

// Every family's registration function (kernels/<family>.cc).
void RegisterElementwiseKernels();
void RegisterCastKernels();
void RegisterFillKernels();
void RegisterMatMulKernels();
void RegisterBiasAddKernels();
void RegisterReductionKernels();
void RegisterVariableKernels();
void RegisterSoftmaxKernels();
void RegisterSelectKernels();
void RegisterConvKernels();
void RegisterPoolingKernels();
void RegisterDepthwiseConvKernels();
void RegisterDataMovementKernels();
void RegisterRandomKernels();
void RegisterBatchMatMulKernels();
void RegisterGatherKernels();
void RegisterOneHotKernels();
void RegisterRangeKernels();
void RegisterEinsumKernels();
// Padding and image resizing (kernels/pad.cc, kernels/resize.cc).
void RegisterPadKernels();
void RegisterResizeKernels();
void RegisterOptimizerKernels();
// FFT family and linear algebra (h-fft)
void RegisterFftKernels();
void RegisterLinalgKernels();
void RegisterComplexKernels();
// Indexing and scans (kernels/scan_sort.cc, kernels/scatter.cc).
void RegisterScanSortKernels();
void RegisterScatterKernels();
// _TfmpFusedElementwise, the Grappler pass's fused elementwise chains
// (kernels/fused_elementwise.cc; registers the op too).
void RegisterFusedElementwiseKernels();
// The Grappler pass's fused multi-tensor optimizer updates (kernels/fused_update.cc).
void RegisterFusedUpdateKernels();
// Calls all of the above (kernels/registry.cc).
void RegisterAllKernels();

}  // namespace tfmp

#endif  // TFMP_KERNELS_KERNEL_H_
