// Coadds across exposures (per camera) and across cameras (b/r/z onto one grid).
// See docs/coadd.md.
//
// Both are the same operation on a "stack": for each output spectrum g and each
// of its inputs e (an exposure, or a camera placed on the merged grid), the
// inverse-variance weighted mean
//   f[g, i] = Σ_e w_e[i] f_e[i] / Σ_e w_e[i],   ivar[g, i] = Σ_e w_e[i],
//   R[g][i, :] = Σ_e w_e[i] R_e[i, :] / Σ_e w_e[i]       (resolution::weighted_combine)
// with w = ivar where the pixel is good (mask 0, not a cosmic). The resolution rows
// take the weights of the flux pixel they produce, so E[f] = R · truth holds exactly
// for the coadd (desispec #2372). Only exposures are cosmic-clipped.
// Stacks are processed in chunks of output spectra, so memory stays bounded.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../error.hpp"
#include "../resolution/banded.hpp"
#include "detail/chi2.hpp"
#include "detail/kernels.hpp"
#include "types.hpp"

namespace specx::coadd {

namespace detail {

inline void require(bool ok, const char* fn, const std::string& what) {
  if (!ok) throw invalid_argument(std::string("specx::coadd::") + fn + ": " + what);
}

/// The common engine: stack (gather) → optional cosmic test → weighted mean →
/// weighted_combine of the resolution rows; chunk by chunk of output spectra.
template <backend::Backend B, class T>
spectra<B, T> run_stack(B be, const std::vector<source<T>>& srcs, const std::vector<int>& slot_src,
                        const std::vector<int>& slot_row, int ngroup, int nexp, int nwave, int ndiag,
                        double cosmics_nsig, int min_for_cosmics, std::size_t chunk) {
  spectra<B, T> out;
  out.nspec = ngroup;
  out.nwave = nwave;
  const std::size_t nw = std::size_t(nwave), nd = std::size_t(ndiag);
  out.flux = backend::make_vector<T>(be, std::size_t(ngroup) * nw);
  out.ivar = backend::make_vector<T>(be, std::size_t(ngroup) * nw);
  out.mask = backend::make_vector<std::int32_t>(be, std::size_t(ngroup) * nw);
  out.resolution.storage = backend::make_vector<T>(be, std::size_t(ngroup) * nd * nw);
  out.resolution.nspec = ngroup;
  out.resolution.ndiag = ndiag;
  out.resolution.nwave = nwave;
  if (ngroup == 0) return out;
  auto src_d = backend::to_backend(be, std::span<const source<T>>(srcs));
  const bool clip = cosmics_nsig > 0 && nexp >= min_for_cosmics && nwave > 1;
  const auto thr_h = clip ? chi2_thresholds(cosmics_nsig, nexp) : std::vector<double>{};
  auto thr = backend::to_backend(be, std::span<const double>(thr_h));
  chunk = std::max<std::size_t>(1, std::min<std::size_t>(chunk, std::size_t(ngroup)));
  const std::size_t nslot_max = chunk * std::size_t(nexp);
  auto sflux = backend::make_vector<T>(be, nslot_max * nw);
  auto sivar = backend::make_vector<T>(be, nslot_max * nw);
  auto smask = backend::make_vector<std::int32_t>(be, nslot_max * nw);
  auto sres = backend::make_vector<T>(be, nslot_max * nd * nw);
  auto wts = backend::make_vector<T>(be, nslot_max * nw);
  auto zero = backend::make_vector<std::uint8_t>(be, chunk * nw);
  backend::vector_t<B, int> prev, next;
  backend::vector_t<B, std::uint8_t> anyg, flag, cosmic;
  if (clip) {
    prev = backend::make_vector<int>(be, nslot_max * nw);
    next = backend::make_vector<int>(be, nslot_max * nw);
    anyg = backend::make_vector<std::uint8_t>(be, nslot_max);
    flag = backend::make_vector<std::uint8_t>(be, nslot_max * nw);
    cosmic = backend::make_vector<std::uint8_t>(be, nslot_max * nw);
  }
  for (std::size_t g0 = 0; g0 < std::size_t(ngroup); g0 += chunk) {
    const std::size_t ng = std::min(chunk, std::size_t(ngroup) - g0), ns = ng * std::size_t(nexp);
    const std::size_t s0 = g0 * std::size_t(nexp);
    auto ss = backend::to_backend(be, std::span<const int>(slot_src.data() + s0, ns));
    auto sr = backend::to_backend(be, std::span<const int>(slot_row.data() + s0, ns));
    backend::for_each_index(be, ns * nw,
                            gather_pixels<T>{backend::raw(be, src_d), backend::raw(be, ss), backend::raw(be, sr), nwave,
                                             backend::raw(be, sflux), backend::raw(be, sivar), backend::raw(be, smask)});
    backend::for_each_index(be, ns * nd * nw,
                            gather_resolution<T>{backend::raw(be, src_d), backend::raw(be, ss), backend::raw(be, sr), ndiag,
                                                 nwave, backend::raw(be, sres)});
    const std::uint8_t* cos = nullptr;
    if (clip) {
      backend::for_each_index(be, ns,
                              good_neighbours<T>{backend::raw(be, sivar), backend::raw(be, smask), nwave,
                                                 backend::raw(be, prev), backend::raw(be, next), backend::raw(be, anyg)});
      backend::for_each_index(be, ng * (nw - 1),
                              cosmic_gradient<T>{backend::raw(be, sflux), backend::raw(be, sivar), backend::raw(be, smask),
                                                 backend::raw(be, prev), backend::raw(be, next), backend::raw(be, anyg),
                                                 backend::raw(be, thr), nexp, nwave, min_for_cosmics,
                                                 backend::raw(be, flag)});
      out.nclipped += backend::transform_reduce(be, ns * nw,
                                                cosmic_pixels{backend::raw(be, flag), nwave, backend::raw(be, cosmic)},
                                                std::size_t(0), resolution::detail::size_plus{});
      cos = backend::raw(be, cosmic);
    }
    backend::for_each_index(be, ng * nw,
                            combine_pixel<T>{backend::raw(be, sflux), backend::raw(be, sivar), backend::raw(be, smask), cos,
                                             nexp, nwave, backend::raw(be, out.flux) + g0 * nw,
                                             backend::raw(be, out.ivar) + g0 * nw, backend::raw(be, out.mask) + g0 * nw,
                                             backend::raw(be, wts)});
    resolution::banded_view<const T> in{backend::raw(be, sres), int(ns), ndiag, nwave};
    resolution::banded_view<T> rv{backend::raw(be, out.resolution.storage) + g0 * nd * nw, int(ng), ndiag, nwave};
    out.nzero_rows += resolution::weighted_combine(be, in, nexp, static_cast<const T*>(backend::raw(be, wts)), rv,
                                                   backend::raw(be, zero));
  }
  return out;
}

}  // namespace detail

/// Coadds nexp frames of one camera across exposures. `map` says which frame
/// rows make each output spectrum (build it with map_by_targetid, or leave it empty
/// for the common case: every frame holds the same targets in the same order and
/// output g combines row g of every frame). All frames share the wavelength grid
/// `wave` and ndiag. Blocking; throws invalid_argument on inconsistent inputs.
template <backend::Backend B, class T>
spectra<B, T> coadd_exposures(B be, std::span<const spectra_view<T>> frames, std::span<const double> wave,
                              const stack_map& map = {}, const exposure_options& opt = {}) {
  const char* fn = "coadd_exposures";
  detail::require(!frames.empty(), fn, "no frames");
  const int nwave = int(wave.size()), ndiag = frames.front().resolution.data ? frames.front().resolution.ndiag : 1;
  for (const auto& f : frames) {
    detail::require(f.nwave == nwave, fn, "every frame must be on the wavelength grid (nwave " + std::to_string(nwave) + ")");
    detail::require(f.flux && f.ivar, fn, "flux and ivar are required");
    detail::require(!f.resolution.data || (f.resolution.ndiag == ndiag && f.resolution.nwave == nwave &&
                                           f.resolution.nspec == f.nspec),
                    fn, "resolution shapes must match the frames and each other");
  }
  stack_map m = map;
  if (m.ngroup == 0 && m.slot_frame.empty()) {
    const int n = frames.front().nspec;
    for (const auto& f : frames) detail::require(f.nspec == n, fn, "without a map every frame must have the same nspec");
    m.ngroup = n;
    m.nexp = int(frames.size());
    m.slot_frame.resize(std::size_t(n) * frames.size());
    m.slot_row.resize(m.slot_frame.size());
    for (int g = 0; g < n; ++g)
      for (std::size_t e = 0; e < frames.size(); ++e) {
        m.slot_frame[std::size_t(g) * frames.size() + e] = int(e);
        m.slot_row[std::size_t(g) * frames.size() + e] = g;
      }
  }
  detail::require(m.nexp >= 1 && m.nexp <= detail::max_stack, fn,
                  "between 1 and " + std::to_string(detail::max_stack) + " exposures per spectrum");
  detail::require(m.slot_frame.size() == std::size_t(m.ngroup) * std::size_t(m.nexp) &&
                      m.slot_row.size() == m.slot_frame.size(),
                  fn, "the map must have ngroup·nexp slots");
  for (std::size_t s = 0; s < m.slot_frame.size(); ++s) {
    const int k = m.slot_frame[s];
    detail::require(k < int(frames.size()), fn, "map refers to a frame that does not exist");
    if (k >= 0) detail::require(m.slot_row[s] >= 0 && m.slot_row[s] < frames[std::size_t(k)].nspec, fn, "map row out of range");
  }
  std::vector<detail::source<T>> srcs;
  for (const auto& f : frames)
    srcs.push_back({f.flux, f.ivar, f.mask, f.resolution.data, f.nspec, f.nwave, f.resolution.data ? ndiag : 1, 0});
  auto out = detail::run_stack(be, srcs, m.slot_frame, m.slot_row, m.ngroup, m.nexp, nwave, ndiag, opt.cosmics_nsig,
                               opt.min_for_cosmics, opt.chunk);
  out.wave.assign(wave.begin(), wave.end());
  return out;
}

/// The merged wavelength grid of cameras sorted by mean wavelength: the first
/// camera's grid, then each next camera's pixels beyond the current end (+tol).
/// Throws invalid_argument unless every camera's pixels coincide (within tol Å)
/// with a run of the merged grid (desispec's coadd_cameras requires the same).
/// Returns the grid and each camera's start index (in the input order).
inline std::pair<std::vector<double>, std::vector<int>> merged_grid(const std::vector<std::vector<double>>& waves,
                                                                    double tol = 1e-4) {
  detail::require(!waves.empty(), "merged_grid", "no camera");
  std::vector<std::size_t> order(waves.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  auto mean = [&](std::size_t c) {
    double s = 0;
    for (double w : waves[c]) s += w;
    return waves[c].empty() ? 0.0 : s / double(waves[c].size());
  };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return mean(a) < mean(b); });
  std::vector<double> grid;
  for (std::size_t c : order) {
    detail::require(!waves[c].empty(), "merged_grid", "empty camera grid");
    for (double w : waves[c])
      if (grid.empty() || w > grid.back() + tol) grid.push_back(w);
  }
  std::vector<int> start(waves.size());
  for (std::size_t c = 0; c < waves.size(); ++c) {
    const auto it = std::lower_bound(grid.begin(), grid.end(), waves[c].front() - tol);
    const std::size_t s = std::size_t(it - grid.begin());
    detail::require(s + waves[c].size() <= grid.size(), "merged_grid", "camera grids are not aligned");
    for (std::size_t i = 0; i < waves[c].size(); ++i)
      detail::require(std::abs(grid[s + i] - waves[c][i]) <= tol, "merged_grid",
                      "camera grids are not aligned (pixel " + std::to_string(i) + " of camera " + std::to_string(c) +
                          "): resample them to a common grid first");
    start[c] = int(s);
  }
  return {std::move(grid), std::move(start)};
}

