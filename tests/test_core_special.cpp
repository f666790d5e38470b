// Probabilists' Hermite polynomials and the pixel-integrated Gaussian, against
// closed forms, orthogonality by an independent quadrature, Simpson integration of
// the density, and the asymptotic (Mills-ratio) series in the far tails.
#include "testing.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <specx/core.hpp>

using namespace specx;

namespace {

template <class T>
constexpr double eps_of() { return double(std::numeric_limits<T>::epsilon()); }

double factorial(int n) { return n <= 1 ? 1.0 : n * factorial(n - 1); }

/// Upper-tail probability Q(z) = 1 − Φ(z) for large z from the asymptotic series
/// φ(z)/z · Σ_k (−1)^k (2k−1)!! / z^{2k}; truncated at k = 10 the relative error is
/// below the first omitted term 21!!/z^22 ≈ 3e-19 for z ≥ 20.
double upper_tail_asymptotic(double z) {
  const double phi = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  double term = 1, sum = 1;
  for (int k = 1; k <= 10; ++k) {
    term *= -(2.0 * k - 1) / (z * z);
    sum += term;
  }
  return phi / z * sum;
}

template <class T>
struct pixel_kernel {
  const T* mu;
  const T* sigma;
  int first, k;
  T* out;
  SPECX_HOST_DEVICE void operator()(std::size_t s) const {
    core::pixel_integrated_gaussians(mu[s], sigma[s], first, k, out + s * std::size_t(k));
  }
};

}  // namespace

TEST_CASE_TEMPLATE("hermite He_n: closed forms and the derivative identity", T, float, double) {
  std::mt19937 rng(2);
  std::uniform_real_distribution<double> U(-5, 5);
  for (int t = 0; t < 300; ++t) {
    const double x = U(rng);
    const double x2 = x * x;
    const double ref[7] = {1, x, x2 - 1, x * (x2 - 3), x2 * (x2 - 6) + 3, x * (x2 * (x2 - 10) + 15),
                           x2 * (x2 * (x2 - 15) + 45) - 15};
    T he[7];
    core::hermite_he_all<T>(6, T(x), he);
    for (int n = 0; n <= 6; ++n) {
      // Rounding of the recurrence: relative to the largest term ~ (|x| + √n)^n.
      const double scale = std::pow(std::abs(x) + std::sqrt(double(n)) + 1, n);
      CHECK(std::abs(he[n] - ref[n]) <= 32 * eps_of<T>() * scale);
      // Same recurrence; only FMA contraction may differ between the two call sites.
      CHECK(std::abs(core::hermite_he<T>(n, T(x)) - he[n]) <= 4 * eps_of<T>() * scale);
      if (n >= 1)
        CHECK(std::abs(core::hermite_he_derivative<T>(n, T(x)) - T(n) * he[n - 1]) <= 4 * n * eps_of<T>() * scale);
    }
  }
  CHECK(core::hermite_he<T>(0, T(3)) == T(1));
}

TEST_CASE("hermite He_n are orthogonal under the Gaussian weight, with norm n!") {
  // ∫ He_m He_n φ dx = n! δ_mn, by the trapezoidal rule on [−40, 40] with h = 0.05:
  // for an entire integrand decaying like exp(−x²/2) the rule converges
  // geometrically (error ~ exp(−2π²/h²) ≪ 1e-300), so the sum is exact to rounding.
  // Tolerance 1e-12 · √(m! n!): rounding of terms of that size.
  const double h = 0.05;
  const int npts = int(80 / h) + 1;
  const int N = 12;
  std::vector<std::vector<double>> he(npts, std::vector<double>(N + 1));
  std::vector<double> w(npts);
  for (int i = 0; i < npts; ++i) {
    const double x = -40 + i * h;
    core::hermite_he_all(N, x, he[i].data());
    w[i] = h * core::normal_density(x);
  }
  for (int m = 0; m <= N; ++m)
    for (int n = 0; n <= N; ++n) {
      double s = 0;
      for (int i = 0; i < npts; ++i) s += w[i] * he[i][m] * he[i][n];
      const double ref = m == n ? factorial(n) : 0.0;
      CHECK(std::abs(s - ref) <= 1e-12 * std::sqrt(factorial(m) * factorial(n)));
    }
}

