// Extraction against truth and robustness.
//
// Truth: the forward model (sim::simulate_exposure, Poisson + read noise, ivar from
// the noiseless model, no cosmics / bad columns) of an r0 exposure is extracted and
// pulls (flux − R·truth)·√ivar are checked: |mean| < 0.01, rms within 1% of 1,
// median chi2pix ≈ 1. The simulation's samples are 0.8 Å wide and centred on the
// output bins (each a delta at a bin centre, the extraction's own flux model), so
// truth = a sample's electrons / 0.8 Å; with 0.2 Å samples the sub-bin positions of
// narrow sky lines add model error that is not the extraction's (README-specter:
// pull rms 1.34 near narrow lines). The image's dark current is subtracted. The issue asks
// for a full r0 frame; the default suite also runs under ASan (~10× slower) on 2
// cores, so this test uses 2 bundles (50 fibers, bundles 0 and 10) × the full
// wavelength range: 50 × 2326 ≈ 1.1e5 pulls, for which the statistical error of
// the rms is ≈ 0.2% ≪ 1%. The full frame runs in bench_extract (and the driver).
// Robustness: a fully masked fiber, a cosmic-ray-masked region, a dead amplifier,
// NaN pixels, a grid running off the CCD and a grid outside the PSF.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <specx/extract.hpp>
#include <specx/io.hpp>
#include <specx/psf.hpp>
#include <specx/sim.hpp>

using namespace specx;

namespace {

const std::string psf_file = specx::test::data_path("psf/psf-r0-00067784.fits");

const psf::gauss_hermite_psf<double, backend::cpu>& host_psf() {
  static const psf::gauss_hermite_psf<double, backend::cpu> p(io::read_psf(psf_file));
  return p;
}
const extract::trace_inverse& inverse() {
  static const extract::trace_inverse inv(host_psf(), 9);
  return inv;
}

struct truth_run {
  sim::simulated_exposure e;
  std::vector<double> wave;  // output grid
  std::vector<int> fibers;
};

const truth_run& simulated() {
  static const truth_run r = [] {
    truth_run t;
    sim::exposure_config cfg;
    cfg.camera = "r0";
    cfg.seed = 20250601;
    cfg.cosmics = false;
    cfg.n_bad_columns = 0;
    // Samples of 0.8 Å centred on DESI's r grid (5760 + 0.8 k): each sample is a
    // monochromatic delta at a bin centre, as the extraction models the flux.
    cfg.sample_step = 0.8;
    cfg.wave_min = 5759.6 - 0.8 * 200;
    for (int f = 0; f < 25; ++f) t.fibers.push_back(f);
    for (int f = 250; f < 275; ++f) t.fibers.push_back(f);
    cfg.fibers = t.fibers;
    t.e = sim::simulate_exposure(backend::cpu{}, host_psf(), cfg, sim::load_inputs(SPECX_DATA_DIR));
    // DESI's r grid, 5760–7620 Å (2326 bins): the sample centres.
    for (double w : t.e.truth.wave)
      if (w > 5760.0 - 0.1 && w < 7620.0 + 0.1) t.wave.push_back(w);
    return t;
  }();
  return r;
}

/// R·t for spectrum s (dia storage: rdata[s, d, j] = R[j + d − nd, j]).
std::vector<double> apply_r(const extract::extraction_result& r, std::size_t s, const std::vector<double>& t) {
  const int nd = r.ndiag, nw = static_cast<int>(t.size());
  std::vector<double> out(t.size(), 0.0);
  for (int j = 0; j < nw; ++j)
    for (int d = 0; d <= 2 * nd; ++d) {
      const int i = j + d - nd;
      if (i >= 0 && i < nw) out[static_cast<std::size_t>(i)] += r.resolution(s, static_cast<std::size_t>(d), static_cast<std::size_t>(j)) * t[static_cast<std::size_t>(j)];
    }
  return out;
}

extract::extraction_result extract_bundle(const xt::xtensor<float, 2>& image, const xt::xtensor<float, 2>& ivar,
                                          const xt::xtensor<std::int32_t, 2>* mask, int specmin, int nspec,
                                          const std::vector<double>& wave) {
  return extract::extract_frame(backend::cpu{}, host_psf(), extract::view_of(image, ivar, mask), specmin, nspec, wave,
                                inverse());
}

void require_finite(const extract::extraction_result& r) {
  for (double v : r.flux) REQUIRE(std::isfinite(v));
  for (double v : r.ivar) REQUIRE((std::isfinite(v) && v >= 0));
  for (double v : r.resolution) REQUIRE(std::isfinite(v));
  for (double v : r.chi2pix) REQUIRE(std::isfinite(v));
}

}  // namespace

