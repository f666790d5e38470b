// specx::sim — the forward model of a fiber-spectrograph exposure
// (docs/simulation.md): input spectra → photon budget → PSF projection → CCD.
//
//   sim/photometry.hpp  filter curves, synthetic AB magnitudes
//   sim/spectra.hpp     template spectra (galaxy, QSO with IGM, star), redshifting,
//                       flat- and arc-lamp spectra
//   sim/budget.hpp      telescope, atmosphere, sky, throughput: flux → electrons
//   sim/project.hpp     projection of (fiber, λ) photons through a PSF onto the CCD
//   sim/ccd.hpp         four-amplifier raw frames, noise, cosmics, preprocessed image
//   sim/exposure.hpp    exposure_config → simulated_exposure (simulate_exposure)
//   sim/files.hpp       input loading and DESI-like raw / preproc / truth files (io)
//
// Random numbers come from specx/random.hpp (counter-based: a seed reproduces
// an exposure bit for bit on every host backend); IGM from specx/igm.hpp.
// Unlike the algorithm modules, sim includes io (through sim/files.hpp).
#pragma once

#include "config.hpp"
#include "random.hpp"
#include "igm.hpp"
#include "sim/fwd.hpp"
#include "sim/photometry.hpp"
#include "sim/spectra.hpp"
#include "sim/budget.hpp"
#include "sim/project.hpp"
#include "sim/ccd.hpp"
#include "sim/exposure.hpp"
#include "sim/files.hpp"
