// Overrides of TF's generic (DEVICE_DEFAULT) kernels that would touch device
// memory from the host (docs/device_default_kernels.md): AssignAddVariableOp,
// AssignSubVariableOp, AssignVariableOp, QueueIsClosedV2 and the debug Copy.
// TF 2.21's wheels export none of kernels_experimental.h (TF_AssignUpdateVariable
// and friends, DESIGN.md), so this file uses the exported C++ framework API
// those functions wrap: LookupResource, Var, OpKernelContext. TF hands C API
// kernels the OpKernelContext itself as TF_OpKernelContext. This is the one
// place the plugin leans on TF's C++ ABI, which is why it checks at load that
// it runs in the TF release it was built for.
#include "kernels/elementwise.h"
#include "kernels/kernel.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/queue_interface.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

template <bool kAdd>
class AssignUpdateVariableOp : public OpKernel {
 public:
  explicit AssignUpdateVariableOp(OpConstruction& c) : dtype_(c.GetType("dtype")) {}

  void Compute(OpContext& ctx) override {
    if (!*DtypeToken(dtype_)) {
      ctx.Fail(TF_UNIMPLEMENTED, std::string(kAdd ? "AssignAddVariableOp" : "AssignSubVariableOp") +
                                     " of " + DtypeName(dtype_) +
                                     " variables is not supported on this device yet");
      return;
    }
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    tensorflow::core::RefCountPtr<tensorflow::Var> var;
    absl::Status s = tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, 0), &var);
    if (!s.ok()) {
      ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
      return;
    }
    const tensorflow::Tensor& value = cc->input(1);
    tensorflow::mutex_lock lock(*var->mu());
    tensorflow::Tensor* t = var->tensor();
    if (t->dtype() != value.dtype()) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Cannot update variable of dtype " + DtypeName(static_cast<TF_DataType>(t->dtype())) +
                                        " with a Tensor of dtype " +
                                        DtypeName(static_cast<TF_DataType>(value.dtype())));
      return;
    }
    if (!t->shape().IsSameSize(value.shape())) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Cannot update variable with shape " +
                                        t->shape().DebugString() + " using a Tensor with shape " +
                                        value.shape().DebugString() + ", shapes must be equal.");
      return;
    }
    const int64_t n = t->NumElements();
    const uint64_t old_address = reinterpret_cast<uint64_t>(t->data());
    const uint64_t value_address = reinterpret_cast<uint64_t>(value.data());
    const char* op = kAdd ? "add" : "sub";
    if (var->copy_on_read_mode.load() || !t->RefCountIsOne()) {
      // Someone else holds the current buffer (a read in flight, or
      // copy-on-read mode): write the sum into a fresh buffer, as TF's
      // PrepareToUpdateVariable does with a copy.
      tensorflow::Tensor fresh;
      tensorflow::AllocatorAttributes attr;
      s = cc->allocate_temp(t->dtype(), t->shape(), &fresh, attr);
      if (!s.ok()) {
        ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
        return;
      }
      DispatchFlatBinary(ctx, op, dtype_, old_address, value_address,
                         reinterpret_cast<uint64_t>(fresh.data()), n);
      *t = fresh;
    } else {
      DispatchFlatBinary(ctx, op, dtype_, old_address, value_address, old_address, n);
    }
  }

 private:
  TF_DataType dtype_;
};

absl::Status ToStatus(OpContext& ctx, const absl::Status& s) {
  if (!s.ok()) ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
  return s;
}

// AssignVariableOp: TF's generic kernel aliases the value (fine) except in
// copy-on-read mode, where it copies with host code; here that copy is a
// device-to-device copy on the stream.
class AssignVariableOp : public OpKernel {
 public:
  explicit AssignVariableOp(OpConstruction& c)
      : dtype_(c.GetType("dtype")), validate_shape_(c.GetBool("validate_shape", false)) {}

