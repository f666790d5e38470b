// Wavelength grids (centres, edges: redrock's centers2edges convention) and the
// flux-conserving rebin (redrock's trapz_rebin), on the host and on every backend.
#include "testing.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <specx/core.hpp>

using namespace specx;

namespace {
template <class T>
constexpr double eps_of() { return double(std::numeric_limits<T>::epsilon()); }

/// Random strictly increasing samples on [lo, hi] (ends included).
std::vector<double> random_grid(std::mt19937& rng, double lo, double hi, int n) {
  std::uniform_real_distribution<double> U(0.3, 1.7);
  std::vector<double> step(n - 1);
  double tot = 0;
  for (auto& s : step) tot += (s = U(rng));
  std::vector<double> x(n);
  x[0] = lo;
  for (int i = 1; i < n; ++i) x[i] = x[i - 1] + step[i - 1] * (hi - lo) / tot;
  x[n - 1] = hi;
  return x;
}
}  // namespace

TEST_CASE_TEMPLATE("wavegrid: linear and log10 centres and edges", T, float, double) {
  // DESI's b-camera extraction grid: 3600–5800 Å at 0.8 Å, 2751 bins.
  const auto g = core::wavegrid<T>::linear(T(3600), T(0.8), 2751);
  const auto c = g.centers();
  const auto e = g.edges();
  REQUIRE(c.size() == 2751);
  REQUIRE(e.size() == 2752);
  CHECK(std::abs(c.back() - 5800.0) <= 4 * eps_of<T>() * 5800);  // start + i·step: one rounding each
  const auto e2 = core::centers_to_edges(std::span<const T>(c));
  for (std::size_t i = 0; i < e.size(); ++i) CHECK(std::abs(e[i] - e2[i]) <= 8 * eps_of<T>() * 5800);
  CHECK(std::abs(e.front() - 3599.6) <= 4 * eps_of<T>() * 3600);
  CHECK(std::abs(e.back() - 5800.4) <= 4 * eps_of<T>() * 5800);
  for (auto w : g.widths()) CHECK(std::abs(w - 0.8) <= 16 * eps_of<T>() * 5800);

  // A redrock-style log10 grid: constant ratio between neighbouring centres.
  const auto lg = core::wavegrid<T>::log10(T(3500), T(1e-4), 1000);
  const auto lc = lg.centers();
  for (std::size_t i = 1; i < lc.size(); ++i)
    CHECK(std::abs(std::log10(double(lc[i]) / double(lc[i - 1])) - 1e-4) <= 64 * eps_of<T>() * 3.0);
  const auto le = lg.edges();
  CHECK(le.size() == 1001);
  for (std::size_t i = 1; i + 1 < le.size(); ++i) CHECK(le[i] == T(0.5) * (lc[i - 1] + lc[i]));  // arithmetic midpoints
  CHECK(le.front() == lc[0] - (lc[1] - le[1]));
  // Single-pixel log grid: geometric half steps.
  const auto one = core::wavegrid<T>::log10(T(5000), T(1e-3), 1).edges();
  CHECK(std::abs(std::log10(double(one[1]) / double(one[0])) - 1e-3) <= 1e3 * eps_of<T>());

  CHECK_THROWS_AS(core::wavegrid<T>::linear(T(1), T(0), 10), specx::invalid_argument);
  CHECK_THROWS_AS(core::wavegrid<T>::linear(T(1), T(1), 0), specx::invalid_argument);
  CHECK_THROWS_AS(core::wavegrid<T>::log10(T(-1), T(1e-4), 10), specx::invalid_argument);
}

TEST_CASE("centers_to_edges follows redrock's convention") {
  // Cases worked by hand: interior midpoints, ends extrapolated by half the
  // neighbouring interval. All values are exact in binary.
  auto e = [](std::vector<double> c) { return core::centers_to_edges(std::span<const double>(c)); };
  CHECK(e({1, 2, 3}) == std::vector<double>{0.5, 1.5, 2.5, 3.5});
  CHECK(e({1, 3, 5}) == std::vector<double>{0, 2, 4, 6});
  CHECK(e({1, 3, 4}) == std::vector<double>{0, 2, 3.5, 4.5});
  CHECK_THROWS_AS(e({1}), specx::invalid_argument);
  CHECK_THROWS_AS(e({1, 1, 2}), specx::invalid_argument);
}

