// Bad inputs for the redshift fitter: targets without data, a missing camera,
// NaN/inf pixels, negative ivar, empty or unreadable template files, bad options.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>
#include <specx/sim/redshift_targets.hpp>

using namespace specx;
using namespace specx::redshift;

namespace {
/// Two reference targets (galaxy 1000, star 1018 moved to row 1) on b/r/z.
target_batch two_targets() {
  const auto s = io::read_spectra(test::test_data_path("reference/redrock-sim24.fits"));
  auto all = targets_from_spectra(s);
  target_batch tb;
  const std::size_t rows[2] = {0, 18};
  for (auto r : rows) tb.targetid.push_back(all.targetid[r]);
  for (std::size_t c = 0; c < all.ncamera(); ++c) {
    const auto& g = all.cameras[c];
    const std::size_t nw = g.wave.size(), nd = g.ndiag;
    std::vector<double> f, iv, res;
    for (auto r : rows) {
      f.insert(f.end(), all.flux[c].begin() + r * nw, all.flux[c].begin() + (r + 1) * nw);
      iv.insert(iv.end(), all.ivar[c].begin() + r * nw, all.ivar[c].begin() + (r + 1) * nw);
      res.insert(res.end(), all.resolution[c].begin() + r * nd * nw, all.resolution[c].begin() + (r + 1) * nd * nw);
    }
    tb.add_camera(g.band, g.wave, f, iv, res, nd);
  }
  return tb;
}
std::vector<rr_template> star_templates() {
  return {load_template(test::data_path("templates/rrtemplate-STAR-A-v0.1.fits")),
          load_template(test::data_path("templates/rrtemplate-STAR-F-v0.1.fits"))};
}
}  // namespace

TEST_CASE_TEMPLATE("redshift robustness: no data, missing camera, bad pixels", B, SPECX_TEST_BACKENDS) {
  const auto tpl = star_templates();
  auto tb = two_targets();
  // Target 0: no data at all (every ivar zero).
  for (auto& iv : tb.ivar)
    for (std::size_t i = 0; i < iv.size() / 2; ++i) iv[i] = 0;
  // Target 1 (star A): camera z missing, NaN and inf fluxes, negative ivar, NaN ivar.
  const std::size_t nz = tb.cameras[2].wave.size(), nb = tb.cameras[0].wave.size();
  for (std::size_t i = 0; i < nz; ++i) tb.ivar[2][nz + i] = 0;
  tb.flux[0][nb + 100] = std::numeric_limits<double>::quiet_NaN();
  tb.flux[0][nb + 101] = std::numeric_limits<double>::infinity();
  tb.ivar[0][nb + 102] = -1;
  tb.ivar[0][nb + 103] = std::numeric_limits<double>::quiet_NaN();
  tb.resolution[1][(1 * 11 + 5) * tb.cameras[1].wave.size() + 50] = std::numeric_limits<double>::quiet_NaN();
  prepare(tb);
  for (const auto& v : tb.flux)
    for (double x : v) REQUIRE(std::isfinite(x));
  for (const auto& v : tb.ivar)
    for (double x : v) REQUIRE((std::isfinite(x) && x >= 0));
  CHECK(tb.npixels(0) == 0);
  const auto r = zfind(B{}, tpl, tb);
  REQUIRE(r.targets.size() == 2);
  const auto& bad = r.targets[0].fits.front();
  CHECK((bad.zwarn & zwarn::nodata) != 0);
  CHECK(bad.npixels == 0);
  const auto& good = r.targets[1].fits.front();
  CHECK(good.spectype == "STAR");
  CHECK(good.subtype == "A");
  CHECK((good.zwarn & zwarn::nodata) == 0);
  CHECK(std::isfinite(good.chi2));
  CHECK(good.npixels < 7929 - 2800);
  CHECK(std::abs(good.z - 0.000219) < 1e-4);  // truth of TARGETID 1018
}

