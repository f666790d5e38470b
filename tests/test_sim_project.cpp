// The forward model: photons projected through the PSF onto the CCD. Electron
// conservation, specter's noiseless image MODEL_TRUE of
// tests/data/reference/extract-r0-bundle10.fits, a serial reference, partly
// off-CCD stamps, bitwise equality between backends, and input errors.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include <specx/io.hpp>
#include <specx/psf.hpp>
#include <specx/sim/project.hpp>

using namespace specx;

namespace {

const std::string psf_file = specx::test::data_path("psf/psf-r0-00067784.fits");
const std::string extract_file = specx::test::test_data_path("reference/extract-r0-bundle10.fits");

struct truth {
  std::vector<double> flux, wave, model;  // [25, 4001], [4001], [640, 226]
  std::size_t nwave = 0, ny = 0, nx = 0;
};

truth read_truth() {
  io::fits_file f(extract_file);
  truth t;
  const auto flux = f.read_image<double, 2>("TRUTH_FLUX");
  const auto wave = f.read_image<double, 1>("TRUTH_WAVE");
  const auto model = f.read_image<float, 2>("MODEL_TRUE");
  t.flux.assign(flux.begin(), flux.end());
  t.wave.assign(wave.begin(), wave.end());
  t.model.assign(model.begin(), model.end());
  t.nwave = wave.size();
  t.ny = model.shape()[0];
  t.nx = model.shape()[1];
  return t;
}

template <class B>
std::vector<double> project_truth(const truth& t, sim::projection_plan_info* info = nullptr) {
  B be;
  const psf::gauss_hermite_psf<double, B> model(io::read_psf(psf_file), be);
  std::vector<int> fibers(25);
  std::iota(fibers.begin(), fibers.end(), 250);
  std::vector<double> photons(t.flux.size());
  for (std::size_t k = 0; k < photons.size(); ++k) photons[k] = t.flux[k] * 0.1;  // e/Å × 0.1 Å per sample
  const sim::window win{2015, 2241, 666, 1306};
  auto img = backend::make_vector<double>(be, static_cast<std::size_t>(win.nx() * win.ny()));
  const auto pi = sim::project_into(be, model, std::span<const int>(fibers), std::span<const double>(t.wave),
                                    std::span<const double>(photons), img, win);
  if (info) *info = pi;
  return backend::to_host(be, img);
}

}  // namespace

// MODEL_TRUE is specter's float64 projection rounded to float32. Our stamps agree
// with specter's to ~5e-14 per pixel (test_psf_gauss_hermite), so the float64
// images agree to ~1e-12 relative; the comparison is dominated by float32
// rounding, ≤ 2^-24 |v|. Tolerance: 1e-6 · max(MODEL_TRUE) + 2^-24 |v| per pixel.
TEST_CASE_TEMPLATE("project: specter's noiseless image MODEL_TRUE", B, SPECX_TEST_BACKENDS) {
  const auto t = read_truth();
  REQUIRE(t.nwave == 4001);
  REQUIRE(t.flux.size() == 25 * 4001);
  REQUIRE(t.ny == 640);
  REQUIRE(t.nx == 226);
  sim::projection_plan_info info;
  const auto img = project_truth<B>(t, &info);
  const double peak = *std::max_element(t.model.begin(), t.model.end());
  double dmax = 0, excess = 0;
  for (std::size_t p = 0; p < img.size(); ++p) {
    const double d = std::abs(img[p] - t.model[p]);
    dmax = std::max(dmax, d);
    excess = std::max(excess, d - (1e-6 * peak + 0x1p-24 * std::abs(t.model[p])));
  }
  MESSAGE(std::string(B::name) << ": max |ours - MODEL_TRUE| = " << dmax << " e (" << dmax / peak
                               << " of the peak " << peak << "); plan K = " << info.fiber_stride
                               << ", block = " << info.block << ", tasks = " << info.ntasks);
  CHECK(excess <= 0.0);
  CHECK(dmax / peak <= 1e-6);
  CHECK(info.fiber_stride >= 2);
}

#if !defined(SPECX_TEST_CUDA) && defined(SPECX_TEST_THRUST_OMP)
TEST_CASE("project: cpu and thrust-omp images are bitwise identical") {
  const auto t = read_truth();
  const auto a = project_truth<backend::cpu>(t);
  const auto b = project_truth<backend::thrust_omp>(t);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}
#endif

