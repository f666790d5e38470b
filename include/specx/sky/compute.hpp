// Resolution-matched sky model (docs/calibration.md#sky).
//
// A joint weighted fit over the sky fibers of a (flat-fielded) frame:
//   d_f[i] ≈ a_f · Σ_k c_fk (R_f s_k)[i],
// s_0 the deconvolved sky on the frame grid; optional focal-plane gradient
// components s_1, s_2 with c_f1 = x̂_f, c_f2 = ŷ_f (fiber positions centred and
// scaled over the sky fibers); a_f an optional achromatic throughput correction
// of each sky fiber (median 1). The normal equations Σ_f R_fᵀ W_f R_f are banded
// (detail/banded_normal.hpp). Iterate: solve, reject |d − model| √W > nsig (4σ),
// refit until nothing new is rejected; then (optionally) fit a_f and refit.
// Every fiber's sky is R_f Σ_k c_fk s_k; its variance is diag(R_f C R_fᵀ) with C
// the covariance of the fitted spectra (the band of A⁻¹), propagated by subtract().
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../error.hpp"
#include "../fiberflat/detail/banded_normal.hpp"
#include "../fiberflat/frame_view.hpp"
#include "../maskbits.hpp"

namespace specx::sky {

/// Options of compute().
struct options {
  double nsig_clip = 4.0;            ///< rejection threshold (DESI: 4σ)
  int max_iterations = 20;
  bool throughput_correction = false;  ///< fit a_f per sky fiber (THRPUTCORR)
  bool gradient = false;             ///< fit focal-plane gradient spectra (needs fiber_x, fiber_y)
  std::span<const double> fiber_x;   ///< [nspec] focal-plane x (mm), for the gradient
  std::span<const double> fiber_y;   ///< [nspec] focal-plane y (mm)
  double ridge = 1e-10;              ///< relative ridge of the deconvolution
};

/// A sky model as DESI's sky files hold it.
struct sky_data {
  xt::xtensor<float, 2> flux;                 ///< SKY [nspec, nwave] R_f s per fiber (without THRPUTCORR), electrons/Å
  xt::xtensor<float, 2> ivar;                 ///< IVAR [nspec, nwave] of the model (statistical)
  xt::xtensor<std::int32_t, 2> mask;          ///< MASK [nspec, nwave] specmask bits (BADSKY)
  xt::xtensor<double, 1> wave;                ///< WAVELENGTH [nwave]
  xt::xtensor<float, 1> throughput_corrections;  ///< THRPUTCORR [nspec] (1 where not fitted)
  std::size_t nspec() const { return flux.shape()[0]; }
  std::size_t nwave() const { return wave.size(); }
};

/// compute()'s output: the per-fiber model and what the fit found.
struct result : sky_data {
  xt::xtensor<double, 2> deconvolved;  ///< [K, nwave] s_0 (sky), s_1, s_2 (gradients)
  int iterations = 0;
  std::size_t nrejected = 0;           ///< sky-fiber pixels rejected by the clipping
  std::size_t nsky_used = 0;           ///< sky fibers with data
  double chi2pdf = 0;                  ///< of the sky fibers after the fit
  int solver_status = 0;               ///< banded Cholesky info (0 = success)
};

namespace detail {

template <class T>
struct sky_weights {
  const T* ivar;
  const std::int32_t* mask;
  T* w;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const T v = ivar[k];
    w[k] = (v > T(0) && (!mask || mask[k] == 0) && v == v) ? v : T(0);
  }
};

/// Reject sky-fiber pixels with |d − model| √w > nsig; flags new rejections.
template <class T>
struct reject_pixels {
  int nwave;
  const int* fibers;
  double nsig;
  const T* d;
  const double* model;
  T* w;
  std::uint32_t* flag;  ///< [nfit, nwave]
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int q = static_cast<int>(idx / std::size_t(nwave)), i = static_cast<int>(idx % std::size_t(nwave));
    const std::size_t k = std::size_t(fibers[q]) * nwave + i;
    flag[idx] = 0;
    const double wk = double(w[k]);
    if (!(wk > 0)) return;
    const double r = (double(d[k]) - model[k]) * sqrt(wk);
    if (!(fabs(r) <= nsig)) {
      w[k] = T(0);
      flag[idx] = 1;
    }
  }
};

struct add_size {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};
struct flag_value {
  const std::uint32_t* f;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t i) const { return f[i]; }
};

}  // namespace detail

