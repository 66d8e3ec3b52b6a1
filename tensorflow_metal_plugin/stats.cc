#include "tensorflow_metal_plugin/stats.h"

namespace tfmp {

Stats& GlobalStats() {
  static Stats* stats = new Stats;
  return *stats;
}

}  // namespace tfmp
