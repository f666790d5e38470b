// CUDA specialisations of the batched linear algebra (backend/linalg.hpp) for
// thrust<system::cuda>: products through cuBLAS' strided-batched GEMM, Cholesky
// through cuSOLVER's batched potrf. Everything not specialised here runs our
// own kernels (backend/thrust_linalg.hpp). Only compiled by nvcc.
#pragma once

#if !SPECX_COMPILING_CUDA
#error "specx/backend/cuda/linalg.cuh needs nvcc"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>
#include <vector>

#include "../../error.hpp"
#include "../thrust_linalg.hpp"

namespace specx::backend {

/// A CUDA runtime or library call failed (host-side error; device code never throws).
class cuda_error : public error {
 public:
  using error::error;
};

namespace cuda_detail {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw cuda_error(std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw cuda_error(std::string("cuBLAS: ") + what + " failed, status " + std::to_string(int(s)));
}
inline void check(cusolverStatus_t s, const char* what) {
  if (s != CUSOLVER_STATUS_SUCCESS) throw cuda_error(std::string("cuSOLVER: ") + what + " failed, status " + std::to_string(int(s)));
}

/// One cuBLAS / cuSOLVER handle per host thread, created on first use.
struct handles {
  cublasHandle_t blas = nullptr;
  cusolverDnHandle_t solver = nullptr;
  handles() {
    check(cublasCreate(&blas), "cublasCreate");
    check(cusolverDnCreate(&solver), "cusolverDnCreate");
  }
  ~handles() {
    if (solver) cusolverDnDestroy(solver);
    if (blas) cublasDestroy(blas);
  }
  handles(const handles&) = delete;
  handles& operator=(const handles&) = delete;
};
inline handles& thread_handles() {
  thread_local handles h;
  return h;
}

inline cublasOperation_t to_cublas(op o) { return o == op::none ? CUBLAS_OP_N : CUBLAS_OP_T; }

inline cublasStatus_t gemm_sb(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const double* alpha, const double* a, int lda, long long sa, const double* b, int ldb,
                              long long sb, const double* beta, double* c, int ldc, long long sc, int count) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, count);
}
inline cublasStatus_t gemm_sb(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float* alpha, const float* a, int lda, long long sa, const float* b, int ldb,
                              long long sb, const float* beta, float* c, int ldc, long long sc, int count) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, count);
}
inline cusolverStatus_t potrf_batched(cusolverDnHandle_t h, int n, double** a, int lda, int* info, int count) {
  return cusolverDnDpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, a, lda, info, count);
}
inline cusolverStatus_t potrf_batched(cusolverDnHandle_t h, int n, float** a, int lda, int* info, int count) {
  return cusolverDnSpotrfBatched(h, CUBLAS_FILL_MODE_LOWER, n, a, lda, info, count);
}

template <class T>
struct zero_upper {
  matrix_batch<T> a;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = a.rows;
    const int i = static_cast<int>(idx % n), j = static_cast<int>((idx / n) % n);
    const int k = static_cast<int>(idx / (static_cast<std::size_t>(n) * n));
    if (i < j) a(k, i, j) = T(0);
  }
};
template <class T>
struct mirror_lower {
  matrix_batch<T> a;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = a.rows;
    const int i = static_cast<int>(idx % n), j = static_cast<int>((idx / n) % n);
    const int k = static_cast<int>(idx / (static_cast<std::size_t>(n) * n));
    if (i < j) a(k, i, j) = a(k, j, i);
  }
};
template <class T>
struct flag_nonfinite_diagonal {
  matrix_batch<T> a;
  int* info;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    for (int j = 0; j < a.rows; ++j) {
      const T d = a(static_cast<int>(k), j, j);
      if (!(d > T(0)) || !(d < INFINITY)) {
        if (info[k] == 0) info[k] = j + 1;
        return;
      }
    }
  }
};

}  // namespace cuda_detail

/// cuBLAS strided-batched GEMM (blocking: synchronises the device on return).
template <class T>
void gemm(thrust<system::cuda>, op ta, op tb, T alpha, matrix_batch<const T> a, matrix_batch<const T> b, T beta,
          matrix_batch<T> c) {
  detail::check_gemm(ta, tb, a, b, c);
  if (c.count == 0) return;
  auto& h = cuda_detail::thread_handles();
  const int k = ta == op::none ? a.cols : a.rows;
  cuda_detail::check(cuda_detail::gemm_sb(h.blas, cuda_detail::to_cublas(ta), cuda_detail::to_cublas(tb), c.rows,
                                          c.cols, k, &alpha, a.data, a.ld, a.stride, b.data, b.ld, b.stride, &beta,
                                          c.data, c.ld, c.stride, c.count),
                     "gemmStridedBatched");
  cuda_detail::check(cudaDeviceSynchronize(), "gemm");
}

/// C = αAᵀA + βC as a strided-batched GEMM (cuBLAS has no batched SYRK), then
/// the lower triangle mirrored so both triangles agree bit for bit.
template <class T>
void syrk(thrust<system::cuda> be, T alpha, matrix_batch<const T> a, T beta, matrix_batch<T> c) {
  detail::check_square(c, "syrk");
  detail::require(a.cols == c.rows && a.count == c.count, "syrk", "shapes do not conform");
  gemm(be, op::transpose, op::none, alpha, a, a, beta, c);
  for_each_index(be, static_cast<std::size_t>(c.rows) * c.cols * c.count, cuda_detail::mirror_lower<T>{c});
}

/// cuSOLVER batched Cholesky (lower), strict upper triangle zeroed, NaN flagged.
template <class T>
void cholesky(thrust<system::cuda> be, matrix_batch<T> a, int* info) {
  detail::check_square(a, "cholesky");
  if (a.count == 0) return;
  std::vector<T*> ptrs(static_cast<std::size_t>(a.count));
  for (int k = 0; k < a.count; ++k) ptrs[k] = a.matrix(k);
  auto dptrs = to_backend(be, std::span<T* const>(ptrs));
  auto& h = cuda_detail::thread_handles();
  cuda_detail::check(cuda_detail::potrf_batched(h.solver, a.rows, raw(be, dptrs), a.ld, info, a.count),
                     "potrfBatched");
  for_each_index(be, static_cast<std::size_t>(a.count), cuda_detail::flag_nonfinite_diagonal<T>{a, info});
  for_each_index(be, static_cast<std::size_t>(a.rows) * a.cols * a.count, cuda_detail::zero_upper<T>{a});
  cuda_detail::check(cudaDeviceSynchronize(), "cholesky");
}

}  // namespace specx::backend
