// The per-(target, redshift) kernel of the scan: given one target's cameras
// (weights w = ivar, w·f, banded R) and the template basis already rebinned (and
// IGM-attenuated) onto every camera's pixels at that redshift, T_c [nbasis, n_c],
//   Tb = R T,  M = Tbᵀ W Tb,  y = Tbᵀ W f,  M c = y (Cholesky),
//   χ² = fᵀWf − cᵀy  (= Σ w (f − Tb c)² at the least-squares solution).
// Per pixel nbasis·ndiag FMAs for R T and nbasis(nbasis+3)/2 for M and y. On the
// device R T is formed on the fly pixel by pixel (Tb never stored); on the host
// the work is tiled (several redshifts × several targets, see chi2_tile): per
// chunk of 128 pixels, R and T chunks are reused from L1/L2 across the tile, and
// Tb is formed on the stack once per redshift for each run of targets with
// identical resolution matrices (all targets of a simulated batch: the R T cost
// is then shared). Pixels with w = 0 contribute nothing. A failed
// factorisation (M not positive definite: no data, or a basis without support)
// gives χ² = 9e99 and c = 0, as redrock's LinAlgError path does. Device safe,
// allocation free.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../../config.hpp"
#include "../../core/simd.hpp"
#include "../igm_models.hpp"

// Full unrolling of the fixed-size basis loops (GCC only unrolls them at -O3).
// nvcc's host pass hands its pragmas to the host compiler, which knows neither
// form: none there.
#if defined(__CUDA_ARCH__) || (defined(__clang__) && !defined(__CUDACC__))
#define SPECX_RS_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)
#define SPECX_RS_UNROLL
#elif defined(__GNUC__)
#define SPECX_RS_UNROLL _Pragma("GCC unroll 16")
#else
#define SPECX_RS_UNROLL
#endif
// The same for host-only code (nvcc's front end rejects GCC's pragma and gcc
// ignores nvcc's: none in CUDA translation units, where -O3 unrolls these anyway).
#if defined(__CUDACC__)
#define SPECX_RS_HOST_UNROLL
#elif defined(__clang__)
#define SPECX_RS_HOST_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define SPECX_RS_HOST_UNROLL _Pragma("GCC unroll 16")
#else
#define SPECX_RS_HOST_UNROLL
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

#if !SPECX_DEVICE_PASS
namespace simd = core::simd;
#endif

/// One camera as the kernel sees it.
struct camera_view {
  std::size_t nw = 0;         ///< pixels
  int ndiag = 1;              ///< resolution diagonals
  const double* res = nullptr;  ///< [ntarget, ndiag, nw], target t's at res + t·res_stride
  std::size_t res_stride = 0;   ///< ndiag·nw; 0: one R shared by every target
  const double* w = nullptr;    ///< [ntarget, nw] ivar
  const double* wf = nullptr;   ///< [ntarget, nw] ivar·flux (0 where ivar = 0)
  const double* tmpl = nullptr; ///< [nslot, nbasis, nw] rebinned template
};

/// One host work item: the fits of slots [slot0, slot0 + nslot) × targets
/// member[mem0 .. mem0 + nmember). Per pixel chunk, every slot's rebinned
/// template chunk is reused from L1 by all the tile's targets and every target's
/// R chunk by all its slots; consecutive members with bitwise-identical
/// resolution matrices (same group representative) share one Tb = R T.
struct chi2_tile {
  std::uint32_t slot0, nslot, mem0, nmember;
};

