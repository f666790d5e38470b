// ZWARN bits, as redrock defines them (redrock.zwarning.ZWarningMask), and the
// constants of its decisions.
#pragma once

#include <cstdint>

namespace specx::redshift {

/// redrock's ZWARN bit values.
namespace zwarn {
inline constexpr std::int64_t sky = 1 << 0;                ///< sky fiber
inline constexpr std::int64_t little_coverage = 1 << 1;    ///< NPIXELS < 10·NCOEFF
inline constexpr std::int64_t small_delta_chi2 = 1 << 2;   ///< another good fit within Δχ² < 9
inline constexpr std::int64_t negative_model = 1 << 3;     ///< synthetic spectrum negative (archetypes only)
inline constexpr std::int64_t many_outliers = 1 << 4;
inline constexpr std::int64_t z_fitlimit = 1 << 5;         ///< minimum at the edge of the z range
inline constexpr std::int64_t negative_emission = 1 << 6;
inline constexpr std::int64_t unplugged = 1 << 7;
inline constexpr std::int64_t bad_target = 1 << 8;
inline constexpr std::int64_t nodata = 1 << 9;             ///< no pixel with ivar > 0
inline constexpr std::int64_t bad_minfit = 1 << 10;        ///< bad parabola fit to the χ² minimum
inline constexpr std::int64_t poordata = 1 << 11;
/// Bits that make an individual template fit "bad": such fits sort after good
/// ones and are ignored by DELTACHI2 (redrock zwarning.badfit_mask).
inline constexpr std::int64_t badfit_mask = negative_model | many_outliers | z_fitlimit | negative_emission | bad_minfit;
}  // namespace zwarn

/// redrock.constants
inline constexpr double speed_of_light_kms = 299792.458;
inline constexpr double min_deltachi2 = 9.0;

/// Velocity difference (km/s) of z relative to zref: c (z − zref)/(1 + zref).
inline double velocity_difference(double z, double zref) { return speed_of_light_kms * (z - zref) / (1.0 + zref); }

}  // namespace specx::redshift
