// Flux-conserving rebinning of many inputs at many scales by direct summation
// over interleaved samples: the host counterpart of prefix_rebin.hpp, for inputs
// rebinned many times (a template basis at thousands of redshifts).
//
// The same operation as core::trapz_rebin (the mean of the linear interpolant over
// each output bin), summed the same way trapz_bin_mean does it: the partial
// trapezoid from the bin's left edge to the next sample, the whole trapezoids
// between samples, the partial trapezoid to the right edge. The inputs are stored
// sample-major, all inputs of a sample in one record of whole 4-wide vectors
// (y[k, m], zero-padded), so each bin reads a contiguous run of records.
//
// Why not the prefix integrals on a host: a bin then reads two scattered records
// of (hi, lo, y) per edge. A redrock template's prefix table is ≈ 15 MB (80 000
// samples × 3 × 8 padded inputs); in a redshift scan it shares the cache with
// every target's resolution matrix and each record comes from DRAM. The samples
// are a third of that, read in order (hardware prefetch), ≈ 8 samples per DESI
// pixel. On devices the prefix form (O(1) per bin, no walk) remains the choice.
//
// Host only: the functor's body is empty in device passes.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "prefix_rebin.hpp"
#include "simd.hpp"

namespace specx::core {

/// ny rows y [ny, nx] as records of prefix_stride(ny) values per sample:
/// out[k·stride + m] = y[m, k], zero for m ≥ ny. Throws invalid_argument when x
/// has fewer than 2 samples, is not strictly increasing, or y is not [ny, nx].
inline std::vector<double> interleave_samples(std::span<const double> x, std::span<const double> y, std::size_t ny) {
  detail::check_rebin_table_inputs("specx::core::interleave_samples", x, y, ny);
  const std::size_t nx = x.size();
  const std::size_t st = prefix_stride(ny);
  std::vector<double> out(nx * st, 0.0);
  for (std::size_t m = 0; m < ny; ++m)
    for (std::size_t k = 0; k < nx; ++k) out[k * st + m] = y[m * nx + k];
  return out;
}

/// Work item c·nscale + k: scale k, bins [c·chunk, min((c+1)·chunk, nbins)) of
/// out[k, m, i] = mean over [edges[i]·s_k, edges[i+1]·s_k] of input m.
struct sample_rebin_chunk {
  const double* x;
  const double* ys;  ///< [nx, prefix_stride(ny)] (interleave_samples)
  std::size_t nx, ny;
  const double* edges;  ///< [nbins + 1]
  std::size_t nbins, chunk, nchunk;
  const double* scales;  ///< [nscale]
  double* out;           ///< [nscale, ny, nbins]
  std::size_t nitems = 0;
  uniform_grid grid = {};

  void operator()(std::size_t idx) const {
    switch (prefix_stride(ny)) {
      case 4: run<4>(idx); break;
      case 8: run<8>(idx); break;
      case 12: run<12>(idx); break;
      default: run<16>(idx); break;
    }
  }

  template <std::size_t NY>
  void run([[maybe_unused]] std::size_t idx) const {
#if !SPECX_DEVICE_PASS
    using simd::vd;
    constexpr std::size_t NV = NY / simd::lanes;
    const std::size_t nscale = nitems / nchunk;
    const std::size_t c = idx / nscale, ks = idx % nscale;
    const std::size_t i0 = c * chunk, i1 = (i0 + chunk < nbins) ? i0 + chunk : nbins;
    const double s = scales[ks];
    // The interpolant at t in segment k: y_k + (y_{k+1} − y_k)·((t − x_k)/(x_{k+1} − x_k)).
    auto interp = [&](std::size_t k, double t, vd* v) {
      const double f = (t - x[k]) / (x[k + 1] - x[k]);
      const double* p = ys + k * NY;
      for (std::size_t q = 0; q < NV; ++q) {
        const vd y0 = simd::load(p + q * simd::lanes), y1 = simd::load(p + NY + q * simd::lanes);
        v[q] = y0 + (y1 - y0) * f;
      }
    };
    double a = edges[i0] * s;
    std::size_t ka = grid.inv_dx > 0 ? locate_segment(x, nx, grid, a, 0) : segment_index(x, nx, a);
    vd ya[NV];
    interp(ka, a, ya);
    double* o = out + ks * ny * nbins;
    constexpr std::size_t kBlock = 32;
    alignas(64) double stage[kBlock][NY];
    for (std::size_t ib = i0; ib < i1; ib += kBlock) {
      const std::size_t nblk = ib + kBlock < i1 ? kBlock : i1 - ib;
      for (std::size_t j = 0; j < nblk; ++j) {
        const double b = edges[ib + j + 1] * s;
        // kn: the segment containing b (where the next bin starts); kb: the last
        // segment of this bin (one less when b falls exactly on a sample).
        const std::size_t kn = locate_segment(x, nx, grid, b, ka);
        const std::size_t kb = (kn > ka && x[kn] == b) ? kn - 1 : kn;
        vd yb[NV], acc[NV];
        interp(kb, b, yb);
        if (kb == ka) {
          for (std::size_t q = 0; q < NV; ++q) acc[q] = (b - a) * (ya[q] + yb[q]);
        } else {
          vd prev[NV];
          const double* p = ys + (ka + 1) * NY;
          const double d0 = x[ka + 1] - a;
          for (std::size_t q = 0; q < NV; ++q) {
            prev[q] = simd::load(p + q * simd::lanes);
            acc[q] = d0 * (ya[q] + prev[q]);
          }
          for (std::size_t k = ka + 1; k < kb; ++k) {
            const double d = x[k + 1] - x[k];
            p += NY;
            for (std::size_t q = 0; q < NV; ++q) {
              const vd next = simd::load(p + q * simd::lanes);
              acc[q] += d * (prev[q] + next);
              prev[q] = next;
            }
          }
          const double d1 = b - x[kb];
          for (std::size_t q = 0; q < NV; ++q) acc[q] += d1 * (prev[q] + yb[q]);
        }
        const double half_inv = 0.5 / (b - a);
        for (std::size_t q = 0; q < NV; ++q) simd::store(stage[j] + q * simd::lanes, acc[q] * half_inv);
        if (kn != kb)
          interp(kn, b, ya);
        else
          for (std::size_t q = 0; q < NV; ++q) ya[q] = yb[q];
        a = b;
        ka = kn;
      }
      for (std::size_t m = 0; m < ny; ++m)
        for (std::size_t j = 0; j < nblk; ++j) o[m * nbins + ib + j] = stage[j][m];
    }
#endif
  }
};

/// Batched rebin on a host backend from interleaved samples (pointers in B's
/// memory, which must be host memory). Same output layout and meaning as
/// prefix_rebin_batch (out [nscale, ny, nbins]); the inputs are not validated
/// here (the caller checks that the scaled edges lie within x). Blocking.
template <class B>
void sample_rebin_batch(B be, const double* x, std::size_t nx, const double* ys, std::size_t ny, const double* edges,
                        std::size_t nedges, const double* scales, std::size_t nscale, double* out,
                        std::size_t chunk = 256, uniform_grid grid = {}) {
  const std::size_t nchunk =
      detail::rebin_chunks("specx::core::sample_rebin_batch", nx, ny, nedges, nscale, prefix_rebin_chunk::max_ny, chunk);
  if (nchunk == 0) return;
  const std::size_t nbins = nedges - 1;
  for_each_index(be, nscale * nchunk,
                 sample_rebin_chunk{x, ys, nx, ny, edges, nbins, chunk, nchunk, scales, out, nscale * nchunk, grid});
}

}  // namespace specx::core
