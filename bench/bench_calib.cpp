// Benchmarks of the calibration steps for a full DESI r-camera frame, on every
// backend built:
//   BM_Preproc/<backend>/r-frame     raw 4256 x 4194 ADU → 4114 x 4128 image (overscan,
//                                    gain, variance, masks, cosmic-ray passes)
//   BM_FiberFlat/<backend>/r-frame   500 fibers x 2326 wavelengths flat-lamp frame
//                                    (deconvolved mean, splines with 5 Å knots, clipping)
//   BM_Sky/<backend>/r-frame         sky fit on 50 sky fibers + model variance + subtraction
//                                    from 500 fibers
// Inputs are synthetic (Gaussian resolution rows σ ≈ 1 bin; smooth spectra);
// results are checked outside the timed region. Counter: pixels/s.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include <specx/fiberflat.hpp>
#include <specx/preproc.hpp>
#include <specx/sim/ccd.hpp>
#include <specx/sky.hpp>

#include "bench_common.hpp"

using namespace specx;

namespace {

constexpr int kNspec = 500, kNwave = 2326, kNdiag = 11;

struct frame_data {
  xt::xtensor<double, 1> wave;
  xt::xtensor<float, 2> flux, ivar;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<float, 3> res;
};

frame_data make_frame(bool lamp) {
  frame_data t;
  t.wave = xt::xtensor<double, 1>::from_shape({std::size_t(kNwave)});
  for (int i = 0; i < kNwave; ++i) t.wave(i) = 5760.0 + 0.8 * i;
  t.res = xt::zeros<float>({std::size_t(kNspec), std::size_t(kNdiag), std::size_t(kNwave)});
  const int h = kNdiag / 2;
  for (int f = 0; f < kNspec; ++f)
    for (int i = 0; i < kNwave; ++i) {
      const double sigma = 0.9 + 0.25 * i / double(kNwave) + 0.1 * std::sin(0.37 * f);
      double s = 0;
      for (int j = std::max(0, i - h); j <= std::min(kNwave - 1, i + h); ++j) s += std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma));
      for (int j = std::max(0, i - h); j <= std::min(kNwave - 1, i + h); ++j)
        t.res(f, h - (j - i), j) = float(std::exp(-0.5 * (j - i) * (j - i) / (sigma * sigma)) / s);
    }
  t.flux = xt::xtensor<float, 2>::from_shape({std::size_t(kNspec), std::size_t(kNwave)});
  t.ivar = t.flux;
  t.mask = xt::zeros<std::int32_t>({std::size_t(kNspec), std::size_t(kNwave)});
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0, 1);
  for (int f = 0; f < kNspec; ++f) {
    const double tau = 1 + 0.03 * g(rng);
    for (int i = 0; i < kNwave; ++i) {
      const double l = t.wave(i);
      double v = lamp ? 1e5 * tau * (1 + 0.2 * std::sin(l / 400)) : 60 + 2000 * std::exp(-0.5 * std::pow(std::fmod(l, 37.0) - 18, 2));
      const double var = v / 0.8 + 60;
      t.flux(f, i) = float(v + std::sqrt(var) * g(rng));
      t.ivar(f, i) = float(1 / var);
    }
  }
  return t;
}

const frame_data& flat_frame() {
  static const frame_data f = make_frame(true);
  return f;
}
const frame_data& sky_frame() {
  static const frame_data f = make_frame(false);
  return f;
}

struct raw_data {
  xt::xtensor<std::uint16_t, 2> raw;
  preproc::amplifiers amps;
};

