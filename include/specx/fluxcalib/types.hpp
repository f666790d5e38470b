// Data types of the flux calibration: frame views in, stellar model grid,
// atmosphere, options and results. See docs/fluxcalib.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../core/rebin.hpp"
#include "../error.hpp"
#include "../photometry.hpp"
#include "../resolution/banded.hpp"

namespace specx::fluxcalib {

/// DESI specmask bits this module sets (desispec maskbits.py).
namespace specmask {
inline constexpr std::int32_t NODATA = 1 << 8;  ///< no calibration at this wavelength
}

/// One camera frame of nspec spectra, every pointer in the backend's memory,
/// row-major [nspec, nwave] (mask may be null: all good). Sky-subtracted and
/// fiber-flattened flux in electrons/Å, the extraction's resolution matrices.
template <class T>
struct frame_view {
  const T* flux = nullptr;
  const T* ivar = nullptr;
  const std::int32_t* mask = nullptr;
  resolution::banded_view<const T> resolution;
  int nspec = 0, nwave = 0;
};

/// A frame view and its wavelength grid (host, Å, bin centres) and band name.
template <class T>
struct camera_frame {
  std::string band;          ///< "b", "r", "z" (any name)
  std::vector<double> wave;  ///< [nwave]
  frame_view<T> data;
};

/// A curve y(λ) sampled at increasing λ, linear interpolation, `outside` beyond.
struct curve {
  std::vector<double> wave, value;
  double outside = 0;
  double operator()(double l) const {
    if (wave.size() < 2 || l < wave.front() || l > wave.back()) return outside;
    const auto it = std::upper_bound(wave.begin(), wave.end(), l);
    if (it == wave.end()) return value.back();
    const std::size_t k = std::size_t(it - wave.begin());
    const double t = (l - wave[k - 1]) / (wave[k] - wave[k - 1]);
    return value[k - 1] + t * (value[k] - value[k - 1]);
  }
};

/// Pixel edges of a grid of bin centres: arithmetic midpoints, outer edges half a
/// step outside (redrock's centers2edges).
inline std::vector<double> pixel_edges(std::span<const double> wave) {
  if (wave.size() < 2) throw invalid_argument("specx::fluxcalib: a wavelength grid needs at least 2 pixels");
  std::vector<double> e(wave.size() + 1);
  for (std::size_t i = 1; i < wave.size(); ++i) e[i] = 0.5 * (wave[i - 1] + wave[i]);
  e.front() = wave.front() - (e[1] - wave.front());
  e.back() = wave.back() + (wave.back() - e[wave.size() - 1]);
  return e;
}

/// Atmospheric transmission 10^(−0.4 k(λ) X) averaged over each pixel of `wave`
/// (exact mean of the linearly interpolated transmission of the extinction table;
/// k = 0 outside the table). Telluric absorption lines narrower than a pixel are
/// kept as their pixel means.
inline std::vector<double> atmospheric_transmission(const curve& extinction, double airmass,
                                                    std::span<const double> wave) {
  if (!(airmass >= 1.0)) throw invalid_argument("specx::fluxcalib::atmospheric_transmission: airmass must be >= 1");
  const auto e = pixel_edges(wave);
  std::vector<double> out(wave.size(), 1.0);
  if (extinction.wave.size() < 2) return out;
  std::vector<double> tr(extinction.value.size());
  for (std::size_t k = 0; k < tr.size(); ++k) tr[k] = std::pow(10.0, -0.4 * extinction.value[k] * airmass);
  const double x0 = extinction.wave.front(), x1 = extinction.wave.back();
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double a = std::max(e[i], x0), b = std::min(e[i + 1], x1);
    if (!(b > a)) continue;
    const double in = core::trapz_bin_mean(extinction.wave.data(), tr.data(), tr.size(), a, b) * (b - a);
    out[i] = (in + (e[i + 1] - e[i] - (b - a))) / (e[i + 1] - e[i]);
  }
  return out;
}

/// Wavelength windows [λ0, λ1] (Å) where the extinction curve deviates from its
/// smooth continuum by more than `threshold` in transmission at `airmass`: the
/// telluric absorption bands (O2 A and B, H2O), derived from the table itself.
/// The continuum is a running median over ±`half_width` Å; windows closer than
/// `merge` Å are merged and every window is widened by `pad` Å on each side.
inline std::vector<std::pair<double, double>> telluric_windows(const curve& extinction, double airmass = 1.0,
                                                               double threshold = 0.01, double half_width = 50.0,
                                                               double pad = 4.0, double merge = 8.0) {
  std::vector<std::pair<double, double>> out;
  const auto& w = extinction.wave;
  const auto& k = extinction.value;
  if (w.size() < 3) return out;
  // Running median on a coarse stride keeps this O(n · window / stride).
  const double step = std::max(1.0, half_width / 10.0);
  std::vector<double> cw, ck;
  std::vector<double> buf;
  std::size_t lo = 0, hi = 0;
  for (double l = w.front(); l <= w.back(); l += step) {
    while (lo < w.size() && w[lo] < l - half_width) ++lo;
    while (hi < w.size() && w[hi] <= l + half_width) ++hi;
    buf.assign(k.begin() + std::ptrdiff_t(lo), k.begin() + std::ptrdiff_t(hi));
    if (buf.empty()) continue;
    std::nth_element(buf.begin(), buf.begin() + std::ptrdiff_t(buf.size() / 2), buf.end());
    cw.push_back(l);
    ck.push_back(buf[buf.size() / 2]);
  }
  const curve cont{cw, ck, 0.0};
  bool open = false;
  double a = 0, b = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double dt = 1.0 - std::pow(10.0, -0.4 * (k[i] - cont(w[i])) * airmass);
    const bool bad = dt > threshold;
    if (bad && !open) {
      open = true;
      a = w[i];
    }
    if (bad) b = w[i];
    if (!bad && open && w[i] - b > merge) {
      out.push_back({a - pad, b + pad});
      open = false;
    }
  }
  if (open) out.push_back({a - pad, b + pad});
  return out;
}

