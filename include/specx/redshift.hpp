// specx::redshift — redshifts by PCA-template χ²(z) scans, redrock's method
// (docs/redshift.md):
//
//   redshift/templates.hpp   rr_template, default grids, default IGM models
//   redshift/igm_models.hpp  Calura12, Kamble20, Inoue14 transmission
//   redshift/targets.hpp     target_batch (cameras on shared grids), prepare()
//   redshift/zscan.hpp       batched coarse scan on any backend, fit_pairs
//   redshift/fitz.hpp        minima, parabola refinement, DELTACHI2
//   redshift/zfind.hpp       zfind: scan + refine + rank, ZWARN
//   redshift/zwarn.hpp       ZWARN bits
// File I/O (templates, DESI spectra → targets, REDSHIFTS catalogue) is in
// redshift/io.hpp, which is not included here (it pulls in CFITSIO).
#pragma once

#include "redshift/fitz.hpp"
#include "redshift/igm_models.hpp"
#include "redshift/targets.hpp"
#include "redshift/templates.hpp"
#include "redshift/zfind.hpp"
#include "redshift/zscan.hpp"
#include "redshift/zwarn.hpp"
