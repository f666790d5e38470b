// Data types of the coadd: views in, owning backend spectra out. See docs/coadd.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../resolution/banded.hpp"

namespace specx::coadd {

/// nspec spectra of one camera in backend memory, row-major: flux, ivar, mask
/// [nspec, nwave] (mask may be null: all good), resolution [nspec, ndiag, nwave]
/// in DESI's diagonal storage (data null: identity). Calibrated flux
/// (1e-17 erg/s/cm²/Å) for DESI files, but any unit works.
template <class T>
struct spectra_view {
  const T* flux = nullptr;
  const T* ivar = nullptr;
  const std::int32_t* mask = nullptr;
  resolution::banded_view<const T> resolution;
  int nspec = 0, nwave = 0;
};

/// A camera's spectra with their band name and wavelength grid (host, Å).
template <class T>
struct camera_view {
  std::string band;
  std::vector<double> wave;
  spectra_view<T> data;
};

/// Owning coadded spectra in backend B's memory (same layouts as spectra_view).
template <class B, class T = float>
struct spectra {
  std::string band;                          ///< "b", or "brz" after coadd_cameras
  std::vector<double> wave;                  ///< [nwave]
  int nspec = 0, nwave = 0;
  backend::vector_t<B, T> flux, ivar;
  backend::vector_t<B, std::int32_t> mask;
  resolution::backend_banded<B, T> resolution;
  std::size_t nclipped = 0;    ///< input pixels rejected as cosmics
  std::size_t nzero_rows = 0;  ///< output rows without any weight (zero resolution rows)

  spectra_view<T> view() const {
    return {backend::raw(B{}, flux), backend::raw(B{}, ivar), backend::raw(B{}, mask), resolution.view(), nspec, nwave};
  }
  camera_view<T> camera() const { return {band, wave, view()}; }
};

/// Which input rows form each output spectrum: slot g·nexp + e is exposure e of
/// output g, taken from frame slot_frame[slot] (−1: empty) row slot_row[slot].
struct stack_map {
  int ngroup = 0, nexp = 0;
  std::vector<int> slot_frame, slot_row;
};

/// Options of coadd_exposures.
struct exposure_options {
  double cosmics_nsig = 4.0;  ///< ≤ 0: no clipping (desispec default 4)
  int min_for_cosmics = 3;    ///< no clipping with fewer usable exposures (desispec)
  std::size_t chunk = 64;     ///< output spectra stacked at once (memory bound)
};

/// Options of coadd_cameras.
struct camera_options {
  double tolerance = 1e-4;  ///< Å, grid alignment tolerance (desispec's)
  std::size_t chunk = 64;
};

}  // namespace specx::coadd
