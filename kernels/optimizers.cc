// Optimizer and scatter updates of resource variables, on the device and
// asynchronously (no host waits):
//  * the dense ResourceApply* ops (float32, float16): one in-place pass over
//    the variable and its slots, shaders/apply.comp ("apply_<op>_<dtype>",
//    the formula per op in variants.py's APPLY table). Scalars (lr, beta1_power,
//    ...) stay device tensors, read by the shader.
//  * ResourceScatter{Update,Add,Sub,Mul,Div,Min,Max} (float32, float16; Update
//    also int64 and bool) with int32/int64 indices: shaders/scatter.comp
//    ("scatter_<op>_<dtype>_<index>"), which applies duplicate indices in order
//    without atomics (see the shader). An index outside [0, rows) is skipped,
//    as TF's GPU kernels do; TF's CPU kernel raises, which would need the
//    indices on the host (a wait for the device).
//
// Variable semantics follow TF's training_op_helpers.h with what the 2.21
// wheel exports (LookupResource, Var, its mutex; see variable_ops.cc):
//  * dense updates lock every variable input exclusively, in address order
//    (MaybeLockVariableInputMutexesInOrder does so for resource inputs whatever
//    use_locking says), and copy a variable's buffer first when it is shared
//    with a read in flight or the variable is in copy-on-read mode
//    (PrepareToUpdateVariable);
//  * scatter updates switch the variable to copy-on-read mode first, copying
//    a shared buffer (EnsureSparseVariableAccess), then update it in place under
//    the exclusive lock (TF's ResourceScatterUpdateOp locks exclusively for
//    resource inputs).
#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/kernel.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

using tensorflow::OpKernelContext;
using tensorflow::Var;
using VarPtr = tensorflow::core::RefCountPtr<Var>;

bool Failed(OpContext& ctx, const absl::Status& s) {
  if (s.ok()) return false;
  ctx.Fail(static_cast<TF_Code>(s.code()), std::string(s.message()));
  return true;
}

uint64_t Address(const tensorflow::Tensor& t) { return reinterpret_cast<uint64_t>(t.data()); }

// Replaces *t by a device copy of itself (TF's DenseUpdate<ASSIGN> copy of
// PrepareToUpdateVariable / EnsureSparseVariableAccess), recorded on the stream.
bool CopyVariableBuffer(OpContext& ctx, tensorflow::Tensor* t) {
  auto* cc = reinterpret_cast<OpKernelContext*>(ctx.raw());
  tensorflow::Tensor fresh;
  tensorflow::AllocatorAttributes attr;
  if (Failed(ctx, cc->allocate_temp(t->dtype(), t->shape(), &fresh, attr))) return false;
  ctx.stream()->CopyDeviceToDevice(Address(fresh), Address(*t), t->TotalBytes());
  *t = fresh;
  return true;
}

// Exclusive locks on distinct variable mutexes, taken in address order.
class VariableLocks {
 public:
  explicit VariableLocks(const std::vector<VarPtr>& vars) {
    std::vector<decltype(vars[0]->mu())> mus;  // tensorflow::mutex*, deprecated by name
    for (const VarPtr& v : vars) mus.push_back(v->mu());
    std::sort(mus.begin(), mus.end());
    mus.erase(std::unique(mus.begin(), mus.end()), mus.end());
    for (auto* mu : mus) locks_.push_back(std::make_unique<tensorflow::mutex_lock>(*mu));
  }

 private:
  std::vector<std::unique_ptr<tensorflow::mutex_lock>> locks_;
};

// --- dense optimizer updates -------------------------------------------------

// One ResourceApply* op: its inputs in order, as a string of kinds
// ('v': a variable, the first being var; 's': a scalar; 'g': the gradient)
// with their names (TF's, for HostMemory and error messages).
struct ApplySpec {
  const char* op;
  const char* token;  // apply.comp variant "apply_<token>_<dtype>"
  const char* kinds;
  const char* names[11];
  bool nesterov_attr;      // has use_nesterov
  bool update_slots_attr;  // has update_slots
};

