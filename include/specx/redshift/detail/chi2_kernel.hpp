// The per-(target, redshift) kernel of the scan: given one target's cameras
// (weights w = ivar, w·f, banded R) and the template basis already rebinned (and
// IGM-attenuated) onto every camera's pixels at that redshift, T_c [nbasis, n_c],
//   Tb = R T,  M = Tbᵀ W Tb,  y = Tbᵀ W f,  M c = y (Cholesky),
//   χ² = fᵀWf − cᵀy  (= Σ w (f − Tb c)² at the least-squares solution).
// Per pixel nbasis·ndiag FMAs for R T and nbasis(nbasis+3)/2 for M and y. On the
// device R T is formed on the fly pixel by pixel (Tb never stored); on the host per
// chunk of 64 pixels on the stack (vectorisable along pixels; M, y as 8-lane dot
// products). Pixels with w = 0 contribute nothing (skipped / zeroed). A failed factorisation (M not positive
// definite: no data, or a basis without support) gives χ² = 9e99 and c = 0, as
// redrock's LinAlgError path does. Device safe, allocation free.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../igm_models.hpp"

// Full unrolling of the fixed-size basis loops (GCC only unrolls them at -O3).
#if defined(__CUDACC__) || defined(__clang__)
#define SPECX_RS_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define SPECX_RS_UNROLL _Pragma("GCC unroll 16")
#else
#define SPECX_RS_UNROLL
#endif

namespace specx::redshift::detail {

inline constexpr int max_basis = 10;
inline constexpr int max_cameras = 8;
inline constexpr double bad_chi2 = 9e99;

/// In-place Cholesky of a packed lower-triangular n×n matrix (row-major packing,
/// element (k, l ≤ k) at k(k+1)/2 + l) and solve for b. Returns false when a pivot
/// is not positive and finite.
SPECX_HOST_DEVICE inline double kernel_sqrt(double x) {
#if SPECX_DEVICE_PASS
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}

SPECX_HOST_DEVICE inline bool packed_cholesky_solve(double* a, double* b, int n) {
  for (int k = 0; k < n; ++k) {
    const int rk = k * (k + 1) / 2;
    for (int l = 0; l <= k; ++l) {
      const int rl = l * (l + 1) / 2;
      double s = a[rk + l];
      for (int m = 0; m < l; ++m) s -= a[rk + m] * a[rl + m];
      if (l == k) {
        if (!(s > 0) || !(s < 1e300)) return false;
        a[rk + k] = kernel_sqrt(s);
      } else {
        a[rk + l] = s / a[rl + l];
      }
    }
  }
  for (int k = 0; k < n; ++k) {  // L z = b
    const int rk = k * (k + 1) / 2;
    double s = b[k];
    for (int m = 0; m < k; ++m) s -= a[rk + m] * b[m];
    b[k] = s / a[rk + k];
  }
  for (int k = n - 1; k >= 0; --k) {  // Lᵀ x = z
    double s = b[k];
    for (int m = k + 1; m < n; ++m) s -= a[m * (m + 1) / 2 + k] * b[m];
    b[k] = s / a[k * (k + 1) / 2 + k];
  }
  return true;
}

/// One camera as the kernel sees it.
struct camera_view {
  std::size_t nw = 0;         ///< pixels
  int ndiag = 1;              ///< resolution diagonals
  const double* res = nullptr;  ///< [ntarget, ndiag, nw]
  const double* w = nullptr;    ///< [ntarget, nw] ivar
  const double* wf = nullptr;   ///< [ntarget, nw] ivar·flux
  const double* tmpl = nullptr; ///< [nslot, nbasis, nw] rebinned template
};

/// Work item idx → (slot, target): either slot = idx / ntarget, target = idx % ntarget
/// (coarse scan: every target at every shared redshift slot), or given by the
/// pair arrays (refinement: each item its own slot).
struct chi2_kernel {
  camera_view cam[max_cameras];
  int ncam = 0;
  int nbasis = 0;
  std::size_t ntarget = 0;
  const std::uint32_t* pair_target = nullptr;  ///< optional [nitem]
  const double* fwf = nullptr;                 ///< [ntarget] Σ w f²
  double oii[max_basis] = {};                  ///< [OII] sums (penalty) if has_oii
  bool has_oii = false;
  double* chi2 = nullptr;     ///< [nitem]
  double* penalty = nullptr;  ///< [nitem]
  double* coeff = nullptr;    ///< [nitem, nbasis]

  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    // nbasis as a compile-time constant keeps Tb, M and y in registers.
    switch (nbasis) {
      case 1: run<1>(idx); break;
      case 2: run<2>(idx); break;
      case 3: run<3>(idx); break;
      case 4: run<4>(idx); break;
      case 5: run<5>(idx); break;
      case 6: run<6>(idx); break;
      case 7: run<7>(idx); break;
      case 8: run<8>(idx); break;
      case 9: run<9>(idx); break;
      default: run<10>(idx); break;
    }
  }