TEST_CASE_TEMPLATE("pixel-integrated gaussian: sums to one and matches Simpson quadrature", T, float, double) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> Umu(-0.5, 0.5), Usig(0.6, 2.5);
  for (int t = 0; t < 50; ++t) {
    const double mu = Umu(rng), sigma = Usig(rng);
    const int first = -40, k = 81;  // ±40 pixels ≥ 16σ: the missing mass is < 1e-50
    std::vector<T> out(k);
    core::pixel_integrated_gaussians<T>(T(mu), T(sigma), first, k, out.data());
    double sum = 0;
    for (int p = 0; p < k; ++p) {
      sum += out[p];
      // Composite Simpson with 2000 sub-intervals on a unit pixel: error ≤
      // h⁴/180 · max|f''''| ≈ 4e-17 for σ ≥ 0.6; rounding of the 2001-term sum
      // (≈ √2001 ulp) dominates, hence 32 ulp.
      const double a = first + p - 0.5;
      const int ns = 2000;
      const double hs = 1.0 / ns;
      double simpson = 0;
      for (int q = 0; q <= ns; ++q) {
        const double f = core::normal_density((a + q * hs - mu) / sigma) / sigma;
        simpson += f * (q == 0 || q == ns ? 1 : (q % 2 ? 4 : 2));
      }
      simpson *= hs / 3;
      CHECK(std::abs(double(out[p]) - simpson) <= 32 * eps_of<T>());
      // The k-pixel helper and the two-edge function agree (the same edges; the
      // helper's erfc may be the batched libmvec one, within an ulp of the scalar).
      CHECK(std::abs(out[p] - core::pixel_integrated_gaussian<T>(T(a), T(a + 1), T(mu), T(sigma))) <=
            2 * eps_of<T>());
    }
    // Rounding of 81 terms, each with an absolute error of a few ulp.
    CHECK(std::abs(sum - 1.0) <= 64 * eps_of<T>());
  }
}

TEST_CASE("pixel-integrated gaussian keeps full relative accuracy far in the tails") {
  // Pixels 20σ…37σ from the centre: the naive ½[erf − erf] is exactly 0 there,
  // but the erfc form keeps full relative accuracy up to the conditioning of the
  // argument: z/√2 is rounded (relative ε), and d ln erfc(t)/dt ≈ −2t, so erfc
  // carries a relative error ≈ 2t²ε = z²ε (≈ 1.5e-13 at z = 37) whatever the
  // algorithm. Tolerance 4 z² ε. The difference Q(a) − Q(a+1) adds nothing since
  // Q(a+1)/Q(a) < e^{-20}; the asymptotic truth is good to 3e-19.
  for (int a = 20; a <= 37; ++a) {
    const double truth = upper_tail_asymptotic(a) - upper_tail_asymptotic(a + 1);
    const double upper = core::pixel_integrated_gaussian(double(a), double(a + 1), 0.0, 1.0);
    const double lower = core::pixel_integrated_gaussian(double(-a - 1), double(-a), 0.0, 1.0);
    CHECK(truth > 0);
    const double tol = 4.0 * (a + 1) * (a + 1) * eps_of<double>();
    CHECK(std::abs(upper - truth) <= tol * truth);
    CHECK(std::abs(lower - truth) <= tol * truth);
    CHECK(0.5 * (std::erf((a + 1) / std::sqrt(2.0)) - std::erf(a / std::sqrt(2.0))) == 0.0);
  }
  // Through the k-pixel helper, with σ = 0.5 (edges at 40σ … 48σ below the centre).
  std::vector<double> out(4);
  core::pixel_integrated_gaussians(0.0, 0.5, -24, 4, out.data());
  for (int p = 0; p < 4; ++p) {
    const double zlo = (-24 + p - 0.5) / 0.5, zhi = (-24 + p + 0.5) / 0.5;
    const double truth = upper_tail_asymptotic(-zhi) - upper_tail_asymptotic(-zlo);
    CHECK(std::abs(out[p] - truth) <= 4.0 * zlo * zlo * eps_of<double>() * truth);
  }
  // Float: pixels 6σ…9σ out (float erfc underflows past ~9σ); compare with double.
  for (int a = 6; a <= 8; ++a) {
    const float f = core::pixel_integrated_gaussian(float(a), float(a + 1), 0.f, 1.f);
    const double d = core::pixel_integrated_gaussian(double(a), double(a + 1), 0.0, 1.0);
    CHECK(std::abs(f - d) <= 64 * eps_of<float>() * d);
  }
}