constexpr ApplySpec kApplyOps[] = {
    {"ResourceApplyGradientDescent", "gradient_descent", "vsg", {"var", "alpha", "delta"}, false,
     false},
    {"ResourceApplyMomentum", "momentum", "vvsgs", {"var", "accum", "lr", "grad", "momentum"}, true,
     false},
    {"ResourceApplyKerasMomentum", "keras_momentum", "vvsgs",
     {"var", "accum", "lr", "grad", "momentum"}, true, false},
    {"ResourceApplyAdam", "adam", "vvvssssssg",
     {"var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "grad"},
     true, false},
    {"ResourceApplyAdamWithAmsgrad", "adam_amsgrad", "vvvvssssssg",
     {"var", "m", "v", "vhat", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon",
      "grad"},
     false, false},
    {"ResourceApplyAdaMax", "adamax", "vvvsssssg",
     {"var", "m", "v", "beta1_power", "lr", "beta1", "beta2", "epsilon", "grad"}, false, false},
    {"ResourceApplyRMSProp", "rmsprop", "vvvssssg",
     {"var", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"}, false, false},
    {"ResourceApplyCenteredRMSProp", "centered_rmsprop", "vvvvssssg",
     {"var", "mg", "ms", "mom", "lr", "rho", "momentum", "epsilon", "grad"}, false, false},
    {"ResourceApplyAdagrad", "adagrad", "vvsg", {"var", "accum", "lr", "grad"}, false, true},
    {"ResourceApplyAdagradV2", "adagrad_v2", "vvssg", {"var", "accum", "lr", "epsilon", "grad"},
     false, true},
    {"ResourceApplyAdadelta", "adadelta", "vvvsssg",
     {"var", "accum", "accum_update", "lr", "rho", "epsilon", "grad"}, false, false},
};

struct ApplyPush {
  uint64_t var, slot[3], grad, scalar[6];
  uint32_t n, flags;
};

template <size_t I>
class ApplyOp : public OpKernel {
 public:
  explicit ApplyOp(OpConstruction& c) : dtype_(c.GetType("T")) {
    const ApplySpec& spec = kApplyOps[I];
    if (spec.nesterov_attr && c.GetBool("use_nesterov", false)) flags_ |= 1u;
    if (!spec.update_slots_attr || c.GetBool("update_slots", true)) flags_ |= 2u;
    kernel_ = std::string("apply_") + spec.token + "_" + DtypeToken(dtype_);
  }

  void Compute(OpContext& ctx) override {
    const ApplySpec& spec = kApplyOps[I];
    auto* cc = reinterpret_cast<OpKernelContext*>(ctx.raw());
    const std::string kinds = spec.kinds;
    std::vector<int> var_inputs, scalar_inputs;
    int grad_input = -1;
    for (int i = 0; i < static_cast<int>(kinds.size()); ++i) {
      if (kinds[i] == 'v') var_inputs.push_back(i);
      else if (kinds[i] == 's') scalar_inputs.push_back(i);
      else grad_input = i;
    }
    std::vector<VarPtr> vars(var_inputs.size());
    for (size_t k = 0; k < var_inputs.size(); ++k)
      if (!tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, var_inputs[k]), &vars[k])
               .ok())  // what TF's GetTrainingVariableMutex says
        return ctx.Fail(TF_INTERNAL, "Invalid variable reference.");
    VariableLocks locks(vars);
    for (size_t k = 0; k < vars.size(); ++k) {
      const tensorflow::Tensor& t = *vars[k]->tensor();
      if (!t.IsInitialized())
        return ctx.Fail(TF_FAILED_PRECONDITION, std::string("Attempting to use uninitialized variables: ") +
                                                    spec.names[var_inputs[k]]);
      if (static_cast<TF_DataType>(t.dtype()) != dtype_)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        std::string(spec.names[var_inputs[k]]) + " is a variable of " +
                            DtypeName(static_cast<TF_DataType>(t.dtype())) + ", not " +
                            DtypeName(dtype_) + " as " + spec.op + " was given");
    }
    for (int i : scalar_inputs) {
      const tensorflow::Tensor& s = cc->input(i);
      if (s.dims() != 0)
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(spec.names[i]) + " is not a scalar: " +
                                                 s.shape().DebugString());
    }
    const tensorflow::Tensor& var = *vars[0]->tensor();
    for (size_t k = 1; k < vars.size(); ++k) {
      const tensorflow::Tensor& slot = *vars[k]->tensor();
      if (!var.shape().IsSameSize(slot.shape()))
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        std::string("var and ") + spec.names[var_inputs[k]] +
                            " do not have the same shape" + var.shape().DebugString() + " " +
                            slot.shape().DebugString());
    }
    const tensorflow::Tensor& grad = cc->input(grad_input);
    if (!var.shape().IsSameSize(grad.shape()))
      return ctx.Fail(TF_INVALID_ARGUMENT, std::string("var and ") + spec.names[grad_input] +
                                               " do not have the same shape" +
                                               var.shape().DebugString() + " " +
                                               grad.shape().DebugString());
    const int64_t n = var.NumElements();
    if (!ctx.CheckElements(n)) return;
    // PrepareToUpdateVariable: a buffer shared with a read in flight (or any
    // buffer in copy-on-read mode) is copied before the in-place update.
    for (VarPtr& v : vars) {
      if (v->copy_on_read_mode.load() || !v->tensor()->RefCountIsOne())
        if (!CopyVariableBuffer(ctx, v->tensor())) return;
    }
    if (n == 0) return;
    ApplyPush p{};
    p.var = Address(*vars[0]->tensor());
    for (size_t k = 1; k < vars.size(); ++k) p.slot[k - 1] = Address(*vars[k]->tensor());
    p.grad = Address(grad);
    for (size_t k = 0; k < scalar_inputs.size(); ++k) p.scalar[k] = Address(cc->input(scalar_inputs[k]));
    p.n = static_cast<uint32_t>(n);
    p.flags = flags_;
    ctx.Dispatch(kernel_, p, OpContext::GridFor(n));
  }

 private:
  TF_DataType dtype_;
  uint32_t flags_ = 0;
  std::string kernel_;
};

