// Synthetic AB photometry for the forward model: the library's own
// (specx/photometry.hpp, docs/simulation.md#photometry) under the sim namespace,
// so the simulation and the flux calibration measure magnitudes with one
// definition (filter curve, ECSV reader, trapezoid on the spectrum's samples,
// AB zero point).
#pragma once

#include "../photometry.hpp"

namespace specx::sim {

namespace constants = photometry::constants;
using photometry::ab_magnitude;
using photometry::filter_curve;
using photometry::flat_fnu_flambda;
using photometry::read_filter_ecsv;

}  // namespace specx::sim
