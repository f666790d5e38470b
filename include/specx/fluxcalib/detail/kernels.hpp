// Per-element functors of the flux calibration (device-safe, allocation-free).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../../resolution/banded.hpp"

namespace specx::fluxcalib::detail {

inline constexpr int max_poly = 16;  ///< largest continuum polynomial (coefficients)

/// Legendre P_0..P_{n−1}(u) by the three-term recurrence.
SPECX_HOST_DEVICE inline void legendre_row(int n, double u, double* p) {
  p[0] = 1.0;
  if (n > 1) p[1] = u;
  for (int k = 1; k + 1 < n; ++k) p[k + 1] = ((2 * k + 1) * u * p[k] - k * p[k - 1]) / (k + 1);
}

/// dd − yᵀ N⁻¹ y for a small symmetric positive-definite N (n ≤ max_poly), by an
/// in-place Cholesky factorisation. Returns dd when N is not positive definite
/// (then the model explains nothing); `coef` (optional) receives N⁻¹ y.
SPECX_HOST_DEVICE inline double chi2_after_fit(double* N, const double* y, int n, double dd, double* coef = nullptr) {
  double L[max_poly * max_poly];
  for (int i = 0; i < n * n; ++i) L[i] = N[i];
  for (int j = 0; j < n; ++j) {
    double s = L[j * n + j];
    for (int k = 0; k < j; ++k) s -= L[j * n + k] * L[j * n + k];
    if (!(s > 1e-300 * (1.0 + N[j * n + j])) || !(s < 1e300)) return dd;
    const double d = ::sqrt(s);
    L[j * n + j] = d;
    for (int i = j + 1; i < n; ++i) {
      double t = L[i * n + j];
      for (int k = 0; k < j; ++k) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / d;
    }
  }
  double v[max_poly];
  double q = 0;
  for (int i = 0; i < n; ++i) {  // L v = y
    double t = y[i];
    for (int k = 0; k < i; ++k) t -= L[i * n + k] * v[k];
    v[i] = t / L[i * n + i];
    q += v[i] * v[i];
  }
  if (coef) {  // Lᵀ c = v
    for (int i = n - 1; i >= 0; --i) {
      double t = v[i];
      for (int k = i + 1; k < n; ++k) t -= L[k * n + i] * coef[k];
      coef[i] = t / L[i * n + i];
    }
  }
  return dd - q;
}

/// Fit weights of one spectrum: ivar where the pixel is good, outside every
/// excluded window and finite; 0 elsewhere.
template <class T>
struct fit_weights {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;  // may be null
  const double* wave;
  const double* windows;  // [nwin, 2]
  int nwin;
  double* w;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    double v = double(ivar[i]);
    const double f = double(flux[i]);
    if (!(v > 0) || !(v < 1e300) || !(f == f) || (mask && mask[i] != 0)) v = 0;
    for (int k = 0; k < nwin && v > 0; ++k)
      if (wave[i] >= windows[2 * k] && wave[i] <= windows[2 * k + 1]) v = 0;
    w[i] = v;
  }
};

/// x[k, i] *= a[i] for every row k.
struct scale_rows {
  double* x;
  const double* a;
  int n;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const { x[idx] *= a[idx % std::size_t(n)]; }
};

/// y[k, i] = Σ_j R[i, j] x[k, j] with one matrix R (spectrum 0 of `r`) for every row k.
template <class U>
struct apply_shared {
  resolution::banded_view<const U> r;
  const double* x;
  double* y;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = r.nwave;
    const std::size_t k = idx / std::size_t(n);
    const int i = int(idx % std::size_t(n));
    const double* xs = x + k * std::size_t(n);
    double acc = 0;
    for (int d = 0; d < r.ndiag; ++d) {
      const int j = i + r.offset(d);
      if (j >= 0 && j < n) acc += double(r(0, d, j)) * xs[j];
    }
    y[idx] = acc;
  }
};

/// y[s, i] = Σ_j R_{row[s]}[i, j] x[s, j]: each row with its own spectrum's matrix.
template <class U>
struct apply_rows {
  resolution::banded_view<const U> r;
  const int* row;
  const double* x;
  double* y;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = r.nwave;
    const std::size_t s = idx / std::size_t(n);
    const int i = int(idx % std::size_t(n));
    const double* xs = x + s * std::size_t(n);
    double acc = 0;
    for (int d = 0; d < r.ndiag; ++d) {
      const int j = i + r.offset(d);
      if (j >= 0 && j < n) acc += double(r(row[s], d, j)) * xs[j];
    }
    y[idx] = acc;
  }
};

