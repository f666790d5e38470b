// Probabilists' Hermite polynomials He_n, the family of the Gauss–Hermite PSF of
// specex and specter (specter's `pgh` uses scipy.special.hermitenorm; specex's
// HermitePol is the same monic family). Unnormalised:
//   He_0 = 1, He_1 = x, He_{n+1} = x He_n − n He_{n−1},
//   ∫ He_m He_n φ(x) dx = n! δ_mn with φ the standard normal density.
// See docs/numerics.md#hermite-polynomials.
#pragma once

#include "../config.hpp"

namespace specx::core {

/// He_n(x) by the three-term recurrence (n ≥ 0).
template <class T>
SPECX_HOST_DEVICE T hermite_he(int n, T x) {
  if (n <= 0) return T(1);
  T h_prev = T(1), h = x;
  for (int k = 1; k < n; ++k) {
    const T h_next = x * h - T(k) * h_prev;
    h_prev = h;
    h = h_next;
  }
  return h;
}

/// he[k] = He_k(x) for k = 0..n (he has n + 1 entries).
template <class T>
SPECX_HOST_DEVICE void hermite_he_all(int n, T x, T* he) {
  if (n < 0) return;
  he[0] = T(1);
  if (n >= 1) he[1] = x;
  for (int k = 1; k < n; ++k) he[k + 1] = x * he[k] - T(k) * he[k - 1];
}

/// d/dx He_n(x) = n He_{n−1}(x).
template <class T>
SPECX_HOST_DEVICE T hermite_he_derivative(int n, T x) {
  return n <= 0 ? T(0) : T(n) * hermite_he(n - 1, x);
}

}  // namespace specx::core
