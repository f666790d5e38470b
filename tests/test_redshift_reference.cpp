// The redshift fitter against redrock itself: tests/data/reference/redrock-sim24.fits
// holds 24 simulated DESI b/r/z spectra and redrock 0.22's outputs on them
// (README: /work/shared/data/reference/README-redrock.txt, summarised in
// docs/redshift.md). Checked here: the coarse z grids (to the last bit of pow), every
// template's χ²(z) and penalty scan (1e-4 relative; achieved ~1e-12), every best
// fit's Z within max(1e-5, 0.1·ZERR), SPECTYPE, SUBTYPE, ZWARN, NPIXELS,
// cpu ↔ thrust-omp parity (same Z, χ² to 1e-10), and that sharing R T between
// targets with identical resolution matrices changes no bit of the result.
#include "testing.hpp"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>

using namespace specx;
using namespace specx::redshift;

namespace {

const std::string ref_file() { return test::test_data_path("reference/redrock-sim24.fits"); }

std::vector<rr_template> reference_templates() {
  std::vector<rr_template> out;
  for (const auto& f : default_template_files(test::data_path("templates"))) out.push_back(load_template(f));
  return out;
}

target_batch reference_targets() {
  auto tb = targets_from_spectra(io::read_spectra(ref_file()));
  prepare(tb);
  return tb;
}

std::string type_hdu(const rr_template& t) { return t.rrtype + "_" + (t.subtype.empty() ? "NONE" : t.subtype); }

#if defined(__SANITIZE_ADDRESS__)
constexpr bool sanitized = true;  // sanitizer builds run a subset (~10x slower code)
#else
constexpr bool sanitized = false;
#endif

/// Templates used: all 11, or GALAXY, QSO LOZ, STAR A under sanitizers.
std::vector<std::size_t> used_templates() {
  if (sanitized) return {0, 1, 3};
  return {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
}

/// The first n targets of a batch.
target_batch first_targets(const target_batch& tb, std::size_t n) {
  target_batch out;
  out.targetid.assign(tb.targetid.begin(), tb.targetid.begin() + n);
  for (std::size_t c = 0; c < tb.ncamera(); ++c) {
    const auto& g = tb.cameras[c];
    const std::size_t nw = g.wave.size();
    out.add_camera(g.band, g.wave, {tb.flux[c].begin(), tb.flux[c].begin() + n * nw},
                   {tb.ivar[c].begin(), tb.ivar[c].begin() + n * nw},
                   {tb.resolution[c].begin(), tb.resolution[c].begin() + n * g.ndiag * nw}, g.ndiag);
  }
  return out;
}

/// Everything zfind computes for the reference file (cpu backend), once.
const zfind_result& reference_result() {
  static const zfind_result r = [] {
    const auto all = reference_templates();
    std::vector<rr_template> tpl;
    for (auto k : used_templates()) tpl.push_back(all[k]);
    return zfind(backend::cpu{}, tpl, sanitized ? first_targets(reference_targets(), 4) : reference_targets());
  }();
  return r;
}

}  // namespace

TEST_CASE("redshift reference: templates, defaults and grids equal redrock's") {
  const auto tpl = reference_templates();
  REQUIRE(tpl.size() == 11);
  io::fits_file f(ref_file());
  for (const auto& t : tpl) {
    CAPTURE(t.full_type());
    const auto z = f.read_image<double, 1>("REDSHIFTS_" + type_hdu(t));
    REQUIRE(z.size() == t.redshifts.size());
    // numpy's 10**x (SIMD pow, ≤ 1 ulp) and libm's pow may differ in the last bit.
    double worst = 0;
    for (std::size_t i = 0; i < z.size(); ++i) worst = std::max(worst, std::abs(t.redshifts[i] - z(i)));
    CHECK(worst <= 4e-16 * (1 + std::abs(z(z.size() - 1))));
    const auto igm = f.read_key<std::string>("IGMMODEL");
    CHECK(std::string(igm_model_name(t.igm)) == igm);
  }
  // The GALAXY file here has neither RRIGM nor VERSION (README §4): defaults.
  CHECK(tpl[0].version == "unknown");
  CHECK(tpl[0].igm == igm_model::none);
  CHECK(tpl[1].igm == igm_model::kamble20);
  CHECK(tpl[3].igm == igm_model::none);
  CHECK(tpl[0].redshifts.size() == 1446);
  CHECK(tpl[3].redshifts.size() == 101);
}

TEST_CASE("redshift reference: pixel masks give redrock's NPIXELS") {
  const auto tb = reference_targets();
  REQUIRE(tb.ntarget() == 24);
  for (std::size_t t = 0; t < tb.ntarget(); ++t) CHECK(tb.npixels(t) == 7929);
}

TEST_CASE("redshift reference: scans and best fits equal redrock's") {
  const auto& r = reference_result();
  const auto all = reference_templates();
  io::fits_file f(ref_file());
  double worst_scan = 0, worst_pen = 0;
  const auto used = used_templates();
  REQUIRE(r.scans.size() == used.size());
  for (std::size_t k = 0; k < used.size(); ++k) {
    const auto c2 = f.read_image<double, 2>("CHI2_" + type_hdu(all[used[k]]));
    const auto pe = f.read_image<double, 2>("PENALTY_" + type_hdu(all[used[k]]));
    const auto& s = r.scans[k];
    REQUIRE(c2.shape()[1] == s.nz());
    for (std::size_t i = 0; i < s.ntarget * s.nz(); ++i) {
      worst_scan = std::max(worst_scan, std::abs(s.chi2[i] - c2.data()[i]) / std::abs(c2.data()[i]));
      worst_pen = std::max(worst_pen, std::abs(s.penalty[i] - pe.data()[i]) / std::max(1.0, std::abs(c2.data()[i])));
    }
  }
  MESSAGE("max relative chi2(z) deviation from redrock: " << worst_scan << ", penalty/chi2: " << worst_pen);
  CHECK(worst_scan < 1e-4);
  CHECK(worst_pen < 1e-4);

  const auto ref = io::read_table(f, "REDSHIFTS");
  const auto z = ref.values<double>("Z"), zerr = ref.values<double>("ZERR"), chi2 = ref.values<double>("CHI2"),
             dchi2 = ref.values<double>("DELTACHI2");
  const auto zwarn = ref.values<std::int64_t>("ZWARN"), npix = ref.values<std::int64_t>("NPIXELS");
  const auto st = ref.strings("SPECTYPE"), sub = ref.strings("SUBTYPE");
  double worst_dz = 0, worst_dz_rel = 0, worst_chi2 = 0, worst_zerr = 0;
  if (sanitized) return;  // best fits need all templates
  REQUIRE(r.targets.size() == 24);
  for (std::size_t t = 0; t < 24; ++t) {
    const auto& best = r.targets[t].fits.front();
    CAPTURE(r.targets[t].targetid);
    CHECK(best.spectype == st[t]);
    CHECK(best.subtype == sub[t]);
    CHECK(best.zwarn == zwarn(t));
    CHECK(static_cast<std::int64_t>(best.npixels) == npix(t));
    const double tol = std::max(1e-5, 0.1 * zerr(t));
    CHECK(std::abs(best.z - z(t)) <= tol);
    worst_dz = std::max(worst_dz, std::abs(best.z - z(t)));
    worst_dz_rel = std::max(worst_dz_rel, std::abs(best.z - z(t)) / zerr(t));
    worst_zerr = std::max(worst_zerr, std::abs(best.zerr - zerr(t)) / zerr(t));
    worst_chi2 = std::max(worst_chi2, std::abs(best.chi2 - chi2(t)) / chi2(t));
    CHECK(best.deltachi2 == doctest::Approx(dchi2(t)).epsilon(1e-4));
  }
  MESSAGE("best fits: max |dZ| " << worst_dz << " (" << worst_dz_rel << " ZERR), ZERR rel " << worst_zerr
                                 << ", CHI2 rel " << worst_chi2);
}

TEST_CASE_TEMPLATE("redshift reference: every backend equals cpu", B, SPECX_TEST_BACKENDS) {
  // 3 targets x 3 templates (GALAXY, QSO LOZ, STAR A): every kernel path.
  const auto all = reference_templates();
  const std::vector<rr_template> tpl{all[0], all[1], all[3]};
  const auto tb0 = reference_targets();
  const auto tb = first_targets(tb0, 3);
  const auto a = zfind(backend::cpu{}, tpl, tb);
  const auto b = zfind(B{}, tpl, tb);
  double worst = 0;
  for (std::size_t k = 0; k < a.scans.size(); ++k)
    for (std::size_t i = 0; i < a.scans[k].chi2.size(); ++i)
      worst = std::max(worst, std::abs(a.scans[k].chi2[i] - b.scans[k].chi2[i]) / std::abs(a.scans[k].chi2[i]));
  MESSAGE(B::name << " vs cpu: max relative chi2 difference " << worst);
  CHECK(worst <= 1e-10);
  for (std::size_t t = 0; t < a.targets.size(); ++t) {
    REQUIRE(a.targets[t].fits.size() == b.targets[t].fits.size());
    for (std::size_t k = 0; k < a.targets[t].fits.size(); ++k) {
      CHECK(a.targets[t].fits[k].z == doctest::Approx(b.targets[t].fits[k].z).epsilon(1e-12));
      CHECK(a.targets[t].fits[k].spectype == b.targets[t].fits[k].spectype);
      CHECK(a.targets[t].fits[k].zwarn == b.targets[t].fits[k].zwarn);
    }
  }
}

TEST_CASE_TEMPLATE("redshift reference: targets sharing a resolution matrix give the same bits", B, SPECX_TEST_BACKENDS) {
  // The 24 reference targets share one resolution matrix, so the host kernel forms
  // R T once for all of them. Storage entries outside the matrix are never read:
  // writing a different value there into targets 1 and 2 makes every target its own
  // group (R T formed per target) with the same numbers, so χ² must agree exactly.
  const auto all = reference_templates();
  const std::vector<rr_template> tpl{all[0], all[3]};
  const auto tb = first_targets(reference_targets(), 3);
  auto split = tb;
  for (std::size_t c = 0; c < split.ncamera(); ++c) {
    const std::size_t n = split.cameras[c].ndiag * split.cameras[c].wave.size();
    for (std::size_t t = 1; t < 3; ++t) split.resolution[c][t * n] = 1000.0 + static_cast<double>(t);  // (d 0, j 0)
  }
  const device_targets<B> g1(B{}, tb), g3(B{}, split);
  CHECK(g1.group_start.size() == 2);
  CHECK(g3.group_start.size() == 4);
  const auto a = zfind(B{}, tpl, tb);
  const auto b = zfind(B{}, tpl, split);
  for (std::size_t k = 0; k < a.scans.size(); ++k)
    for (std::size_t i = 0; i < a.scans[k].chi2.size(); ++i) {
      REQUIRE(a.scans[k].chi2[i] == b.scans[k].chi2[i]);
      REQUIRE(a.scans[k].penalty[i] == b.scans[k].penalty[i]);
    }
  for (std::size_t t = 0; t < a.targets.size(); ++t) {
    REQUIRE(a.targets[t].fits.size() == b.targets[t].fits.size());
    for (std::size_t k = 0; k < a.targets[t].fits.size(); ++k) {
      CHECK(a.targets[t].fits[k].z == b.targets[t].fits[k].z);
      CHECK(a.targets[t].fits[k].chi2 == b.targets[t].fits[k].chi2);
    }
  }
}
