// Banded normal equations shared by fiberflat (deconvolved mean lamp spectrum)
// and sky (deconvolved sky, optionally with focal-plane gradient components).
//
// Model of row i of fiber f:  m_f[i] = g_f[i] Σ_k c_fk (R_f s_k)[i],
// with K ≤ kMaxComponents unknown spectra s_k on the frame grid, per-fiber
// coefficients c_fk (1; focal-plane x, y; throughput corrections) and a per-row
// scale g_f (the fiber flat in the flat solve, 1 for the sky). Weighted least
// squares with weights w_f[i] gives the normal equations A x = b with unknowns
// interleaved u = j·K + k:
//   A[(j,k),(j',k')] = Σ_f c_fk c_fk' Σ_i R_f[i,j] g_f[i]² w_f[i] R_f[i,j']
//   b[(j,k)]         = Σ_f c_fk Σ_i R_f[i,j] g_f[i] w_f[i] d_f[i].
// R_f has half-bandwidth h = ndiag/2, so A is zero for |j − j'| > 2h: A is banded
// with half-bandwidth p = K(2h+1) − 1 in the interleaved order.
//
// Storage of a symmetric band (LAPACK's lower "AB" layout, column-major by
// column): ab[u·(p+1) + t] = A[u+t, u], t = 0..p.
// The factorisation is a left-looking banded Cholesky (O(n p²)); the elements of
// C = A⁻¹ inside the band come from the Takahashi–Fagan–Chin recurrence
// (Takahashi et al. 1973; Hager 1989 for the band case), also O(n p²): with
// A = L Lᵀ,
//   C[j,i] = −(1/L_ii) Σ_{k=i+1}^{i+p} L[k,i] C[k,j]           (j = i+1..i+p)
//   C[i,i] = 1/L_ii² − (1/L_ii) Σ_{k=i+1}^{i+p} L[k,i] C[k,i]
// which only reads C inside the band. That is all the model variance
// diag(R C Rᵀ) needs. These kernels are sequential per system: one thread solves
// one system (the sky: one system per frame; the flat splines: one per fiber).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../backend.hpp"
#include "../../config.hpp"
#include "../../resolution/banded.hpp"

