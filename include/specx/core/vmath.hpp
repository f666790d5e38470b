// Batched erfc and exp for host kernels: y[i] = f(x[i]) for i < n.
//
// With SPECX_USE_LIBMVEC defined to 1 (the meson build does so where glibc's
// vector math library links; a user then links -lmvec) and AVX2 enabled, double
// batches go through glibc's libmvec AVX2 variants, four values per call (≈ 7×
// faster than the scalar erfc on the development machine, ≈ 2.6× for exp; measured
// relative errors against erfcl: ≤ 2.1e-16 vector, ≤ 5.2e-16 scalar). Otherwise, for float, and in
// CUDA compilations, they are the scalar <cmath> loops (`batched<T>` says which).
// Note: every translation unit of a program should see the same setting, or the
// inline kernels that branch on it (core/gaussian.hpp) differ between them.
#pragma once

#include <cmath>
#include <type_traits>

#include "../config.hpp"

#if defined(SPECX_USE_LIBMVEC) && SPECX_USE_LIBMVEC && !SPECX_COMPILING_CUDA && defined(__x86_64__) && \
    defined(__GLIBC__) && defined(__AVX2__)
#define SPECX_VMATH_LIBMVEC 1
#include <immintrin.h>
// glibc's vector function ABI names (x86-64 vector function ABI: 'd' = AVX2, N4 = four lanes,
// one vector argument), exported by libmvec ≥ 2.35. The 512-bit variants are not
// used: on Intel Xeons they lower the clock of the code that follows.
extern "C" {
__m256d _ZGVdN4v_erfc(__m256d);
__m256d _ZGVdN4v_exp(__m256d);
}
#else
#define SPECX_VMATH_LIBMVEC 0
#endif

namespace specx::core::vmath {

/// True where the double batches below are vectorised.
inline constexpr bool vectorised = SPECX_VMATH_LIBMVEC != 0;
/// True where batches of T are vectorised (kernels take their batched path only then).
template <class T>
inline constexpr bool batched = vectorised && std::is_same_v<T, double>;

namespace detail {
// Each operation: its scalar form, and where libmvec is in use, its 4-wide form.
struct erfc_op {
  template <class T>
  static T one(T x) { return std::erfc(x); }
#if SPECX_VMATH_LIBMVEC
  static void four(const double* x, double* y) { _mm256_storeu_pd(y, _ZGVdN4v_erfc(_mm256_loadu_pd(x))); }
#endif
};
struct exp_op {
  template <class T>
  static T one(T x) { return std::exp(x); }
#if SPECX_VMATH_LIBMVEC
  static void four(const double* x, double* y) { _mm256_storeu_pd(y, _ZGVdN4v_exp(_mm256_loadu_pd(x))); }
#endif
};
/// y[i] = Op(x[i]): for double with libmvec, whole vectors, then the remainder
/// through a zero-padded vector (f(0) is finite for both functions); else scalar.
template <class Op, class T>
void apply(const T* x, T* y, int n) {
#if SPECX_VMATH_LIBMVEC
  if constexpr (std::is_same_v<T, double>) {
    constexpr int width = 4;
    int i = 0;
    for (; i + width <= n; i += width) Op::four(x + i, y + i);
    if (i < n) {
      double bx[width] = {}, by[width];
      for (int k = 0; k < n - i; ++k) bx[k] = x[i + k];
      Op::four(bx, by);
      for (int k = 0; k < n - i; ++k) y[i + k] = by[k];
    }
    return;
  }
#endif
  for (int i = 0; i < n; ++i) y[i] = Op::one(x[i]);
}
}  // namespace detail

/// y[i] = erfc(x[i]), i < n (x and y may be the same array).
template <class T>
void erfc(const T* x, T* y, int n) {
  detail::apply<detail::erfc_op>(x, y, n);
}

/// y[i] = exp(x[i]), i < n (x and y may be the same array).
template <class T>
void exp(const T* x, T* y, int n) {
  detail::apply<detail::exp_op>(x, y, n);
}

}  // namespace specx::core::vmath
