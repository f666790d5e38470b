// Synthetic AB photometry through filter curves: the reusable facility behind the
// flux calibration (standard stars are scaled to their catalogue magnitudes) and its
// tests (synthetic magnitudes of calibrated spectra). Host and backend versions.
//
// An AB magnitude compares the photon-weighted mean of f_ν over the band with the
// AB reference f_ν = 3631 Jy (Oke & Gunn 1983, ApJ 266, 713):
//
//   m_AB = −2.5 log10[ ∫ f_ν R dν/ν / ∫ 3631 Jy R dν/ν ]
//        = −2.5 log10[ ∫ f_λ R λ dλ / (c · 3631 Jy · ∫ R/λ dλ) ],
//
// with f_ν = f_λ λ²/c and dν/ν = dλ/λ (the sign cancels between the limits). R is
// the dimensionless photon-counting response, as in speclite's filter files. Both
// integrals use the trapezoid rule on the spectrum's samples inside the filter
// support (R interpolated linearly there), so a flat-f_ν spectrum returns its
// magnitude to rounding. This is the convention of speclite's
// FilterResponse.get_ab_magnitude, which desispec's normalize_templates uses.
//
// The forward model (sim/photometry.hpp) uses these same functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "error.hpp"

namespace specx::photometry {

/// Physical constants (CODATA 2018 exact values where defined).
namespace constants {
inline constexpr double c_angstrom_per_s = 2.99792458e18;                ///< speed of light (Å/s)
inline constexpr double c_km_per_s = 299792.458;                         ///< speed of light (km/s)
inline constexpr double h_erg_s = 6.62607015e-27;                        ///< Planck constant (erg s)
inline constexpr double hc_erg_angstrom = h_erg_s * c_angstrom_per_s;    ///< h c (erg Å)
inline constexpr double ab_zero_fnu = 3631e-23;                          ///< AB zero point (erg s⁻¹ cm⁻² Hz⁻¹)
inline constexpr double flux_unit = 1e-17;                               ///< DESI flux unit (erg s⁻¹ cm⁻² Å⁻¹)
}  // namespace constants

/// A filter response curve: wavelength (Å, strictly increasing) and response.
struct filter_curve {
  std::string name;
  std::vector<double> wave;
  std::vector<double> response;

