// Fiber flat: an "extracted-like" flat-lamp frame (the simulator's lamp spectrum
// and throughput curve on the r-camera frame grid, per-fiber throughputs with 3%
// scatter and a 1% slope across the arm, Gaussian resolution rows with σ ≈ 1 bin
// varying along λ and between fibers, Poisson + read noise) → the recovered flat
// matches the truth to < 0.2% rms, flattening a science frame removes the
// throughput scatter, a broken fiber is flagged, bad input is rejected.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <specx/fiberflat.hpp>
#include <specx/io/calib_files.hpp>
#include <specx/sim.hpp>

using namespace specx;

namespace {

constexpr double kW0 = 5760.0, kDW = 0.8;

/// Gaussian resolution rows with σ(f, λ) = 0.9 … 1.2 bins, each row normalised.
xt::xtensor<float, 3> gaussian_resolution(int nspec, int nwave, int ndiag = 11) {
  xt::xtensor<float, 3> r = xt::zeros<float>({std::size_t(nspec), std::size_t(ndiag), std::size_t(nwave)});
  const int h = ndiag / 2;
  for (int f = 0; f < nspec; ++f)
    for (int i = 0; i < nwave; ++i) {
      const double u = double(i) / (nwave - 1);
      const double sigma = 0.9 + 0.2 * u + 0.1 * std::sin(0.37 * f);
      double s = 0;
      for (int j = std::max(0, i - h); j <= std::min(nwave - 1, i + h); ++j) s += std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma));
      for (int j = std::max(0, i - h); j <= std::min(nwave - 1, i + h); ++j) {
        const int d = h - (j - i);  // storage (d, j) holds R[j − o_d, j] with o_d = h − d = j − i
        r(f, d, j) = float(std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma)) / s);
      }
    }
  return r;
}

/// y = R_f x for one fiber (dense loop over the band).
std::vector<double> apply_res(const xt::xtensor<float, 3>& r, int f, const std::vector<double>& x) {
  const int nd = int(r.shape()[1]), n = int(r.shape()[2]), h = nd / 2;
  std::vector<double> y(std::size_t(n), 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = std::max(0, i - h); j <= std::min(n - 1, i + h); ++j) y[i] += r(f, h - (j - i), j) * x[j];
  return y;
}

struct test_frame {
  xt::xtensor<double, 1> wave;
  xt::xtensor<float, 2> flux, ivar;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<float, 3> res;
  std::vector<std::vector<double>> tau;  ///< true fiber throughput per bin
  frame_view<float> view() { return make_frame_view(flux, ivar, mask, wave, res); }
};

/// A flat-lamp (lamp = true) or smooth-continuum frame: d_f = R_f(τ_f · S) + noise,
/// S in electrons/Å; variance from the expectation: (N + 4 rn²)/Δλ², N = electrons per bin.
test_frame make_frame(int nspec, int nwave, double level, bool lamp, std::uint64_t seed, int broken = -1) {
  test_frame t;
  t.wave = xt::xtensor<double, 1>::from_shape({std::size_t(nwave)});
  for (int i = 0; i < nwave; ++i) t.wave(i) = kW0 + kDW * i;
  const auto grid = sim::sample_grid::linear(kW0 - kDW / 2, kW0 + kDW * (nwave - 0.5) + 1e-9, kDW);
  REQUIRE(grid.size() == std::size_t(nwave));
  std::vector<double> shape(static_cast<std::size_t>(nwave));
  const auto thr = sim::default_throughput('r').bin_means(grid);
  const double tmax = *std::max_element(thr.begin(), thr.end());
  const auto bb = sim::flat_spectrum(grid, 1.0);
  for (int i = 0; i < nwave; ++i)
    shape[i] = lamp ? bb[i] * thr[i] / tmax : (1.0 + 0.2 * std::sin(t.wave(i) / 150.0)) * thr[i] / tmax;
  t.res = gaussian_resolution(nspec, nwave);
  t.flux = xt::xtensor<float, 2>::from_shape({std::size_t(nspec), std::size_t(nwave)});
  t.ivar = t.flux;
  t.mask = xt::zeros<std::int32_t>({std::size_t(nspec), std::size_t(nwave)});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const double rn = 3.0;
  for (int f = 0; f < nspec; ++f) {
    std::mt19937_64 fr(1000 + f);  // the same fiber has the same throughput in every frame
    std::normal_distribution<double> gf(0.0, 1.0);
    const double scale = 1.0 + 0.03 * gf(fr), slope = 0.01 * gf(fr);
    std::vector<double> tau(static_cast<std::size_t>(nwave)), x(static_cast<std::size_t>(nwave));
    for (int i = 0; i < nwave; ++i) {
      const double u = 2.0 * i / (nwave - 1) - 1.0;
      tau[i] = (f == broken ? 0.02 : scale) * (1.0 + slope * u);
      x[i] = level * shape[i] * tau[i];
    }
    const auto y = apply_res(t.res, f, x);
    for (int i = 0; i < nwave; ++i) {
      const double var = (std::max(y[i], 0.0) * kDW + 4 * rn * rn) / (kDW * kDW);
      t.flux(f, i) = float(y[i] + std::sqrt(var) * g(rng));
      t.ivar(f, i) = float(1.0 / var);
    }
    t.tau.push_back(std::move(tau));
  }
  return t;
}

}  // namespace

