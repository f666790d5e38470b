// specx::fluxcalib — flux calibration with standard stars (DESI's step 6).
//
//   fit_standard_stars    best stellar archetype + radial velocity per standard star
//                         over all cameras (continuum-normalised, resolution applied,
//                         sky lines and telluric bands masked), scaled to the star's
//                         photometry through filter curves
//   compute_calibration   per camera: observed / (R · A · model) combined over stars
//                         with clipping, smoothed → deconvolved C(λ) and per-fiber R_f C
//   apply_calibration     frame → cframe (1e-17 erg/s/cm²/Å, ivar propagated)
//
// Generic over the backend; inputs are views of frames in backend memory. File
// layouts (fluxcalib, cframe) are in io/fluxcalib_file.hpp. See docs/fluxcalib.md.
#pragma once

#include "fluxcalib/fwd.hpp"
#include "fluxcalib/types.hpp"
#include "fluxcalib/stdstars.hpp"
#include "fluxcalib/calibration.hpp"