/// The fit of (slot, target): coarse mode (pair_target null) writes result
/// slot·ntarget + target, pair mode (item s = target pair_target[s] with the
/// template of slot pair_slot[s], or of slot s without pair_slot) writes result s.
///
/// Two iteration schemes, same sums in a different order:
///  * device (tiles null): work item idx = one fit, (slot, target) = (idx /
///    ntarget, idx % ntarget) or (idx, pair_target[idx]); M and y summed pixel by
///    pixel, Tb never stored (no scratch memory);
///  * host (tiles set, work item = one chi2_tile): per camera and chunk of kChunk
///    pixels, Tb for one slot (register-blocked: two groups of simd::wide_lanes
///    pixels × nbasis accumulators, one load of R per diagonal and group), then
///    for every target of the tile the M and y
///    updates as 4-lane vector FMAs accumulated across chunks; lanes summed in a
///    fixed order at the end. Only pixels with w ≠ 0 contribute (a chunk whose Tb
///    holds a non-finite value masks them explicitly, as the device path skips them).
struct chi2_kernel {
  camera_view cam[max_cameras];
  int ncam = 0;
  int nbasis = 0;
  std::size_t ntarget = 0;
  const std::uint32_t* pair_target = nullptr;  ///< optional [nitem]
  const std::uint32_t* pair_slot = nullptr;    ///< optional [nitem] (pair mode; null: slot = item)
  const chi2_tile* tiles = nullptr;            ///< host scheme: [ntile]
  const std::uint32_t* member = nullptr;       ///< targets the tiles index into
  const std::uint32_t* group_rep = nullptr;    ///< [ntarget] first target with the same R (host scheme)
  const double* fwf = nullptr;                 ///< [ntarget] Σ w f²
  double oii[max_basis] = {};                  ///< [OII] sums (penalty) if has_oii
  bool has_oii = false;
  double* chi2 = nullptr;     ///< [nresult]
  double* penalty = nullptr;  ///< [nresult]
  double* coeff = nullptr;    ///< [nresult, nbasis]

  static constexpr std::size_t kChunk = 128;  ///< host: pixels per chunk (R chunk 11 KB, in L1)
  static constexpr int kLanes = 4;            ///< host: accumulator width (one AVX2 register)
  static constexpr int kMaxFits = 64;         ///< host: nslot·nmember per tile

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
#if !SPECX_DEVICE_PASS
    if (tiles) {
      run_tile<NB>(tiles[idx]);
      return;
    }
#endif
    std::size_t slot, t;
    if (pair_target) {
      slot = template_slot(idx);
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
    accumulate_per_pixel<NB>(slot, t, m, y);
    finish<NB>(idx, t, m, y);
  }

  /// The rebinned-template slot of item q in pair mode (or of slot q in coarse mode).
  SPECX_HOST_DEVICE std::size_t template_slot(std::size_t q) const { return pair_slot ? pair_slot[q] : q; }

  /// Solves M c = y for result `out` of target t and writes χ², penalty, c.
  template <int NB>
  SPECX_HOST_DEVICE void finish(std::size_t out_idx, std::size_t t, double* m, const double* y) const {
    double b[NB];
    for (int k = 0; k < NB; ++k) b[k] = y[k];
    double* out = coeff + out_idx * static_cast<std::size_t>(NB);
    if (!packed_cholesky_solve(m, b, NB)) {
      chi2[out_idx] = bad_chi2;
      penalty[out_idx] = 0;
      for (int k = 0; k < NB; ++k) out[k] = 0;
      return;
    }
    double cy = 0;
    for (int k = 0; k < NB; ++k) {
      out[k] = b[k];
      cy += b[k] * y[k];
    }
    chi2[out_idx] = fwf[t] - cy;
    double pen = 0;
    if (has_oii) {
      double f = 0;
      for (int k = 0; k < NB; ++k) f += oii[k] * b[k];
      pen = f < 0 ? -f : 0.0;
    }
    penalty[out_idx] = pen;
  }