TEST_CASE("redshift robustness: a batch with two cameras only") {
  auto tb = two_targets();
  tb.cameras.pop_back();
  tb.flux.pop_back();
  tb.ivar.pop_back();
  tb.resolution.pop_back();
  prepare(tb);
  const auto r = zfind(backend::cpu{}, star_templates(), tb);
  CHECK(r.targets[1].fits.front().subtype == "A");
  CHECK(r.targets[1].fits.front().zwarn == 0);
}

TEST_CASE("redshift robustness: unusable templates and inputs are clear errors") {
  test::temp_dir d;
  {
    std::ofstream(d.file("rrtemplate-empty.fits")).flush();
    std::ofstream(d.file("rrtemplate-junk.fits")) << "this is not a FITS file";
  }
  CHECK_THROWS_AS(load_template(d.file("rrtemplate-empty.fits")), specx::error);
  CHECK_THROWS_AS(load_template(d.file("rrtemplate-junk.fits")), specx::error);
  CHECK_THROWS_AS(load_template(d.file("missing.fits")), specx::io_error);
  CHECK_THROWS_AS(load_templates(d.path.string() + "/nothing-here"), specx::error);
  CHECK_THROWS_AS(zfind(backend::cpu{}, std::vector<rr_template>{}, two_targets()), specx::invalid_argument);
  // Templates built from arrays: bad sizes, non-finite values, unknown IGM / type.
  CHECK_THROWS_AS(make_template("STAR", "A", "0.1", std::nullopt, {1000, 2000}, {1, 2, 3}), specx::bad_data);
  CHECK_THROWS_AS(make_template("STAR", "A", "0.1", std::nullopt, {1000, 2000}, {1, NAN}), specx::bad_data);
  CHECK_THROWS_AS(make_template("QSO", "", "9.9", std::nullopt, {1000, 2000}, {1, 2}), specx::invalid_argument);
  CHECK_THROWS_AS(make_template("QSO", "", "1.1", std::string("Madau95"), {1000, 2000}, {1, 2}),
                  specx::invalid_argument);
  CHECK_THROWS_AS(make_template("ALIEN", "", "1", std::string("None"), {1000, 2000}, {1, 2}),
                  specx::invalid_argument);
  // Defaults as redrock: QSO 1.1 → Kamble20, 1.0 → Calura12, STAR → None, RRIGM wins.
  CHECK(make_template("QSO", "", "1.1", std::nullopt, {1000, 2000}, {1, 2}).igm == igm_model::kamble20);
  CHECK(make_template("QSO", "", "1.0", std::nullopt, {1000, 2000}, {1, 2}).igm == igm_model::calura12);
  CHECK(make_template("STAR", "", std::nullopt, std::nullopt, {1000, 2000}, {1, 2}).igm == igm_model::none);
  CHECK(make_template("QSO", "", "1.1", std::string("Inoue14"), {1000, 2000}, {1, 2}).igm == igm_model::inoue14);
  // Shapes.
  target_batch tb;
  tb.targetid = {1};
  CHECK_THROWS_AS(tb.add_camera("B", {1, 2, 3}, {1, 2}, {1, 1, 1}), specx::invalid_argument);
  CHECK_THROWS_AS(tb.add_camera("B", {1, 3, 2}, {1, 2, 3}, {1, 1, 1}), specx::invalid_argument);
  CHECK_THROWS_AS(tb.add_camera("B", {1, 2, 3}, {1, 2, 3}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}, 2), specx::invalid_argument);
}

TEST_CASE("redshift robustness: IGM models") {
  // Kamble20: Lyα only; redward of Lyα T = 1; blueward exp(-A (λ/λα)^B).
  CHECK(lyman_series_transmission(igm_model::kamble20, 5000, 3.0) == 1.0);
  const double l = 4000, z = 3.0;
  CHECK(lyman_series_transmission(igm_model::kamble20, l, z) ==
        doctest::Approx(std::exp(-0.00554 * std::pow(l / 1215.67, 3.182))).epsilon(1e-14));
  // Calura12 below Lyβ: two factors.
  const double l2 = 1000 * 4.0;
  CHECK(lyman_series_transmission(igm_model::calura12, l2, z) ==
        doctest::Approx(std::exp(-0.0023 * std::pow(l2 / 1215.67, 3.64)) *
                        std::exp(-0.0023 / 5.2615 * std::pow(l2 / 1025.72, 3.64)))
            .epsilon(1e-14));
  CHECK(igm_transmission(igm_model::none, {}, 4000, 3) == 1.0);
  const auto inoue = load_inoue14(test::data_path("redshift"));
  const double ti = igm_transmission(igm_model::inoue14, inoue, 4000, 3.0);
  CHECK(ti > 0.3);
  CHECK(ti < 1.0);
  CHECK(parse_igm_model("kamble20") == igm_model::kamble20);
  CHECK_THROWS_AS(parse_igm_model("foo"), specx::invalid_argument);
}

