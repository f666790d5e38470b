// Truth test: spectra simulated from the templates at known redshifts on DESI's
// b/r/z grids (0.8 Å), a Gaussian resolution (σ = 1 pixel, 11 diagonals), IGM for
// quasars, and Gaussian noise at DESI-like depth (σ = 1 per pixel, median r flux
// 1–3); every target must come back with the right SPECTYPE, |Δz|/(1+z) < 0.0033
// and ZWARN = 0, and the ZERR pulls must be of order 1. Small by default (14
// targets, ~30 s); the statistics run (hundreds per class) is the benchmark
// BM_RedshiftTruth (bench/bench_redshift.cpp).
#include "testing.hpp"

#include <cmath>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <specx/core/rebin.hpp>
#include <specx/core/wavegrid.hpp>
#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>

using namespace specx;
using namespace specx::redshift;

namespace {

struct truth {
  std::size_t tpl;
  double z;
};

/// R·[T_IGM · rebin(basisᵀc at λ(1+z))] + noise on b, r, z for every truth.
target_batch simulate(const std::vector<rr_template>& tpl, const std::vector<truth>& tr,
                      const std::vector<std::vector<double>>& coeff, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N(0, 1);
  std::uniform_real_distribution<double> U(1.0, 3.0);
  const double start[3] = {3600, 5760, 7520};
  const std::size_t npix[3] = {2751, 2326, 2881};
  const double sigma[3] = {1.0, 0.8, 1.0};
  const char* band[3] = {"B", "R", "Z"};
  const int nd = 11, h = 5;
  std::vector<double> kern(nd);
  double ks = 0;
  for (int d = 0; d < nd; ++d) ks += kern[d] = std::exp(-0.5 * (d - h) * (d - h));
  for (auto& k : kern) k /= ks;
  const std::size_t nt = tr.size();
  target_batch tb;
  for (std::size_t t = 0; t < nt; ++t) tb.targetid.push_back(static_cast<std::int64_t>(t));
  std::vector<std::vector<double>> model(3);
  for (int c = 0; c < 3; ++c) {
    std::vector<double> wave(npix[c]);
    for (std::size_t i = 0; i < npix[c]; ++i) wave[i] = start[c] + 0.8 * static_cast<double>(i);
    const auto edges = core::centers_to_edges(std::span<const double>(wave));
    model[c].assign(nt * npix[c], 0.0);
    for (std::size_t t = 0; t < nt; ++t) {
      const auto& T = tpl[tr[t].tpl];
      std::vector<double> spec(T.nwave, 0.0);
      for (std::size_t k = 0; k < T.nbasis; ++k)
        for (std::size_t i = 0; i < T.nwave; ++i) spec[i] += coeff[t][k] * T.basis[k * T.nwave + i];
      std::vector<double> e(edges);
      for (auto& x : e) x /= 1 + tr[t].z;
      auto m = core::trapz_rebin(std::span<const double>(T.wave), std::span<const double>(spec),
                                 std::span<const double>(e));
      for (std::size_t i = 0; i < npix[c]; ++i)
        m[i] *= igm_transmission(T.igm, {}, wave[i], tr[t].z);
      for (std::size_t i = 0; i < npix[c]; ++i) {  // R: symmetric Gaussian rows
        double s = 0;
        for (int d = 0; d < nd; ++d) {
          const long j = static_cast<long>(i) + d - h;
          if (j >= 0 && j < static_cast<long>(npix[c])) s += kern[d] * m[j];
        }
        model[c][t * npix[c] + i] = s;
      }
    }
  }
  // Scale each target to a median r flux in [1, 3], then add noise.
  for (std::size_t t = 0; t < nt; ++t) {
    std::vector<double> r(model[1].begin() + t * npix[1], model[1].begin() + (t + 1) * npix[1]);
    std::nth_element(r.begin(), r.begin() + r.size() / 2, r.end());
    const double scale = U(rng) / std::abs(r[r.size() / 2]);
    for (int c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < npix[c]; ++i) model[c][t * npix[c] + i] *= scale;
  }
  for (int c = 0; c < 3; ++c) {
    std::vector<double> wave(npix[c]), f(nt * npix[c]), iv(nt * npix[c], 1 / (sigma[c] * sigma[c])),
        res(nt * nd * npix[c]);
    for (std::size_t i = 0; i < npix[c]; ++i) wave[i] = start[c] + 0.8 * static_cast<double>(i);
    for (std::size_t k = 0; k < f.size(); ++k) f[k] = model[c][k] + sigma[c] * N(rng);
    for (std::size_t t = 0; t < nt; ++t)
      for (int d = 0; d < nd; ++d)
        for (std::size_t j = 0; j < npix[c]; ++j) res[(t * nd + d) * npix[c] + j] = kern[d];
    tb.add_camera(band[c], wave, f, iv, res, nd);
  }
  return tb;
}

}  // namespace