// --- scatter updates ---------------------------------------------------------

struct ScatterSpec {
  const char* op;
  const char* token;  // scatter.comp variant "scatter_<token>_<dtype>_<index>"
  bool more_dtypes;   // Update: also int64 and bool
};

constexpr ScatterSpec kScatterOps[] = {
    {"ResourceScatterUpdate", "update", true}, {"ResourceScatterAdd", "add", false},
    {"ResourceScatterSub", "sub", false},      {"ResourceScatterMul", "mul", false},
    {"ResourceScatterDiv", "div", false},      {"ResourceScatterMin", "min", false},
    {"ResourceScatterMax", "max", false},
};

struct ScatterPush {
  uint64_t params, indices, updates;
  uint32_t rows, inner, groups, begin, end, scalar;
};

// Invocations to aim for (groups * inner): enough to fill a GPU, few enough
// that small inner sizes do not multiply the index reads much.
constexpr int64_t kScatterTargetInvocations = 4096;
// Updates one invocation walks in one dispatch (lavapipe stops shader loops
// past ~65k iterations).
constexpr int64_t kScatterBlock = 8192;

template <size_t I>
class ScatterOp : public OpKernel {
 public:
  explicit ScatterOp(OpConstruction& c) : dtype_(c.GetType("dtype")), index_(c.GetType("Tindices")) {
    kernel_ = std::string("scatter_") + kScatterOps[I].token + "_" + DtypeToken(dtype_) + "_" +
              DtypeToken(index_);
  }

