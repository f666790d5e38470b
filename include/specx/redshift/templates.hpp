// redrock templates as the scanner uses them: basis vectors on a rest-frame
// wavelength grid, the redshift grid to scan, the IGM model, and the [OII] sums
// behind redrock's negative-[OII] penalty. Built from plain arrays here; the file
// reader (CFITSIO) lives in redshift/io.hpp so this header stays I/O free.
//
// Defaults when a file lacks optional content (redrock's Template class):
//  * z grid (no REDSHIFTS HDU): GALAXY 10^arange(log10(1−0.005), log10(1+1.7), 3e-4) − 1,
//    QSO 10^arange(log10(1+0.05), log10(1+6), 5e-4) − 1, STAR arange(−0.002, 0.00201, 4e-5);
//    numpy's arange is reproduced exactly (n = ⌈(stop − start)/step⌉ samples
//    start + i·δ with δ = (start + step) − start), so the grids are bit-identical.
//  * IGM (no RRIGM): STAR → None; GALAXY VERSION 2.6 → Calura12; QSO VERSION 0.1
//    or 1.0 → Calura12; QSO 1.1 → Kamble20. redrock refuses anything else; we
//    also accept a GALAXY of another/no version with None (galaxy grids stop at
//    z = 1.7, where no DESI pixel lies blueward of Lyα, so the choice cannot
//    matter) and throw invalid_argument for the rest.
//  * VERSION → "unknown", RRSUBTYP → "" (upper-cased and trimmed, as redrock).
#pragma once

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "../error.hpp"
#include "igm_models.hpp"

