// Sky: "extracted-like" science frames on the r-camera grid (5760–7620 Å, 0.8 Å)
// with the simulator's sky (desi-sky-model.dat lines + 21.9 AB continuum through
// the r photon budget, 1000 s), smooth object spectra with emission lines, 10% sky
// fibers, Gaussian resolution rows (σ 0.9–1.3 bins varying with λ and fiber), and
// Poisson + read noise. After the fit and subtraction: sky-fiber residual pulls
// rms ≤ 1.05 overall and ≤ 1.1 within ±2 Å of bright sky lines; science flux −
// truth pulls rms ≤ 1.05; gradient and throughput-correction terms recover what
// they model; bad input is rejected; the sky file round-trips.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include <specx/io/calib_files.hpp>
#include <specx/sim.hpp>
#include <specx/sky.hpp>

using namespace specx;

namespace {

constexpr double kW0 = 5760.0, kDW = 0.8;
constexpr int kNwave = 2326;

xt::xtensor<float, 3> gaussian_resolution(int nspec, int nwave, int ndiag = 11) {
  xt::xtensor<float, 3> r = xt::zeros<float>({std::size_t(nspec), std::size_t(ndiag), std::size_t(nwave)});
  const int h = ndiag / 2;
  for (int f = 0; f < nspec; ++f)
    for (int i = 0; i < nwave; ++i) {
      const double u = double(i) / (nwave - 1);
      const double sigma = 0.9 + 0.25 * u + 0.15 * std::sin(0.37 * f);
      double s = 0;
      for (int j = std::max(0, i - h); j <= std::min(nwave - 1, i + h); ++j) s += std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma));
      for (int j = std::max(0, i - h); j <= std::min(nwave - 1, i + h); ++j)
        r(f, h - (j - i), j) = float(std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma)) / s);
    }
  return r;
}

std::vector<double> apply_res(const xt::xtensor<float, 3>& r, int f, const std::vector<double>& x) {
  const int nd = int(r.shape()[1]), n = int(r.shape()[2]), h = nd / 2;
  std::vector<double> y(static_cast<std::size_t>(n), 0.0);
  for (int i = 0; i < n; ++i)
    for (int j = std::max(0, i - h); j <= std::min(n - 1, i + h); ++j) y[i] += r(f, h - (j - i), j) * x[j];
  return y;
}

/// The simulator's dark sky in electrons/Å on the frame grid (r camera, 1000 s).
const std::vector<double>& sky_electrons_per_A() {
  static const std::vector<double> s = [] {
    sim::sky_model sky;
    sky.lines = sim::read_two_column_text(test::data_path("sky/desi-sky-model.dat"));
    const auto grid = sim::sample_grid::linear(kW0 - kDW / 2, kW0 + kDW * (kNwave - 0.5) + 1e-9, kDW);
    REQUIRE(grid.size() == std::size_t(kNwave));
    sim::photon_budget b;
    b.exptime_s = 1000;
    b.throughput = sim::default_throughput('r');
    const auto sb = sky.surface_brightness(grid);
    std::vector<double> obj(grid.size()), e(grid.size());
    sim::fiber_electrons(b, grid, {}, 1.0, sb, 1.0, {}, obj, e);
    for (auto& v : e) v /= kDW;
    return e;
  }();
  return s;
}

struct sky_frame {
  xt::xtensor<double, 1> wave;
  xt::xtensor<float, 2> flux, ivar;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<float, 3> res;
  std::vector<int> sky_fibers;
  std::vector<std::vector<double>> obj;  ///< R_f · object, electrons/Å (truth after subtraction)
  std::vector<double> x, y;              ///< focal-plane positions (mm)
  frame_view<float> view() { return make_frame_view(flux, ivar, mask, wave, res); }
};

