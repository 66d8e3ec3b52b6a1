// AssignAddVariableOp and AssignSubVariableOp on the device.
//
// TF registers these for DEVICE_DEFAULT with CPU Eigen code that would
// dereference device addresses on the host (docs/device_default_kernels.md).
// TF 2.21's wheels export none of kernels_experimental.h (TF_AssignUpdateVariable
// and friends, DESIGN.md), so this file uses the exported C++ framework API
// those functions wrap: LookupResource, Var, OpKernelContext. TF hands C API
// kernels the OpKernelContext itself as TF_OpKernelContext. This is the one
// place the plugin leans on TF's C++ ABI, which is why it checks at load that
// it runs in the TF release it was built for.
#include "kernels/elementwise.h"
#include "kernels/kernel.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

template <bool kAdd>
class AssignUpdateVariableOp : public OpKernel {
 public:
  explicit AssignUpdateVariableOp(OpConstruction& c) : dtype_(c.GetType("dtype")) {}

  void Compute(OpContext& ctx) override {
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

}  // namespace

void RegisterVariableKernels() {
  for (TF_DataType t : {TF_FLOAT, TF_HALF, TF_INT32, TF_INT64}) {
    RegisterKernel<AssignUpdateVariableOp<true>>("AssignAddVariableOp", {{"dtype", t}},
                                                 {"resource"});
    RegisterKernel<AssignUpdateVariableOp<false>>("AssignSubVariableOp", {{"dtype", t}},
                                                  {"resource"});
  }
}

}  // namespace tfmp