TEST_CASE_TEMPLATE("project: electrons are conserved; serial reference", B, SPECX_TEST_BACKENDS) {
  B be;
  const psf::gauss_hermite_psf<double, B> model(io::read_psf(psf_file), be);
  const auto hv = model.host_view();
  std::vector<int> fibers;
  for (int f = 100; f < 130; ++f) fibers.push_back(f);
  fibers.push_back(3);  // out of x order: the plan sorts fibers by position
  std::vector<double> wave;
  for (double w = 5800; w < 7600; w += 0.8) wave.push_back(w);
  const std::size_t nf = fibers.size(), nw = wave.size();
  std::vector<double> photons(nf * nw);
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-5, 100);  // some negative: the model is linear
  for (auto& p : photons) p = u(rng);
  for (std::size_t k = 0; k < photons.size(); k += 17) photons[k] = 0;

  // Whole CCD: every stamp is fully inside, so Σ image = Σ photons.
  const auto full = sim::project(be, model, std::span<const int>(fibers), std::span<const double>(wave),
                                 std::span<const double>(photons));
  REQUIRE(full.shape()[0] == 4128);
  REQUIRE(full.shape()[1] == 4114);
  double s_img = 0, s_ph = 0;
  for (double v : full) s_img += v;
  for (double p : photons) s_ph += p;
  CHECK(std::abs(s_img - s_ph) <= 1e-12 * std::abs(s_ph));

  // A window cutting through stamps: Σ image = Σ photons × on-window stamp
  // fractions; and each pixel equals a plain serial accumulation.
  const sim::window win{850, 1000, 1200, 2400};
  auto img = backend::make_vector<double>(be, static_cast<std::size_t>(win.nx() * win.ny()));
  sim::project_into(be, model, std::span<const int>(fibers), std::span<const double>(wave),
                    std::span<const double>(photons), img, win);
  const auto got = backend::to_host(be, img);
  std::vector<double> ref(got.size(), 0.0), st(187);
  double s_frac = 0, scale = 0;
  for (std::size_t i = 0; i < nf; ++i)
    for (std::size_t j = 0; j < nw; ++j) {
      const double ph = photons[i * nw + j];
      const auto c = hv.stamp(fibers[i], wave[j], st.data());
      for (int r = 0; r < 11; ++r)
        for (int q = 0; q < 17; ++q) {
          const int x = c.xmin + q, y = c.ymin + r;
          if (x < win.xmin || x >= win.xmax || y < win.ymin || y >= win.ymax) continue;
          ref[static_cast<std::size_t>((y - win.ymin) * win.nx() + (x - win.xmin))] += ph * st[r * 17 + q];
          s_frac += ph * st[r * 17 + q];
        }
      scale += std::abs(ph);
    }
  double s_got = 0, d = 0;
  for (std::size_t p = 0; p < got.size(); ++p) {
    s_got += got[p];
    d = std::max(d, std::abs(got[p] - ref[p]));
  }
  CHECK(s_frac > 0.1 * s_ph);
  CHECK(std::abs(s_got - s_frac) <= 1e-12 * scale);
  CHECK(d <= 1e-12 * 100);  // per pixel, different summation order only

  // Accumulation: projecting again adds the same image.
  sim::project_into(be, model, std::span<const int>(fibers), std::span<const double>(wave),
                    std::span<const double>(photons), img, win);
  const auto twice = backend::to_host(be, img);
  for (std::size_t p = 0; p < got.size(); p += 101) CHECK(twice[p] == doctest::Approx(2 * got[p]).epsilon(1e-14));
}

TEST_CASE_TEMPLATE("project: a stamp partly below the CCD keeps its on-CCD rows", B, SPECX_TEST_BACKENDS) {
  B be;
  const psf::gauss_hermite_psf<double, B> model(io::read_psf(psf_file), be);
  const int fiber = 0;
  const double w = 5548.0, ph = 1000.0;  // y = 3.1: rows -2..8, the lowest two off the CCD
  const auto img = sim::project(be, model, std::span<const int>(&fiber, 1), std::span<const double>(&w, 1),
                                std::span<const double>(&ph, 1), sim::window{100, 140, 0, 20});
  std::vector<double> st(187);
  const auto c = model.stamp(fiber, w, st);
  REQUIRE(c.ymin < 0);
  double on = 0, d = 0;
  for (int r = 0; r < 11; ++r)
    for (int q = 0; q < 17; ++q) {
      const int y = c.ymin + r, x = c.xmin + q;
      if (y < 0) continue;
      on += st[r * 17 + q];
      d = std::max(d, std::abs(img(static_cast<std::size_t>(y), static_cast<std::size_t>(x - 100)) - ph * st[r * 17 + q]));
    }
  double total = 0;
  for (double v : img) total += v;
  CHECK(d <= 1e-12);
  CHECK(total == doctest::Approx(ph * on).epsilon(1e-13));
  CHECK(on < 1.0);
}

TEST_CASE("project: input errors") {
  const psf::gauss_hermite_psf<double> model(io::read_psf(psf_file));
  std::vector<int> fibers{10, 500};
  std::vector<double> wave{6000, 6001}, ph(4, 1.0);
  using S = std::span<const double>;
  using F = std::span<const int>;
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph)), specx::invalid_argument);
  fibers[1] = -1;
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph)), specx::invalid_argument);
  fibers[1] = 11;
  wave[1] = 5000;  // below the PSF domain [5543, 7826]
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph)), specx::invalid_argument);
  wave[1] = 6001;
  std::vector<double> ph3(3, 1.0);
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph3)), specx::invalid_argument);
  std::vector<double> wave3{6000, 6001, 6002};
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave3), S(ph)), specx::invalid_argument);
  CHECK_THROWS_AS(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph), sim::window{10, 10, 0, 5}),
                  specx::invalid_argument);
  auto img = backend::make_vector<double>(backend::cpu{}, 10);
  CHECK_THROWS_AS(sim::project_into(backend::cpu{}, model, F(fibers), S(wave), S(ph), img, sim::window{0, 4, 0, 4}),
                  specx::invalid_argument);
  CHECK_NOTHROW(sim::project(backend::cpu{}, model, F(fibers), S(wave), S(ph)));
}
