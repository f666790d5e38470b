// Options of the spectro-perfectionism extraction and the DESI spectral mask bits
// it sets. Defaults are DESI's (desispec's desi_extract_spectra calling specter's
// ex2d). See docs/extraction.md.
#pragma once

#include <cstdint>

namespace specx::extract {

/// desispec.maskbits.specmask bits set by extraction.
namespace specmask {
inline constexpr std::int32_t somebadpix = 1 << 0;  ///< > 50% of a bin's PSF weight on masked pixels
inline constexpr std::int32_t allbadpix = 1 << 1;   ///< all of it (flux and ivar are 0)
inline constexpr std::int32_t bad2dfit = 1 << 7;    ///< chi²/pixel of the 2D model above bad2dfit_chi2
inline constexpr std::int32_t nodata = 1 << 8;      ///< the bin could not be solved (flux, ivar 0)
}  // namespace specmask

struct options {
  int bundle_size = 25;        ///< fibers per bundle (no cross-talk assumed between bundles)
  int n_subbundles = 5;        ///< sub-bundles per bundle, each solved with one neighbour per side
  int wave_chunk = 50;         ///< output bins per patch (specter's wavesize)
  double pixpad_frac = 0.8;    ///< extra pixel rows above and below, in stamp heights
  double wavepad_frac = 0.2;   ///< extra padding (in stamp heights) beyond the rows for padded bins
  int ndiag = -1;              ///< resolution half-width; < 0: specter's rule (≤ stamp half sizes)
  double regularize = 0.0;     ///< added (squared) to every diagonal element of AᵀWA
  /// Bins whose Σ_pix w·A is below this fraction of the patch's maximum get the
  /// shortfall (squared) added to their diagonal (specter's low-weight regularisation).
  double min_weight_fraction = 0.01;
  double psferr = 0.01;        ///< fractional PSF model error in chi2pix (specter's psf.psferr default)
  bool full_decorrelation = false;  ///< decorrelate across fibers (specter ndecorr=True)
  bool model_image = true;     ///< return the model image
  double somebadpix_fraction = 0.5;  ///< SOMEBADPIX when the masked PSF fraction exceeds this
  double bad2dfit_chi2 = 100.0;      ///< BAD2DFIT when chi2pix exceeds this (desispec's value)
  int batch_bundles = 1;       ///< bundles solved per batch (memory ~100 MB per bundle)
};

}  // namespace specx::extract