TEST_CASE("pulls against the forward model's truth (2 bundles × the full r range)") {
  const auto& t = simulated();
  const auto& e = t.e;
  std::vector<double> pulls, chi2;
  double nflag = 0;
  // The preprocessed image still holds the dark current (preproc subtracts a dark
  // frame; here its known level).
  const xt::xtensor<float, 2> image = e.ccd.image - float(e.truth.dark_electrons);
  for (int specmin : {0, 250}) {
    const auto r = extract_bundle(image, e.ccd.ivar, &e.ccd.mask, specmin, 25, t.wave);
    require_finite(r);
    for (int s = 0; s < 25; ++s) {
      const int fib = specmin + s;
      const auto it = std::find(t.fibers.begin(), t.fibers.end(), fib);
      REQUIRE(it != t.fibers.end());
      const std::size_t row = static_cast<std::size_t>(it - t.fibers.begin());
      // Truth per output bin (electrons/Å): its sample's electrons / 0.8 Å.
      std::vector<double> tb(t.wave.size(), 0.0);
      std::size_t k = 0;
      for (std::size_t j = 0; j < t.wave.size(); ++j) {
        while (e.truth.wave(k) < t.wave[j] - 0.1) ++k;
        tb[j] = (double(e.truth.object_electrons(row, k)) + double(e.truth.sky_electrons(row, k))) / 0.8;
      }
      const auto rt = apply_r(r, static_cast<std::size_t>(s), tb);
      for (std::size_t j = static_cast<std::size_t>(r.ndiag); j + r.ndiag < t.wave.size(); ++j) {
        if (r.mask(static_cast<std::size_t>(s), j) != 0 || r.ivar(static_cast<std::size_t>(s), j) <= 0) {
          ++nflag;
          continue;
        }
        const double pv = (r.flux(static_cast<std::size_t>(s), j) - rt[j]) * std::sqrt(r.ivar(static_cast<std::size_t>(s), j));
        pulls.push_back(pv);
        chi2.push_back(r.chi2pix(static_cast<std::size_t>(s), j));
      }
    }
  }
  const double n = static_cast<double>(pulls.size());
  const double mean = std::accumulate(pulls.begin(), pulls.end(), 0.0) / n;
  double ss = 0;
  for (double p : pulls) ss += p * p;
  const double rms = std::sqrt(ss / n);
  std::nth_element(chi2.begin(), chi2.begin() + static_cast<std::ptrdiff_t>(chi2.size() / 2), chi2.end());
  const double med = chi2[chi2.size() / 2];
  {
    std::vector<double> a(pulls);
    for (auto& v : a) v = std::abs(v);
    std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(a.size() / 2), a.end());
    double s5 = 0, n5 = 0;
    for (double v : pulls) if (std::abs(v) < 5) { s5 += v * v; ++n5; }
    MESSAGE("robust sigma " << 1.4826 * a[a.size() / 2] << ", rms(|p|<5) " << std::sqrt(s5 / n5) << " n>5: " << (pulls.size() - n5));
  }
  MESSAGE("pulls: N = " << pulls.size() << " (flagged " << nflag << "), mean = " << mean << ", rms = " << rms
                        << ", median chi2pix = " << med);
  CHECK(pulls.size() > 100000);
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(rms - 1) < 0.01);
  // The median χ²/pixel of a correct fit is below 1: each pixel's residual loses
  // its leverage on the fitted fluxes (highest in the trace cores, where A weights
  // it) and the 1% PSF-error term lowers bright pixels. specter's own reference run
  // (README-specter.txt) has median 0.79; we get ~0.80 on this simulation.
  CHECK(med > 0.7);
  CHECK(med < 1.1);
}