  template <int NB>
  SPECX_HOST_DEVICE void run(std::size_t idx) const {
    std::size_t slot, t;
    if (pair_target) {
      slot = idx;
      t = pair_target[idx];
    } else {
      slot = idx / ntarget;
      t = idx % ntarget;
    }
    constexpr int NM = NB * (NB + 1) / 2;
    double m[NM];
    double y[NB];
    for (int k = 0; k < NM; ++k) m[k] = 0;
    for (int k = 0; k < NB; ++k) y[k] = 0;
#if SPECX_DEVICE_PASS
    accumulate_per_pixel<NB>(slot, t, m, y);
#else
    accumulate_chunked<NB>(slot, t, m, y);
#endif
    double b[NB];
    for (int k = 0; k < NB; ++k) b[k] = y[k];
    double* out = coeff + idx * static_cast<std::size_t>(NB);
    if (!packed_cholesky_solve(m, b, NB)) {
      chi2[idx] = bad_chi2;
      penalty[idx] = 0;
      for (int k = 0; k < NB; ++k) out[k] = 0;
      return;
    }
    double cy = 0;
    for (int k = 0; k < NB; ++k) {
      out[k] = b[k];
      cy += b[k] * y[k];
    }
    chi2[idx] = fwf[t] - cy;
    double pen = 0;
    if (has_oii) {
      double f = 0;
      for (int k = 0; k < NB; ++k) f += oii[k] * b[k];
      pen = f < 0 ? -f : 0.0;
    }
    penalty[idx] = pen;
  }
  /// M and y summed pixel by pixel (device path: no scratch memory).
  template <int NB>
  SPECX_HOST_DEVICE void accumulate_per_pixel(std::size_t slot, std::size_t t, double* m, double* y) const {
    for (int c = 0; c < ncam; ++c) {
      const camera_view& cv = cam[c];
      const std::size_t nw = cv.nw;
      const int nd = cv.ndiag, h = nd / 2;
      const double* R = cv.res + t * static_cast<std::size_t>(nd) * nw;
      const double* w = cv.w + t * nw;
      const double* wf = cv.wf + t * nw;
      const double* T = cv.tmpl + slot * static_cast<std::size_t>(NB) * nw;
      for (std::size_t i = 0; i < nw; ++i) {
        const double wi = w[i];
        if (wi == 0) continue;
        double tb[NB];
        SPECX_RS_UNROLL
        for (int k = 0; k < NB; ++k) tb[k] = 0;
        // (R x)_i = Σ_d res[d, i + o_d] x_{i + o_d}, o_d = h − d.
        const long ii = static_cast<long>(i);
        int d0 = 0, d1 = nd;  // keep 0 ≤ i + h − d < nw
        if (ii + h - (nd - 1) < 0) d1 = static_cast<int>(ii + h) + 1;
        if (ii + h >= static_cast<long>(nw)) d0 = static_cast<int>(ii + h - static_cast<long>(nw) + 1);
        for (int d = d0; d < d1; ++d) {
          const std::size_t j = static_cast<std::size_t>(ii + h - d);
          const double r = R[static_cast<std::size_t>(d) * nw + j];
          SPECX_RS_UNROLL
          for (int k = 0; k < NB; ++k) tb[k] += r * T[static_cast<std::size_t>(k) * nw + j];
        }
        const double wfi = wf[i];
        int p = 0;
        SPECX_RS_UNROLL
        for (int k = 0; k < NB; ++k) {
          y[k] += wfi * tb[k];
          const double wk = wi * tb[k];
          SPECX_RS_UNROLL
          for (int l = 0; l <= k; ++l) m[p++] += wk * tb[l];
        }
      }
    }
  }

#if !SPECX_DEVICE_PASS
  /// Host path, same sums in another order: per camera, chunks of kChunk pixels;
  /// Tb = R T for the chunk (contiguous in the pixel index, vectorisable; the same
  /// operations per Tb element as the per-pixel path), pixels with w = 0 zeroed,
  /// then each entry of M and y as a dot product over the chunk accumulated in
  /// kLanes independent partial sums (SIMD lanes), summed in a fixed order at the end.
  static constexpr std::size_t kChunk = 64;
  static constexpr int kLanes = 8;
  template <int NB>
  void accumulate_chunked(std::size_t slot, std::size_t t, double* m_out, double* y_out) const {
    constexpr int NM = NB * (NB + 1) / 2;
    double am[NM][kLanes] = {};
    double ay[NB][kLanes] = {};
    alignas(64) double tb[NB][kChunk];
    alignas(64) double wt[NB][kChunk];
    alignas(64) double wfm[kChunk];
    for (int c = 0; c < ncam; ++c) {
      const camera_view& cv = cam[c];
      const std::size_t nw = cv.nw;
      const int nd = cv.ndiag, h = nd / 2;
      const double* R = cv.res + t * static_cast<std::size_t>(nd) * nw;
      const double* w = cv.w + t * nw;
      const double* wf = cv.wf + t * nw;
      const double* T = cv.tmpl + slot * static_cast<std::size_t>(NB) * nw;
      const long lnw = static_cast<long>(nw);
      for (std::size_t i0 = 0; i0 < nw; i0 += kChunk) {
        const std::size_t n = nw - i0 < kChunk ? nw - i0 : kChunk;
        bool any = false;
        for (std::size_t q = 0; q < n; ++q) any = any || w[i0 + q] != 0;
        if (!any) continue;
        for (int k = 0; k < NB; ++k)
          for (std::size_t q = 0; q < kChunk; ++q) tb[k][q] = 0;
        // (R x)_i = Σ_d res[d, i + h − d] x_{i + h − d}, for 0 ≤ i + h − d < nw.
        for (int d = 0; d < nd; ++d) {
          const long off = h - d;
          const long ilo = std::max<long>(static_cast<long>(i0), -off);
          const long ihi = std::min<long>(static_cast<long>(i0 + n), lnw - off);
          if (ihi <= ilo) continue;
          const long len = ihi - ilo;
          const double* Rd = R + static_cast<long>(d) * lnw + (ilo + off);
          for (int k = 0; k < NB; ++k) {
            const double* Tk = T + static_cast<long>(k) * lnw + (ilo + off);
            double* tk = tb[k] + (ilo - static_cast<long>(i0));
            for (long j = 0; j < len; ++j) tk[j] += Rd[j] * Tk[j];
          }
        }
        for (std::size_t q = 0; q < kChunk; ++q) {
          const double wi = q < n ? w[i0 + q] : 0.0;
          const bool on = wi != 0;
          wfm[q] = on ? wf[i0 + q] : 0.0;
          for (int k = 0; k < NB; ++k) {
            const double v = on ? tb[k][q] : 0.0;
            tb[k][q] = v;
            wt[k][q] = wi * v;
          }
        }
        int p = 0;
        for (int k = 0; k < NB; ++k) {
          for (std::size_t q = 0; q < kChunk; q += kLanes)
            for (int L = 0; L < kLanes; ++L) ay[k][L] += wfm[q + L] * tb[k][q + L];
          for (int l = 0; l <= k; ++l, ++p)
            for (std::size_t q = 0; q < kChunk; q += kLanes)
              for (int L = 0; L < kLanes; ++L) am[p][L] += wt[k][q + L] * tb[l][q + L];
        }
      }
    }
    auto lane_sum = [](const double* a) {
      return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    };
    static_assert(kLanes == 8, "lane_sum sums 8 lanes");
    for (int p = 0; p < NM; ++p) m_out[p] = lane_sum(am[p]);
    for (int k = 0; k < NB; ++k) y_out[k] = lane_sum(ay[k]);
  }
#endif
};

