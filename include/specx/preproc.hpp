// specx preproc: raw multi-amplifier CCD frames → preprocessed images in
// electrons with inverse variance and DESI ccdmask bits, cosmic rays included
// (docs/calibration.md). Generic over the backend.
//
//   preproc/amplifiers.hpp  sections and amplifier geometry from header keywords
//   preproc/cosmics.hpp     the PSF-sharpness cosmic-ray test (find_cosmics, psf_gradients)
//   preproc/preprocess.hpp  calc_overscan, preprocess(be, raw, amps, options) → image
#pragma once

#include "config.hpp"
#include "maskbits.hpp"
#include "preproc/amplifiers.hpp"
#include "preproc/cosmics.hpp"
#include "preproc/preprocess.hpp"
