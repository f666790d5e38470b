// Legendre series (value, derivative, all orders) and trace inversion, against
// closed forms, endpoint identities and an independently computed Gauss–Legendre
// rule (Golub–Welsch: eigenvalues of the Jacobi matrix, Eigen's solver).
#include "testing.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <specx/core.hpp>

using namespace specx;

namespace {

template <class T>
constexpr double eps_of() { return double(std::numeric_limits<T>::epsilon()); }

/// n-point Gauss–Legendre nodes and weights from the symmetric Jacobi matrix of
/// the Legendre recurrence (off-diagonal k/√(4k²−1)); weights 2·v_0².
void gauss_legendre(int n, std::vector<double>& x, std::vector<double>& w) {
  Eigen::MatrixXd J = Eigen::MatrixXd::Zero(n, n);
  for (int k = 1; k < n; ++k) J(k, k - 1) = J(k - 1, k) = k / std::sqrt(4.0 * k * k - 1.0);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(J);
  x.resize(n);
  w.resize(n);
  for (int i = 0; i < n; ++i) {
    x[i] = es.eigenvalues()(i);
    w[i] = 2.0 * es.eigenvectors()(0, i) * es.eigenvectors()(0, i);
  }
}

template <class T>
struct eval_series {
  const T* c;
  int deg;
  const T* u;
  T* v;
  T* dv;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    const auto r = core::legendre_value_derivative(c, deg, u[i]);
    v[i] = core::legendre_value(c, deg, u[i]);
    dv[i] = r.derivative;
  }
};

template <class T>
struct invert_many {
  const T* c;
  int deg;
  core::legendre_domain<T> dom;
  const T* y;
  T* lam;
  int* status;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    const auto r = core::legendre_inverse(c, deg, dom, y[i]);
    lam[i] = r.lambda;
    status[i] = static_cast<int>(r.status);
  }
};

}  // namespace

TEST_CASE_TEMPLATE("legendre: closed forms, endpoints and derivatives", T, float, double) {
  // Tolerance: a few ulp times the size of the terms (|P_k| ≤ 1 on [−1, 1]).
  const double tol = 32 * eps_of<T>();
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> U(-1, 1);
  for (int t = 0; t < 200; ++t) {
    const double u = U(rng);
    T p[6], dp[6];
    core::legendre_all_derivative<T>(5, T(u), p, dp);
    const double ref[6] = {1, u, (3 * u * u - 1) / 2, (5 * u * u * u - 3 * u) / 2,
                           (35 * std::pow(u, 4) - 30 * u * u + 3) / 8, (63 * std::pow(u, 5) - 70 * u * u * u + 15 * u) / 8};
    const double dref[6] = {0, 1, 3 * u, (15 * u * u - 3) / 2, (140 * u * u * u - 60 * u) / 8,
                            (315 * std::pow(u, 4) - 210 * u * u + 15) / 8};
    T pa[6];
    core::legendre_all<T>(5, T(u), pa);
    for (int k = 0; k < 6; ++k) {
      CHECK(std::abs(p[k] - ref[k]) <= tol);
      CHECK(pa[k] == p[k]);
      CHECK(std::abs(dp[k] - dref[k]) <= tol * 16);  // |P'_k| ≤ k(k+1)/2 ≤ 15
      // One-hot coefficients: the series is P_k itself (Clenshaw vs recurrence).
      T c[6] = {};
      c[k] = T(1);
      CHECK(std::abs(core::legendre_value<T>(c, 5, T(u)) - ref[k]) <= tol);
      const auto vd = core::legendre_value_derivative<T>(c, 5, T(u));
      CHECK(std::abs(vd.value - ref[k]) <= tol);
      CHECK(std::abs(vd.derivative - dref[k]) <= tol * 16);
    }
  }
  // P_k(1) = 1, P_k(−1) = (−1)^k, P'_k(1) = k(k+1)/2, for degrees up to 30.
  std::vector<T> c(31);
  for (auto& v : c) v = T(U(rng));
  for (int deg = 0; deg <= 30; ++deg) {
    double s_plus = 0, s_minus = 0, ds = 0, scale = 0;
    for (int k = 0; k <= deg; ++k) {
      s_plus += c[k];
      s_minus += (k % 2 ? -1.0 : 1.0) * c[k];
      ds += c[k] * k * (k + 1) / 2.0;
      scale += std::abs(c[k]);
    }
    const T* cp = c.data();
    CHECK(std::abs(core::legendre_value<T>(cp, deg, T(1)) - s_plus) <= 4 * (deg + 1) * eps_of<T>() * scale);
    CHECK(std::abs(core::legendre_value<T>(cp, deg, T(-1)) - s_minus) <= 4 * (deg + 1) * eps_of<T>() * scale);
    const auto r = core::legendre_value_derivative<T>(cp, deg, T(1));
    CHECK(std::abs(r.derivative - ds) <= 4 * (deg + 1) * eps_of<T>() * scale * (deg * (deg + 1) / 2.0 + 1));
  }
}

