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

// fused_update_spec.comp: the program as specialization constants (ids 0:
// instructions, 1..4: slot kinds, 5..68: the program, 69..100: constants).
constexpr int kSpecInstructions = 64, kSpecConsts = 32;
constexpr int kSpecCount = 5 + kSpecInstructions + kSpecConsts + 1;  // + 101: slots
struct SpecPush {
  uint64_t table;
  uint32_t entry_words, chunk_off, chunks, chunk;
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
    Specialize();
  }

  // The specialized shader's program: one word per instruction (see
  // fused_update_spec.comp); spec_ok_ false when the program does not fit it.
  void Specialize() {
    spec_prog_.clear();
    spec_ok_ = program_.size() / 4 <= kSpecInstructions && consts_.size() <= kSpecConsts;
    for (size_t k = 0; spec_ok_ && k + 3 < program_.size(); k += 4) {
      const int64_t code = program_[k], op = code & 255, dst = program_[k + 1],
                    a = program_[k + 2], b = program_[k + 3];
      spec_ok_ = op < 16 && (code & ~int64_t{256 | 255}) == 0 && dst >= 0 && dst < 64 &&
                 a >= 0 && a < 512 && b >= 0 && b < 512;
      spec_prog_.push_back(static_cast<uint32_t>(op | ((code & 256) ? 16 : 0) | dst << 5 | a << 11 |
                                                 b << 20));
    }
  }

  // One workgroup per chunk of an entry, from a chunk table: false (nothing
  // recorded) when the slots' kinds differ between entries (the interpreter
  // reads them per entry).
  bool DispatchSpecialized(OpContext& ctx, const std::vector<uint32_t>& words,
                           const std::vector<int64_t>& sizes, int slots, int64_t total) {
    const int old_words = 2 + 3 * slots, entry_words = 1 + 2 * slots;
    std::vector<uint32_t> spec(kSpecCount, 0);
    spec[0] = static_cast<uint32_t>(spec_prog_.size());
    for (int s = 0; s < slots; ++s) {
      // Bit 1 (float16) must agree; bit 0 (n elements or one) only where
      // n > 1 (in a one-element entry both read element 0).
      int half = -1, full = -1;
      for (int e = 0; e < entries_; ++e) {
        const int ke = static_cast<int>(words[static_cast<size_t>(e) * old_words + 4 + 3 * s]);
        if (half >= 0 && (ke & 2) != half) return false;
        half = ke & 2;
        if (sizes[e] <= 1) continue;
        if (full >= 0 && (ke & 1) != full) return false;
        full = ke & 1;
      }
      const uint32_t k = static_cast<uint32_t>(half | (full >= 0 ? full : 1));
      spec[1 + s / 16] |= k << (2 * (s % 16));
    }
    std::copy(spec_prog_.begin(), spec_prog_.end(), spec.begin() + 5);
    spec[kSpecCount - 1] = static_cast<uint32_t>(slots);
    for (size_t c = 0; c < consts_.size(); ++c) spec[5 + kSpecInstructions + c] = static_cast<uint32_t>(consts_[c]);
    // Chunks of 256 elements (one per invocation), larger for huge steps.
    int64_t chunk = 256;
    while (total / chunk + entries_ > (int64_t{1} << 17)) chunk *= 2;
    std::vector<uint32_t> table(static_cast<size_t>(entries_) * entry_words);
    for (int e = 0; e < entries_; ++e) {
      uint32_t* w = &table[static_cast<size_t>(e) * entry_words];
      const uint32_t* o = &words[static_cast<size_t>(e) * old_words];
      w[0] = o[1];
      for (int s = 0; s < slots; ++s) {
        w[1 + 2 * s] = o[2 + 3 * s];
        w[2 + 2 * s] = o[3 + 3 * s];
      }
    }
    SpecPush p{};
    p.entry_words = static_cast<uint32_t>(entry_words);
    p.chunk_off = static_cast<uint32_t>(table.size());
    p.chunk = static_cast<uint32_t>(chunk);
    for (int e = 0; e < entries_; ++e)
      for (int64_t first = 0; first < sizes[e]; first += chunk) {
        table.push_back(static_cast<uint32_t>(e));
        table.push_back(static_cast<uint32_t>(first));
      }
    p.chunks = static_cast<uint32_t>((table.size() - p.chunk_off) / 2);
    p.table = table_cache_.Upload(ctx, table.data(), table.size() * 4);
    if (!ctx.ok()) return true;
    const uint32_t gx = std::min<uint32_t>(p.chunks, 65535), gy = (p.chunks + gx - 1) / gx;
    const size_t len = spec_prog_.size();  // the variant with the fewest slots that fit
    ctx.DispatchSpecialized(len <= 16 ? "fused_update_spec_p16" : len <= 32 ? "fused_update_spec_p32"
                                      : "fused_update_spec", spec, p, gx, gy);
    return true;
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

    // Copy-on-write of the variables stored to (each once: sorted, no
    // duplicates; one allocation, not a set node per variable).
    std::vector<Var*> stored;
    stored.reserve(static_cast<size_t>(entries_) * stored_.size());
    for (int e = 0; e < entries_; ++e)
      for (int s : stored_) stored.push_back(vars[e * k_h + s].get());
    std::sort(stored.begin(), stored.end());
    stored.erase(std::unique(stored.begin(), stored.end()), stored.end());
    for (Var* v : stored) {
      tensorflow::Tensor* t = v->tensor();
      if (!t->IsInitialized())
        return ctx.Fail(TF_FAILED_PRECONDITION, "Attempting to use uninitialized variables");
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
    std::vector<int64_t> sizes(entries_);
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
      sizes[e] = n;
      total += n;
    }
    if (!ctx.CheckElements(total)) return;
    if (total == 0) return;
    if (spec_ok_ && DispatchSpecialized(ctx, words, sizes, slots, total)) return;
    Push p{};
    p.entries = static_cast<uint32_t>(entries_);
    p.entry_words = static_cast<uint32_t>(entry_words);
    p.prog_off = static_cast<uint32_t>(words.size());
    p.prog_len = static_cast<uint32_t>(program_.size() / 4);
    for (int64_t x : program_) words.push_back(static_cast<uint32_t>(x));
    p.const_off = static_cast<uint32_t>(words.size());
    for (int64_t x : consts_) words.push_back(static_cast<uint32_t>(x));
    p.total = static_cast<uint32_t>(total);
    p.table = table_cache_.Upload(ctx, words.data(), words.size() * 4);
    if (!ctx.ok()) return;
    ctx.Dispatch("fused_update", p, OpContext::GridFor(total));
  }

 private:
  int entries_, num_handles_;
  std::vector<int64_t> program_, consts_;
  std::set<int> stored_;
  std::vector<uint32_t> spec_prog_;
  bool spec_ok_ = false;
  // The chunk table: the same every step while the variables, slots and
  // gradients keep their addresses.
  ParamCache table_cache_;
};

