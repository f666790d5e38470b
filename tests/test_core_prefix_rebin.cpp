// Rebinning through prefix integrals (core/prefix_rebin.hpp) and by summation over
// interleaved samples (core/sample_rebin.hpp, host backends) against the direct
// trapezoid walk (core::trapz_bin_mean), on every backend; and its precision on a
// long, oscillating, sign-changing input where a plain-double prefix would lose
// digits.
#include "testing.hpp"

#include <cmath>
#include <random>
#include <vector>

#include <specx/core.hpp>
#include <specx/core/prefix_rebin.hpp>
#include <specx/core/sample_rebin.hpp>

using namespace specx;

TEST_CASE_TEMPLATE("prefix_rebin_batch equals trapz_bin_mean on a backend", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> U(0.2, 1.8), V(-1, 1);
  // A long irregular grid (80000 samples, like redrock templates) with a large
  // positive mean in row 0 (prefix grows to ~1e5 × a bin integral) and zero-mean
  // noise in row 1.
  const std::size_t nx = 80000, ny = 2;
  std::vector<double> x(nx), y(ny * nx);
  x[0] = 1000;
  for (std::size_t k = 1; k < nx; ++k) x[k] = x[k - 1] + 0.1 * U(rng);
  for (std::size_t k = 0; k < nx; ++k) {
    y[k] = 1.0 + 0.3 * std::sin(x[k] * 0.05) + 0.01 * V(rng);
    y[nx + k] = V(rng);
  }
  const auto p = core::make_prefix_integral(std::span<const double>(x), std::span<const double>(y), ny);
  // Output edges: 3000 pixels of 0.8 Å from 3600 Å; scales = 1/(1+z).
  std::vector<double> edges(3001);
  for (std::size_t i = 0; i < edges.size(); ++i) edges[i] = 3600 + 0.8 * static_cast<double>(i);
  const std::vector<double> scales{1 / 1.0, 1 / 1.5, 1 / 2.4, 1 / 3.5};
  const std::size_t nbins = edges.size() - 1;
  auto dx = backend::to_backend(be, std::span<const double>(x));
  auto dtab = backend::to_backend(be, std::span<const double>(p.table));
  auto de = backend::to_backend(be, std::span<const double>(edges));
  auto ds = backend::to_backend(be, std::span<const double>(scales));
  auto dout = backend::make_vector<double>(be, scales.size() * ny * nbins);
  core::prefix_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dtab), ny, backend::raw(be, de),
                           edges.size(), backend::raw(be, ds), scales.size(), backend::raw(be, dout), 37);
  const auto out = backend::to_host(be, dout);
  double worst0 = 0, worst1 = 0;
  for (std::size_t k = 0; k < scales.size(); ++k)
    for (std::size_t m = 0; m < ny; ++m)
      for (std::size_t i = 0; i < nbins; ++i) {
        const double a = edges[i] * scales[k], b = edges[i + 1] * scales[k];
        const double ref = core::trapz_bin_mean(x.data(), y.data() + m * nx, nx, a, b);
        const double d = std::abs(out[(k * ny + m) * nbins + i] - ref);
        // Row 0: relative to the value; row 1 (zero mean, can vanish): relative to
        // the typical magnitude of the samples (1).
        if (m == 0) worst0 = std::max(worst0, d / std::abs(ref));
        else worst1 = std::max(worst1, d);
      }
  INFO("worst relative (row 0) " << worst0 << ", absolute (row 1) " << worst1);
  CHECK(worst0 < 1e-13);
  CHECK(worst1 < 1e-13);
}

TEST_CASE("make_prefix_integral: input checks and exact values") {
  const std::vector<double> x{0, 1, 3}, y{2, 4, 0};
  const auto p = core::make_prefix_integral(std::span<const double>(x), std::span<const double>(y), 1);
  CHECK(p.hi(0, 0) == 0);
  CHECK(p.hi(0, 1) == 3);
  CHECK(p.hi(0, 2) == 7);
  CHECK(p.lo(0, 2) == 0);
  const std::vector<double> bad{0, 0, 1};
  CHECK_THROWS_AS(core::make_prefix_integral(std::span<const double>(bad), std::span<const double>(y), 1),
                  invalid_argument);
  CHECK_THROWS_AS(core::make_prefix_integral(std::span<const double>(x), std::span<const double>(y), 2),
                  invalid_argument);
}