/// Coadds cameras (e.g. b, r, z of the same targets, already coadded across
/// exposures) into one spectrum per target on the merged grid. Outside the
/// overlaps each camera is copied unchanged (flux, ivar, mask, R rows); in the
/// b/r and r/z overlaps flux and every resolution row are ivar-weighted means of
/// the cameras covering that pixel, each camera's row placed on the merged grid
/// (its elements beyond the camera's own range are zero, as they are in the camera's
/// matrix). ndiag of the result is the largest of the cameras'. Band name: the
/// cameras' names in wavelength order ("brz"). Blocking.
template <backend::Backend B, class T>
spectra<B, T> coadd_cameras(B be, std::span<const camera_view<T>> cams, const camera_options& opt = {}) {
  const char* fn = "coadd_cameras";
  detail::require(!cams.empty() && cams.size() <= std::size_t(detail::max_stack), fn, "between 1 and 64 cameras");
  const int nspec = cams.front().data.nspec;
  std::vector<std::vector<double>> waves;
  int ndiag = 1;
  for (const auto& c : cams) {
    detail::require(c.data.nspec == nspec, fn, "every camera must hold the same spectra");
    detail::require(c.wave.size() == std::size_t(c.data.nwave), fn, "camera " + c.band + ": wave and flux differ in nwave");
    detail::require(!c.data.resolution.data || (c.data.resolution.nspec == nspec && c.data.resolution.nwave == c.data.nwave),
                    fn, "camera " + c.band + ": resolution shape");
    waves.push_back(c.wave);
    if (c.data.resolution.data) ndiag = std::max(ndiag, c.data.resolution.ndiag);
  }
  auto [grid, start] = merged_grid(waves, opt.tolerance);
  std::vector<detail::source<T>> srcs;
  for (std::size_t c = 0; c < cams.size(); ++c) {
    const auto& v = cams[c].data;
    srcs.push_back({v.flux, v.ivar, v.mask, v.resolution.data, v.nspec, v.nwave,
                    v.resolution.data ? v.resolution.ndiag : 1, start[c]});
  }
  const int ncam = int(cams.size());
  std::vector<int> ss(std::size_t(nspec) * std::size_t(ncam)), sr(ss.size());
  for (int g = 0; g < nspec; ++g)
    for (int c = 0; c < ncam; ++c) {
      ss[std::size_t(g) * ncam + c] = c;
      sr[std::size_t(g) * ncam + c] = g;
    }
  auto out = detail::run_stack(be, srcs, ss, sr, nspec, ncam, int(grid.size()), ndiag, 0.0, 3, opt.chunk);
  out.wave = std::move(grid);
  std::vector<std::size_t> order(cams.size());
  std::iota(order.begin(), order.end(), std::size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return start[a] < start[b]; });
  for (std::size_t c : order) out.band += cams[c].band;
  return out;
}

