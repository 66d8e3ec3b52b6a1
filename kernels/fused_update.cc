// _TfmpFusedUpdate: the optimizer step the Grappler pass lifts out of Keras 3
// graphs (grappler/patterns/optimizer_update.cc): for each of N variables,
// a small elementwise program over the variable, its slots, its gradient and
// the step's scalars, all N in ONE dispatch (shaders/fused_update.comp).
// An internal op: only the pass creates it.
//
//   handles: num_handles resources (N entries of num_handles / N each)
//   tensors: Tin tensors (N entries of len(Tin) / N each: gradients, scalars)
//   program: 4 ints per instruction (the shader's encoding)
//   const_bits: float32 constants, as their bit patterns
//
// A slot (handle or tensor) holds either n elements (n: the element count of
// the first variable the program stores to) or one element (a scalar,
// broadcast). Variables are locked exclusively in address order and copied
// first when a read in flight shares their buffer (TF's
// PrepareToUpdateVariable), as kernels/optimizers.cc does; the table of
// addresses goes to the device through the stream (no host wait).
#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "tensorflow/c/ops.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"

namespace tfmp {
namespace {

using tensorflow::OpKernelContext;
using tensorflow::Var;
using VarPtr = tensorflow::core::RefCountPtr<Var>;

constexpr char kOp[] = "_TfmpFusedUpdate";
constexpr int kStoreOp = 2;
constexpr int kMaxRegisters = 48;  // the shader's register file
constexpr int kSlotOperand = 64, kConstOperand = 128;

uint64_t Address(const tensorflow::Tensor& t) { return reinterpret_cast<uint64_t>(t.data()); }

struct Push {
  uint64_t table;
  uint32_t total, entries, entry_words, prog_off, prog_len, const_off;
};

class FusedUpdateOp : public OpKernel {
 public:
  explicit FusedUpdateOp(OpConstruction& c) {
    entries_ = static_cast<int>(c.GetInt("N", 1));
    num_handles_ = static_cast<int>(c.GetInt("num_handles", 1));
    program_ = c.GetIntList("program");
    consts_ = c.GetIntList("const_bits");
    for (size_t k = 0; k + 3 < program_.size(); k += 4)
      if ((program_[k] & 255) == kStoreOp) stored_.insert(static_cast<int>(program_[k + 2]));
  }