/// T[slot, k, i] *= transmission(λ_i, z_slot) for one camera; work item = (slot, i).
template <class Trans>
struct igm_apply {
  Trans trans;               ///< SPECX_HOST_DEVICE double(double λ, double z)
  const double* wave;        ///< [nw]
  const double* z;           ///< [nslot]
  double* tmpl;              ///< [nslot, nbasis, nw]
  std::size_t nw;
  int nbasis;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t s = idx / nw, i = idx % nw;
    const double t = trans(wave[i], z[s]);
    if (t == 1.0) return;
    double* T = tmpl + s * static_cast<std::size_t>(nbasis) * nw + i;
    for (int k = 0; k < nbasis; ++k) T[static_cast<std::size_t>(k) * nw] *= t;
  }
};

/// Transmission functor for igm_apply.
struct igm_trans {
  int model;  ///< static_cast<int>(igm_model)
  igm::inoue14_table inoue;
  double lambda_min;  ///< camera's bluest pixel: redrock's per-z shortcut
  SPECX_HOST_DEVICE double operator()(double lambda, double z) const {
    const auto m = static_cast<igm_model>(model);
    if (!igm_affects(m, lambda_min, z)) return 1.0;
    return igm_transmission(m, inoue, lambda, z);
  }
};

}  // namespace specx::redshift::detail
