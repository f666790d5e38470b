// Benchmarks of the forward model's projection: photons through the real DESI r0
// Gauss–Hermite PSF onto the CCD, on every backend built.
//   BM_Project/<backend>/frame       500 fibers x 2326 wavelengths (a full r0 frame
//                                    on the extraction grid 5760–7620 Å, 0.8 Å)
//   BM_Project/<backend>/specter25   25 fibers (250–274) x 4001 samples 5960–6360 Å
//                                    at 0.1 Å: the projection specter timed
//                                    (PROJTIME = 23.8 s in extract-r0-bundle10.fits)
// Counters: stamps/s and µs per stamp (wall time, all threads).
#include <benchmark/benchmark.h>

#include <numeric>

#include <specx/io.hpp>
#include <specx/psf.hpp>
#include <specx/sim/project.hpp>

#include "bench_common.hpp"

using namespace specx;

namespace {

const io::psf_file_data& r0_psf_file() {
  static const io::psf_file_data d = io::read_psf(std::string(SPECX_DATA_DIR) + "/psf/psf-r0-00067784.fits");
  return d;
}

template <class B>
void BM_Project(benchmark::State& state, int fiber0, int nfiber, double w0, double dw, int nwave) {
  B be;
  psf::gauss_hermite_psf<double, B> model(r0_psf_file(), be);
  std::vector<int> fibers(static_cast<std::size_t>(nfiber));
  std::iota(fibers.begin(), fibers.end(), fiber0);
  std::vector<double> wave(static_cast<std::size_t>(nwave));
  for (int j = 0; j < nwave; ++j) wave[j] = w0 + dw * j;
  std::vector<double> photons(fibers.size() * wave.size(), 100.0);
  const sim::window win{0, model.npix_x(), 0, model.npix_y()};
  auto image = backend::make_vector<double>(be, static_cast<std::size_t>(win.nx()) * win.ny());
  for (auto _ : state) {
    sim::project_into(be, model, std::span<const int>(fibers), std::span<const double>(wave),
                      std::span<const double>(photons), image, win);
    backend::synchronize(be);
  }
  // Validate outside the timed region: every stamp of this set lies on the CCD,
  // so the image holds iterations x Σ photons electrons.
  const auto h = backend::to_host(be, image);
  const double total = std::accumulate(h.begin(), h.end(), 0.0);
  const double expect = double(state.iterations()) * 100.0 * double(photons.size());
  if (std::abs(total - expect) > 1e-9 * expect) state.SkipWithError("projected electrons not conserved");
  const double stamps = double(photons.size());
  state.counters["stamps/s"] = benchmark::Counter(stamps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["us_per_stamp"] = benchmark::Counter(stamps * 1e-6, benchmark::Counter::kIsIterationInvariantRate |
                                                                     benchmark::Counter::kInvert);
}

template <class B>
void BM_ProjectFrame(benchmark::State& state) {
  BM_Project<B>(state, 0, 500, 5760.0, 0.8, 2326);
}
template <class B>
void BM_ProjectSpecter25(benchmark::State& state) {
  BM_Project<B>(state, 250, 25, 5960.0, 0.1, 4001);
}

}  // namespace

#define SPECX_BENCH_BACKEND(B, TAG)                                                                          \
  BENCHMARK_TEMPLATE(BM_ProjectFrame, B)->Name("BM_Project/" TAG "/frame")->Unit(benchmark::kSecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_ProjectSpecter25, B)->Name("BM_Project/" TAG "/specter25")->Unit(benchmark::kMillisecond)  \
      ->UseRealTime();

SPECX_BENCH_BACKEND(specx::backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_BENCH_BACKEND(specx::backend::thrust_omp, "thrust-omp")
#endif
#if SPECX_COMPILING_CUDA
SPECX_BENCH_BACKEND(specx::backend::thrust_cuda, "thrust-cuda")
#endif

BENCHMARK_MAIN();
