// Benchmarks of the backend primitives: batched Cholesky, inv_sqrt and GEMM on
// every backend built, and the machine's FP64 peak as measured by a large Eigen
// DGEMM (the yardstick docs/performance.md reports achieved GFLOP/s against).
// Names: BM_<Algo>/<backend>/<size>.
#include <benchmark/benchmark.h>

#include <random>

#include <Eigen/Dense>

#include "bench_common.hpp"

using namespace specx;
using backend::make_batch;
using backend::matrix_batch;

namespace {

std::vector<double> random_spd_batch(int n, int nb, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> out(static_cast<std::size_t>(n) * n * nb);
  Eigen::MatrixXd x(n + 8, n);
  for (int b = 0; b < nb; ++b) {
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n + 8; ++i) x(i, j) = g(rng);
    Eigen::Map<Eigen::MatrixXd>(out.data() + static_cast<std::size_t>(b) * n * n, n, n) = x.transpose() * x;
  }
  return out;
}

void BM_EigenDgemmPeak(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n), b = Eigen::MatrixXd::Random(n, n), c(n, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * n * n * double(n), benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}

template <class B>
void BM_Cholesky(benchmark::State& state) {
  B be;
  const int n = static_cast<int>(state.range(0)), nb = static_cast<int>(state.range(1));
  const auto host = random_spd_batch(n, nb, 1);
  auto src = backend::to_backend(be, std::span<const double>(host));
  auto work = backend::make_vector<double>(be, host.size());
  auto info = backend::make_vector<int>(be, nb);
  for (auto _ : state) {
    state.PauseTiming();
    work = src;
    state.ResumeTiming();
    backend::cholesky(be, make_batch(backend::raw(be, work), n, n, nb), backend::raw(be, info));
    backend::synchronize(be);
  }
  auto h = backend::to_host(be, info);  // validated outside the timed region
  if (std::any_of(h.begin(), h.end(), [](int v) { return v != 0; })) state.SkipWithError("cholesky failed");
  state.counters["GFLOP/s"] = benchmark::Counter(nb * double(n) * n * n / 3.0, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

template <class B>
void BM_InvSqrt(benchmark::State& state) {
  B be;
  const int n = static_cast<int>(state.range(0)), nb = static_cast<int>(state.range(1));
  const auto host = random_spd_batch(n, nb, 2);
  auto src = backend::to_backend(be, std::span<const double>(host));
  auto out = backend::make_vector<double>(be, host.size());
  auto info = backend::make_vector<int>(be, nb);
  for (auto _ : state) {
    backend::inv_sqrt(be, matrix_batch<const double>(make_batch(backend::raw(be, src), n, n, nb)),
                      make_batch(backend::raw(be, out), n, n, nb), backend::raw(be, info), 0.0);
    backend::synchronize(be);
  }
  auto h = backend::to_host(be, info);
  if (std::any_of(h.begin(), h.end(), [](int v) { return v != 0; })) state.SkipWithError("inv_sqrt failed");
  state.counters["matrices/s"] = benchmark::Counter(nb, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_Gemm(benchmark::State& state) {
  B be;
  const int n = static_cast<int>(state.range(0)), nb = static_cast<int>(state.range(1));
  const auto host = random_spd_batch(n, nb, 3);
  auto a = backend::to_backend(be, std::span<const double>(host));
  auto c = backend::make_vector<double>(be, host.size());
  for (auto _ : state) {
    auto ca = matrix_batch<const double>(make_batch(backend::raw(be, a), n, n, nb));
    backend::gemm(be, backend::op::none, backend::op::none, 1.0, ca, ca, 0.0, make_batch(backend::raw(be, c), n, n, nb));
    backend::synchronize(be);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * nb * double(n) * n * n, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

}  // namespace

BENCHMARK(BM_EigenDgemmPeak)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

#define SPECX_BENCH_BACKEND(B, TAG)                                                                      \
  BENCHMARK_TEMPLATE(BM_Cholesky, B)->Name("BM_Cholesky/" TAG)->Args({72, 64})->Args({432, 16})           \
      ->Unit(benchmark::kMillisecond)->UseRealTime();                                                    \
  BENCHMARK_TEMPLATE(BM_InvSqrt, B)->Name("BM_InvSqrt/" TAG)->Args({72, 64})->Unit(benchmark::kMillisecond) \
      ->UseRealTime();                                                                                   \
  BENCHMARK_TEMPLATE(BM_Gemm, B)->Name("BM_Gemm/" TAG)->Args({72, 64})->Args({432, 16})                   \
      ->Unit(benchmark::kMillisecond)->UseRealTime();

SPECX_BENCH_BACKEND(specx::backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_BENCH_BACKEND(specx::backend::thrust_omp, "thrust-omp")
#endif
#if SPECX_COMPILING_CUDA
SPECX_BENCH_BACKEND(specx::backend::thrust_cuda, "thrust-cuda")
#endif

BENCHMARK_MAIN();
