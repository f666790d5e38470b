// Gaussian integrated over pixels, accurate in the far tails.
//
//   ∫_{x0}^{x1} N(x; μ, σ) dx = Φ(z1) − Φ(z0),  z = (x − μ)/σ,
//   Φ(z) = ½ erfc(−z/√2) = 1 − ½ erfc(z/√2).
// Writing each edge through t = erfc(|z|/√2) (always the small complement) makes
// the difference cancellation-free when both edges lie on the same side far out:
//   both z ≥ 0:  ½ (t0 − t1);  both z < 0:  ½ (t1 − t0);  straddling: 1 − ½ (t0 + t1).
// See docs/numerics.md#pixel-integrated-gaussian.
#pragma once

#include <cmath>

#include "../config.hpp"
#include "vmath.hpp"

namespace specx::core {

namespace detail {
// Math shims that resolve to CUDA's device functions in device passes and to
// <cmath> on the host.
#if SPECX_DEVICE_PASS
SPECX_HOST_DEVICE inline float erfc_(float x) { return ::erfcf(x); }
SPECX_HOST_DEVICE inline double erfc_(double x) { return ::erfc(x); }
SPECX_HOST_DEVICE inline float exp_(float x) { return ::expf(x); }
SPECX_HOST_DEVICE inline double exp_(double x) { return ::exp(x); }
#else
SPECX_HOST_DEVICE inline float erfc_(float x) { return std::erfc(x); }
SPECX_HOST_DEVICE inline double erfc_(double x) { return std::erfc(x); }
SPECX_HOST_DEVICE inline float exp_(float x) { return std::exp(x); }
SPECX_HOST_DEVICE inline double exp_(double x) { return std::exp(x); }
#endif
template <class T>
SPECX_HOST_DEVICE T inv_sqrt2() {
  return T(0.70710678118654752440084436210484903928);
}
template <class T>
SPECX_HOST_DEVICE T inv_sqrt_2pi() {
  return T(0.39894228040143267793994605993438186848);
}
/// The edge record of the cancellation-free difference: t = erfc(|z|/√2) and the side.
template <class T>
struct tail_edge {
  T t;
  bool upper;  // z ≥ 0
};
template <class T>
SPECX_HOST_DEVICE tail_edge<T> make_edge(T z) {
  const bool up = z >= T(0);
  return {erfc_((up ? z : -z) * inv_sqrt2<T>()), up};
}
/// Φ(z1) − Φ(z0) from the two edge records (z0 ≤ z1).
template <class T>
SPECX_HOST_DEVICE T edge_difference(const tail_edge<T>& e0, const tail_edge<T>& e1) {
  if (e0.upper) return T(0.5) * (e0.t - e1.t);      // both on the upper side
  if (!e1.upper) return T(0.5) * (e1.t - e0.t);     // both on the lower side
  return T(1) - T(0.5) * (e0.t + e1.t);             // the interval contains μ
}
}  // namespace detail

/// Φ(z1) − Φ(z0) for the standard normal, z0 ≤ z1, with full relative accuracy
/// in both tails.
template <class T>
SPECX_HOST_DEVICE T normal_probability(T z0, T z1) {
  return detail::edge_difference(detail::make_edge(z0), detail::make_edge(z1));
}

/// ∫_{x0}^{x1} N(x; μ, σ) dx for x0 ≤ x1, σ > 0.
template <class T>
SPECX_HOST_DEVICE T pixel_integrated_gaussian(T x0, T x1, T mu, T sigma) {
  return normal_probability((x0 - mu) / sigma, (x1 - mu) / sigma);
}

/// out[p] = ∫ N(x; μ, σ) dx over the unit pixel centred on the integer first + p
/// (edges first + p ± ½), for p = 0..k−1. Uses k + 1 erfc evaluations: each edge is
/// shared by two neighbouring pixels.
template <class T>
SPECX_HOST_DEVICE void pixel_integrated_gaussians(T mu, T sigma, int first, int k, T* out) {
  if (k <= 0) return;
  const T inv_sigma = T(1) / sigma;
#if !SPECX_DEVICE_PASS
  if constexpr (vmath::batched<T>) {
    // The same edges, their erfc evaluated in batches (core/vmath.hpp).
    constexpr int chunk = 64;
    T a[chunk + 1], t[chunk + 1];
    bool up[chunk + 1];
    for (int p0 = 0; p0 < k; p0 += chunk) {
      const int m = k - p0 < chunk ? k - p0 : chunk;
      for (int e = 0; e <= m; ++e) {
        const T z = (T(first + p0 + e) - T(0.5) - mu) * inv_sigma;
        up[e] = z >= T(0);
        a[e] = (up[e] ? z : -z) * detail::inv_sqrt2<T>();
      }
      vmath::erfc(a, t, m + 1);
      for (int p = 0; p < m; ++p)
        out[p0 + p] = detail::edge_difference(detail::tail_edge<T>{t[p], up[p]}, detail::tail_edge<T>{t[p + 1], up[p + 1]});
    }
    return;
  }
#endif
  auto lo = detail::make_edge((T(first) - T(0.5) - mu) * inv_sigma);
  for (int p = 0; p < k; ++p) {
    const auto hi = detail::make_edge((T(first + p) + T(0.5) - mu) * inv_sigma);
    out[p] = detail::edge_difference(lo, hi);
    lo = hi;
  }
}

/// The standard normal density φ(z) = exp(−z²/2)/√(2π).
template <class T>
SPECX_HOST_DEVICE T normal_density(T z) {
  return detail::inv_sqrt_2pi<T>() * detail::exp_(T(-0.5) * z * z);
}

}  // namespace specx::core
