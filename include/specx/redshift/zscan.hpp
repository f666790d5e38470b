// The coarse redshift scan (redrock's zscan): χ²(z) and the negative-[OII]
// penalty for every target of a batch at every redshift of a template's grid.
//
// Batching: the template basis is rebinned (exact integration of its linear
// interpolant over each pixel: on hosts by summation over its samples stored
// sample-major, core::sample_rebin_batch; on devices through its cumulative
// integral precomputed once per template, core::prefix_rebin_batch) and IGM-attenuated once
// per redshift for each camera grid, and that rebinned block is shared by every
// target of the batch; only R T, the normal equations and the small solve are
// per (target, z) (detail/chi2_kernel.hpp), and R T only per group of targets
// with bitwise-identical resolution matrices on host backends. Redshifts are
// processed in blocks so the rebinned templates stay small (scan_options::z_block).
//
// Redshifts where the template does not cover a camera's pixel edges
// (λ_rest,min·(1+z) > first edge or λ_rest,max·(1+z) < last edge) cannot be
// fitted: χ² = 9e99 there (redrock raises for the whole template instead).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../core/prefix_rebin.hpp"
#include "../core/sample_rebin.hpp"
#include "../core/rebin.hpp"
#include "../core/wavegrid.hpp"
#include "../error.hpp"
#include "detail/chi2_kernel.hpp"
#include "igm_models.hpp"
#include "targets.hpp"
#include "templates.hpp"

namespace specx::redshift {

/// A target batch uploaded to backend B (weights, w·f, resolution, edges).
template <backend::Backend B>
struct device_targets {
  struct camera {
    std::size_t nw = 0;
    int ndiag = 1;
    double wave_min = 0, edge_first = 0, edge_last = 0;
    backend::vector_t<B, double> wave, edges, res, w, wf;
  };
  std::size_t ntarget = 0;
  std::vector<camera> cams;
  backend::vector_t<B, double> fwf;  ///< [ntarget] Σ w f²
  std::vector<double> fwf_host;
  std::vector<std::size_t> npixels;  ///< per target, ivar > 0
  std::vector<char> nodata;          ///< per target: no pixel with ivar > 0
  /// Targets grouped by bitwise-identical resolution matrices (all cameras): group
  /// g is group_member_host[group_start[g] .. group_start[g+1]), in target order.
  /// The host kernel forms R T once per group (exact: the same numbers).
  std::vector<std::uint32_t> group_member_host;
  std::vector<std::size_t> group_start;
  backend::vector_t<B, std::uint32_t> group_member;
  backend::vector_t<B, std::uint32_t> group_rep;  ///< [ntarget] first member of the target's group

  device_targets(B be, const target_batch& tb) {
    ntarget = tb.ntarget();
    if (tb.ncamera() == 0) throw invalid_argument("specx::redshift: a target batch needs at least one camera");
    if (tb.ncamera() > static_cast<std::size_t>(detail::max_cameras))
      throw invalid_argument("specx::redshift: at most " + std::to_string(detail::max_cameras) + " cameras");
    fwf_host.assign(ntarget, 0.0);
    npixels.assign(ntarget, 0);
    for (std::size_t c = 0; c < tb.ncamera(); ++c) {
      const auto& g = tb.cameras[c];
      camera cam;
      cam.nw = g.wave.size();
      cam.ndiag = static_cast<int>(g.ndiag);
      const auto e = core::centers_to_edges(std::span<const double>(g.wave));
      cam.wave_min = g.wave.front();
      cam.edge_first = e.front();
      cam.edge_last = e.back();
      std::vector<double> wf(ntarget * cam.nw);
      for (std::size_t t = 0; t < ntarget; ++t)
        for (std::size_t i = 0; i < cam.nw; ++i) {
          const double w = tb.ivar[c][t * cam.nw + i], f = tb.flux[c][t * cam.nw + i];
          wf[t * cam.nw + i] = w != 0 ? w * f : 0.0;
          fwf_host[t] += w * f * f;
          npixels[t] += w > 0 ? 1 : 0;
        }
      cam.wave = backend::to_backend(be, std::span<const double>(g.wave));
      cam.edges = backend::to_backend(be, std::span<const double>(e));
      cam.res = backend::to_backend(be, std::span<const double>(tb.resolution[c]));
      cam.w = backend::to_backend(be, std::span<const double>(tb.ivar[c]));
      cam.wf = backend::to_backend(be, std::span<const double>(wf));
      cams.push_back(std::move(cam));
    }
    fwf = backend::to_backend(be, std::span<const double>(fwf_host));
    nodata.resize(ntarget);
    for (std::size_t t = 0; t < ntarget; ++t) nodata[t] = npixels[t] == 0;
    group_by_resolution(tb);
    group_member = backend::to_backend(be, std::span<const std::uint32_t>(group_member_host));
    std::vector<std::uint32_t> rep(ntarget);
    for (std::size_t g = 0; g + 1 < group_start.size(); ++g)
      for (std::size_t m = group_start[g]; m < group_start[g + 1]; ++m)
        rep[group_member_host[m]] = group_member_host[group_start[g]];
    group_rep = backend::to_backend(be, std::span<const std::uint32_t>(rep));
  }