/// A stack map grouping rows of several frames by TARGETID, in order of first
/// appearance (desispec's ordered_unique): output g is targets[g]; its slots are
/// its occurrences (frame, row) in frame order, padded to the largest count.
inline stack_map map_by_targetid(const std::vector<std::vector<std::int64_t>>& targetids,
                                 std::vector<std::int64_t>* targets = nullptr) {
  std::vector<std::int64_t> order;
  std::map<std::int64_t, std::vector<std::pair<int, int>>> occ;
  for (std::size_t k = 0; k < targetids.size(); ++k)
    for (std::size_t r = 0; r < targetids[k].size(); ++r) {
      const auto t = targetids[k][r];
      auto& v = occ[t];
      if (v.empty()) order.push_back(t);
      v.push_back({int(k), int(r)});
    }
  stack_map m;
  m.ngroup = int(order.size());
  for (const auto& kv : occ) m.nexp = std::max(m.nexp, int(kv.second.size()));
  m.slot_frame.assign(std::size_t(m.ngroup) * std::size_t(std::max(1, m.nexp)), -1);
  m.slot_row.assign(m.slot_frame.size(), 0);
  if (m.nexp == 0) m.nexp = 1;
  for (int g = 0; g < m.ngroup; ++g) {
    const auto& v = occ[order[std::size_t(g)]];
    for (std::size_t e = 0; e < v.size(); ++e) {
      m.slot_frame[std::size_t(g) * m.nexp + e] = v[e].first;
      m.slot_row[std::size_t(g) * m.nexp + e] = v[e].second;
    }
  }
  if (targets) *targets = order;
  return m;
}

}  // namespace specx::coadd