/// d_f = R_f (t_f · (1 + gx·x̂_f) · sky + obj_f) + noise; t_f = sky-fiber throughput
/// errors (thru_sigma), gx a focal-plane sky gradient (fraction per unit x̂).
sky_frame make_sky_frame(int nspec, std::uint64_t seed, double thru_sigma = 0, double gx = 0) {
  sky_frame t;
  const auto& sky = sky_electrons_per_A();
  t.wave = xt::xtensor<double, 1>::from_shape({std::size_t(kNwave)});
  for (int i = 0; i < kNwave; ++i) t.wave(i) = kW0 + kDW * i;
  t.res = gaussian_resolution(nspec, kNwave);
  t.flux = xt::xtensor<float, 2>::from_shape({std::size_t(nspec), std::size_t(kNwave)});
  t.ivar = t.flux;
  t.mask = xt::zeros<std::int32_t>({std::size_t(nspec), std::size_t(kNwave)});
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const double rn = 3.0;
  for (int f = 0; f < nspec; ++f) {
    t.x.push_back(-200 + 400.0 * f / (nspec - 1));
    t.y.push_back(100 * std::sin(0.7 * f));
    if (f % 10 == 4) t.sky_fibers.push_back(f);
  }
  for (int f = 0; f < nspec; ++f) {
    const bool is_sky = f % 10 == 4;
    std::vector<double> o(static_cast<std::size_t>(kNwave), 0.0), x(static_cast<std::size_t>(kNwave));
    if (!is_sky) {
      const double level = 5 + 60 * u(rng), zline = 5800 + 1800 * u(rng), amp = 200 * u(rng);
      for (int i = 0; i < kNwave; ++i) {
        const double l = t.wave(i);
        o[i] = level * (1 + 0.3 * std::sin(l / 300.0 + f)) + amp * std::exp(-0.5 * (l - zline) * (l - zline) / 4.0);
      }
    }
    const double tf = is_sky ? 1.0 + thru_sigma * g(rng) : 1.0;
    const double xs = (t.x[f]) / 115.0;
    for (int i = 0; i < kNwave; ++i) x[i] = tf * (1 + gx * xs) * sky[i] + o[i];
    const auto y = apply_res(t.res, f, x);
    t.obj.push_back(apply_res(t.res, f, o));
    for (int i = 0; i < kNwave; ++i) {
      const double var = (std::max(y[i], 0.0) * kDW + 4 * rn * rn) / (kDW * kDW);
      t.flux(f, i) = float(y[i] + std::sqrt(var) * g(rng));
      t.ivar(f, i) = float(1.0 / var);
    }
  }
  return t;
}

/// rms of (flux − truth) √ivar over the given fibers and pixels (mask = 0).
template <class Pred>
double pull_rms(const sky_frame& t, const std::vector<int>& fibers, bool against_object, Pred&& use_pixel, std::size_t* count = nullptr) {
  double s = 0;
  std::size_t n = 0;
  for (int f : fibers)
    for (int i = 0; i < kNwave; ++i) {
      if (!use_pixel(i) || t.mask(f, i) != 0 || !(t.ivar(f, i) > 0)) continue;
      const double truth = against_object ? t.obj[f][i] : 0.0;
      const double p = (t.flux(f, i) - truth) * std::sqrt(double(t.ivar(f, i)));
      s += p * p;
      ++n;
    }
  if (count) *count = n;
  return n ? std::sqrt(s / double(n)) : 0.0;
}

/// Bins within ±2 Å of a bright sky line (sky > 3 × the median sky and a local maximum).
std::vector<char> near_bright_lines() {
  const auto& sky = sky_electrons_per_A();
  std::vector<double> v(sky);
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  const double med = v[v.size() / 2];
  std::vector<char> near(static_cast<std::size_t>(kNwave), 0);
  for (int i = 1; i + 1 < kNwave; ++i)
    if (sky[i] > 3 * med && sky[i] >= sky[i - 1] && sky[i] >= sky[i + 1])
      for (int k = -2; k <= 2; ++k)  // ±2 Å = ±2.5 bins
        if (i + k >= 0 && i + k < kNwave) near[i + k] = 1;
  return near;
}

}  // namespace

