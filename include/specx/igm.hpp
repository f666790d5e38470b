// specx::igm — mean transmission of the intergalactic medium blueward of Lyα.
//
//   igm/inoue14.hpp   Inoue, Shimizu, Iwata & Tanaka (2014) analytic model:
//                     inoue14_table (coefficients, trivially copyable), read_inoue14,
//                     transmission(table, λ_obs, z) callable in device functors.
//
// Used by the forward model (QSO spectra) and, later, by the redshift scanner
// (redrock applies the same model to QSO templates). See docs/simulation.md#igm.
#pragma once

#include "config.hpp"
#include "igm/inoue14.hpp"
