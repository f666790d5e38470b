// The photon budget: from flux densities at the top of the atmosphere to expected
// electrons per (fiber, wavelength sample) (docs/simulation.md#photon-budget).
//
//   N_obj(λ) = F(λ) · 10^(−0.4 k(λ) X) · a_f · A · t · T(λ) · τ_f(λ) · Δλ / (h c / λ)
//   N_sky(λ) = S(λ) · s_f · Ω_fiber   · A · t · T(λ) · τ_f(λ) · Δλ / (h c / λ)
//
// F: object flux density [1e-17 erg s⁻¹ cm⁻² Å⁻¹]; S: sky surface brightness
// [1e-17 erg s⁻¹ cm⁻² Å⁻¹ arcsec⁻²]; k(λ): zenith extinction [mag/airmass] at
// airmass X (KPNO curve); a_f: fiber aperture acceptance of the source (point or
// extended; 1 for the sky, whose surface brightness fills the fiber); Ω_fiber:
// fiber solid angle; A: effective collecting area; t: exposure time; T(λ): the
// instrument throughput (telescope, corrector, fibers, spectrograph, CCD QE) of the
// arm; τ_f(λ): fiber-to-fiber relative throughput; s_f: per-fiber sky level; Δλ: the
// sample's bin width. Following specsim's default (extinct_emission: no), the sky
// is not extinguished (it is emitted inside the atmosphere).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "../error.hpp"
#include "photometry.hpp"
#include "spectra.hpp"

namespace specx::sim {

/// DESI telescope and fiber constants (specsim's desi.yaml, copied there from
/// desimodel's desi.yaml).
namespace desi {
inline constexpr double primary_diameter_m = 3.797;
inline constexpr double obscuration_diameter_m = 1.8;
inline constexpr double support_width_m = 0.025;
/// Effective area: π/4 (D² − d²) minus four spider vanes of width w and length
/// (D − d)/2: 8.6787 m² (desimodel quotes 8.678 m²).
inline constexpr double effective_area_cm2 =
    1e4 * (3.14159265358979323846 / 4.0 * (primary_diameter_m * primary_diameter_m -
                                           obscuration_diameter_m * obscuration_diameter_m) -
           4.0 * support_width_m * (primary_diameter_m - obscuration_diameter_m) / 2.0);
/// Fiber diameter on the sky averaged over the focal plane (107 µm physical).
inline constexpr double fiber_diameter_arcsec = 1.52;
/// π (d/2)² = 1.8146 arcsec².
inline constexpr double fiber_area_arcsec2 = 3.14159265358979323846 * 0.25 * fiber_diameter_arcsec * fiber_diameter_arcsec;
}  // namespace desi

/// A curve y(λ) sampled at increasing λ, linear interpolation, `outside` beyond.
struct tabulated_curve {
  std::vector<double> wave;
  std::vector<double> value;
  double outside = 0.0;

  double operator()(double lambda) const {
    if (wave.empty() || lambda < wave.front() || lambda > wave.back()) return outside;
    const auto it = std::upper_bound(wave.begin(), wave.end(), lambda);
    if (it == wave.end()) return value.back();
    const std::size_t k = static_cast<std::size_t>(it - wave.begin());
    if (k == 0) return value.front();
    const double t = (lambda - wave[k - 1]) / (wave[k] - wave[k - 1]);
    return value[k - 1] + t * (value[k] - value[k - 1]);
  }
  /// Bin means over a sample grid (exact integral of the interpolant; 0 outside).
  std::vector<double> bin_means(const sample_grid& g) const {
    std::vector<double> out(g.size(), outside);
    if (wave.size() < 2) return out;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double a = std::max(g.edges[i], wave.front()), b = std::min(g.edges[i + 1], wave.back());
      if (!(b > a)) continue;
      const double inside = core::trapz_bin_mean(wave.data(), value.data(), wave.size(), a, b) * (b - a);
      out[i] = (inside + outside * (g.width(i) - (b - a))) / g.width(i);
    }
    return out;
  }
};

/// The spectrograph arm of a camera name ("b0" → 'b').
inline char camera_arm(const std::string& camera) {
  if (camera.empty()) throw invalid_argument("specx::sim: empty camera name");
  const char a = static_cast<char>(std::tolower(static_cast<unsigned char>(camera[0])));
  if (a != 'b' && a != 'r' && a != 'z')
    throw invalid_argument("specx::sim: camera '" + camera + "' is not b, r or z followed by the spectrograph number");
  return a;
}

