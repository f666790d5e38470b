// Input spectra of the forward model: galaxies, quasars and stars from redrock
// templates, redshifted onto an observed wavelength grid; flat-lamp and arc-lamp
// spectra (docs/simulation.md#input-spectra).
//
// Redshift convention. A template is a rest-frame flux density f_rest(λ_r) (any
// normalisation: the simulation scales it to a chosen AB magnitude). The observed
// spectrum is
//
//   λ_obs = λ_rest (1 + z),      f_obs(λ_obs) = f_rest(λ_obs / (1 + z)) / (1 + z),
//
// which conserves the integrated flux: ∫ f_obs dλ_obs = ∫ f_rest dλ_rest (the
// distance dimming is absorbed in the normalisation to an observed magnitude).
// Spectra are bin means over observed bins [e_i, e_{i+1}] — the exact integral of
// the template's linear interpolant (core::trapz_bin_mean) over the rest-frame
// interval [e_i, e_{i+1}]/(1+z), divided by (1+z) — so narrow emission lines keep
// their flux whatever the bin width.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../core/rebin.hpp"
#include "../error.hpp"
#include "../igm.hpp"
#include "../random.hpp"
#include "photometry.hpp"

namespace specx::sim {

/// A rest-frame template set: basis [nbasis, nwave] on increasing rest wavelengths
/// (Å), optional archetype coefficients [N, nbasis] (rows that rebuild real spectra).
struct template_basis {
  std::string rrtype;    ///< GALAXY, QSO, STAR
  std::string subtype;   ///< e.g. LOZ, HIZ, G
  std::vector<double> wave;
  xt::xtensor<double, 2> basis;
  xt::xtensor<double, 2> archetype_coeff;  ///< [0, nbasis] when absent

  std::size_t nbasis() const { return basis.shape()[0]; }
  std::size_t nwave() const { return basis.shape()[1]; }
  std::size_t narchetypes() const { return archetype_coeff.shape()[0]; }
  /// Σ_k coeff[k] · basis[k, :] on the template's rest grid.
  std::vector<double> combine(std::span<const double> coeff) const {
    if (coeff.size() != nbasis())
      throw invalid_argument("specx::sim::template_basis::combine: " + std::to_string(coeff.size()) +
                             " coefficients for " + std::to_string(nbasis()) + " basis vectors (" + rrtype + ")");
    std::vector<double> out(nwave(), 0.0);
    for (std::size_t k = 0; k < nbasis(); ++k)
      for (std::size_t i = 0; i < nwave(); ++i) out[i] += coeff[k] * basis(k, i);
    return out;
  }
  /// Archetype row r as a coefficient vector.
  std::vector<double> archetype(std::size_t r) const {
    if (r >= narchetypes())
      throw invalid_argument("specx::sim::template_basis::archetype: row " + std::to_string(r) + " of " +
                             std::to_string(narchetypes()) + " (" + rrtype + ":" + subtype + ")");
    std::vector<double> c(nbasis());
    for (std::size_t k = 0; k < nbasis(); ++k) c[k] = archetype_coeff(r, k);
    return c;
  }
};

/// Observed wavelength bins: edges[0..n] (Å, increasing); centres are midpoints.
struct sample_grid {
  std::vector<double> edges;

