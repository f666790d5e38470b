// Redshift benchmarks: the full zfind (scan + refinement) of the 24 reference
// targets (tests/data/reference/redrock-sim24.fits, b+r+z) with the 11 default
// templates and redrock's grids, per backend (argument 0: the file as is, all
// targets sharing one resolution matrix, so R T is formed once per redshift;
// argument 1: every target's R made distinct, the general case; second argument:
// zfind's coarse_scan, 0 = two_pass (the default), 1 = exact); and the coarse
// scan of one template.
// Counters: s/target (wall, all threads), µs per (target, template, z) and the
// GFLOP/s of the scan kernel (2·npix·nbasis·(ndiag + (nbasis+3)/2) flops per fit).
// Results are validated against redrock's best fits outside the timed region.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "bench_common.hpp"

#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>
#include <specx/sim/redshift_targets.hpp>

using namespace specx;
using namespace specx::redshift;

namespace {
const std::string data_dir = SPECX_DATA_DIR;
const std::string ref_file = data_dir + "/../tests/data/reference/redrock-sim24.fits";

const std::vector<rr_template>& templates() {
  static const auto t = [] {
    std::vector<rr_template> v;
    for (const auto& f : default_template_files(data_dir + "/templates")) v.push_back(load_template(f));
    return v;
  }();
  return t;
}
const target_batch& targets() {
  static const auto tb = [] {
    auto t = targets_from_spectra(io::read_spectra(ref_file));
    prepare(t);
    return t;
  }();
  return tb;
}
/// The reference targets with every target's resolution matrix scaled by
/// (1 + 1e-9·t): no two targets share R (the general case of real coadds, where
/// each fiber has its own), the best fits stay redrock's.
const target_batch& targets_distinct_r() {
  static const auto tb = [] {
    auto t = targets();
    for (std::size_t c = 0; c < t.ncamera(); ++c) {
      const std::size_t n = t.cameras[c].ndiag * t.cameras[c].wave.size();
      for (std::size_t k = 0; k < t.ntarget(); ++k)
        for (std::size_t i = 0; i < n; ++i) t.resolution[c][k * n + i] *= 1.0 + 1e-9 * static_cast<double>(k);
    }
    return t;
  }();
  return tb;
}
double fit_flops(const rr_template& t, const target_batch& tb) {
  const double nb = static_cast<double>(t.nbasis);
  return 2.0 * static_cast<double>(tb.npix()) * nb * (11.0 + (nb + 3) / 2) * static_cast<double>(t.redshifts.size());
}
}  // namespace

