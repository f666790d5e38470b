// Scalar math shims for PSF kernels: <cmath> on the host, CUDA's device
// functions in device passes (the same pattern as core/gaussian.hpp).
#pragma once

#include <cmath>

#include "../../config.hpp"

namespace specx::psf::detail {

#if SPECX_DEVICE_PASS
SPECX_HOST_DEVICE inline float floor_(float x) { return ::floorf(x); }
SPECX_HOST_DEVICE inline double floor_(double x) { return ::floor(x); }
SPECX_HOST_DEVICE inline float pow_(float x, float y) { return ::powf(x, y); }
SPECX_HOST_DEVICE inline double pow_(double x, double y) { return ::pow(x, y); }
SPECX_HOST_DEVICE inline float abs_(float x) { return ::fabsf(x); }
SPECX_HOST_DEVICE inline double abs_(double x) { return ::fabs(x); }
#else
SPECX_HOST_DEVICE inline float floor_(float x) { return std::floor(x); }
SPECX_HOST_DEVICE inline double floor_(double x) { return std::floor(x); }
SPECX_HOST_DEVICE inline float pow_(float x, float y) { return std::pow(x, y); }
SPECX_HOST_DEVICE inline double pow_(double x, double y) { return std::pow(x, y); }
SPECX_HOST_DEVICE inline float abs_(float x) { return std::fabs(x); }
SPECX_HOST_DEVICE inline double abs_(double x) { return std::fabs(x); }
#endif

/// The stamp corner along one axis: the first pixel of a stamp of 2·hsize + 1
/// pixels around the centroid c, floor(c − hsize + ½). specter writes
/// int(c − hsize + ½), which truncates toward zero: the two agree for
/// non-negative arguments and differ by one pixel (specter's stamp is then one
/// pixel shorter) for a centroid within hsize − ½ pixels of the CCD's low edge.
template <class T>
SPECX_HOST_DEVICE int stamp_first_pixel(T c, int hsize) {
  return static_cast<int>(floor_(c - T(hsize) + T(0.5)));
}

/// Divides a non-negative stamp by its sum (left untouched when the sum is not
/// positive: a degenerate model; the device cannot throw).
template <class T>
SPECX_HOST_DEVICE void normalise(T* v, int n) {
  T s = T(0);
  for (int k = 0; k < n; ++k) s += v[k];
  if (s > T(0))
    for (int k = 0; k < n; ++k) v[k] /= s;
}

}  // namespace specx::psf::detail
