// specx::io — FITS input/output (CFITSIO) for DESI-compatible files.
//
// fits_file       RAII CFITSIO handle: HDUs, images, keywords, binary tables
// table           generic in-memory binary table (FIBERMAP, SCORES, ...)
// read_psf        DESI PSF files (PSFVER 3, PSFVER 2, trace-only)
// read_spectra / write_spectra   DESI spectra and coadd files
// read_template   redrock template files
// read_frame / write_frame       DESI frame files (extraction output)
// calib files     fiberflat, sky (calib_files.hpp), fluxcalib and cframe (fluxcalib_file.hpp)
//
// Host arrays are xt::xtensor in row-major (C) order with numpy's shapes.
// No numerical header includes this one (CFITSIO stays out of algorithms).
// File layouts: docs/formats.md.
#pragma once

#include "io/fwd.hpp"
#include "io/fits.hpp"
#include "io/table.hpp"
#include "io/psf_file.hpp"
#include "io/spectra_file.hpp"
#include "io/template_file.hpp"
#include "io/frame_file.hpp"
#include "io/calib_files.hpp"
#include "io/fluxcalib_file.hpp"