TEST_CASE("redshift robustness: catalogue output round trip") {
  auto tb = two_targets();
  prepare(tb);
  const auto tpl = star_templates();
  const auto r = zfind(backend::cpu{}, tpl, tb);
  test::temp_dir d;
  redshift_write_options o;
  o.scans = true;
  o.zfit = true;
  write_redshifts(d.file("redrock.fits"), r, tpl, o);
  io::fits_file f(d.file("redrock.fits"));
  const auto t = io::read_table(f, "REDSHIFTS");
  REQUIRE(t.nrows() == 2);
  const char* cols[] = {"TARGETID", "Z", "ZERR", "ZWARN", "CHI2", "COEFF", "NPIXELS", "SPECTYPE", "SUBTYPE", "NCOEFF",
                        "DELTACHI2"};
  for (std::size_t i = 0; i < 11; ++i) CHECK(t.columns[i].name == cols[i]);
  CHECK(t.column("COEFF").repeat() == 10);
  CHECK(t.column("SUBTYPE").string_width == 20);
  CHECK(t.column("SPECTYPE").string_width == 6);
  CHECK(t.values<std::int64_t>("TARGETID")(1) == 1018);
  CHECK(t.values<double>("Z")(1) == r.targets[1].fits[0].z);
  CHECK(t.strings("SUBTYPE")[1] == "A");
  CHECK(f.has_hdu("CHI2_STAR_A"));
  CHECK(f.has_hdu("ZFIT"));
  const auto c2 = f.read_image<double, 2>("CHI2_STAR_A");
  CHECK(c2.shape()[0] == 2);
  CHECK(c2.shape()[1] == 101);
  CHECK_THROWS_AS(write_redshifts(d.file("redrock.fits"), r, tpl, {false}), specx::io_error);
}

TEST_CASE("redshift robustness: bad pixels and a target without data in the two-pass scan") {
  // The two-pass scan engages (GALAXY grid, every target its own R): a target with
  // no data must not enter the shared R or the windows, NaN/inf pixels and a NaN
  // resolution entry are masked by prepare(), and the answers equal the exact scan's.
  std::vector<rr_template> all;
  for (const auto& f : default_template_files(test::data_path("templates"))) all.push_back(load_template(f));
  const auto tr = sim::draw_redshift_truths(all, 4, 0, 0, 17);
  auto tb = sim::redshift_targets(all, tr, {.seed = 23});
  const std::size_t nb = tb.cameras[0].wave.size(), nr = tb.cameras[1].wave.size();
  for (auto& iv : tb.ivar)  // target 0: no data
    for (std::size_t i = 0; i < iv.size() / 4; ++i) iv[i] = 0;
  tb.flux[0][nb + 200] = std::numeric_limits<double>::quiet_NaN();  // target 1
  tb.flux[0][2 * nb + 300] = std::numeric_limits<double>::infinity();  // target 2
  tb.resolution[1][(3 * 11 + 5) * nr + 77] = std::numeric_limits<double>::quiet_NaN();  // target 3
  prepare(tb);
  const std::vector<rr_template> tpl{all[0]};
  zfind_options exact;
  exact.coarse = coarse_scan::exact;
  const auto r = zfind(backend::cpu{}, tpl, tb);
  const auto x = zfind(backend::cpu{}, tpl, tb, exact);
  REQUIRE(!r.scans.front().exact.empty());  // the two-pass path ran
  CHECK((r.targets[0].fits.front().zwarn & zwarn::nodata) != 0);
  for (std::size_t t = 1; t < tr.size(); ++t) {
    CAPTURE(t);
    const auto& a = r.targets[t].fits.front();
    const auto& e = x.targets[t].fits.front();
    CHECK(std::isfinite(a.chi2));
    CHECK(a.zwarn == e.zwarn);
    CHECK(std::abs(a.z - e.z) <= 1e-12 * (1 + e.z));
    CHECK(std::abs(a.z - tr[t].z) / (1 + tr[t].z) < 0.0033);
  }
}

