// Dense kernels on one small matrix, callable on host and device. The thrust
// backends run them one matrix per thread (Cholesky, Jacobi eigen-solver) or one
// element per thread (products). Column-major, leading dimension ld.
#pragma once

#include <cmath>

#include "../../config.hpp"

namespace specx::backend::detail {

/// In-place Cholesky A = L Lᵀ (lower; the strict upper triangle is zeroed).
/// Returns 0 on success, k+1 if the leading minor of order k+1 is not positive
/// definite (A is left partially factored, as LAPACK's potrf).
template <class T>
SPECX_HOST_DEVICE int cholesky_inplace(T* a, int n, int ld) {
  for (int j = 0; j < n; ++j) {
    T d = a[j + j * ld];
    for (int k = 0; k < j; ++k) d -= a[j + k * ld] * a[j + k * ld];
    if (!(d > T(0))) return j + 1;  // also catches NaN
    d = std::sqrt(d);
    a[j + j * ld] = d;
    const T inv = T(1) / d;
    for (int i = j + 1; i < n; ++i) {
      T s = a[i + j * ld];
      for (int k = 0; k < j; ++k) s -= a[i + k * ld] * a[j + k * ld];
      a[i + j * ld] = s * inv;
    }
  }
  for (int j = 1; j < n; ++j)
    for (int i = 0; i < j; ++i) a[i + j * ld] = T(0);
  return 0;
}

/// Solve (L Lᵀ) X = B in place (X holds B on entry), L lower from cholesky_inplace.
template <class T>
SPECX_HOST_DEVICE void cholesky_solve_inplace(const T* l, int n, int ldl, T* x, int ldx, int nrhs) {
  for (int r = 0; r < nrhs; ++r) {
    T* b = x + static_cast<std::ptrdiff_t>(r) * ldx;
    for (int i = 0; i < n; ++i) {  // L y = b
      T s = b[i];
      for (int k = 0; k < i; ++k) s -= l[i + k * ldl] * b[k];
      b[i] = s / l[i + i * ldl];
    }
    for (int i = n - 1; i >= 0; --i) {  // Lᵀ x = y
      T s = b[i];
      for (int k = i + 1; k < n; ++k) s -= l[k + i * ldl] * b[k];
      b[i] = s / l[i + i * ldl];
    }
  }
}

/// Cyclic Jacobi eigen-decomposition of a symmetric matrix (Golub & Van Loan,
/// Matrix Computations, 4th ed., §8.5). On return a holds the eigenvectors as
/// columns, w the eigenvalues in ascending order; v is n x n workspace (ldv).
/// Jacobi is slower than tridiagonal QR but simple, branch-light and accurate to
/// high relative precision, which is what a one-thread-per-matrix kernel wants.
/// Returns 0 on convergence, 1 if max_sweeps were not enough or the input holds
/// NaN/inf.
template <class T>
SPECX_HOST_DEVICE int jacobi_eigh_inplace(T* a, int n, int ld, T* w, T* v, int ldv, int max_sweeps = 60) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) v[i + j * ldv] = (i == j) ? T(1) : T(0);
  T norm = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) norm += a[i + j * ld] * a[i + j * ld];
  if (!(norm < INFINITY)) return 1;
  int status = 1;
  const T eps = sizeof(T) == 4 ? T(1.2e-7) : T(2.3e-16);
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    T off = 0;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < j; ++i) off += a[i + j * ld] * a[i + j * ld];
    if (off <= eps * eps * norm * T(0.25) || off == T(0)) {
      status = 0;
      break;
    }
    for (int p = 0; p < n - 1; ++p) {
      for (int q = p + 1; q < n; ++q) {
        const T apq = a[p + q * ld];
        if (apq == T(0)) continue;
        const T app = a[p + p * ld], aqq = a[q + q * ld];
        // Rotation J = [[c, s], [-s, c]] on (p, q) that zeroes a_pq in JᵀAJ:
        // θ = (a_qq - a_pp) / (2 a_pq), t = tan = sign(θ) / (|θ| + sqrt(θ² + 1)).
        const T theta = (aqq - app) / (T(2) * apq);
        T t = T(1) / (std::fabs(theta) + std::sqrt(theta * theta + T(1)));
        if (theta < T(0)) t = -t;
        const T c = T(1) / std::sqrt(t * t + T(1));
        const T s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const T akp = a[k + p * ld], akq = a[k + q * ld];
          a[k + p * ld] = c * akp - s * akq;
          a[k + q * ld] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const T apk = a[p + k * ld], aqk = a[q + k * ld];
          a[p + k * ld] = c * apk - s * aqk;
          a[q + k * ld] = s * apk + c * aqk;
        }
        a[p + q * ld] = T(0);
        a[q + p * ld] = T(0);
        for (int k = 0; k < n; ++k) {
          const T vkp = v[k + p * ldv], vkq = v[k + q * ldv];
          v[k + p * ldv] = c * vkp - s * vkq;
          v[k + q * ldv] = s * vkp + c * vkq;
        }
      }
    }
  }
  for (int i = 0; i < n; ++i) w[i] = a[i + i * ld];
  // Selection sort by eigenvalue (ascending), permuting v's columns.
  for (int i = 0; i < n - 1; ++i) {
    int m = i;
    for (int k = i + 1; k < n; ++k)
      if (w[k] < w[m]) m = k;
    if (m != i) {
      const T tw = w[i];
      w[i] = w[m];
      w[m] = tw;
      for (int k = 0; k < n; ++k) {
        const T tv = v[k + i * ldv];
        v[k + i * ldv] = v[k + m * ldv];
        v[k + m * ldv] = tv;
      }
    }
  }
  // Sign convention shared with the cpu backend: the largest-magnitude component
  // of each eigenvector is positive.
  for (int j = 0; j < n; ++j) {
    int m = 0;
    for (int k = 1; k < n; ++k)
      if (std::fabs(v[k + j * ldv]) > std::fabs(v[m + j * ldv])) m = k;
    const T sgn = v[m + j * ldv] < T(0) ? T(-1) : T(1);
    for (int k = 0; k < n; ++k) a[k + j * ld] = sgn * v[k + j * ldv];
  }
  return status;
}

/// out = V f(Λ) Vᵀ for an eigen-decomposition (V columns, ascending w): the
/// inverse square root with eigenvalues below rel_cutoff * max(w) dropped
/// (a pseudo-inverse square root). Returns the number of dropped eigenvalues.
template <class T>
SPECX_HOST_DEVICE int inv_sqrt_from_eigh(const T* vec, int n, int ldv, const T* w, T* out, int ldo,
                                         T rel_cutoff) {
  const T wmax = n > 0 ? w[n - 1] : T(0);
  int dropped = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) out[i + j * ldo] = T(0);
  for (int k = 0; k < n; ++k) {
    if (!(w[k] > rel_cutoff * wmax) || !(w[k] > T(0))) {
      ++dropped;
      continue;
    }
    const T f = T(1) / std::sqrt(w[k]);
    for (int j = 0; j < n; ++j) {
      const T vj = vec[j + k * ldv] * f;
      for (int i = 0; i < n; ++i) out[i + j * ldo] += vec[i + k * ldv] * vj;
    }
  }
  return dropped;
}

}  // namespace specx::backend::detail