namespace specx::redshift {

/// A redshift grid specification: n = ⌈(zmax − zmin)/step⌉ points, uniform in
/// log10(1+z) (log = true) or in z.
struct grid_spec {
  double zmin = 0, zmax = 0, step = 0;
  bool log = true;
};

/// redrock's default grids (DESIGN.md step 8; templates.py).
inline constexpr grid_spec default_galaxy_grid{-0.005, 1.7, 3e-4, true};
inline constexpr grid_spec default_qso_grid{0.05, 6.0, 5e-4, true};
inline constexpr grid_spec default_star_grid{-0.002, 0.00201, 4e-5, false};

/// Grids to use for templates that carry no REDSHIFTS HDU (rrdesi's --zscan-*).
struct grid_options {
  grid_spec galaxy = default_galaxy_grid;
  grid_spec qso = default_qso_grid;
  grid_spec star = default_star_grid;
};

namespace detail {
/// numpy.arange(start, stop, step) for doubles, bit for bit.
inline std::vector<double> numpy_arange(double start, double stop, double step) {
  const double len = std::ceil((stop - start) / step);
  std::vector<double> out;
  if (!(len > 0)) return out;
  const auto n = static_cast<std::size_t>(len);
  out.resize(n);
  out[0] = start;
  if (n == 1) return out;
  const double delta = (start + step) - start;
  out[1] = start + step;
  for (std::size_t i = 2; i < n; ++i) out[i] = start + static_cast<double>(i) * delta;
  return out;
}
inline std::string trim_upper(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  s = s.substr(b);
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace detail

/// The redshifts of a grid_spec, exactly as redrock computes them.
inline std::vector<double> make_grid(const grid_spec& g) {
  if (!(g.step > 0) || !(g.zmax > g.zmin) || !(g.zmin > -1))
    throw invalid_argument("specx::redshift::make_grid: need step > 0, zmax > zmin > -1");
  if (!g.log) return detail::numpy_arange(g.zmin, g.zmax, g.step);
  auto x = detail::numpy_arange(std::log10(1.0 + g.zmin), std::log10(1.0 + g.zmax), g.step);
  for (auto& v : x) v = std::pow(10.0, v) - 1.0;
  return x;
}

/// One template ready for scanning. Host data; upload with device_template.
struct rr_template {
  std::string rrtype;              ///< GALAXY, QSO, STAR (upper case)
  std::string subtype;             ///< "" when none
  std::string version = "unknown";
  std::string path;                ///< file it came from (may be empty)
  igm_model igm = igm_model::none;
  std::size_t nbasis = 0, nwave = 0;
  std::vector<double> wave;        ///< rest-frame wavelength (Å), strictly increasing [nwave]
  std::vector<double> basis;       ///< [nbasis, nwave] row-major
  std::vector<double> redshifts;   ///< the coarse grid to scan (increasing)
  /// GALAXY only: oii[k] = Σ basis[k, i] over 3724 ≤ wave_i ≤ 3733 Å; the penalty at
  /// coefficients c is max(0, −Σ_k c_k oii[k]) (redrock's negative-[OII] prior).
  std::vector<double> oii;

  /// redrock's full type: RRTYPE or RRTYPE:::SUBTYPE.
  std::string full_type() const { return subtype.empty() ? rrtype : rrtype + ":::" + subtype; }
  /// Velocity separation (km/s) between kept minima: 100 for STAR, else 1000.
  double max_velo_diff() const { return rrtype == "STAR" ? 100.0 : 1000.0; }
};

/// redrock's IGM default for a template without RRIGM (see the file comment).
inline igm_model default_igm_model(const std::string& rrtype, const std::string& version) {
  if (rrtype == "STAR") return igm_model::none;
  if (rrtype == "GALAXY") return version == "2.6" ? igm_model::calura12 : igm_model::none;
  if (rrtype == "QSO") {
    if (version == "0.1" || version == "1.0") return igm_model::calura12;
    if (version == "1.1") return igm_model::kamble20;
  }
  throw invalid_argument("specx::redshift: template " + rrtype + " version " + version +
                         " has no RRIGM keyword and no known default IGM model");
}

/// Builds a template from its parts. `basis` is [nbasis, nwave] row-major; `redshifts`
/// empty means the default grid of the type (`grids`). `rrigm`/`version` as in the
/// header (std::nullopt when absent). Throws invalid_argument / bad_data on
/// inconsistent sizes, a non-increasing wavelength grid, non-finite values or an
/// unknown type without a grid.
inline rr_template make_template(std::string rrtype, std::string subtype, std::optional<std::string> version,
                                 std::optional<std::string> rrigm, std::vector<double> wave, std::vector<double> basis,
                                 std::vector<double> redshifts = {}, const grid_options& grids = {},
                                 std::string path = {}) {
  rr_template t;
  t.path = std::move(path);
  t.rrtype = detail::trim_upper(std::move(rrtype));
  t.subtype = detail::trim_upper(std::move(subtype));
  if (version) {
    std::string v = *version;
    while (!v.empty() && v.back() == ' ') v.pop_back();
    t.version = v;
  }
  const std::string where = "specx::redshift::make_template(" + (t.path.empty() ? t.full_type() : t.path) + "): ";
  t.nwave = wave.size();
  if (t.nwave < 2) throw bad_data(where + "need at least 2 wavelength samples");
  if (basis.empty() || basis.size() % t.nwave != 0)
    throw bad_data(where + "basis size is not a multiple of the wavelength grid size");
  t.nbasis = basis.size() / t.nwave;
  for (std::size_t i = 1; i < t.nwave; ++i)
    if (!(wave[i] > wave[i - 1])) throw bad_data(where + "wavelengths must be strictly increasing");
  if (!(wave[0] > 0)) throw bad_data(where + "wavelengths must be positive");
  for (double v : basis)
    if (!std::isfinite(v)) throw bad_data(where + "non-finite basis value");
  t.wave = std::move(wave);
  t.basis = std::move(basis);
  t.igm = rrigm ? parse_igm_model(*rrigm) : default_igm_model(t.rrtype, t.version);
  if (!redshifts.empty()) {
    t.redshifts = std::move(redshifts);
  } else if (t.rrtype == "GALAXY") {
    t.redshifts = make_grid(grids.galaxy);
  } else if (t.rrtype == "QSO") {
    t.redshifts = make_grid(grids.qso);
  } else if (t.rrtype == "STAR") {
    t.redshifts = make_grid(grids.star);
  } else {
    throw invalid_argument(where + "unknown redshift range for template type " + t.rrtype);
  }
  for (std::size_t i = 0; i < t.redshifts.size(); ++i) {
    if (!std::isfinite(t.redshifts[i]) || t.redshifts[i] <= -1) throw bad_data(where + "invalid redshift in the grid");
    if (i > 0 && !(t.redshifts[i] > t.redshifts[i - 1])) throw bad_data(where + "the z grid must be increasing");
  }
  if (t.redshifts.size() < 3) throw bad_data(where + "the z grid needs at least 3 redshifts");
  if (t.rrtype == "GALAXY") {
    t.oii.assign(t.nbasis, 0.0);
    for (std::size_t i = 0; i < t.nwave; ++i)
      if (t.wave[i] >= 3724.0 && t.wave[i] <= 3733.0)
        for (std::size_t k = 0; k < t.nbasis; ++k) t.oii[k] += t.basis[k * t.nwave + i];
  }
  return t;
}

}  // namespace specx::redshift