// _TfmpAllFinite: whether every element of every input is finite (float32 or
// float16 inputs; a bool scalar), one dispatch for all of them
// (shaders/all_finite.comp). The Grappler pass makes it from
// LossScaleOptimizer's all(stack([all(is_finite(g)) for g in grads]))
// (grappler/patterns/all_finite.cc).
constexpr char kAllFiniteOp[] = "_TfmpAllFinite";

struct AllFinitePush {
  uint64_t table, out;
  uint32_t chunk_off, chunks, chunk;
};

class AllFiniteOp : public OpKernel {
 public:
  explicit AllFiniteOp(OpConstruction&) {}
  void Compute(OpContext& ctx) override {
    const int num = ctx.num_inputs();
    std::vector<uint32_t> table;
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (int i = 0; i < num; ++i) {
      Tensor t = ctx.input(i);
      if (!ctx.ok()) return;
      if (t.dtype() != TF_FLOAT && t.dtype() != TF_HALF)
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kAllFiniteOp) + " takes float32 and float16 tensors");
      const int64_t n = t.num_elements();
      if (n >= (int64_t{1} << 31))
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kAllFiniteOp) + ": a tensor of 2^31 or more elements");
      const uint64_t a = t.address();
      table.push_back(static_cast<uint32_t>(a));
      table.push_back(static_cast<uint32_t>(a >> 32));
      table.push_back(static_cast<uint32_t>(n) | (t.dtype() == TF_HALF ? 0x80000000u : 0u));
      sizes.push_back(n);
      total += n;
    }
    Tensor out = ctx.allocate_output(0, {}, TF_BOOL);
    if (!ctx.ok()) return;
    ctx.stream()->Fill(out.address(), 1u, 1);  // true until a workgroup finds otherwise
    if (total == 0) return;
    int64_t chunk = 1024;
    while (total / chunk + num > (int64_t{1} << 17)) chunk *= 2;
    AllFinitePush p{};
    p.chunk_off = static_cast<uint32_t>(table.size());
    p.chunk = static_cast<uint32_t>(chunk);
    for (int i = 0; i < num; ++i)
      for (int64_t first = 0; first < sizes[i]; first += chunk) {
        table.push_back(static_cast<uint32_t>(i));
        table.push_back(static_cast<uint32_t>(first));
      }
    p.chunks = static_cast<uint32_t>((table.size() - p.chunk_off) / 2);
    Tensor t = ctx.allocate_temp({static_cast<int64_t>(table.size())}, TF_INT32);
    if (!ctx.ok()) return;
    ctx.stream()->CopyHostToDevice(t.address(), table.data(), table.size() * 4);
    p.table = t.address();
    p.out = out.address();
    const uint32_t gx = std::min<uint32_t>(p.chunks, 65535), gy = (p.chunks + gx - 1) / gx;
    ctx.Dispatch("all_finite", p, gx, gy);
  }
};