TEST_CASE("redshift truth: simulated galaxies, quasars and stars") {
#if defined(__SANITIZE_ADDRESS__)
  const std::size_t ngal = 1, nqso = 1, nstar = 1;
#else
  const std::size_t ngal = 6, nqso = 4, nstar = 4;
#endif
  std::vector<rr_template> tpl;
  for (const auto& f : default_template_files(test::data_path("templates"))) tpl.push_back(load_template(f));
  std::mt19937_64 rng(2718);
  std::uniform_real_distribution<double> U(0, 1);
  std::normal_distribution<double> N(0, 1);
  std::vector<truth> tr;
  std::vector<std::vector<double>> coeff;
  auto archetype = [&](std::size_t k) {  // a physical spectrum: positive mix of the basis' first vector
    std::vector<double> c(tpl[k].nbasis, 0.0);
    c[0] = 1;
    for (std::size_t i = 1; i < c.size(); ++i) c[i] = 0.05 * N(rng);
    return c;
  };
  for (std::size_t i = 0; i < ngal; ++i) {
    tr.push_back({0, 0.1 + 1.3 * U(rng)});
    coeff.push_back(archetype(0));
  }
  for (std::size_t i = 0; i < nqso; ++i) {
    const bool hiz = i % 2 == 1;
    tr.push_back({std::size_t(hiz ? 2 : 1), hiz ? 2.1 + 1.3 * U(rng) : 0.3 + 1.1 * U(rng)});
    coeff.push_back(archetype(hiz ? 2 : 1));
  }
  const std::size_t stars[4] = {3, 6, 7, 9};  // A, F, G, M
  for (std::size_t i = 0; i < nstar; ++i) {
    tr.push_back({stars[i % 4], 1.5e-4 * N(rng)});
    coeff.push_back(archetype(stars[i % 4]));
  }
  auto tb = simulate(tpl, tr, coeff, 99);
  prepare(tb);
  const auto r = zfind(backend::cpu{}, tpl, tb);
  std::size_t ok = 0;
  double pull2 = 0;
  for (std::size_t t = 0; t < tr.size(); ++t) {
    const auto& b = r.targets[t].fits.front();
    const auto& T = tpl[tr[t].tpl];
    CAPTURE(t);
    CAPTURE(T.full_type());
    CAPTURE(tr[t].z);
    CAPTURE(b.z);
    CHECK(b.spectype == T.rrtype);
    CHECK(std::abs(b.z - tr[t].z) / (1 + tr[t].z) < 0.0033);
    CHECK(b.zwarn == 0);
    if (b.spectype == T.rrtype && std::abs(b.z - tr[t].z) / (1 + tr[t].z) < 0.0033 && b.zwarn == 0) ++ok;
    pull2 += std::pow((b.z - tr[t].z) / b.zerr, 2);
  }
  const double pull_rms = std::sqrt(pull2 / static_cast<double>(tr.size()));
  MESSAGE("truth: " << ok << "/" << tr.size() << " right; ZERR pull rms " << pull_rms);
  CHECK(pull_rms < 5);  // redrock's ZERR ignores template mismatch; order-one pulls expected
}