#if !defined(__CUDACC__)
TEST_CASE("redshift χ² kernel: the host tiles' R·T equals the banded product at every chunk position") {
  // Tb[k, i] = Σ_d R[d, i + h − d]·T[k, i + h − d] over 0 ≤ i + h − d < nw, formed
  // by chunks of kChunk pixels: interior groups in wide vectors, the pixels near
  // a camera's ends with the bounds checked. Cameras shorter than a group, than a
  // chunk, and not a multiple of either, so that every chunk position occurs.
  // Reference: the sum written out with std::fma in the same order (d ascending).
  // Where the target has FMA the kernel's sums are contracted and equal it bit for
  // bit; without (a baseline x86-64 build) each of the 11 steps rounds twice, so
  // the bound is 2·11 roundings of Σ|R·T| (≤ 5e-15, here 1e-14), far below what
  // a misplaced diagonal or pixel gives (O(0.1–1)).
  using specx::redshift::detail::chi2_kernel;
  constexpr int NB = 5, nd = 11, h = nd / 2;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> U(-1, 1);
  for (const long nw : {7L, 29L, 128L, 131L, 300L, 2326L}) {
    std::vector<double> R(static_cast<std::size_t>(nd * nw)), T(static_cast<std::size_t>(NB * nw));
    for (auto& v : R) v = U(rng);
    for (auto& v : T) v = U(rng);
    double worst = 0;
    bool all_finite = true;
    for (long i0 = 0; i0 < nw; i0 += static_cast<long>(chi2_kernel::kChunk)) {
      const long n = std::min<long>(static_cast<long>(chi2_kernel::kChunk), nw - i0);
      alignas(64) double tb[NB][chi2_kernel::kChunk];
      all_finite = chi2_kernel::form_tb<NB>(R.data(), T.data(), nw, nd, i0, n, tb) && all_finite;
      for (int k = 0; k < NB; ++k)
        for (long q = 0; q < n; ++q) {
          const long i = i0 + q;
          double s = 0, mag = 0;
          for (int d = 0; d < nd; ++d) {
            const long j = i + h - d;
            if (j < 0 || j >= nw) continue;
            s = std::fma(R[static_cast<std::size_t>(d * nw + j)], T[static_cast<std::size_t>(k * nw + j)], s);
            mag += std::abs(R[static_cast<std::size_t>(d * nw + j)] * T[static_cast<std::size_t>(k * nw + j)]);
          }
          worst = std::max(worst, std::abs(tb[k][q] - s) / std::max(mag, 1e-300));
        }
    }
    INFO("camera of " << nw << " pixels: worst |ΔTb| / Σ|R·T| = " << worst);
    CHECK(all_finite);
    CHECK(worst <= 1e-14);
    // A non-finite template sample is reported by every chunk that uses it.
    for (const long jbad : {0L, nw / 2, nw - 1}) {
      auto Tbad = T;
      Tbad[static_cast<std::size_t>(2 * nw + jbad)] = std::numeric_limits<double>::infinity();
      for (long i0 = 0; i0 < nw; i0 += static_cast<long>(chi2_kernel::kChunk)) {
        const long n = std::min<long>(static_cast<long>(chi2_kernel::kChunk), nw - i0);
        if (jbad + h < i0 || jbad - h >= i0 + n) continue;  // no pixel of this chunk reads it
        alignas(64) double tb[NB][chi2_kernel::kChunk];
        INFO("camera " << nw << ", inf at " << jbad << ", chunk at " << i0);
        CHECK_FALSE(chi2_kernel::form_tb<NB>(R.data(), Tbad.data(), nw, nd, i0, n, tb));
      }
    }
  }
}
#endif