namespace specx::detail::calib {

inline constexpr int kMaxComponents = 4;
inline constexpr int kMaxDiag = 31;

/// In-place banded Cholesky of the n×n SPD band ab (half-bandwidth p). Returns 0,
/// or j+1 if the leading minor of order j+1 is not positive definite.
SPECX_HOST_DEVICE inline int band_cholesky(double* ab, int n, int p) {
  const int ld = p + 1;
  for (int j = 0; j < n; ++j) {
    const int k0 = j - p > 0 ? j - p : 0;
    double ajj = ab[std::size_t(j) * ld];
    for (int k = k0; k < j; ++k) {
      const double l = ab[std::size_t(k) * ld + (j - k)];
      ajj -= l * l;
    }
    if (!(ajj > 0.0)) return j + 1;
    const double ljj = sqrt(ajj);
    ab[std::size_t(j) * ld] = ljj;
    const int iend = j + p < n - 1 ? j + p : n - 1;
    for (int i = j + 1; i <= iend; ++i) {
      double a = ab[std::size_t(j) * ld + (i - j)];
      const int kk0 = i - p > 0 ? i - p : 0;
      for (int k = kk0; k < j; ++k) a -= ab[std::size_t(k) * ld + (i - k)] * ab[std::size_t(k) * ld + (j - k)];
      ab[std::size_t(j) * ld + (i - j)] = a / ljj;
    }
  }
  return 0;
}

/// Solve L Lᵀ x = b in place (x holds b on entry) with L from band_cholesky.
SPECX_HOST_DEVICE inline void band_solve(const double* lb, int n, int p, double* x) {
  const int ld = p + 1;
  for (int i = 0; i < n; ++i) {  // L y = b
    double s = x[i];
    const int k0 = i - p > 0 ? i - p : 0;
    for (int k = k0; k < i; ++k) s -= lb[std::size_t(k) * ld + (i - k)] * x[k];
    x[i] = s / lb[std::size_t(i) * ld];
  }
  for (int i = n - 1; i >= 0; --i) {  // Lᵀ x = y
    double s = x[i];
    const int kend = i + p < n - 1 ? i + p : n - 1;
    for (int k = i + 1; k <= kend; ++k) s -= lb[std::size_t(i) * ld + (k - i)] * x[k];
    x[i] = s / lb[std::size_t(i) * ld];
  }
}

/// The elements of A⁻¹ inside the band, zb in the same layout as lb (Takahashi).
SPECX_HOST_DEVICE inline void band_selected_inverse(const double* lb, int n, int p, double* zb) {
  const int ld = p + 1;
  auto z = [&](int r, int c) -> double { return r >= c ? zb[std::size_t(c) * ld + (r - c)] : zb[std::size_t(r) * ld + (c - r)]; };
  for (int i = n - 1; i >= 0; --i) {
    const double lii = lb[std::size_t(i) * ld];
    const int kend = i + p < n - 1 ? i + p : n - 1;
    for (int j = kend; j > i; --j) {
      double s = 0;
      for (int k = i + 1; k <= kend; ++k) s += lb[std::size_t(i) * ld + (k - i)] * z(k, j);
      zb[std::size_t(i) * ld + (j - i)] = -s / lii;
    }
    double s = 0;
    for (int k = i + 1; k <= kend; ++k) s += lb[std::size_t(i) * ld + (k - i)] * zb[std::size_t(i) * ld + (k - i)];
    zb[std::size_t(i) * ld] = 1.0 / (lii * lii) - s / lii;
  }
}

/// What the assembly and model kernels read (all pointers in backend memory).
template <class T>
struct normal_inputs {
  resolution::banded_view<const T> r;  ///< all fibers of the frame
  const int* fibers = nullptr;         ///< the nfit fibers entering A and b
  int nfit = 0;
  int K = 1;
  const double* coef = nullptr;        ///< [nspec, K]; null: c = 1
  const T* g = nullptr;                ///< [nspec, nwave] per-row scale; null: 1
  const T* w = nullptr;                ///< [nspec, nwave] weights
  const T* d = nullptr;                ///< [nspec, nwave] data

  SPECX_HOST_DEVICE int half() const { return r.ndiag / 2; }
  SPECX_HOST_DEVICE int bandwidth() const { return K * (2 * half() + 1) - 1; }
  SPECX_HOST_DEVICE double c(int f, int k) const { return coef ? coef[std::size_t(f) * K + k] : 1.0; }
  SPECX_HOST_DEVICE double gg(int f, int i) const { return g ? double(g[std::size_t(f) * r.nwave + i]) : 1.0; }
};

/// One thread per (j, dj), dj = 0..2h: the K×K block A[(j+dj, ·), (j, ·)].
template <class T>
struct assemble_band {
  normal_inputs<T> in;
  double* ab;  ///< [n·K, p+1], zero on entry
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int h = in.half(), n = in.r.nwave, K = in.K, p = in.bandwidth();
    const int j = static_cast<int>(idx / std::size_t(2 * h + 1));
    const int dj = static_cast<int>(idx % std::size_t(2 * h + 1));
    const int j2 = j + dj;
    if (j2 >= n) return;
    double acc[kMaxComponents * kMaxComponents] = {};
    const int i0 = (j2 - h) > 0 ? j2 - h : 0;
    const int i1 = (j + h) < n - 1 ? j + h : n - 1;
    for (int q = 0; q < in.nfit; ++q) {
      const int f = in.fibers[q];
      double s = 0;
      for (int i = i0; i <= i1; ++i) {
        const std::size_t fi = std::size_t(f) * n + i;
        const double wi = double(in.w[fi]);
        if (wi == 0) continue;
        const double gi = in.gg(f, i);
        s += double(in.r(f, h - (j - i), j)) * wi * gi * gi * double(in.r(f, h - (j2 - i), j2));
      }
      if (s == 0) continue;
      for (int k = 0; k < K; ++k)
        for (int k2 = 0; k2 < K; ++k2) acc[k * K + k2] += in.c(f, k) * in.c(f, k2) * s;
    }
    const int ld = p + 1;
    for (int k = 0; k < K; ++k)
      for (int k2 = 0; k2 < K; ++k2) {
        const int u = j * K + k, u2 = j2 * K + k2;
        if (u2 < u) continue;  // the upper triangle of the dj = 0 block
        ab[std::size_t(u) * ld + (u2 - u)] = acc[k * K + k2];
      }
  }
};

