// Per-element functors of the coadd (device-safe, allocation-free).
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../../resolution/banded.hpp"

namespace specx::coadd::detail {

inline constexpr int max_stack = 64;  ///< most spectra combined into one (exposures or cameras)

/// Where one source (a frame, or a camera) lives: arrays [nspec, nwave] and its
/// resolution [nspec, ndiag, nwave] in backend memory; `start` is the index of
/// its first pixel on the output grid.
template <class T>
struct source {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;  // may be null
  const T* res;              // may be null (identity)
  int nspec, nwave, ndiag, start;
};

/// Gathers flux/ivar/mask of stack slot (chunk-local slot s, output pixel j):
/// slot g·nexp + e holds source src[s] row row[s], shifted by its start; pixels
/// outside the source and empty slots (src < 0) get ivar 0.
template <class T>
struct gather_pixels {
  const source<T>* src;
  const int* slot_src;
  const int* slot_row;
  int nwave;  // output grid
  T* flux;
  T* ivar;
  std::int32_t* mask;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t s = idx / std::size_t(nwave);
    const int j = int(idx % std::size_t(nwave));
    const int k = slot_src[s];
    T f = T(0), v = T(0);
    std::int32_t m = 0;
    if (k >= 0) {
      const source<T>& q = src[k];
      const int lj = j - q.start;
      if (lj >= 0 && lj < q.nwave) {
        const std::size_t p = std::size_t(slot_row[s]) * std::size_t(q.nwave) + std::size_t(lj);
        f = q.flux[p];
        v = q.ivar[p];
        m = q.mask ? q.mask[p] : 0;
        if (!(v > T(0)) || !(v < T(3e38)) || !(f == f)) {  // never let NaN/inf or negative ivar through
          v = T(0);
          if (!(f == f)) f = T(0);
        }
      }
    }
    flux[idx] = f;
    ivar[idx] = v;
    mask[idx] = m;
  }
};

/// Gathers the resolution of slot s into the stack cube [nslot, ndiag, nwave] on
/// the output grid: output storage (d, j) (offset o = h − d) takes the source's
/// element of the same matrix position, source storage (h_s − o, j − start);
/// zero outside the source's band or range. A missing source resolution is the
/// identity.
template <class T>
struct gather_resolution {
  const source<T>* src;
  const int* slot_src;
  const int* slot_row;
  int ndiag, nwave;  // output
  T* out;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t per = std::size_t(ndiag) * std::size_t(nwave);
    const std::size_t s = idx / per;
    const int d = int((idx % per) / std::size_t(nwave));
    const int j = int(idx % std::size_t(nwave));
    const int k = slot_src[s];
    T v = T(0);
    if (k >= 0) {
      const source<T>& q = src[k];
      const int o = ndiag / 2 - d;
      const int ds = q.ndiag / 2 - o;
      const int lj = j - q.start;
      const int li = lj - o;  // the element's row in source coordinates
      if (ds >= 0 && ds < q.ndiag && lj >= 0 && lj < q.nwave && li >= 0 && li < q.nwave) {
        if (q.res)
          v = q.res[(std::size_t(slot_row[s]) * std::size_t(q.ndiag) + std::size_t(ds)) * std::size_t(q.nwave) +
                    std::size_t(lj)];
        else
          v = o == 0 ? T(1) : T(0);
      }
    }
    out[idx] = v;
  }
};

/// For each slot: index of the previous/next pixel with usable ivar (−1 / nwave if
/// none): lets the cosmic test interpolate over masked pixels in O(1).
template <class T>
struct good_neighbours {
  const T* ivar;
  const std::int32_t* mask;
  int nwave;
  int* prev;
  int* next;
  std::uint8_t* any_good;
  SPECX_HOST_DEVICE void operator()(std::size_t s) const {
    const std::size_t o = s * std::size_t(nwave);
    int last = -1;
    for (int j = 0; j < nwave; ++j) {
      if (ivar[o + j] > T(0) && mask[o + j] == 0) last = j;
      prev[o + j] = last;
    }
    any_good[s] = last >= 0 ? 1 : 0;
    last = nwave;
    for (int j = nwave - 1; j >= 0; --j) {
      if (ivar[o + j] > T(0) && mask[o + j] == 0) last = j;
      next[o + j] = last;
    }
  }
};

