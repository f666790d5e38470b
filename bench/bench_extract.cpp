// Extraction benchmarks: BM_Extract/<backend>/<size> on a simulated r0 exposure
// (real r0 Gauss–Hermite PSF, all 500 fibers, cosmics, sky, DESI's r grid
// 5760–7620 Å at 0.8 Å = 2326 bins), sizes "bundle" (25 fibers) and "frame" (500).
// The simulation (~20 s) is made once, outside the timed region. Counters: s per
// call, µs per flux element, the model flop count's GFLOP/s (extraction_result::flops),
// and the stage split. Output validated outside the timed region (finite, pulls
// computed by the tests). Compare GFLOP/s with BM_EigenDgemmPeak (bench_backend).
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <specx/extract.hpp>
#include <specx/io.hpp>
#include <specx/psf.hpp>
#include <specx/sim.hpp>

#include "bench_common.hpp"

using namespace specx;

namespace {

struct fixture {
  psf::gauss_hermite_psf<double, backend::cpu> psf;
  sim::simulated_exposure e;
  xt::xtensor<float, 2> image;
  std::vector<double> wave;
  extract::trace_inverse inv;
  fixture() : psf(io::read_psf(std::string(SPECX_DATA_DIR) + "/psf/psf-r0-00067784.fits")) {
    sim::exposure_config cfg;
    cfg.camera = "r0";
    cfg.seed = 7;
    e = sim::simulate_exposure(backend::cpu{}, psf, cfg, sim::load_inputs(SPECX_DATA_DIR));
    image = e.ccd.image - float(e.truth.dark_electrons);
    for (int j = 0; j < 2326; ++j) wave.push_back(5760.0 + 0.8 * j);
    inv = extract::trace_inverse(psf, 9);
  }
};

const fixture& fx() {
  static const fixture f;
  return f;
}

template <class B>
void BM_Extract(benchmark::State& state) {
  const auto& f = fx();
  B be;
  psf::gauss_hermite_psf<double, B> p(io::read_psf(std::string(SPECX_DATA_DIR) + "/psf/psf-r0-00067784.fits"), be);
  const int nspec = static_cast<int>(state.range(0));
  extract::options opt;
  const auto img = extract::view_of(f.image, f.e.ccd.ivar, &f.e.ccd.mask);
  extract::extraction_result r;
  extract::extraction_timings sum;
  for (auto _ : state) {
    r = extract::extract_frame(be, p, img, 0, nspec, f.wave, f.inv, opt);
    backend::synchronize(be);
    sum.plan += r.timings.plan;
    sum.stamps += r.timings.stamps;
    sum.bandwidth += r.timings.bandwidth;
    sum.assemble += r.timings.assemble;
    sum.model += r.timings.model;
    sum.covariance += r.timings.covariance;
    sum.decorrelate += r.timings.decorrelate;
    sum.finalize += r.timings.finalize;
  }
  for (double v : r.flux)
    if (!std::isfinite(v)) state.SkipWithError("non-finite flux");
  const double it = double(state.iterations());
  const double elems = double(nspec) * f.wave.size();
  state.counters["us/element"] = benchmark::Counter(elems * 1e-6, benchmark::Counter::kIsIterationInvariantRate |
                                                                      benchmark::Counter::kInvert);
  state.counters["GFLOP/s"] = benchmark::Counter(r.flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["plan_s"] = sum.plan / it;
  state.counters["stamps_s"] = sum.stamps / it;
  state.counters["band_s"] = sum.bandwidth / it;
  state.counters["assemble_s"] = sum.assemble / it;
  state.counters["model_s"] = sum.model / it;
  state.counters["cov_s"] = sum.covariance / it;
  state.counters["eigen_s"] = sum.decorrelate / it;
  state.counters["final_s"] = sum.finalize / it;
  state.counters["patches"] = r.npatch;
}

}  // namespace

#define SPECX_BENCH_EXTRACT(B, TAG)                                                                    \
  BENCHMARK_TEMPLATE(BM_Extract, B)->Name("BM_Extract/" TAG "/bundle")->Arg(25)->Unit(benchmark::kSecond) \
      ->UseRealTime()->Iterations(3);                                                                  \
  BENCHMARK_TEMPLATE(BM_Extract, B)->Name("BM_Extract/" TAG "/frame")->Arg(500)->Unit(benchmark::kSecond) \
      ->UseRealTime()->Iterations(2);

SPECX_BENCH_EXTRACT(specx::backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_BENCH_EXTRACT(specx::backend::thrust_omp, "thrust-omp")
#endif
#if SPECX_COMPILING_CUDA
SPECX_BENCH_EXTRACT(specx::backend::thrust_cuda, "thrust-cuda")
#endif

BENCHMARK_MAIN();
