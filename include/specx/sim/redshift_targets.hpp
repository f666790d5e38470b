// Simulated redshift targets with known truth, for the redshift tests and the
// statistics benchmark: spectra made from redrock templates at known z on DESI's
// b/r/z grids (0.8 Å pixels), IGM-attenuated as the template's RRIGM says, seen
// through a per-target Gaussian resolution whose width drifts along each camera
// (every target has its own R, as real fibers do), scaled to a DESI-like depth
// and given Gaussian noise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "../core/rebin.hpp"
#include "../core/wavegrid.hpp"
#include "../error.hpp"
#include "../redshift/igm_models.hpp"
#include "../redshift/targets.hpp"
#include "../redshift/templates.hpp"

namespace specx::sim {

/// One simulated target: template index, redshift, basis coefficients.
struct redshift_truth {
  std::size_t tpl = 0;
  double z = 0;
  std::vector<double> coeff;
};

/// Options of redshift_targets().
struct redshift_sim_options {
  /// Resolution: σ (pixels) drawn per target and camera at both ends of the
  /// camera in [sigma_min, sigma_max], linear in between; 11 diagonals.
  double sigma_min = 0.8, sigma_max = 1.2;
  /// Depth: each target scaled to a median r-camera flux uniform in
  /// [median_min, median_max] (noise σ: 0.8 per r pixel, so a median S/N of
  /// 1.25–3.75 per pixel).
  double median_min = 1.0, median_max = 3.0;
  std::uint64_t seed = 1;
};

/// Draws ngal galaxies (z ∈ [0.1, 1.4]), nqso quasars (alternately the low-z
/// template at z ∈ [0.3, 1.4] and the high-z one at [2.1, 3.4]) and nstar stars
/// (A, F, G, M in turn, |z| ~ 1.5e-4) from the default template set
/// (redshift::default_template_files order: GALAXY, QSO LOZ, QSO HIZ, STAR A, B,
/// CV, F, G, K, M, WD). Coefficients: the first basis vector plus 5 % of the
/// others, a physical-looking spectrum.
inline std::vector<redshift_truth> draw_redshift_truths(const std::vector<redshift::rr_template>& tpl,
                                                        std::size_t ngal, std::size_t nqso, std::size_t nstar,
                                                        std::uint64_t seed) {
  if (tpl.size() != 11)
    throw invalid_argument("specx::sim::draw_redshift_truths: expects the 11 default templates");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> U(0, 1);
  std::normal_distribution<double> N(0, 1);
  auto coeff = [&](std::size_t k) {
    std::vector<double> c(tpl[k].nbasis, 0.0);
    c[0] = 1;
    for (std::size_t i = 1; i < c.size(); ++i) c[i] = 0.05 * N(rng);
    return c;
  };
  std::vector<redshift_truth> tr;
  for (std::size_t i = 0; i < ngal; ++i) {
    const double z = 0.1 + 1.3 * U(rng);
    tr.push_back({0, z, coeff(0)});
  }
  for (std::size_t i = 0; i < nqso; ++i) {
    const bool hiz = i % 2 == 1;
    const double z = hiz ? 2.1 + 1.3 * U(rng) : 0.3 + 1.1 * U(rng);
    const std::size_t k = hiz ? 2 : 1;
    tr.push_back({k, z, coeff(k)});
  }
  const std::size_t stars[4] = {3, 6, 7, 9};  // A, F, G, M
  for (std::size_t i = 0; i < nstar; ++i) {
    const std::size_t k = stars[i % 4];
    const double z = 1.5e-4 * N(rng);
    tr.push_back({k, z, coeff(k)});
  }
  return tr;
}

/// The target batch of `truths` (cameras B, R, Z: 3600 Å × 2751, 5760 Å × 2326,
/// 7520 Å × 2881 pixels of 0.8 Å; noise σ 1.0, 0.8, 1.0 per pixel), not yet
/// prepare()d. Target ids are the truth indices.
inline redshift::target_batch redshift_targets(const std::vector<redshift::rr_template>& tpl,
                                               const std::vector<redshift_truth>& truths,
                                               const redshift_sim_options& opt = {}) {
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> N(0, 1);
  std::uniform_real_distribution<double> depth(opt.median_min, opt.median_max), width(opt.sigma_min, opt.sigma_max);
  const double start[3] = {3600, 5760, 7520};
  const std::size_t npix[3] = {2751, 2326, 2881};
  const double sigma[3] = {1.0, 0.8, 1.0};
  const char* band[3] = {"B", "R", "Z"};
  constexpr int nd = 11, h = 5;
  const std::size_t nt = truths.size();
  for (const auto& t : truths)
    if (t.tpl >= tpl.size() || t.coeff.size() != tpl[t.tpl].nbasis)
      throw invalid_argument("specx::sim::redshift_targets: a truth names no template or has the wrong coefficients");
  redshift::target_batch tb;
  for (std::size_t t = 0; t < nt; ++t) tb.targetid.push_back(static_cast<std::int64_t>(t));
  std::vector<std::vector<double>> model(3), res(3);
  for (int c = 0; c < 3; ++c) {
    const std::size_t nw = npix[c];
    std::vector<double> wave(nw);
    for (std::size_t i = 0; i < nw; ++i) wave[i] = start[c] + 0.8 * static_cast<double>(i);
    const auto edges = core::centers_to_edges(std::span<const double>(wave));
    model[c].assign(nt * nw, 0.0);
    res[c].assign(nt * nd * nw, 0.0);
    for (std::size_t t = 0; t < nt; ++t) {
      const auto& T = tpl[truths[t].tpl];
      std::vector<double> spec(T.nwave, 0.0);
      for (std::size_t k = 0; k < T.nbasis; ++k)
        for (std::size_t i = 0; i < T.nwave; ++i) spec[i] += truths[t].coeff[k] * T.basis[k * T.nwave + i];
      std::vector<double> e(edges);
      for (auto& x : e) x /= 1 + truths[t].z;
      auto m = core::trapz_rebin(std::span<const double>(T.wave), std::span<const double>(spec),
                                 std::span<const double>(e));
      for (std::size_t i = 0; i < nw; ++i) m[i] *= redshift::igm_transmission(T.igm, {}, wave[i], truths[t].z);
      // Row i of R: a Gaussian of σ_i (drifting from s0 to s1), normalised; stored
      // DESI's way, res[d, j] = R[j − (h − d), j].
      const double s0 = width(rng), s1 = width(rng);
      double* r = res[c].data() + t * nd * nw;
      for (std::size_t i = 0; i < nw; ++i) {
        const double s = s0 + (s1 - s0) * static_cast<double>(i) / static_cast<double>(nw - 1);
        double g[nd], sum = 0;
        for (int d = 0; d < nd; ++d) sum += g[d] = std::exp(-0.5 * (d - h) * (d - h) / (s * s));
        double v = 0;
        for (int d = 0; d < nd; ++d) {  // offset j − i = h − d
          const long j = static_cast<long>(i) + h - d;
          if (j < 0 || j >= static_cast<long>(nw)) continue;
          r[static_cast<std::size_t>(d) * nw + static_cast<std::size_t>(j)] = g[d] / sum;
          v += g[d] / sum * m[static_cast<std::size_t>(j)];
        }
        model[c][t * nw + i] = v;
      }
    }
  }
  // Depth: median r flux drawn in [median_min, median_max], then noise.
  for (std::size_t t = 0; t < nt; ++t) {
    std::vector<double> r(model[1].begin() + static_cast<std::ptrdiff_t>(t * npix[1]),
                          model[1].begin() + static_cast<std::ptrdiff_t>((t + 1) * npix[1]));
    std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(r.size() / 2), r.end());
    const double med = std::abs(r[r.size() / 2]);
    const double scale = med > 0 ? depth(rng) / med : 1.0;
    for (int c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < npix[c]; ++i) model[c][t * npix[c] + i] *= scale;
  }
  for (int c = 0; c < 3; ++c) {
    const std::size_t nw = npix[c];
    std::vector<double> wave(nw), f(nt * nw), iv(nt * nw, 1 / (sigma[c] * sigma[c]));
    for (std::size_t i = 0; i < nw; ++i) wave[i] = start[c] + 0.8 * static_cast<double>(i);
    for (std::size_t k = 0; k < f.size(); ++k) f[k] = model[c][k] + sigma[c] * N(rng);
    tb.add_camera(band[c], wave, std::move(f), std::move(iv), std::move(res[c]), nd);
  }
  return tb;
}

}  // namespace specx::sim
