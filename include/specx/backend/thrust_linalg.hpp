// Batched dense linear algebra for thrust<S>: our own kernels, written once and
// run by Thrust on its CPP/OMP systems (and on CUDA where backend/cuda/ has no
// vendor-library specialisation). See linalg.hpp for the contract of each call.
#pragma once

#include "linalg.hpp"
#include "thrust.hpp"

namespace specx::backend {

namespace detail {

template <class T>
struct gemm_element {
  op ta, tb;
  T alpha, beta;
  matrix_batch<const T> a, b;
  matrix_batch<T> c;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int m = c.rows, n = c.cols;
    const int i = static_cast<int>(idx % m);
    const int j = static_cast<int>((idx / m) % n);
    const int k = static_cast<int>(idx / (static_cast<std::size_t>(m) * n));
    const int inner = ta == op::none ? a.cols : a.rows;
    T s = 0;
    for (int l = 0; l < inner; ++l) {
      const T av = ta == op::none ? a(k, i, l) : a(k, l, i);
      const T bv = tb == op::none ? b(k, l, j) : b(k, j, l);
      s += av * bv;
    }
    T& out = c(k, i, j);
    out = beta == T(0) ? alpha * s : alpha * s + beta * out;
  }
};

template <class T>
struct syrk_element {
  T alpha, beta;
  matrix_batch<const T> a;
  matrix_batch<T> c;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = c.rows;
    const int i = static_cast<int>(idx % n);
    const int j = static_cast<int>((idx / n) % n);
    const int k = static_cast<int>(idx / (static_cast<std::size_t>(n) * n));
    if (i < j) return;  // lower triangle computes, mirrors to upper
    T s = 0;
    for (int l = 0; l < a.rows; ++l) s += a(k, l, i) * a(k, l, j);
    T& lo = c(k, i, j);
    const T v = beta == T(0) ? alpha * s : alpha * s + beta * lo;
    lo = v;
    c(k, j, i) = v;
  }
};

template <class T>
struct cholesky_one {
  matrix_batch<T> a;
  int* info;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    info[k] = cholesky_inplace(a.matrix(static_cast<int>(k)), a.rows, a.ld);
  }
};

template <class T>
struct cholesky_solve_one {
  matrix_batch<const T> l;
  matrix_batch<T> x;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int k = static_cast<int>(idx / x.cols), r = static_cast<int>(idx % x.cols);
    cholesky_solve_inplace(l.matrix(k), l.rows, l.ld, x.matrix(k) + static_cast<std::ptrdiff_t>(r) * x.ld,
                           x.ld, 1);
  }
};

template <class T>
struct eigh_one {
  matrix_batch<T> a;
  T* w;
  T* work;  // count x n x n
  int* info;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int n = a.rows;
    info[k] = jacobi_eigh_inplace(a.matrix(static_cast<int>(k)), n, a.ld, w + k * n,
                                  work + k * static_cast<std::size_t>(n) * n, n);
  }
};

template <class T>
struct inv_sqrt_one {
  matrix_batch<const T> a;
  matrix_batch<T> out;
  T* work;  // count x (2 n² + n)
  int* info;
  T rel_cutoff;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int n = a.rows;
    T* e = work + k * (2 * static_cast<std::size_t>(n) * n + n);
    T* v = e + static_cast<std::size_t>(n) * n;
    T* w = v + static_cast<std::size_t>(n) * n;
    const T* src = a.matrix(static_cast<int>(k));
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i) e[i + j * n] = src[i + j * a.ld];
    if (jacobi_eigh_inplace(e, n, n, w, v, n) != 0) {
      T* o = out.matrix(static_cast<int>(k));
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < n; ++i) o[i + j * out.ld] = T(0);
      info[k] = -1;
      return;
    }
    info[k] = inv_sqrt_from_eigh(e, n, n, w, out.matrix(static_cast<int>(k)), out.ld, rel_cutoff);
  }
};

}  // namespace detail

template <class S, class T>
void gemm(thrust<S> be, op ta, op tb, T alpha, matrix_batch<const T> a, matrix_batch<const T> b, T beta,
          matrix_batch<T> c) {
  detail::check_gemm(ta, tb, a, b, c);
  for_each_index(be, static_cast<std::size_t>(c.rows) * c.cols * c.count,
                 detail::gemm_element<T>{ta, tb, alpha, beta, a, b, c});
}

template <class S, class T>
void syrk(thrust<S> be, T alpha, matrix_batch<const T> a, T beta, matrix_batch<T> c) {
  detail::check_square(c, "syrk");
  detail::require(a.cols == c.rows && a.count == c.count, "syrk", "shapes do not conform");
  for_each_index(be, static_cast<std::size_t>(c.rows) * c.cols * c.count,
                 detail::syrk_element<T>{alpha, beta, a, c});
}

template <class S, class T>
void cholesky(thrust<S> be, matrix_batch<T> a, int* info) {
  detail::check_square(a, "cholesky");
  for_each_index(be, static_cast<std::size_t>(a.count), detail::cholesky_one<T>{a, info});
}

template <class S, class T>
void cholesky_solve(thrust<S> be, matrix_batch<const T> l, matrix_batch<T> x) {
  detail::check_square(l, "cholesky_solve");
  detail::require(x.rows == l.rows && x.count == l.count, "cholesky_solve", "shapes do not conform");
  for_each_index(be, static_cast<std::size_t>(x.count) * x.cols, detail::cholesky_solve_one<T>{l, x});
}

template <class S, class T>
void eigh(thrust<S> be, matrix_batch<T> a, T* w, int* info) {
  detail::check_square(a, "eigh");
  auto work = make_vector<T>(be, static_cast<std::size_t>(a.count) * a.rows * a.rows);
  for_each_index(be, static_cast<std::size_t>(a.count), detail::eigh_one<T>{a, w, raw(be, work), info});
}

template <class S, class T>
void inv_sqrt(thrust<S> be, matrix_batch<const T> a, matrix_batch<T> out, int* info, T rel_cutoff = T(0)) {
  detail::check_square(a, "inv_sqrt");
  detail::require(out.rows == a.rows && out.cols == a.cols && out.count == a.count, "inv_sqrt",
                  "output shape differs from input");
  const std::size_t n = static_cast<std::size_t>(a.rows);
  auto work = make_vector<T>(be, static_cast<std::size_t>(a.count) * (2 * n * n + n));
  for_each_index(be, static_cast<std::size_t>(a.count),
                 detail::inv_sqrt_one<T>{a, out, raw(be, work), info, rel_cutoff});
}

}  // namespace specx::backend
