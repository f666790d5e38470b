// Fiber flat from an extracted flat-lamp frame (docs/calibration.md#fiber-flat).
//
// Model: d_f ≈ F_f · (R_f M), M the deconvolved mean lamp spectrum on the frame
// grid, F_f the flat of fiber f. Iterate:
//   1. M from the banded normal equations Σ_f R_fᵀ W_f F_f² R_f M = Σ_f R_fᵀ W_f F_f d_f
//      (good fibers only; W = ivar where mask = 0);
//   2. F_f = smooth(d_f / (R_f M)): a weighted cubic B-spline with knots every
//      `knot_spacing` Å (weights W (R_f M)²), or the raw ratio if knot_spacing ≤ 0;
//   3. normalise: F_f(λ) /= mean over good fibers of F(λ) (the F ↔ M degeneracy);
//   4. clip pixels with |d − F R M| √W > nsig_clip (DESI: 10σ for flats);
// until max |ΔF| < accuracy with no new clipped pixel. Fibers whose median flux is
// below broken_fraction of the fibers' median (or without data) are broken:
// excluded from M and the normalisation, flagged BADFIBERFLAT everywhere.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../error.hpp"
#include "../maskbits.hpp"
#include "detail/banded_normal.hpp"
#include "detail/spline.hpp"
#include "frame_view.hpp"

namespace specx::fiberflat {

/// Options of compute().
struct options {
  double nsig_clip = 10.0;       ///< outlier rejection threshold (DESI's default for flats)
  int max_iterations = 10;
  double accuracy = 1e-4;        ///< convergence: max |ΔF| between iterations
  double knot_spacing = 5.0;     ///< Å between spline knots; ≤ 0: no smoothing (the raw ratio, as desispec writes)
  double broken_fraction = 0.2;  ///< a fiber whose median flux is below this fraction of the median fiber is broken
  double low_flat = 0.5;         ///< LOWFLAT below this value
  double ridge = 1e-10;          ///< relative ridge of the deconvolution (see detail/banded_normal.hpp)
};

/// A fiber flat as DESI's fiberflat files hold it.
struct fiberflat_data {
  xt::xtensor<float, 2> fiberflat;    ///< [nspec, nwave], divide a frame by it
  xt::xtensor<float, 2> ivar;         ///< [nspec, nwave]
  xt::xtensor<std::int32_t, 2> mask;  ///< [nspec, nwave] specmask bits
  xt::xtensor<double, 1> meanspec;    ///< [nwave] deconvolved mean lamp spectrum, electrons/Å
  xt::xtensor<double, 1> wave;        ///< [nwave] Å
  double chi2pdf = 0;                 ///< written as CHI2PDF
  std::size_t nspec() const { return fiberflat.shape()[0]; }
  std::size_t nwave() const { return wave.size(); }
};

/// compute()'s output: the flat and a summary (solvers never throw on bad data).
struct result : fiberflat_data {
  std::vector<std::uint8_t> broken;  ///< [nspec] 1 for fibers flagged broken
  int iterations = 0;
  bool converged = false;
  std::size_t nclipped = 0;          ///< pixels rejected by the clipping
  int solver_status = 0;             ///< banded Cholesky info of the last M solve (0 = success)
};

namespace detail {

template <class T>
struct init_weights {
  const T* ivar;
  const std::int32_t* mask;
  T* w;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const T v = ivar[k];
    w[k] = (v > T(0) && (!mask || mask[k] == 0) && v == v) ? v : T(0);
  }
};

/// Normalise F over good fibers at each row; records max |F_new − F_old|.
template <class T>
struct normalise_rows {
  int nspec, nwave;
  const std::uint8_t* good;
  double* Fnew;
  double* var;
  const T* Fold;
  double* delta;  ///< [nwave]
  SPECX_HOST_DEVICE void operator()(std::size_t i) const {
    double s = 0;
    int n = 0;
    for (int f = 0; f < nspec; ++f)
      if (good[f]) {
        s += Fnew[std::size_t(f) * nwave + i];
        ++n;
      }
    const double a = (n > 0 && s > 0) ? s / n : 1.0;
    double dmax = 0;
    for (int f = 0; f < nspec; ++f) {
      const std::size_t k = std::size_t(f) * nwave + i;
      Fnew[k] /= a;
      if (var[k] > 0) var[k] /= a * a;
      if (good[f]) {
        const double dd = fabs(Fnew[k] - double(Fold[k]));
        dmax = dd > dmax ? dd : dmax;
      }
    }
    delta[i] = dmax;
  }
};

/// Clip |d − F m| √w > nsig (w := 0), copy F into the solver's g array, count clips.
template <class T>
struct clip_and_update {
  double nsig;
  const T* d;
  const double* m;
  const double* F;
  T* w;
  T* g;
  std::uint32_t* nclip;  ///< [n] 1 where newly clipped
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    g[k] = T(F[k]);
    nclip[k] = 0;
    const double wk = double(w[k]);
    if (wk > 0) {
      const double r = (double(d[k]) - F[k] * m[k]) * sqrt(wk);
      if (!(fabs(r) <= nsig)) {
        w[k] = T(0);
        nclip[k] = 1;
      }
    }
  }
};

