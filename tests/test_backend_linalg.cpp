// Batched dense linear algebra on every backend, against independent truths
// (naive loops, matrices with analytically known spectra) and against the cpu
// backend (parity).
#include "testing.hpp"

#include <Eigen/Dense>

using namespace specx;
using backend::make_batch;
using backend::matrix_batch;
using backend::op;

namespace {

/// A = Q diag(lam) Qᵀ with Q = I − 2 u uᵀ/(uᵀu), a Householder reflection: the
/// spectrum is known exactly and Q is orthogonal by construction.
template <class T>
std::vector<T> spd_with_spectrum(int n, const std::vector<double>& lam, std::mt19937_64& rng,
                                 std::vector<double>* q_out = nullptr) {
  std::normal_distribution<double> g;
  std::vector<double> u(n);
  double uu = 0;
  for (auto& x : u) {
    x = g(rng);
    uu += x * x;
  }
  std::vector<double> q(n * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) q[i + j * n] = (i == j) - 2 * u[i] * u[j] / uu;
  std::vector<T> a(n * n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) {
      double s = 0;
      for (int k = 0; k < n; ++k) s += q[i + k * n] * lam[k] * q[j + k * n];
      a[i + j * n] = T(s);
    }
  if (q_out) *q_out = q;
  return a;
}

std::vector<double> spectrum(int n, double cond) {
  std::vector<double> lam(n);
  for (int k = 0; k < n; ++k) lam[k] = n == 1 ? 1.0 : std::pow(cond, -double(k) / (n - 1));
  std::sort(lam.begin(), lam.end());
  return lam;
}

/// tridiag(−1, 2 + δ, −1) of order n: eigenvalues 2 + δ − 2cos(kπ/(n+1)), vectors
/// sin(ikπ/(n+1))·√(2/(n+1)), so A^(−1/2) is known in closed form (X).
void laplacian_truth(int n, double delta, Eigen::MatrixXd& A, Eigen::MatrixXd& X) {
  A = Eigen::MatrixXd::Zero(n, n);
  for (int i = 0; i < n; ++i) {
    A(i, i) = 2 + delta;
    if (i + 1 < n) A(i, i + 1) = A(i + 1, i) = -1;
  }
  Eigen::MatrixXd V(n, n);
  Eigen::VectorXd f(n);
  for (int k = 0; k < n; ++k) {
    const double th = (k + 1) * std::numbers::pi / (n + 1);
    f(k) = 1 / std::sqrt(2 + delta - 2 * std::cos(th));
    for (int i = 0; i < n; ++i) V(i, k) = std::sin((i + 1) * th) * std::sqrt(2.0 / (n + 1));
  }
  X = V * f.asDiagonal() * V.transpose();
}

/// A random orthogonal matrix (Q of a Gaussian matrix's QR).
Eigen::MatrixXd random_orthogonal(int n, std::mt19937_64& rng) {
  std::normal_distribution<double> g;
  Eigen::MatrixXd G(n, n);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) G(i, j) = g(rng);
  return Eigen::HouseholderQR<Eigen::MatrixXd>(G).householderQ();
}

template <class B, class T>
std::vector<T> run_on(B be, const std::vector<T>& h, auto&& fn) {
  auto d = backend::to_backend(be, std::span<const T>(h));
  fn(backend::raw(be, d));
  return backend::to_host(be, d);
}

}  // namespace