TEST_CASE("legendre: zeros and orthogonality at independently computed Gauss–Legendre nodes") {
  // The N-point rule is exact for degree ≤ 2N−1, so Σ w_i P_m P_n = 2/(2n+1) δ_mn
  // for m + n ≤ 2N−1, and P_N vanishes at the nodes. Tolerance 1e-13: eigen-solver
  // accuracy (≈ N·eps) times the O(1) size of P_k on [−1, 1].
  const int N = 24;
  std::vector<double> x, w;
  gauss_legendre(N, x, w);
  std::vector<double> p(N + 1);
  std::vector<std::vector<double>> P(N, std::vector<double>(N + 1));
  for (int i = 0; i < N; ++i) {
    core::legendre_all(N, x[i], P[i].data());
    // A node accurate to δx ≈ 8 ulp moves P_N by |P'_N| δx ≤ N(N+1)/2 · δx.
    CHECK(std::abs(P[i][N]) <= 16 * eps_of<double>() * N * (N + 1) / 2.0);
  }
  for (int m = 0; m < N; ++m)
    for (int n = 0; n < N; ++n) {
      if (m + n > 2 * N - 1) continue;
      double s = 0;
      for (int i = 0; i < N; ++i) s += w[i] * P[i][m] * P[i][n];
      const double ref = m == n ? 2.0 / (2 * n + 1) : 0.0;
      CHECK(std::abs(s - ref) <= 1e-13);
    }
}

TEST_CASE_TEMPLATE("legendre_domain maps [wavemin, wavemax] onto [-1, 1]", T, float, double) {
  const core::legendre_domain<T> dom{T(3600), T(5800)};
  CHECK(dom.to_reduced(T(3600)) == T(-1));
  CHECK(dom.to_reduced(T(5800)) == T(1));
  CHECK(std::abs(dom.to_reduced(T(4700))) <= 2 * eps_of<T>());
  for (double lam : {3600.0, 4000.5, 5799.9}) {
    // Round trip: two affine maps, each a few ulp of λ.
    CHECK(std::abs(dom.from_reduced(dom.to_reduced(T(lam))) - lam) <= 8 * eps_of<T>() * lam);
  }
  CHECK(std::abs(dom.du_dlambda() - 2.0 / 2200.0) <= eps_of<T>() * 2.0 / 2200.0);
}

TEST_CASE_TEMPLATE("legendre: backend evaluation matches the host", B, SPECX_TEST_BACKENDS) {
  // Same scalar kernel on every backend; only FMA contraction may differ (CUDA),
  // so compare to 8 ulp of the coefficient scale.
  B be;
  const std::vector<double> c = {2000, 1950, -10, 3, 0.5, -0.25};
  std::vector<double> u(1001);
  for (std::size_t i = 0; i < u.size(); ++i) u[i] = -1 + 2.0 * double(i) / double(u.size() - 1);
  auto dc = backend::to_backend(be, std::span<const double>(c));
  auto du = backend::to_backend(be, std::span<const double>(u));
  auto dv = backend::make_vector<double>(be, u.size());
  auto ddv = backend::make_vector<double>(be, u.size());
  backend::for_each_index(be, u.size(),
                          eval_series<double>{backend::raw(be, dc), 5, backend::raw(be, du), backend::raw(be, dv),
                                              backend::raw(be, ddv)});
  const auto v = backend::to_host(be, dv);
  const auto dvh = backend::to_host(be, ddv);
  for (std::size_t i = 0; i < u.size(); ++i) {
    CHECK(std::abs(v[i] - core::legendre_value(std::span<const double>(c), u[i])) <= 8 * 4000 * eps_of<double>());
    CHECK(std::abs(dvh[i] - core::legendre_value_derivative(c.data(), 5, u[i]).derivative) <= 8 * 4000 * eps_of<double>());
  }
}

