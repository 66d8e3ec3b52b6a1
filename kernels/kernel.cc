#include "kernels/kernel.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow_metal_plugin/profile.h"
#include "tensorflow_metal_plugin/se_types.h"

namespace tfmp {

std::string ShapeString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t NumElements(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

const char* DtypeToken(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "f32";
    case TF_HALF: return "f16";
    case TF_INT32: return "i32";
    case TF_INT64: return "i64";
    case TF_BOOL: return "bool";
    default: return "";
  }
}

size_t DtypeSize(TF_DataType t) { return TF_DataTypeSize(t); }

std::string DtypeName(TF_DataType t) {
  switch (t) {
    case TF_FLOAT: return "float";
    case TF_HALF: return "half";
    case TF_INT32: return "int32";
    case TF_INT64: return "int64";
    case TF_BOOL: return "bool";
    case TF_DOUBLE: return "double";
    default: return "dtype " + std::to_string(static_cast<int>(t));
  }
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    if (t_ && owned_) TF_DeleteTensor(t_);
    t_ = o.t_;
    owned_ = o.owned_;
    o.t_ = nullptr;
  }
  return *this;
}

Tensor::~Tensor() {
  if (t_ && owned_) TF_DeleteTensor(t_);
}

std::vector<int64_t> Tensor::host_ints() const {
  std::vector<int64_t> v(num_elements());
  for (size_t i = 0; i < v.size(); ++i) {
    switch (dtype()) {
      case TF_INT64: v[i] = host_data<int64_t>()[i]; break;
      case TF_INT16: v[i] = host_data<int16_t>()[i]; break;
      case TF_INT8: v[i] = host_data<int8_t>()[i]; break;
      default: v[i] = host_data<int32_t>()[i]; break;
    }
  }
  return v;
}

Shape Tensor::shape() const {
  Shape s(dims());
  for (int i = 0; i < dims(); ++i) s[i] = dim(i);
  return s;
}

// --- OpConstruction -----------------------------------------------------------

bool OpConstruction::GetBool(const char* name, bool fallback) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return fallback;
  TF_Status* s = TF_NewStatus();
  TF_Bool v = fallback;
  TF_OpKernelConstruction_GetAttrBool(c_, name, &v, s);
  if (TF_GetCode(s) != TF_OK) Fail(TF_GetCode(s), TF_Message(s));
  TF_DeleteStatus(s);
  return v;
}

int64_t OpConstruction::GetInt(const char* name, int64_t fallback) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return fallback;
  TF_Status* s = TF_NewStatus();
  int64_t v = fallback;
  TF_OpKernelConstruction_GetAttrInt64(c_, name, &v, s);
  if (TF_GetCode(s) != TF_OK) Fail(TF_GetCode(s), TF_Message(s));
  TF_DeleteStatus(s);
  return v;
}

TF_DataType OpConstruction::GetType(const char* name) {
  TF_Status* s = TF_NewStatus();
  TF_DataType v = TF_FLOAT;
  TF_OpKernelConstruction_GetAttrType(c_, name, &v, s);
  if (TF_GetCode(s) != TF_OK) Fail(TF_GetCode(s), TF_Message(s));
  TF_DeleteStatus(s);
  return v;
}

std::string OpConstruction::GetString(const char* name, const std::string& fallback) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return fallback;
  TF_Status* s = TF_NewStatus();
  int32_t list_size = 0, total_size = 0;
  TF_OpKernelConstruction_GetAttrSize(c_, name, &list_size, &total_size, s);
  std::string v(total_size > 0 ? total_size : 0, '\0');
  if (TF_GetCode(s) == TF_OK && total_size > 0)
    TF_OpKernelConstruction_GetAttrString(c_, name, &v[0], total_size, s);
  if (TF_GetCode(s) != TF_OK) {
    Fail(TF_GetCode(s), TF_Message(s));
    v = fallback;
  }
  TF_DeleteStatus(s);
  return v;
}