  void Compute(OpContext& ctx) override {
    auto* cc = reinterpret_cast<OpKernelContext*>(ctx.raw());
    const int num_handles = num_handles_;
    const int num_tensors = cc->num_inputs() - num_handles;
    if (entries_ < 1 || num_handles % entries_ || num_tensors % entries_ || program_.size() % 4 ||
        stored_.empty())
      return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kOp) + ": malformed attributes");
    const int k_h = num_handles / entries_, k_t = num_tensors / entries_, slots = k_h + k_t;
    for (size_t k = 0; k < program_.size(); k += 4) {
      for (int j = 2; j < 4; ++j) {
        const int64_t o = program_[k + j];
        if ((o >= kSlotOperand && o < kConstOperand && o - kSlotOperand >= slots) ||
            (o >= kConstOperand && o - kConstOperand >= static_cast<int64_t>(consts_.size())))
          return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kOp) + ": operand out of range");
      }
      if ((program_[k] & 255) != kStoreOp && (program_[k + 1] < 0 || program_[k + 1] >= kMaxRegisters))
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kOp) + ": register out of range");
    }
    for (int s : stored_)
      if (s < 0 || s >= k_h)
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kOp) + ": stores to a non-variable slot");

    std::vector<VarPtr> vars(num_handles);
    for (int h = 0; h < num_handles; ++h)
      if (!tensorflow::LookupResource(cc, tensorflow::HandleFromInput(cc, h), &vars[h]).ok())
        return ctx.Fail(TF_INTERNAL, "Invalid variable reference.");
    // Exclusive locks on the distinct variables, in address order.
    std::vector<decltype(vars[0]->mu())> mus;
    for (const VarPtr& v : vars) mus.push_back(v->mu());
    std::sort(mus.begin(), mus.end());
    mus.erase(std::unique(mus.begin(), mus.end()), mus.end());
    std::vector<std::unique_ptr<tensorflow::mutex_lock>> locks;
    for (auto* mu : mus) locks.push_back(std::make_unique<tensorflow::mutex_lock>(*mu));

    // Copy-on-write of the variables stored to (each once).
    std::set<Var*> prepared;
    for (int e = 0; e < entries_; ++e)
      for (int s : stored_) {
        Var* v = vars[e * k_h + s].get();
        tensorflow::Tensor* t = v->tensor();
        if (!t->IsInitialized())
          return ctx.Fail(TF_FAILED_PRECONDITION, "Attempting to use uninitialized variables");
        if (!prepared.insert(v).second) continue;
        if (v->copy_on_read_mode.load() || !t->RefCountIsOne()) {
          tensorflow::Tensor fresh;
          if (!cc->allocate_temp(t->dtype(), t->shape(), &fresh).ok())
            return ctx.Fail(TF_RESOURCE_EXHAUSTED, "OOM copying a variable for " + std::string(kOp));
          ctx.stream()->CopyDeviceToDevice(Address(fresh), Address(*t), t->TotalBytes());
          *t = fresh;
        }
      }

    const int entry_words = 2 + 3 * slots;
    std::vector<uint32_t> words(static_cast<size_t>(entries_) * entry_words);
    int64_t total = 0;
    for (int e = 0; e < entries_; ++e) {
      uint32_t* w = &words[static_cast<size_t>(e) * entry_words];
      const tensorflow::Tensor& first = *vars[e * k_h + *stored_.begin()]->tensor();
      const int64_t n = first.NumElements();
      w[0] = static_cast<uint32_t>(total);
      w[1] = static_cast<uint32_t>(n);
      for (int s = 0; s < slots; ++s) {
        const tensorflow::Tensor* t;
        if (s < k_h) {
          t = vars[e * k_h + s]->tensor();
          if (!t->IsInitialized())
            return ctx.Fail(TF_FAILED_PRECONDITION, "Attempting to use uninitialized variables");
        } else {
          t = &cc->input(num_handles + e * k_t + (s - k_h));
        }
        if (t->dtype() != tensorflow::DT_FLOAT && t->dtype() != tensorflow::DT_HALF)
          return ctx.Fail(TF_INVALID_ARGUMENT,
                          std::string(kOp) + " takes float32 and float16 tensors, not " +
                              tensorflow::DataTypeString(t->dtype()));
        const int64_t count = t->NumElements();
        const bool full = count == n && (s < k_h ? t->shape().IsSameSize(first.shape()) : true);
        if (!full && !(count == 1 && t->dims() <= first.dims()))
          return ctx.Fail(TF_INVALID_ARGUMENT,
                          std::string(kOp) + ": shapes " + first.shape().DebugString() + " and " +
                              t->shape().DebugString() + " do not match");
        if (stored_.count(s) && !full)
          return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kOp) + ": variables of shapes " +
                                                   first.shape().DebugString() + " and " +
                                                   t->shape().DebugString());
        const uint64_t a = count ? Address(*t) : 0;
        w[2 + 3 * s] = static_cast<uint32_t>(a);
        w[3 + 3 * s] = static_cast<uint32_t>(a >> 32);
        w[4 + 3 * s] = (full ? 1u : 0u) | (t->dtype() == tensorflow::DT_HALF ? 2u : 0u);
      }
      total += n;
    }
    if (!ctx.CheckElements(total)) return;
    if (total == 0) return;
    Push p{};
    p.entries = static_cast<uint32_t>(entries_);
    p.entry_words = static_cast<uint32_t>(entry_words);
    p.prog_off = static_cast<uint32_t>(words.size());
    p.prog_len = static_cast<uint32_t>(program_.size() / 4);
    for (int64_t x : program_) words.push_back(static_cast<uint32_t>(x));
    p.const_off = static_cast<uint32_t>(words.size());
    for (int64_t x : consts_) words.push_back(static_cast<uint32_t>(x));
    p.total = static_cast<uint32_t>(total);
    Tensor table = ctx.allocate_temp({static_cast<int64_t>(words.size())}, TF_INT32);
    if (!ctx.ok()) return;
    ctx.stream()->CopyHostToDevice(table.address(), words.data(), words.size() * 4);
    p.table = table.address();
    ctx.Dispatch("fused_update", p, OpContext::GridFor(total));
  }

 private:
  int entries_, num_handles_;
  std::vector<int64_t> program_, consts_;
  std::set<int> stored_;
};

void RegisterOpDef() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kOp);
  TF_OpDefinitionBuilderAddInput(b, "handles: num_handles * resource");
  TF_OpDefinitionBuilderAddInput(b, "tensors: Tin");
  TF_OpDefinitionBuilderAddAttr(b, "num_handles: int >= 1");
  TF_OpDefinitionBuilderAddAttr(b, "Tin: list({float, half}) >= 0");
  TF_OpDefinitionBuilderAddAttr(b, "N: int >= 1");
  TF_OpDefinitionBuilderAddAttr(b, "program: list(int)");
  TF_OpDefinitionBuilderAddAttr(b, "const_bits: list(int) = []");
  TF_OpDefinitionBuilderSetIsStateful(b, true);
  TF_Status* s = TF_NewStatus();
  TF_RegisterOpDefinition(b, s);
  TF_DeleteStatus(s);
}

}  // namespace

void RegisterFusedUpdateKernels() {
  RegisterOpDef();
  TF_KernelBuilder* b = TF_NewKernelBuilder(kOp, "GPU", &internal::Create<FusedUpdateOp>,
                                            &internal::Compute, &internal::Delete);
  internal::Register(kOp, b, {}, {"handles"}, 1);
}

}  // namespace tfmp
