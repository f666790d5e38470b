// Synthetic AB photometry through a filter curve (docs/simulation.md#photometry).
//
// An AB magnitude compares the photon-weighted mean of f_ν over the band with
// the AB reference f_ν = 3631 Jy (Oke & Gunn 1983):
//
//   m_AB = −2.5 log10[ ∫ f_ν R dν/ν  /  ∫ 3631 Jy R dν/ν ].
//
// In wavelength, with f_ν = f_λ λ²/c and dν/ν = −dλ/λ (the sign cancels between
// the limits), the λ-weighting is explicit:
//
//   ∫ f_ν R dν/ν = (1/c) ∫ f_λ R λ dλ,    ∫ 3631 Jy R dν/ν = 3631 Jy ∫ R dλ/λ,
//
//   m_AB = −2.5 log10[ ∫ f_λ R λ dλ / (c · 3631 Jy · ∫ R/λ dλ) ],
//
// f_λ in erg s⁻¹ cm⁻² Å⁻¹, c in Å s⁻¹, 1 Jy = 1e-23 erg s⁻¹ cm⁻² Hz⁻¹. R is the
// dimensionless response (photon-counting convention, as speclite's filter files
// are). Both integrals use the trapezoid rule on the same nodes (the spectrum's
// samples inside the filter support, R linearly interpolated there), so a flat-f_ν
// spectrum returns its magnitude to rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "../error.hpp"

namespace specx::sim {

/// Physical constants (CODATA 2018 exact values where defined).
namespace constants {
inline constexpr double c_angstrom_per_s = 2.99792458e18;       ///< speed of light (Å/s)
inline constexpr double h_erg_s = 6.62607015e-27;               ///< Planck constant (erg s)
inline constexpr double hc_erg_angstrom = h_erg_s * c_angstrom_per_s;  ///< photon energy × λ (erg Å)
inline constexpr double ab_zero_fnu = 3631e-23;                 ///< AB zero point (erg s⁻¹ cm⁻² Hz⁻¹)
inline constexpr double flux_unit = 1e-17;                      ///< DESI flux unit (erg s⁻¹ cm⁻² Å⁻¹)
}  // namespace constants

/// A filter response curve: wavelength (Å, increasing) and dimensionless response.
struct filter_curve {
  std::string name;
  std::vector<double> wave;
  std::vector<double> response;

  double wave_min() const { return wave.front(); }
  double wave_max() const { return wave.back(); }
  /// R(λ), linear interpolation, 0 outside the curve.
  double operator()(double lambda) const {
    if (wave.empty() || lambda < wave.front() || lambda > wave.back()) return 0;
    const auto it = std::upper_bound(wave.begin(), wave.end(), lambda);
    if (it == wave.end()) return response.back();
    const std::size_t k = static_cast<std::size_t>(it - wave.begin());
    if (k == 0) return response.front();
    const double t = (lambda - wave[k - 1]) / (wave[k] - wave[k - 1]);
    return response[k - 1] + t * (response[k] - response[k - 1]);
  }
};

/// Reads a speclite ECSV filter file (two columns: wavelength [Å], response).
/// Throws io_error if unreadable, format_error if malformed or not increasing.
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
    if (!header_seen) {  // the column-name line
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

/// The AB magnitude of a spectrum sampled at increasing wavelengths `wave` (Å)
/// with flux density `flux` in units of `flux_unit` erg s⁻¹ cm⁻² Å⁻¹ (default the
/// DESI unit 1e-17). The spectrum must cover the filter's support where R > 0;
/// throws invalid_argument otherwise, and for a non-positive band flux.
inline double ab_magnitude(std::span<const double> wave, std::span<const double> flux, const filter_curve& filter,
                           double flux_unit = constants::flux_unit) {
  if (wave.size() != flux.size() || wave.size() < 2)
    throw invalid_argument("specx::sim::ab_magnitude: wave and flux must have the same size >= 2");
  // The filter support: first/last node with R > 0, widened to the enclosing zeros.
  std::size_t f0 = 0, f1 = filter.wave.size() - 1;
  while (f0 + 1 < filter.wave.size() && filter.response[f0 + 1] <= 0) ++f0;
  while (f1 > 0 && filter.response[f1 - 1] <= 0) --f1;
  const double lo = filter.wave[f0], hi = filter.wave[f1];
  if (wave.front() > lo || wave.back() < hi)
    throw invalid_argument("specx::sim::ab_magnitude: the spectrum [" + std::to_string(wave.front()) + ", " +
                           std::to_string(wave.back()) + "] Å does not cover the filter " + filter.name + " [" +
                           std::to_string(lo) + ", " + std::to_string(hi) + "] Å");
  double num = 0, den = 0;
  double pl = 0, pn = 0, pd = 0;
  bool first = true;
  for (std::size_t i = 0; i < wave.size(); ++i) {
    const double l = wave[i];
    if (l < lo || l > hi) continue;
    const double r = filter(l);
    const double n = flux[i] * flux_unit * r * l;  // f_λ R λ
    const double d = r / l;                        // R / λ
    if (!first) {
      num += 0.5 * (l - pl) * (n + pn);
      den += 0.5 * (l - pl) * (d + pd);
    }
    first = false;
    pl = l;
    pn = n;
    pd = d;
  }
  if (!(den > 0)) throw invalid_argument("specx::sim::ab_magnitude: the filter has no response on the spectrum grid");
  if (!(num > 0)) throw invalid_argument("specx::sim::ab_magnitude: non-positive flux in the band of " + filter.name);
  return -2.5 * std::log10(num / (constants::c_angstrom_per_s * constants::ab_zero_fnu * den));
}

/// f_λ in units of flux_unit of a flat-f_ν spectrum of AB magnitude m at λ (Å).
inline double flat_fnu_flambda(double ab_mag, double lambda, double flux_unit = constants::flux_unit) {
  return constants::ab_zero_fnu * std::pow(10.0, -0.4 * ab_mag) * constants::c_angstrom_per_s / (lambda * lambda) /
         flux_unit;
}

}  // namespace specx::sim
