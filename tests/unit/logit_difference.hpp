#pragma once
// How far one set of logits is from another, for tests that compare two arithmetic paths.
#include <cmath>
#include <vector>

// sqrt(sum (x - ref)^2 / sum ref^2)
inline double relative_rms(const std::vector<float>& x, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (x[i] - ref[i]) * double(x[i] - ref[i]);
    den += ref[i] * double(ref[i]);
  }
  return std::sqrt(num / den);
}
