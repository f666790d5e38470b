// specx core numerics: the scalar kernels every module builds on. Scalar kernels
// are SPECX_HOST_DEVICE, allocate nothing and never throw, so backend functors can
// call them on a GPU; host helpers validate and throw specx::invalid_argument.
//
//   core/legendre.hpp  Legendre series in DESI's reduced wavelength u ∈ [−1, 1]
//   core/hermite.hpp   probabilists' Hermite polynomials He_n (Gauss–Hermite PSF)
//   core/gaussian.hpp  pixel-integrated Gaussian, cancellation-free in the tails
//   core/vmath.hpp     batched erfc / exp on hosts (glibc's libmvec where built with it)
//   core/trace.hpp     inversion of monotonic Legendre series (trace y(λ) → λ(y))
//   core/wavegrid.hpp  linear / log10 grids, centres and edges (redrock convention)
//   core/rebin.hpp     flux-conserving rebinning (redrock's trapz_rebin), host and batched
//
// Equations and references: docs/numerics.md.
#pragma once

#include "config.hpp"
#include "core/fwd.hpp"
#include "core/gaussian.hpp"
#include "core/hermite.hpp"
#include "core/legendre.hpp"
#include "core/rebin.hpp"
#include "core/trace.hpp"
#include "core/vmath.hpp"
#include "core/wavegrid.hpp"
