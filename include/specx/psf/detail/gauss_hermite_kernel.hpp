// The one-dimensional pixel-integrated Gauss–Hermite factors of the
// Gauss–Hermite PSF core (docs/psf.md#pixel-integration).
//
// With u = (x − c)/σ and φ the standard normal density, the core's 1-D terms are
// He_m(u) φ(u) (probabilists' Hermite polynomials). Integrated over the pixel
// whose edges map to u0 < u1 (in units of u, the convention of specter's pgh):
//   m = 0:  ∫ φ du = Φ(u1) − Φ(u0)                    (cancellation-free erfc form)
//   m ≥ 1:  ∫ He_m φ du = He_{m−1}(u0) φ(u0) − He_{m−1}(u1) φ(u1),
// because d/du [−He_{m−1}(u) φ(u)] = (u He_{m−1} − (m−1) He_{m−2}) φ = He_m φ.
#pragma once

#include "../../config.hpp"
#include "../../core/gaussian.hpp"

namespace specx::psf::detail {

/// out[m·n + p] = ∫ He_m(u) φ(u) du over pixel first + p (edges first + p ± ½ in
/// CCD units, u = (x − c)/σ), for m = 0..deg and p = 0..n−1. Each of the n + 1
/// edges costs one erfc, one exp and a Hermite recurrence; neighbouring pixels
/// share their edge. deg ≤ MaxDeg.
template <int MaxDeg, class T>
SPECX_HOST_DEVICE void gauss_hermite_pixel_factors(T c, T sigma, int first, int n, int deg, T* out) {
  core::pixel_integrated_gaussians(c, sigma, first, n, out);
  if (deg < 1) return;
  const T inv_sigma = T(1) / sigma;
  T prev[MaxDeg + 1];  // He_{k}(u_p) φ(u_p), k = 0..deg−1, at the previous edge
  for (int p = 0; p <= n; ++p) {
    const T u = (T(first + p) - c - T(0.5)) * inv_sigma;
    const T phi = core::normal_density(u);
    T cur[MaxDeg + 1];
    T h_prev = T(1), h = u;  // He_0, He_1
    cur[0] = phi;
    if (deg >= 2) cur[1] = h * phi;
    for (int k = 1; k + 1 < deg; ++k) {
      const T h_next = u * h - T(k) * h_prev;
      h_prev = h;
      h = h_next;
      cur[k + 1] = h * phi;
    }
    if (p > 0)
      for (int m = 1; m <= deg; ++m) out[m * n + p - 1] = prev[m - 1] - cur[m - 1];
    for (int k = 0; k < deg; ++k) prev[k] = cur[k];
  }
}

}  // namespace specx::psf::detail
