// Refinement of the coarse χ²(z) minima (redrock's fitz) and the pieces it is
// made of. For every template and target:
//  1. local minima of χ² + penalty on the coarse grid (edges included, ties kept),
//     in increasing order of value;
//  2. for each, unless `nminima` results exist or it lies within max_velo_diff
//     (1000 km/s, STAR 100) of a kept result: 15 (zminfit_npoints) linearly spaced
//     redshifts from z[i−1] to z[i+1], χ² + penalty refitted exactly at each;
//  3. a parabola through the 3 fine points around the fine minimum (the point
//     clamped away from the ends): Z = vertex, ZERR = 1/√a, CHI2 = vertex value.
//     The parabola is computed in coordinates centred on the middle point (exact
//     interpolation, well conditioned); redrock's np.polyfit on raw z gives the
//     same curve up to its rounding. BAD_MINFIT when the vertex is not strictly
//     inside the 3 points, the vertex value ≤ 0, or a ≤ 0 (ZERR = 1/√|a|);
//  4. COEFF refitted at Z; a vertex outside the fine grid is replaced by the
//     fine-grid minimum (BAD_MINFIT); Z_FITLIMIT when Z or the vertex lies
//     outside (z[1], z[nz−2]); a result within max_velo_diff of a kept one is
//     dropped; the kept results are sorted by CHI2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "zwarn.hpp"

namespace specx::redshift {

/// Indices of the local minima of x (x[i] ≤ both neighbours; the ends compare
/// with their one neighbour), ordered by increasing value (stable for ties).
inline std::vector<std::size_t> find_minima(const std::vector<double>& x) {
  std::vector<std::size_t> ii;
  const std::size_t n = x.size();
  for (std::size_t i = 0; i < n; ++i) {
    const bool left = i == 0 || x[i] <= x[i - 1];
    const bool right = i + 1 == n || x[i] <= x[i + 1];
    if (left && right) ii.push_back(i);
  }
  std::stable_sort(ii.begin(), ii.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  return ii;
}

/// Result of fitting y = y0 + ((x − x0)/xerr)² through 3 points.
struct parabola_fit {
  double x0 = -1, xerr = -1, y0 = -1;
  std::int64_t zwarn = 0;
};

/// redrock's minfit on 3 points (x increasing): exact parabola, flags as in step 3.
inline parabola_fit minfit(const double* x, const double* y) {
  parabola_fit r;
  // y = a u² + b u + c with u = x − x[1].
  const double u0 = x[0] - x[1], u2 = x[2] - x[1];
  const double d0 = (y[0] - y[1]) / u0, d2 = (y[2] - y[1]) / u2;  // divided differences
  const double a = (d2 - d0) / (u2 - u0);
  const double b = d0 - a * u0;
  const double c = y[1];
  if (!(a != 0.0) || !std::isfinite(a) || !std::isfinite(b)) {
    r.zwarn = zwarn::bad_minfit;
    return r;
  }
  const double v = -b / (2 * a);
  r.x0 = x[1] + v;
  r.y0 = c - b * b / (4 * a);
  if (r.x0 <= x[0] || r.x0 >= x[2]) r.zwarn |= zwarn::bad_minfit;
  if (r.y0 <= 0.0) r.zwarn |= zwarn::bad_minfit;
  if (a > 0) {
    r.xerr = 1.0 / std::sqrt(a);
  } else {
    r.xerr = 1.0 / std::sqrt(-a);
    r.zwarn |= zwarn::bad_minfit;
  }
  return r;
}

/// numpy.linspace(a, b, n).
inline std::vector<double> linspace(double a, double b, std::size_t n) {
  std::vector<double> z(n);
  if (n == 1) {
    z[0] = a;
    return z;
  }
  const double step = (b - a) / static_cast<double>(n - 1);
  for (std::size_t i = 0; i < n; ++i) z[i] = a + static_cast<double>(i) * step;
  z[n - 1] = b;
  return z;
}

/// redrock's calc_deltachi2 on candidates sorted as zfind sorts them: deltachi2[i]
/// = min over later good fits (no badfit bits) farther than min(dv_i, dv_j) of
/// χ²_j − χ²_i (0 if none); small[i] when any other good fit lies within Δχ² < 9
/// and at least that velocity away.
inline void calc_deltachi2(const std::vector<double>& chi2, const std::vector<double>& z,
                           const std::vector<std::int64_t>& zw, const std::vector<double>& dvlimit,
                           std::vector<double>& deltachi2, std::vector<char>& small) {
  const std::size_t n = chi2.size();
  deltachi2.assign(n, 0.0);
  small.assign(n, 0);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    bool any = false;
    double best = 0;
    for (std::size_t j = i + 1; j < n; ++j) {
      const bool ok = (zw[j] & zwarn::badfit_mask) == 0;
      if (ok && std::abs(velocity_difference(z[j], z[i])) > std::min(dvlimit[i], dvlimit[j])) {
        const double d = chi2[j] - chi2[i];
        best = any ? std::min(best, d) : d;
        any = true;
      }
    }
    if (any) deltachi2[i] = best;
  }
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const bool ok = (zw[j] & zwarn::badfit_mask) == 0;
      if (ok && std::abs(chi2[j] - chi2[i]) < min_deltachi2 &&
          std::abs(velocity_difference(z[j], z[i])) >= std::min(dvlimit[i], dvlimit[j]))
        small[i] = 1;
    }
}

}  // namespace specx::redshift