  void Compute(OpContext& ctx) override {
    auto* cc = reinterpret_cast<OpKernelContext*>(ctx.raw());
    VarPtr v;
    if (Failed(ctx, tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, 0), &v))) return;
    {
      tensorflow::mutex_lock lock(*v->mu());
      if (!v->tensor()->IsInitialized())
        return ctx.Fail(TF_FAILED_PRECONDITION, "Attempting to use an uninitialized variable");
      if (static_cast<TF_DataType>(v->tensor()->dtype()) != dtype_)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Trying to update a variable of " +
                            DtypeName(static_cast<TF_DataType>(v->tensor()->dtype())) +
                            " with " + DtypeName(dtype_) + " updates");
      // EnsureSparseVariableAccess: copy-on-read mode from now on, and a
      // buffer shared with a read in flight is copied first.
      if (!v->copy_on_read_mode.load()) {
        if (!v->tensor()->RefCountIsOne() && !CopyVariableBuffer(ctx, v->tensor())) return;
        v->copy_on_read_mode.store(true);
      }
      Update(ctx, cc, v->tensor());
    }
  }

 private:
  void Update(OpContext& ctx, OpKernelContext* cc, tensorflow::Tensor* params) {
    const tensorflow::Tensor& indices = cc->input(1);
    const tensorflow::Tensor& updates = cc->input(2);
    if (!(updates.dims() == 0 || updates.dims() == indices.dims() + params->dims() - 1))
      return ctx.Fail(TF_INVALID_ARGUMENT,
                      "Must have updates.shape = indices.shape + params.shape[1:] or "
                      "updates.shape = [], got updates.shape " +
                          updates.shape().DebugString() + ", indices.shape " +
                          indices.shape().DebugString() + ", params.shape " +
                          params->shape().DebugString());
    const int64_t n_idx = indices.NumElements();
    const int64_t index_max = index_ == TF_INT32 ? 0x7fffffffll : 0x7fffffffffffffffll;
    if (n_idx > index_max)
      return ctx.Fail(TF_INVALID_ARGUMENT, "indices has too many elements for " +
                                               DtypeName(index_) + " indexing");
    if (n_idx == 0) return;
    // params as [rows, inner] (TF's flat_outer_dims).
    const int64_t rows = params->dims() == 0 ? 1 : params->dim_size(0);
    int64_t inner = 1;
    for (int d = 1; d < params->dims(); ++d) inner *= params->dim_size(d);
    if (rows > index_max)
      return ctx.Fail(TF_INVALID_ARGUMENT, "params.shape[0] too large for " + DtypeName(index_) +
                                               " indexing");
    const bool scalar = updates.dims() == 0;
    if (!scalar) {
      bool prefix = updates.dims() >= indices.dims();
      for (int d = 0; prefix && d < indices.dims(); ++d)
        prefix = updates.dim_size(d) == indices.dim_size(d);
      if (!prefix)
        return ctx.Fail(TF_INVALID_ARGUMENT, "The shape of indices (" +
                                                 indices.shape().DebugString() +
                                                 ") must be a prefix of the shape of updates (" +
                                                 updates.shape().DebugString() + ")");
      // updates.shape[indices.dims():] must be params.shape[1:]: TF's CPU
      // kernel does not check it (and reads or writes out of bounds).
      bool rows_match = updates.NumElements() == n_idx * inner;
      for (int d = 1; rows_match && d < params->dims(); ++d)
        rows_match = updates.dim_size(indices.dims() + d - 1) == params->dim_size(d);
      if (!rows_match)
        return ctx.Fail(TF_INVALID_ARGUMENT,
                        "Must have updates.shape = indices.shape + params.shape[1:], got "
                        "updates.shape " + updates.shape().DebugString() + ", indices.shape " +
                            indices.shape().DebugString() + ", params.shape " +
                            params->shape().DebugString());
    }
    if (rows == 0 || inner == 0) return;  // every index is out of range: skipped
    if (!ctx.CheckElements(params->NumElements()) || !ctx.CheckElements(updates.NumElements()) ||
        !ctx.CheckElements(n_idx))
      return;
    ScatterPush p{};
    p.params = Address(*params);
    p.indices = Address(indices);
    p.updates = Address(updates);
    p.rows = static_cast<uint32_t>(rows);
    p.inner = static_cast<uint32_t>(inner);
    const int64_t groups =
        std::min<int64_t>(rows, std::max<int64_t>(1, kScatterTargetInvocations / inner));
    p.groups = static_cast<uint32_t>(groups);
    p.scalar = scalar ? 1u : 0u;
    const int64_t total = groups * inner;
    const uint32_t grid = OpContext::GridFor(total, 64);
    // Each invocation may cover several (column, group) slots (grid-stride);
    // keep slots * block updates per invocation bounded.
    const int64_t slots = (total + int64_t(grid) * 64 - 1) / (int64_t(grid) * 64);
    const int64_t block = std::max<int64_t>(1, kScatterBlock / slots);
    for (int64_t b = 0; b < n_idx; b += block) {
      p.begin = static_cast<uint32_t>(b);
      p.end = static_cast<uint32_t>(std::min(n_idx, b + block));
      ctx.Dispatch(kernel_, p, grid);
    }
  }

  TF_DataType dtype_, index_;
  std::string kernel_;
};

constexpr TF_DataType kFloatTypes[] = {TF_FLOAT, TF_HALF};

template <size_t... I>
void RegisterApplyOps(std::index_sequence<I...>) {
  auto one = [](const ApplySpec& spec, auto kernel_tag) {
    using Kernel = typename decltype(kernel_tag)::type;
    for (TF_DataType t : kFloatTypes) {
      TF_KernelBuilder* b = TF_NewKernelBuilder(spec.op, "GPU", &internal::Create<Kernel>,
                                                &internal::Compute, &internal::Delete);
      const std::string kinds = spec.kinds;
      for (size_t i = 0; i < kinds.size(); ++i)
        if (kinds[i] == 'v') TF_KernelBuilder_HostMemory(b, spec.names[i]);
      internal::Register(spec.op, b, {{"T", t}}, {}, 1);
    }
  };
  (one(kApplyOps[I], std::common_type<ApplyOp<I>>{}), ...);
}

template <size_t... I>
void RegisterScatterOps(std::index_sequence<I...>) {
  auto one = [](const ScatterSpec& spec, auto kernel_tag) {
    using Kernel = typename decltype(kernel_tag)::type;
    std::vector<TF_DataType> dtypes = {TF_FLOAT, TF_HALF};
    if (spec.more_dtypes) dtypes.insert(dtypes.end(), {TF_INT64, TF_BOOL});
    for (TF_DataType t : dtypes)
      for (TF_DataType i : {TF_INT32, TF_INT64})
        RegisterKernel<Kernel>(spec.op, {{"dtype", t}, {"Tindices", i}}, {"resource"});
  };
  (one(kScatterOps[I], std::common_type<ScatterOp<I>>{}), ...);
}

}  // namespace

void RegisterOptimizerKernels() {
  RegisterApplyOps(std::make_index_sequence<std::size(kApplyOps)>{});
  RegisterScatterOps(std::make_index_sequence<std::size(kScatterOps)>{});
}

}  // namespace tfmp
