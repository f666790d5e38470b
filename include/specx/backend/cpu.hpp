// The cpu backend: host memory (std::vector), OpenMP loops, Eigen linear algebra.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include <omp.h>

#include "concepts.hpp"

namespace specx::backend {

/// Host memory, OpenMP parallel loops, Eigen for dense linear algebra.
struct cpu {
  using memory_space = host_space;
  template <class T>
  using vector = std::vector<T>;
  static constexpr std::string_view name = "cpu";
  static constexpr bool host_accessible = true;
};

/// An owning vector of n elements on the backend. Blocking.
template <class T>
std::vector<T> make_vector(cpu, std::size_t n, T value = T{}) {
  return std::vector<T>(n, value);
}

/// Copy host data to the backend. Blocking.
template <class T>
std::vector<T> to_backend(cpu, std::span<const T> host) {
  return std::vector<T>(host.begin(), host.end());
}

/// Copy backend data to a host std::vector. Blocking.
template <class T>
std::vector<T> to_host(cpu, const std::vector<T>& v) {
  return v;
}

/// Raw pointer to the backend vector's storage (what functors receive).
template <class T>
T* raw(cpu, std::vector<T>& v) noexcept {
  return v.data();
}
template <class T>
const T* raw(cpu, const std::vector<T>& v) noexcept {
  return v.data();
}

/// Call f(i) for i in [0, n), in parallel (OpenMP). Blocking. f must be safe to
/// call concurrently for distinct i; which thread runs an index is unspecified.
/// The schedule is dynamic, in chunks of n / (8 · threads): a thread that the OS
/// deschedules (a shared node) or that draws costly indices (patches differ in
/// size) no longer holds the others at the barrier with its fixed half.
template <class F>
void for_each_index(cpu, std::size_t n, F f) {
  const auto sn = static_cast<std::ptrdiff_t>(n);
  const std::ptrdiff_t chunk = std::max<std::ptrdiff_t>(1, sn / (8 * static_cast<std::ptrdiff_t>(omp_get_max_threads())));
#pragma omp parallel for schedule(dynamic, chunk) if (sn > 1)
  for (std::ptrdiff_t i = 0; i < sn; ++i) f(static_cast<std::size_t>(i));
}

/// op-reduce f(i) over [0, n) starting from init. op must be associative and
/// commutative; the partials are combined in thread order, so the result is
/// deterministic for a fixed thread count. Blocking.
template <class T, class F, class Op>
T transform_reduce(cpu, std::size_t n, F f, T init, Op op) {
  const auto sn = static_cast<std::ptrdiff_t>(n);
  const int nthreads = (sn > 1024) ? omp_get_max_threads() : 1;
  std::vector<T> partial(static_cast<std::size_t>(nthreads), init);
  std::vector<char> used(static_cast<std::size_t>(nthreads), 0);
#pragma omp parallel num_threads(nthreads)
  {
    const int t = omp_get_thread_num();
    T acc{};
    bool any = false;
#pragma omp for schedule(static)
    for (std::ptrdiff_t i = 0; i < sn; ++i) {
      T v = f(static_cast<std::size_t>(i));
      acc = any ? op(acc, v) : v;
      any = true;
    }
    partial[static_cast<std::size_t>(t)] = acc;
    used[static_cast<std::size_t>(t)] = any;
  }
  T result = init;
  for (int t = 0; t < nthreads; ++t)
    if (used[static_cast<std::size_t>(t)]) result = op(result, partial[static_cast<std::size_t>(t)]);
  return result;
}

/// Wait for outstanding work: a no-op on the cpu backend (everything blocks).
inline void synchronize(cpu) {}

}  // namespace specx::backend
