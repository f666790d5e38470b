// specx::coadd — coadds of spectra (DESI's step 7).
//
//   coadd_exposures   per camera, across exposures: inverse-variance weighted mean,
//                     cosmic-ray clipping on flux gradients, resolution rows combined
//                     with the flux's per-row weights (resolution::weighted_combine)
//   coadd_cameras     b/r/z onto one merged grid, overlaps ivar-weighted, R rows too
//   map_by_targetid   which rows of which frames belong to each target
//
// Generic over the backend. DESI spectra/coadd files: coadd/io.hpp (includes io).
// See docs/coadd.md.
#pragma once

#include "coadd/fwd.hpp"
#include "coadd/types.hpp"
#include "coadd/combine.hpp"
