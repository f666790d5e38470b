// Four doubles as one value (one AVX register) for host kernels whose register
// blocking is written out rather than left to the auto-vectoriser (used by the
// redshift χ² kernel), and eight (vw, one AVX-512 register, or vd without
// AVX-512) for its load-bound R·T product: GCC/Clang vector extensions when AVX
// is enabled; a plain struct with the same operations otherwise (without AVX,
// 32-byte vectors would change the ABI). Host only: absent in device passes.
#pragma once

#include <cstring>

#include "../config.hpp"

#if !SPECX_DEVICE_PASS
namespace specx::core::simd {
inline constexpr int lanes = 4;
#if (defined(__GNUC__) || defined(__clang__)) && defined(__AVX__)
using vd = double __attribute__((vector_size(32)));
using vi = long long __attribute__((vector_size(32)));
inline vd zero() { return vd{0.0, 0.0, 0.0, 0.0}; }
inline vd load(const double* p) {
  vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double* p, vd v) { std::memcpy(p, &v, sizeof v); }
/// t where w ≠ 0, else +0.
inline vd where_nonzero(vd w, vd t) { return reinterpret_cast<vd>(reinterpret_cast<vi>(w != 0.0) & reinterpret_cast<vi>(t)); }
inline double lane_sum(vd a) { return (a[0] + a[1]) + (a[2] + a[3]); }
#else
struct vd {
  double v[4];
  vd& operator+=(const vd& o) {
    for (int L = 0; L < 4; ++L) v[L] += o.v[L];
    return *this;
  }
  friend vd operator+(vd a, const vd& b) { return a += b; }
  friend vd operator-(vd a, const vd& b) {
    for (int L = 0; L < 4; ++L) a.v[L] -= b.v[L];
    return a;
  }
  friend vd operator*(vd a, const vd& b) {
    for (int L = 0; L < 4; ++L) a.v[L] *= b.v[L];
    return a;
  }
  friend vd operator*(double s, vd a) {
    for (int L = 0; L < 4; ++L) a.v[L] *= s;
    return a;
  }
  friend vd operator*(vd a, double s) { return s * a; }
};
inline vd zero() { return vd{{0.0, 0.0, 0.0, 0.0}}; }
inline vd load(const double* p) { return vd{{p[0], p[1], p[2], p[3]}}; }
inline void store(double* p, vd v) {
  for (int L = 0; L < 4; ++L) p[L] = v.v[L];
}
inline vd where_nonzero(vd w, vd t) {
  for (int L = 0; L < 4; ++L) t.v[L] = w.v[L] != 0 ? t.v[L] : 0.0;
  return t;
}
inline double lane_sum(vd a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
#endif
/// Eight doubles (one AVX-512 register) where the target has them, else vd:
/// for kernels bound by loads, where a wider vector halves them per element.
#if (defined(__GNUC__) || defined(__clang__)) && defined(__AVX512F__)
inline constexpr int wide_lanes = 8;
using vw = double __attribute__((vector_size(64)));
inline vw load_wide(const double* p) {
  vw v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_wide(double* p, vw v) { std::memcpy(p, &v, sizeof v); }
inline vw zero_wide() { return vw{}; }
inline double lane_sum_wide(vw a) {  // through memory: nvcc's host pass must not subscript vectors
  double v[wide_lanes];
  std::memcpy(v, &a, sizeof a);
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
#else
inline constexpr int wide_lanes = lanes;
using vw = vd;
inline vw load_wide(const double* p) { return load(p); }
inline void store_wide(double* p, vw v) { store(p, v); }
inline vw zero_wide() { return zero(); }
inline double lane_sum_wide(vw a) { return lane_sum(a); }
#endif
}  // namespace specx::core::simd
#endif
