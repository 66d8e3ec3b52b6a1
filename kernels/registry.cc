// The one list of kernel families (DirectML's plugin does the same): adding a
// family is a line here and a Register function in its file.
#include "kernels/kernel.h"

namespace tfmp {

void RegisterAllKernels() {
  RegisterElementwiseKernels();
  RegisterCastKernels();
  RegisterFillKernels();
  RegisterMatMulKernels();
  RegisterBiasAddKernels();
  RegisterReductionKernels();
  RegisterVariableKernels();
  RegisterSoftmaxKernels();
  RegisterSelectKernels();
  RegisterConvKernels();
  RegisterPoolingKernels();
  RegisterDepthwiseConvKernels();
  RegisterDataMovementKernels();
  RegisterRandomKernels();
  RegisterBatchMatMulKernels();
  RegisterGatherKernels();
  RegisterOneHotKernels();
  RegisterRangeKernels();
  RegisterEinsumKernels();
  // padding and image resizing
  RegisterPadKernels();
  RegisterResizeKernels();
  RegisterOptimizerKernels();
  RegisterFusedUpdateKernels();  // after the op definitions it registers
  RegisterFftKernels();
  RegisterLinalgKernels();
  RegisterComplexKernels();
  // Indexing and scans.
  RegisterScanSortKernels();
  RegisterScatterKernels();
  // The Grappler pass's fused elementwise chains.
  RegisterFusedElementwiseKernels();
}

}  // namespace tfmp
