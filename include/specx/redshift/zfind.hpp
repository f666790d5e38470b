// zfind: the whole redshift fit of a target batch against a template set —
// coarse scans (zscan.hpp), refinement of each template's best minima (fitz.hpp),
// and the ranking across templates with DELTACHI2 and ZWARN (redrock's zfind).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "fitz.hpp"
#include "targets.hpp"
#include "templates.hpp"
#include "zscan.hpp"
#include "zwarn.hpp"

namespace specx::redshift {

/// One candidate redshift (a row of redrock's ZFIT table).
struct candidate {
  double z = 0, zerr = -1, chi2 = detail::bad_chi2, deltachi2 = 0;
  std::int64_t zwarn = 0;
  std::string spectype, subtype;   ///< subtype "" when none
  std::vector<double> coeff;       ///< [ncoeff]
  std::size_t ncoeff = 0, npixels = 0;
  std::size_t template_index = 0;  ///< into the template list
  std::vector<double> zz, zzchi2;  ///< the fine grid and its χ² + penalty
  double max_velo_diff = 1000;
};

/// All candidates of one target, best first (fits[0] is the REDSHIFTS row).
struct target_result {
  std::int64_t targetid = 0;
  std::vector<candidate> fits;
};

/// How the coarse χ²(z) scan treats the targets' resolution matrices.
///  * exact: every (target, z) fitted with the target's own R (redrock);
///  * two_pass: a first pass with one shared R per camera (the batch mean), so
///    R T is formed once per redshift for all targets, then the exact χ² (own R)
///    in windows of ±window_halfwidth grid points around each target's first
///    `candidate_windows` minima of that pass, widened until every minimum of the
///    exact values lies strictly inside a window. Only exact values are
///    refined and ranked: the minima refined are those of the exact scan unless
///    a target's exact scan has a minimum outside every window that ranks among
///    the first minima it refines (the approximation would have to move it past
///    `candidate_windows` others). A target whose windows run out before
///    `nminima` results are kept gets its exact scan everywhere. Templates with
///    short grids (≤ exact_grid_max redshifts: the stars), and batches where
///    R is shared anyway, are scanned exactly, as is everything on devices
///    (their kernel forms R T per fit in any case). scan_result::exact marks the
///    values computed with the target's own R.
enum class coarse_scan { exact, two_pass };

/// Options of zfind (rrdesi's defaults).
struct zfind_options {
  std::size_t nminima = 3;           ///< minima kept per template and per spectype
  std::size_t zminfit_npoints = 15;  ///< fine-grid points around each minimum
  bool keep_scans = true;            ///< return every template's χ²(z) scan
  coarse_scan coarse = coarse_scan::two_pass;
  std::size_t candidate_windows = 8;   ///< two_pass: minima of the first pass rescored per target
  std::size_t window_halfwidth = 2;    ///< two_pass: grid points on each side of a minimum
  std::size_t exact_grid_max = 400;    ///< two_pass: templates with at most this many redshifts are exact
  scan_options scan;
};

/// Output of zfind.
struct zfind_result {
  std::vector<target_result> targets;  ///< in batch order
  std::vector<scan_result> scans;      ///< per template (if keep_scans)
  double seconds_scan = 0, seconds_fit = 0;
};

namespace detail {

/// fitz over all targets of a batch for one template, in rounds: each round
/// refines the next acceptable coarse minimum of every unfinished target, all
/// targets' fine grids evaluated in one batch.
///
/// `minima` gives each target's coarse minima in the order to refine them (empty:
/// find_minima of the whole scan); only targets with active[i] (empty: all) are
/// refined. exhausted[i] is set when target i ran out of minima before nminima
/// results were kept.
template <backend::Backend B>
std::vector<std::vector<candidate>> fitz_batch(B be, const device_template<B>& dt, const device_targets<B>& tg,
                                               const scan_result& scan, std::size_t tindex,
                                               const zfind_options& opt,
                                               std::vector<std::vector<std::size_t>> minima = {},
                                               const std::vector<char>& active = {},
                                               std::vector<char>* exhausted = nullptr) {
  const rr_template& t = *dt.host;
  const std::size_t nt = tg.ntarget, nz = scan.nz(), nb = t.nbasis, np = opt.zminfit_npoints;
  const auto& zgrid = t.redshifts;
  const double maxdv = t.max_velo_diff();
  std::vector<std::vector<candidate>> res(nt);
  const bool given = !minima.empty();
  minima.resize(nt);
  std::vector<std::size_t> pos(nt, 0);
  std::vector<char> done(nt, 0);
  if (exhausted) exhausted->assign(nt, 0);
  for (std::size_t i = 0; i < nt; ++i) {
    if (tg.nodata[i] || (!active.empty() && !active[i])) {
      done[i] = 1;
      continue;
    }
    if (given) continue;
    std::vector<double> eff(nz);
    for (std::size_t j = 0; j < nz; ++j) eff[j] = scan.chi2[i * nz + j] + scan.penalty[i * nz + j];
    minima[i] = find_minima(eff);
  }
  auto near_kept = [&](std::size_t i, double z) {
    for (const auto& c : res[i])
      if (std::abs(velocity_difference(z, c.z)) < maxdv) return true;
    return false;
  };
  for (;;) {
    std::vector<std::size_t> item_target, item_imin;
    for (std::size_t i = 0; i < nt; ++i) {
      while (!done[i]) {
        if (res[i].size() >= opt.nminima || pos[i] >= minima[i].size()) {
          if (exhausted && res[i].size() < opt.nminima) (*exhausted)[i] = 1;
          done[i] = 1;
          break;
        }
        const std::size_t imin = minima[i][pos[i]++];
        if (near_kept(i, zgrid[imin])) continue;
        item_target.push_back(i);
        item_imin.push_back(imin);
        break;
      }
    }
    if (item_target.empty()) break;
    const std::size_t ni = item_target.size();
    // The fine grid's ends are the coarse neighbours z[i∓1] exactly (linspace keeps
    // its end points), whose χ² + penalty the scan already holds, computed by the
    // same kernel from the same numbers: only the np − 2 interior points are fitted.
    const std::size_t nin = np >= 2 ? np - 2 : 0, jin = np >= 2 ? 1 : 0;
    std::vector<double> zs;
    std::vector<std::uint32_t> ts;
    std::vector<std::vector<double>> zz(ni);
    std::vector<std::size_t> ilos(ni), ihis(ni);
    for (std::size_t k = 0; k < ni; ++k) {
      const std::size_t imin = item_imin[k];
      const std::size_t ilo = imin == 0 ? 0 : imin - 1, ihi = std::min(imin + 1, nz - 1);
      ilos[k] = ilo;
      ihis[k] = ihi;
      zz[k] = linspace(zgrid[ilo], zgrid[ihi], np);
      for (std::size_t j = jin; j < jin + nin; ++j) {
        zs.push_back(zz[k][j]);
        ts.push_back(static_cast<std::uint32_t>(item_target[k]));
      }
    }
    const auto fine = fit_pairs(be, dt, tg, zs, ts, opt.scan);
    std::vector<parabola_fit> pf(ni);
    std::vector<std::vector<double>> zzchi2(ni, std::vector<double>(np));
    std::vector<double> zmin(ni);
    std::vector<std::uint32_t> ts2(ni);
    for (std::size_t k = 0; k < ni; ++k) {
      const std::size_t row = item_target[k] * nz;
      for (std::size_t j = 0; j < nin; ++j) zzchi2[k][jin + j] = fine.chi2[k * nin + j] + fine.penalty[k * nin + j];
      if (np >= 2) {
        zzchi2[k][0] = scan.chi2[row + ilos[k]] + scan.penalty[row + ilos[k]];
        zzchi2[k][np - 1] = scan.chi2[row + ihis[k]] + scan.penalty[row + ihis[k]];
      } else {
        zzchi2[k][0] = scan.chi2[row + ilos[k]] + scan.penalty[row + ilos[k]];
      }
      const std::size_t am = static_cast<std::size_t>(
          std::min_element(zzchi2[k].begin(), zzchi2[k].end()) - zzchi2[k].begin());
      const std::size_t c = std::min(std::max<std::size_t>(am, 1), np - 2);
      pf[k] = minfit(&zz[k][c - 1], &zzchi2[k][c - 1]);
      zmin[k] = pf[k].x0;
      ts2[k] = static_cast<std::uint32_t>(item_target[k]);
    }
    // Coefficients at the vertex (pairs the template cannot cover stay 9e99 / 0).
    const auto atmin = fit_pairs(be, dt, tg, zmin, ts2, opt.scan);
    for (std::size_t k = 0; k < ni; ++k) {
      const std::size_t i = item_target[k];
      candidate c;
      c.zwarn = pf[k].zwarn;
      c.coeff.assign(atmin.coeff.begin() + k * nb, atmin.coeff.begin() + (k + 1) * nb);
      if (!covers(t, tg.cams, zmin[k])) {
        c.coeff.assign(nb, 0.0);
        c.zwarn |= zwarn::bad_minfit;
        if (zmin[k] < zgrid.front() || zmin[k] > zgrid.back()) c.zwarn |= zwarn::z_fitlimit;
      }
      double zbest = zmin[k], chi2min = pf[k].y0;
      if (zbest < zz[k].front() || zbest > zz[k].back()) {
        c.zwarn |= zwarn::bad_minfit;
        const std::size_t am = static_cast<std::size_t>(
            std::min_element(zzchi2[k].begin(), zzchi2[k].end()) - zzchi2[k].begin());
        zbest = zz[k][am];
        chi2min = zzchi2[k][am];
      }
      if (zbest < zgrid[1] || zbest > zgrid[nz - 2]) c.zwarn |= zwarn::z_fitlimit;
      if (zmin[k] < zgrid[1] || zmin[k] > zgrid[nz - 2]) c.zwarn |= zwarn::z_fitlimit;
      if (near_kept(i, zbest)) continue;
      c.z = zbest;
      c.zerr = pf[k].xerr;
      c.chi2 = chi2min;
      c.zz = zz[k];
      c.zzchi2 = zzchi2[k];
      c.spectype = t.rrtype;
      c.subtype = t.subtype;
      c.ncoeff = nb;
      c.npixels = tg.npixels[i];
      c.template_index = tindex;
      c.max_velo_diff = maxdv;
      res[i].push_back(std::move(c));
    }
  }
  for (auto& r : res)
    std::stable_sort(r.begin(), r.end(), [](const candidate& a, const candidate& b) { return a.chi2 < b.chi2; });
  return res;
}

/// Replaces the scan values at the (target, redshift index) pairs `need` (each
/// target's pairs adjacent, so the fits run in per-target tiles) by exact fits
/// with the target's own R, and marks them exact. Clears `need`.
template <backend::Backend B>
void rescore(B be, const device_template<B>& dt, const device_targets<B>& tg, scan_result& scan,
             std::vector<std::pair<std::uint32_t, std::size_t>>& need, const scan_options& opt) {
  if (need.empty()) return;
  std::sort(need.begin(), need.end());
  const std::size_t nz = scan.nz(), nb = scan.nbasis;
  std::vector<double> zs;
  std::vector<std::uint32_t> ts;
  for (const auto& [t, iz] : need) {
    ts.push_back(t);
    zs.push_back(scan.redshifts[iz]);
  }
  const auto v = fit_pairs(be, dt, tg, zs, ts, opt);
  for (std::size_t k = 0; k < need.size(); ++k) {
    const std::size_t cell = need[k].first * nz + need[k].second;
    scan.chi2[cell] = v.chi2[k];
    scan.penalty[cell] = v.penalty[k];
    std::copy_n(v.coeff.begin() + k * nb, nb, scan.coeff.begin() + cell * nb);
    scan.exact[cell] = 1;
  }
  need.clear();
}

/// Second pass of coarse_scan::two_pass (see there): exact values in widening
/// windows around the first pass's minima; returns every target's minima of the
/// exact values (both neighbours exact), ordered as find_minima orders them.
template <backend::Backend B>
std::vector<std::vector<std::size_t>> exact_windows(B be, const device_template<B>& dt,
                                                    const device_targets<B>& tg, scan_result& scan,
                                                    const zfind_options& opt) {
  const rr_template& t = *dt.host;
  const std::size_t nt = tg.ntarget, nz = scan.nz(), w = std::max<std::size_t>(opt.window_halfwidth, 1);
  scan.exact.assign(nt * nz, 0);
  for (std::size_t iz = 0; iz < nz; ++iz)
    if (!covers(t, tg.cams, scan.redshifts[iz]))  // 9e99 in both passes
      for (std::size_t i = 0; i < nt; ++i) scan.exact[i * nz + iz] = 1;
  std::vector<char> queued(nt * nz, 0);
  std::vector<std::pair<std::uint32_t, std::size_t>> need;
  auto request = [&](std::size_t i, std::size_t lo, std::size_t hi) {  // [lo, hi] ∩ grid
    for (std::size_t iz = lo; iz <= std::min(hi, nz - 1); ++iz)
      if (!scan.exact[i * nz + iz] && !queued[i * nz + iz]) {
        queued[i * nz + iz] = 1;
        need.emplace_back(static_cast<std::uint32_t>(i), iz);
      }
  };
  auto eff = [&](std::size_t i, std::size_t iz) { return scan.chi2[i * nz + iz] + scan.penalty[i * nz + iz]; };
  std::vector<double> row(nz);
  for (std::size_t i = 0; i < nt; ++i) {
    if (tg.nodata[i]) continue;
    for (std::size_t iz = 0; iz < nz; ++iz) row[iz] = eff(i, iz);
    const auto m = find_minima(row);
    for (std::size_t k = 0; k < m.size() && k < opt.candidate_windows; ++k)
      request(i, m[k] >= w ? m[k] - w : 0, m[k] + w);
  }
  // Is iz a local minimum of target i's exact values? A first-pass neighbour
  // counts as larger (open) or disqualifies iz (closed).
  auto is_min = [&](std::size_t i, std::size_t iz, bool closed) {
    const char* ex = scan.exact.data() + i * nz;
    const double v = eff(i, iz);
    auto below = [&](std::size_t j) { return ex[j] ? v <= eff(i, j) : !closed; };
    return ex[iz] && (iz == 0 || below(iz - 1)) && (iz + 1 == nz || below(iz + 1));
  };
  while (!need.empty()) {
    rescore(be, dt, tg, scan, need, opt.scan);
    // A minimum of the exact values next to a value of the first pass: widen the
    // window on that side.
    for (std::size_t i = 0; i < nt; ++i) {
      if (tg.nodata[i]) continue;
      const char* ex = scan.exact.data() + i * nz;
      for (std::size_t iz = 0; iz < nz; ++iz) {
        if (!is_min(i, iz, false)) continue;
        if (iz > 0 && !ex[iz - 1]) request(i, iz >= w ? iz - w : 0, iz - 1);
        if (iz + 1 < nz && !ex[iz + 1]) request(i, iz + 1, iz + w);
      }
    }
  }
  std::vector<std::vector<std::size_t>> minima(nt);
  for (std::size_t i = 0; i < nt; ++i) {
    if (tg.nodata[i]) continue;
    for (std::size_t iz = 0; iz < nz; ++iz)
      if (is_min(i, iz, true)) minima[i].push_back(iz);
    std::stable_sort(minima[i].begin(), minima[i].end(),
                     [&](std::size_t a, std::size_t b) { return eff(i, a) < eff(i, b); });
  }
  return minima;
}

/// One template's scan and refinement for every target of the batch (`shared`:
/// the first pass's R, null for an exact scan).
template <backend::Backend B>
std::pair<scan_result, std::vector<std::vector<candidate>>> scan_and_fit(B be, const device_template<B>& dt,
                                                                        const device_targets<B>& tg,
                                                                        const shared_resolution<B>* shared,
                                                                        std::size_t tindex,
                                                                        const zfind_options& opt, double& t_scan,
                                                                        double& t_fit) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const bool two_pass = shared && dt.host->redshifts.size() > opt.exact_grid_max;
  auto scan = zscan(be, dt, tg, opt.scan, two_pass ? shared : nullptr);
  std::vector<std::vector<std::size_t>> minima;
  if (two_pass) minima = exact_windows(be, dt, tg, scan, opt);
  const auto t1 = clock::now();
  std::vector<char> exhausted;
  auto fits = fitz_batch(be, dt, tg, scan, tindex, opt, std::move(minima), {}, two_pass ? &exhausted : nullptr);
  if (two_pass) {
    // Targets that ran out of windows: their exact scan everywhere, refined again.
    const std::size_t nt = tg.ntarget, nz = scan.nz();
    std::vector<char> redo(nt, 0);
    std::vector<std::pair<std::uint32_t, std::size_t>> need;
    for (std::size_t i = 0; i < nt; ++i)
      if (exhausted[i])
        for (std::size_t iz = 0; iz < nz; ++iz)
          if (!scan.exact[i * nz + iz]) {
            need.emplace_back(static_cast<std::uint32_t>(i), iz);
            redo[i] = 1;
          }
    if (!need.empty()) {
      rescore(be, dt, tg, scan, need, opt.scan);
      auto again = fitz_batch(be, dt, tg, scan, tindex, opt, {}, redo);
      for (std::size_t i = 0; i < nt; ++i)
        if (redo[i]) fits[i] = std::move(again[i]);
    }
  }
  t_scan += std::chrono::duration<double>(t1 - t0).count();
  t_fit += std::chrono::duration<double>(clock::now() - t1).count();
  return {std::move(scan), std::move(fits)};
}

/// zfind's ranking of one target's candidates from all templates.
inline void rank_candidates(std::vector<candidate>& fits, std::size_t nminima) {
  for (auto& c : fits) {
    if (c.npixels == 0) c.zwarn |= zwarn::nodata;
    if (c.npixels < 10 * c.ncoeff) c.zwarn |= zwarn::little_coverage;
  }
  auto order = [](const candidate& a, const candidate& b) {
    const bool ba = (a.zwarn & zwarn::badfit_mask) != 0, bb = (b.zwarn & zwarn::badfit_mask) != 0;
    if (ba != bb) return !ba;
    return a.chi2 < b.chi2;
  };
  std::stable_sort(fits.begin(), fits.end(), order);
  // Keep the first nminima of each spectype (groups in alphabetical order, as np.unique), then re-sort.
  std::map<std::string, std::size_t> seen;
  std::vector<candidate> kept;
  std::map<std::string, std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < fits.size(); ++i) groups[fits[i].spectype].push_back(i);
  for (auto& [st, ii] : groups)
    for (std::size_t k = 0; k < ii.size() && k < nminima; ++k) kept.push_back(std::move(fits[ii[k]]));
  std::stable_sort(kept.begin(), kept.end(), order);
  fits = std::move(kept);
  std::vector<double> chi2, z, dv;
  std::vector<std::int64_t> zw;
  for (const auto& c : fits) {
    chi2.push_back(c.chi2);
    z.push_back(c.z);
    zw.push_back(c.zwarn);
    dv.push_back(c.max_velo_diff);
  }
  std::vector<double> dchi2;
  std::vector<char> small;
  calc_deltachi2(chi2, z, zw, dv, dchi2, small);
  for (std::size_t i = 0; i < fits.size(); ++i) {
    fits[i].deltachi2 = dchi2[i];
    if (small[i]) fits[i].zwarn |= zwarn::small_delta_chi2;
  }
}

}  // namespace detail