TEST_CASE_TEMPLATE("fiberflat: recovers the fiber throughputs, flattens a science frame", B, SPECX_TEST_BACKENDS) {
  B be;
  const int nspec = 40, nwave = 2326, broken = 17;
  auto flat = make_frame(nspec, nwave, 1.5e5, true, 11, broken);
  // a cosmic-like outlier and a masked pixel must not disturb the flat
  flat.flux(3, 800) += 5e4f;
  flat.mask(5, 900) = specmask::COSMIC;
  const auto ff = fiberflat::compute(be, flat.view());
  CHECK(ff.solver_status == 0);
  CHECK(ff.converged);
  CHECK(ff.nclipped >= 1);
  CHECK(ff.chi2pdf == doctest::Approx(1.0).epsilon(0.05));
  MESSAGE("iterations " << ff.iterations << ", clipped " << ff.nclipped << ", chi2pdf " << ff.chi2pdf);

  // truth: τ_f / mean over good fibers of τ at each λ
  double s2 = 0, pull2 = 0;
  std::size_t n = 0, nmasked = 0;
  for (int i = 0; i < nwave; ++i) {
    double mean = 0;
    for (int f = 0; f < nspec; ++f)
      if (f != broken) mean += flat.tau[f][i];
    mean /= nspec - 1;
    for (int f = 0; f < nspec; ++f) {
      if (f == broken) continue;
      const double truth = flat.tau[f][i] / mean;
      const double e = ff.fiberflat(f, i) / truth - 1.0;
      s2 += e * e;
      pull2 += (ff.fiberflat(f, i) - truth) * (ff.fiberflat(f, i) - truth) * ff.ivar(f, i);
      ++n;
      nmasked += ff.mask(f, i) != 0;
    }
  }
  const double rms = std::sqrt(s2 / double(n));
  {
    double sf2 = 0;
    for (int f = 0; f < nspec; ++f) {
      if (f == broken) continue;
      double mf = 0;
      for (int i = 0; i < nwave; ++i) {
        double mean = 0;
        for (int g = 0; g < nspec; ++g)
          if (g != broken) mean += flat.tau[g][i];
        mean /= nspec - 1;
        mf += ff.fiberflat(f, i) / (flat.tau[f][i] / mean) - 1.0;
      }
      mf /= nwave;
      sf2 += mf * mf;
    }
    MESSAGE("per-fiber mean error rms " << 100 * std::sqrt(sf2 / (nspec - 1)) << " %");
  }
  MESSAGE("fiberflat rms error " << 100 * rms << " %, pull rms " << std::sqrt(pull2 / double(n)));
  CHECK(nmasked == 0);
  CHECK(rms < 0.002);
  CHECK(std::sqrt(pull2 / double(n)) < 1.3);  // the spline's error bars are honest

  SUBCASE("the broken fiber is flagged") {
    CHECK(ff.broken[broken] == 1);
    for (int i = 0; i < nwave; i += 100) {
      CHECK((ff.mask(broken, i) & specmask::BADFIBERFLAT) != 0);
      CHECK(ff.ivar(broken, i) == 0);
    }
    CHECK(std::count(ff.broken.begin(), ff.broken.end(), 1) == 1);
  }
  SUBCASE("the deconvolved mean spectrum follows the lamp") {
    // smooth lamp: M ≈ level · shape · mean τ within a few 0.1% away from the edges
    CHECK(ff.meanspec.size() == std::size_t(nwave));
    CHECK(ff.meanspec(nwave / 2) > 0);
  }
  SUBCASE("applying it removes the throughput scatter of a science frame") {
    auto sci = make_frame(nspec, nwave, 5e4, false, 12, broken);
    auto ratio_scatter = [&](const test_frame& t) {
      std::vector<double> med;
      for (int f = 0; f < nspec; ++f) {
        if (f == broken) continue;
        double a = 0, b = 0;
        for (int i = 0; i < nwave; ++i) {
          a += t.flux(f, i);
          b += t.flux(0, i);
        }
        med.push_back(a / b);
      }
      const double mu = std::accumulate(med.begin(), med.end(), 0.0) / med.size();
      double v = 0;
      for (double x : med) v += (x - mu) * (x - mu);
      return std::sqrt(v / med.size()) / mu;
    };
    const double before = ratio_scatter(sci);
    fiberflat::apply(be, sci.view(), ff);
    const double after = ratio_scatter(sci);
    MESSAGE("fiber-to-fiber scatter before " << 100 * before << " %, after " << 100 * after << " %");
    CHECK(before > 0.015);
    CHECK(after < 0.0005);  // photon noise of the frame: ~0.02%
    CHECK((sci.mask(broken, 10) & specmask::BADFIBERFLAT) != 0);
    CHECK(sci.ivar(broken, 10) == 0);
  }
  SUBCASE("round trip through DESI's fiberflat file") {
    test::temp_dir dir;
    const auto path = dir.file("fiberflat-r0-00000001.fits");
    io::write_fiberflat(path, ff);
    const auto back = io::read_fiberflat(path);
    CHECK(std::equal(back.fiberflat.begin(), back.fiberflat.end(), ff.fiberflat.begin()));
    CHECK(std::equal(back.ivar.begin(), back.ivar.end(), ff.ivar.begin()));
    CHECK(std::equal(back.mask.begin(), back.mask.end(), ff.mask.begin()));
    CHECK(back.meanspec(100) == doctest::Approx(ff.meanspec(100)).epsilon(1e-6));
    CHECK(back.wave(nwave - 1) == doctest::Approx(ff.wave(nwave - 1)).epsilon(1e-7));
    CHECK(back.chi2pdf == doctest::Approx(ff.chi2pdf));
  }
}