/// One thread per unknown u = (j, k): b[u].
template <class T>
struct assemble_rhs {
  normal_inputs<T> in;
  double* b;
  SPECX_HOST_DEVICE void operator()(std::size_t u) const {
    const int h = in.half(), n = in.r.nwave, K = in.K;
    const int j = static_cast<int>(u / std::size_t(K)), k = static_cast<int>(u % std::size_t(K));
    const int i0 = j - h > 0 ? j - h : 0, i1 = j + h < n - 1 ? j + h : n - 1;
    double acc = 0;
    for (int q = 0; q < in.nfit; ++q) {
      const int f = in.fibers[q];
      double s = 0;
      for (int i = i0; i <= i1; ++i) {
        const std::size_t fi = std::size_t(f) * n + i;
        const double wi = double(in.w[fi]);
        if (wi == 0) continue;
        s += double(in.r(f, h - (j - i), j)) * in.gg(f, i) * wi * double(in.d[fi]);
      }
      acc += in.c(f, k) * s;
    }
    b[u] = acc;
  }
};

/// Regularise, factorise, solve and (optionally) invert inside the band: one
/// thread. Unknowns whose diagonal is < rel_empty · max diagonal have no data:
/// their row/column is replaced by a unit diagonal (solution 0) and covered[u] = 0.
/// A relative ridge `ridge · max diagonal` is added to every diagonal (the
/// deconvolution is ill-conditioned at the Nyquist frequency). status[0] = Cholesky
/// info (0 = success).
struct solve_band {
  double* ab;
  double* x;       ///< b on entry, solution on exit
  double* zb;      ///< null, or the band of A⁻¹ on exit
  std::uint8_t* covered;
  int n, p;
  double ridge, rel_empty;
  int* status;
  SPECX_HOST_DEVICE void operator()(std::size_t) const {
    const int ld = p + 1;
    double dmax = 0;
    for (int u = 0; u < n; ++u) dmax = ab[std::size_t(u) * ld] > dmax ? ab[std::size_t(u) * ld] : dmax;
    if (!(dmax > 0)) dmax = 1;
    for (int u = 0; u < n; ++u) {
      double& d = ab[std::size_t(u) * ld];
      if (!(d > rel_empty * dmax)) {
        covered[u] = 0;
        for (int t = 1; t <= p; ++t) {
          ab[std::size_t(u) * ld + t] = 0;
          if (u - t >= 0) ab[std::size_t(u - t) * ld + t] = 0;
        }
        d = dmax;
        x[u] = 0;
      } else {
        covered[u] = 1;
        d += ridge * dmax;
      }
    }
    const int info = band_cholesky(ab, n, p);
    status[0] = info;
    if (info != 0) {
      for (int u = 0; u < n; ++u) x[u] = 0;
      return;
    }
    band_solve(ab, n, p, x);
    if (zb) band_selected_inverse(ab, n, p, zb);
  }
};

