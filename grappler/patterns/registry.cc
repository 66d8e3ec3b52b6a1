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
    AddBatchMatMulGradSumPatterns(v);
    AddReduceProloguePatterns(v);
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
    // After optimizer_cse (one iteration increment left), before
    // optimizer_update (the loss scale's growth still plain ops).
    std::vector<GraphRewrite> loss_scale;
    AddLossScaleRewrites(&loss_scale);
    auto cse = std::find_if(v->begin(), v->end(),
                            [](const GraphRewrite& r) { return r.name == "optimizer_cse"; });
    v->insert(cse == v->end() ? v->end() : cse + 1, loss_scale.begin(), loss_scale.end());
    AddConvRewrites(v);
    AddMatMulRewrites(v);
    return v;
  }();
  return *all;
}

}  // namespace grappler
}  // namespace tfmp
