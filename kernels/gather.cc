// GatherV2 (params of any 1/2/4/8-byte dtype, indices int32/int64 in device
// memory, axis on the host, batch_dims) and ResourceGather (the variable's
// tensor through TF's C++ resource API, as variable_ops.cc does). Shader:
// shaders/gather.comp ("gather_b<bits>_<index>"). An index outside
// [0, params.shape[axis]) gives zeros, as TF's GPU kernels do (reading the
// indices on the host would wait for the device; TF's CPU kernel raises).
#include <string>

#include "kernels/kernel.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

constexpr TF_DataType kTypes[] = {TF_FLOAT, TF_HALF,   TF_BFLOAT16, TF_DOUBLE, TF_INT8,
                                  TF_INT16, TF_INT32,  TF_INT64,    TF_UINT8,  TF_UINT16,
                                  TF_UINT32, TF_UINT64, TF_BOOL};

struct GatherPush {
  uint64_t x, indices, y, off;
  uint32_t n, inner, n_idx, outer, gather_dim;
};

std::string Str(int64_t v) { return std::to_string(v); }

// Validates as TF's GatherV2 does, allocates the output and records the gather.
// axis_set: GatherV2 always passes an axis; ResourceGather gathers along batch_dims.
void Gather(OpContext& ctx, TF_DataType dtype, const Shape& params, uint64_t params_address,
            const Tensor& indices, TF_DataType index, int64_t axis, bool axis_set,
            int64_t batch_dims) {
  const int64_t rank = static_cast<int64_t>(params.size());
  const int64_t irank = indices.dims();
  if (rank < 1) return ctx.Fail(TF_INVALID_ARGUMENT, "params must be at least 1 dimensional");
  if (axis_set) {
    const int64_t min_rank = axis < 0 ? -axis : axis + 1;
    if (rank < min_rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Shape must be at least rank " + Str(min_rank) +
                                               " but is rank " + Str(rank));
    if (axis < 0) axis += rank;
  }
  if (batch_dims != 0) {
    if (batch_dims < -irank || batch_dims > irank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Expected batch_dims in the range [" + Str(-irank) +
                                               ", " + Str(irank) + "], but got " +
                                               Str(batch_dims));
    if (batch_dims < 0) batch_dims += irank;
    if (!axis_set) axis = batch_dims;
    if (batch_dims >= rank)
      return ctx.Fail(TF_INVALID_ARGUMENT, "batch_dims (" + Str(batch_dims) +
                                               ") must be less than rank(params) (" + Str(rank) +
                                               ").");
    if (axis < batch_dims)
      return ctx.Fail(TF_INVALID_ARGUMENT, "batch_dims (" + Str(batch_dims) +
                                               ") must be less than or equal to axis (" +
                                               Str(axis) + ").");
    for (int64_t i = 0; i < batch_dims; ++i)
      if (params[i] != indices.dim(static_cast<int>(i)))
        return ctx.Fail(TF_INVALID_ARGUMENT, "params.shape[" + Str(i) + "]: " + Str(params[i]) +
                                                 " should be equal to indices.shape[" + Str(i) +
                                                 "]: " + Str(indices.dim(static_cast<int>(i))));
  } else if (!axis_set) {
    axis = 0;
  }
  Shape out;
  int64_t batch = 1, outer = 1, inner = 1, n_idx = 1;
  for (int64_t i = 0; i < axis; ++i) {
    out.push_back(params[i]);
    (i < batch_dims ? batch : outer) *= params[i];
  }
  for (int64_t i = batch_dims; i < irank; ++i) {
    out.push_back(indices.dim(static_cast<int>(i)));
    n_idx *= indices.dim(static_cast<int>(i));
  }
  for (int64_t i = axis + 1; i < rank; ++i) {
    out.push_back(params[i]);
    inner *= params[i];
  }
  if (!ctx.CheckElements(NumElements(params)) || !ctx.CheckElements(NumElements(out)) ||
      !ctx.CheckElements(indices.num_elements()))
    return;
  Tensor y = ctx.allocate_output(0, out, dtype);
  if (!ctx.ok() || y.num_elements() == 0) return;
  GatherPush p{};
  p.x = params_address;
  p.indices = indices.address();
  p.y = y.address();
  p.n = static_cast<uint32_t>(y.num_elements());
  p.inner = static_cast<uint32_t>(inner);
  p.n_idx = static_cast<uint32_t>(n_idx);
  p.outer = static_cast<uint32_t>(outer);
  p.gather_dim = static_cast<uint32_t>(params[axis]);
  ctx.Dispatch("gather_b" + Str(DtypeSize(dtype) * 8) + "_" + DtypeToken(index), p,
               OpContext::GridFor(p.n));
}

class GatherV2Op : public OpKernel {
 public:
  explicit GatherV2Op(OpConstruction& c)
      : dtype_(c.GetType("Tparams")),
        index_(c.GetType("Tindices")),
        axis_type_(c.GetType("Taxis")),
        batch_dims_(c.GetInt("batch_dims", 0)) {}

  void Compute(OpContext& ctx) override {
    Tensor params = ctx.input(0), indices = ctx.input(1), axis_t = ctx.input(2);
    if (!ctx.ok()) return;
    if (axis_t.dims() != 0)
      return ctx.Fail(TF_INVALID_ARGUMENT, "axis must be scalar");
    const int64_t axis = axis_type_ == TF_INT64 ? axis_t.host_data<int64_t>()[0]
                                                : axis_t.host_data<int32_t>()[0];
    Gather(ctx, dtype_, params.shape(), params.address(), indices, index_, axis, true,
           batch_dims_);
  }

 private:
  TF_DataType dtype_, index_, axis_type_;
  int64_t batch_dims_;
};

class ResourceGatherOp : public OpKernel {
 public:
  explicit ResourceGatherOp(OpConstruction& c)
      : dtype_(c.GetType("dtype")),
        index_(c.GetType("Tindices")),
        batch_dims_(c.GetInt("batch_dims", 0)) {}

  void Compute(OpContext& ctx) override {
    auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx.raw());
    tensorflow::core::RefCountPtr<tensorflow::Var> var;
    absl::Status s = tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, 0), &var);
    if (!s.ok()) return ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
    tensorflow::Tensor params;  // holds the buffer until the gather is recorded
    {
      tensorflow::tf_shared_lock lock(*var->mu());
      params = *var->tensor();
    }
    if (!params.IsInitialized())
      return ctx.Fail(TF_FAILED_PRECONDITION, "Read of uninitialized variable");
    if (static_cast<TF_DataType>(params.dtype()) != dtype_)
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Trying to read variable with wrong dtype. Expected " + DtypeName(dtype_) +
                          " got " + DtypeName(static_cast<TF_DataType>(params.dtype())));
    Tensor indices = ctx.input(1);
    if (!ctx.ok()) return;
    Shape shape(params.dims());
    for (int i = 0; i < params.dims(); ++i) shape[i] = params.dim_size(i);
    Gather(ctx, dtype_, shape, reinterpret_cast<uint64_t>(params.data()), indices, index_, 0,
           false, batch_dims_);
  }

 private:
  TF_DataType dtype_, index_;
  int64_t batch_dims_;
};

}  // namespace

void RegisterGatherKernels() {
  for (TF_DataType t : kTypes) {
    for (TF_DataType i : {TF_INT32, TF_INT64}) {
      for (TF_DataType a : {TF_INT32, TF_INT64})
        RegisterKernel<GatherV2Op>("GatherV2", {{"Tparams", t}, {"Tindices", i}, {"Taxis", a}},
                                   {"axis"});
      RegisterKernel<ResourceGatherOp>("ResourceGather", {{"dtype", t}, {"Tindices", i}},
                                       {"resource"});
    }
  }
}

}  // namespace tfmp
