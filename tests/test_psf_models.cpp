// The Gaussian and spot-grid PSF models, and properties every model shares:
// a pure-Gaussian Gauss–Hermite model equals the Gaussian model; stamps sum to 1;
// a stamp centred on a pixel centre is symmetric; a spot grid sampled from the
// Gaussian reproduces it to the bilinear-interpolation bound; y → λ → y round trips.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <specx/io.hpp>
#include <specx/psf.hpp>

using namespace specx;

static_assert(psf::Psf<psf::gauss_hermite_psf<double>>);
static_assert(psf::Psf<psf::gaussian_psf<float>>);
static_assert(psf::Psf<psf::spot_grid_psf<double>>);
static_assert(psf::PsfView<psf::gauss_hermite_view<float>>);
static_assert(psf::PsfView<psf::gaussian_view<double>>);
static_assert(psf::PsfView<psf::spot_grid_view<double>>);

namespace {

const std::string psf_file = specx::test::data_path("psf/psf-r0-00067784.fits");
const std::string traces_file = specx::test::test_data_path("psf/traces-r0.fits");

/// The r0 PSF reduced to its Gaussian core: GH-0-0 = 1, no tails.
psf::gauss_hermite_params pure_gaussian_gh() {
  auto p = psf::gauss_hermite_psf<double>::params_from_file(io::read_psf(psf_file));
  std::vector<std::pair<std::string, psf::legendre_table>> keep;
  for (auto& e : p.params)
    if (e.first == "GHSIGX" || e.first == "GHSIGY") keep.push_back(e);
  auto one = *p.find("GHSIGX");
  std::fill(one.coeff.begin(), one.coeff.end(), 0.0);
  for (std::size_t f = 0; f < one.nfiber; ++f) one.coeff[f * one.ncoef] = 1.0;
  keep.emplace_back("GH-0-0", one);
  p.params = keep;
  p.ghdegx = p.ghdegy = 0;
  return p;
}

double sum_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

/// Straight traces x = 100 + 3u, y = 2000 + 1000u on [5000, 7000]: at 6000 Å
/// (u = 0) the centroid is the pixel centre (100, 2000).
std::pair<psf::legendre_table, psf::legendre_table> straight_traces(std::size_t nfib) {
  psf::legendre_table x{5000, 7000, nfib, 2, {}}, y{5000, 7000, nfib, 2, {}};
  for (std::size_t f = 0; f < nfib; ++f) {
    x.coeff.insert(x.coeff.end(), {100.0 + 8.0 * double(f), 3.0});
    y.coeff.insert(y.coeff.end(), {2000.0, 1000.0});
  }
  return {x, y};
}

/// A spot grid sampled from a Gaussian of constant widths: every spot is the
/// Gaussian density φ(u/σx)φ(v/σy)/(σxσy) sampled every 1/os pixel, wide enough
/// to cover the stamp and one pixel more.
psf::spot_grid_params gaussian_spots(const psf::legendre_table& xt, const psf::legendre_table& yt, double sx,
                                     double sy, int os, int npix_x, int npix_y) {
  psf::spot_grid_params p;
  p.xtrace = xt;
  p.ytrace = yt;
  p.hsizex = 8;
  p.hsizey = 5;
  p.npix_x = npix_x;
  p.npix_y = npix_y;
  p.oversample = os;
  p.spot_nx = 2 * (p.hsizex + 2) * os + 1;
  p.spot_ny = 2 * (p.hsizey + 2) * os + 1;
  const std::size_t nfib = xt.nfiber;
  for (std::size_t f = 0; f < nfib; ++f) p.fiberpos.push_back(double(f));
  for (std::size_t f = 0; f < nfib; f += 10) p.spotpos.push_back(double(f));
  if (p.spotpos.back() != double(nfib - 1)) p.spotpos.push_back(double(nfib - 1));
  for (double w = xt.wavemin; w < xt.wavemax; w += 250) p.spotwave.push_back(w);
  p.spotwave.push_back(xt.wavemax);
  std::vector<double> one(static_cast<std::size_t>(p.spot_nx * p.spot_ny));
  const double cx = 0.5 * (p.spot_nx - 1), cy = 0.5 * (p.spot_ny - 1);
  for (int b = 0; b < p.spot_ny; ++b)
    for (int a = 0; a < p.spot_nx; ++a) {
      const double u = (a - cx) / os, v = (b - cy) / os;
      one[static_cast<std::size_t>(b * p.spot_nx + a)] =
          core::normal_density(u / sx) * core::normal_density(v / sy) / (sx * sy);
    }
  for (std::size_t k = 0; k < p.spotpos.size() * p.spotwave.size(); ++k)
    p.spots.insert(p.spots.end(), one.begin(), one.end());
  return p;
}

/// Evaluates stamps of a view for a list of samples through the backend.
template <class V>
struct eval_stamps {
  using T = typename V::value_type;
  V psf;
  const int* fibers;
  const T* waves;
  T* out;
  int npix;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    psf.stamp(fibers[k], waves[k], out + k * static_cast<std::size_t>(npix));
  }
};

}  // namespace

