// Benchmarks of the flux calibration and coadd steps on full-size DESI frames, on
// every backend built.
//   BM_StdStarFit/<backend>/star          one standard star over b, r, z against the
//                                          STAR-A/F/G/K/M archetype grid (9000 models),
//                                          ±600 km/s scan
//   BM_Calibration/<backend>/r-frame       calibration vector from 10 fitted stars and
//                                          its per-fiber convolution, 500 × 2326
//   BM_ApplyCalibration/<backend>/r-frame  frame → cframe, 500 × 2326
//   BM_CoaddExposures/<backend>/r-3exp     3 exposures of 500 × 2326, ndiag 11, cosmic test
//   BM_CoaddCameras/<backend>/brz          500 targets, b + r + z → 7781 pixels
// Counters: spectra/s (or stars/s). Results are checked outside the timed loop.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include <specx/coadd.hpp>
#include <specx/fluxcalib.hpp>
#include <specx/fluxcalib/io.hpp>

#include "bench_common.hpp"

using namespace specx;

namespace {

struct host_frame {
  std::vector<double> wave;
  std::vector<float> flux, ivar, res;
  int nspec = 500, ndiag = 11;
};

host_frame make_frame(double w0, double w1, int nspec, std::uint32_t seed) {
  host_frame f;
  f.nspec = nspec;
  for (int i = 0; w0 + 0.8 * i <= w1 + 1e-9; ++i) f.wave.push_back(w0 + 0.8 * i);
  const std::size_t n = f.wave.size();
  f.flux.resize(std::size_t(nspec) * n);
  f.ivar.resize(f.flux.size());
  f.res.assign(std::size_t(nspec) * 11 * n, 0.0f);
  std::mt19937 g(seed);
  std::normal_distribution<float> N(0, 1);
  for (int s = 0; s < nspec; ++s)
    for (std::size_t i = 0; i < n; ++i) {
      f.flux[s * n + i] = 100.0f + 10.0f * N(g);
      f.ivar[s * n + i] = 0.01f;
      double sum = 0;
      for (int o = -5; o <= 5; ++o) sum += std::exp(-0.5 * o * o);
      for (int o = -5; o <= 5; ++o) {
        const long j = long(i) + o;
        if (j >= 0 && j < long(n)) f.res[(std::size_t(s) * 11 + std::size_t(5 - o)) * n + std::size_t(j)] = float(std::exp(-0.5 * o * o) / sum);
      }
    }
  return f;
}

template <class B>
struct dev_frame {
  backend::vector_t<B, float> flux, ivar, res;
  backend::vector_t<B, std::int32_t> mask;
  int nspec, nwave;
  dev_frame(B be, const host_frame& h)
      : flux(backend::to_backend(be, std::span<const float>(h.flux))),
        ivar(backend::to_backend(be, std::span<const float>(h.ivar))),
        res(backend::to_backend(be, std::span<const float>(h.res))),
        mask(backend::make_vector<std::int32_t>(be, h.flux.size())),
        nspec(h.nspec),
        nwave(int(h.wave.size())) {}
  resolution::banded_view<const float> rv() const { return {backend::raw(B{}, res), nspec, 11, nwave}; }
  coadd::spectra_view<float> view() const { return {backend::raw(B{}, flux), backend::raw(B{}, ivar), backend::raw(B{}, mask), rv(), nspec, nwave}; }
  fluxcalib::frame_view<float> fview() const { return {backend::raw(B{}, flux), backend::raw(B{}, ivar), backend::raw(B{}, mask), rv(), nspec, nwave}; }
};

const host_frame& frame_b() { static const host_frame f = make_frame(3600, 5800, 500, 1); return f; }
const host_frame& frame_r(int k) {
  static const host_frame f[3] = {make_frame(5760, 7620, 500, 2), make_frame(5760, 7620, 500, 3), make_frame(5760, 7620, 500, 4)};
  return f[k];
}
const host_frame& frame_z() { static const host_frame f = make_frame(7520, 9824, 500, 5); return f; }
const fluxcalib::stellar_grid& star_grid() {
  static const auto g = fluxcalib::read_default_stellar_grid(SPECX_DATA_DIR);
  return g;
}

/// Frames whose first `nstar` rows hold a real F archetype (× a smooth throughput,
/// convolved) so the fits and the calibration run on realistic data.
host_frame star_frame(double w0, double w1, int nstar) {
  auto f = make_frame(w0, w1, 500, 9);
  const auto& fam = star_grid().families[1];
  const auto t = fam.archetype(7);
  const auto e = fluxcalib::pixel_edges(f.wave);
  const auto m = core::trapz_rebin(std::span<const double>(fam.wave), std::span<const double>(t), std::span<const double>(e));
  double mx = 0;
  for (double v : m) mx = std::max(mx, v);
  const std::size_t n = f.wave.size();
  for (int s = 0; s < nstar; ++s)
    for (std::size_t i = 0; i < n; ++i) {
      f.flux[s * n + i] = float(1000.0 * m[i] / mx * (1.0 + 0.1 * std::sin(f.wave[i] / 700.0)));
      f.ivar[s * n + i] = 1.0f;
    }
  return f;
}

template <class B>
void BM_StdStarFit(benchmark::State& state) {
  B be;
  static const host_frame hb = star_frame(3600, 5800, 10), hr = star_frame(5760, 7620, 10), hz = star_frame(7520, 9824, 10);
  dev_frame<B> db(be, hb), dr(be, hr), dz(be, hz);
  std::vector<fluxcalib::camera_frame<float>> cams{{"b", hb.wave, db.fview()}, {"r", hr.wave, dr.fview()}, {"z", hz.wave, dz.fview()}};
  fluxcalib::stdstar_options so;
  so.filters.push_back(photometry::read_filter_ecsv(std::string(SPECX_DATA_DIR) + "/filters/decamDR1-r.ecsv", "r"));
  const std::vector<int> rows{0};
  const std::vector<fluxcalib::star_photometry> ph{{{17.0}, {}}};
  std::vector<fluxcalib::star_fit> fits;
  for (auto _ : state) {
    fits = fluxcalib::fit_standard_stars(be, cams, std::span<const int>(rows), std::span<const fluxcalib::star_photometry>(ph), star_grid(), so);
    backend::synchronize(be);
  }
  if (fits.size() != 1 || fits[0].status != 0) state.SkipWithError("star fit failed");
  state.counters["stars/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_Calibration(benchmark::State& state) {
  B be;
  static const host_frame hr = star_frame(5760, 7620, 10);
  dev_frame<B> dr(be, hr);
  fluxcalib::camera_frame<float> cam{"r", hr.wave, dr.fview()};
  std::vector<int> rows(10);
  std::vector<fluxcalib::star_fit> fits(10);
  for (int s = 0; s < 10; ++s) {
    rows[std::size_t(s)] = s;
    fits[std::size_t(s)].family = 1;
    fits[std::size_t(s)].archetype = 7;
    fits[std::size_t(s)].scale = 1.0;
  }
  fluxcalib::calibration<B> cal;
  for (auto _ : state) {
    cal = fluxcalib::compute_calibration(be, cam, std::span<const int>(rows), std::span<const fluxcalib::star_fit>(fits), star_grid());
    backend::synchronize(be);
  }
  if (cal.status != 0) state.SkipWithError("calibration failed");
  state.counters["spectra/s"] = benchmark::Counter(500.0, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_ApplyCalibration(benchmark::State& state) {
  B be;
  dev_frame<B> dr(be, frame_r(0));
  fluxcalib::calibration<B> cal;
  cal.nspec = dr.nspec;
  cal.nwave = dr.nwave;
  const std::size_t n = std::size_t(dr.nspec) * dr.nwave;
  cal.value = backend::make_vector<float>(be, n, 2.0f);
  cal.ivar = backend::make_vector<float>(be, n, 1e4f);
  cal.mask = backend::make_vector<std::int32_t>(be, n);
  fluxcalib::calibrated_frame<B, float> out;
  for (auto _ : state) {
    out = fluxcalib::apply_calibration(be, dr.fview(), cal);
    backend::synchronize(be);
  }
  const auto h = backend::to_host(be, out.flux);
  if (std::abs(h[0] - frame_r(0).flux[0] / 2.0f) > 1e-4f * std::abs(h[0])) state.SkipWithError("wrong calibrated flux");
  state.counters["spectra/s"] = benchmark::Counter(500.0, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_CoaddExposures(benchmark::State& state) {
  B be;
  dev_frame<B> d0(be, frame_r(0)), d1(be, frame_r(1)), d2(be, frame_r(2));
  const std::vector<coadd::spectra_view<float>> v{d0.view(), d1.view(), d2.view()};
  coadd::spectra<B, float> c;
  for (auto _ : state) {
    c = coadd::coadd_exposures(be, std::span<const coadd::spectra_view<float>>(v), std::span<const double>(frame_r(0).wave));
    backend::synchronize(be);
  }
  const auto iv = backend::to_host(be, c.ivar);
  if (std::abs(iv[0] - 0.03f) > 1e-6f) state.SkipWithError("wrong coadd ivar");
  state.counters["spectra/s"] = benchmark::Counter(500.0, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_CoaddCameras(benchmark::State& state) {
  B be;
  dev_frame<B> db(be, frame_b()), dr(be, frame_r(0)), dz(be, frame_z());
  const std::vector<coadd::camera_view<float>> v{{"b", frame_b().wave, db.view()}, {"r", frame_r(0).wave, dr.view()}, {"z", frame_z().wave, dz.view()}};
  coadd::spectra<B, float> c;
  for (auto _ : state) {
    c = coadd::coadd_cameras(be, std::span<const coadd::camera_view<float>>(v));
    backend::synchronize(be);
  }
  if (c.nwave != 7781) state.SkipWithError("wrong merged grid");
  state.counters["spectra/s"] = benchmark::Counter(500.0, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

#define SPECX_BENCH_BACKEND(B, TAG)                                                                                       \
  BENCHMARK_TEMPLATE(BM_StdStarFit, B)->Name("BM_StdStarFit/" TAG "/star")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_Calibration, B)->Name("BM_Calibration/" TAG "/r-frame")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_ApplyCalibration, B)->Name("BM_ApplyCalibration/" TAG "/r-frame")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_CoaddExposures, B)->Name("BM_CoaddExposures/" TAG "/r-3exp")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_CoaddCameras, B)->Name("BM_CoaddCameras/" TAG "/brz")->Unit(benchmark::kMillisecond)->UseRealTime();

SPECX_BENCH_BACKEND(specx::backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_BENCH_BACKEND(specx::backend::thrust_omp, "thrust-omp")
#endif
#if SPECX_COMPILING_CUDA
SPECX_BENCH_BACKEND(specx::backend::thrust_cuda, "thrust-cuda")
#endif

BENCHMARK_MAIN();