std::vector<int64_t> OpConstruction::GetIntList(const char* name,
                                                const std::vector<int64_t>& fallback) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return fallback;
  TF_Status* s = TF_NewStatus();
  int32_t list_size = 0, total_size = 0;
  TF_OpKernelConstruction_GetAttrSize(c_, name, &list_size, &total_size, s);
  std::vector<int64_t> v(list_size > 0 ? list_size : 0);
  if (TF_GetCode(s) == TF_OK && list_size > 0)
    TF_OpKernelConstruction_GetAttrInt64List(c_, name, v.data(), list_size, s);
  if (TF_GetCode(s) != TF_OK) {
    Fail(TF_GetCode(s), TF_Message(s));
    v = fallback;
  }
  TF_DeleteStatus(s);
  return v;
}

std::vector<float> OpConstruction::GetFloatList(const char* name) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return {};
  TF_Status* s = TF_NewStatus();
  int32_t list_size = 0, total_size = 0;
  TF_OpKernelConstruction_GetAttrSize(c_, name, &list_size, &total_size, s);
  std::vector<float> v(list_size > 0 ? list_size : 0);
  if (TF_GetCode(s) == TF_OK && list_size > 0)
    TF_OpKernelConstruction_GetAttrFloatList(c_, name, v.data(), list_size, s);
  if (TF_GetCode(s) != TF_OK) {
    Fail(TF_GetCode(s), TF_Message(s));
    v.clear();
  }
  TF_DeleteStatus(s);
  return v;
}

std::vector<std::string> OpConstruction::GetStringList(const char* name) {
  std::vector<std::string> out;
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return out;
  TF_Status* s = TF_NewStatus();
  int32_t list_size = 0, total_size = 0;
  TF_OpKernelConstruction_GetAttrSize(c_, name, &list_size, &total_size, s);
  if (TF_GetCode(s) == TF_OK && list_size > 0) {
    std::vector<char*> values(list_size);
    std::vector<size_t> lengths(list_size);
    std::vector<char> storage(total_size > 0 ? total_size : 1);
    TF_OpKernelConstruction_GetAttrStringList(c_, name, values.data(), lengths.data(), list_size,
                                              storage.data(), storage.size(), s);
    if (TF_GetCode(s) == TF_OK)
      for (int i = 0; i < list_size; ++i) out.emplace_back(values[i], lengths[i]);
  }
  if (TF_GetCode(s) != TF_OK) Fail(TF_GetCode(s), TF_Message(s));
  TF_DeleteStatus(s);
  return out;
}

float OpConstruction::GetFloat(const char* name, float fallback) {
  if (!TF_OpKernelConstruction_HasAttr(c_, name, nullptr)) return fallback;
  TF_Status* s = TF_NewStatus();
  float v = fallback;
  TF_OpKernelConstruction_GetAttrFloat(c_, name, &v, s);
  if (TF_GetCode(s) != TF_OK) Fail(TF_GetCode(s), TF_Message(s));
  TF_DeleteStatus(s);
  return v;
}

void OpConstruction::Fail(TF_Code code, const std::string& message) {
  if (!ok_) return;
  ok_ = false;
  TF_Status* s = TF_NewStatus();
  TF_SetStatus(s, code, message.c_str());
  TF_OpKernelConstruction_Failure(c_, s);
  TF_DeleteStatus(s);
}

// --- OpContext ----------------------------------------------------------------

OpContext::OpContext(TF_OpKernelContext* ctx) : ctx_(ctx), status_(TF_NewStatus()) {
  SP_Stream s = TF_GetStream(ctx_, status_);
  if (TF_GetCode(status_) != TF_OK || !s) {
    Fail(TF_INTERNAL, "no device stream for this kernel");
    return;
  }
  stream_ = StreamOf(s);
}

OpContext::~OpContext() {
  for (TF_Tensor* t : temps_) TF_DeleteTensor(t);
  TF_DeleteStatus(status_);
}

void OpContext::Fail(TF_Code code, const std::string& message) {
  if (!ok_) return;
  ok_ = false;
  TF_SetStatus(status_, code, message.c_str());
  TF_OpKernelContext_Failure(ctx_, status_);
}

bool OpContext::CheckElements(int64_t n) {
  if (n <= 0xffffffffll) return true;
  Fail(TF_UNIMPLEMENTED, "tensors of more than 2^32 elements are not supported yet");
  return false;
}