/// Sky model of `frame` from the fibers listed in `sky_fibers` (indices into the
/// frame) on backend `be`. Throws invalid_argument for no sky fibers, an index out
/// of range, sky fibers without any valid pixel, or inconsistent shapes
/// (mismatched wavelength grids); numerical trouble is reported in the result
/// (solver_status, BADSKY). Blocking.
template <backend::Backend B, class T>
result compute(B be, const frame_view<T>& frame, std::span<const int> sky_fibers, const options& opt = {}) {
  const char* fn = "specx::sky::compute";
  frame.check(fn);
  namespace cd = specx::detail::calib;
  const int ns = frame.nspec, nw = frame.nwave;
  const std::size_t npix = frame.size();
  if (sky_fibers.empty()) throw invalid_argument(std::string(fn) + ": no sky fibers");
  for (int f : sky_fibers)
    if (f < 0 || f >= ns) throw invalid_argument(std::string(fn) + ": sky fiber " + std::to_string(f) + " is outside 0.." + std::to_string(ns - 1));
  const int K = opt.gradient ? 3 : 1;
  if (opt.gradient && (opt.fiber_x.size() != std::size_t(ns) || opt.fiber_y.size() != std::size_t(ns)))
    throw invalid_argument(std::string(fn) + ": the gradient needs fiber_x and fiber_y for every fiber");

  auto d_d = backend::to_backend(be, std::span<const T>(frame.flux, npix));
  auto d_ivar = backend::to_backend(be, std::span<const T>(frame.ivar, npix));
  auto d_mask = backend::to_backend(be, std::span<const std::int32_t>(frame.mask, frame.mask ? npix : 0));
  auto d_w = backend::make_vector<T>(be, npix);
  backend::for_each_index(be, npix,
                          detail::sky_weights<T>{backend::raw(be, d_ivar), frame.mask ? backend::raw(be, d_mask) : nullptr,
                                                 backend::raw(be, d_w)});
  // sky fibers with data
  std::vector<int> fit;
  {
    const auto w = backend::to_host(be, d_w);
    for (int f : sky_fibers) {
      bool any = false;
      for (int i = 0; i < nw && !any; ++i) any = w[std::size_t(f) * nw + i] > 0;
      if (any && std::find(fit.begin(), fit.end(), f) == fit.end()) fit.push_back(f);
    }
  }
  if (fit.empty()) throw invalid_argument(std::string(fn) + ": no valid sky fibers (every sky-fiber pixel has ivar = 0 or is masked)");
  auto d_fit = backend::to_backend(be, std::span<const int>(fit));
  auto d_res = backend::to_backend(be, std::span<const T>(frame.resolution.data, frame.resolution.size()));

  // per-fiber coefficients [ns, K]: 1, x̂, ŷ; times the throughput correction
  std::vector<double> base(std::size_t(ns) * K, 1.0), corr(std::size_t(ns), 1.0);
  if (opt.gradient) {
    double mx = 0, my = 0;
    for (int f : fit) {
      mx += opt.fiber_x[f];
      my += opt.fiber_y[f];
    }
    mx /= double(fit.size());
    my /= double(fit.size());
    double sx = 0, sy = 0;
    for (int f : fit) {
      sx += (opt.fiber_x[f] - mx) * (opt.fiber_x[f] - mx);
      sy += (opt.fiber_y[f] - my) * (opt.fiber_y[f] - my);
    }
    sx = std::sqrt(sx / double(fit.size()));
    sy = std::sqrt(sy / double(fit.size()));
    if (!(sx > 0) || !(sy > 0)) throw invalid_argument(std::string(fn) + ": the sky fibers' positions do not span x and y");
    for (int f = 0; f < ns; ++f) {
      base[std::size_t(f) * K + 1] = (opt.fiber_x[f] - mx) / sx;
      base[std::size_t(f) * K + 2] = (opt.fiber_y[f] - my) / sy;
    }
  }
  auto coef_h = base;
  auto d_coef = backend::to_backend(be, std::span<const double>(coef_h));

  result out;
  cd::normal_inputs<T> in;
  in.r = {backend::raw(be, d_res), ns, frame.resolution.ndiag, nw};
  in.fibers = backend::raw(be, d_fit);
  in.nfit = int(fit.size());
  in.K = K;
  in.coef = backend::raw(be, d_coef);
  in.w = backend::raw(be, d_w);
  in.d = backend::raw(be, d_d);
  backend::vector_t<B, double> d_x, d_zb;
  backend::vector_t<B, std::uint8_t> d_cov;
  auto d_model = backend::make_vector<double>(be, npix);
  auto d_var = backend::make_vector<double>(be, npix);
  auto d_flag = backend::make_vector<std::uint32_t>(be, fit.size() * std::size_t(nw));

  auto fit_and_clip = [&]() {
    for (int it = 0; it < std::max(1, opt.max_iterations); ++it) {
      ++out.iterations;
      out.solver_status = cd::solve_normal(be, in, opt.ridge, 1e-12, false, d_x, d_zb, d_cov);
      backend::for_each_index(be, npix,
                              cd::evaluate_model<T>{in, backend::raw(be, d_x), nullptr, backend::raw(be, d_cov),
                                                    backend::raw(be, d_model), nullptr});
      backend::for_each_index(be, fit.size() * std::size_t(nw),
                              detail::reject_pixels<T>{nw, backend::raw(be, d_fit), opt.nsig_clip, backend::raw(be, d_d),
                                                       backend::raw(be, d_model), backend::raw(be, d_w), backend::raw(be, d_flag)});
      const std::size_t nnew = backend::transform_reduce(be, fit.size() * std::size_t(nw),
                                                         detail::flag_value{backend::raw(be, d_flag)}, std::size_t(0),
                                                         detail::add_size{});
      out.nrejected += nnew;
      if (nnew == 0) break;
    }
  };
  fit_and_clip();

  if (opt.throughput_correction && fit.size() > 1) {
    // a_f = Σ w d m / Σ w m² over the sky fiber's valid pixels, then median-normalised
    const auto m = backend::to_host(be, d_model);
    const auto w = backend::to_host(be, d_w);
    std::vector<double> a;
    for (int f : fit) {
      double num = 0, den = 0;
      for (int i = 0; i < nw; ++i) {
        const std::size_t k = std::size_t(f) * nw + i;
        num += double(w[k]) * double(frame.flux[k]) * m[k];
        den += double(w[k]) * m[k] * m[k];
      }
      corr[f] = den > 0 ? num / den : 1.0;
      a.push_back(corr[f]);
    }
    std::nth_element(a.begin(), a.begin() + a.size() / 2, a.end());
    const double med = a[a.size() / 2] > 0 ? a[a.size() / 2] : 1.0;
    for (int f : fit) corr[f] /= med;
    for (int f = 0; f < ns; ++f)
      for (int k = 0; k < K; ++k) coef_h[std::size_t(f) * K + k] = base[std::size_t(f) * K + k] * corr[f];
    d_coef = backend::to_backend(be, std::span<const double>(coef_h));
    in.coef = backend::raw(be, d_coef);
    fit_and_clip();
  }

  // final solve with the inverse band; model and variance for every fiber (without
  // the throughput correction, which DESI keeps in THRPUTCORR)
  out.solver_status = cd::solve_normal(be, in, opt.ridge, 1e-12, true, d_x, d_zb, d_cov);
  auto d_base = backend::to_backend(be, std::span<const double>(base));
  cd::normal_inputs<T> ev = in;
  ev.coef = backend::raw(be, d_base);
  backend::for_each_index(be, npix,
                          cd::evaluate_model<T>{ev, backend::raw(be, d_x), backend::raw(be, d_zb), backend::raw(be, d_cov),
                                                backend::raw(be, d_model), backend::raw(be, d_var)});

  const auto m = backend::to_host(be, d_model);
  const auto v = backend::to_host(be, d_var);
  const auto x = backend::to_host(be, d_x);
  const auto w = backend::to_host(be, d_w);
  const std::array<std::size_t, 2> sh{std::size_t(ns), std::size_t(nw)};
  out.flux = xt::xtensor<float, 2>::from_shape(sh);
  out.ivar = xt::xtensor<float, 2>::from_shape(sh);
  out.mask = xt::xtensor<std::int32_t, 2>::from_shape(sh);
  out.wave = xt::xtensor<double, 1>::from_shape({std::size_t(nw)});
  out.throughput_corrections = xt::xtensor<float, 1>::from_shape({std::size_t(ns)});
  out.deconvolved = xt::xtensor<double, 2>::from_shape({std::size_t(K), std::size_t(nw)});
  for (int i = 0; i < nw; ++i) {
    out.wave(i) = frame.wave[i];
    for (int k = 0; k < K; ++k) out.deconvolved(k, i) = x[std::size_t(i) * K + k];
  }
  for (int f = 0; f < ns; ++f) out.throughput_corrections(f) = float(corr[f]);
  const bool solved = out.solver_status == 0;
  for (std::size_t k = 0; k < npix; ++k) {
    const bool ok = solved && v[k] > 0 && std::isfinite(v[k]) && std::isfinite(m[k]);
    out.flux.data()[k] = ok ? float(m[k]) : 0.0f;
    out.ivar.data()[k] = ok ? float(1.0 / v[k]) : 0.0f;
    out.mask.data()[k] = ok ? 0 : specmask::BADSKY;
  }
  double chi2 = 0;
  std::size_t ndata = 0;
  for (int f : fit)
    for (int i = 0; i < nw; ++i) {
      const std::size_t k = std::size_t(f) * nw + i;
      if (!(w[k] > 0)) continue;
      const double r = double(frame.flux[k]) - corr[f] * m[k];
      chi2 += r * r * double(w[k]);
      ++ndata;
    }
  out.nsky_used = fit.size();
  const double npar = double(nw) * K;
  out.chi2pdf = double(ndata) > npar ? chi2 / (double(ndata) - npar) : 0.0;
  return out;
}

}  // namespace specx::sky
