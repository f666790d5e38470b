// A non-owning view of a batch of equally sized column-major matrices, the
// argument type of every batched linear-algebra primitive (backend/linalg.hpp).
#pragma once

#include <cstddef>
#include <type_traits>

#include "../config.hpp"

namespace specx::backend {

/// count matrices of rows x cols, column-major with leading dimension ld, the
/// b-th starting at data + b * stride. The pointer lives in the backend's memory
/// (a device pointer on CUDA). Column-major is the layout Eigen and cuBLAS use.
template <class T>
struct matrix_batch {
  T* data = nullptr;
  int rows = 0;
  int cols = 0;
  int ld = 0;
  std::ptrdiff_t stride = 0;
  int count = 0;

  SPECX_HOST_DEVICE T* matrix(int b) const { return data + static_cast<std::ptrdiff_t>(b) * stride; }
  SPECX_HOST_DEVICE T& operator()(int b, int i, int j) const {
    return data[static_cast<std::ptrdiff_t>(b) * stride + i + static_cast<std::ptrdiff_t>(j) * ld];
  }
  /// The same batch, read-only.
  template <class U = T>
    requires(!std::is_const_v<U>)
  SPECX_HOST_DEVICE operator matrix_batch<const U>() const {
    return {data, rows, cols, ld, stride, count};
  }
};

/// A densely packed batch: ld = rows, stride = rows * cols.
template <class T>
matrix_batch<T> make_batch(T* data, int rows, int cols, int count) {
  return {data, rows, cols, rows, static_cast<std::ptrdiff_t>(rows) * cols, count};
}

/// Whether a gemm operand is used as is or transposed.
enum class op { none, transpose };

}  // namespace specx::backend