  void Compute(OpContext& ctx) override {
    using tensorflow::Var;
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    const tensorflow::Tensor& value = cc->input(1);
    const auto dtype = static_cast<tensorflow::DataType>(dtype_);
    tensorflow::core::RefCountPtr<Var> var;
    if (!ToStatus(ctx, tensorflow::LookupOrCreateResource<Var>(
                           cc, tensorflow::HandleFromInput(cc, 0), &var,
                           [&](Var** ptr) {
                             *ptr = new Var(dtype);
                             *(*ptr)->tensor() = value;
                             (*ptr)->is_initialized = true;
                             return absl::OkStatus();
                           }))
             .ok())
      return;
    tensorflow::mutex_lock lock(*var->mu());
    tensorflow::Tensor* t = var->tensor();
    if (t->dtype() != dtype) {
      ctx.Fail(TF_INVALID_ARGUMENT, "Trying to assign variable with wrong dtype. Expected " +
                                        tensorflow::DataTypeString(t->dtype()) + " got " +
                                        tensorflow::DataTypeString(dtype));
      return;
    }
    if (validate_shape_ && var->is_initialized && !t->shape().IsSameSize(value.shape())) {
      ctx.Fail(TF_INVALID_ARGUMENT,
               "Trying to assign to variable with tensor with wrong shape. Expected " +
                   t->shape().DebugString() + " got " + value.shape().DebugString());
      return;
    }
    if (var->copy_on_read_mode.load()) {
      tensorflow::AllocatorAttributes attr;
      if (!ToStatus(ctx, cc->allocate_temp(value.dtype(), value.shape(), t, attr)).ok()) return;
      ctx.stream()->CopyDeviceToDevice(reinterpret_cast<uint64_t>(t->data()),
                                       reinterpret_cast<uint64_t>(value.data()),
                                       value.TotalBytes());
    } else {
      *t = value;
    }
    var->is_initialized = true;
  }

 private:
  TF_DataType dtype_;
  bool validate_shape_;
};

// QueueIsClosedV2: TF's generic kernel writes its bool output, which lives in
// device memory, from the host. Here the output is host memory.
class QueueIsClosedOp : public OpKernel {
 public:
  explicit QueueIsClosedOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    tensorflow::core::RefCountPtr<tensorflow::QueueInterface> queue;
    if (!ToStatus(ctx, tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, 0), &queue))
             .ok())
      return;
    Tensor out = ctx.allocate_output(0, {}, TF_BOOL);
    if (!ctx.ok()) return;
    *static_cast<bool*>(TF_TensorData(out.get())) = queue->is_closed();
  }
};

// Copy (tfdbg): TF's generic kernel deep-copies on the host when a debug
// watch is set. Here it is always a device-to-device copy.
class CopyOp : public OpKernel {
 public:
  explicit CopyOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    const tensorflow::Tensor& in = cc->input(0);
    tensorflow::Tensor* out = nullptr;
    if (!ToStatus(ctx, cc->allocate_output(0, in.shape(), &out)).ok()) return;
    ctx.stream()->CopyDeviceToDevice(reinterpret_cast<uint64_t>(out->data()),
                                     reinterpret_cast<uint64_t>(in.data()), in.TotalBytes());
  }
};

// Every dtype TF's generic AssignAddVariableOp takes (we compute the first
// four; the others fail with a clear error instead of crashing).
constexpr TF_DataType kNumberTypes[] = {
    TF_FLOAT, TF_HALF,  TF_INT32,  TF_INT64,  TF_DOUBLE, TF_BFLOAT16,  TF_INT8,
    TF_INT16, TF_UINT8, TF_UINT16, TF_UINT32, TF_UINT64, TF_COMPLEX64, TF_COMPLEX128};
// Plus the dtypes AssignVariableOp takes whose data lives in device memory.
// (int4/uint4/int2/uint2 cannot be named through the C API: TF's generic
// kernel stays, unsafe only in copy-on-read mode, which no kernel for those
// types triggers.)
constexpr TF_DataType kOtherAssignTypes[] = {TF_BOOL, TF_QINT8, TF_QUINT8, TF_QINT32};

}  // namespace

void RegisterVariableKernels() {
  for (TF_DataType t : kNumberTypes) {
    RegisterKernel<AssignUpdateVariableOp<true>>("AssignAddVariableOp", {{"dtype", t}},
                                                 {"resource"});
    RegisterKernel<AssignUpdateVariableOp<false>>("AssignSubVariableOp", {{"dtype", t}},
                                                  {"resource"});
    RegisterKernel<AssignVariableOp>("AssignVariableOp", {{"dtype", t}}, {"resource"});
  }
  for (TF_DataType t : kOtherAssignTypes)
    RegisterKernel<AssignVariableOp>("AssignVariableOp", {{"dtype", t}}, {"resource"});
  RegisterKernel<QueueIsClosedOp>("QueueIsClosedV2", {}, {"handle", "is_closed"});
  RegisterKernel<CopyOp>("Copy", {});
}

}  // namespace tfmp