 private:
  void group_by_resolution(const target_batch& tb) {
    // FNV-1a over the bit patterns, then a bitwise comparison with each group's
    // first member on a hash match.
    auto row = [&](std::size_t c, std::size_t t) {
      const std::size_t n = tb.cameras[c].ndiag * tb.cameras[c].wave.size();
      return std::span<const double>(tb.resolution[c].data() + t * n, n);
    };
    auto same = [&](std::size_t a, std::size_t b) {
      for (std::size_t c = 0; c < tb.ncamera(); ++c) {
        const auto ra = row(c, a), rb = row(c, b);
        if (std::memcmp(ra.data(), rb.data(), ra.size_bytes()) != 0) return false;
      }
      return true;
    };
    std::unordered_map<std::uint64_t, std::vector<std::size_t>> by_hash;  // hash → groups
    std::vector<std::vector<std::uint32_t>> groups;
    for (std::size_t t = 0; t < ntarget; ++t) {
      std::uint64_t hsh = 1469598103934665603ull;
      for (std::size_t c = 0; c < tb.ncamera(); ++c)
        for (double v : row(c, t)) {
          std::uint64_t u;
          std::memcpy(&u, &v, sizeof u);
          hsh = (hsh ^ u) * 1099511628211ull;
        }
      auto& cand = by_hash[hsh];
      std::size_t g = groups.size();
      for (std::size_t k : cand)
        if (same(groups[k].front(), t)) {
          g = k;
          break;
        }
      if (g == groups.size()) {
        groups.emplace_back();
        cand.push_back(g);
      }
      groups[g].push_back(static_cast<std::uint32_t>(t));
    }
    group_start.assign(1, 0);
    for (const auto& g : groups) {
      group_member_host.insert(group_member_host.end(), g.begin(), g.end());
      group_start.push_back(group_member_host.size());
    }
  }
};

/// A template uploaded to backend B.
template <backend::Backend B>
struct device_template {
  const rr_template* host = nullptr;
  core::uniform_grid grid;           ///< the samples' spacing when uniform (linear-λ templates)
  backend::vector_t<B, double> wave, basis;
  /// Host backends: [nwave, prefix_stride(nbasis)] the basis sample-major
  /// (core::interleave_samples, rebinned by core::sample_rebin_batch); devices:
  /// [nwave, 3, prefix_stride(nbasis)] prefix integrals (core::make_prefix_integral,
  /// core::prefix_rebin_batch).
  backend::vector_t<B, double> rebin_table;
  device_template(B be, const rr_template& t)
      : host(&t),
        grid(core::detect_uniform(std::span<const double>(t.wave))),
        wave(backend::to_backend(be, std::span<const double>(t.wave))),
        basis(backend::to_backend(be, std::span<const double>(t.basis))) {
    if (t.nbasis == 0 || static_cast<int>(t.nbasis) > detail::max_basis)
      throw invalid_argument("specx::redshift: template " + t.full_type() + " has " + std::to_string(t.nbasis) +
                             " basis vectors; supported: 1.." + std::to_string(detail::max_basis));
    const std::span<const double> w(t.wave), y(t.basis);
    if constexpr (backend::host_accessible_v<B>)
      rebin_table = backend::to_backend(be, std::span<const double>(core::interleave_samples(w, y, t.nbasis)));
    else
      rebin_table = backend::to_backend(be, std::span<const double>(core::make_prefix_integral(w, y, t.nbasis).table));
  }
};

/// The first pass of zfind's two-pass scan: per camera one resolution matrix for
/// every target of a batch, the mean of the targets with data (of all targets if
/// none has), so R T is formed once per redshift for the whole batch. Used with
/// the batch's own device_targets, whose flux and weights are not copied.
template <backend::Backend B>
struct shared_resolution {
  std::vector<backend::vector_t<B, double>> res;    ///< per camera [ndiag, nw]
  backend::vector_t<B, std::uint32_t> member, rep;  ///< every target, one group
  shared_resolution(B be, const target_batch& tb) {
    const std::size_t nt = tb.ntarget();
    std::vector<char> use(nt, 0);
    std::size_t nuse = 0;
    for (std::size_t t = 0; t < nt; ++t) nuse += use[t] = tb.npixels(t) > 0;
    if (nuse == 0) {
      use.assign(nt, 1);
      nuse = nt;
    }
    for (std::size_t c = 0; c < tb.ncamera(); ++c) {
      const std::size_t n = tb.cameras[c].ndiag * tb.cameras[c].wave.size();
      std::vector<double> mean(n, 0.0);
      for (std::size_t t = 0; t < nt; ++t)
        if (use[t])
          for (std::size_t k = 0; k < n; ++k) mean[k] += tb.resolution[c][t * n + k];
      for (auto& v : mean) v /= static_cast<double>(nuse);
      res.push_back(backend::to_backend(be, std::span<const double>(mean)));
    }
    std::vector<std::uint32_t> all(nt), zero(nt, 0);
    std::iota(all.begin(), all.end(), 0u);
    member = backend::to_backend(be, std::span<const std::uint32_t>(all));
    rep = backend::to_backend(be, std::span<const std::uint32_t>(zero));
  }
};

/// χ², penalty and coefficients of many (target, z) fits. Row-major host arrays.
struct fit_values {
  std::vector<double> chi2, penalty, coeff;  ///< [n], [n], [n, nbasis]
};

/// Options of the scan.
struct scan_options {
  /// Redshifts rebinned at once (memory: z_block·nbasis·npix doubles); 0 = automatic:
  /// 16 on host backends (the rebinned block stays in cache between the rebin and
  /// the χ² kernel: the reference zfind runs 1.4× faster than with 128), 128 on
  /// devices.
  std::size_t z_block = 0;
  igm::inoue14_table inoue;   ///< Inoue+14 coefficients (needed for RRIGM = Inoue14 only)
};

namespace detail {

/// Does the template cover every camera's pixel edges at redshift z (redrock's
/// trapz_rebin range check, in the form edges ⊂ [x_0(1+z), x_{n−1}(1+z)])?
template <class Cams>
bool covers(const rr_template& t, const Cams& cams, double z) {
  for (const auto& c : cams)
    if (c.edge_first < t.wave.front() * (1 + z) || c.edge_last > t.wave.back() * (1 + z)) return false;
  return true;
}

/// The block size of scan_options::z_block (0 = automatic).
template <backend::Backend B>
std::size_t z_block(const scan_options& opt) {
  if (opt.z_block > 0) return opt.z_block;
  return backend::host_accessible_v<B> ? 16 : 128;
}

/// Bins per rebin work item: long on hosts (each item starts with a binary search
/// over the template samples), short on devices (parallelism).
template <backend::Backend B>
constexpr std::size_t rebin_chunk() {
  return backend::host_accessible_v<B> ? 256 : 64;
}

/// Host work split (chi2_tile): coarse mode, the targets in group order (those
/// sharing R adjacent) in tiles of ≤ 16 targets × a power of two of slots (≤ 16,
/// ≤ kMaxFits fits); the slots advance in blocks of 16 outermost so a block's
/// rebinned templates are reused from cache by every tile. Pair mode (nitem
/// items): runs of ≤ 16 consecutive items of the same target (a refinement's
/// fine grid), which reuse that target's R from cache.
template <class Targets>
std::vector<chi2_tile> make_tiles(const Targets& tg, std::size_t nslot, const std::vector<std::uint32_t>& pair_target) {
  constexpr std::size_t max_run = 16;
  std::vector<chi2_tile> tiles;
  auto u32 = [](std::size_t v) { return static_cast<std::uint32_t>(v); };
  if (!pair_target.empty()) {
    const std::size_t nitem = pair_target.size();
    for (std::size_t s0 = 0; s0 < nitem;) {
      std::size_t s1 = s0 + 1;
      while (s1 < nitem && s1 - s0 < max_run && pair_target[s1] == pair_target[s0]) ++s1;
      tiles.push_back({u32(s0), u32(s1 - s0), u32(s0), 1});
      s0 = s1;
    }
    return tiles;
  }
  const std::size_t nt = tg.ntarget;
  for (std::size_t b0 = 0; b0 < nslot; b0 += max_run) {
    const std::size_t b1 = std::min(nslot, b0 + max_run);
    for (std::size_t m0 = 0; m0 < nt; m0 += max_run) {
      const std::size_t nm = std::min(max_run, nt - m0);
      std::size_t ns = 1;
      while (ns * 2 <= max_run && ns * 2 * nm <= static_cast<std::size_t>(chi2_kernel::kMaxFits)) ns *= 2;
      for (std::size_t s0 = b0; s0 < b1; s0 += ns)
        tiles.push_back({u32(s0), u32(std::min(ns, b1 - s0)), u32(m0), u32(nm)});
    }
  }
  return tiles;
}

/// Buffers of evaluate() kept across the blocks of one scan.
template <backend::Backend B>
struct eval_workspace {
  /// Per camera: rebinned templates of a block (no reallocation or zero-filling
  /// per block).
  std::vector<backend::vector_t<B, double>> tmpl;
};

/// Rebins + IGM for the redshifts `z` (all covered; one slot each) and runs the χ²
/// kernel on the items: coarse mode (pair_target empty: every target at every z,
/// item = slot·ntarget + t) or pair mode (item s = target pair_target[s] at
/// z[pair_slot[s]], or at z[s] when pair_slot is empty), every target with its
/// own R or, given `shared`, with that one. Writes nitem χ², penalties,
/// coefficients (host arrays returned).
template <backend::Backend B>
fit_values evaluate(B be, const device_template<B>& dt, const device_targets<B>& tg, const std::vector<double>& z,
                    const std::vector<std::uint32_t>& pair_target, const scan_options& opt, eval_workspace<B>& ws,
                    const std::vector<std::uint32_t>& pair_slot = {},
                    const shared_resolution<B>* shared = nullptr) {
  const rr_template& t = *dt.host;
  const std::size_t nslot = z.size(), nb = t.nbasis;
  const std::size_t nitem = pair_target.empty() ? nslot * tg.ntarget : pair_target.size();
  fit_values out;
  if (nitem == 0) return out;
  std::vector<double> scale(nslot);
  for (std::size_t s = 0; s < nslot; ++s) scale[s] = 1.0 / (1.0 + z[s]);
  auto dscale = backend::to_backend(be, std::span<const double>(scale));
  auto dz = backend::to_backend(be, std::span<const double>(z));
  // Sized once per call (the kernel keeps raw pointers into these buffers).
  if (ws.tmpl.size() < tg.cams.size()) ws.tmpl.resize(tg.cams.size());
  chi2_kernel k;
  k.ncam = static_cast<int>(tg.cams.size());
  k.nbasis = static_cast<int>(nb);
  k.ntarget = tg.ntarget;
  for (std::size_t c = 0; c < tg.cams.size(); ++c) {
    const auto& cam = tg.cams[c];
    if (ws.tmpl[c].size() < nslot * nb * cam.nw) ws.tmpl[c] = backend::make_vector<double>(be, nslot * nb * cam.nw);
    double* T = backend::raw(be, ws.tmpl[c]);
    // Every z here is covered (detail::covers), so the scaled edges lie inside the template.
    if constexpr (backend::host_accessible_v<B>)
      core::sample_rebin_batch(be, backend::raw(be, dt.wave), t.nwave, backend::raw(be, dt.rebin_table), nb,
                               backend::raw(be, cam.edges), cam.nw + 1, backend::raw(be, dscale), nslot, T,
                               rebin_chunk<B>(), dt.grid);
    else
      core::prefix_rebin_batch(be, backend::raw(be, dt.wave), t.nwave, backend::raw(be, dt.rebin_table), nb,
                               backend::raw(be, cam.edges), cam.nw + 1, backend::raw(be, dscale), nslot, T,
                               rebin_chunk<B>(), dt.grid);
    if (t.igm != igm_model::none) {
      bool any = false;
      for (double zz : z) any = any || igm_affects(t.igm, cam.wave_min, zz);
      if (any)
        backend::for_each_index(be, nslot * cam.nw,
                                igm_apply<igm_trans>{igm_trans{static_cast<int>(t.igm), opt.inoue, cam.wave_min},
                                                     backend::raw(be, cam.wave), backend::raw(be, dz), T, cam.nw,
                                                     static_cast<int>(nb)});
    }
    k.cam[c] = camera_view{cam.nw,
                           cam.ndiag,
                           shared ? backend::raw(be, shared->res[c]) : backend::raw(be, cam.res),
                           shared ? 0 : static_cast<std::size_t>(cam.ndiag) * cam.nw,
                           backend::raw(be, cam.w),
                           backend::raw(be, cam.wf),
                           T};
  }
  k.fwf = backend::raw(be, tg.fwf);
  k.has_oii = !t.oii.empty();
  for (std::size_t i = 0; i < t.oii.size() && i < static_cast<std::size_t>(max_basis); ++i) k.oii[i] = t.oii[i];
  backend::vector_t<B, std::uint32_t> dpairs, dslots;
  if (!pair_target.empty()) {
    dpairs = backend::to_backend(be, std::span<const std::uint32_t>(pair_target));
    k.pair_target = backend::raw(be, dpairs);
    if (!pair_slot.empty()) {
      dslots = backend::to_backend(be, std::span<const std::uint32_t>(pair_slot));
      k.pair_slot = backend::raw(be, dslots);
    }
  }
  std::size_t nwork = nitem;
  std::vector<chi2_tile> tiles;
  if constexpr (backend::host_accessible_v<B>) {
    tiles = make_tiles(tg, nslot, pair_target);
    k.tiles = tiles.data();
    k.member = !pair_target.empty() ? k.pair_target
               : shared           ? backend::raw(be, shared->member)
                                  : backend::raw(be, tg.group_member);
    k.group_rep = shared ? backend::raw(be, shared->rep) : backend::raw(be, tg.group_rep);
    nwork = tiles.size();
  }
  auto chi2 = backend::make_vector<double>(be, nitem);
  auto pen = backend::make_vector<double>(be, nitem);
  auto coeff = backend::make_vector<double>(be, nitem * nb);
  k.chi2 = backend::raw(be, chi2);
  k.penalty = backend::raw(be, pen);
  k.coeff = backend::raw(be, coeff);
  backend::for_each_index(be, nwork, k);
  auto h1 = backend::to_host(be, chi2);
  auto h2 = backend::to_host(be, pen);
  auto h3 = backend::to_host(be, coeff);
  out.chi2.assign(h1.begin(), h1.end());
  out.penalty.assign(h2.begin(), h2.end());
  out.coeff.assign(h3.begin(), h3.end());
  return out;
}

}  // namespace detail

/// The coarse scan of one template over all targets.
struct scan_result {
  std::string full_type;
  std::vector<double> redshifts;          ///< [nz]
  std::size_t ntarget = 0, nbasis = 0;
  std::vector<double> chi2;               ///< [ntarget, nz] χ² (without penalty; 9e99 where no fit)
  std::vector<double> penalty;            ///< [ntarget, nz]
  std::vector<double> coeff;              ///< [ntarget, nz, nbasis]
  /// [ntarget, nz]: 1 where the value was fitted with the target's own R; empty
  /// when all were (zfind's coarse_scan::two_pass leaves first-pass values, fitted
  /// with the batch's shared R, away from the minima).
  std::vector<char> exact;
  std::size_t nz() const { return redshifts.size(); }
};

/// χ²(z) of every target of `tg` for template `dt` on its grid, each target with
/// its own R or, given `shared`, with that one. Blocking.
template <backend::Backend B>
scan_result zscan(B be, const device_template<B>& dt, const device_targets<B>& tg, const scan_options& opt = {},
                  const shared_resolution<B>* shared = nullptr) {
  const rr_template& t = *dt.host;
  scan_result r;
  r.full_type = t.full_type();
  r.redshifts = t.redshifts;
  r.ntarget = tg.ntarget;
  r.nbasis = t.nbasis;
  const std::size_t nz = t.redshifts.size(), nt = tg.ntarget, nb = t.nbasis;
  r.chi2.assign(nt * nz, detail::bad_chi2);
  r.penalty.assign(nt * nz, 0.0);
  r.coeff.assign(nt * nz * nb, 0.0);
  if (nt == 0) return r;
  std::vector<std::size_t> valid;
  for (std::size_t i = 0; i < nz; ++i)
    if (detail::covers(t, tg.cams, t.redshifts[i])) valid.push_back(i);
  const std::size_t block = detail::z_block<B>(opt);
  detail::eval_workspace<B> ws;
  for (std::size_t b0 = 0; b0 < valid.size(); b0 += block) {
    const std::size_t b1 = std::min(valid.size(), b0 + block);
    std::vector<double> z;
    for (std::size_t i = b0; i < b1; ++i) z.push_back(t.redshifts[valid[i]]);
    const auto v = detail::evaluate(be, dt, tg, z, {}, opt, ws, {}, shared);
    for (std::size_t s = 0; s < z.size(); ++s) {
      const std::size_t iz = valid[b0 + s];
      for (std::size_t tt = 0; tt < nt; ++tt) {
        const std::size_t item = s * nt + tt;
        r.chi2[tt * nz + iz] = v.chi2[item];
        r.penalty[tt * nz + iz] = v.penalty[item];
        std::copy_n(v.coeff.begin() + item * nb, nb, r.coeff.begin() + (tt * nz + iz) * nb);
      }
    }
  }
  return r;
}

/// χ², penalty and coefficients for target target[s] at redshift z[s]: the fine
/// grids of the refinement and the exact values of the two-pass scan. Pairs at
/// the same redshift share one rebinned template (targets whose minima fall on
/// the same grid point; on a linear grid such as the stars', fine grids of
/// neighbouring minima interleave): for templates without IGM the rebin depends
/// on z only through 1/(1 + z), which is the key, so every pair gets bit for bit
/// what its own rebin would give. Pairs whose z the template does not cover get
/// χ² = 9e99. Blocking.
template <backend::Backend B>
fit_values fit_pairs(B be, const device_template<B>& dt, const device_targets<B>& tg, const std::vector<double>& z,
                     const std::vector<std::uint32_t>& target, const scan_options& opt = {}) {
  const rr_template& t = *dt.host;
  const std::size_t n = z.size(), nb = t.nbasis;
  if (target.size() != n) throw invalid_argument("specx::redshift::fit_pairs: z and target sizes differ");
  fit_values out;
  out.chi2.assign(n, detail::bad_chi2);
  out.penalty.assign(n, 0.0);
  out.coeff.assign(n * nb, 0.0);
  // The covered pairs by (key, target); a slot per distinct key.
  const bool by_scale = t.igm == igm_model::none;
  std::vector<double> key(n);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(z[i]) && detail::covers(t, tg.cams, z[i])) {
      key[i] = by_scale ? 1.0 / (1.0 + z[i]) : z[i];
      idx.push_back(i);
    }
  std::sort(idx.begin(), idx.end(),
            [&](std::size_t a, std::size_t b) { return key[a] != key[b] ? key[a] < key[b] : target[a] < target[b]; });
  std::vector<double> zslot;                 // a representative z per slot
  std::vector<std::size_t> slot_of(idx.size()), slot_begin;  // pair → slot; slot → first position in idx
  for (std::size_t p = 0; p < idx.size(); ++p) {
    if (p == 0 || key[idx[p]] != key[idx[p - 1]]) {
      zslot.push_back(z[idx[p]]);
      slot_begin.push_back(p);
    }
    slot_of[p] = zslot.size() - 1;
  }
  slot_begin.push_back(idx.size());
  const std::size_t block = detail::z_block<B>(opt);
  detail::eval_workspace<B> ws;
  for (std::size_t b0 = 0; b0 < zslot.size(); b0 += block) {
    const std::size_t b1 = std::min(zslot.size(), b0 + block);
    const std::vector<double> zb(zslot.begin() + b0, zslot.begin() + b1);
    // The block's pairs by (target, slot): runs of one target for the host tiles.
    std::vector<std::size_t> pos(slot_begin[b1] - slot_begin[b0]);
    std::iota(pos.begin(), pos.end(), slot_begin[b0]);
    std::stable_sort(pos.begin(), pos.end(),
                     [&](std::size_t a, std::size_t b) { return target[idx[a]] < target[idx[b]]; });
    std::vector<std::uint32_t> tb(pos.size()), sb(pos.size());
    for (std::size_t q = 0; q < pos.size(); ++q) {
      tb[q] = target[idx[pos[q]]];
      sb[q] = static_cast<std::uint32_t>(slot_of[pos[q]] - b0);
    }
    const auto v = detail::evaluate(be, dt, tg, zb, tb, opt, ws, sb);
    for (std::size_t q = 0; q < pos.size(); ++q) {
      const std::size_t i = idx[pos[q]];
      out.chi2[i] = v.chi2[q];
      out.penalty[i] = v.penalty[q];
      std::copy_n(v.coeff.begin() + q * nb, nb, out.coeff.begin() + i * nb);
    }
  }
  return out;
}

}  // namespace specx::redshift