  /// Bins of width `step` from lo to (at most) hi.
  static sample_grid linear(double lo, double hi, double step) {
    if (!(step > 0) || !(hi > lo))
      throw invalid_argument("specx::sim::sample_grid::linear: need hi > lo and step > 0");
    const auto n = static_cast<std::size_t>(std::floor((hi - lo) / step + 1e-9));
    if (n == 0) throw invalid_argument("specx::sim::sample_grid::linear: range shorter than one step");
    sample_grid g;
    g.edges.resize(n + 1);
    for (std::size_t i = 0; i <= n; ++i) g.edges[i] = lo + static_cast<double>(i) * step;
    return g;
  }
  std::size_t size() const { return edges.empty() ? 0 : edges.size() - 1; }
  double center(std::size_t i) const { return 0.5 * (edges[i] + edges[i + 1]); }
  double width(std::size_t i) const { return edges[i + 1] - edges[i]; }
  std::vector<double> centers() const {
    std::vector<double> c(size());
    for (std::size_t i = 0; i < c.size(); ++i) c[i] = center(i);
    return c;
  }
};

/// The bin means of f_obs(λ) = f_rest(λ/(1+z))/(1+z) over the bins of `grid`
/// (see the file comment). The rest grid must cover grid's range / (1+z); throws
/// invalid_argument otherwise.
inline std::vector<double> redshift_onto(std::span<const double> rest_wave, std::span<const double> rest_flux,
                                         double z, const sample_grid& grid) {
  if (rest_wave.size() != rest_flux.size() || rest_wave.size() < 2)
    throw invalid_argument("specx::sim::redshift_onto: rest wave and flux must have the same size >= 2");
  if (!(z > -1)) throw invalid_argument("specx::sim::redshift_onto: z must be > -1");
  const double s = 1.0 + z;
  const double lo = grid.edges.front() / s, hi = grid.edges.back() / s;
  if (lo < rest_wave.front() || hi > rest_wave.back())
    throw invalid_argument("specx::sim::redshift_onto: at z = " + std::to_string(z) + " the observed range [" +
                           std::to_string(grid.edges.front()) + ", " + std::to_string(grid.edges.back()) +
                           "] Å needs rest wavelengths [" + std::to_string(lo) + ", " + std::to_string(hi) +
                           "] Å, outside the template's [" + std::to_string(rest_wave.front()) + ", " +
                           std::to_string(rest_wave.back()) + "] Å");
  std::vector<double> out(grid.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double a = std::max(grid.edges[i] / s, rest_wave.front());
    const double b = std::min(grid.edges[i + 1] / s, rest_wave.back());
    out[i] = core::trapz_bin_mean(rest_wave.data(), rest_flux.data(), rest_wave.size(), a, b) / s;
  }
  return out;
}

/// Observed bins covering a filter's support with `step` Å (for normalising a
/// spectrum to a magnitude independently of the camera's range).
inline sample_grid photometry_grid(const filter_curve& f, double step = 1.0) {
  const double lo = std::floor(f.wave_min()) - step, hi = std::ceil(f.wave_max()) + step;
  return sample_grid::linear(lo, hi + step, step);
}

/// Coefficients of a plausible quasar from a redrock QSO PCA basis: the mean
/// spectrum (basis vector 0, coefficient 1) plus small perturbations along the other
/// components, c_k = amplitude · g_k · rms(b_0)/rms(b_k), g_k standard normal from
/// (seed, stream::target, key). With amplitude 0.05 each component changes the
/// spectrum by ~5% rms of the mean, concentrated at the emission lines where the
/// PCA components live.
inline std::vector<double> qso_coefficients(const template_basis& t, std::uint64_t seed, std::uint64_t key,
                                            double amplitude = 0.05) {
  std::vector<double> c(t.nbasis(), 0.0);
  if (c.empty()) return c;
  std::vector<double> rms(t.nbasis(), 0.0);
  for (std::size_t k = 0; k < t.nbasis(); ++k) {
    double s = 0;
    for (std::size_t i = 0; i < t.nwave(); ++i) s += t.basis(k, i) * t.basis(k, i);
    rms[k] = std::sqrt(s / static_cast<double>(t.nwave()));
  }
  random::counter_rng g(seed, random::stream::target, (key << 8) | 0x51);
  c[0] = 1.0;
  for (std::size_t k = 1; k < c.size(); ++k) c[k] = rms[k] > 0 ? amplitude * g.normal() * rms[0] / rms[k] : 0.0;
  return c;
}

/// A quasar: template coefficients → rest spectrum (negative values clipped to 0:
/// PCA tails can dip below zero far from the data) → redshifted bin means →
/// × Inoue+14 mean IGM transmission at each bin centre (if igm is non-null).
inline std::vector<double> qso_spectrum(const template_basis& t, std::span<const double> coeff, double z,
                                        const sample_grid& grid, const igm::inoue14_table* igm_table) {
  auto rest = t.combine(coeff);
  for (auto& v : rest) v = std::max(v, 0.0);
  auto out = redshift_onto(t.wave, rest, z, grid);
  if (igm_table)
    for (std::size_t i = 0; i < out.size(); ++i) out[i] *= igm::transmission(*igm_table, grid.center(i), z);
  return out;
}

/// A galaxy or star: archetype row → rest spectrum → redshifted bin means. For
/// stars pass z = v/c (radial velocity; |v| ≪ c).
inline std::vector<double> archetype_spectrum(const template_basis& t, std::size_t row, double z,
                                              const sample_grid& grid) {
  const auto coeff = t.archetype(row);
  auto rest = t.combine(coeff);
  return redshift_onto(t.wave, rest, z, grid);
}

/// Air → vacuum wavelength (Å) with the IAU standard refractive index of dry air
/// (Morton 1991, ApJS 77, 119, eq. 3): n − 1 = 6.4328e-5 + 2.94981e-2/(146 − σ²)
/// + 2.5540e-4/(41 − σ²), σ = 10⁴/λ in µm⁻¹ (evaluated at the air wavelength; the
/// error of that is < 1e-3 Å in the optical).
inline double air_to_vacuum(double lambda_air) {
  const double s2 = (1e4 / lambda_air) * (1e4 / lambda_air);
  const double n = 1.0 + 6.4328e-5 + 2.94981e-2 / (146.0 - s2) + 2.5540e-4 / (41.0 - s2);
  return lambda_air * n;
}

/// One arc-lamp line: vacuum wavelength (Å) and total electrons per Å-integrated
/// unit (relative strength).
struct arc_line {
  double wave;
  double strength;
};

/// A few bright lines of the lamps DESI's arcs use (Hg, Cd, Ne, Ar, Kr, Xe), air
/// wavelengths from the NIST Atomic Spectra Database converted to vacuum; relative
/// strengths are illustrative (order of magnitude), not measured.
inline std::vector<arc_line> default_arc_lines() {
  const double air[][2] = {
      {3650.15, 0.6}, {4046.56, 0.8}, {4358.33, 1.0}, {4678.15, 0.5}, {4799.91, 0.6}, {5085.82, 0.7},
      {5460.74, 1.0}, {5769.60, 0.4}, {5790.66, 0.4}, {5852.49, 0.8}, {6143.06, 0.7}, {6402.25, 1.0},
      {6438.47, 0.8}, {6506.53, 0.6}, {6929.47, 0.6}, {7032.41, 0.8}, {7245.17, 0.5}, {7503.87, 0.9},
      {7635.11, 1.0}, {7948.18, 0.7}, {8115.31, 1.0}, {8264.52, 0.6}, {8424.65, 0.7}, {8819.41, 0.6},
      {9122.97, 0.9}, {9657.78, 0.7}};
  std::vector<arc_line> out;
  for (const auto& a : air) out.push_back({air_to_vacuum(a[0]), a[1]});
  return out;
}

/// Bin means of Σ_l strength_l · total · N(λ; λ_l, σ) — Gaussian lines of width σ
/// (Å), integrated exactly over each bin with erf; units: `total` per line.
inline std::vector<double> arc_spectrum(const sample_grid& grid, const std::vector<arc_line>& lines, double total,
                                        double sigma = 0.3) {
  std::vector<double> out(grid.size(), 0.0);
  const double k = 1.0 / (std::sqrt(2.0) * sigma);
  for (const auto& l : lines) {
    if (l.wave < grid.edges.front() - 10 * sigma || l.wave > grid.edges.back() + 10 * sigma) continue;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double a = grid.edges[i] - l.wave, b = grid.edges[i + 1] - l.wave;
      if (b < -10 * sigma || a > 10 * sigma) continue;
      out[i] += l.strength * total * 0.5 * (std::erf(b * k) - std::erf(a * k)) / grid.width(i);
    }
  }
  return out;
}

/// A smooth flat-lamp continuum: a blackbody of temperature T (K) in f_λ,
/// normalised to `level` at its maximum over the grid (quartz-halogen-like).
inline std::vector<double> flat_spectrum(const sample_grid& grid, double level, double temperature = 3200.0) {
  std::vector<double> out(grid.size());
  const double hc_over_k = 1.438776877e8;  // h c / k_B in Å K
  double peak = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double l = grid.center(i);
    out[i] = 1.0 / (std::pow(l, 5) * std::expm1(hc_over_k / (l * temperature)));
    peak = std::max(peak, out[i]);
  }
  for (auto& v : out) v *= level / peak;
  return out;
}

}  // namespace specx::sim
