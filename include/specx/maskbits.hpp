// DESI mask bits, in one place: CCD pixels (ccdmask), spectral bins (specmask) and
// whole fibers (fibermask). Values are those of desispec.maskbits (read from its
// public source, 2024), so masks written by specx mean the same to DESI's tools.
// Every mask array in specx is int32 holding these bits (DESI files store uint32;
// the bit pattern is identical, see docs/formats.md).
#pragma once

#include <cstdint>

namespace specx {

/// CCD pixel mask (preprocessed images: MASK HDU of preproc files).
namespace ccdmask {
inline constexpr std::int32_t BAD = 1 << 0;           ///< pre-determined bad pixel (any reason)
inline constexpr std::int32_t HOT = 1 << 1;           ///< hot pixel
inline constexpr std::int32_t DEAD = 1 << 2;          ///< dead pixel (specx also sets it on a dead amplifier)
inline constexpr std::int32_t SATURATED = 1 << 3;     ///< saturated pixel from object
inline constexpr std::int32_t COSMIC = 1 << 4;        ///< cosmic ray
inline constexpr std::int32_t PIXFLATZERO = 1 << 5;   ///< pixel flat is 0
inline constexpr std::int32_t PIXFLATLOW = 1 << 6;    ///< pixel flat < 0.1
inline constexpr std::int32_t HIGHVAR = 1 << 7;       ///< high variability in pixel value
inline constexpr std::int32_t BADREADNOISE = 1 << 8;  ///< very high amplifier read noise
}  // namespace ccdmask

/// Spectral pixel mask (frames, sky, fiberflat, spectra files).
namespace specmask {
inline constexpr std::int32_t SOMEBADPIX = 1 << 0;    ///< some input pixels were masked or ivar = 0
inline constexpr std::int32_t ALLBADPIX = 1 << 1;     ///< all input pixels were masked or ivar = 0
inline constexpr std::int32_t COSMIC = 1 << 2;        ///< input pixels included a masked cosmic
inline constexpr std::int32_t LOWFLAT = 1 << 3;       ///< fiber flat < 0.5
inline constexpr std::int32_t BADFIBERFLAT = 1 << 4;  ///< bad fiber flat solution
inline constexpr std::int32_t BRIGHTSKY = 1 << 5;     ///< bright sky level
inline constexpr std::int32_t BADSKY = 1 << 6;        ///< bad sky model
inline constexpr std::int32_t BAD2DFIT = 1 << 7;      ///< bad fit of the extraction 2-d model to the pixels
inline constexpr std::int32_t NODATA = 1 << 8;        ///< no data exists
inline constexpr std::int32_t BADFIBER = 1 << 9;      ///< fibermask has a non-zero bit
}  // namespace specmask

/// Whole-fiber mask (FIBERSTATUS in fibermaps).
namespace fibermask {
inline constexpr std::int32_t UNASSIGNED = 1 << 0;
inline constexpr std::int32_t STUCKPOSITIONER = 1 << 1;
inline constexpr std::int32_t BROKENFIBER = 1 << 2;
inline constexpr std::int32_t RESTRICTED = 1 << 3;
inline constexpr std::int32_t MISSINGPOSITION = 1 << 8;
inline constexpr std::int32_t BADPOSITION = 1 << 9;
inline constexpr std::int32_t POORPOSITION = 1 << 10;
inline constexpr std::int32_t LOWEFFTIME = 1 << 15;
inline constexpr std::int32_t BADFIBER = 1 << 16;
inline constexpr std::int32_t BADTRACE = 1 << 17;
inline constexpr std::int32_t BADFLAT = 1 << 18;
inline constexpr std::int32_t BADARC = 1 << 19;
inline constexpr std::int32_t MANYBADCOL = 1 << 20;
inline constexpr std::int32_t MANYREJECTED = 1 << 21;
inline constexpr std::int32_t BADAMPB = 1 << 22;
inline constexpr std::int32_t BADAMPR = 1 << 23;
inline constexpr std::int32_t BADAMPZ = 1 << 24;
inline constexpr std::int32_t BADPETALPOS = 1 << 25;
inline constexpr std::int32_t BADPETALSKY = 1 << 26;
inline constexpr std::int32_t BADPETALSTDSTAR = 1 << 27;
inline constexpr std::int32_t BADPETALFLUXCAL = 1 << 28;
inline constexpr std::int32_t BADPETALSNR = 1 << 29;
inline constexpr std::int32_t BADREADNOISE = 1 << 30;
}  // namespace fibermask

}  // namespace specx