TEST_CASE_TEMPLATE("trace inversion recovers wavelengths", T, float, double) {
  // A DESI-like YTRACE (pixels vs Å), increasing, and its mirror, decreasing.
  const core::legendre_domain<T> dom{T(3600), T(5800)};
  for (double sign : {1.0, -1.0}) {
    const std::vector<T> c = {T(sign * 2000), T(sign * 1950), T(sign * -10), T(sign * 3)};
    REQUIRE(core::legendre_monotonic_sign(std::span<const T>(c), dom) == int(sign));
    std::vector<T> lam, y;
    for (int i = 0; i <= 500; ++i) {
      lam.push_back(T(3600 + 2200.0 * i / 500.0));
      y.push_back(core::legendre_value(std::span<const T>(c), dom.to_reduced(lam.back())));
    }
    const auto got = core::invert_trace(std::span<const T>(c), dom, std::span<const T>(y));
    // The bound: the requested 1e-12 relative (or 8 ulp in float) plus the
    // conditioning of the problem, δλ = δy / |dy/dλ| with δy ≈ 16 ulp of |y| ≲ 4000
    // and |dy/dλ| ≥ 1.7 pixel/Å on this trace.
    const double rtol = double(core::default_inverse_rtol<T>());
    for (std::size_t i = 0; i < lam.size(); ++i) {
      const double bound = rtol * lam[i] + 16 * eps_of<T>() * 4000 / 1.7 + 4 * eps_of<T>() * lam[i];
      CHECK(std::abs(double(got[i]) - double(lam[i])) <= bound);
    }
    // Ends of the domain are reachable exactly.
    CHECK(std::abs(core::invert_trace(std::span<const T>(c), dom, y.front()) - T(3600)) <= 3600 * 16 * eps_of<T>());
    // Outside the range: an exception on the host, a status on the device path.
    const T beyond = y.back() + T(sign * 5);
    CHECK_THROWS_AS(core::invert_trace(std::span<const T>(c), dom, beyond), specx::invalid_argument);
    CHECK(core::legendre_inverse(c.data(), 3, dom, beyond).status == core::inverse_status::out_of_range);
  }
  // Not monotonic on the domain: P_2 has a minimum at u = 0.
  const std::vector<T> bad = {T(0), T(0.1), T(1)};
  CHECK(core::legendre_monotonic_sign(std::span<const T>(bad), dom) == 0);
  CHECK_THROWS_AS(core::invert_trace(std::span<const T>(bad), dom, T(0.5)), specx::invalid_argument);
  CHECK_THROWS_AS(core::invert_trace(std::span<const T>(bad), core::legendre_domain<T>{T(1), T(1)}, T(0.5)),
                  specx::invalid_argument);
  // A degree-1 series: the initial guess is already the root.
  const std::vector<T> lin = {T(10), T(5)};
  CHECK(std::abs(core::invert_trace(std::span<const T>(lin), dom, T(10)) - T(4700)) <= 4700 * 8 * eps_of<T>());
}

TEST_CASE_TEMPLATE("trace inversion on a backend matches the host", B, SPECX_TEST_BACKENDS) {
  B be;
  const core::legendre_domain<double> dom{5760, 7620};
  const std::vector<double> c = {2050, 2000, 15, -4, 1};
  std::vector<double> y;
  for (int i = 0; i < 777; ++i) y.push_back(80 + 3960.0 * i / 776.0);
  y.push_back(1e6);  // out of range: the device reports it, never throws
  const auto dc = backend::to_backend(be, std::span<const double>(c));
  const auto dy = backend::to_backend(be, std::span<const double>(y));
  auto dl = backend::make_vector<double>(be, y.size());
  auto ds = backend::make_vector<int>(be, y.size());
  backend::for_each_index(be, y.size(),
                          invert_many<double>{backend::raw(be, dc), 4, dom, backend::raw(be, dy), backend::raw(be, dl),
                                              backend::raw(be, ds)});
  const auto lam = backend::to_host(be, dl);
  const auto st = backend::to_host(be, ds);
  const auto host = core::invert_trace(std::span<const double>(c), dom, std::span<const double>(y.data(), y.size() - 1));
  for (std::size_t i = 0; i + 1 < y.size(); ++i) {
    CHECK(st[i] == 0);
    CHECK(std::abs(lam[i] - host[i]) <= 2e-12 * host[i]);  // both within 1e-12 of the root
    // And the root is a root: |y(λ) − y| within the conditioning bound.
    CHECK(std::abs(core::legendre_value(std::span<const double>(c), dom.to_reduced(lam[i])) - y[i]) <= 3e-8);
  }
  CHECK(st.back() == int(core::inverse_status::out_of_range));
}
