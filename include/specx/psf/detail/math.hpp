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

/// out[q] = Σ_i a[i·as] · b[i·n + q] for q < n (rows i < na of b, n wide), each
/// sum over i ascending from zero. Pixels in blocks of 8 whose sums stay in
/// registers across the i loop (one vector), then the remainder one by one.
template <class T>
SPECX_HOST_DEVICE void combine_rows(const T* a, int as, int na, const T* b, int n, T* out) {
  int q0 = 0;
  for (; q0 + 8 <= n; q0 += 8) {
    T acc[8] = {};
    for (int i = 0; i < na; ++i) {
      const T ai = a[i * as];
      const T* bi = b + i * n + q0;
      for (int L = 0; L < 8; ++L) acc[L] += ai * bi[L];
    }
    for (int L = 0; L < 8; ++L) out[q0 + L] = acc[L];
  }
  for (int q = q0; q < n; ++q) {
    T acc = T(0);
    for (int i = 0; i < na; ++i) acc += a[i * as] * b[i * n + q];
    out[q] = acc;
  }
}

/// Divides a non-negative stamp by its sum (left untouched when the sum is not
/// positive: a degenerate model; the device cannot throw). The sum runs in four
/// interleaved partial sums and the division is one reciprocal and a product per
/// pixel: a serial sum of a 17 × 11 stamp is a 187-add latency chain, and a
/// division per pixel costs more than the rest of this step (both change the
/// result by rounding only, ≲ 2 ulp).
template <class T>
SPECX_HOST_DEVICE void normalise(T* v, int n) {
  T s0 = T(0), s1 = T(0), s2 = T(0), s3 = T(0);
  int k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += v[k];
    s1 += v[k + 1];
    s2 += v[k + 2];
    s3 += v[k + 3];
  }
  for (; k < n; ++k) s0 += v[k];
  const T s = (s0 + s1) + (s2 + s3);
  if (s > T(0)) {
    const T inv = T(1) / s;
    for (k = 0; k < n; ++k) v[k] *= inv;
  }
}

}  // namespace specx::psf::detail
