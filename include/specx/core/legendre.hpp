// Legendre series in DESI's reduced wavelength coordinate.
//
// PSF parameters and traces are stored as coefficients c[0..deg] of
//   f(λ) = Σ_k c_k P_k(u),   u = 2 (λ − wavemin) / (wavemax − wavemin) − 1,
// the convention of specex / specter (numpy.polynomial.legendre.legval on u).
// Equations and references: docs/numerics.md#legendre-series.
#pragma once

#include <span>

#include "../config.hpp"
#include "fwd.hpp"

namespace specx::core {

/// The affine map between wavelength λ ∈ [wavemin, wavemax] and u ∈ [−1, 1].
template <class T>
struct legendre_domain {
  T wavemin{};
  T wavemax{};

  /// u = 2 (λ − wavemin) / (wavemax − wavemin) − 1.
  SPECX_HOST_DEVICE T to_reduced(T lambda) const {
    return T(2) * (lambda - wavemin) / (wavemax - wavemin) - T(1);
  }
  /// λ = wavemin + (u + 1) (wavemax − wavemin) / 2.
  SPECX_HOST_DEVICE T from_reduced(T u) const {
    return wavemin + (u + T(1)) * T(0.5) * (wavemax - wavemin);
  }
  /// du/dλ = 2 / (wavemax − wavemin): multiply a derivative in u by this to get d/dλ.
  SPECX_HOST_DEVICE T du_dlambda() const { return T(2) / (wavemax - wavemin); }
};

/// A value and its first derivative.
template <class T>
struct value_and_derivative {
  T value;
  T derivative;
};

/// Σ_{k=0}^{deg} c_k P_k(u) by Clenshaw's recurrence (deg ≥ 0; deg < 0 gives 0).
/// With P_{k+1} = α_k P_k + β_k P_{k−1}, α_k = (2k+1)u/(k+1), β_k = −k/(k+1):
/// b_k = c_k + α_k b_{k+1} + β_{k+1} b_{k+2}, and the sum is b_0 (since P_1 = α_0 P_0).
template <class T>
SPECX_HOST_DEVICE T legendre_value(const T* c, int deg, T u) {
  T b1 = T(0), b2 = T(0);
  for (int k = deg; k >= 0; --k) {
    const T alpha = T(2 * k + 1) * u / T(k + 1);
    const T beta_next = -T(k + 1) / T(k + 2);
    const T b0 = c[k] + alpha * b1 + beta_next * b2;
    b2 = b1;
    b1 = b0;
  }
  return b1;
}

/// Value and du-derivative of Σ c_k P_k(u), by the forward recurrences
///   (k+1) P_{k+1} = (2k+1) u P_k − k P_{k−1},   P'_{k+1} = P'_{k−1} + (2k+1) P_k,
/// both stable on [−1, 1]. Multiply the derivative by du_dlambda() for d/dλ.
template <class T>
SPECX_HOST_DEVICE value_and_derivative<T> legendre_value_derivative(const T* c, int deg, T u) {
  if (deg < 0) return {T(0), T(0)};
  T p_prev = T(1), p = u;        // P_0, P_1
  T dp_prev = T(0), dp = T(1);   // P'_0, P'_1
  T v = c[0], dv = T(0);
  if (deg >= 1) {
    v += c[1] * p;
    dv += c[1] * dp;
  }
  for (int k = 1; k < deg; ++k) {
    const T p_next = (T(2 * k + 1) * u * p - T(k) * p_prev) / T(k + 1);
    const T dp_next = dp_prev + T(2 * k + 1) * p;
    p_prev = p;
    p = p_next;
    dp_prev = dp;
    dp = dp_next;
    v += c[k + 1] * p;
    dv += c[k + 1] * dp;
  }
  return {v, dv};
}

/// p[k] = P_k(u) for k = 0..deg (p has deg + 1 entries). This is the basis a PSF
/// evaluation multiplies by its [nparam, deg + 1] coefficient table.
template <class T>
SPECX_HOST_DEVICE void legendre_all(int deg, T u, T* p) {
  if (deg < 0) return;
  p[0] = T(1);
  if (deg >= 1) p[1] = u;
  for (int k = 1; k < deg; ++k) p[k + 1] = (T(2 * k + 1) * u * p[k] - T(k) * p[k - 1]) / T(k + 1);
}

/// p[k] = P_k(u) and dp[k] = P'_k(u) (derivative in u) for k = 0..deg.
template <class T>
SPECX_HOST_DEVICE void legendre_all_derivative(int deg, T u, T* p, T* dp) {
  if (deg < 0) return;
  p[0] = T(1);
  dp[0] = T(0);
  if (deg >= 1) {
    p[1] = u;
    dp[1] = T(1);
  }
  for (int k = 1; k < deg; ++k) {
    p[k + 1] = (T(2 * k + 1) * u * p[k] - T(k) * p[k - 1]) / T(k + 1);
    dp[k + 1] = dp[k - 1] + T(2 * k + 1) * p[k];
  }
}

/// Host convenience: Σ c_k P_k(u) for c = coefficients (deg = size − 1).
template <class T>
T legendre_value(std::span<const T> c, T u) {
  return legendre_value(c.data(), static_cast<int>(c.size()) - 1, u);
}

/// Host convenience: the series at wavelength λ on a domain (value and dλ-derivative).
template <class T>
value_and_derivative<T> legendre_at_wavelength(std::span<const T> c, const legendre_domain<T>& dom, T lambda) {
  auto r = legendre_value_derivative(c.data(), static_cast<int>(c.size()) - 1, dom.to_reduced(lambda));
  r.derivative *= dom.du_dlambda();
  return r;
}

}  // namespace specx::core
