// The calibration vector of one camera from its fitted standard stars, and its
// application to every fiber (frame → cframe). See docs/fluxcalib.md.
//
// With the standard star's photometrically scaled model F_s (top of the
// atmosphere) and the atmospheric transmission A, a star's spectrum is
//   d_s ≈ a_s · R_s (A · S · F_s),
// S(λ) the instrument throughput in electrons/Å per unit flux (smooth) and a_s the
// star's relative throughput (aperture, photometry errors). As S is smooth on the
// resolution scale, r_s = d_s / R_s(A F_s) ≈ a_s S. The stars are combined per pixel
// by least squares (S = Σ w a r / Σ w a²), the scales refitted (a_s = Σ w r S / Σ w
// S²) and normalised to a harmonic mean of 1 (desispec's convention), pixels beyond
// nsig clipped, iterated; S is then smoothed by a Gaussian local-linear regression.
// The deconvolved calibration is C = A·S (telluric lines kept at full resolution);
// each fiber's calibration is its convolution c_f = R_f C / R_f 1 (desispec's
// "ccalibration"), and cframe = frame / c_f.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../error.hpp"
#include "detail/kernels.hpp"
#include "stdstars.hpp"
#include "types.hpp"

namespace specx::fluxcalib {

/// The calibration of one camera exposure. Per-fiber arrays live in backend B's
/// memory, row-major [nspec, nwave]; units electrons/Å per 1e-17 erg s⁻¹ cm⁻² Å⁻¹
/// (DESI's FLUXCALIB BUNIT "10**+17 cm2 count s / erg").
template <class B>
struct calibration {
  std::string band;
  std::vector<double> wave;                 ///< [nwave]
  int nspec = 0, nwave = 0;
  backend::vector_t<B, float> value;        ///< c_f(λ) per fiber
  backend::vector_t<B, float> ivar;
  backend::vector_t<B, std::int32_t> mask;  ///< specmask::NODATA where undefined
  std::vector<double> mean;                 ///< deconvolved C = A·S [nwave] (0: undefined)
  std::vector<double> mean_sigma;           ///< its 1σ error (0: undefined)
  std::vector<double> throughput;           ///< S [nwave]
  std::vector<double> atmosphere;           ///< A [nwave]
  std::vector<double> star_scale;           ///< a_s (harmonic mean 1 over used stars), 0 if rejected
  std::size_t nstars_used = 0;
  std::size_t nclipped = 0;                 ///< star pixels rejected
  int status = 0;                           ///< 0 ok; 1 no usable standard star
};

/// Computes the calibration of camera `cam` from standard stars at frame rows
/// `stars` with their fits (fit_standard_stars) against `grid`. Stars whose fit
/// failed (status ≠ 0) are ignored. Throws invalid_argument on inconsistent shapes;
/// returns status 1 (all pixels NODATA) when no star is usable. Blocking.
template <backend::Backend B, class T>
calibration<B> compute_calibration(B be, const camera_frame<T>& cam, std::span<const int> stars,
                                   std::span<const star_fit> fits, const stellar_grid& grid,
                                   const calibration_options& opt = {}) {
  const char* fn = "specx::fluxcalib::compute_calibration: ";
  const auto& v = cam.data;
  const int n = v.nwave;
  if (cam.wave.size() != std::size_t(n) || v.resolution.nwave != n || v.resolution.nspec != v.nspec)
    throw invalid_argument(std::string(fn) + "wave, flux and resolution shapes differ");
  if (stars.size() != fits.size()) throw invalid_argument(std::string(fn) + "one fit per star is needed");
  if (!(opt.smooth_sigma > 0)) throw invalid_argument(std::string(fn) + "smooth_sigma must be > 0");
  calibration<B> out;
  out.band = cam.band;
  out.wave = cam.wave;
  out.nspec = v.nspec;
  out.nwave = n;
  out.atmosphere = opt.extinction.wave.size() >= 2 ? atmospheric_transmission(opt.extinction, opt.airmass, cam.wave)
                                                   : std::vector<double>(std::size_t(n), 1.0);
  // ---- models of the usable stars, convolved with their resolution -------------
  std::vector<int> rows;
  std::vector<std::size_t> which;
  std::vector<double> models;
  for (std::size_t s = 0; s < stars.size(); ++s) {
    if (fits[s].status != 0 || !(fits[s].scale > 0)) continue;
    if (stars[s] < 0 || stars[s] >= v.nspec) throw invalid_argument(std::string(fn) + "star row out of range");
    auto m = model_on_grid(grid, fits[s], cam.wave);
    for (int i = 0; i < n; ++i) m[std::size_t(i)] *= out.atmosphere[std::size_t(i)];
    models.insert(models.end(), m.begin(), m.end());
    rows.push_back(stars[s]);
    which.push_back(s);
  }
  out.star_scale.assign(stars.size(), 0.0);
  const std::size_t ns = rows.size(), nn = std::size_t(n), total = ns * nn;
  out.value = backend::make_vector<float>(be, std::size_t(v.nspec) * nn);
  out.ivar = backend::make_vector<float>(be, std::size_t(v.nspec) * nn);
  out.mask = backend::make_vector<std::int32_t>(be, std::size_t(v.nspec) * nn, specmask::NODATA);
  out.mean.assign(nn, 0.0);
  out.mean_sigma.assign(nn, 0.0);
  out.throughput.assign(nn, 0.0);
  if (ns == 0) {
    out.status = 1;
    return out;
  }
  auto rows_d = backend::to_backend(be, std::span<const int>(rows));
  auto x = backend::to_backend(be, std::span<const double>(models));
  auto m = backend::make_vector<double>(be, total);
  backend::for_each_index(be, total, detail::apply_rows<T>{v.resolution, backend::raw(be, rows_d), backend::raw(be, x),
                                                           backend::raw(be, m)});
  auto r = backend::make_vector<double>(be, total);
  auto w = backend::make_vector<double>(be, total);
  backend::for_each_index(be, total, detail::star_ratio<T>{v.flux, v.ivar, v.mask, backend::raw(be, rows_d),
                                                           backend::raw(be, m), n, backend::raw(be, r), backend::raw(be, w)});
  // ---- iterate: mean, scales, clipping ---------------------------------------------
  std::vector<double> a_h(ns, 1.0);
  auto a = backend::to_backend(be, std::span<const double>(a_h));
  auto S = backend::make_vector<double>(be, nn);
  auto W = backend::make_vector<double>(be, nn);
  auto count = backend::make_vector<int>(be, nn);
  std::vector<char> used(ns, 1);
  auto mean_step = [&] {
    backend::for_each_index(be, nn, detail::mean_ratio{backend::raw(be, r), backend::raw(be, w), backend::raw(be, a),
                                                       int(ns), n, backend::raw(be, S), backend::raw(be, W),
                                                       backend::raw(be, count)});
  };
  for (int it = 0; it < std::max(1, opt.iterations); ++it) {
    mean_step();
    backend::for_each_index(be, ns, detail::star_scale{backend::raw(be, r), backend::raw(be, w), backend::raw(be, S), n,
                                                       backend::raw(be, a)});
    a_h = backend::to_host(be, a);
    // Reject stars far below the others (DESI: relative scale < 0.2), then
    // normalise the scales to a harmonic mean of 1 over the used stars.
    double inv = 0;
    std::size_t k = 0;
    for (std::size_t s = 0; s < ns; ++s) {
      if (!(a_h[s] > opt.min_scale)) used[s] = 0;
      if (used[s]) {
        inv += 1.0 / a_h[s];
        ++k;
      }
    }
    if (k == 0) {
      out.status = 1;
      return out;
    }
    const double hm = double(k) / inv;
    for (std::size_t s = 0; s < ns; ++s) a_h[s] = used[s] ? a_h[s] / hm : 0.0;
    a = backend::to_backend(be, std::span<const double>(a_h));
    // a rejected star's weights go to zero
    {
      auto wh = backend::to_host(be, w);
      bool changed = false;
      for (std::size_t s = 0; s < ns; ++s)
        if (!used[s])
          for (std::size_t i = 0; i < nn; ++i)
            if (wh[s * nn + i] != 0) {
              wh[s * nn + i] = 0;
              changed = true;
            }
      if (changed) w = backend::to_backend(be, std::span<const double>(wh));
    }
    mean_step();
    const std::size_t nclip = backend::transform_reduce(
        be, total,
        detail::clip_ratio{backend::raw(be, r), backend::raw(be, w), backend::raw(be, a), backend::raw(be, S), n, opt.nsig,
                           opt.model_error},
        std::size_t(0), detail::size_sum{});
    out.nclipped += nclip;
    if (nclip == 0 && it > 0) break;
  }
  mean_step();
  // ---- smooth the throughput, deconvolved calibration, per-fiber convolution -------
  std::size_t nused = 0;
  for (char u : used) nused += u ? 1 : 0;
  const int min_count = std::max(1, std::min(opt.min_stars, int(nused / 2)));
  auto wave_d = backend::to_backend(be, std::span<const double>(cam.wave));
  auto Ss = backend::make_vector<double>(be, nn);
  auto var = backend::make_vector<double>(be, nn);
  backend::for_each_index(be, nn, detail::local_linear{backend::raw(be, wave_d), backend::raw(be, S), backend::raw(be, W),
                                                       backend::raw(be, count), n, min_count, opt.smooth_sigma,
                                                       backend::raw(be, Ss), backend::raw(be, var)});
  out.throughput = backend::to_host(be, Ss);
  const auto var_h = backend::to_host(be, var);
  for (std::size_t i = 0; i < nn; ++i) {
    const bool ok = var_h[i] > 0 && out.throughput[i] > 0;
    out.mean[i] = ok ? out.throughput[i] * out.atmosphere[i] : 0.0;
    out.mean_sigma[i] = ok ? std::sqrt(var_h[i]) * out.atmosphere[i] : 0.0;
  }
  auto C = backend::to_backend(be, std::span<const double>(out.mean));
  auto sC = backend::to_backend(be, std::span<const double>(out.mean_sigma));
  backend::for_each_index(be, std::size_t(v.nspec) * nn,
                          detail::convolve_calibration<T>{v.resolution, backend::raw(be, C), backend::raw(be, sC),
                                                          specmask::NODATA, backend::raw(be, out.value),
                                                          backend::raw(be, out.ivar), backend::raw(be, out.mask)});
  for (std::size_t s = 0; s < ns; ++s) out.star_scale[which[s]] = used[s] ? a_h[s] : 0.0;
  out.nstars_used = nused;
  return out;
}

/// A flux-calibrated frame (cframe): flux in 1e-17 erg s⁻¹ cm⁻² Å⁻¹, ivar, mask, in
/// backend B's memory [nspec, nwave]; the resolution is the input frame's.
template <class B, class T = float>
struct calibrated_frame {
  int nspec = 0, nwave = 0;
  backend::vector_t<B, T> flux, ivar;
  backend::vector_t<B, std::int32_t> mask;
};

/// frame / calibration for every fiber, with the calibration's variance
/// propagated (σ² = σ_f²/c² + f² σ_c²/c⁴); pixels without calibration get ivar 0
/// and NODATA. Throws invalid_argument on shape mismatch. Blocking.
template <backend::Backend B, class T>
calibrated_frame<B, T> apply_calibration(B be, const frame_view<T>& frame, const calibration<B>& cal) {
  if (frame.nspec != cal.nspec || frame.nwave != cal.nwave)
    throw invalid_argument("specx::fluxcalib::apply_calibration: frame [" + std::to_string(frame.nspec) + ", " +
                           std::to_string(frame.nwave) + "] and calibration [" + std::to_string(cal.nspec) + ", " +
                           std::to_string(cal.nwave) + "] differ");
  calibrated_frame<B, T> out;
  out.nspec = frame.nspec;
  out.nwave = frame.nwave;
  const std::size_t n = std::size_t(frame.nspec) * std::size_t(frame.nwave);
  out.flux = backend::make_vector<T>(be, n);
  out.ivar = backend::make_vector<T>(be, n);
  out.mask = backend::make_vector<std::int32_t>(be, n);
  backend::for_each_index(be, n,
                          detail::apply_calibration_pixel<T>{frame.flux, frame.ivar, frame.mask, backend::raw(be, cal.value),
                                                             backend::raw(be, cal.ivar), backend::raw(be, cal.mask),
                                                             backend::raw(be, out.flux), backend::raw(be, out.ivar),
                                                             backend::raw(be, out.mask)});
  return out;
}

}  // namespace specx::fluxcalib