TEST_CASE_TEMPLATE("prefix_rebin_batch: locating edges on a uniform grid gives the search's bits", B,
                   SPECX_TEST_BACKENDS) {
  // A 0.1 Å grid as redrock's linear templates are stored (x0 + k·dx, rounded),
  // a jittered copy that detect_uniform must refuse, and edges that land exactly
  // on samples (ties decide the segment).
  B be;
  const std::size_t nx = 88334, ny = 3;
  std::vector<double> x(nx), y(ny * nx), jit(nx);
  for (std::size_t k = 0; k < nx; ++k) x[k] = 1166.666666666667 + 0.1 * static_cast<double>(k);
  for (std::size_t k = 0; k < nx; ++k) jit[k] = x[k] + (k % 7 == 3 ? 0.02 : 0.0);
  for (std::size_t m = 0; m < ny; ++m)
    for (std::size_t k = 0; k < nx; ++k) y[m * nx + k] = std::cos(0.013 * static_cast<double>(k * (m + 1)));
  const auto g = core::detect_uniform(std::span<const double>(x));
  CHECK(g.inv_dx > 0);
  CHECK(core::detect_uniform(std::span<const double>(jit)).inv_dx == 0);
  const auto p = core::make_prefix_integral(std::span<const double>(x), std::span<const double>(y), ny);
  std::vector<double> edges(2001);
  for (std::size_t i = 0; i < edges.size(); ++i) edges[i] = 3600 + 0.8 * static_cast<double>(i);
  edges[100] = x[9980] * 1.7;  // 3679.9 Å, scaled by 1/1.7 below: on a sample (up to rounding)
  const std::vector<double> scales{1 / 1.0, 1 / 1.7, 1 / 3.08};
  const std::size_t nbins = edges.size() - 1;
  auto dx = backend::to_backend(be, std::span<const double>(x));
  auto dtab = backend::to_backend(be, std::span<const double>(p.table));
  auto de = backend::to_backend(be, std::span<const double>(edges));
  auto ds = backend::to_backend(be, std::span<const double>(scales));
  auto search = backend::make_vector<double>(be, scales.size() * ny * nbins);
  auto direct = backend::make_vector<double>(be, scales.size() * ny * nbins);
  core::prefix_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dtab), ny, backend::raw(be, de),
                           edges.size(), backend::raw(be, ds), scales.size(), backend::raw(be, search), 64);
  core::prefix_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dtab), ny, backend::raw(be, de),
                           edges.size(), backend::raw(be, ds), scales.size(), backend::raw(be, direct), 64, g);
  const auto a = backend::to_host(be, search), b = backend::to_host(be, direct);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
  CHECK(differ == 0);
}

TEST_CASE_TEMPLATE("sample_rebin_batch equals trapz_bin_mean on a host backend", B, SPECX_TEST_BACKENDS) {
  if constexpr (backend::host_accessible_v<B>) {
    B be;
    // Five inputs (records padded to 8) on a uniform 0.1 Å grid (x0 + k·dx, as
    // redrock stores linear templates) and on an irregular one; edges of 0.8 Å
    // at several scales, plus a set whose every other edge lands exactly on a
    // sample (the tie that decides a bin's last segment). Reference: the direct
    // trapezoid walk, input by input. The two sum the same trapezoids in the same
    // order; they can differ only where the compiler fuses a multiply-add in one
    // and not the other, so the bound is a few ulps of the samples' magnitude (1).
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> U(0.2, 1.8), V(-1, 1);
    const std::size_t nx = 20000, ny = 5;
    for (int irregular = 0; irregular < 2; ++irregular) {
      std::vector<double> x(nx), y(ny * nx);
      for (std::size_t k = 0; k < nx; ++k)
        x[k] = irregular ? (k ? x[k - 1] + 0.1 * U(rng) : 3000.0) : 3000.0 + 0.1 * static_cast<double>(k);
      for (std::size_t m = 0; m < ny; ++m)
        for (std::size_t k = 0; k < nx; ++k) y[m * nx + k] = (m == 0 ? 1.0 : 0.0) + V(rng);
      const auto grid = core::detect_uniform(std::span<const double>(x));
      CHECK((grid.inv_dx > 0) == !irregular);
      const auto ys = core::interleave_samples(std::span<const double>(x), std::span<const double>(y), ny);
      for (int tie = 0; tie < 2; ++tie) {
        std::vector<double> edges;
        if (tie)  // every even edge on a sample (100, 101, …), the odd ones halfway
          for (std::size_t i = 0; i < 2001; ++i) {
            const std::size_t k = 100 + i / 2;
            edges.push_back(i % 2 ? 0.5 * (x[k] + x[k + 1]) : x[k]);
          }
        else
          for (std::size_t i = 0; i < 1801; ++i) edges.push_back(3100 + 0.8 * static_cast<double>(i));
        const std::vector<double> scales = tie ? std::vector<double>{1.0} : std::vector<double>{1.0, 1 / 1.01, 1 / 1.3};
        const std::size_t nbins = edges.size() - 1;
        auto dx = backend::to_backend(be, std::span<const double>(x));
        auto dys = backend::to_backend(be, std::span<const double>(ys));
        auto de = backend::to_backend(be, std::span<const double>(edges));
        auto ds = backend::to_backend(be, std::span<const double>(scales));
        auto dout = backend::make_vector<double>(be, scales.size() * ny * nbins);
        core::sample_rebin_batch(be, backend::raw(be, dx), nx, backend::raw(be, dys), ny, backend::raw(be, de),
                                 edges.size(), backend::raw(be, ds), scales.size(), backend::raw(be, dout), 37, grid);
        const auto out = backend::to_host(be, dout);
        double worst = 0;
        for (std::size_t k = 0; k < scales.size(); ++k)
          for (std::size_t m = 0; m < ny; ++m)
            for (std::size_t i = 0; i < nbins; ++i) {
              const double ref =
                  core::trapz_bin_mean(x.data(), y.data() + m * nx, nx, edges[i] * scales[k], edges[i + 1] * scales[k]);
              worst = std::max(worst, std::abs(out[(k * ny + m) * nbins + i] - ref));
            }
        INFO("irregular " << irregular << ", edges on samples " << tie << ": worst |Δ| " << worst);
        CHECK(worst < 1e-14);
      }
    }
    const std::vector<double> x{0, 1, 3}, bad{0, 0, 1}, y{2, 4, 0};
    CHECK_THROWS_AS(core::interleave_samples(std::span<const double>(bad), std::span<const double>(y), 1),
                    invalid_argument);
    CHECK_THROWS_AS(core::interleave_samples(std::span<const double>(x), std::span<const double>(y), 2),
                    invalid_argument);
  }
}