/// The weighted design of one camera and family, one thread per pixel i:
/// X[a, i] = √w_i P_p(u_i) M_b(i) for a = p·nbasis + b < na, and the data row
/// X[na, i] = √w_i d_i (na = npoly·nbasis).
template <class T>
struct design_rows {
  const double* M;  // [nfam, nbasis, n]
  const double* w;
  const T* d;
  const double* wave;
  int n, nbasis, npoly;
  double w0, w1;    // Legendre domain
  double* X;        // [nfam, na + 1, n]
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int na = npoly * nbasis;
    const std::size_t f = idx / std::size_t(n), i = idx % std::size_t(n);
    const double* Mf = M + f * std::size_t(nbasis) * n;
    double* Xf = X + f * std::size_t(na + 1) * n;
    const double sw = w[i] > 0 ? ::sqrt(w[i]) : 0.0;
    double P[max_poly];
    legendre_row(npoly, 2.0 * (wave[i] - w0) / (w1 - w0) - 1.0, P);
    for (int p = 0; p < npoly; ++p)
      for (int b = 0; b < nbasis; ++b) Xf[std::size_t(p * nbasis + b) * n + i] = sw * P[p] * Mf[std::size_t(b) * n + i];
    Xf[std::size_t(na) * n + i] = sw > 0 ? sw * double(d[i]) : 0.0;
  }
};

/// Gram matrix Gx = X Xᵀ [m, m] (m = na + 1) of design_rows: the normal matrix
/// (a, a' < na), Φᵀ W d (last row) and dᵀ W d (corner). One thread per pair a ≤ a'.
struct gram_sym {
  const double* X;  // [nfam, m, n]
  int n, m;
  double* G;        // [nfam, m, m] of this camera, family stride gstride
  std::size_t gstride;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t mm = std::size_t(m) * std::size_t(m);
    const std::size_t f = idx / mm;
    const int a = int((idx % mm) / std::size_t(m)), b = int(idx % std::size_t(m));
    if (a > b) return;
    const double* xa = X + (f * std::size_t(m) + std::size_t(a)) * n;
    const double* xb = X + (f * std::size_t(m) + std::size_t(b)) * n;
    double acc = 0;
    for (int i = 0; i < n; ++i) acc += xa[i] * xb[i];
    G[f * gstride + std::size_t(a) * m + b] = acc;
    G[f * gstride + std::size_t(b) * m + a] = acc;
  }
};

/// χ² of every archetype of a family (one thread per archetype), summed over
/// cameras, each camera with its own continuum polynomial:
///   N_c[p, q] = Σ_{b,b'} c_b c_b' G_c[(p,b), (q,b')],  y_c[p] = Σ_b c_b h_c[(p,b)],
///   χ² = Σ_c dd_c − y_cᵀ N_c⁻¹ y_c.
struct archetype_chi2 {
  const double* coeff;  // [narch_total, nbasis]
  const int* family;    // [narch_total]
  const double* G;      // [nfam, ncam, m, m], m = npoly·nbasis + 1 (gram_sym)
  int nfam, ncam, nbasis, npoly;
  double* chi2;         // [narch_total]
  SPECX_HOST_DEVICE void operator()(std::size_t a) const {
    const int na = npoly * nbasis, m = na + 1;
    const double* c = coeff + a * std::size_t(nbasis);
    double total = 0;
    double N[max_poly * max_poly], y[max_poly];
    for (int cam = 0; cam < ncam; ++cam) {
      const double* Gc = G + (std::size_t(family[a]) * ncam + std::size_t(cam)) * m * m;
      for (int p = 0; p < npoly; ++p) {
        double t = 0;
        for (int b = 0; b < nbasis; ++b) t += c[b] * Gc[std::size_t(na) * m + p * nbasis + b];
        y[p] = t;
        for (int q = 0; q <= p; ++q) {
          double s = 0;
          for (int b = 0; b < nbasis; ++b) {
            const double* row = Gc + std::size_t(p * nbasis + b) * m + q * nbasis;
            double r = 0;
            for (int b2 = 0; b2 < nbasis; ++b2) r += c[b2] * row[b2];
            s += c[b] * r;
          }
          N[p * npoly + q] = s;
          N[q * npoly + p] = s;
        }
      }
      total += chi2_after_fit(N, y, npoly, Gc[std::size_t(na) * m + na]);
    }
    chi2[a] = total;
  }
};

