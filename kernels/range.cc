// Range (int32, int64, float32): start, limit and delta are host scalars; the
// values are computed on the host as TF's CPU kernel does (start + i * delta)
// and copied to the device output (no shader).
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"

namespace tfmp {
namespace {

template <typename T>
class RangeOp : public OpKernel {
 public:
  explicit RangeOp(OpConstruction& c) : dtype_(c.GetType("Tidx")) {}

  void Compute(OpContext& ctx) override {
    Tensor start_t = ctx.input(0), limit_t = ctx.input(1), delta_t = ctx.input(2);
    if (!ctx.ok()) return;
    const char* names[] = {"start", "limit", "delta"};
    const Tensor* ts[] = {&start_t, &limit_t, &delta_t};
    for (int i = 0; i < 3; ++i) {
      // TF accepts a scalar or a 1-element vector (deprecated).
      if (ts[i]->dims() > 1 || ts[i]->num_elements() != 1)
        return ctx.Fail(TF_INVALID_ARGUMENT, std::string(names[i]) +
                                                 " must be a scalar, not shape " +
                                                 ShapeString(ts[i]->shape()));
    }
    const T start = start_t.host_data<T>()[0], limit = limit_t.host_data<T>()[0],
            delta = delta_t.host_data<T>()[0];
    if (delta == 0) return ctx.Fail(TF_INVALID_ARGUMENT, "Requires delta != 0: " + Str(delta));
    if (delta > 0 && start > limit)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Requires start <= limit when delta > 0: " +
                                               Str(start) + "/" + Str(limit));
    if (delta < 0 && start < limit)
      return ctx.Fail(TF_INVALID_ARGUMENT, "Requires start >= limit when delta < 0: " +
                                               Str(start) + "/" + Str(limit));
    int64_t size;
    if (std::is_integral<T>::value) {
      const uint64_t span = static_cast<uint64_t>(limit > start ? limit - start : start - limit);
      const uint64_t step = static_cast<uint64_t>(delta > 0 ? delta : -delta);
      size = static_cast<int64_t>((span + step - 1) / step);
    } else {
      const double s = std::ceil(std::abs((static_cast<double>(limit) - start) / delta));
      if (!(s <= 9.2e18))
        return ctx.Fail(TF_INVALID_ARGUMENT, "Requires ((limit - start) / delta) <= 2^63 - 1");
      size = static_cast<int64_t>(s);
    }
    if (!ctx.CheckElements(size)) return;
    Tensor y = ctx.allocate_output(0, {size}, dtype_);
    if (!ctx.ok() || size == 0) return;
    std::vector<T> v(size);
    for (int64_t i = 0; i < size; ++i) v[i] = start + static_cast<T>(i) * delta;
    ctx.stream()->CopyHostToDevice(y.address(), v.data(), size * sizeof(T));
  }

 private:
  static std::string Str(T v) { return std::to_string(v); }
  TF_DataType dtype_;
};

}  // namespace

void RegisterRangeKernels() {
  RegisterKernel<RangeOp<int32_t>>("Range", {{"Tidx", TF_INT32}}, {"start", "limit", "delta"});
  RegisterKernel<RangeOp<int64_t>>("Range", {{"Tidx", TF_INT64}}, {"start", "limit", "delta"});
  RegisterKernel<RangeOp<float>>("Range", {{"Tidx", TF_FLOAT}}, {"start", "limit", "delta"});
}

}  // namespace tfmp
