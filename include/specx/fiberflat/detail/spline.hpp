// Per-fiber weighted least-squares cubic B-spline with uniform knots, one thread
// per fiber (docs/calibration.md#smoothing). The normal matrix of a cubic
// B-spline basis is banded with half-bandwidth 3, so each fiber is a small banded
// Cholesky solve plus the selected inverse for the variance of the fit.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "banded_normal.hpp"

namespace specx::detail::calib {

/// The four non-zero uniform cubic B-splines at reduced coordinate t = (λ − λ0)/h:
/// basis q..q+3 of nint + 3 functions (q = interval index), values b[0..3].
SPECX_HOST_DEVICE inline int cubic_bspline(double t, int nint, double* b) {
  int q = static_cast<int>(floor(t));
  if (q < 0) q = 0;
  if (q > nint - 1) q = nint - 1;
  const double u = t - q, u2 = u * u, u3 = u2 * u, v = 1 - u;
  b[0] = v * v * v / 6.0;
  b[1] = (3 * u3 - 6 * u2 + 4) / 6.0;
  b[2] = (-3 * u3 + 3 * u2 + 3 * u + 1) / 6.0;
  b[3] = u3 / 6.0;
  return q;
}

/// Fit y = d/m with weights w·m² per fiber (rows with m ≤ 0 or w = 0 ignored) by a
/// cubic B-spline with knots every h Å from λ0, and evaluate the fit F and its
/// variance on every row. Basis functions without data are pinned to 1 (the
/// mean flat) and rows depending on them get var = −1. A ridge `ridge · max
/// diagonal` pulls every coefficient towards 1 (negligible where data exist).
template <class T>
struct spline_fit_fibers {
  const double* wave;
  int nwave, nint;
  double lam0, h, ridge;
  const T* d;
  const double* m;
  const T* w;
  double* ab;   ///< scratch [nspec, nb·4]
  double* x;    ///< scratch [nspec, nb]
  double* zb;   ///< scratch [nspec, nb·4]
  std::uint8_t* cov;  ///< scratch [nspec, nb]
  double* F;    ///< [nspec, nwave]
  double* var;  ///< [nspec, nwave]
  SPECX_HOST_DEVICE void operator()(std::size_t f) const {
    const int nb = nint + 3, p = 3, ld = 4;
    double* A = ab + f * std::size_t(nb) * ld;
    double* X = x + f * std::size_t(nb);
    double* Z = zb + f * std::size_t(nb) * ld;
    std::uint8_t* C = cov + f * std::size_t(nb);
    for (int a = 0; a < nb * ld; ++a) A[a] = 0;
    for (int a = 0; a < nb; ++a) X[a] = 0;
    const std::size_t row = f * std::size_t(nwave);
    double bv[4];
    for (int i = 0; i < nwave; ++i) {
      const double mi = m[row + i], wi = double(w[row + i]);
      if (!(mi > 0) || !(wi > 0)) continue;
      const double y = double(d[row + i]) / mi, v = wi * mi * mi;
      const int q = cubic_bspline((wave[i] - lam0) / h, nint, bv);
      for (int a = 0; a < 4; ++a) {
        X[q + a] += v * bv[a] * y;
        for (int c = a; c < 4; ++c) A[std::size_t(q + a) * ld + (c - a)] += v * bv[a] * bv[c];
      }
    }
    double dmax = 0;
    for (int a = 0; a < nb; ++a) dmax = A[std::size_t(a) * ld] > dmax ? A[std::size_t(a) * ld] : dmax;
    if (!(dmax > 0)) {
      for (int i = 0; i < nwave; ++i) {
        F[row + i] = 1;
        var[row + i] = -1;
      }
      return;
    }
    for (int a = 0; a < nb; ++a) {
      double& dd = A[std::size_t(a) * ld];
      C[a] = dd > 1e-8 * dmax;
      if (!C[a]) {
        for (int t = 1; t <= p; ++t) {
          A[std::size_t(a) * ld + t] = 0;
          if (a - t >= 0) A[std::size_t(a - t) * ld + t] = 0;
        }
        dd = 1;
        X[a] = 1;
      } else {
        dd += ridge * dmax;
        X[a] += ridge * dmax;
      }
    }
    if (band_cholesky(A, nb, p) != 0) {
      for (int i = 0; i < nwave; ++i) {
        F[row + i] = 1;
        var[row + i] = -1;
      }
      return;
    }
    band_solve(A, nb, p, X);
    band_selected_inverse(A, nb, p, Z);
    for (int i = 0; i < nwave; ++i) {
      const int q = cubic_bspline((wave[i] - lam0) / h, nint, bv);
      double fv = 0, vv = 0;
      bool ok = true;
      for (int a = 0; a < 4; ++a) {
        fv += bv[a] * X[q + a];
        if (!C[q + a] && bv[a] > 1e-3) ok = false;
        for (int c = 0; c < 4; ++c) {
          const int r = q + a, s = q + c;
          const double z = r >= s ? Z[std::size_t(s) * ld + (r - s)] : Z[std::size_t(r) * ld + (s - r)];
          vv += bv[a] * z * bv[c];
        }
      }
      F[row + i] = fv;
      var[row + i] = ok ? vv : -1;
    }
  }
};

}  // namespace specx::detail::calib
