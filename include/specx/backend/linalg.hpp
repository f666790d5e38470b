// Batched dense linear algebra, the primitive every solver in specx is built on:
// many small or medium matrices (extraction patches, redshift normal equations)
// processed at once. One interface, three implementations:
//   cpu        Eigen per matrix, OpenMP over the batch;
//   thrust<S>  our own kernels (detail/dense_kernels.hpp) run by Thrust, one
//              thread per matrix or per element: the code path CI tests on OMP;
//   thrust<cuda> cuBLAS/cuSOLVER where they exist (backend/cuda/linalg.cuh).
// All calls block. Matrices are column-major (batch.hpp). Solvers never throw on
// numerical failure: they report per-matrix status in `info` (0 = success).
// Shape errors are programming errors of the caller and throw invalid_argument.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Dense>

#include "../error.hpp"
#include "batch.hpp"
#include "concepts.hpp"
#include "cpu.hpp"
#include "detail/dense_kernels.hpp"
#include "detail/inv_sqrt_rational.hpp"

namespace specx::backend {

namespace detail {
inline void require(bool ok, const char* fn, const std::string& what) {
  if (!ok) throw invalid_argument(std::string("specx::backend::") + fn + ": " + what);
}
template <class T>
void check_square(const matrix_batch<T>& a, const char* fn) {
  require(a.rows == a.cols, fn, "matrices must be square, got " + std::to_string(a.rows) + "x" +
                                    std::to_string(a.cols));
  require(a.ld >= a.rows && a.count >= 0, fn, "bad leading dimension or count");
}

template <class T>
using emap = Eigen::Map<Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic>, 0,
                        Eigen::OuterStride<>>;
template <class T>
using cemap = Eigen::Map<const Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic>, 0,
                         Eigen::OuterStride<>>;
template <class T>
emap<T> eigen_of(const matrix_batch<T>& m, int b) {
  return emap<T>(m.matrix(b), m.rows, m.cols, Eigen::OuterStride<>(m.ld));
}
template <class T>
cemap<T> eigen_of(const matrix_batch<const T>& m, int b) {
  return cemap<T>(m.matrix(b), m.rows, m.cols, Eigen::OuterStride<>(m.ld));
}

/// Shape of op(X).
template <class T>
int op_rows(const matrix_batch<T>& x, op o) { return o == op::none ? x.rows : x.cols; }
template <class T>
int op_cols(const matrix_batch<T>& x, op o) { return o == op::none ? x.cols : x.rows; }

template <class T>
void check_gemm(op ta, op tb, const matrix_batch<const T>& a, const matrix_batch<const T>& b,
                const matrix_batch<T>& c) {
  require(op_cols(a, ta) == op_rows(b, tb) && op_rows(a, ta) == c.rows && op_cols(b, tb) == c.cols,
          "gemm", "shapes do not conform");
  require(a.count == c.count && b.count == c.count, "gemm", "batch counts differ");
}

/// The sign convention shared by all backends for eigenvectors: the component of
/// largest magnitude is positive (makes eigh outputs comparable across backends
/// for non-degenerate spectra).
template <class M>
void normalise_signs(M&& v) {
  for (Eigen::Index j = 0; j < v.cols(); ++j) {
    Eigen::Index m;
    v.col(j).cwiseAbs().maxCoeff(&m);
    if (v(m, j) < 0) v.col(j) *= -1;
  }
}
}  // namespace detail

// ---------------------------------------------------------------- cpu (Eigen)

/// C_b = alpha · op(A_b) · op(B_b) + beta · C_b for every b. With beta = 0, C is
/// not read (may hold NaN), as in BLAS.
template <class T>
void gemm(cpu, op ta, op tb, T alpha, matrix_batch<const T> a, matrix_batch<const T> b, T beta,
          matrix_batch<T> c) {
  detail::check_gemm(ta, tb, a, b, c);
  const int nb = c.count;
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    auto A = detail::eigen_of(a, k);
    auto B = detail::eigen_of(b, k);
    auto C = detail::eigen_of(c, k);
    if (beta == T(0)) C.setZero();
    else if (beta != T(1)) C *= beta;
    if (ta == op::none && tb == op::none) C.noalias() += alpha * A * B;
    else if (ta == op::transpose && tb == op::none) C.noalias() += alpha * A.transpose() * B;
    else if (ta == op::none) C.noalias() += alpha * A * B.transpose();
    else C.noalias() += alpha * A.transpose() * B.transpose();
  }
}