TEST_CASE("fiberflat: no smoothing gives the raw ratio; bad input is rejected") {
  backend::cpu be;
  auto flat = make_frame(8, 300, 1e5, true, 3);
  fiberflat::options o;
  o.knot_spacing = 0;
  const auto ff = fiberflat::compute(be, flat.view(), o);
  CHECK(ff.solver_status == 0);
  CHECK(ff.fiberflat(2, 150) == doctest::Approx(flat.tau[2][150] / 1.0).epsilon(0.05));

  SUBCASE("no valid pixel") {
    auto bad = make_frame(4, 200, 1e5, true, 4);
    bad.ivar.fill(0);
    CHECK_THROWS_AS(fiberflat::compute(be, bad.view()), specx::invalid_argument);
  }
  SUBCASE("mismatched grids") {
    auto other = make_frame(8, 299, 1e5, false, 5);
    CHECK_THROWS_AS(fiberflat::apply(be, other.view(), ff), specx::invalid_argument);
    auto shifted = make_frame(8, 300, 1e5, false, 5);
    for (auto& w : shifted.wave) w += 0.4;
    CHECK_THROWS_AS(fiberflat::apply(be, shifted.view(), ff), specx::invalid_argument);
    xt::xtensor<float, 3> r2 = xt::zeros<float>({std::size_t(8), std::size_t(11), std::size_t(301)});
    CHECK_THROWS_AS(make_frame_view(shifted.flux, shifted.ivar, shifted.mask, shifted.wave, r2), specx::invalid_argument);
  }
}