template <class B>
static void BM_RedshiftZfind(benchmark::State& state) {
  const auto& tpl = templates();
  const auto& tb = state.range(0) == 0 ? targets() : targets_distinct_r();
  zfind_options opt;
  opt.coarse = state.range(1) == 0 ? coarse_scan::two_pass : coarse_scan::exact;
  state.SetLabel(state.range(1) == 0 ? "two_pass" : "exact");
  zfind_result r;
  for (auto _ : state) r = zfind(B{}, tpl, tb, opt);
  // Validation (outside the timed loop): every best fit's SPECTYPE/SUBTYPE as redrock.
  io::fits_file f(ref_file);
  const auto ref = io::read_table(f, "REDSHIFTS");
  const auto st = ref.strings("SUBTYPE");
  std::size_t bad = 0;
  for (std::size_t t = 0; t < r.targets.size(); ++t) bad += r.targets[t].fits.front().subtype != st[t];
  if (bad) state.SkipWithError("best fits differ from redrock");
  double nfit = 0, flops = 0;
  for (const auto& t : tpl) {
    nfit += static_cast<double>(t.redshifts.size()) * static_cast<double>(tb.ntarget());
    flops += fit_flops(t, tb) * static_cast<double>(tb.ntarget());
  }
  state.counters["s/target"] = benchmark::Counter(static_cast<double>(tb.ntarget()),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
  state.counters["us/fit"] = benchmark::Counter(nfit * 1e-6, benchmark::Counter::kIsIterationInvariantRate |
                                                                 benchmark::Counter::kInvert);
  state.counters["scan_s"] = r.seconds_scan;
  state.counters["refine_s"] = r.seconds_fit;
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

template <class B>
static void BM_RedshiftScan(benchmark::State& state) {
  const auto& t = templates()[static_cast<std::size_t>(state.range(0))];
  const auto& tb = targets();
  B be;
  const device_targets<B> tg(be, tb);
  const device_template<B> dt(be, t);
  for (auto _ : state) benchmark::DoNotOptimize(zscan(be, dt, tg));
  state.SetLabel(t.full_type());
  state.counters["us/fit"] = benchmark::Counter(
      static_cast<double>(t.redshifts.size() * tb.ntarget()) * 1e-6,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["GFLOP/s"] = benchmark::Counter(fit_flops(t, tb) * static_cast<double>(tb.ntarget()),
                                                 benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

/// The statistics run of the truth test (tests/test_redshift_truth.cpp): 300
/// galaxies, 150 quasars, 150 stars (sim::redshift_targets, each with its own
/// resolution), zfind with the default options; argument: the depth, median r
/// flux in [1, 3] (×1, the test's) or ×10 (high S/N, where ZERR pulls should
/// have unit rms). Counters: the fraction of each
/// class with the right SPECTYPE, |Δz|/(1+z) < 0.0033 and ZWARN = 0; the rms of
/// the ZERR pulls (z − z_true)/ZERR of the right ones; s/target. The timed
/// region is zfind only.
template <class B>
static void BM_RedshiftTruth(benchmark::State& state) {
  const auto& tpl = templates();
  const std::size_t ngal = 300, nqso = 150, nstar = 150;
  const auto tr = sim::draw_redshift_truths(tpl, ngal, nqso, nstar, 2024);
  const double depth = static_cast<double>(state.range(0));
  auto tb = sim::redshift_targets(tpl, tr, {.median_min = depth, .median_max = 3 * depth, .seed = 7});
  prepare(tb);
  zfind_result r;
  for (auto _ : state) r = zfind(B{}, tpl, tb);
  double ok[3] = {}, n[3] = {}, pull2[3] = {}, npull[3] = {};
  for (std::size_t t = 0; t < tr.size(); ++t) {
    const int cls = t < ngal ? 0 : (t < ngal + nqso ? 1 : 2);
    const auto& b = r.targets[t].fits.front();
    const double dz = (b.z - tr[t].z) / (1 + tr[t].z);
    n[cls] += 1;
    if (b.spectype == tpl[tr[t].tpl].rrtype && std::abs(dz) < 0.0033 && b.zwarn == 0) {
      ok[cls] += 1;
      pull2[cls] += std::pow((b.z - tr[t].z) / b.zerr, 2);
      npull[cls] += 1;
    }
  }
  const char* name[3] = {"galaxy", "qso", "star"};
  for (int c = 0; c < 3; ++c) {
    state.counters[std::string(name[c]) + "_ok"] = ok[c] / n[c];
    state.counters[std::string(name[c]) + "_pull_rms"] = std::sqrt(pull2[c] / std::max(npull[c], 1.0));
  }
  state.counters["s/target"] = benchmark::Counter(static_cast<double>(tr.size()),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
}

/// The GPU figure: a 5000-target tile (2500 galaxies, 1250 quasars, 1250
/// stars, each with its own R) with the default templates and grids, scans not
/// kept; wall time of zfind (upload included). Registered for CUDA only (one core
/// would take ~15 min). Counter: the fraction of right answers, as a check.
template <class B>
static void BM_RedshiftTile(benchmark::State& state) {
  const auto& tpl = templates();
  const std::size_t n = static_cast<std::size_t>(state.range(0));
  const auto tr = sim::draw_redshift_truths(tpl, n / 2, n / 4, n - n / 2 - n / 4, 5000);
  auto tb = sim::redshift_targets(tpl, tr, {.seed = 11});
  prepare(tb);
  zfind_options opt;
  opt.keep_scans = false;
  zfind_result r;
  for (auto _ : state) r = zfind(B{}, tpl, tb, opt);
  double ok = 0;
  for (std::size_t t = 0; t < tr.size(); ++t) {
    const auto& b = r.targets[t].fits.front();
    ok += b.spectype == tpl[tr[t].tpl].rrtype && std::abs(b.z - tr[t].z) / (1 + tr[t].z) < 0.0033 && b.zwarn == 0;
  }
  state.counters["ok"] = ok / static_cast<double>(tr.size());
  state.counters["s/target"] = benchmark::Counter(static_cast<double>(tr.size()),
                                                  benchmark::Counter::kIsIterationInvariantRate |
                                                      benchmark::Counter::kInvert);
}

#define SPECX_REDSHIFT_BENCH(B, TAG)                                                                        \
  BENCHMARK_TEMPLATE(BM_RedshiftZfind, B)->Name("BM_RedshiftZfind/" TAG "/24")                               \
      ->Args({0, 1})->Args({1, 1})->Args({1, 0})                                                            \
      ->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();                                             \
  BENCHMARK_TEMPLATE(BM_RedshiftScan, B)->Name("BM_RedshiftScan/" TAG "/24")->Arg(0)->Arg(1)->Arg(3)        \
      ->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();                                         \
  BENCHMARK_TEMPLATE(BM_RedshiftTruth, B)->Name("BM_RedshiftTruth/" TAG "/600")->Arg(1)->Arg(10)             \
      ->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

SPECX_REDSHIFT_BENCH(backend::cpu, "cpu")
#if SPECX_BENCH_THRUST_OMP
SPECX_REDSHIFT_BENCH(backend::thrust_omp, "thrust-omp")
#endif
#if defined(__CUDACC__)
SPECX_REDSHIFT_BENCH(backend::thrust_cuda, "thrust-cuda")
BENCHMARK_TEMPLATE(BM_RedshiftTile, backend::thrust_cuda)->Name("BM_RedshiftTile/thrust-cuda")->Arg(5000)
    ->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
#endif

BENCHMARK_MAIN();