TEST_CASE_TEMPLATE("sky: resolution-matched model and subtraction at the noise level", B, SPECX_TEST_BACKENDS) {
  B be;
  const int nspec = 100;
  auto t = make_sky_frame(nspec, 21);
  const auto model = sky::compute(be, t.view(), t.sky_fibers);
  CHECK(model.solver_status == 0);
  CHECK(model.nsky_used == 10);
  CHECK(model.nrejected < 20);
  CHECK(model.chi2pdf == doctest::Approx(1.0).epsilon(0.05));
  sky::subtract(be, t.view(), model);

  std::vector<int> science;
  for (int f = 0; f < nspec; ++f)
    if (f % 10 != 4) science.push_back(f);
  const auto near = near_bright_lines();
  std::size_t nline = 0, nall = 0;
  const double sky_all = pull_rms(t, t.sky_fibers, false, [](int) { return true; }, &nall);
  const double sky_lines = pull_rms(t, t.sky_fibers, false, [&](int i) { return near[i] != 0; }, &nline);
  const double sci_all = pull_rms(t, science, true, [](int) { return true; });
  const double sci_lines = pull_rms(t, science, true, [&](int i) { return near[i] != 0; });
  MESSAGE("sky fibers: pulls rms " << sky_all << " (" << nall << " px), near bright lines " << sky_lines << " (" << nline
                                   << " px); science − truth: " << sci_all << ", near lines " << sci_lines
                                   << "; rejected " << model.nrejected << ", chi2pdf " << model.chi2pdf);
  CHECK(nline > 500);
  CHECK(sky_all <= 1.05);
  CHECK(sky_all > 0.85);  // the fit absorbs part of the noise: expect √((1 − 1/N)/(1 + 1/N)) = 0.905 for N = 10 sky fibers
  CHECK(sky_lines <= 1.1);
  CHECK(sci_all <= 1.05);
  CHECK(sci_all > 0.95);
  CHECK(sci_lines <= 1.1);
  std::size_t badsky = 0;
  for (auto m : t.mask) badsky += (m & specmask::BADSKY) != 0;
  CHECK(badsky == 0);

  SUBCASE("the sky file round-trips") {
    test::temp_dir dir;
    const auto path = dir.file("sky-r0-00000001.fits");
    io::write_sky(path, model);
    const auto back = io::read_sky(path);
    CHECK(std::equal(back.flux.begin(), back.flux.end(), model.flux.begin()));
    CHECK(std::equal(back.ivar.begin(), back.ivar.end(), model.ivar.begin()));
    CHECK(std::equal(back.mask.begin(), back.mask.end(), model.mask.begin()));
    CHECK(back.throughput_corrections.size() == std::size_t(nspec));
    CHECK(back.wave(kNwave - 1) == doctest::Approx(model.wave(kNwave - 1)).epsilon(1e-7));
  }
}

TEST_CASE_TEMPLATE("sky: throughput corrections and a focal-plane gradient", B, SPECX_TEST_BACKENDS) {
  B be;
  const int nspec = 100;
  SUBCASE("throughput corrections absorb 3% sky-fiber throughput errors") {
    auto t = make_sky_frame(nspec, 31, 0.03);
    sky::options o;
    o.throughput_correction = true;
    const auto model = sky::compute(be, t.view(), t.sky_fibers, o);
    CHECK(model.solver_status == 0);
    double rms = 0;
    for (int f : t.sky_fibers) rms += (model.throughput_corrections(f) - 1) * (model.throughput_corrections(f) - 1);
    CHECK(std::sqrt(rms / 10) > 0.01);
    sky::subtract(be, t.view(), model);
    const double sky_all = pull_rms(t, t.sky_fibers, false, [](int) { return true; });
    MESSAGE("with THRPUTCORR: sky-fiber pulls rms " << sky_all);
    CHECK(sky_all <= 1.05);
  }
  SUBCASE("a ±10% sky gradient across the focal plane") {
    auto t = make_sky_frame(nspec, 41, 0.0, 0.1);
    sky::options o;
    o.gradient = true;
    o.fiber_x = t.x;
    o.fiber_y = t.y;
    const auto model = sky::compute(be, t.view(), t.sky_fibers, o);
    CHECK(model.solver_status == 0);
    CHECK(model.deconvolved.shape()[0] == 3);
    std::vector<int> science;
    for (int f = 0; f < nspec; ++f)
      if (f % 10 != 4) science.push_back(f);
    sky::subtract(be, t.view(), model);
    const double sci_all = pull_rms(t, science, true, [](int) { return true; });
    MESSAGE("with the gradient: science pulls rms " << sci_all);
    CHECK(sci_all <= 1.05);
  }
}

TEST_CASE("sky: bad input") {
  backend::cpu be;
  auto t = make_sky_frame(20, 5);
  CHECK_THROWS_AS(sky::compute(be, t.view(), std::vector<int>{}), specx::invalid_argument);
  CHECK_THROWS_AS(sky::compute(be, t.view(), std::vector<int>{25}), specx::invalid_argument);
  for (int f : t.sky_fibers)
    for (int i = 0; i < kNwave; ++i) t.mask(f, i) = specmask::BADFIBERFLAT;
  CHECK_THROWS_WITH_AS(sky::compute(be, t.view(), t.sky_fibers), doctest::Contains("no valid sky fibers"), specx::invalid_argument);
  auto u = make_sky_frame(20, 6);
  const auto model = sky::compute(be, u.view(), u.sky_fibers);
  // a frame on another grid
  auto v = make_sky_frame(20, 7);
  for (auto& w : v.wave) w += 0.8;
  CHECK_THROWS_AS(sky::subtract(be, v.view(), model), specx::invalid_argument);
  sky::options o;
  o.gradient = true;  // without positions
  CHECK_THROWS_AS(sky::compute(be, u.view(), u.sky_fibers, o), specx::invalid_argument);
}