const raw_data& raw_frame() {
  static const raw_data r = [] {
    sim::amp_layout L;
    L.nx = 4114;
    L.ny = 4128;
    std::vector<float> expected(std::size_t(L.nx) * L.ny);
    for (int y = 0; y < L.ny; ++y)
      for (int x = 0; x < L.nx; ++x) {
        const double dx = std::fmod(x, 8.0) - 4;
        expected[std::size_t(y) * L.nx + x] = float(2 + 300 * std::exp(-0.5 * dx * dx));
      }
    std::array<sim::amp_params, 4> amps{};
    const auto bias = sim::default_bias_levels();
    for (int a = 0; a < 4; ++a) amps[a] = {bias[a], 1.55, 2.7};
    sim::readout_options ro;
    ro.seed = 3;
    const auto dexp = backend::to_backend(backend::cpu{}, std::span<const float>(expected));
    auto frame = sim::read_out(backend::cpu{}, dexp, L, amps, {}, {}, ro);
    const auto cards = sim::amp_cards(L, amps, "r0");
    raw_data out;
    out.raw = std::move(frame.raw);
    out.amps = preproc::amplifiers_from_keywords([&](const std::string& key) -> std::optional<std::string> {
      for (const auto& c : cards)
        if (c.name == key) {
          if (auto s = std::get_if<std::string>(&c.value)) return *s;
          if (auto d = std::get_if<double>(&c.value)) return std::to_string(*d);
        }
      return std::nullopt;
    });
    return out;
  }();
  return r;
}

template <class B>
void BM_Preproc(benchmark::State& state) {
  B be;
  const auto& r = raw_frame();
  preproc::image img;
  for (auto _ : state) {
    img = preproc::preprocess(be, r.raw, r.amps);
    backend::synchronize(be);
  }
  if (img.amps.size() != 4 || std::abs(img.amps[0].readnoise - 2.7) > 0.1) state.SkipWithError("bad read noise");
  state.counters["pixels/s"] = benchmark::Counter(double(img.pix.size()), benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_FiberFlat(benchmark::State& state) {
  B be;
  auto t = flat_frame();
  fiberflat::result ff;
  for (auto _ : state) {
    ff = fiberflat::compute(be, make_frame_view(t.flux, t.ivar, t.mask, t.wave, t.res));
    backend::synchronize(be);
  }
  if (ff.solver_status != 0 || !(ff.chi2pdf < 1.5)) state.SkipWithError("fiberflat failed");
  state.counters["iterations"] = ff.iterations;
  state.counters["pixels/s"] = benchmark::Counter(double(kNspec) * kNwave, benchmark::Counter::kIsIterationInvariantRate);
}

template <class B>
void BM_Sky(benchmark::State& state) {
  B be;
  std::vector<int> skyf;
  for (int f = 4; f < kNspec; f += 10) skyf.push_back(f);
  sky::result m;
  for (auto _ : state) {
    state.PauseTiming();
    auto t = sky_frame();
    state.ResumeTiming();
    auto v = make_frame_view(t.flux, t.ivar, t.mask, t.wave, t.res);
    m = sky::compute(be, v, skyf);
    sky::subtract(be, v, m);
    backend::synchronize(be);
  }
  if (m.solver_status != 0) state.SkipWithError("sky solve failed");
  state.counters["pixels/s"] = benchmark::Counter(double(kNspec) * kNwave, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

#define SPECX_BENCH_BACKEND(B, TAG)                                                                                   \
  BENCHMARK_TEMPLATE(BM_Preproc, B)->Name("BM_Preproc/" TAG "/r-frame")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_FiberFlat, B)->Name("BM_FiberFlat/" TAG "/r-frame")->Unit(benchmark::kMillisecond)->UseRealTime(); \
  BENCHMARK_TEMPLATE(BM_Sky, B)->Name("BM_Sky/" TAG "/r-frame")->Unit(benchmark::kMillisecond)->UseRealTime();

SPECX_BENCH_BACKEND(specx::backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_BENCH_BACKEND(specx::backend::thrust_omp, "thrust-omp")
#endif
#if SPECX_COMPILING_CUDA
SPECX_BENCH_BACKEND(specx::backend::thrust_cuda, "thrust-cuda")
#endif

BENCHMARK_MAIN();
