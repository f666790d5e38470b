// Applying a fiber flat to a frame (docs/calibration.md#applying-the-flat):
//   flux' = flux / F,
//   var'  = var / F² + flux'² var_F / F²      (var = 1/ivar, var_F = 1/ivar_F),
//   mask' = mask | flat mask,
// as desispec.fiberflat.apply_fiberflat propagates it. Where F ≤ 0 or the flat is
// flagged BADFIBERFLAT, ivar' = 0 and BADFIBERFLAT is set.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "../backend.hpp"
#include "../error.hpp"
#include "../maskbits.hpp"
#include "compute.hpp"
#include "frame_view.hpp"

namespace specx::fiberflat {

namespace detail {
template <class T>
struct apply_pixel {
  T* flux;
  T* ivar;
  std::int32_t* mask;
  const float* F;
  const float* Fivar;
  const std::int32_t* Fmask;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const double f = F[k], fi = Fivar[k];
    const std::int32_t fm = Fmask[k];
    std::int32_t m = mask[k] | fm;
    if (!(f > 0) || (fm & specmask::BADFIBERFLAT) || !(fi > 0)) {
      ivar[k] = T(0);
      mask[k] = m | specmask::BADFIBERFLAT;
      return;
    }
    const double x = double(flux[k]) / f;
    const double iv = double(ivar[k]);
    flux[k] = T(x);
    if (iv > 0) {
      const double var = 1.0 / (iv * f * f) + x * x / (fi * f * f);
      ivar[k] = T(1.0 / var);
    } else {
      ivar[k] = T(0);
    }
    mask[k] = m;
  }
};
}  // namespace detail

/// Throws invalid_argument unless `ff` matches the frame: same nspec and nwave and
/// the same wavelengths to 1e-3 Å ("mismatched wavelength grids").
template <class T>
void check_compatible(const frame_view<T>& frame, const fiberflat_data& ff, const char* fn) {
  if (ff.fiberflat.shape()[0] != std::size_t(frame.nspec) || ff.nwave() != std::size_t(frame.nwave) ||
      ff.fiberflat.shape()[1] != ff.nwave() || ff.ivar.shape() != ff.fiberflat.shape() || ff.mask.shape() != ff.fiberflat.shape())
    throw invalid_argument(std::string(fn) + ": the fiber flat is [" + std::to_string(ff.fiberflat.shape()[0]) + ", " +
                           std::to_string(ff.nwave()) + "], the frame [" + std::to_string(frame.nspec) + ", " +
                           std::to_string(frame.nwave) + "] (mismatched fibers or wavelength grids)");
  for (int i = 0; i < frame.nwave; ++i)
    if (!(std::abs(ff.wave(i) - frame.wave[i]) <= 1e-3))
      throw invalid_argument(std::string(fn) + ": mismatched wavelength grids at index " + std::to_string(i) + " (" +
                             std::to_string(ff.wave(i)) + " vs " + std::to_string(frame.wave[i]) + " Å)");
}

/// Divide `frame` (flux, ivar, mask modified in place; mask must be present) by
/// the fiber flat on backend `be`. Blocking.
template <backend::Backend B, class T>
void apply(B be, const frame_view<T>& frame, const fiberflat_data& ff) {
  const char* fn = "specx::fiberflat::apply";
  if (!frame.flux || !frame.ivar || !frame.mask || !frame.wave)
    throw invalid_argument(std::string(fn) + ": the frame needs flux, ivar, mask and wave");
  check_compatible(frame, ff, fn);
  const std::size_t n = frame.size();
  auto d_flux = backend::to_backend(be, std::span<const T>(frame.flux, n));
  auto d_ivar = backend::to_backend(be, std::span<const T>(frame.ivar, n));
  auto d_mask = backend::to_backend(be, std::span<const std::int32_t>(frame.mask, n));
  auto d_F = backend::to_backend(be, std::span<const float>(ff.fiberflat.data(), n));
  auto d_Fi = backend::to_backend(be, std::span<const float>(ff.ivar.data(), n));
  auto d_Fm = backend::to_backend(be, std::span<const std::int32_t>(ff.mask.data(), n));
  backend::for_each_index(be, n,
                          detail::apply_pixel<T>{backend::raw(be, d_flux), backend::raw(be, d_ivar), backend::raw(be, d_mask),
                                                 backend::raw(be, d_F), backend::raw(be, d_Fi), backend::raw(be, d_Fm)});
  const auto hf = backend::to_host(be, d_flux);
  const auto hi = backend::to_host(be, d_ivar);
  const auto hm = backend::to_host(be, d_mask);
  std::copy(hf.begin(), hf.end(), frame.flux);
  std::copy(hi.begin(), hi.end(), frame.ivar);
  std::copy(hm.begin(), hm.end(), frame.mask);
}

}  // namespace specx::fiberflat