TEST_CASE_TEMPLATE("gemm matches naive products for all transposes", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(1);
  std::normal_distribution<double> g;
  const int m = 7, n = 5, k = 9, nb = 11;
  for (op ta : {op::none, op::transpose})
    for (op tb : {op::none, op::transpose}) {
      const int ar = ta == op::none ? m : k, ac = ta == op::none ? k : m;
      const int br = tb == op::none ? k : n, bc = tb == op::none ? n : k;
      std::vector<double> a(ar * ac * nb), b(br * bc * nb), c(m * n * nb);
      for (auto& x : a) x = g(rng);
      for (auto& x : b) x = g(rng);
      for (auto& x : c) x = g(rng);
      auto da = backend::to_backend(be, std::span<const double>(a));
      auto db = backend::to_backend(be, std::span<const double>(b));
      auto dc = backend::to_backend(be, std::span<const double>(c));
      backend::gemm(be, ta, tb, 1.5, matrix_batch<const double>(make_batch(backend::raw(be, da), ar, ac, nb)),
                    matrix_batch<const double>(make_batch(backend::raw(be, db), br, bc, nb)), -0.5,
                    make_batch(backend::raw(be, dc), m, n, nb));
      auto got = backend::to_host(be, dc);
      std::vector<double> want(c.size());
      for (int q = 0; q < nb; ++q)
        for (int j = 0; j < n; ++j)
          for (int i = 0; i < m; ++i) {
            double s = 0;
            for (int l = 0; l < k; ++l) {
              const double av = ta == op::none ? a[q * ar * ac + i + l * ar] : a[q * ar * ac + l + i * ar];
              const double bv = tb == op::none ? b[q * br * bc + l + j * br] : b[q * br * bc + j + l * br];
              s += av * bv;
            }
            want[q * m * n + i + j * m] = 1.5 * s - 0.5 * c[q * m * n + i + j * m];
          }
      // k = 9 terms of O(1): rounding differences ≲ 1e-15; 1e-13 leaves margin.
      CHECK(test::max_rel_diff(got, want) < 1e-13);
    }
}

TEST_CASE_TEMPLATE("syrk forms AᵀA with both triangles", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(2);
  std::normal_distribution<double> g;
  const int rows = 40, n = 13, nb = 6;
  std::vector<double> a(rows * n * nb), c(n * n * nb, std::nan(""));
  for (auto& x : a) x = g(rng);
  auto da = backend::to_backend(be, std::span<const double>(a));
  auto dc = backend::to_backend(be, std::span<const double>(c));
  // beta = 0: C must not be read (it holds NaN).
  backend::syrk(be, 2.0, matrix_batch<const double>(make_batch(backend::raw(be, da), rows, n, nb)), 0.0,
                make_batch(backend::raw(be, dc), n, n, nb));
  auto got = backend::to_host(be, dc);
  std::vector<double> want(c.size());
  for (int q = 0; q < nb; ++q)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i) {
        double s = 0;
        for (int l = 0; l < rows; ++l) s += a[q * rows * n + l + i * rows] * a[q * rows * n + l + j * rows];
        want[q * n * n + i + j * n] = 2 * s;
      }
  CHECK(test::max_rel_diff(got, want) < 1e-13);
}

TEST_CASE_TEMPLATE("cholesky factor and solve recover a known solution", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(3);
  std::normal_distribution<double> g;
  for (int n : {1, 4, 33, 90}) {
    const int nb = 5, nrhs = 3;
    std::vector<double> a, x_true(n * nrhs * nb), rhs(n * nrhs * nb);
    for (int q = 0; q < nb; ++q) {
      auto aq = spd_with_spectrum<double>(n, spectrum(n, 1e4), rng);
      a.insert(a.end(), aq.begin(), aq.end());
    }
    for (auto& x : x_true) x = g(rng);
    for (int q = 0; q < nb; ++q)
      for (int r = 0; r < nrhs; ++r)
        for (int i = 0; i < n; ++i) {
          double s = 0;
          for (int k = 0; k < n; ++k) s += a[q * n * n + i + k * n] * x_true[q * n * nrhs + k + r * n];
          rhs[q * n * nrhs + i + r * n] = s;
        }
    auto da = backend::to_backend(be, std::span<const double>(a));
    auto dx = backend::to_backend(be, std::span<const double>(rhs));
    auto info = backend::make_vector<int>(be, nb, -7);
    auto L = make_batch(backend::raw(be, da), n, n, nb);
    backend::cholesky(be, L, backend::raw(be, info));
    backend::cholesky_solve(be, matrix_batch<const double>(L), make_batch(backend::raw(be, dx), n, nrhs, nb));
    auto hinfo = backend::to_host(be, info);
    CHECK(std::all_of(hinfo.begin(), hinfo.end(), [](int v) { return v == 0; }));
    // Condition number 1e4: forward error ≲ cond · eps ≈ 2e-12; allow 1e-10.
    CHECK(test::max_rel_diff(backend::to_host(be, dx), x_true) < 1e-10);
    // L Lᵀ = A and L is lower triangular.
    auto l = backend::to_host(be, da);
    double err = 0, upper = 0;
    for (int q = 0; q < nb; ++q)
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i) {
          double s = 0;
          for (int k = 0; k < n; ++k) s += l[q * n * n + i + k * n] * l[q * n * n + j + k * n];
          err = std::max(err, std::abs(s - a[q * n * n + i + j * n]));
          if (i < j) upper = std::max(upper, std::abs(l[q * n * n + i + j * n]));
        }
    CHECK(err < 1e-13);  // entries of A are ≤ 1: backward error ~ n·eps
    CHECK(upper == 0.0);
  }
}

