// Banded resolution matrices in DESI/scipy dia storage: storage convention,
// dense round trips, R·x and Rᵀ·x, row-sum checks and the per-row weighted coadd,
// all against dense Eigen references, on every backend, float and double.
// Also compiled by nvcc for the thrust<cuda> backend: functors only, no lambdas.
#include "testing.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <specx/resolution.hpp>

using namespace specx;

namespace {

template <class T>
using dense = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

template <class T>
constexpr double eps_of() { return double(std::numeric_limits<T>::epsilon()); }

/// Random banded matrices; storage outside the matrix is filled with NaN so that
/// any code reading it poisons its result.
template <class T>
resolution::banded<T> random_banded(std::size_t nspec, std::size_t ndiag, std::size_t nwave, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> U(-1, 1);
  resolution::banded<T> r(nspec, ndiag, nwave);
  auto v = r.view();
  for (int s = 0; s < v.nspec; ++s)
    for (int d = 0; d < v.ndiag; ++d)
      for (int j = 0; j < v.nwave; ++j)
        v(s, d, j) = v.in_matrix(d, j) ? T(U(rng)) : std::numeric_limits<T>::quiet_NaN();
  return r;
}

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> U(lo, hi);
  std::vector<T> x(n);
  for (auto& v : x) v = T(U(rng));
  return x;
}

/// max |a − b| / max |b| over a whole vector against a dense product per spectrum.
template <class T>
double max_abs(const std::vector<T>& v) {
  double m = 0;
  for (auto x : v) m = std::max(m, std::abs(double(x)));
  return m;
}

}  // namespace

TEST_CASE("storage follows scipy.sparse.dia_matrix: data[d, j] = R[j - o_d, j]") {
  // scipy's documented example: data rows [1, 2, 3, 4] at offsets 0, −1, 2 on a
  // 4x4 matrix give [[1,0,3,0],[1,2,0,4],[0,2,3,0],[0,0,3,4]]. With ndiag = 5 the
  // offsets are +2, +1, 0, −1, −2 in rows d = 0..4.
  resolution::banded<double> r(1, 5, 4);
  auto v = r.view();
  for (int j = 0; j < 4; ++j) v(0, 0, j) = v(0, 2, j) = v(0, 3, j) = j + 1;
  dense<double> ref(4, 4);
  ref << 1, 0, 3, 0, 1, 2, 0, 4, 0, 2, 3, 0, 0, 0, 3, 4;
  CHECK(r.to_dense(0) == ref);
  CHECK(v.offset(0) == 2);
  CHECK(v.offset(4) == -2);
  CHECK(r.element(0, 1, 0) == 1.0);  // offset −1 at column 0: data[3, 0]
  CHECK(r.element(0, 0, 2) == 3.0);  // offset +2 at column 2: data[0, 2]
  CHECK(r.element(0, 0, 3) == 0.0);  // outside the band
  CHECK_THROWS_AS(resolution::banded<double>(1, 4, 10), specx::invalid_argument);
}

TEST_CASE_TEMPLATE("dense round trip zeroes storage outside the matrix", T, float, double) {
  for (std::size_t nwave : {std::size_t(40), std::size_t(4)}) {  // 4 < ndiag/2: most storage is outside
    auto r = random_banded<T>(3, 11, nwave, 7);
    resolution::banded<T> back(3, 11, nwave);
    for (std::size_t s = 0; s < 3; ++s) {
      const dense<T> m = r.to_dense(s);
      CHECK(m.allFinite());  // NaN storage outside the matrix never reaches it
      CHECK(back.set_from_dense(s, m) == T(0));
      CHECK(back.to_dense(s) == m);
    }
    // Every storage entry outside the matrix is zero; inside it equals the input.
    auto v = back.view();
    auto u = r.view();
    bool ok = true;
    for (int s = 0; s < v.nspec; ++s)
      for (int d = 0; d < v.ndiag; ++d)
        for (int j = 0; j < v.nwave; ++j) ok &= v.in_matrix(d, j) ? v(s, d, j) == u(s, d, j) : v(s, d, j) == T(0);
    CHECK(ok);
    r.zero_outside();
    CHECK(xt::all(xt::isfinite(r.data())));
  }
  // Out-of-band elements are dropped and reported.
  dense<T> full = dense<T>::Constant(20, 20, T(0.5));
  resolution::banded<T> b(1, 5, 20);
  CHECK(b.set_from_dense(0, full) == T(0.5));
  CHECK(b.element(0, 0, 2) == T(0.5));
  CHECK(b.element(0, 0, 3) == T(0));
  std::vector<dense<T>> ms = {full, full};
  CHECK(resolution::from_dense(ms, 5).nspec() == 2);
}