TEST_CASE("robustness: masked fiber, cosmic, dead amplifier, NaN pixels") {
  const auto& e = simulated().e;
  const auto& p = host_psf();
  std::vector<double> wave;
  for (int j = 0; j < 150; ++j) wave.push_back(6500.0 + 0.8 * j);
  xt::xtensor<float, 2> image = e.ccd.image, ivar = e.ccd.ivar;
  xt::xtensor<std::int32_t, 2> mask = e.ccd.mask;
  const int ny = static_cast<int>(image.shape()[0]);
  // 1. Fiber 257: every pixel within ±3.5 px of its trace masked over the grid
  // (its PSF wings beyond reach unmasked pixels that neighbours share).
  for (double w = wave.front() - 20; w < wave.back() + 20; w += 0.1) {
    const auto c = p.xy(257, w);
    const int y = static_cast<int>(std::lround(c.y));
    for (int x = static_cast<int>(std::ceil(c.x - 3.5)); x <= static_cast<int>(std::floor(c.x + 3.5)); ++x)
      mask(static_cast<std::size_t>(y), static_cast<std::size_t>(x)) |= 1;
  }
  // 2. A cosmic-ray track (COSMIC) across fibers 262–263 at 6530 Å.
  {
    const auto c = p.xy(262, 6530.0);
    for (int k = -6; k <= 6; ++k)
      mask(static_cast<std::size_t>(std::lround(c.y) + k / 3), static_cast<std::size_t>(std::lround(c.x) + k)) |= 16;
  }
  // 3. NaN pixels (not flagged) in fiber 266's trace: must be treated as masked.
  {
    const auto c = p.xy(266, 6560.0);
    image(static_cast<std::size_t>(std::lround(c.y)), static_cast<std::size_t>(std::lround(c.x))) = std::nanf("");
    ivar(static_cast<std::size_t>(std::lround(c.y) + 1), static_cast<std::size_t>(std::lround(c.x))) = std::nanf("");
  }
  // 4. A dead amplifier region: ivar = 0 above the row of 6580 Å for fibers ≥ 270.
  {
    const int y0 = static_cast<int>(p.xy(270, 6580.0).y);
    const int x0 = static_cast<int>(p.xy(270, 6580.0).x - 3);
    for (int y = y0; y < ny; ++y)
      for (std::size_t x = static_cast<std::size_t>(x0); x < image.shape()[1]; ++x) ivar(static_cast<std::size_t>(y), x) = 0;
  }
  const auto r = extract_bundle(image, ivar, &mask, 250, 25, wave);
  require_finite(r);
  // Masked fiber: SOMEBADPIX over the grid, ivar ≤ 1% of its neighbours' (only
  // its far wings are measured); the neighbours are still measured.
  for (std::size_t j = 0; j < wave.size(); ++j) {
    CHECK((r.mask(7, j) & extract::specmask::somebadpix) != 0);
    CHECK(r.pixmask_fraction(7, j) > 0.95);
    CHECK(r.ivar(7, j) < 0.01 * r.ivar(9, j));
    CHECK(r.ivar(6, j) > 0);
    CHECK(r.ivar(8, j) > 0);
  }
  // Cosmic: some bins of 262 lose weight (SOMEBADPIX or lower ivar) but stay measured.
  const std::size_t jc = static_cast<std::size_t>(std::lround((6530.0 - wave[0]) / 0.8));
  CHECK(r.ivar(12, jc) > 0);
  CHECK(r.pixmask_fraction(12, jc) > 0);
  // NaN pixels: finite output, the bin still measured.
  const std::size_t jn = static_cast<std::size_t>(std::lround((6560.0 - wave[0]) / 0.8));
  CHECK(r.ivar(16, jn) > 0);
  CHECK(r.pixmask_fraction(16, jn) > 0);
  // Dead amplifier: fibers ≥ 271 above 6590 Å are ALLBADPIX with ivar 0.
  const std::size_t jd = static_cast<std::size_t>(std::lround((6600.0 - wave[0]) / 0.8));
  for (int s = 21; s < 25; ++s) {
    CHECK((r.mask(static_cast<std::size_t>(s), jd) & extract::specmask::allbadpix) != 0);
    CHECK(r.ivar(static_cast<std::size_t>(s), jd) == 0);
  }
  // Below it, measured.
  CHECK(r.ivar(22, 10) > 0);
}