/// χ² of one model per redshift (thread k): model M[k, :] times a continuum
/// polynomial fitted to d with weights w.
template <class T>
struct model_chi2 {
  const double* M;  // [nz, n]
  const double* w;
  const T* d;
  const double* wave;
  int n, npoly;
  double w0, w1;
  double* chi2;     // [nz]
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    double N[max_poly * max_poly], y[max_poly], P[max_poly];
    for (int i = 0; i < npoly * npoly; ++i) N[i] = 0;
    for (int i = 0; i < npoly; ++i) y[i] = 0;
    double dd = 0;
    const double* m = M + k * std::size_t(n);
    for (int i = 0; i < n; ++i) {
      if (!(w[i] > 0)) continue;
      legendre_row(npoly, 2.0 * (wave[i] - w0) / (w1 - w0) - 1.0, P);
      const double di = double(d[i]);
      dd += w[i] * di * di;
      for (int p = 0; p < npoly; ++p) {
        const double fp = w[i] * P[p] * m[i];
        y[p] += fp * di;
        for (int q = 0; q <= p; ++q) N[p * npoly + q] += fp * P[q] * m[i];
      }
    }
    for (int p = 0; p < npoly; ++p)
      for (int q = p + 1; q < npoly; ++q) N[p * npoly + q] = N[q * npoly + p];
    chi2[k] = chi2_after_fit(N, y, npoly, dd);
  }
};

// ------------------------------------------------------------ calibration vector

/// Ratio of a star's spectrum to its convolved model: r = d/m, weight w = ivar·m².
template <class T>
struct star_ratio {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;
  const int* row;
  const double* m;  // [nstar, n] convolved model (electrons-free flux units)
  int n;
  double* r;
  double* w;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t s = idx / std::size_t(n), i = idx % std::size_t(n);
    const std::size_t p = std::size_t(row[s]) * std::size_t(n) + i;
    const double mv = m[idx], iv = double(ivar[p]), f = double(flux[p]);
    const bool ok = mv > 0 && iv > 0 && iv < 1e300 && f == f && !(mask && mask[p] != 0);
    r[idx] = ok ? f / mv : 0.0;
    w[idx] = ok ? iv * mv * mv : 0.0;
  }
};

/// Per pixel: S_i = Σ_s w a_s r / Σ_s w a_s² (least squares for r_s ≈ a_s S),
/// W_i = Σ_s w a_s², n_i = number of stars with w > 0.
struct mean_ratio {
  const double* r;
  const double* w;
  const double* a;
  int nstar, n;
  double* S;
  double* W;
  int* count;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    double num = 0, den = 0;
    int c = 0;
    for (int s = 0; s < nstar; ++s) {
      const double ws = w[std::size_t(s) * n + i];
      if (!(ws > 0)) continue;
      num += ws * a[s] * r[std::size_t(s) * n + i];
      den += ws * a[s] * a[s];
      ++c;
    }
    S[i] = den > 0 ? num / den : 0.0;
    W[i] = den;
    count[i] = c;
  }
};

/// Per star: a_s = Σ_i w r S / Σ_i w S².
struct star_scale {
  const double* r;
  const double* w;
  const double* S;
  int n;
  double* a;
  SPECX_HOST_DEVICE void operator()(std::size_t s) const {
    double num = 0, den = 0;
    for (int i = 0; i < n; ++i) {
      const double ws = w[s * std::size_t(n) + i];
      if (!(ws > 0)) continue;
      num += ws * r[s * std::size_t(n) + i] * S[i];
      den += ws * S[i] * S[i];
    }
    a[s] = den > 0 ? num / den : 0.0;
  }
};

/// Clip star pixels whose residual exceeds nsig σ, σ² = 1/w + (model_error·a S)².
struct clip_ratio {
  const double* r;
  double* w;
  const double* a;
  const double* S;
  int n;
  double nsig, model_error;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t idx) const {
    const double ws = w[idx];
    if (!(ws > 0)) return 0;
    const std::size_t s = idx / std::size_t(n), i = idx % std::size_t(n);
    const double pred = a[s] * S[i];
    const double var = 1.0 / ws + (model_error * pred) * (model_error * pred);
    const double res = r[idx] - pred;
    if (res * res > nsig * nsig * var) {
      w[idx] = 0;
      return 1;
    }
    return 0;
  }
};