/// Symmetric rank-k update C_b = alpha · A_bᵀ A_b + beta · C_b (the normal-matrix
/// product AᵀWA with √W folded into A). Both triangles of C are written.
template <class T>
void syrk(cpu, T alpha, matrix_batch<const T> a, T beta, matrix_batch<T> c) {
  detail::check_square(c, "syrk");
  detail::require(a.cols == c.rows && a.count == c.count, "syrk", "shapes do not conform");
  const int nb = c.count;
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    auto A = detail::eigen_of(a, k);
    auto C = detail::eigen_of(c, k);
    if (beta == T(0)) C.setZero();
    else if (beta != T(1)) C *= beta;
    C.template selfadjointView<Eigen::Lower>().rankUpdate(A.transpose(), alpha);
    C.template triangularView<Eigen::StrictlyUpper>() = C.transpose();
  }
}

/// In-place Cholesky factorisation A_b = L_b L_bᵀ (L lower, strict upper zeroed).
/// info[b] = 0 on success, nonzero where A_b is not positive definite.
template <class T>
void cholesky(cpu, matrix_batch<T> a, int* info) {
  detail::check_square(a, "cholesky");
  const int nb = a.count;
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    auto A = detail::eigen_of(a, k);
    Eigen::Ref<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>, 0, Eigen::OuterStride<>> ref(A);
    Eigen::LLT<decltype(ref)> llt(ref);  // factorises in place
    // Eigen's LLT lets NaN through (comparisons with NaN are false): check the
    // factor's diagonal as well, so every backend flags the same matrices.
    const bool finite_positive = (A.diagonal().array() > T(0)).all() && A.diagonal().allFinite();
    info[k] = (llt.info() == Eigen::Success && finite_positive) ? 0 : 1;
    A.template triangularView<Eigen::StrictlyUpper>().setZero();
  }
}

/// Solve (L_b L_bᵀ) X_b = B_b in place (X holds B on entry) with L from cholesky.
template <class T>
void cholesky_solve(cpu, matrix_batch<const T> l, matrix_batch<T> x) {
  detail::check_square(l, "cholesky_solve");
  detail::require(x.rows == l.rows && x.count == l.count, "cholesky_solve", "shapes do not conform");
  const int nb = x.count;
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    auto L = detail::eigen_of(l, k);
    auto X = detail::eigen_of(x, k);
    L.template triangularView<Eigen::Lower>().solveInPlace(X);
    L.transpose().template triangularView<Eigen::Upper>().solveInPlace(X);
  }
}

/// Symmetric eigen-decomposition: A_b is overwritten by its eigenvectors
/// (columns, largest component positive), w[b·n + i] gets the eigenvalues in
/// ascending order. info[b] = 0 on success.
template <class T>
void eigh(cpu, matrix_batch<T> a, T* w, int* info) {
  detail::check_square(a, "eigh");
  const int nb = a.count, n = a.rows;
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    auto A = detail::eigen_of(a, k);
    Eigen::SelfAdjointEigenSolver<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> es(
        A, Eigen::ComputeEigenvectors);
    info[k] = es.info() == Eigen::Success ? 0 : 1;
    A = es.eigenvectors();
    detail::normalise_signs(A);
    Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>>(w + static_cast<std::ptrdiff_t>(k) * n, n) =
        es.eigenvalues();
  }
}