TEST_CASE_TEMPLATE("trapz_rebin: linear functions, conservation, quadratic error bound", T, float, double) {
  std::mt19937 rng(4);
  const auto xd = random_grid(rng, 3500, 5900, 3001);
  const std::vector<T> x(xd.begin(), xd.end());
  // Output: a DESI-like 0.8 Å grid strictly inside the input range.
  const auto edges = core::wavegrid<T>::linear(T(3600.4), T(0.8), 2751).edges();

  SUBCASE("a linear function rebins to its bin-centre values") {
    // Mean of a + b·x over [e_i, e_{i+1}] is a + b·(e_i + e_{i+1})/2 exactly; the
    // interpolant reproduces linear data, so only rounding remains (relative to |y| ≲ 2600).
    std::vector<T> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = T(-3000) + T(1.2) * x[i];
    const auto out = core::trapz_rebin(std::span<const T>(x), std::span<const T>(y), std::span<const T>(edges));
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double ref = -3000 + 1.2 * 0.5 * (double(edges[i]) + double(edges[i + 1]));
      CHECK(std::abs(out[i] - ref) <= 64 * eps_of<T>() * 6000);
    }
  }
  SUBCASE("flux is conserved") {
    // Σ out_i·width_i = ∫ ŷ over [e_0, e_N], the truth computed differently: the
    // midpoint rule on each input segment clipped to the range (exact for linear).
    std::uniform_real_distribution<double> U(-1, 3);
    std::vector<T> y(x.size());
    for (auto& v : y) v = T(U(rng));
    const auto out = core::trapz_rebin(std::span<const T>(x), std::span<const T>(y), std::span<const T>(edges));
    double total = 0;
    for (std::size_t i = 0; i < out.size(); ++i) total += double(out[i]) * (double(edges[i + 1]) - double(edges[i]));
    double truth = 0;
    for (std::size_t k = 0; k + 1 < x.size(); ++k) {
      const double a = std::max<double>(x[k], edges.front()), b = std::min<double>(x[k + 1], edges.back());
      if (b <= a) continue;
      const double m = 0.5 * (a + b);
      truth += (b - a) * (y[k] + (double(y[k + 1]) - y[k]) * (m - x[k]) / (double(x[k + 1]) - x[k]));
    }
    // double: 1e-12 relative (rounding of 2751 bins, each with a few ulp); float
    // outputs carry ~1e-7 each, summed with random signs: 1e-5.
    CHECK(std::abs(total - truth) <= (sizeof(T) == 8 ? 1e-12 : 1e-5) * std::abs(truth));
  }
  SUBCASE("a quadratic is overestimated by at most h²/4") {
    // For f = x² the linear interpolant exceeds f by (x − x_k)(x_{k+1} − x) ∈ [0, h_k²/4]
    // (= h²|f''|/8), so the bin mean of ŷ lies in [m, m + h_max²/4] where
    // m = (a² + ab + b²)/3 is the exact mean over [a, b]. Work relative to 5000 Å
    // to keep the float case meaningful: f = (x − 5000)².
    std::vector<T> y(x.size());
    double hmax = 0;
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - T(5000)) * (x[i] - T(5000));
    for (std::size_t i = 1; i < x.size(); ++i) hmax = std::max(hmax, double(x[i]) - double(x[i - 1]));
    const auto out = core::trapz_rebin(std::span<const T>(x), std::span<const T>(y), std::span<const T>(edges));
    const double slack = 128 * eps_of<T>() * 1.0e6;  // a few ulp of f ≤ 2e6 per value and per bin mean
    for (std::size_t i = 0; i < out.size(); ++i) {
      const double a = double(edges[i]) - 5000, b = double(edges[i + 1]) - 5000;
      const double m = (a * a + a * b + b * b) / 3;
      CHECK(double(out[i]) >= m - slack);
      CHECK(double(out[i]) <= m + hmax * hmax / 4 + slack);
    }
  }
}

TEST_CASE("trapz_rebin: what 'identity' means for the linear interpolant") {
  // Output edges at the input samples: each bin is one segment, mean = (y_k + y_{k+1})/2.
  std::vector<double> x(50), y(50);
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> U(0, 1);
  for (int i = 0; i < 50; ++i) {
    x[i] = 100 + 2.0 * i;
    y[i] = U(rng);
  }
  const auto seg = core::trapz_rebin(std::span<const double>(x), std::span<const double>(y), std::span<const double>(x));
  for (int k = 0; k < 49; ++k) CHECK(std::abs(seg[k] - 0.5 * (y[k] + y[k + 1])) <= 4 * eps_of<double>());
  // Onto the bins of the input's own centres (centers_to_edges), trimmed to the
  // input range: interior bins give (y_{i−1} + 6y_i + y_{i+1})/8, a smoothing, not
  // the identity; only linear data come back unchanged.
  auto e = core::centers_to_edges(std::span<const double>(x));
  CHECK_THROWS_AS(core::trapz_rebin(std::span<const double>(x), std::span<const double>(y), std::span<const double>(e)),
                  specx::invalid_argument);  // outer edges lie half a step outside the samples
  const std::vector<double> inner(e.begin() + 1, e.end() - 1);
  const auto sm = core::trapz_rebin(std::span<const double>(x), std::span<const double>(y), std::span<const double>(inner));
  for (int i = 1; i < 49; ++i) CHECK(std::abs(sm[i - 1] - (y[i - 1] + 6 * y[i] + y[i + 1]) / 8) <= 8 * eps_of<double>());
}