TEST_CASE("models: a pure-Gaussian Gauss-Hermite model equals the Gaussian model") {
  const auto gp = pure_gaussian_gh();
  const psf::gauss_hermite_psf<double> gh(gp);
  psf::gaussian_params q;
  q.xtrace = gp.xtrace;
  q.ytrace = gp.ytrace;
  q.sigma_x = *gp.find("GHSIGX");
  q.sigma_y = *gp.find("GHSIGY");
  q.npix_x = gp.npix_x;
  q.npix_y = gp.npix_y;
  const psf::gaussian_psf<double> g(q);
  std::vector<double> a(187), b(187);
  double d = 0;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> wd(5543, 7826);
  for (int k = 0; k < 500; ++k) {
    const int f = static_cast<int>(rng() % 500);
    const double w = wd(rng);
    const auto ca = gh.stamp(f, w, a), cb = g.stamp(f, w, b);
    REQUIRE(ca.xmin == cb.xmin);
    REQUIRE(ca.ymin == cb.ymin);
    for (int p = 0; p < 187; ++p) d = std::max(d, std::abs(a[p] - b[p]));
    CHECK(sum_of(a) == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(sum_of(b) == doctest::Approx(1.0).epsilon(1e-14));
  }
  MESSAGE("max |GH(GH-0-0 only) - Gaussian| = " << d);
  CHECK(d <= 1e-15);  // same integrals, different normalisation order: rounding only
}

TEST_CASE("models: Gaussian PSF from a trace-only file (XSIGMA in px, WSIGMA in A)") {
  const auto file = io::read_psf(traces_file);
  const psf::gaussian_psf<double> g(file);
  REQUIRE(g.nfiber() == 500);
  CHECK(g.npix_y() == 4128);
  REQUIRE(file.wsigma);
  const auto& ws = *file.wsigma;
  const psf::legendre_table wst{file.ytrace.wavemin, file.ytrace.wavemax, 500, ws.shape()[1],
                                std::vector<double>(ws.data(), ws.data() + ws.size())};
  double dmax = 0;
  for (int f = 0; f < 500; f += 7)
    for (double w = 5600; w < 7800; w += 311) {
      const auto s = g.sigma(f, w);
      // σy = WSIGMA(λ) · dy/dλ, with dy/dλ by a central difference (independent of the
      // analytic Legendre derivative the model uses).
      const double h = 1e-3;
      const double dydl = (g.xy(f, w + h).y - g.xy(f, w - h).y) / (2 * h);
      dmax = std::max(dmax, std::abs(s.y - wst(static_cast<std::size_t>(f), w) * dydl) / s.y);
      CHECK(s.x == doctest::Approx((*file.xsigma)(f)));
      CHECK(s.y > 0.8);
      CHECK(s.y < 1.6);
    }
  CHECK(dmax <= 1e-7);  // central difference truncation ~ h² y''' / 6 relative
  std::vector<double> st(187);
  g.stamp(250, 6500.0, st);
  CHECK(sum_of(st) == doctest::Approx(1.0).epsilon(1e-14));
}

TEST_CASE("models: stamps centred on a pixel centre are symmetric") {
  auto [xt, yt] = straight_traces(3);
  const psf::gaussian_psf<double> g(psf::gaussian_psf<double>::constant_width(xt, yt, 1.1, 0.9, 4000, 4000));
  psf::gauss_hermite_params gp;
  gp.xtrace = xt;
  gp.ytrace = yt;
  gp.npix_x = gp.npix_y = 4000;
  const std::vector<double> sx(3, 1.1), sy(3, 0.9), one(3, 1.0), c20(3, 0.05), c02(3, -0.03), amp(3, 1e-3),
      core(3, 1.0), sca(3, 1.0), inde(3, 2.0);
  auto t = [&](const std::vector<double>& v) { return psf::legendre_table::constant(v, 5000, 7000); };
  gp.ghdegx = gp.ghdegy = 2;
  for (int i = 0; i <= 2; ++i)
    for (int j = 0; j <= 2; ++j)
      gp.params.emplace_back("GH-" + std::to_string(i) + "-" + std::to_string(j),
                             t(i == 0 && j == 0 ? one : (i == 2 && j == 0 ? c20 : (i == 0 && j == 2 ? c02 : std::vector<double>(3, 0.0)))));
  gp.params.emplace_back("GHSIGX", t(sx));
  gp.params.emplace_back("GHSIGY", t(sy));
  gp.params.emplace_back("TAILAMP", t(amp));
  gp.params.emplace_back("TAILCORE", t(core));
  gp.params.emplace_back("TAILXSCA", t(sca));
  gp.params.emplace_back("TAILYSCA", t(sca));
  gp.params.emplace_back("TAILINDE", t(inde));
  const psf::gauss_hermite_psf<double> gh(gp);
  const psf::spot_grid_psf<double> sg(gaussian_spots(xt, yt, 1.1, 0.9, 5, 4000, 4000));
  auto symmetric = [](const std::vector<double>& s, int nx, int ny) {
    double d = 0;
    for (int r = 0; r < ny; ++r)
      for (int q = 0; q < nx; ++q) {
        d = std::max(d, std::abs(s[r * nx + q] - s[r * nx + (nx - 1 - q)]));
        d = std::max(d, std::abs(s[r * nx + q] - s[(ny - 1 - r) * nx + q]));
      }
    return d;
  };
  std::vector<double> s(187);
  for (int f = 0; f < 3; ++f) {
    const auto c = g.stamp(f, 6000.0, s);
    CHECK(c.xmin == 100 + 8 * f - 8);
    CHECK(c.ymin == 2000 - 5);
    CHECK(symmetric(s, 17, 11) <= 1e-16);
    gh.stamp(f, 6000.0, s);  // even GH terms and a radial tail keep the symmetry
    CHECK(symmetric(s, 17, 11) <= 1e-16);
    CHECK(sum_of(s) == doctest::Approx(1.0).epsilon(1e-14));
    sg.stamp(f, 6000.0, s);
    CHECK(symmetric(s, 17, 11) <= 1e-15);
    CHECK(sum_of(s) == doctest::Approx(1.0).epsilon(1e-14));
  }
}

// The spot grid sampled from the Gaussian density g at spacing h = 1/os. Mixing
// spots is exact here (all spots are equal); what remains is the bilinear
// interpolant's error, |I g − g| ≤ (h²/8)(max|g_uu| + max|g_vv|) pointwise, with
// max|g_uu| = φ(0)²/(σx³σy); integrated over a unit pixel the same bound holds, and
// normalising both stamps at most doubles it. So err ≤ (h²/4) φ(0)² (1/(σx³σy) + 1/(σxσy³)).
TEST_CASE_TEMPLATE("models: a spot grid sampled from the Gaussian reproduces it", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto file = io::read_psf(traces_file);
  const auto gp = psf::gaussian_psf<double>::params_from_file(file);
  const double sx = 1.05, sy = 1.15;
  const psf::gaussian_psf<double, B> g(
      psf::gaussian_psf<double>::constant_width(gp.xtrace, gp.ytrace, sx, sy, file.npix_x, file.npix_y), be);
  std::vector<int> fib;
  std::vector<double> wav;
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> wd(5600, 7800);
  for (int k = 0; k < 200; ++k) {
    fib.push_back(static_cast<int>(rng() % 500));
    wav.push_back(wd(rng));
  }
  auto dfib = backend::to_backend(be, std::span<const int>(fib));
  auto dwav = backend::to_backend(be, std::span<const double>(wav));
  auto run = [&](const auto& model) {
    auto out = backend::make_vector<double>(be, fib.size() * 187);
    const auto v = model.view();
    backend::for_each_index(be, fib.size(),
                            eval_stamps<decltype(v)>{v, backend::raw(be, dfib), backend::raw(be, dwav),
                                                     backend::raw(be, out), 187});
    return backend::to_host(be, out);
  };
  const auto ref = run(g);
  const double phi0 = core::normal_density(0.0);
  double err[2];
  const int oss[2] = {4, 8};
  for (int k = 0; k < 2; ++k) {
    const int os = oss[k];
    const psf::spot_grid_psf<double, B> sg(
        gaussian_spots(gp.xtrace, gp.ytrace, sx, sy, os, file.npix_x, file.npix_y), be);
    const auto got = run(sg);
    double d = 0;
    for (std::size_t p = 0; p < got.size(); ++p) d = std::max(d, std::abs(got[p] - ref[p]));
    const double h = 1.0 / os;
    const double bound = h * h / 4 * phi0 * phi0 * (1 / (sx * sx * sx * sy) + 1 / (sx * sy * sy * sy));
    MESSAGE(std::string(B::name) << " oversample " << os << ": max |spot grid - Gaussian| = " << d
                                 << " (bound " << bound << ")");
    CHECK(d <= bound);
    err[k] = d;
  }
  // Second order in h: halving h divides the error by ~4.
  CHECK(err[0] / err[1] > 3.0);
  CHECK(err[0] / err[1] < 5.0);
}

TEST_CASE("models: y -> lambda -> y round trip") {
  const psf::gauss_hermite_psf<double> gh(io::read_psf(psf_file));
  const psf::gaussian_psf<double> g(io::read_psf(traces_file));
  double d = 0;
  for (int f = 0; f < 500; f += 3)
    for (double y = 0; y < 4128; y += 97.3) {
      d = std::max(d, std::abs(gh.xy(f, gh.wavelength_at_y(f, y)).y - y));
      d = std::max(d, std::abs(g.xy(f, g.wavelength_at_y(f, y)).y - y));
    }
  MESSAGE("max |y(lambda(y)) - y| = " << d << " px");
  CHECK(d <= 1e-9);
}

TEST_CASE("models: construction errors") {
  auto [xt, yt] = straight_traces(3);
  auto p = gaussian_spots(xt, yt, 1.0, 1.0, 4, 4000, 4000);
  auto q = p;
  q.oversample = 17;
  CHECK_THROWS_AS(psf::spot_grid_psf<double>{q}, specx::invalid_argument);
  q = p;
  q.fiberpos[2] = 5.0;
  CHECK_THROWS_AS(psf::spot_grid_psf<double>{q}, specx::invalid_argument);
  q = p;
  q.spots.pop_back();
  CHECK_THROWS_AS(psf::spot_grid_psf<double>{q}, specx::invalid_argument);
  const psf::spot_grid_psf<double> sg(p);
  std::vector<double> s(187);
  CHECK_THROWS_AS(sg.stamp(0, 4000.0, s), specx::invalid_argument);
  CHECK_THROWS_AS(sg.stamp(3, 6000.0, s), specx::invalid_argument);
  auto flat = yt;
  flat.coeff[1] = 0.0;  // fiber 0: y constant, no inverse
  CHECK_THROWS_AS(psf::gaussian_psf<double>(psf::gaussian_psf<double>::constant_width(xt, flat, 1, 1, 4000, 4000)),
                  specx::bad_data);
}
