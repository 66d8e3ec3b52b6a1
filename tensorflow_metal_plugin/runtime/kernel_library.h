// The compiled kernel library: every shader variant, compiled to SPIR-V at
// build time from kernels/shaders/ by tools/gen_shaders.py and embedded in the
// plugin. Kernels are named by op token, e.g. "binary_add_f32".
#ifndef TFMP_RUNTIME_KERNEL_LIBRARY_H_
#define TFMP_RUNTIME_KERNEL_LIBRARY_H_

#include <cstddef>
#include <cstdint>

namespace tfmp {
namespace rt {

struct KernelBinary {
  const char* name;
  const uint32_t* spirv;
  size_t spirv_bytes;
  uint32_t push_constant_bytes;  // as declared by the shader (checked at build)
  bool needs_fp16;               // uses 16-bit storage or arithmetic
  bool needs_int8;               // uses 8-bit storage (bool tensors)
  // A device feature the kernel needs beyond the baseline ("" for none), from
  // kernels/shaders/variants.py's REQUIRES: "coopmat_nv" (DeviceInfo::coopmat_f16).
  const char* requires_feature;
};

// nullptr if there is no kernel of that name.
const KernelBinary* FindKernelBinary(const char* name);
const KernelBinary* KernelBinaries(size_t* count);

}  // namespace rt
}  // namespace tfmp

#endif  // TFMP_RUNTIME_KERNEL_LIBRARY_H_