namespace {
void AddRange(std::vector<rt::MemRange>* set, uint64_t address, uint64_t bytes) {
  if (!address || !bytes) return;
  for (const rt::MemRange& r : *set)
    if (r.begin <= address && address + bytes <= r.end) return;  // already covered
  set->push_back({address, address + bytes});
}
}  // namespace

void OpContext::DeclareRead(uint64_t address, uint64_t bytes) { AddRange(&reads_, address, bytes); }

void OpContext::DeclareWrite(uint64_t address, uint64_t bytes) {
  AddRange(&writes_, address, bytes);
}

void OpContext::DispatchBytes(const char* kernel, const void* push, uint32_t push_bytes,
                              uint32_t gx, uint32_t gy, uint32_t gz, const uint32_t* spec,
                              uint32_t spec_count) {
  if (opaque_) {
    stream_->DispatchSpecialized(kernel, spec, spec_count, push, push_bytes, gx, gy, gz, nullptr);
    return;
  }
  rt::MemAccess access;
  access.reads = reads_.data();
  access.num_reads = static_cast<uint32_t>(reads_.size());
  access.writes = writes_.data();
  access.num_writes = static_cast<uint32_t>(writes_.size());
  stream_->DispatchSpecialized(kernel, spec, spec_count, push, push_bytes, gx, gy, gz, &access);
}

Tensor OpContext::input(int i) {
  TF_Tensor* t = nullptr;
  TF_GetInput(ctx_, i, &t, status_);
  if (TF_GetCode(status_) != TF_OK) Fail(TF_GetCode(status_), TF_Message(status_));
  if (t) DeclareRead(reinterpret_cast<uint64_t>(TF_TensorData(t)), TF_TensorByteSize(t));
  return Tensor(t);
}

Tensor OpContext::allocate_output(int i, const Shape& shape, TF_DataType dtype) {
  TF_Tensor* t = TF_AllocateOutput(ctx_, i, dtype, shape.data(), static_cast<int>(shape.size()),
                                   NumElements(shape) * DtypeSize(dtype), status_);
  if (TF_GetCode(status_) != TF_OK) {
    Fail(TF_GetCode(status_), TF_Message(status_));
    if (t) TF_DeleteTensor(t);
    return Tensor();
  }
  DeclareWrite(reinterpret_cast<uint64_t>(TF_TensorData(t)), TF_TensorByteSize(t));
  return Tensor(t);
}

Tensor OpContext::forward_or_allocate_output(int input_index, int i, const Shape& shape,
                                             TF_DataType dtype) {
  int candidates[1] = {input_index};
  int forwarded = -1;
  TF_Tensor* t = TF_ForwardInputOrAllocateOutput(ctx_, candidates, 1, i, shape.data(),
                                                 static_cast<int>(shape.size()), &forwarded,
                                                 status_);
  if (TF_GetCode(status_) != TF_OK) {
    Fail(TF_GetCode(status_), TF_Message(status_));
    if (t) TF_DeleteTensor(t);
    return Tensor();
  }
  DeclareWrite(reinterpret_cast<uint64_t>(TF_TensorData(t)), TF_TensorByteSize(t));
  return Tensor(t);
}

TF_Tensor* OpContext::AllocateDeviceTemp(const int64_t* dims, int rank, TF_DataType dtype) {
  TF_AllocatorAttributes attr;
  attr.struct_size = TF_ALLOCATOR_ATTRIBUTES_STRUCT_SIZE;
  attr.on_host = 0;
  TF_Tensor* t = TF_AllocateTemp(ctx_, dtype, dims, rank, &attr, status_);
  if (TF_GetCode(status_) != TF_OK) {
    Fail(TF_GetCode(status_), TF_Message(status_));
    if (t) TF_DeleteTensor(t);
    return nullptr;
  }
  return t;
}

Tensor OpContext::allocate_temp(const Shape& shape, TF_DataType dtype) {
  TF_Tensor* t = AllocateDeviceTemp(shape.data(), static_cast<int>(shape.size()), dtype);
  if (!t) return Tensor();
  DeclareWrite(reinterpret_cast<uint64_t>(TF_TensorData(t)), TF_TensorByteSize(t));
  temps_.push_back(t);
  return Tensor(t, /*owned=*/false);
}