/// One thread per (fiber, row) of every fiber: the model m_f[i] and, if zb is
/// given, its variance g² Σ R c C c R over the band. Rows touching an uncovered
/// unknown get var = −1 (no sky/flat information there).
template <class T>
struct evaluate_model {
  normal_inputs<T> in;  // fibers/w/d unused
  const double* x;
  const double* zb;     ///< null: no variance
  const std::uint8_t* covered;
  double* model;        ///< [nspec, nwave]
  double* var;          ///< [nspec, nwave] or null
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = in.r.nwave, K = in.K, h = in.half(), p = in.bandwidth(), ld = p + 1;
    const int f = static_cast<int>(idx / std::size_t(n)), i = static_cast<int>(idx % std::size_t(n));
    const int j0 = i - h > 0 ? i - h : 0, j1 = i + h < n - 1 ? i + h : n - 1;
    const double gi = in.gg(f, i);
    double c[kMaxComponents];
    for (int k = 0; k < K; ++k) c[k] = in.c(f, k);
    double m = 0;
    bool ok = true;
    for (int j = j0; j <= j1; ++j) {
      const double rij = double(in.r.element(f, i, j));
      if (rij == 0) continue;
      for (int k = 0; k < K; ++k) {
        m += rij * c[k] * x[j * K + k];
        if (!covered[j * K + k] && c[k] != 0) ok = false;
      }
    }
    model[idx] = gi * m;
    if (!var) return;
    if (!ok) {
      var[idx] = -1;
      return;
    }
    // row i of R_f, gathered once (ndiag ≤ kMaxDiag; larger bands read storage directly)
    double rrow[kMaxDiag];
    const int nj = j1 - j0 + 1;
    const bool local = nj <= kMaxDiag;
    if (local)
      for (int j = j0; j <= j1; ++j) rrow[j - j0] = double(in.r(f, h - (j - i), j));
    double v = 0;
    for (int j = j0; j <= j1; ++j) {
      const double rij = local ? rrow[j - j0] : double(in.r.element(f, i, j));
      if (rij == 0) continue;
      for (int j2 = j0; j2 <= j1; ++j2) {
        const double rij2 = local ? rrow[j2 - j0] : double(in.r.element(f, i, j2));
        if (rij2 == 0) continue;
        if (K == 1) {
          const int u = j, u2 = j2;
          const double z = u2 >= u ? zb[std::size_t(u) * ld + (u2 - u)] : zb[std::size_t(u2) * ld + (u - u2)];
          v += rij * c[0] * z * c[0] * rij2;
          continue;
        }
        for (int k = 0; k < K; ++k)
          for (int k2 = 0; k2 < K; ++k2) {
            const int u = j * K + k, u2 = j2 * K + k2;
            const double z = u2 >= u ? zb[std::size_t(u) * ld + (u2 - u)] : zb[std::size_t(u2) * ld + (u - u2)];
            v += rij * c[k] * z * c[k2] * rij2;
          }
      }
    }
    var[idx] = gi * gi * v;
  }
};

/// Assemble, solve and evaluate on backend B. Returns the Cholesky status; x gets
/// the K·nwave unknowns (interleaved), covered their coverage flags, zb (if
/// want_inverse) the band of A⁻¹. Blocking.
template <class B, class T>
int solve_normal(B be, const normal_inputs<T>& in, double ridge, double rel_empty, bool want_inverse,
                 backend::vector_t<B, double>& x, backend::vector_t<B, double>& zb,
                 backend::vector_t<B, std::uint8_t>& covered) {
  const int n = in.r.nwave, K = in.K, h = in.half(), p = in.bandwidth();
  const std::size_t nu = std::size_t(n) * K, ld = std::size_t(p) + 1;
  auto ab = backend::make_vector<double>(be, nu * ld, 0.0);
  x = backend::make_vector<double>(be, nu, 0.0);
  covered = backend::make_vector<std::uint8_t>(be, nu, std::uint8_t(0));
  if (want_inverse) zb = backend::make_vector<double>(be, nu * ld, 0.0);
  backend::for_each_index(be, std::size_t(n) * std::size_t(2 * h + 1), assemble_band<T>{in, backend::raw(be, ab)});
  backend::for_each_index(be, nu, assemble_rhs<T>{in, backend::raw(be, x)});
  auto st = backend::make_vector<int>(be, 1, 0);
  backend::for_each_index(be, 1,
                          solve_band{backend::raw(be, ab), backend::raw(be, x), want_inverse ? backend::raw(be, zb) : nullptr,
                                     backend::raw(be, covered), int(nu), p, ridge, rel_empty, backend::raw(be, st)});
  return backend::to_host(be, st)[0];
}

}  // namespace specx::detail::calib
