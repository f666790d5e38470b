// The thrust<System> backend: Thrust vectors and algorithms on Thrust's CPP, OMP
// or CUDA system. Everything here is written once; backend/cuda/ adds CUDA-only
// specialisations (cuBLAS/cuSOLVER) behind the same functions.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"

// Host compilers only have Thrust's host systems: make OMP the default "device"
// system so that any thrust::device_* use outside specx does not pull in CUDA.
// specx itself always names its system explicitly.
#if !SPECX_COMPILING_CUDA && !defined(THRUST_DEVICE_SYSTEM)
#define THRUST_DEVICE_SYSTEM THRUST_DEVICE_SYSTEM_OMP
#endif

#include <thrust/copy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <thrust/system/cpp/execution_policy.h>
#include <thrust/system/cpp/vector.h>
#include <thrust/system/omp/execution_policy.h>
#include <thrust/system/omp/vector.h>
#if SPECX_COMPILING_CUDA
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system/cuda/vector.h>
#endif

#include "concepts.hpp"

namespace specx::backend {

namespace detail {
template <class System>
struct thrust_system_traits {
  static_assert(sizeof(System) == 0,
                "specx::backend::thrust<System>: System must be system::cpp, system::omp or "
                "system::cuda (the latter only when compiling with nvcc)");
};
template <>
struct thrust_system_traits<system::cpp> {
  template <class T>
  using vector = ::thrust::cpp::vector<T>;
  using memory_space = host_space;
  static constexpr std::string_view name = "thrust-cpp";
  static auto policy() { return ::thrust::cpp::par; }
};
template <>
struct thrust_system_traits<system::omp> {
  template <class T>
  using vector = ::thrust::omp::vector<T>;
  using memory_space = host_space;
  static constexpr std::string_view name = "thrust-omp";
  static auto policy() { return ::thrust::omp::par; }
};
#if SPECX_COMPILING_CUDA
template <>
struct thrust_system_traits<system::cuda> {
  template <class T>
  using vector = ::thrust::cuda::vector<T>;
  using memory_space = device_space;
  static constexpr std::string_view name = "thrust-cuda";
  static auto policy() { return ::thrust::cuda::par; }
};
#endif
}  // namespace detail

/// Thrust vectors and algorithms on the given system (system::cpp, omp, cuda).
template <class System>
struct thrust {
  using system_type = System;
  using traits = detail::thrust_system_traits<System>;
  using memory_space = typename traits::memory_space;
  template <class T>
  using vector = typename traits::template vector<T>;
  static constexpr std::string_view name = traits::name;
  static constexpr bool host_accessible = std::is_same_v<memory_space, host_space>;
  /// The Thrust execution policy of this system.
  static auto policy() { return traits::policy(); }
};

/// An owning vector of n elements on the backend. Blocking.
template <class T, class S>
typename thrust<S>::template vector<T> make_vector(thrust<S>, std::size_t n, T value = T{}) {
  return typename thrust<S>::template vector<T>(n, value);
}

/// Copy host data to the backend. Blocking.
template <class T, class S>
typename thrust<S>::template vector<T> to_backend(thrust<S>, std::span<const T> host) {
  typename thrust<S>::template vector<T> v(host.size());
  if (!host.empty()) ::thrust::copy(host.begin(), host.end(), v.begin());
  return v;
}

/// Copy backend data to a host std::vector. Blocking.
template <class S, class V>
auto to_host(thrust<S>, const V& v) {
  std::vector<typename V::value_type> h(v.size());
  if (!h.empty()) ::thrust::copy(v.begin(), v.end(), h.begin());
  return h;
}

/// Raw pointer to the vector's storage (a device pointer on CUDA).
template <class S, class V>
auto raw(thrust<S>, V& v) noexcept {
  return ::thrust::raw_pointer_cast(v.data());
}

/// Call f(i) for i in [0, n) on the backend. f must be callable on the backend
/// (SPECX_HOST_DEVICE for CUDA). Blocking on host systems; on CUDA the call
/// returns after the kernel completes (Thrust synchronises for_each).
template <class S, class F>
void for_each_index(thrust<S>, std::size_t n, F f) {
  if (n == 0) return;
  ::thrust::for_each_n(thrust<S>::policy(), ::thrust::counting_iterator<std::size_t>(0), n, f);
}

/// op-reduce f(i) over [0, n) from init. Blocking.
template <class T, class S, class F, class Op>
T transform_reduce(thrust<S>, std::size_t n, F f, T init, Op op) {
  if (n == 0) return init;
  return ::thrust::transform_reduce(thrust<S>::policy(), ::thrust::counting_iterator<std::size_t>(0),
                                    ::thrust::counting_iterator<std::size_t>(n), f, init, op);
}

/// Wait for all outstanding work on the backend.
template <class S>
void synchronize(thrust<S>) {
#if SPECX_COMPILING_CUDA
  if constexpr (std::is_same_v<S, system::cuda>) cudaDeviceSynchronize();
#endif
}

}  // namespace specx::backend