TEST_CASE("trapz_rebin rejects bad input") {
  const std::vector<double> x = {1, 2, 3, 4}, y = {1, 1, 1, 1};
  auto rebin = [&](std::vector<double> xx, std::vector<double> yy, std::vector<double> ee) {
    return core::trapz_rebin(std::span<const double>(xx), std::span<const double>(yy), std::span<const double>(ee));
  };
  CHECK(rebin(x, y, {1, 2.5, 4}) == std::vector<double>{1, 1});  // density preserved, not summed
  CHECK_THROWS_AS(rebin(x, y, {0.9, 2}), specx::invalid_argument);
  CHECK_THROWS_AS(rebin(x, y, {2, 4.1}), specx::invalid_argument);
  CHECK_THROWS_AS(rebin(x, {1, 1, 1}, {2, 3}), specx::invalid_argument);
  CHECK_THROWS_AS(rebin(x, y, {3, 2}), specx::invalid_argument);
  CHECK_THROWS_AS(rebin({1, 3, 2, 4}, y, {2, 3}), specx::invalid_argument);
}

TEST_CASE_TEMPLATE("trapz_rebin_batch: templates at many redshifts on a backend", B, SPECX_TEST_BACKENDS) {
  // Three "basis vectors" on a rest-frame log grid, rebinned at 40 redshifts onto
  // an observed 0.8 Å grid, against the host trapz_rebin with explicitly scaled
  // edges (same products, same kernel): 4 ulp of the data scale.
  B be;
  const auto x = core::wavegrid<double>::log10(1000, 1e-4, 12000).centers();  // 1000–15847 Å
  const std::size_t nx = x.size(), ny = 3;
  std::vector<double> y(ny * nx);
  for (std::size_t m = 0; m < ny; ++m)
    for (std::size_t k = 0; k < nx; ++k) y[m * nx + k] = std::sin(0.01 * double(k) * double(m + 1)) + double(m);
  const auto edges = core::wavegrid<double>::linear(3600, 0.8, 2751).edges();
  std::vector<double> scales;
  for (int k = 0; k < 40; ++k) scales.push_back(1.0 / (1.0 + 0.05 * k));  // z = 0 … 1.95
  const auto dx = backend::to_backend(be, std::span<const double>(x));
  const auto dy = backend::to_backend(be, std::span<const double>(y));
  const auto de = backend::to_backend(be, std::span<const double>(edges));
  const auto ds = backend::to_backend(be, std::span<const double>(scales));
  const std::size_t nbins = edges.size() - 1;
  auto dout = backend::make_vector<double>(be, scales.size() * ny * nbins);
  core::trapz_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dy), ny, backend::raw(be, de), edges.size(),
                          backend::raw(be, ds), scales.size(), backend::raw(be, dout));
  const auto out = backend::to_host(be, dout);
  double maxdiff = 0;
  for (std::size_t k = 0; k < scales.size(); ++k) {
    std::vector<double> se(edges.size());
    for (std::size_t i = 0; i < se.size(); ++i) se[i] = edges[i] * scales[k];
    for (std::size_t m = 0; m < ny; ++m) {
      const auto ref = core::trapz_rebin(std::span<const double>(x), std::span<const double>(y.data() + m * nx, nx),
                                         std::span<const double>(se));
      for (std::size_t i = 0; i < nbins; ++i)
        maxdiff = std::max(maxdiff, std::abs(out[(k * ny + m) * nbins + i] - ref[i]));
    }
  }
  CHECK(maxdiff <= 4 * 3 * eps_of<double>());
  // A redshift that pushes the edges below the template's range is refused.
  std::vector<double> bad = {1.0, 1.0 / 4.0};  // 3600/4 = 900 Å < 1000 Å
  const auto dbad = backend::to_backend(be, std::span<const double>(bad));
  CHECK_THROWS_AS(core::trapz_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dy), ny, backend::raw(be, de),
                                          edges.size(), backend::raw(be, dbad), bad.size(), backend::raw(be, dout)),
                  specx::invalid_argument);
}