TEST_CASE_TEMPLATE("pixel-integrated gaussians on a backend match the host", B, SPECX_TEST_BACKENDS) {
  // The same scalar kernel on every backend; 4 ulp allows for FMA contraction.
  B be;
  const std::size_t ns = 257;
  const int first = -6, k = 13;
  std::vector<double> mu(ns), sigma(ns);
  for (std::size_t s = 0; s < ns; ++s) {
    mu[s] = -0.5 + double(s) / double(ns);
    sigma[s] = 0.7 + 1.5 * double(s % 17) / 17.0;
  }
  const auto dmu = backend::to_backend(be, std::span<const double>(mu));
  const auto dsig = backend::to_backend(be, std::span<const double>(sigma));
  auto dout = backend::make_vector<double>(be, ns * k);
  backend::for_each_index(be, ns, pixel_kernel<double>{backend::raw(be, dmu), backend::raw(be, dsig), first, k,
                                                       backend::raw(be, dout)});
  const auto out = backend::to_host(be, dout);
  std::vector<double> ref(k);
  for (std::size_t s = 0; s < ns; ++s) {
    core::pixel_integrated_gaussians(mu[s], sigma[s], first, k, ref.data());
    for (int p = 0; p < k; ++p) CHECK(std::abs(out[s * k + p] - ref[p]) <= 4 * eps_of<double>());
  }
}

TEST_CASE("batched erfc and exp (core/vmath.hpp) match long-double references") {
  // Whether or not glibc's vector variants are in use (MESSAGE says), each value
  // is within 8 ulp of erfcl/expl. On 65 536 samples the largest relative errors
  // were 2.1e-16 (libmvec erfc), 5.2e-16 (scalar erfc, ≈ 2.3 ulp) and 4.2e-16
  // (libmvec exp); 8 ulp (1.8e-15) leaves room for other glibc builds. Lengths that
  // are not a multiple of the vector width exercise the padded remainder. erfc
  // stays above the subnormal range (x ≤ 26), exp within ±700.
  const std::string state = core::vmath::vectorised ? "on" : "off (scalar loops)";
  MESSAGE("libmvec batches: " << state);
#if defined(SPECX_USE_LIBMVEC) && defined(__AVX2__) && !SPECX_COMPILING_CUDA && defined(__GLIBC__)
  CHECK(core::vmath::vectorised);  // the build asked for them: they must be in use
#endif
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> ue(-2.0, 26.0), ux(-700.0, 700.0);
  for (int n : {1, 3, 4, 7, 8, 13, 64, 1001}) {
    std::vector<double> x(n), y(n), z(n);
    for (auto& v : x) v = ue(rng);
    core::vmath::erfc(x.data(), y.data(), n);
    for (int i = 0; i < n; ++i) {
      const long double t = erfcl(static_cast<long double>(x[i]));
      CHECK(std::abs(static_cast<long double>(y[i]) - t) <= 8 * eps_of<double>() * t);
    }
    for (auto& v : x) v = ux(rng);
    core::vmath::exp(x.data(), z.data(), n);
    for (int i = 0; i < n; ++i) {
      const long double t = expl(static_cast<long double>(x[i]));
      CHECK(std::abs(static_cast<long double>(z[i]) - t) <= 8 * eps_of<double>() * t);
    }
    // In place, as the Gauss–Hermite factors call it.
    core::vmath::exp(x.data(), x.data(), n);
    CHECK(x == z);
  }
}