  double wave_min() const { return wave.front(); }
  double wave_max() const { return wave.back(); }
  /// R(λ), linear interpolation, 0 outside the curve.
  double operator()(double lambda) const {
    if (wave.size() < 2 || lambda < wave.front() || lambda > wave.back()) return 0;
    const auto it = std::upper_bound(wave.begin(), wave.end(), lambda);
    if (it == wave.end()) return response.back();
    const std::size_t k = static_cast<std::size_t>(it - wave.begin());
    const double t = (lambda - wave[k - 1]) / (wave[k] - wave[k - 1]);
    return response[k - 1] + t * (response[k] - response[k - 1]);
  }
  /// [first, last] wavelength of the support where R > 0, widened to the enclosing
  /// zero samples.
  std::pair<double, double> support() const {
    std::size_t f0 = 0, f1 = wave.size() - 1;
    while (f0 + 1 < wave.size() && response[f0 + 1] <= 0) ++f0;
    while (f1 > 0 && response[f1 - 1] <= 0) --f1;
    return {wave[f0], wave[f1]};
  }
};

/// Reads a speclite ECSV filter file (comment lines '#', one column-name line, then
/// two numbers per row: wavelength [Å], response). io_error if unreadable,
/// format_error if malformed or not strictly increasing.
inline filter_curve read_filter_ecsv(const std::string& path, std::string name = {}) {
  std::ifstream f(path);
  if (!f) throw io_error(path, "", "", "cannot open the filter curve");
  filter_curve fc;
  fc.name = name.empty() ? path : std::move(name);
  std::string line;
  bool header_seen = false;
  int row = 0;
  while (std::getline(f, line)) {
    ++row;
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    if (!header_seen) {
      header_seen = true;
      continue;
    }
    std::istringstream s(line);
    double w, r;
    if (!(s >> w >> r)) throw format_error(path, "", "", "row " + std::to_string(row) + ": expected two numbers");
    if (!fc.wave.empty() && !(w > fc.wave.back()))
      throw format_error(path, "", "", "row " + std::to_string(row) + ": wavelengths must increase");
    fc.wave.push_back(w);
    fc.response.push_back(r);
  }
  if (fc.wave.size() < 2) throw format_error(path, "", "", "fewer than two samples");
  return fc;
}

/// The linear functional of a sampled spectrum behind a magnitude: with
/// weights w_i (trapezoid rule × R(λ_i) λ_i × flux_unit) and the AB normalisation
/// den = c · 3631 Jy · ∫ R/λ dλ on the same nodes,
///   m_AB = −2.5 log10(Σ_i w_i f_i / den).
/// Computing the weights once lets many spectra on one grid be measured with a dot
/// product each (band_magnitudes). Samples outside the filter support get w = 0.
struct band_weights {
  std::vector<double> w;  ///< [nwave]
  double den = 0;         ///< c · 3631 Jy · ∫ R/λ dλ (erg s⁻¹ cm⁻² Å)
};

/// Weights of `filter` on the increasing grid `wave` (Å) for fluxes in units of
/// `flux_unit` erg s⁻¹ cm⁻² Å⁻¹. The grid must cover the filter support; throws
/// invalid_argument otherwise.
inline band_weights make_band_weights(std::span<const double> wave, const filter_curve& filter,
                                      double flux_unit = constants::flux_unit) {
  if (wave.size() < 2) throw invalid_argument("specx::photometry: a spectrum needs at least 2 samples");
  if (filter.wave.size() < 2) throw invalid_argument("specx::photometry: empty filter curve " + filter.name);
  const auto [lo, hi] = filter.support();
  if (wave.front() > lo || wave.back() < hi)
    throw invalid_argument("specx::photometry: the spectrum [" + std::to_string(wave.front()) + ", " +
                           std::to_string(wave.back()) + "] Å does not cover the filter " + filter.name + " [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "] Å");
  band_weights bw;
  bw.w.assign(wave.size(), 0.0);
  double den = 0;
  std::size_t prev = wave.size();
  for (std::size_t i = 0; i < wave.size(); ++i) {
    const double l = wave[i];
    if (l < lo || l > hi) continue;
    if (prev < wave.size()) {
      const double h = 0.5 * (l - wave[prev]);
      const double rp = filter(wave[prev]), ri = filter(l);
      bw.w[prev] += h * rp * wave[prev] * flux_unit;
      bw.w[i] += h * ri * l * flux_unit;
      den += h * (rp / wave[prev] + ri / l);
    }
    prev = i;
  }
  if (!(den > 0)) throw invalid_argument("specx::photometry: the filter " + filter.name + " has no response on the grid");
  bw.den = den * constants::c_angstrom_per_s * constants::ab_zero_fnu;
  return bw;
}

/// The AB magnitude of one spectrum (host). Throws invalid_argument when the
/// spectrum does not cover the filter or its band flux is not positive.
inline double ab_magnitude(std::span<const double> wave, std::span<const double> flux, const filter_curve& filter,
                           double flux_unit = constants::flux_unit) {
  if (wave.size() != flux.size()) throw invalid_argument("specx::photometry::ab_magnitude: wave and flux sizes differ");
  const auto bw = make_band_weights(wave, filter, flux_unit);
  double num = 0;
  for (std::size_t i = 0; i < flux.size(); ++i) num += bw.w[i] * flux[i];
  if (!(num > 0)) throw invalid_argument("specx::photometry::ab_magnitude: non-positive flux in the band of " + filter.name);
  return -2.5 * std::log10(num / bw.den);
}

/// f_λ (in flux_unit) of a flat-f_ν spectrum of AB magnitude m at λ (Å).
inline double flat_fnu_flambda(double ab_mag, double lambda, double flux_unit = constants::flux_unit) {
  return constants::ab_zero_fnu * std::pow(10.0, -0.4 * ab_mag) * constants::c_angstrom_per_s / (lambda * lambda) /
         flux_unit;
}

namespace detail {
/// One spectrum's magnitude: a weighted sum over the band; NaN when the band
/// flux is not positive or a used sample is not finite.
template <class T>
struct band_magnitude_row {
  const T* flux;
  const double* w;
  int nwave;
  int i0, i1;  // [i0, i1): samples with w ≠ 0
  double den;
  double* out;
  SPECX_HOST_DEVICE void operator()(std::size_t s) const {
    const T* f = flux + s * std::size_t(nwave);
    double num = 0;
    for (int i = i0; i < i1; ++i) num += w[i] * double(f[i]);
    out[s] = (num > 0 && num < 1e300) ? -2.5 * ::log10(num / den) : std::numeric_limits<double>::quiet_NaN();
  }
};
}  // namespace detail

/// AB magnitudes of nspec spectra [nspec, nwave] (row-major, B's memory) on one grid,
/// through precomputed band weights (host). Returns host magnitudes; NaN where the
/// band flux is ≤ 0. Blocking.
template <backend::Backend B, class T>
std::vector<double> band_magnitudes(B be, const T* flux, std::size_t nspec, std::size_t nwave, const band_weights& bw) {
  if (bw.w.size() != nwave) throw invalid_argument("specx::photometry::band_magnitudes: weights and spectra differ in nwave");
  int i0 = 0, i1 = int(nwave);
  while (i0 < i1 && bw.w[std::size_t(i0)] == 0) ++i0;
  while (i1 > i0 && bw.w[std::size_t(i1 - 1)] == 0) --i1;
  auto w = backend::to_backend(be, std::span<const double>(bw.w));
  auto out = backend::make_vector<double>(be, nspec);
  backend::for_each_index(be, nspec,
                          detail::band_magnitude_row<T>{flux, backend::raw(be, w), int(nwave), i0, i1, bw.den,
                                                        backend::raw(be, out)});
  return backend::to_host(be, out);
}

}  // namespace specx::photometry