TEST_CASE_TEMPLATE("apply and apply_transpose match dense products", B, SPECX_TEST_BACKENDS) {
  B be;
  // Tolerance: each output is a sum of ≤ ndiag products of O(1) numbers, so a few
  // ulp times ndiag; NaN storage outside the matrix must not leak in.
  auto run = [&](auto tag) {
    using T = decltype(tag);
    for (std::size_t nwave : {std::size_t(57), std::size_t(3)}) {
      const std::size_t nspec = 5, ndiag = 11;
      const auto r = random_banded<T>(nspec, ndiag, nwave, 11);
      const auto x = random_vector<T>(nspec * nwave, 12);
      const auto dr = resolution::upload(be, r);
      const auto dx = backend::to_backend(be, std::span<const T>(x));
      auto dy = backend::make_vector<T>(be, nspec * nwave);
      auto dyt = backend::make_vector<T>(be, nspec * nwave);
      resolution::apply(be, dr.view(), backend::raw(be, dx), backend::raw(be, dy));
      resolution::apply_transpose(be, dr.view(), backend::raw(be, dx), backend::raw(be, dyt));
      const auto y = backend::to_host(be, dy);
      const auto yt = backend::to_host(be, dyt);
      double err = 0, errt = 0;
      for (std::size_t s = 0; s < nspec; ++s) {
        const dense<double> m = r.to_dense(s).template cast<double>();
        Eigen::VectorXd xs(nwave);
        for (std::size_t j = 0; j < nwave; ++j) xs(j) = x[s * nwave + j];
        const Eigen::VectorXd ref = m * xs, reft = m.transpose() * xs;
        for (std::size_t i = 0; i < nwave; ++i) {
          err = std::max(err, std::abs(double(y[s * nwave + i]) - ref(i)));
          errt = std::max(errt, std::abs(double(yt[s * nwave + i]) - reft(i)));
        }
      }
      CHECK(err <= 4 * ndiag * eps_of<T>());
      CHECK(errt <= 4 * ndiag * eps_of<T>());
      // download returns the same matrices (storage outside them holds NaN, not compared).
      const auto back = resolution::download(be, dr);
      CHECK(back.to_dense(0) == r.to_dense(0));
    }
  };
  run(float{});
  run(double{});
}

TEST_CASE_TEMPLATE("max_row_sum_deviation measures |sum_j R[i, j] - 1|", B, SPECX_TEST_BACKENDS) {
  B be;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const std::size_t nspec = 4, ndiag = 11, nwave = 30;
    // Positive band, rows normalised in double on the dense matrix (the desispec
    // R = Q/s step), then stored: deviations are rounding only (≤ ndiag ulp).
    auto r = random_banded<T>(nspec, ndiag, nwave, 21);
    resolution::banded<T> norm(nspec, ndiag, nwave);
    for (std::size_t s = 0; s < nspec; ++s) {
      dense<double> m = r.to_dense(s).template cast<double>().cwiseAbs();
      for (Eigen::Index i = 0; i < m.rows(); ++i) m.row(i) /= m.row(i).sum();
      norm.set_from_dense(s, m.cast<T>());
    }
    auto dn = resolution::upload(be, norm);
    CHECK(resolution::max_row_sum_deviation(be, dn.view()) <= T(2 * ndiag * eps_of<T>()));
    CHECK(resolution::max_row_sum_deviation(norm) <= T(2 * ndiag * eps_of<T>()));
    // Perturb one element of the last row of spectrum 2 (a corner, few diagonals inside).
    auto v = norm.view();
    v(2, 5 + 2, int(nwave) - 3) += T(1e-3);  // offset −2: row nwave−1, column nwave−3
    CHECK(norm.to_dense(2).row(nwave - 1).sum() == doctest::Approx(1 + 1e-3).epsilon(1e-5));
    dn = resolution::upload(be, norm);
    CHECK(double(resolution::max_row_sum_deviation(be, dn.view())) == doctest::Approx(1e-3).epsilon(1e-3));
    // Non-finite rows are reported as +inf.
    v(1, 5, 0) = std::numeric_limits<T>::quiet_NaN();
    dn = resolution::upload(be, norm);
    CHECK(std::isinf(resolution::max_row_sum_deviation(be, dn.view())));
  };
  run(float{});
  run(double{});
}