TEST_CASE("robustness: a grid running off the CCD, a grid outside the PSF") {
  const auto& e = simulated().e;
  const auto& p = host_psf();
  // Fiber 0's on-CCD range ends below the PSF domain's end: extend the grid past it.
  const auto range = p.wavelength_range(0);
  std::vector<double> wave;
  for (double w = range.second - 60; w < range.second + 40; w += 0.8) wave.push_back(w);
  const auto r = extract_bundle(e.ccd.image, e.ccd.ivar, &e.ccd.mask, 0, 25, wave);
  require_finite(r);
  int off = 0;
  for (std::size_t j = 0; j < wave.size(); ++j)
    if (wave[j] > range.second + 8) {
      ++off;
      CHECK((r.mask(0, j) & extract::specmask::allbadpix) != 0);
      CHECK(r.ivar(0, j) == 0);
    }
  CHECK(off > 10);
  CHECK(r.ivar(0, 5) > 0);
  // Entirely outside the PSF: a clear error.
  std::vector<double> blue;
  for (int j = 0; j < 100; ++j) blue.push_back(4000.0 + 0.8 * j);
  CHECK_THROWS_AS(extract_bundle(e.ccd.image, e.ccd.ivar, &e.ccd.mask, 0, 25, blue), specx::invalid_argument);
  // Non-linear grid and fibers outside the PSF.
  auto bent = wave;
  bent[3] += 0.1;
  CHECK_THROWS_AS(extract_bundle(e.ccd.image, e.ccd.ivar, nullptr, 0, 25, bent), specx::invalid_argument);
  CHECK_THROWS_AS(extract_bundle(e.ccd.image, e.ccd.ivar, nullptr, 490, 25, wave), specx::invalid_argument);
}

TEST_CASE("full decorrelation (specter ndecorr): pulls against truth, agreement with per-fiber decorrelation") {
  // One bundle × 250 bins (5 chunks, 25 patches: a dense ≈ 430² inv_sqrt each, which
  // keeps the ASan run short). Q = (AᵀWA)^(1/2) with rows normalised across all the
  // patch's fibers; the frame keeps each fiber's own band of R, so R·truth misses the
  // neighbours' small leakage. 6e3 pulls: the rms's statistical error is ≈ 0.9 %, so
  // 3 % is a 3σ bound. Full and per-fiber decorrelation estimate nearly the same
  // smoothed flux (observed: within 0.01 σ); 0.05 σ would catch a wrong row
  // normalisation or a mis-indexed Q block.
  const auto& t = simulated();
  const auto& e = t.e;
  const xt::xtensor<float, 2> image = e.ccd.image - float(e.truth.dark_electrons);
  const std::vector<double> wave(t.wave.begin() + 1000, t.wave.begin() + 1250);
  extract::options full;
  full.full_decorrelation = true;
  const auto rf = extract::extract_frame(backend::cpu{}, host_psf(), extract::view_of(image, e.ccd.ivar, &e.ccd.mask), 0,
                                         25, wave, inverse(), full);
  const auto rp = extract::extract_frame(backend::cpu{}, host_psf(), extract::view_of(image, e.ccd.ivar, &e.ccd.mask), 0,
                                         25, wave, inverse());
  require_finite(rf);
  std::vector<double> pulls;
  double dflux = 0, ivar_ratio = 0;
  std::size_t nratio = 0;
  for (int s = 0; s < 25; ++s) {
    const auto us = static_cast<std::size_t>(s);
    std::vector<double> tb(wave.size(), 0.0);
    std::size_t k = 0;
    for (std::size_t j = 0; j < wave.size(); ++j) {
      while (e.truth.wave(k) < wave[j] - 0.1) ++k;
      tb[j] = (double(e.truth.object_electrons(us, k)) + double(e.truth.sky_electrons(us, k))) / 0.8;
    }
    const auto rt = apply_r(rf, us, tb);
    for (std::size_t j = static_cast<std::size_t>(rf.ndiag); j + rf.ndiag < wave.size(); ++j) {
      REQUIRE(rf.mask(us, j) == 0);
      pulls.push_back((rf.flux(us, j) - rt[j]) * std::sqrt(rf.ivar(us, j)));
      dflux = std::max(dflux, std::abs(rf.flux(us, j) - rp.flux(us, j)) * std::sqrt(rp.ivar(us, j)));
      ivar_ratio += rf.ivar(us, j) / rp.ivar(us, j);
      ++nratio;
    }
  }
  const double n = static_cast<double>(pulls.size());
  const double mean = std::accumulate(pulls.begin(), pulls.end(), 0.0) / n;
  double ss = 0;
  for (double p : pulls) ss += p * p;
  const double rms = std::sqrt(ss / n);
  MESSAGE("full decorrelation: N = " << pulls.size() << ", pull mean = " << mean << ", rms = " << rms
                                     << "; max |Δflux|·√ivar vs per-fiber = " << dflux
                                     << ", mean ivar ratio = " << ivar_ratio / static_cast<double>(nratio));
  CHECK(pulls.size() > 5500);
  CHECK(std::abs(mean) < 0.03);
  CHECK(std::abs(rms - 1) < 0.03);
  CHECK(dflux < 0.05);
}
