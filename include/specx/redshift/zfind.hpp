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

/// Options of zfind (rrdesi's defaults).
struct zfind_options {
  std::size_t nminima = 3;           ///< minima kept per template and per spectype
  std::size_t zminfit_npoints = 15;  ///< fine-grid points around each minimum
  bool keep_scans = true;            ///< return every template's χ²(z) scan
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
template <backend::Backend B>
std::vector<std::vector<candidate>> fitz_batch(B be, const device_template<B>& dt, const device_targets<B>& tg,
                                               const scan_result& scan, std::size_t tindex,
                                               const zfind_options& opt) {
  const rr_template& t = *dt.host;
  const std::size_t nt = tg.ntarget, nz = scan.nz(), nb = t.nbasis, np = opt.zminfit_npoints;
  const auto& zgrid = t.redshifts;
  const double maxdv = t.max_velo_diff();
  std::vector<std::vector<candidate>> res(nt);
  std::vector<std::vector<std::size_t>> minima(nt);
  std::vector<std::size_t> pos(nt, 0);
  std::vector<char> done(nt, 0);
  for (std::size_t i = 0; i < nt; ++i) {
    if (tg.nodata[i]) {
      done[i] = 1;
      continue;
    }
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
  std::vector<std::vector<candidate>> all(nt);
  for (std::size_t ti = 0; ti < templates.size(); ++ti) {
    const device_template<B> dt(be, templates[ti]);
    const auto t0 = clock::now();
    auto scan = zscan(be, dt, tg, opt.scan);
    const auto t1 = clock::now();
    auto fits = detail::fitz_batch(be, dt, tg, scan, ti, opt);
    const auto t2 = clock::now();
    out.seconds_scan += std::chrono::duration<double>(t1 - t0).count();
    out.seconds_fit += std::chrono::duration<double>(t2 - t1).count();
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
