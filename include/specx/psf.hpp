// specx::psf — point-spread-function models: (fiber, λ) → a normalised,
// pixel-integrated stamp at a trace position on the CCD.
//
//   psf/concept.hpp        the PsfView / Psf concepts every consumer relies on
//   psf/traces.hpp         Legendre traces x(λ), y(λ); y → λ; on-CCD wavelength ranges
//   psf/gauss_hermite.hpp  specex/specter Gauss–Hermite PSF (PSFVER 3 and 2)
//   psf/gaussian.hpp       pixel-integrated 2-D Gaussian (trace-only files, given widths)
//   psf/spot_grid.hpp      interpolated oversampled spot images
//
// Models are owning host objects on a backend; view() hands functors a trivially
// copyable view whose stamp() allocates nothing and runs on a GPU too. Models are
// built from host descriptions or from specx::io::read_psf's result (include
// <specx/io.hpp> for that; this header does not). Equations: docs/psf.md.
#pragma once

#include "config.hpp"
#include "psf/fwd.hpp"
#include "psf/concept.hpp"
#include "psf/traces.hpp"
#include "psf/gauss_hermite.hpp"
#include "psf/gaussian.hpp"
#include "psf/spot_grid.hpp"