/// Fits every target of `tb` (prepared: see prepare()) against `templates` on
/// backend `be`. Targets without any valid pixel get one candidate per
/// spectype-less placeholder: Z = 0, ZERR = −1, CHI2 = 9e99, ZWARN = NODATA |
/// LITTLE_COVERAGE | BAD_MINFIT (redrock would scan 9e99 everywhere). Blocking.
template <backend::Backend B>
zfind_result zfind(B be, const std::vector<rr_template>& templates, const target_batch& tb,
                   const zfind_options& opt = {}) {
  using clock = std::chrono::steady_clock;
  if (templates.empty()) throw invalid_argument("specx::redshift::zfind: no templates");
  zfind_result out;
  const device_targets<B> tg(be, tb);
  const std::size_t nt = tg.ntarget;
  // The two-pass scan pays only where targets have different R, and only on
  // hosts: the device kernel forms R T per fit whether R is shared or not.
  std::optional<shared_resolution<B>> shared;
  if (opt.coarse == coarse_scan::two_pass && backend::host_accessible_v<B> && tg.group_start.size() > 2) {
    const auto t0 = clock::now();
    shared.emplace(be, tb);
    out.seconds_scan += std::chrono::duration<double>(clock::now() - t0).count();
  }
  std::vector<std::vector<candidate>> all(nt);
  for (std::size_t ti = 0; ti < templates.size(); ++ti) {
    const device_template<B> dt(be, templates[ti]);
    auto [scan, fits] = detail::scan_and_fit(be, dt, tg, shared ? &*shared : nullptr, ti, opt, out.seconds_scan,
                                             out.seconds_fit);
    for (std::size_t i = 0; i < nt; ++i)
      for (auto& c : fits[i]) all[i].push_back(std::move(c));
    if (opt.keep_scans) out.scans.push_back(std::move(scan));
  }
  out.targets.resize(nt);
  for (std::size_t i = 0; i < nt; ++i) {
    out.targets[i].targetid = tb.targetid[i];
    if (tg.nodata[i] || all[i].empty()) {
      candidate c;
      c.z = 0;
      c.zerr = -1;
      c.zwarn = zwarn::nodata | zwarn::little_coverage | zwarn::bad_minfit;
      c.spectype = templates.front().rrtype;
      c.subtype = templates.front().subtype;
      c.ncoeff = templates.front().nbasis;
      c.coeff.assign(c.ncoeff, 0.0);
      c.npixels = tg.npixels[i];
      if (!tg.nodata[i]) c.zwarn &= ~zwarn::nodata;
      out.targets[i].fits.push_back(std::move(c));
      continue;
    }
    detail::rank_candidates(all[i], opt.nminima);
    out.targets[i].fits = std::move(all[i]);
  }
  return out;
}

}  // namespace specx::redshift
