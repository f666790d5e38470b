// Shared test helpers: the backend list every TEST_CASE_TEMPLATE runs over, data
// paths, and small comparison utilities.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <specx/backend.hpp>

namespace specx::test {

/// A file in the repository's runtime data folder (data/).
inline std::string data_path(const std::string& rel) { return std::string(SPECX_DATA_DIR) + "/" + rel; }
/// A file in tests/data/ (references and inputs used only by tests).
inline std::string test_data_path(const std::string& rel) {
  return std::string(SPECX_TEST_DATA_DIR) + "/" + rel;
}

/// A fresh temporary directory, removed with the object.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() /
           ("specx-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

/// max_i |a_i - b_i| / max(max_i |b_i|, tiny): a relative error normalised by the
/// scale of the reference, robust to individual zero entries.
template <class A, class B>
double max_rel_diff(const A& a, const B& b) {
  double num = 0, den = 0;
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return num / std::max(den, 1e-300);
}

}  // namespace specx::test

#if defined(SPECX_TEST_CUDA)
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
namespace specx::test {
/// CUDA test executables are built wherever nvcc exists (CI compiles them) but
/// can only run where a GPU is present: without one they exit with 77, which
/// Meson reports as SKIP.
inline const bool cuda_device_present = [] {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::fprintf(stderr, "no CUDA device: skipping the CUDA tests\n");
    std::exit(77);
  }
  return true;
}();
}  // namespace specx::test
#endif

// The backend list of TEST_CASE_TEMPLATE. Each build option adds its backend.
#if defined(SPECX_TEST_CUDA)
#define SPECX_TEST_BACKENDS specx::backend::cpu, specx::backend::thrust_cuda
#else
#if defined(SPECX_TEST_THRUST_OMP) && defined(SPECX_TEST_THRUST_CPP)
#define SPECX_TEST_BACKENDS \
  specx::backend::cpu, specx::backend::thrust_omp, specx::backend::thrust_cpp
#elif defined(SPECX_TEST_THRUST_OMP)
#define SPECX_TEST_BACKENDS specx::backend::cpu, specx::backend::thrust_omp
#elif defined(SPECX_TEST_THRUST_CPP)
#define SPECX_TEST_BACKENDS specx::backend::cpu, specx::backend::thrust_cpp
#else
#define SPECX_TEST_BACKENDS specx::backend::cpu
#endif
#endif
