// Batched banded symmetric positive-definite linear algebra: Cholesky factorisation,
// solves and "staircase" inverse columns, for matrices whose non-zeros lie within
// a half-bandwidth b of the diagonal (extraction's AᵀWA with unknowns ordered
// wavelength-major across fibers; see docs/extraction.md).
//
// Storage (LAPACK's lower band layout, column-major): element (i, j) of the lower
// triangle, j ≤ i ≤ j + b, lives at ab[j·ld + (i − j)], ld ≥ b + 1. A batch of
// `count` matrices of order n is ab + k·stride.
//
// The per-matrix routines are SPECX_HOST_DEVICE (callable inside backend functors,
// one thread per matrix); the batched wrappers run them with for_each_index, so
// every backend executes the same code. Costs: factorisation n·b²/2 multiply-adds,
// a solve 2·n·b, an inverse column started at row r (n − r)·b.
// Solvers never throw: band_cholesky returns 0 on success, else 1 + the column
// where the pivot was not positive (or not finite).
#pragma once

#include <cmath>
#include <cstddef>
#include <string>

#include "../config.hpp"
#include "../error.hpp"
#include "concepts.hpp"

namespace specx::backend {

/// In-place lower band Cholesky A = L·Lᵀ of one matrix (see the header for the
/// layout). Returns 0 on success, 1 + j when pivot j is not positive and finite.
template <class T>
SPECX_HOST_DEVICE int band_cholesky(int n, int b, T* ab, int ld) {
  for (int j = 0; j < n; ++j) {
    T* cj = ab + static_cast<std::ptrdiff_t>(j) * ld;
    const T d = cj[0];
    if (!(d > T(0)) || !(d < T(1e300))) return 1 + j;
    const T l = std::sqrt(d);
    cj[0] = l;
    const int m = (b < n - 1 - j) ? b : n - 1 - j;
    const T inv = T(1) / l;
    for (int i = 1; i <= m; ++i) cj[i] *= inv;
    // Right-looking update of the trailing columns j+1 … j+m.
    for (int k = 1; k <= m; ++k) {
      const T lkj = cj[k];
      if (lkj == T(0)) continue;
      T* ck = ab + static_cast<std::ptrdiff_t>(j + k) * ld;
      for (int i = k; i <= m; ++i) ck[i - k] -= cj[i] * lkj;
    }
  }
  return 0;
}

/// Solves L·Lᵀ·x = rhs in place (x holds rhs on entry) with L from band_cholesky.
template <class T>
SPECX_HOST_DEVICE void band_cholesky_solve(int n, int b, const T* ab, int ld, T* x) {
  for (int j = 0; j < n; ++j) {
    const T* cj = ab + static_cast<std::ptrdiff_t>(j) * ld;
    const T xj = x[j] / cj[0];
    x[j] = xj;
    const int m = (b < n - 1 - j) ? b : n - 1 - j;
    for (int i = 1; i <= m; ++i) x[j + i] -= cj[i] * xj;
  }
  for (int j = n - 1; j >= 0; --j) {
    const T* cj = ab + static_cast<std::ptrdiff_t>(j) * ld;
    const int m = (b < n - 1 - j) ? b : n - 1 - j;
    T s = x[j];
    for (int i = 1; i <= m; ++i) s -= cj[i] * x[j + i];
    x[j] = s / cj[0];
  }
}

/// z = L⁻¹·e_r for the unit vector e_r: z is zero above row r, so only rows r … n−1
/// are written (the "staircase" column). Returns nothing; rows < r are untouched.
template <class T>
SPECX_HOST_DEVICE void band_inverse_column(int n, int b, const T* ab, int ld, int r, T* z) {
  for (int i = r; i < n; ++i) z[i] = T(0);
  z[r] = T(1);
  for (int j = r; j < n; ++j) {
    const T* cj = ab + static_cast<std::ptrdiff_t>(j) * ld;
    const T zj = z[j] / cj[0];
    z[j] = zj;
    if (zj == T(0)) continue;
    const int m = (b < n - 1 - j) ? b : n - 1 - j;
    for (int i = 1; i <= m; ++i) z[j + i] -= cj[i] * zj;
  }
}

namespace detail {
template <class T>
struct band_cholesky_fn {
  T* ab;
  int n, b, ld;
  std::ptrdiff_t stride;
  int* info;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    info[k] = band_cholesky(n, b, ab + static_cast<std::ptrdiff_t>(k) * stride, ld);
  }
};
template <class T>
struct band_solve_fn {
  const T* ab;
  int n, b, ld;
  std::ptrdiff_t stride;
  T* x;
  std::ptrdiff_t xstride;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    band_cholesky_solve(n, b, ab + static_cast<std::ptrdiff_t>(k) * stride, ld,
                        x + static_cast<std::ptrdiff_t>(k) * xstride);
  }
};
inline void band_require(bool ok, const char* fn, const std::string& what) {
  if (!ok) throw invalid_argument(std::string("specx::backend::") + fn + ": " + what);
}
}  // namespace detail

/// Batched band Cholesky on backend `be`: `count` matrices of order n and half-
/// bandwidth b, matrix k at ab + k·stride (backend memory). info[k] (backend
/// memory) gets band_cholesky's status. Blocking.
template <Backend B, class T>
void band_cholesky_batched(B be, int n, int b, T* ab, int ld, std::ptrdiff_t stride, int count, int* info) {
  detail::band_require(n >= 0 && b >= 0 && ld >= b + 1 && stride >= static_cast<std::ptrdiff_t>(ld) * n && count >= 0,
                       "band_cholesky_batched", "bad order, bandwidth, leading dimension or stride");
  for_each_index(be, static_cast<std::size_t>(count), detail::band_cholesky_fn<T>{ab, n, b, ld, stride, info});
}

/// Batched solve with the factors of band_cholesky_batched: x_k (n values at
/// x + k·xstride) is overwritten by (L_k L_kᵀ)⁻¹ x_k. Blocking.
template <Backend B, class T>
void band_cholesky_solve_batched(B be, int n, int b, const T* ab, int ld, std::ptrdiff_t stride, int count, T* x,
                                 std::ptrdiff_t xstride) {
  detail::band_require(n >= 0 && b >= 0 && ld >= b + 1 && xstride >= n && count >= 0, "band_cholesky_solve_batched",
                       "bad order, bandwidth, leading dimension or stride");
  for_each_index(be, static_cast<std::size_t>(count), detail::band_solve_fn<T>{ab, n, b, ld, stride, x, xstride});
}

}  // namespace specx::backend
