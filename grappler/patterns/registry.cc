// The one list of fusion patterns, largest first: a bigger pattern claims its
// nodes before a smaller one that shares them can (stable among equals, so
// the order below breaks ties).
#include <algorithm>

#include "grappler/pattern.h"

namespace tfmp {
namespace grappler {

const std::vector<Pattern>& AllPatterns() {
  static const std::vector<Pattern>* all = [] {
    auto* v = new std::vector<Pattern>;
    AddConvPatterns(v);
    AddMatMulPatterns(v);
    AddBatchNormFoldingPatterns(v);
    AddBatchMatMulPatterns(v);
    AddElementwisePatterns(v);
    std::stable_sort(v->begin(), v->end(),
                     [](const Pattern& a, const Pattern& b) { return a.size() > b.size(); });
    return v;
  }();
  return *all;
}

const std::vector<GraphRewrite>& AllRewrites() {
  static const std::vector<GraphRewrite>* all = [] {
    auto* v = new std::vector<GraphRewrite>;
    AddAllFiniteRewrites(v);  // first: optimizer_identity_n frees the unscale for the updates
    AddOptimizerRewrites(v);
    AddConvRewrites(v);
    AddMatMulRewrites(v);
    return v;
  }();
  return *all;
}

}  // namespace grappler
}  // namespace tfmp
