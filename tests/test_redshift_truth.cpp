// Truth test: spectra simulated from the templates at known redshifts
// (sim::redshift_targets: DESI's b/r/z grids, a per-target resolution whose
// width drifts along each camera, IGM for quasars, noise at a median r S/N of
// 1.25–3.75 per pixel). Every target must come back with the right SPECTYPE,
// |Δz|/(1+z) < 0.0033 and ZWARN = 0 (the issue asks ≥ 99.5 % of galaxies and
// stars, ≥ 98 % of quasars: on these sample sizes that is no failure), ZERR
// pulls of order one, and zfind's two-pass coarse scan must give exactly the
// exact scan's answers. The statistics run (hundreds per class) is the
// benchmark BM_RedshiftTruth (bench/bench_redshift.cpp).
#include "testing.hpp"

#include <cmath>
#include <string>
#include <vector>

#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>
#include <specx/sim/redshift_targets.hpp>

using namespace specx;
using namespace specx::redshift;

TEST_CASE("redshift truth: simulated galaxies, quasars and stars, two-pass scan = exact scan") {
#if defined(__SANITIZE_ADDRESS__)
  const std::size_t ngal = 2, nqso = 2, nstar = 2;
#else
  const std::size_t ngal = 24, nqso = 12, nstar = 12;
#endif
  std::vector<rr_template> tpl;
  for (const auto& f : default_template_files(test::data_path("templates"))) tpl.push_back(load_template(f));
  const auto tr = sim::draw_redshift_truths(tpl, ngal, nqso, nstar, 2718);
  sim::redshift_sim_options so;
  so.seed = 99;
  auto tb = sim::redshift_targets(tpl, tr, so);
  prepare(tb);
  zfind_options fast, exact;
  fast.coarse = coarse_scan::two_pass;
  exact.coarse = coarse_scan::exact;
  const auto r = zfind(backend::cpu{}, tpl, tb, fast);
  const auto rx = zfind(backend::cpu{}, tpl, tb, exact);
  std::size_t ok = 0;
  double pull2 = 0;
  for (std::size_t t = 0; t < tr.size(); ++t) {
    const auto& b = r.targets[t].fits.front();
    const auto& T = tpl[tr[t].tpl];
    CAPTURE(t);
    CAPTURE(T.full_type());
    CAPTURE(tr[t].z);
    CAPTURE(b.z);
    CHECK(b.spectype == T.rrtype);
    CHECK(std::abs(b.z - tr[t].z) / (1 + tr[t].z) < 0.0033);
    CHECK(b.zwarn == 0);
    if (b.spectype == T.rrtype && std::abs(b.z - tr[t].z) / (1 + tr[t].z) < 0.0033 && b.zwarn == 0) ++ok;
    pull2 += std::pow((b.z - tr[t].z) / b.zerr, 2);
    // Two-pass = exact: every candidate (not only the best) with the same type,
    // Z, χ², ZWARN. The refinements are the same fits of the same numbers, so
    // equal up to the summation order of the coarse values at the fine grids'
    // ends (1e-12 relative allows for that; a different minimum would differ by
    // far more).
    const auto& a = r.targets[t].fits;
    const auto& e = rx.targets[t].fits;
    REQUIRE(a.size() == e.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      CAPTURE(k);
      CHECK(a[k].spectype == e[k].spectype);
      CHECK(a[k].subtype == e[k].subtype);
      CHECK(a[k].zwarn == e[k].zwarn);
      CHECK(std::abs(a[k].z - e[k].z) <= 1e-12 * (1 + std::abs(e[k].z)));
      CHECK(std::abs(a[k].chi2 - e[k].chi2) <= 1e-12 * std::abs(e[k].chi2));
      CHECK(std::abs(a[k].deltachi2 - e[k].deltachi2) <= 1e-9 * std::abs(e[k].chi2));
    }
  }
  const double pull_rms = std::sqrt(pull2 / static_cast<double>(tr.size()));
  MESSAGE("truth: " << ok << "/" << tr.size() << " right; ZERR pull rms " << pull_rms << "; two-pass "
                    << r.seconds_scan + r.seconds_fit << " s, exact " << rx.seconds_scan + rx.seconds_fit << " s");
  CHECK(pull_rms < 5);  // redrock's ZERR ignores template mismatch; order-one pulls expected
  // The exact values of the two-pass scan are the exact scan's.
  for (std::size_t k = 0; k < r.scans.size(); ++k) {
    const auto& s = r.scans[k];
    const auto& x = rx.scans[k];
    REQUIRE(s.chi2.size() == x.chi2.size());
    std::size_t nexact = 0, bad = 0;
    for (std::size_t i = 0; i < s.chi2.size(); ++i)
      if (s.exact.empty() || s.exact[i]) {
        ++nexact;
        bad += !(std::abs(s.chi2[i] - x.chi2[i]) <= 1e-12 * std::abs(x.chi2[i]));
      }
    CAPTURE(s.full_type);
    CHECK(nexact > 0);
    CHECK(bad == 0);
  }
}

TEST_CASE_TEMPLATE("redshift truth: the two-pass scan on every backend equals cpu", B, SPECX_TEST_BACKENDS) {
  std::vector<rr_template> tpl;
  for (const auto& f : default_template_files(test::data_path("templates"))) tpl.push_back(load_template(f));
  const auto tr = sim::draw_redshift_truths(tpl, 2, 2, 1, 31);
  auto tb = sim::redshift_targets(tpl, tr, {.seed = 5});
  prepare(tb);
  const auto rc = zfind(backend::cpu{}, tpl, tb);
  const auto rb = zfind(B{}, tpl, tb);
  for (std::size_t t = 0; t < tr.size(); ++t) {
    const auto& a = rb.targets[t].fits;
    const auto& e = rc.targets[t].fits;
    REQUIRE(a.size() == e.size());
    for (std::size_t k = 0; k < a.size(); ++k) {  // same arithmetic: 1e-10 relative (the parity criterion)
      CHECK(a[k].subtype == e[k].subtype);
      CHECK(a[k].zwarn == e[k].zwarn);
      CHECK(std::abs(a[k].z - e[k].z) <= 1e-10 * (1 + std::abs(e[k].z)));
      CHECK(std::abs(a[k].chi2 - e[k].chi2) <= 1e-10 * std::abs(e[k].chi2));
    }
  }
}
