// Sky subtraction (docs/calibration.md#subtraction):
//   flux' = flux − a_f · sky_f,
//   var'  = var + a_f² var_sky,     ivar' = 1/var' (0 where ivar = 0),
//   mask' = mask | sky mask; where the sky model is undefined (ivar_sky = 0 or
//   BADSKY) ivar' = 0 and BADSKY is set.
// a_f = THRPUTCORR (1 when not fitted), as DESI's final sky is SKY · THRPUTCORR.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "../backend.hpp"
#include "../error.hpp"
#include "../maskbits.hpp"
#include "compute.hpp"

namespace specx::sky {

namespace detail {
template <class T>
struct subtract_pixel {
  int nwave;
  T* flux;
  T* ivar;
  std::int32_t* mask;
  const float* sky;
  const float* sivar;
  const std::int32_t* smask;
  const float* corr;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const double a = corr[k / std::size_t(nwave)];
    const double si = sivar[k];
    if ((smask[k] & specmask::BADSKY) || !(si > 0)) {
      ivar[k] = T(0);
      mask[k] |= smask[k] | specmask::BADSKY;
      return;
    }
    flux[k] = T(double(flux[k]) - a * double(sky[k]));
    const double iv = double(ivar[k]);
    ivar[k] = iv > 0 ? T(1.0 / (1.0 / iv + a * a / si)) : T(0);
    mask[k] |= smask[k];
  }
};
}  // namespace detail

/// Subtract the sky model from every fiber of `frame` (flux, ivar, mask modified in
/// place; mask required) on backend `be`. Throws invalid_argument when the model
/// does not match the frame (fibers, mismatched wavelength grids). Blocking.
template <backend::Backend B, class T>
void subtract(B be, const frame_view<T>& frame, const sky_data& sky) {
  const char* fn = "specx::sky::subtract";
  if (!frame.flux || !frame.ivar || !frame.mask || !frame.wave)
    throw invalid_argument(std::string(fn) + ": the frame needs flux, ivar, mask and wave");
  if (sky.flux.shape()[0] != std::size_t(frame.nspec) || sky.nwave() != std::size_t(frame.nwave) ||
      sky.flux.shape()[1] != sky.nwave() || sky.ivar.shape() != sky.flux.shape() || sky.mask.shape() != sky.flux.shape() ||
      sky.throughput_corrections.size() != std::size_t(frame.nspec))
    throw invalid_argument(std::string(fn) + ": the sky model is [" + std::to_string(sky.flux.shape()[0]) + ", " +
                           std::to_string(sky.nwave()) + "], the frame [" + std::to_string(frame.nspec) + ", " +
                           std::to_string(frame.nwave) + "] (mismatched fibers or wavelength grids)");
  for (int i = 0; i < frame.nwave; ++i)
    if (!(std::abs(sky.wave(i) - frame.wave[i]) <= 1e-3))
      throw invalid_argument(std::string(fn) + ": mismatched wavelength grids at index " + std::to_string(i));
  const std::size_t n = frame.size();
  auto d_flux = backend::to_backend(be, std::span<const T>(frame.flux, n));
  auto d_ivar = backend::to_backend(be, std::span<const T>(frame.ivar, n));
  auto d_mask = backend::to_backend(be, std::span<const std::int32_t>(frame.mask, n));
  auto d_sky = backend::to_backend(be, std::span<const float>(sky.flux.data(), n));
  auto d_si = backend::to_backend(be, std::span<const float>(sky.ivar.data(), n));
  auto d_sm = backend::to_backend(be, std::span<const std::int32_t>(sky.mask.data(), n));
  auto d_c = backend::to_backend(be, std::span<const float>(sky.throughput_corrections.data(), std::size_t(frame.nspec)));
  backend::for_each_index(be, n,
                          detail::subtract_pixel<T>{frame.nwave, backend::raw(be, d_flux), backend::raw(be, d_ivar),
                                                    backend::raw(be, d_mask), backend::raw(be, d_sky), backend::raw(be, d_si),
                                                    backend::raw(be, d_sm), backend::raw(be, d_c)});
  const auto hf = backend::to_host(be, d_flux);
  const auto hi = backend::to_host(be, d_ivar);
  const auto hm = backend::to_host(be, d_mask);
  std::copy(hf.begin(), hf.end(), frame.flux);
  std::copy(hi.begin(), hi.end(), frame.ivar);
  std::copy(hm.begin(), hm.end(), frame.mask);
}

}  // namespace specx::sky