/// An assumed smooth instrument throughput per arm (telescope + corrector + fiber
/// transmission + spectrograph + CCD QE; no atmosphere, no fiber-aperture loss):
/// peaks of 0.33–0.36 with the blue fall-off of the b arm and the CCD-QE fall-off of
/// the z arm, rolled off over ~100 Å at the dichroic edges. These are round
/// numbers at the level of DESI's instrument throughput, not DESI's measured
/// curves (desimodel's thru-{b,r,z}.fits hold those).
inline tabulated_curve default_throughput(char arm) {
  tabulated_curve c;
  switch (arm) {
    case 'b':
      c.wave = {3500, 3600, 3800, 4000, 4500, 5000, 5500, 5800, 5950, 6050};
      c.value = {0.05, 0.12, 0.22, 0.28, 0.33, 0.35, 0.34, 0.30, 0.10, 0.0};
      break;
    case 'r':
      c.wave = {5550, 5650, 5760, 6000, 6500, 7000, 7500, 7620, 7750, 7850};
      c.value = {0.0, 0.10, 0.30, 0.34, 0.36, 0.36, 0.35, 0.30, 0.10, 0.0};
      break;
    case 'z':
      c.wave = {7400, 7500, 7600, 8000, 8500, 9000, 9500, 9824, 9950, 10050};
      c.value = {0.0, 0.15, 0.32, 0.36, 0.34, 0.28, 0.18, 0.10, 0.05, 0.0};
      break;
    default:
      throw invalid_argument(std::string("specx::sim::default_throughput: unknown arm '") + arm + "'");
  }
  return c;
}

/// Dark current (e⁻/hour/pixel) per arm, specsim's desi.yaml values.
inline double default_dark_current(char arm) { return arm == 'b' ? 3.0 : 2.0; }

/// The night sky: an emission-line spectrum (DESI's spec-sky.dat from desispec,
/// continuum-subtracted, vacuum wavelengths, 1e-17 erg s⁻¹ cm⁻² Å⁻¹ arcsec⁻²) plus a
/// smooth continuum flat in f_ν at `continuum_ab` AB mag arcsec⁻².
struct sky_model {
  tabulated_curve lines;
  double continuum_ab = 21.9;

  /// Bin means of the surface brightness, 1e-17 erg s⁻¹ cm⁻² Å⁻¹ arcsec⁻².
  std::vector<double> surface_brightness(const sample_grid& g) const {
    auto out = lines.bin_means(g);
    for (std::size_t i = 0; i < out.size(); ++i) {
      // exact bin mean of c·f_ν/λ² over [a, b]: c·f_ν·(1/a − 1/b)/(b − a)
      const double a = g.edges[i], b = g.edges[i + 1];
      const double cf = constants::ab_zero_fnu * std::pow(10.0, -0.4 * continuum_ab) * constants::c_angstrom_per_s /
                        constants::flux_unit;
      out[i] += cf * (1.0 / a - 1.0 / b) / (b - a);
    }
    return out;
  }
};

/// Everything that turns flux into electrons for one camera.
struct photon_budget {
  double area_cm2 = desi::effective_area_cm2;
  double fiber_area_arcsec2 = desi::fiber_area_arcsec2;
  double exptime_s = 1000.0;
  double airmass = 1.0;
  tabulated_curve throughput;   ///< instrument throughput T(λ)
  tabulated_curve extinction;   ///< k(λ), mag per airmass (0 outside)

  /// Electrons per unit flux density per Å at λ, before atmosphere and aperture:
  /// A · t · T(λ) · λ / (h c) · 1e-17.
  double electrons_per_flux(double lambda) const {
    return constants::flux_unit * area_cm2 * exptime_s * throughput(lambda) * lambda / constants::hc_erg_angstrom;
  }
  /// Atmospheric transmission 10^(−0.4 k(λ) X).
  double atmosphere(double lambda) const { return std::pow(10.0, -0.4 * extinction(lambda) * airmass); }
};

/// Expected electrons per sample of one fiber (see the file comment): object flux
/// `flux` and sky surface brightness `sky` (bin means on `grid`, either may be
/// empty), aperture acceptance `acceptance`, sky level factor `sky_scale`, relative
/// fiber throughput `fiber_thru` (bin means, or empty for 1). Returns object and
/// sky electrons separately.
inline void fiber_electrons(const photon_budget& b, const sample_grid& grid, std::span<const double> flux,
                            double acceptance, std::span<const double> sky, double sky_scale,
                            std::span<const double> fiber_thru, std::span<double> obj_e, std::span<double> sky_e) {
  const std::size_t n = grid.size();
  if ((!flux.empty() && flux.size() != n) || (!sky.empty() && sky.size() != n) ||
      (!fiber_thru.empty() && fiber_thru.size() != n) || obj_e.size() != n || sky_e.size() != n)
    throw invalid_argument("specx::sim::fiber_electrons: arrays must match the sample grid");
  for (std::size_t i = 0; i < n; ++i) {
    const double l = grid.center(i);
    const double k = b.electrons_per_flux(l) * grid.width(i) * (fiber_thru.empty() ? 1.0 : fiber_thru[i]);
    obj_e[i] = flux.empty() ? 0.0 : flux[i] * b.atmosphere(l) * acceptance * k;
    sky_e[i] = sky.empty() ? 0.0 : sky[i] * sky_scale * b.fiber_area_arcsec2 * k;
  }
}

}  // namespace specx::sim
