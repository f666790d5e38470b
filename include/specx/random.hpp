// specx::random — counter-based random numbers for reproducible, parallel
// simulations (docs/simulation.md#random-numbers).
//
// A counter-based generator is a keyed bijection of a counter (Salmon, Moraes,
// Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3", SC'11): the
// n-th block of 128 random bits for (seed, stream, index) is
//
//   philox4x32_10(counter = {index_lo, index_hi, stream, n}, key = {seed_lo, seed_hi}),
//
// so any draw depends only on its own coordinates, never on which thread or in
// which order other draws were made. A pixel's noise in a simulated image uses
// (seed, stream, pixel index) alone, which is why cpu and thrust-omp images are
// bitwise identical (both use the host libm for log/exp/sqrt; CUDA's device libm
// differs in the last bits, so thrust-cuda images agree statistically, not bitwise).
//
// Everything here is SPECX_HOST_DEVICE, allocation-free and never throws.
#pragma once

#include <cmath>
#include <cstdint>

#include "config.hpp"

namespace specx::random {

/// Four 32-bit words: a Philox counter or one output block.
struct u32x4 {
  std::uint32_t v[4];
};

namespace detail {
SPECX_HOST_DEVICE inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

template <class T>
SPECX_HOST_DEVICE T dlog(T x) {
#if SPECX_DEVICE_PASS
  return ::log(x);
#else
  return std::log(x);
#endif
}
template <class T>
SPECX_HOST_DEVICE T dexp(T x) {
#if SPECX_DEVICE_PASS
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
template <class T>
SPECX_HOST_DEVICE T dsqrt(T x) {
#if SPECX_DEVICE_PASS
  return ::sqrt(x);
#else
  return std::sqrt(x);
#endif
}
template <class T>
SPECX_HOST_DEVICE T dcos(T x) {
#if SPECX_DEVICE_PASS
  return ::cos(x);
#else
  return std::cos(x);
#endif
}
template <class T>
SPECX_HOST_DEVICE T dlgamma(T x) {
#if SPECX_DEVICE_PASS
  return ::lgamma(x);
#else
  return std::lgamma(x);
#endif
}
template <class T>
SPECX_HOST_DEVICE T dfloor(T x) {
#if SPECX_DEVICE_PASS
  return ::floor(x);
#else
  return std::floor(x);
#endif
}
}  // namespace detail

/// Philox4x32 with 10 rounds (Salmon et al. 2011): multipliers 0xD2511F53 and
/// 0xCD9E8D57, Weyl key increments 0x9E3779B9 and 0xBB67AE85. Matches Random123's
/// known-answer vectors (tests/test_sim_noise.cpp).
SPECX_HOST_DEVICE inline u32x4 philox4x32_10(u32x4 c, std::uint32_t k0, std::uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    std::uint32_t hi0, lo0, hi1, lo1;
    detail::mulhilo32(0xD2511F53u, c.v[0], hi0, lo0);
    detail::mulhilo32(0xCD9E8D57u, c.v[2], hi1, lo1);
    c = u32x4{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return c;
}

/// Stream identifiers used by specx's simulation, so that independent random
/// quantities of one seed never share a counter.
namespace stream {
inline constexpr std::uint32_t pixel_noise = 1;      ///< Poisson + read noise of a CCD pixel
inline constexpr std::uint32_t cosmic = 2;           ///< cosmic-ray events
inline constexpr std::uint32_t bad_column = 3;       ///< bad-column placement
inline constexpr std::uint32_t target = 4;           ///< per-fiber target properties
inline constexpr std::uint32_t throughput = 5;       ///< fiber-to-fiber throughput
inline constexpr std::uint32_t sky = 6;              ///< per-fiber sky level
inline constexpr std::uint32_t user = 1000;          ///< first id free for applications
}  // namespace stream

/// A generator positioned at (seed, stream, index). Cheap to construct inside a
/// functor; draws advance a block counter n, so one (seed, stream, index) owns an
/// effectively unlimited sequence (2^32 blocks of 4 words). Trivially copyable.
class counter_rng {
 public:
  SPECX_HOST_DEVICE counter_rng(std::uint64_t seed, std::uint32_t stream_id, std::uint64_t index)
      : k0_(static_cast<std::uint32_t>(seed)),
        k1_(static_cast<std::uint32_t>(seed >> 32)),
        c0_(static_cast<std::uint32_t>(index)),
        c1_(static_cast<std::uint32_t>(index >> 32)),
        c2_(stream_id) {}

  /// The next 32 random bits.
  SPECX_HOST_DEVICE std::uint32_t next_u32() {
    if (used_ == 4) {
      buf_ = philox4x32_10(u32x4{{c0_, c1_, c2_, block_++}}, k0_, k1_);
      used_ = 0;
    }
    return buf_.v[used_++];
  }

  /// Uniform in the open interval (0, 1), 53 random bits: (m + ½)·2⁻⁵³.
  SPECX_HOST_DEVICE double uniform() {
    const std::uint64_t a = next_u32() >> 5;  // 27 bits
    const std::uint64_t b = next_u32() >> 6;  // 26 bits
    return (static_cast<double>((a << 26) | b) + 0.5) * (1.0 / 9007199254740992.0);
  }

  /// Standard normal by the Box–Muller transform: z = √(−2 ln u₁)·cos(2π u₂).
  /// (The sine partner is discarded so that the state stays a plain counter.)
  SPECX_HOST_DEVICE double normal() {
    const double u1 = uniform();
    const double u2 = uniform();
    return detail::dsqrt(-2.0 * detail::dlog(u1)) * detail::dcos(6.283185307179586476925 * u2);
  }

  /// A Poisson deviate of mean mu (0 for mu ≤ 0 or NaN). Exact for every mu:
  ///  - mu < 10: multiplication (product of uniforms until it drops below e^−mu),
  ///    O(mu) uniforms;
  ///  - mu ≥ 10: Hörmann's transformed rejection with squeeze, PTRS (W. Hörmann
  ///    1993, "The transformed rejection method for generating Poisson random
  ///    variables", Insurance: Mathematics and Economics 12, 39), about 1.1 pairs
  ///    of uniforms per draw whatever mu.
  SPECX_HOST_DEVICE double poisson(double mu) {
    if (!(mu > 0)) return 0;
    if (mu < 10) {
      const double limit = detail::dexp(-mu);
      double p = uniform();
      double k = 0;
      while (p > limit) {
        p *= uniform();
        k += 1;
      }
      return k;
    }
    // PTRS: a triangle-plus-uniform hat of the transformed variable k(u), accepted
    // directly inside the squeeze (us ≥ 0.07, v ≤ v_r), else by the exact ratio
    // test log(v·α/(a/us² + b)) ≤ −mu + k ln(mu) − ln k!.
    const double smu = detail::dsqrt(mu);
    const double lmu = detail::dlog(mu);
    const double b = 0.931 + 2.53 * smu;
    const double a = -0.059 + 0.02483 * b;
    const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    const double vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
      const double u = uniform() - 0.5;
      const double v = uniform();
      const double us = 0.5 - (u < 0 ? -u : u);
      const double k = detail::dfloor((2.0 * a / us + b) * u + mu + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (detail::dlog(v) + detail::dlog(inv_alpha) - detail::dlog(a / (us * us) + b) <=
          -mu + k * lmu - detail::dlgamma(k + 1.0))
        return k;
    }
  }

 private:
  std::uint32_t k0_, k1_, c0_, c1_, c2_;
  std::uint32_t block_ = 0;
  std::uint32_t used_ = 4;
  u32x4 buf_{{0, 0, 0, 0}};
};

}  // namespace specx::random