void ScalarShapeFn(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* scalar = TF_ShapeInferenceContextScalar(ctx);
  TF_ShapeInferenceContextSetOutput(ctx, 0, scalar, status);
  TF_DeleteShapeHandle(scalar);
}

void RegisterAllFiniteOpDef() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kAllFiniteOp);
  TF_OpDefinitionBuilderAddInput(b, "x: T");
  TF_OpDefinitionBuilderAddOutput(b, "all_finite: bool");
  TF_OpDefinitionBuilderAddAttr(b, "T: list({float, half}) >= 1");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, ScalarShapeFn);
  RegisterOpDefinition(kAllFiniteOp, b);
}

// LossScaleOptimizer's growth cond and the inner optimizer's iteration
// increment (grappler/patterns/loss_scale.cc): one invocation.
constexpr char kLossScaleOp[] = "_TfmpLossScaleStep";

struct LossScalePush {
  uint64_t counter_in, scale_in, iter_in, counter_out, scale_out, iter_out, step_out;
  int64_t grow_at;
};

class LossScaleStepOp : public OpKernel {
 public:
  explicit LossScaleStepOp(OpConstruction& c)
      : grow_at_(c.GetInt("grow_at")), iterations_(c.GetInt("Ni") > 0) {}
  void Compute(OpContext& ctx) override {
    Tensor counter = ctx.input(0), scale = ctx.input(1);
    Tensor iter = iterations_ ? ctx.input(2) : Tensor();
    if (!ctx.ok()) return;
    if (counter.num_elements() != 1 || scale.num_elements() != 1 ||
        (iterations_ && iter.num_elements() != 1))
      return ctx.Fail(TF_INVALID_ARGUMENT, std::string(kLossScaleOp) + " takes scalars");
    Tensor counter_out = ctx.allocate_output(0, {}, TF_INT64);
    Tensor scale_out = ctx.allocate_output(1, {}, TF_FLOAT);
    Tensor iter_out, step_out, scratch;
    if (iterations_) {
      iter_out = ctx.allocate_output(2, {}, TF_INT64);
      step_out = ctx.allocate_output(3, {}, TF_FLOAT);
    } else {
      // The shader always counts: a scratch int64 and float (read as 0).
      scratch = ctx.allocate_temp({3}, TF_INT64);
    }
    if (!ctx.ok()) return;
    LossScalePush p{};
    p.counter_in = counter.address();
    p.scale_in = scale.address();
    p.counter_out = counter_out.address();
    p.scale_out = scale_out.address();
    if (iterations_) {
      p.iter_in = iter.address();
      p.iter_out = iter_out.address();
      p.step_out = step_out.address();
    } else {
      p.iter_in = scratch.address();
      p.iter_out = scratch.address() + 8;
      p.step_out = scratch.address() + 16;
    }
    p.grow_at = grow_at_;
    ctx.Dispatch("loss_scale_step", p, 1);
  }

 private:
  int64_t grow_at_;
  bool iterations_;
};

void ScalarListShapeFn(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  TF_ShapeHandle* scalar = TF_ShapeInferenceContextScalar(ctx);
  const int64_t n = 2 * TF_ShapeInferenceContextNumInputs(ctx) - 2;  // 2 + Ni inputs, 2 + 2 Ni outputs
  for (int64_t i = 0; i < n; ++i) TF_ShapeInferenceContextSetOutput(ctx, static_cast<int>(i), scalar, status);
  TF_DeleteShapeHandle(scalar);
}

void RegisterLossScaleOpDef() {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kLossScaleOp);
  TF_OpDefinitionBuilderAddInput(b, "counter: int64");
  TF_OpDefinitionBuilderAddInput(b, "scale: float");
  TF_OpDefinitionBuilderAddInput(b, "iteration: Ni * int64");
  TF_OpDefinitionBuilderAddOutput(b, "new_counter: int64");
  TF_OpDefinitionBuilderAddOutput(b, "new_scale: float");
  TF_OpDefinitionBuilderAddOutput(b, "new_iteration: Ni * int64");
  TF_OpDefinitionBuilderAddOutput(b, "step: Ni * float");
  TF_OpDefinitionBuilderAddAttr(b, "grow_at: int");
  TF_OpDefinitionBuilderAddAttr(b, "Ni: int >= 0");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, ScalarListShapeFn);
  RegisterOpDefinition(kLossScaleOp, b);
}

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
  RegisterOpDefinition(kOp, b);
}

}  // namespace

void RegisterFusedUpdateKernels() {
  RegisterOpDef();
  RegisterAllFiniteOpDef();
  RegisterKernel<AllFiniteOp>(kAllFiniteOp, {});
  RegisterLossScaleOpDef();
  RegisterKernel<LossScaleStepOp>(kLossScaleOp, {});
  TF_KernelBuilder* b = TF_NewKernelBuilder(kOp, "GPU", &internal::Create<FusedUpdateOp>,
                                            &internal::Compute, &internal::Delete);
  internal::Register(kOp, b, {}, {"handles"}, 1);
}

}  // namespace tfmp