TEST_CASE_TEMPLATE("cholesky flags matrices that are not positive definite", B, SPECX_TEST_BACKENDS) {
  B be;
  const int n = 3;
  // batch: SPD, indefinite, NaN-holding
  std::vector<double> a = {4, 1, 0, 1, 3, 0, 0, 0, 2,  //
                           1, 2, 0, 2, 1, 0, 0, 0, 1,  //
                           1, 0, 0, 0, std::nan(""), 0, 0, 0, 1};
  auto da = backend::to_backend(be, std::span<const double>(a));
  auto info = backend::make_vector<int>(be, 3, -7);
  backend::cholesky(be, make_batch(backend::raw(be, da), n, n, 3), backend::raw(be, info));
  auto h = backend::to_host(be, info);
  CHECK(h[0] == 0);
  CHECK(h[1] != 0);
  CHECK(h[2] != 0);
}

TEST_CASE_TEMPLATE("eigh recovers a known spectrum and orthonormal vectors", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(4);
  for (int n : {1, 2, 17, 72}) {
    const int nb = 4;
    std::vector<double> a, lam_all;
    for (int q = 0; q < nb; ++q) {
      auto lam = spectrum(n, 1e6);
      for (auto& l : lam) l *= (q + 1);
      auto aq = spd_with_spectrum<double>(n, lam, rng);
      a.insert(a.end(), aq.begin(), aq.end());
      lam_all.insert(lam_all.end(), lam.begin(), lam.end());
    }
    auto da = backend::to_backend(be, std::span<const double>(a));
    auto dw = backend::make_vector<double>(be, n * nb);
    auto info = backend::make_vector<int>(be, nb, -7);
    backend::eigh(be, make_batch(backend::raw(be, da), n, n, nb), backend::raw(be, dw), backend::raw(be, info));
    auto w = backend::to_host(be, dw);
    auto v = backend::to_host(be, da);
    auto hinfo = backend::to_host(be, info);
    CHECK(std::all_of(hinfo.begin(), hinfo.end(), [](int x) { return x == 0; }));
    // Symmetric eigenvalues are perfectly conditioned: |Δλ| ≤ ‖ΔA‖ ≈ n·eps·λ_max.
    double werr = 0, lmax = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      werr = std::max(werr, std::abs(w[i] - lam_all[i]));
      lmax = std::max(lmax, lam_all[i]);
    }
    CHECK(werr < 1e-13 * lmax);
    // A v = λ v and VᵀV = I.
    double res = 0, orth = 0;
    for (int q = 0; q < nb; ++q)
      for (int k = 0; k < n; ++k) {
        for (int i = 0; i < n; ++i) {
          double s = 0;
          for (int j = 0; j < n; ++j) s += a[q * n * n + i + j * n] * v[q * n * n + j + k * n];
          res = std::max(res, std::abs(s - w[q * n + k] * v[q * n * n + i + k * n]));
        }
        for (int k2 = 0; k2 < n; ++k2) {
          double s = 0;
          for (int i = 0; i < n; ++i) s += v[q * n * n + i + k * n] * v[q * n * n + i + k2 * n];
          orth = std::max(orth, std::abs(s - (k == k2)));
        }
      }
    CHECK(res < 1e-12 * lmax);
    CHECK(orth < 1e-12);
  }
}