TEST_CASE_TEMPLATE("weighted_combine weights rows, not storage columns", B, SPECX_TEST_BACKENDS) {
  B be;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const int ngroup = 3, nexp = 4, ndiag = 11, nwave = 35;
    const auto in = random_banded<T>(ngroup * nexp, ndiag, nwave, 31);
    auto w = random_vector<T>(std::size_t(ngroup * nexp * nwave), 32, 0.1, 2.0);
    // Rows with zero total weight: 0 and the last row in group 0, row 7 in group 2;
    // in group 1 a row where only some exposures have zero weight.
    for (int e = 0; e < nexp; ++e) {
      w[(0 * nexp + e) * nwave + 0] = 0;
      w[(0 * nexp + e) * nwave + nwave - 1] = 0;
      w[(2 * nexp + e) * nwave + 7] = 0;
    }
    w[(1 * nexp + 2) * nwave + 10] = 0;
    const auto din = resolution::upload(be, in);
    const auto dw = backend::to_backend(be, std::span<const T>(w));
    resolution::backend_banded<B, T> dout{backend::make_vector<T>(be, std::size_t(ngroup * ndiag * nwave),
                                                                  std::numeric_limits<T>::quiet_NaN()),
                                          ngroup, ndiag, nwave};
    auto dmask = backend::make_vector<std::uint8_t>(be, std::size_t(ngroup * nwave), std::uint8_t(7));
    const std::size_t nzero =
        resolution::weighted_combine(be, din.view(), nexp, backend::raw(be, dw), dout.view(), backend::raw(be, dmask));
    CHECK(nzero == 3);
    const auto mask = backend::to_host(be, dmask);
    const auto out = resolution::download(be, dout);
    // Every storage entry was written: outside the matrix it is exactly zero.
    CHECK(xt::all(xt::isfinite(out.data())));
    double err = 0, wrong = 0;
    for (int g = 0; g < ngroup; ++g) {
      // Dense reference: R = diag(W)^-1 Σ_e diag(w_e) R_e, zero rows where W = 0.
      dense<double> num = dense<double>::Zero(nwave, nwave), bad = num;
      Eigen::VectorXd W = Eigen::VectorXd::Zero(nwave);
      for (int e = 0; e < nexp; ++e) {
        Eigen::VectorXd we(nwave);
        for (int i = 0; i < nwave; ++i) we(i) = w[std::size_t((g * nexp + e) * nwave + i)];
        const dense<double> Re = in.to_dense(std::size_t(g * nexp + e)).template cast<double>();
        num += we.asDiagonal() * Re;
        bad += Re * we.asDiagonal();  // the bug class: weighting storage column j by w[j]
        W += we;
      }
      for (int i = 0; i < nwave; ++i) {
        const bool empty = W(i) == 0;
        CHECK(mask[std::size_t(g * nwave + i)] == (empty ? 1 : 0));
        num.row(i) = empty ? Eigen::RowVectorXd::Zero(nwave) : Eigen::RowVectorXd(num.row(i) / W(i));
        bad.row(i) = empty ? Eigen::RowVectorXd::Zero(nwave) : Eigen::RowVectorXd(bad.row(i) / W(i));
      }
      const dense<double> got = out.to_dense(std::size_t(g)).template cast<double>();
      err = std::max(err, (got - num).cwiseAbs().maxCoeff());
      wrong = std::max(wrong, (got - bad).cwiseAbs().maxCoeff());
    }
    // A weighted mean of O(1) values over 4 exposures: a few ulp each.
    CHECK(err <= 16 * eps_of<T>());
    CHECK(wrong > 1e-2);  // the column-weighted variant is measurably different
    // Without a mask the count is still returned.
    CHECK(resolution::weighted_combine(be, din.view(), nexp, backend::raw(be, dw), dout.view()) == 3);
    // Shape errors.
    CHECK_THROWS_AS(resolution::weighted_combine(be, din.view(), nexp + 1, backend::raw(be, dw), dout.view()),
                    specx::invalid_argument);
  };
  run(float{});
  run(double{});
}
