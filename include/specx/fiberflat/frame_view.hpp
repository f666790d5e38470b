// A non-owning view of an extracted frame, the input of fiberflat and sky: flux,
// ivar, mask [nspec, nwave] (row-major), the wavelength grid [nwave] and the
// resolution matrices [nspec, ndiag, nwave] (DESI diagonal storage). All pointers
// are HOST memory; the algorithms copy what they need to their backend. Any frame
// type (the extraction's, a file read back, a test's) plugs in through
// make_frame_view.
#pragma once

#include <cstdint>
#include <string>

#include <xtensor/xtensor.hpp>

#include "../error.hpp"
#include "../resolution/banded.hpp"

namespace specx {

/// Host view of one camera frame. mask may be null (no bits). T is the element
/// type of flux, ivar and resolution (float for DESI frames).
template <class T>
struct frame_view {
  int nspec = 0;
  int nwave = 0;
  const double* wave = nullptr;    ///< [nwave], Å, strictly increasing
  T* flux = nullptr;               ///< [nspec, nwave]
  T* ivar = nullptr;               ///< [nspec, nwave]
  std::int32_t* mask = nullptr;    ///< [nspec, nwave] specmask bits, or null
  resolution::banded_view<const T> resolution;  ///< [nspec, ndiag, nwave]

  std::size_t size() const { return std::size_t(nspec) * std::size_t(nwave); }

  /// Throws invalid_argument (naming `fn`) unless every array is present and the
  /// shapes agree: the resolution's nspec/nwave must equal the frame's and its
  /// ndiag must be odd; the wavelength grid must be strictly increasing.
  void check(const char* fn) const {
    auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
    if (nspec <= 0 || nwave <= 1) fail("empty frame (nspec = " + std::to_string(nspec) + ", nwave = " + std::to_string(nwave) + ")");
    if (!wave || !flux || !ivar || !resolution.data) fail("frame arrays missing (wave, flux, ivar, resolution are required)");
    if (resolution.nspec != nspec || resolution.nwave != nwave)
      fail("resolution is [" + std::to_string(resolution.nspec) + ", " + std::to_string(resolution.ndiag) + ", " +
           std::to_string(resolution.nwave) + "] but the frame is [" + std::to_string(nspec) + ", " + std::to_string(nwave) +
           "]: mismatched wavelength grids or fiber sets");
    if (resolution.ndiag % 2 != 1) fail("resolution ndiag must be odd");
    for (int j = 1; j < nwave; ++j)
      if (!(wave[j] > wave[j - 1])) fail("wavelength grid is not strictly increasing at index " + std::to_string(j));
  }
};

/// A frame_view of xtensor arrays: flux, ivar, mask [nspec, nwave], wave [nwave],
/// resolution [nspec, ndiag, nwave]. Shapes are checked (invalid_argument).
template <class T>
frame_view<T> make_frame_view(xt::xtensor<T, 2>& flux, xt::xtensor<T, 2>& ivar, xt::xtensor<std::int32_t, 2>& mask,
                              const xt::xtensor<double, 1>& wave, const xt::xtensor<T, 3>& resolution) {
  const char* fn = "specx::make_frame_view";
  if (ivar.shape() != flux.shape() || (mask.size() != 0 && mask.shape() != flux.shape()))
    throw invalid_argument(std::string(fn) + ": flux, ivar and mask shapes differ");
  if (wave.size() != flux.shape()[1])
    throw invalid_argument(std::string(fn) + ": flux has " + std::to_string(flux.shape()[1]) + " wavelengths, the grid " +
                           std::to_string(wave.size()) + " (mismatched wavelength grids)");
  frame_view<T> v;
  v.nspec = int(flux.shape()[0]);
  v.nwave = int(flux.shape()[1]);
  v.wave = wave.data();
  v.flux = flux.data();
  v.ivar = ivar.data();
  v.mask = mask.size() ? mask.data() : nullptr;
  v.resolution = {resolution.data(), int(resolution.shape()[0]), int(resolution.shape()[1]), int(resolution.shape()[2])};
  v.check(fn);
  return v;
}

}  // namespace specx