struct sum_u32 {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};
struct max_d {
  SPECX_HOST_DEVICE double operator()(double a, double b) const { return a > b ? a : b; }
};

template <class T>
double median_of(std::vector<T> v) {
  if (v.empty()) return 0;
  const std::size_t h = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + h, v.end());
  return double(v[h]);
}

}  // namespace detail

/// Fiber flat of an extracted flat-lamp frame on backend `be` (see the file
/// comment). Throws invalid_argument for inconsistent shapes or when no fiber has
/// data; numerical trouble is reported in the result. Blocking.
template <backend::Backend B, class T>
result compute(B be, const frame_view<T>& flat, const options& opt = {}) {
  const char* fn = "specx::fiberflat::compute";
  flat.check(fn);
  const int ns = flat.nspec, nw = flat.nwave;
  const std::size_t npix = flat.size();
  namespace cd = specx::detail::calib;

  auto d_d = backend::to_backend(be, std::span<const T>(flat.flux, npix));
  auto d_ivar = backend::to_backend(be, std::span<const T>(flat.ivar, npix));
  auto d_w = backend::make_vector<T>(be, npix);
  auto d_mask = backend::to_backend(be, std::span<const std::int32_t>(flat.mask ? flat.mask : nullptr, flat.mask ? npix : 0));
  backend::for_each_index(be, npix,
                          detail::init_weights<T>{backend::raw(be, d_ivar), flat.mask ? backend::raw(be, d_mask) : nullptr,
                                                  backend::raw(be, d_w)});
  auto d_res = backend::to_backend(be, std::span<const T>(flat.resolution.data, flat.resolution.size()));
  const resolution::banded_view<const T> rv{backend::raw(be, d_res), ns, flat.resolution.ndiag, nw};

  // ---- broken fibers: median flux of valid pixels against the median fiber ----------
  result out;
  out.broken.assign(std::size_t(ns), 0);
  {
    const auto w_h = backend::to_host(be, d_w);
    std::vector<double> med(std::size_t(ns), 0.0);
    std::vector<double> good_meds;
    for (int f = 0; f < ns; ++f) {
      std::vector<T> v;
      for (int i = 0; i < nw; ++i)
        if (w_h[std::size_t(f) * nw + i] > 0) v.push_back(flat.flux[std::size_t(f) * nw + i]);
      if (v.size() < std::size_t(nw) / 10 + 1) {
        out.broken[f] = 1;
        continue;
      }
      med[f] = detail::median_of(std::move(v));
      good_meds.push_back(med[f]);
    }
    if (good_meds.empty()) throw invalid_argument(std::string(fn) + ": no fiber has valid pixels (all ivar = 0 or masked)");
    const double ref = detail::median_of(good_meds);
    if (!(ref > 0)) throw invalid_argument(std::string(fn) + ": the median flat-lamp flux is not positive");
    for (int f = 0; f < ns; ++f)
      if (!(med[f] > opt.broken_fraction * ref)) out.broken[f] = 1;
  }
  std::vector<int> fit_fibers;
  std::vector<std::uint8_t> good(static_cast<std::size_t>(ns));
  for (int f = 0; f < ns; ++f) {
    good[f] = !out.broken[f];
    if (good[f]) fit_fibers.push_back(f);
  }
  auto d_fibers = backend::to_backend(be, std::span<const int>(fit_fibers));
  auto d_good = backend::to_backend(be, std::span<const std::uint8_t>(good));

  // ---- spline knots --------------------------------------------------------------------
  const double lam0 = flat.wave[0], lam1 = flat.wave[nw - 1];
  const bool smooth = opt.knot_spacing > 0;
  const int nint = smooth ? std::max(1, int(std::lround((lam1 - lam0) / opt.knot_spacing))) : 1;
  const double hk = (lam1 - lam0) / nint;
  const int nb = nint + 3;
  auto d_wave = backend::to_backend(be, std::span<const double>(flat.wave, std::size_t(nw)));

  auto d_g = backend::make_vector<T>(be, npix, T(1));  // current F (solver's per-row scale)
  auto d_F = backend::make_vector<double>(be, npix);
  auto d_var = backend::make_vector<double>(be, npix);
  auto d_m = backend::make_vector<double>(be, npix);
  auto d_delta = backend::make_vector<double>(be, std::size_t(nw));
  auto d_nclip = backend::make_vector<std::uint32_t>(be, npix);
  auto s_ab = backend::make_vector<double>(be, smooth ? std::size_t(ns) * nb * 4 : 1);
  auto s_x = backend::make_vector<double>(be, smooth ? std::size_t(ns) * nb : 1);
  auto s_z = backend::make_vector<double>(be, smooth ? std::size_t(ns) * nb * 4 : 1);
  auto s_c = backend::make_vector<std::uint8_t>(be, smooth ? std::size_t(ns) * nb : 1);
  backend::vector_t<B, double> d_M, d_zb_unused;
  backend::vector_t<B, std::uint8_t> d_cov;

  cd::normal_inputs<T> in;
  in.r = rv;
  in.fibers = backend::raw(be, d_fibers);
  in.nfit = int(fit_fibers.size());
  in.K = 1;
  in.g = backend::raw(be, d_g);
  in.w = backend::raw(be, d_w);
  in.d = backend::raw(be, d_d);
  cd::normal_inputs<T> ev = in;
  ev.g = nullptr;

  auto solve_M = [&]() {
    out.solver_status = cd::solve_normal(be, in, opt.ridge, 1e-12, false, d_M, d_zb_unused, d_cov);
    backend::for_each_index(be, npix,
                            cd::evaluate_model<T>{ev, backend::raw(be, d_M), nullptr, backend::raw(be, d_cov),
                                                  backend::raw(be, d_m), nullptr});
  };

  for (int it = 1; it <= std::max(1, opt.max_iterations); ++it) {
    out.iterations = it;
    solve_M();
    if (smooth) {
      backend::for_each_index(be, std::size_t(ns),
                              cd::spline_fit_fibers<T>{backend::raw(be, d_wave), nw, nint, lam0, hk, 1e-9,
                                                       backend::raw(be, d_d), backend::raw(be, d_m), backend::raw(be, d_w),
                                                       backend::raw(be, s_ab), backend::raw(be, s_x), backend::raw(be, s_z),
                                                       backend::raw(be, s_c), backend::raw(be, d_F), backend::raw(be, d_var)});
    } else {
      const T* dp = backend::raw(be, d_d);
      const T* wp = backend::raw(be, d_w);
      const double* mp = backend::raw(be, d_m);
      double* Fp = backend::raw(be, d_F);
      double* vp = backend::raw(be, d_var);
      backend::for_each_index(be, npix, [=] SPECX_HOST_DEVICE(std::size_t k) {
        const double mk = mp[k], wk = double(wp[k]);
        const bool ok = mk > 0 && wk > 0;
        Fp[k] = ok ? double(dp[k]) / mk : 1.0;
        vp[k] = ok ? 1.0 / (wk * mk * mk) : -1.0;
      });
    }
    backend::for_each_index(be, std::size_t(nw),
                            detail::normalise_rows<T>{ns, nw, backend::raw(be, d_good), backend::raw(be, d_F),
                                                      backend::raw(be, d_var), backend::raw(be, d_g), backend::raw(be, d_delta)});
    const double* dl = backend::raw(be, d_delta);
    const double delta = backend::transform_reduce(
        be, std::size_t(nw), [=] SPECX_HOST_DEVICE(std::size_t i) { return dl[i]; }, 0.0, detail::max_d{});
    backend::for_each_index(be, npix,
                            detail::clip_and_update<T>{opt.nsig_clip, backend::raw(be, d_d), backend::raw(be, d_m),
                                                       backend::raw(be, d_F), backend::raw(be, d_w), backend::raw(be, d_g),
                                                       backend::raw(be, d_nclip)});
    const std::uint32_t* nc = backend::raw(be, d_nclip);
    const std::size_t nnew = backend::transform_reduce(
        be, npix, [=] SPECX_HOST_DEVICE(std::size_t k) { return std::size_t(nc[k]); }, std::size_t(0), detail::sum_u32{});
    out.nclipped += nnew;
    if (delta < opt.accuracy && nnew == 0) {
      out.converged = true;
      break;
    }
  }
  solve_M();  // M consistent with the final, normalised F

  // ---- outputs ----------------------------------------------------------------------
  const auto F = backend::to_host(be, d_F);
  const auto var = backend::to_host(be, d_var);
  const auto m = backend::to_host(be, d_m);
  const auto w = backend::to_host(be, d_w);
  const auto M = backend::to_host(be, d_M);
  const std::array<std::size_t, 2> sh{std::size_t(ns), std::size_t(nw)};
  out.fiberflat = xt::xtensor<float, 2>::from_shape(sh);
  out.ivar = xt::xtensor<float, 2>::from_shape(sh);
  out.mask = xt::xtensor<std::int32_t, 2>::from_shape(sh);
  out.meanspec = xt::xtensor<double, 1>::from_shape({std::size_t(nw)});
  out.wave = xt::xtensor<double, 1>::from_shape({std::size_t(nw)});
  for (int i = 0; i < nw; ++i) {
    out.meanspec(i) = M[std::size_t(i)];
    out.wave(i) = flat.wave[i];
  }
  double chi2 = 0;
  std::size_t ndata = 0;
  for (int f = 0; f < ns; ++f)
    for (int i = 0; i < nw; ++i) {
      const std::size_t k = std::size_t(f) * nw + i;
      const double Fk = F[k], vk = var[k];
      std::int32_t mk = 0;
      float iv = 0;
      if (out.broken[f] || !(vk > 0) || !(Fk > 0) || !std::isfinite(Fk)) {
        mk |= specmask::BADFIBERFLAT;
      } else {
        iv = float(1.0 / vk);
        if (Fk < opt.low_flat) mk |= specmask::LOWFLAT;
      }
      out.fiberflat(f, i) = std::isfinite(Fk) ? float(Fk) : 0.0f;
      out.ivar(f, i) = iv;
      out.mask(f, i) = mk;
      if (good[f] && w[k] > 0) {
        const double r = double(flat.flux[k]) - Fk * m[k];
        chi2 += r * r * double(w[k]);
        ++ndata;
      }
    }
  const double npar = double(nw) + double(fit_fibers.size()) * (smooth ? nb : nw);
  out.chi2pdf = double(ndata) > npar ? chi2 / (double(ndata) - npar) : 0.0;
  return out;
}

}  // namespace specx::fiberflat