/// out_b = A_b^(−1/2) for symmetric positive semi-definite A_b; eigenvalues ≤
/// rel_cutoff · λ_max (or ≤ 0) are dropped (pseudo-inverse square root) and counted
/// in info[b]; info[b] = −1 if the eigen-solver failed. A is not modified; only its
/// lower triangle is read (both routes). Double matrices that are safely positive definite (λ_min > max(rel_cutoff,
/// 1e−12) · λ_max, verified by Sturm counts) take the rational-quadrature route of
/// detail/inv_sqrt_rational.hpp (no eigenvectors, ≈ 2× faster at n ≈ 70; quadrature
/// error ≤ 5e−15 up to κ = 1e6, ≤ 3e−12 beyond); all others the eigen-decomposition.
template <class T>
void inv_sqrt(cpu, matrix_batch<const T> a, matrix_batch<T> out, int* info, T rel_cutoff = T(0)) {
  detail::check_square(a, "inv_sqrt");
  detail::require(out.rows == a.rows && out.cols == a.cols && out.count == a.count, "inv_sqrt",
                  "output shape differs from input");
  const int nb = a.count;
  // Double matrices go through the rational route in groups of `lanes`, their
  // tridiagonalisations interleaved (one vector operation serves the group); a
  // short last group repeats its last matrix. A matrix the route declines takes
  // the eigen-decomposition below.
  constexpr int lanes = detail::tridiag_lanes;
  const int ngroup = std::is_same_v<T, double> && a.rows > 0 ? (nb + lanes - 1) / lanes : 0;
  std::vector<char> done(static_cast<std::size_t>(nb), 0);
  if constexpr (std::is_same_v<T, double>) {
#pragma omp parallel for schedule(dynamic) if (ngroup > 1)
    for (int g = 0; g < ngroup; ++g) {
      static thread_local detail::inv_sqrt_workspace ws[lanes];
      const double* src[lanes];
      detail::inv_sqrt_workspace* wsp[lanes];
      for (int l = 0; l < lanes; ++l) {
        src[l] = a.matrix(std::min(g * lanes + l, nb - 1));
        wsp[l] = &ws[l];
      }
      detail::tridiagonalize_lanes(src, a.rows, a.ld, wsp, ws[0].lanes);
      for (int l = 0; l < lanes && g * lanes + l < nb; ++l) {
        const int k = g * lanes + l;
        if (detail::inv_sqrt_from_tridiagonal(a.rows, out.matrix(k), out.ld, rel_cutoff, ws[l])) {
          info[k] = 0;
          done[static_cast<std::size_t>(k)] = 1;
        }
      }
    }
  }
#pragma omp parallel for schedule(dynamic) if (nb > 1)
  for (int k = 0; k < nb; ++k) {
    if (done[static_cast<std::size_t>(k)]) continue;
    auto A = detail::eigen_of(a, k);
    auto O = detail::eigen_of(out, k);
    Eigen::SelfAdjointEigenSolver<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>> es(
        A, Eigen::ComputeEigenvectors);
    if (es.info() != Eigen::Success) {
      info[k] = -1;
      O.setZero();
      continue;
    }
    const auto& lam = es.eigenvalues();
    const T lmax = lam.size() ? lam(lam.size() - 1) : T(0);
    Eigen::Matrix<T, Eigen::Dynamic, 1> f(lam.size());
    int dropped = 0;
    for (Eigen::Index i = 0; i < lam.size(); ++i) {
      const bool keep = lam(i) > rel_cutoff * lmax && lam(i) > T(0);
      f(i) = keep ? T(1) / std::sqrt(lam(i)) : T(0);
      dropped += !keep;
    }
    O.noalias() = es.eigenvectors() * f.asDiagonal() * es.eigenvectors().transpose();
    info[k] = dropped;
  }
}

}  // namespace specx::backend
