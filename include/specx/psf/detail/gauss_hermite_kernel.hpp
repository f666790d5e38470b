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
/// share their edge. The recurrence runs across all edges at once, degree by
/// degree (vectorised over the edges). deg ≤ MaxDeg, n ≤ MaxN.
template <int MaxDeg, int MaxN, class T>
SPECX_HOST_DEVICE void gauss_hermite_pixel_factors(T c, T sigma, int first, int n, int deg, T* out) {
  core::pixel_integrated_gaussians(c, sigma, first, n, out);
  if (deg < 1) return;
  const T inv_sigma = T(1) / sigma;
  const int ne = n + 1;
  T u[MaxN + 1], phi[MaxN + 1], h_prev[MaxN + 1], h[MaxN + 1], cur[MaxN + 1];
  for (int p = 0; p < ne; ++p) u[p] = (T(first + p) - c - T(0.5)) * inv_sigma;
#if !SPECX_DEVICE_PASS
  if constexpr (core::vmath::batched<T>) {
    // φ(u) = exp(−u²/2)/√(2π), the exponentials in one batch (core/vmath.hpp).
    for (int p = 0; p < ne; ++p) phi[p] = T(-0.5) * u[p] * u[p];
    core::vmath::exp(phi, phi, ne);
    for (int p = 0; p < ne; ++p) phi[p] *= core::detail::inv_sqrt_2pi<T>();
  } else
#endif
  {
    for (int p = 0; p < ne; ++p) phi[p] = core::normal_density(u[p]);
  }
  // m = 1 from He_0 φ = φ; then He_1 = u, He_{k+1} = u He_k − k He_{k−1}.
  for (int p = 0; p < n; ++p) out[n + p] = phi[p] - phi[p + 1];
  for (int p = 0; p < ne; ++p) {
    h_prev[p] = T(1);
    h[p] = u[p];
  }
  for (int m = 2; m <= deg; ++m) {
    if (m > 2) {
      const T k = T(m - 2);
      for (int p = 0; p < ne; ++p) {
        const T h_next = u[p] * h[p] - k * h_prev[p];
        h_prev[p] = h[p];
        h[p] = h_next;
      }
    }
    for (int p = 0; p < ne; ++p) cur[p] = h[p] * phi[p];
    for (int p = 0; p < n; ++p) out[m * n + p] = cur[p] - cur[p + 1];
  }
}

}  // namespace specx::psf::detail