TEST_CASE_TEMPLATE("inv_sqrt: X A X = I, and singular directions are dropped and counted", B,
                   SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(5);
  const int n = 40, nb = 3;
  std::vector<double> a, q0;
  for (int q = 0; q < nb; ++q) {
    auto lam = spectrum(n, 1e3);
    if (q == 2) lam[0] = lam[1] = 0.0;  // rank-deficient member: two null directions
    std::sort(lam.begin(), lam.end());
    auto aq = spd_with_spectrum<double>(n, lam, rng, q == 0 ? &q0 : nullptr);
    a.insert(a.end(), aq.begin(), aq.end());
  }
  auto da = backend::to_backend(be, std::span<const double>(a));
  auto dx = backend::make_vector<double>(be, a.size());
  auto info = backend::make_vector<int>(be, nb, -7);
  backend::inv_sqrt(be, matrix_batch<const double>(make_batch(backend::raw(be, da), n, n, nb)),
                    make_batch(backend::raw(be, dx), n, n, nb), backend::raw(be, info), 1e-12);
  auto x = backend::to_host(be, dx);
  auto hinfo = backend::to_host(be, info);
  CHECK(hinfo[0] == 0);
  CHECK(hinfo[1] == 0);
  CHECK(hinfo[2] == 2);
  Eigen::Map<const Eigen::MatrixXd> A0(a.data(), n, n), X0(x.data(), n, n);
  // cond 1e3: X A X = I to ~cond·n·eps ≈ 1e-11.
  CHECK((X0 * A0 * X0 - Eigen::MatrixXd::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-10);
  // X is symmetric positive definite: the principal root.
  CHECK((X0 - X0.transpose()).cwiseAbs().maxCoeff() < 1e-12 * X0.cwiseAbs().maxCoeff());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(X0);
  CHECK(es.eigenvalues().minCoeff() > 0);
  // The rank-deficient member: X A X is the projector on the range (rank n − 2).
  Eigen::Map<const Eigen::MatrixXd> A2(a.data() + 2 * n * n, n, n), X2(x.data() + 2 * n * n, n, n);
  Eigen::MatrixXd P = X2 * A2 * X2;
  CHECK(std::abs(P.trace() - (n - 2)) < 1e-9);
  CHECK((P * P - P).cwiseAbs().maxCoeff() < 1e-9);
  CHECK(std::all_of(x.begin(), x.end(), [](double v) { return std::isfinite(v); }));
}

TEST_CASE_TEMPLATE("parity with the cpu backend on random inputs (1e-12 relative)", B, SPECX_TEST_BACKENDS) {
  B be;
  backend::cpu cpu;
  std::mt19937_64 rng(6);
  const int n = 50, nb = 7;
  std::vector<double> a;
  for (int q = 0; q < nb; ++q) {
    auto aq = spd_with_spectrum<double>(n, spectrum(n, 1e2), rng);
    a.insert(a.end(), aq.begin(), aq.end());
  }
  auto chol = [&](auto b) {
    auto d = backend::to_backend(b, std::span<const double>(a));
    auto info = backend::make_vector<int>(b, nb);
    backend::cholesky(b, make_batch(backend::raw(b, d), n, n, nb), backend::raw(b, info));
    return backend::to_host(b, d);
  };
  CHECK(test::max_rel_diff(chol(be), chol(cpu)) < 1e-12);
  auto isq = [&](auto b) {
    auto d = backend::to_backend(b, std::span<const double>(a));
    auto o = backend::make_vector<double>(b, a.size());
    auto info = backend::make_vector<int>(b, nb);
    backend::inv_sqrt(b, matrix_batch<const double>(make_batch(backend::raw(b, d), n, n, nb)),
                      make_batch(backend::raw(b, o), n, n, nb), backend::raw(b, info), 0.0);
    return backend::to_host(b, o);
  };
  CHECK(test::max_rel_diff(isq(be), isq(cpu)) < 1e-12);
  auto eig = [&](auto b) {
    auto d = backend::to_backend(b, std::span<const double>(a));
    auto w = backend::make_vector<double>(b, n * nb);
    auto info = backend::make_vector<int>(b, nb);
    backend::eigh(b, make_batch(backend::raw(b, d), n, n, nb), backend::raw(b, w), backend::raw(b, info));
    auto hv = backend::to_host(b, d);
    auto hw = backend::to_host(b, w);
    hv.insert(hv.end(), hw.begin(), hw.end());
    return hv;
  };
  // Distinct eigenvalues + the shared sign convention make vectors comparable.
  CHECK(test::max_rel_diff(eig(be), eig(cpu)) < 1e-10);
}

TEST_CASE_TEMPLATE("float instantiations work (single precision tolerances)", B, SPECX_TEST_BACKENDS) {
  B be;
  std::mt19937_64 rng(7);
  const int n = 20, nb = 3;
  std::vector<float> a;
  for (int q = 0; q < nb; ++q) {
    auto aq = spd_with_spectrum<float>(n, spectrum(n, 10), rng);
    a.insert(a.end(), aq.begin(), aq.end());
  }
  auto da = backend::to_backend(be, std::span<const float>(a));
  auto dx = backend::make_vector<float>(be, a.size());
  auto info = backend::make_vector<int>(be, nb);
  backend::inv_sqrt(be, matrix_batch<const float>(make_batch(backend::raw(be, da), n, n, nb)),
                    make_batch(backend::raw(be, dx), n, n, nb), backend::raw(be, info), 0.0f);
  auto x = backend::to_host(be, dx);
  Eigen::Map<const Eigen::MatrixXf> A0(a.data(), n, n), X0(x.data(), n, n);
  // cond 10, n = 20, eps_f = 1.2e-7: residual ≲ 1e-5.
  CHECK((X0 * A0 * X0 - Eigen::MatrixXf::Identity(n, n)).cwiseAbs().maxCoeff() < 1e-4f);
}

// --- The cpu backend's rational-quadrature route for inv_sqrt -----------------

TEST_CASE("inv_sqrt quadrature nodes: x^(-1/2) to 5e-15 for cond <= 1e6, 3e-12 up to 1e12") {
  // Truth: x^(−1/2) itself on a dense grid of [1, κ]. The node count comes from
  // the convergence rate; beyond κ ≈ 1e6 the nodes' own rounding (cn, dn ≈ √k'
  // at the middle node) dominates, still far below A^(−1/2)'s κ·eps conditioning.
  for (int e = 0; e <= 48; ++e) {
    const double kappa = std::pow(10.0, e / 4.0);
    const int N = backend::detail::inv_sqrt_node_count(kappa);
    std::vector<double> s(static_cast<std::size_t>(N)), w(s.size());
    backend::detail::inv_sqrt_nodes(1.0, kappa, N, s.data(), w.data());
    double err = 0;
    for (int i = 0; i <= 4000; ++i) {
      const double x = std::pow(kappa, i / 4000.0);
      double r = 0;
      for (int j = 0; j < N; ++j) r += w[static_cast<std::size_t>(j)] / (x + s[static_cast<std::size_t>(j)]);
      err = std::max(err, std::abs(r * std::sqrt(x) - 1));
    }
    CAPTURE(kappa);
    CHECK(err < (kappa <= 1e6 ? 5e-15 : 3e-12));
    CHECK(std::all_of(s.begin(), s.end(), [](double v) { return v > 0; }));
    CHECK(std::all_of(w.begin(), w.end(), [](double v) { return v > 0; }));
  }
}

TEST_CASE("inv_sqrt rational route: analytic truths (Laplacian, diagonal, rotated Laplacian)") {
  const int n = 71;
  backend::detail::inv_sqrt_workspace ws;
  auto route = [&](const Eigen::MatrixXd& A, Eigen::MatrixXd& O) {
    O.resize(A.rows(), A.cols());
    return backend::detail::inv_sqrt_rational(A.data(), static_cast<int>(A.rows()), static_cast<int>(A.rows()),
                                               O.data(), static_cast<int>(A.rows()), 0.0, ws);
  };
  Eigen::MatrixXd A, X, O;
  // Already tridiagonal: the reduction is exact, so the error is the quadrature's and
  // the summation's (κ = 2 and ≈ 2100; the truth's own rounding is ~1e-14 relative).
  for (double delta : {2.0, 0.0}) {
    laplacian_truth(n, delta, A, X);
    REQUIRE(route(A, O));
    CAPTURE(delta);
    MESSAGE("Laplacian + " << delta << "·I: max error / max entry = " << (O - X).cwiseAbs().maxCoeff() / X.cwiseAbs().maxCoeff());
    CHECK((O - X).cwiseAbs().maxCoeff() < 1e-13 * X.cwiseAbs().maxCoeff());
  }
  // Diagonal, κ = 1e10: exact reduction and exact truth, the quadrature at large κ.
  A = Eigen::MatrixXd::Zero(n, n);
  for (int i = 0; i < n; ++i) A(i, i) = std::pow(1e10, double((i * 37) % n) / (n - 1));
  REQUIRE(route(A, O));
  for (int i = 0; i < n; ++i) CHECK(O(i, i) * std::sqrt(A(i, i)) == doctest::Approx(1.0).epsilon(3e-12));
  CHECK((O - Eigen::MatrixXd(O.diagonal().asDiagonal())).cwiseAbs().maxCoeff() < 1e-13 * O.cwiseAbs().maxCoeff());
  // The Laplacian in a random orthogonal basis: now the reduction works. It is
  // backward stable, so the forward error is bounded by ~½ κ n eps ≈ 1.7e-11 relative;
  // in practice it is ~2e-14, and 1e-12 leaves a 50× margin while still catching a
  // reflector or accumulation error (those show at the 1e-3 level or worse).
  laplacian_truth(n, 0.0, A, X);
  std::mt19937_64 rng(11);
  const Eigen::MatrixXd U = random_orthogonal(n, rng);
  const Eigen::MatrixXd Ar = U * A * U.transpose(), Xr = U * X * U.transpose();
  REQUIRE(route(Ar, O));
  MESSAGE("rotated Laplacian: max error / max entry = " << (O - Xr).cwiseAbs().maxCoeff() / Xr.cwiseAbs().maxCoeff());
  CHECK((O - Xr).cwiseAbs().maxCoeff() < 1e-12 * Xr.cwiseAbs().maxCoeff());
  CHECK((O - O.transpose()).cwiseAbs().maxCoeff() == 0.0);
}

TEST_CASE("inv_sqrt on the cpu backend: four matrices tridiagonalised at once, mixed members, a short last group") {
  // The backend reduces double matrices four at a time, interleaved, with one
  // vector operation per step for all four; a lane whose column is already reduced
  // must stay unchanged while the others reduce, a declined lane must still get
  // the eigen route, and the last group of a batch of 6 has two padded lanes.
  // Members: a rotated Laplacian and a rotated Laplacian + I (dense, analytic
  // truths), a Laplacian + 2I (already tridiagonal: every step skips in its lane),
  // a diagonal matrix of κ = 1e10 (nothing to reduce), one of κ = 1e13 (declined:
  // eigen route), and a random SPD matrix of κ = 1e3 (against itself reduced alone).
  const int n = 71, nb = 6;
  std::mt19937_64 rng(17);
  std::vector<Eigen::MatrixXd> A(nb), X(nb);
  Eigen::MatrixXd L0, X0;
  laplacian_truth(n, 0.0, L0, X0);
  Eigen::MatrixXd U = random_orthogonal(n, rng);
  A[0] = U * L0 * U.transpose();
  X[0] = U * X0 * U.transpose();
  laplacian_truth(n, 2.0, A[1], X[1]);
  Eigen::VectorXd d10(n), d13(n);
  for (int i = 0; i < n; ++i) {
    d10(i) = std::pow(1e10, double((i * 37) % n) / (n - 1));
    d13(i) = std::pow(1e13, double((i * 29) % n) / (n - 1));
  }
  A[2] = d10.asDiagonal();
  X[2] = d10.cwiseSqrt().cwiseInverse().asDiagonal();
  A[3] = d13.asDiagonal();
  X[3] = d13.cwiseSqrt().cwiseInverse().asDiagonal();
  laplacian_truth(n, 1.0, L0, X0);
  U = random_orthogonal(n, rng);
  A[4] = U * L0 * U.transpose();
  X[4] = U * X0 * U.transpose();
  {
    auto r = spd_with_spectrum<double>(n, spectrum(n, 1e3), rng);
    A[5] = Eigen::Map<const Eigen::MatrixXd>(r.data(), n, n);
    backend::detail::inv_sqrt_workspace ws;
    X[5].resize(n, n);
    REQUIRE(backend::detail::inv_sqrt_rational(A[5].data(), n, n, X[5].data(), n, 0.0, ws));
  }
  std::vector<double> a(static_cast<std::size_t>(n) * n * nb), o(a.size(), -1.0);
  for (int k = 0; k < nb; ++k) std::copy(A[k].data(), A[k].data() + n * n, a.begin() + k * n * n);
  std::vector<int> info(nb, -7);
  backend::cpu be;
  backend::inv_sqrt(be, matrix_batch<const double>(make_batch(a.data(), n, n, nb)), make_batch(o.data(), n, n, nb),
                    info.data(), 0.0);
  for (int k = 0; k < nb; ++k) {
    CAPTURE(k);
    CHECK(info[k] == 0);
    Eigen::Map<const Eigen::MatrixXd> O(o.data() + k * n * n, n, n);
    const double err = (O - X[k]).cwiseAbs().maxCoeff() / X[k].cwiseAbs().maxCoeff();
    MESSAGE("member " << k << ": max error / max entry = " << err);
    // The analytic truths: as the one-matrix route's test above (1e-12; the
    // diagonal and tridiagonal members have no reduction error, κ = 1e13 is the
    // eigen route's relative accuracy). Member 5: the same matrix reduced alone
    // (inv_sqrt_rational puts it in all four lanes); lanes are independent, so
    // its neighbours must not change it (observed: equal).
    CHECK(err < 1e-12);
    CHECK((O - O.transpose()).cwiseAbs().maxCoeff() == 0.0);
  }
}

TEST_CASE("inv_sqrt rational route declines what needs the eigen-decomposition") {
  backend::detail::inv_sqrt_workspace ws;
  const int n = 12;
  Eigen::MatrixXd O(n, n);
  auto route = [&](const Eigen::MatrixXd& A, double cutoff) {
    return backend::detail::inv_sqrt_rational(A.data(), n, n, O.data(), n, cutoff, ws);
  };
  Eigen::VectorXd lam(n);
  for (int i = 0; i < n; ++i) lam(i) = std::pow(1e13, double(i) / (n - 1));
  CHECK_FALSE(route(Eigen::MatrixXd(lam.asDiagonal()), 0.0));  // κ = 1e13 > 1e12
  lam(0) = 0;
  CHECK_FALSE(route(Eigen::MatrixXd(lam.asDiagonal()), 0.0));  // singular
  lam(0) = -1;
  CHECK_FALSE(route(Eigen::MatrixXd(lam.asDiagonal()), 0.0));  // indefinite
  for (int i = 0; i < n; ++i) lam(i) = std::pow(1e4, double(i) / (n - 1));
  CHECK(route(Eigen::MatrixXd(lam.asDiagonal()), 0.0));
  CHECK_FALSE(route(Eigen::MatrixXd(lam.asDiagonal()), 1e-3));  // an eigenvalue under the cutoff
  Eigen::MatrixXd A = lam.asDiagonal();
  A(3, 5) = A(5, 3) = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(route(A, 0.0));
  // Through the backend: the declined matrices still get the eigen route's answer.
  backend::cpu be;
  for (int i = 0; i < n; ++i) lam(i) = std::pow(1e13, double(i) / (n - 1));
  const Eigen::MatrixXd D = lam.asDiagonal();
  Eigen::MatrixXd X(n, n);
  int info = -7;
  backend::inv_sqrt(be, matrix_batch<const double>(make_batch(D.data(), n, n, 1)), make_batch(X.data(), n, n, 1), &info,
                    0.0);
  CHECK(info == 0);
  for (int i = 0; i < n; ++i) CHECK(X(i, i) * std::sqrt(lam(i)) == doctest::Approx(1.0).epsilon(1e-12));
}