/// Bright night-sky emission lines (vacuum Å) whose subtraction residuals can bias
/// a stellar fit: Hg I 4047, 4358, 5461 (street lamps), [O I] 5577, Na D, [O I]
/// 6300, 6364 and two strong OH lines; masked ±6 Å (the list desispec's
/// match_templates masks).
inline std::vector<std::pair<double, double>> default_sky_line_windows(double half_width = 6.0) {
  const double lines[] = {4047.5, 4359.3, 5462.3, 5578.9, 5891.3, 5897.3, 6301.8, 6365.4, 7823.3, 7855.2};
  std::vector<std::pair<double, double>> out;
  for (double l : lines) out.push_back({l - half_width, l + half_width});
  return out;
}

/// One family of stellar models: a redrock STAR template (basis [nbasis, nwave] on
/// rest wavelengths) and its archetype coefficients [narch, nbasis]; archetype a is
/// Σ_b coeff[a, b] basis[b, :]. The fit uses that linearity: every archetype's
/// convolved model is a combination of nbasis convolved basis vectors.
struct stellar_family {
  std::string subtype;            ///< e.g. "F"
  std::vector<double> wave;       ///< [nwave] rest Å, increasing
  std::vector<double> basis;      ///< [nbasis, nwave] row-major
  std::vector<double> coeff;      ///< [narch, nbasis] row-major
  std::size_t nbasis = 0, narch = 0;

  std::size_t nwave() const { return wave.size(); }
  /// The rest-frame spectrum of archetype a on `wave`.
  std::vector<double> archetype(std::size_t a) const {
    if (a >= narch) throw invalid_argument("specx::fluxcalib::stellar_family::archetype: index out of range");
    std::vector<double> out(nwave(), 0.0);
    for (std::size_t b = 0; b < nbasis; ++b) {
      const double c = coeff[a * nbasis + b];
      for (std::size_t i = 0; i < out.size(); ++i) out[i] += c * basis[b * nwave() + i];
    }
    return out;
  }
};

/// The stellar model grid: one or more families (DESI: STAR-A/F/G/K/M archetypes).
struct stellar_grid {
  std::vector<stellar_family> families;
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& f : families) n += f.narch;
    return n;
  }
};

/// Catalogue photometry of one standard star: AB magnitudes in the filters of
/// stdstar_options::filters (NaN: not measured) and their errors.
struct star_photometry {
  std::vector<double> mag;
  std::vector<double> mag_err;  ///< empty: equal weights
};

/// Options of the standard-star fit.
struct stdstar_options {
  int poly_degree = 5;               ///< per-camera multiplicative Legendre continuum (degree)
  double vmax_kms = 600.0;           ///< radial velocities scanned: [−vmax, vmax]
  double dv_kms = 15.0;              ///< scan step (refined by a parabola)
  int iterations = 2;                ///< template ↔ velocity alternations
  double airmass = 1.0;              ///< of the exposure (atmospheric model)
  curve extinction;                  ///< k(λ) mag/airmass (empty: no atmosphere)
  std::vector<std::pair<double, double>> masks = default_sky_line_windows();  ///< excluded from the fit
  bool mask_telluric = true;         ///< add telluric_windows(extinction, airmass)
  std::vector<photometry::filter_curve> filters;  ///< photometric bands of star_photometry
  double clip_nsig = 5.0;            ///< one refit after clipping |residual| > nsig σ
};

/// Result of one standard-star fit. status 0: success; 1: no usable pixels;
/// 2: no photometry; 3: the model has no flux in the filters.
struct star_fit {
  int status = 0;
  std::size_t family = 0, archetype = 0;  ///< best model
  std::string subtype;
  double z = 0;                 ///< radial velocity / c (parabola vertex)
  double chi2 = 0;              ///< continuum-marginalised χ² of the best model
  std::size_t ndof = 0;
  double delta_chi2 = 0;        ///< χ² gap to the best archetype of another family
  double scale = 0;             ///< factor from the archetype (as stored) to the star's photometry
  std::vector<double> model_mag;  ///< synthetic magnitude of the scaled model per filter
};

/// Options of the calibration-vector computation.
struct calibration_options {
  double nsig = 5.0;               ///< clip star pixels beyond nsig (noise ⊕ model error)
  double model_error = 0.05;       ///< fractional model error used in clipping only
  int iterations = 5;              ///< scale / mean / clip iterations
  double smooth_sigma = 8.0;       ///< Å, Gaussian local-linear smoothing of the throughput
  int min_stars = 3;               ///< fewer stars at a pixel: no calibration there (capped at nstar/2)
  double min_scale = 0.2;          ///< stars with a relative scale below this are rejected (DESI)
  double airmass = 1.0;
  curve extinction;                ///< k(λ); empty: atmosphere = 1
};

}  // namespace specx::fluxcalib