std::shared_ptr<TF_Tensor> OpContext::allocate_owned(int64_t bytes) {
  TF_Tensor* t = AllocateDeviceTemp(&bytes, 1, TF_UINT8);
  if (!t) return nullptr;
  return std::shared_ptr<TF_Tensor>(t, TF_DeleteTensor);
}

uint64_t ParamCache::Upload(OpContext& ctx, const void* data, size_t bytes) {
  std::shared_ptr<TF_Tensor> buffer;
  {
    // The copy is recorded under mu_: a concurrent Compute that finds the
    // new buffer records its reads after the copy (same device, same stream).
    std::lock_guard<std::mutex> lock(mu_);
    if (!buffer_ || bytes_.size() != bytes || std::memcmp(bytes_.data(), data, bytes) != 0) {
      bytes_.clear();
      buffer_ = ctx.allocate_owned(static_cast<int64_t>(bytes));
      if (!buffer_) return 0;
      ctx.stream()->CopyHostToDevice(reinterpret_cast<uint64_t>(TF_TensorData(buffer_.get())), data,
                                     bytes);
      bytes_.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
    }
    buffer = buffer_;
  }
  const uint64_t address = reinterpret_cast<uint64_t>(TF_TensorData(buffer.get()));
  ctx.DeclareRead(address, bytes);
  ctx.hold(std::move(buffer));
  return address;
}

void OpContext::set_output(int i, const Tensor& t) {
  TF_SetOutput(ctx_, i, t.get(), status_);
  if (TF_GetCode(status_) != TF_OK) Fail(TF_GetCode(status_), TF_Message(status_));
}

uint32_t OpContext::GridFor(int64_t n, uint32_t local) {
  // Enough workgroups to fill any GPU; the shaders loop over the rest.
  constexpr int64_t kMaxGroups = 65535;
  int64_t groups = (n + local - 1) / local;
  if (groups < 1) groups = 1;
  return static_cast<uint32_t>(groups < kMaxGroups ? groups : kMaxGroups);
}

// --- registration -------------------------------------------------------------

namespace internal {

void Compute(void* kernel, TF_OpKernelContext* ctx) {
  if (!rt::Profiling()) {
    OpContext c(ctx);
    if (c.ok()) static_cast<OpKernel*>(kernel)->Compute(c);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  {
    OpContext c(ctx);
    if (c.ok()) static_cast<OpKernel*>(kernel)->Compute(c);
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
  auto* cc = reinterpret_cast<tensorflow::OpKernelContext*>(ctx);
  ProfileOp(cc->op_kernel().type_string(), static_cast<uint64_t>(ns));
}

void Register(const char* op, TF_KernelBuilder* builder,
              std::initializer_list<std::pair<const char*, TF_DataType>> types,
              std::initializer_list<const char*> host_memory, int32_t priority) {
  TF_Status* s = TF_NewStatus();
  for (const auto& t : types) {
    TF_KernelBuilder_TypeConstraint(builder, t.first, t.second, s);
    if (TF_GetCode(s) != TF_OK) break;
  }
  for (const char* arg : host_memory) TF_KernelBuilder_HostMemory(builder, arg);
  if (priority) TF_KernelBuilder_Priority(builder, priority);
  if (TF_GetCode(s) == TF_OK) TF_RegisterKernelBuilder(op, builder, s);
  if (TF_GetCode(s) != TF_OK) {
    // A registration error is a bug in this plugin: say which op, loudly.
    std::fprintf(stderr, "tensorflow-metal-plugin: registering a kernel for %s failed: %s\n", op,
                 TF_Message(s));
  }
  TF_DeleteStatus(s);
}

}  // namespace internal

void RegisterOpDefinition(const char* op, TF_OpDefinitionBuilder* b) {
  TF_Status* s = TF_NewStatus();
  TF_RegisterOpDefinition(b, s);
  if (TF_GetCode(s) != TF_OK && TF_GetCode(s) != TF_ALREADY_EXISTS)
    std::fprintf(stderr, "tensorflow-metal-plugin: registering %s failed: %s\n", op, TF_Message(s));
  TF_DeleteStatus(s);
}

}  // namespace tfmp