/// Gaussian-kernel local-linear regression of S (weights W, used only where at
/// least min_count stars contribute): Ŝ_i = α with (α, β) minimising
/// Σ_j K_ij W_j (S_j − α − β (λ_j − λ_i))². Unbiased for linear trends, also at the
/// ends of the grid. var_i = Σ_j l_ij² / W_j with l the effective weights; var = 0
/// marks a pixel without calibration.
struct local_linear {
  const double* wave;
  const double* S;
  const double* W;
  const int* count;
  int n, min_count;
  double sigma;
  double* out;
  double* var;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    const double li = wave[i], reach = 4.0 * sigma;
    int j0 = int(i), j1 = int(i);
    while (j0 > 0 && li - wave[j0 - 1] <= reach) --j0;
    while (j1 + 1 < n && wave[j1 + 1] - li <= reach) ++j1;
    double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
    for (int j = j0; j <= j1; ++j) {
      if (count[j] < min_count || !(W[j] > 0)) continue;
      const double x = wave[j] - li, k = ::exp(-0.5 * (x / sigma) * (x / sigma)) * W[j];
      s0 += k;
      s1 += k * x;
      s2 += k * x * x;
      t0 += k * S[j];
      t1 += k * x * S[j];
    }
    const double det = s0 * s2 - s1 * s1;
    if (!(s0 > 0) || !(det > 1e-12 * s0 * s2) || count[i] < min_count) {
      out[i] = 0;
      var[i] = 0;
      return;
    }
    out[i] = (s2 * t0 - s1 * t1) / det;
    double v = 0;
    for (int j = j0; j <= j1; ++j) {
      if (count[j] < min_count || !(W[j] > 0)) continue;
      const double x = wave[j] - li, k = ::exp(-0.5 * (x / sigma) * (x / sigma)) * W[j];
      const double l = k * (s2 - s1 * x) / det;
      v += l * l / W[j];
    }
    var[i] = v;
  }
};

/// Per fiber and pixel: the convolved calibration c_f = R_f C / R_f 1 and its
/// inverse variance (σ_C fully correlated over the resolution width, as the
/// smoothing kernel is much wider); NODATA where any contributing C is undefined.
template <class U>
struct convolve_calibration {
  resolution::banded_view<const U> r;
  const double* C;      // [n]
  const double* sigC;   // [n], 0: undefined
  std::int32_t nodata;
  float* cal;
  float* ivar;
  std::int32_t* mask;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = r.nwave;
    const int f = int(idx / std::size_t(n)), i = int(idx % std::size_t(n));
    double num = 0, den = 0, sg = 0;
    bool bad = false;
    for (int d = 0; d < r.ndiag; ++d) {
      const int j = i + r.offset(d);
      if (j < 0 || j >= n) continue;
      const double rv = double(r(f, d, j));
      if (rv == 0) continue;
      if (!(sigC[j] > 0)) bad = true;
      num += rv * C[j];
      den += rv;
      sg += rv * sigC[j];
    }
    if (bad || !(den > 0) || !(num > 0)) {
      cal[idx] = 0.0f;
      ivar[idx] = 0.0f;
      mask[idx] = nodata;
      return;
    }
    const double c = num / den, s = sg / den;
    cal[idx] = float(c);
    ivar[idx] = float(1.0 / (s * s));
    mask[idx] = 0;
  }
};

/// cframe = frame / calibration with variance propagation
/// σ² = σ_f²/C² + f² σ_C²/C⁴ (desispec apply_flux_calibration).
template <class T>
struct apply_calibration_pixel {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;  // may be null
  const float* cal;
  const float* cal_ivar;
  const std::int32_t* cal_mask;
  T* out_flux;
  T* out_ivar;
  std::int32_t* out_mask;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    const double C = cal[i], f = double(flux[i]), iv = double(ivar[i]);
    const std::int32_t m = (mask ? mask[i] : 0) | cal_mask[i];
    out_mask[i] = m;
    if (!(C > 0) || cal_mask[i] != 0) {
      out_flux[i] = T(0);
      out_ivar[i] = T(0);
      return;
    }
    out_flux[i] = T(f / C);
    if (!(iv > 0)) {
      out_ivar[i] = T(0);
      return;
    }
    const double vc = cal_ivar[i] > 0 ? 1.0 / double(cal_ivar[i]) : 0.0;
    const double var = 1.0 / (iv * C * C) + f * f * vc / (C * C * C * C);
    out_ivar[i] = T(1.0 / var);
  }
};

/// y[i] = double(x[i]).
template <class T>
struct copy_to_double {
  const T* x;
  double* y;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const { y[i] = double(x[i]); }
};

struct size_sum {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};

}  // namespace specx::fluxcalib::detail