/// The cosmic-ray test of one output group at one gradient bin i (between pixels
/// i and i+1), after desispec's _mask_cosmics: per usable exposure the flux
/// gradient g_e = f[i+1] − f[i] (masked pixels interpolated from their good
/// neighbours, clamped at the ends) with variance 1/ivar[i] + 1/ivar[i+1]; if
/// χ² = Σ (g − ḡ)²/σ² of the k usable exposures exceeds the threshold for k − 1 dof,
/// the most deviant exposure is dropped and the test repeated (while ≥ min_k remain).
/// Dropped exposures are flagged at bin i; both adjacent pixels become cosmic.
template <class T>
struct cosmic_gradient {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;
  const int* prev;
  const int* next;
  const std::uint8_t* any_good;
  const double* threshold;  // [nexp + 1]
  int nexp, nwave, min_k;
  std::uint8_t* flag;       // [nslot, nwave], bin i at index i
  SPECX_HOST_DEVICE double value(const T* a, std::size_t o, int j, bool as_var) const {
    // good pixel: itself; else linear interpolation between good neighbours (in
    // pixel index, the grid being uniform within a camera), clamped at the ends.
    auto get = [&](int jj) {
      const double v = double(ivar[o + jj]);
      if (as_var) return v > 0 ? 1.0 / v : 0.0;
      return double(a[o + jj]);
    };
    const bool good = ivar[o + j] > T(0) && mask[o + j] == 0;
    if (good) return get(j);
    const int p = prev[o + j], n = next[o + j];
    if (p < 0) return get(n);
    if (n >= nwave) return get(p);
    const double t = double(j - p) / double(n - p);
    return get(p) + t * (get(n) - get(p));
  }
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int nb = nwave - 1;
    const std::size_t g = idx / std::size_t(nb);
    const int i = int(idx % std::size_t(nb));
    double gr[max_stack], gi[max_stack];
    int es[max_stack];
    int k = 0;
    for (int e = 0; e < nexp; ++e) {
      const std::size_t s = g * std::size_t(nexp) + std::size_t(e);
      flag[s * std::size_t(nwave) + i] = 0;
      if (!any_good[s]) continue;
      const std::size_t o = s * std::size_t(nwave);
      const double g1 = value(flux, o, i + 1, false) - value(flux, o, i, false);
      const double var = value(ivar, o, i + 1, true) + value(ivar, o, i, true);
      gr[k] = g1;
      gi[k] = var > 0 ? 1.0 / var : 0.0;
      es[k] = e;
      ++k;
    }
    if (k < min_k) return;
    bool good[max_stack];
    for (int q = 0; q < k; ++q) good[q] = true;
    int ngood = k;
    for (;;) {
      double sw = 0, swg = 0;
      for (int q = 0; q < k; ++q)
        if (good[q]) {
          sw += gi[q];
          swg += gi[q] * gr[q];
        }
      if (!(sw > 0)) break;
      const double mean = swg / sw;
      double chi2 = 0, worst = -1;
      int iw = -1;
      for (int q = 0; q < k; ++q) {
        if (!good[q]) continue;
        const double m = (gr[q] - mean) * (gr[q] - mean) * gi[q];
        chi2 += m;
        if (m > worst) {
          worst = m;
          iw = q;
        }
      }
      if (!(chi2 > threshold[ngood]) || iw < 0) break;
      good[iw] = false;
      --ngood;
      if (ngood < min_k) break;
    }
    for (int q = 0; q < k; ++q)
      if (!good[q]) flag[(g * std::size_t(nexp) + std::size_t(es[q])) * std::size_t(nwave) + i] = 1;
  }
};

/// Pixel j of slot s is a cosmic if the gradient bins j−1 or j were flagged.
struct cosmic_pixels {
  const std::uint8_t* flag;
  int nwave;
  std::uint8_t* cosmic;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t idx) const {
    const int j = int(idx % std::size_t(nwave));
    const bool c = (j < nwave - 1 && flag[idx]) || (j > 0 && flag[idx - 1]);
    cosmic[idx] = c ? 1 : 0;
    return c ? 1 : 0;
  }
};

/// Inverse-variance weighted mean of one output pixel (group g, pixel j) over its
/// nexp slots. Weights: ivar where the mask is 0 and no cosmic was found; where
/// every slot is masked, the unmasked ivar (the result then carries the OR of the
/// masks, as desispec does since #2377). Writes the per-row weights used, which
/// the resolution combination reuses.
template <class T>
struct combine_pixel {
  const T* flux;
  const T* ivar;
  const std::int32_t* mask;
  const std::uint8_t* cosmic;  // may be null
  int nexp, nwave;
  T* out_flux;
  T* out_ivar;
  std::int32_t* out_mask;
  T* weights;                  // [nslot, nwave]
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t g = idx / std::size_t(nwave), j = idx % std::size_t(nwave);
    double sw = 0;
    for (int e = 0; e < nexp; ++e) {
      const std::size_t p = (g * std::size_t(nexp) + std::size_t(e)) * std::size_t(nwave) + j;
      const bool ok = mask[p] == 0 && !(cosmic && cosmic[p]);
      sw += ok ? double(ivar[p]) : 0.0;
    }
    const bool fallback = !(sw > 0);
    std::int32_t m = 0;
    double swf = 0;
    sw = 0;
    for (int e = 0; e < nexp; ++e) {
      const std::size_t p = (g * std::size_t(nexp) + std::size_t(e)) * std::size_t(nwave) + j;
      const bool ok = fallback || (mask[p] == 0 && !(cosmic && cosmic[p]));
      const double w = ok ? double(ivar[p]) : 0.0;
      weights[p] = T(w);
      sw += w;
      swf += w * double(flux[p]);
      if (fallback) m |= mask[p];
    }
    out_flux[idx] = sw > 0 ? T(swf / sw) : T(0);
    out_ivar[idx] = T(sw);
    out_mask[idx] = m;
  }
};

}  // namespace specx::coadd::detail