  /// M and y summed pixel by pixel (device path: no scratch memory).
  template <int NB>
  SPECX_HOST_DEVICE void accumulate_per_pixel(std::size_t slot, std::size_t t, double* m, double* y) const {
    for (int c = 0; c < ncam; ++c) {
      const camera_view& cv = cam[c];
      const std::size_t nw = cv.nw;
      const int nd = cv.ndiag, h = nd / 2;
      const double* R = cv.res + t * cv.res_stride;
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
  /// Tb = R T for pixels [i0, i0 + n) of one camera into tb[k][q] (q < n4 = n
  /// rounded up to kLanes; lanes past n hold the neighbouring pixels' values or
  /// 0 and are given weight 0). Each element sums d = 0 … nd−1 in order, as the
  /// device path does. Returns whether every element of tb[·][0, n4) is finite
  /// (the interior groups are probed whole: a non-finite neighbour past n only
  /// sends the chunk to the masked accumulation, which gives the same sums).
  template <int NB>
  static bool form_tb(const double* R, const double* T, long nw, int nd, long i0, long n, double (*tb)[kChunk]) {
    using simd::vw;
    constexpr long WL = simd::wide_lanes, G = 2 * WL;
    const long h = nd / 2;
    const long n4 = (n + kLanes - 1) / kLanes * kLanes;
    const long ng = (n + G - 1) / G * G;  // whole pairs of wide vectors
    static_assert(kChunk % (2 * simd::wide_lanes) == 0, "a chunk is whole pairs of wide vectors");
    // Groups [qlo, qhi) are interior (every j = i + h − d lies in [0, nw)): the
    // whole chunk but near a camera's ends, whose pixels [0, qlo) and [qhi, n4)
    // take the bounds-checked sums below.
    const long qlo = i0 >= h ? 0 : (h - i0 + G - 1) / G * G;
    const long qhi = std::min(ng, nw - h - i0 >= 0 ? (nw - h - i0) / G * G : 0);
    // Two groups of WL pixels at a time: 2·NB independent sums, so the d loop
    // runs at the loads' rate rather than one FMA latency per step; the wide
    // vectors halve the loads per pixel where the target has them. Lanes past
    // n hold neighbouring pixels (given weight 0 by accumulate_chunk).
    // Finiteness probe: Σ x·0 is NaN exactly when some x is ±inf or NaN; one
    // vector add per group on the loop-carried chain (the sum of the basis
    // rows first: inf + (−inf) is NaN too), not a scalar add per element.
    vw probe = simd::zero_wide();
    for (long q = qlo; q < qhi; q += G) {
      vw a[NB], b[NB];
      SPECX_RS_HOST_UNROLL
      for (int k = 0; k < NB; ++k) a[k] = b[k] = simd::zero_wide();
      for (int d = 0; d < nd; ++d) {
        const long j = i0 + q + h - d;
        const double* Rd = R + static_cast<long>(d) * nw + j;
        const vw r0 = simd::load_wide(Rd), r1 = simd::load_wide(Rd + WL);
        SPECX_RS_HOST_UNROLL
        for (int k = 0; k < NB; ++k) {
          const double* Tk = T + static_cast<long>(k) * nw + j;
          a[k] += r0 * simd::load_wide(Tk);
          b[k] += r1 * simd::load_wide(Tk + WL);
        }
      }
      vw sum = a[0] + b[0];
      SPECX_RS_HOST_UNROLL
      for (int k = 0; k < NB; ++k) {
        simd::store_wide(tb[k] + q, a[k]);
        simd::store_wide(tb[k] + q + WL, b[k]);
        if (k > 0) sum += a[k] + b[k];
      }
      probe += sum * simd::zero_wide();
    }
    bool finite = simd::lane_sum_wide(probe) == 0;
    // Pixels [p0, p1) of the chunk with the bounds checked (lanes from n on stay 0).
    auto edge = [&](long p0, long p1) {
      if (p1 <= p0) return;
      for (int k = 0; k < NB; ++k)
        for (long q = p0; q < p1; ++q) tb[k][q] = 0;
      // (R x)_i = Σ_d res[d, i + h − d] x_{i + h − d}, for 0 ≤ i + h − d < nw.
      for (int d = 0; d < nd; ++d) {
        const long off = h - d;
        const long ilo = std::max<long>(i0 + p0, -off);
        const long ihi = std::min<long>(i0 + std::min(p1, n), nw - off);
        if (ihi <= ilo) continue;
        const long len = ihi - ilo;
        const double* Rd = R + static_cast<long>(d) * nw + (ilo + off);
        for (int k = 0; k < NB; ++k) {
          const double* Tk = T + static_cast<long>(k) * nw + (ilo + off);
          double* tk = tb[k] + (ilo - i0);
          for (long j = 0; j < len; ++j) tk[j] += Rd[j] * Tk[j];
        }
      }
      double pr = 0;
      for (int k = 0; k < NB; ++k)
        for (long q = p0; q < p1; ++q) pr += tb[k][q] * 0.0;
      finite = finite && pr == 0;
    };
    edge(0, std::min(qlo, n4));
    edge(std::max(qhi, qlo), n4);
    return finite;
  }

  /// acc[0 .. NB(NB+1)/2) (packed M) and acc[NM .. NM+NB) (y), kLanes lanes each,
  /// += the chunk's pixels (n of them; w, wf point at the chunk's first pixel).
  /// Mask: pixels with w = 0 get Tb = 0 (needed only when Tb is not finite).
  template <int NB, bool Mask>
  static void accumulate_chunk(const double (*tb)[kChunk], const double* w, const double* wf, long n,
                               simd::vd* acc) {
    using simd::vd;
    constexpr int NM = NB * (NB + 1) / 2;
    vd am[NM + NB];
    SPECX_RS_HOST_UNROLL
    for (int p = 0; p < NM + NB; ++p) am[p] = acc[p];
    auto step = [&](long q, vd wv, vd fv) {
      vd t[NB];
      SPECX_RS_HOST_UNROLL
      for (int k = 0; k < NB; ++k) {
        t[k] = simd::load(tb[k] + q);
        if constexpr (Mask) t[k] = simd::where_nonzero(wv, t[k]);
      }
      int p = 0;
      SPECX_RS_HOST_UNROLL
      for (int k = 0; k < NB; ++k) {
        const vd wt = wv * t[k];
        SPECX_RS_HOST_UNROLL
        for (int l = 0; l <= k; ++l, ++p) am[p] += wt * t[l];
      }
      SPECX_RS_HOST_UNROLL
      for (int k = 0; k < NB; ++k) am[NM + k] += fv * t[k];
    };
    long q = 0;
    for (; q + kLanes <= n; q += kLanes) step(q, simd::load(w + q), simd::load(wf + q));
    if (q < n) {
      double wv[kLanes] = {}, fv[kLanes] = {};
      for (long L = 0; L < n - q; ++L) {
        wv[L] = w[q + L];
        fv[L] = wf[q + L];
      }
      step(q, simd::load(wv), simd::load(fv));
    }
    SPECX_RS_HOST_UNROLL
    for (int p = 0; p < NM + NB; ++p) acc[p] = am[p];
  }

  template <int NB>
  void run_tile(const chi2_tile& tl) const {
    constexpr int NM = NB * (NB + 1) / 2, NA = NM + NB;
    const std::size_t ns = tl.nslot, nm = tl.nmember;
    const std::uint32_t* mem = member + tl.mem0;
    simd::vd acc[kMaxFits][NA];
    for (std::size_t f = 0; f < ns * nm; ++f)
      for (int p = 0; p < NA; ++p) acc[f][p] = simd::zero();
    alignas(64) double tb[NB][kChunk];
    for (int c = 0; c < ncam; ++c) {
      const camera_view& cv = cam[c];
      const long nw = static_cast<long>(cv.nw);
      const int nd = cv.ndiag;
      for (long i0 = 0; i0 < nw; i0 += static_cast<long>(kChunk)) {
        const long n = std::min<long>(static_cast<long>(kChunk), nw - i0);
        bool any = false;
        for (std::size_t j = 0; j < nm && !any; ++j) {
          const double* w = cv.w + mem[j] * cv.nw + i0;
          for (long q = 0; q < n; ++q) any = any || w[q] != 0;
        }
        if (!any) continue;
        for (std::size_t s = 0; s < ns; ++s) {
          const double* T = cv.tmpl + template_slot(tl.slot0 + s) * static_cast<std::size_t>(NB) * cv.nw;
          bool finite = true;
          for (std::size_t j = 0; j < nm; ++j) {
            if (j == 0 || group_rep[mem[j]] != group_rep[mem[j - 1]]) {
              const double* R = cv.res + static_cast<std::size_t>(mem[j]) * cv.res_stride;
              finite = form_tb<NB>(R, T, nw, nd, i0, n, tb);
            }
            const double* w = cv.w + mem[j] * cv.nw + i0;
            const double* wf = cv.wf + mem[j] * cv.nw + i0;
            if (finite) accumulate_chunk<NB, false>(tb, w, wf, n, acc[s * nm + j]);
            else accumulate_chunk<NB, true>(tb, w, wf, n, acc[s * nm + j]);
          }
        }
      }
    }
    for (std::size_t s = 0; s < ns; ++s)
      for (std::size_t j = 0; j < nm; ++j) {
        const std::size_t t = mem[j], slot = tl.slot0 + s;
        double m[NM], y[NB];
        const simd::vd* a = acc[s * nm + j];
        for (int p = 0; p < NM; ++p) m[p] = simd::lane_sum(a[p]);
        for (int k = 0; k < NB; ++k) y[k] = simd::lane_sum(a[NM + k]);
        finish<NB>(pair_target ? slot : slot * ntarget + t, t, m, y);
      }
  }
  static_assert(kLanes == simd::lanes, "the host kernel's lanes are one simd::vd");
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
