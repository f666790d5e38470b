// Flux-conserving rebinning (the same operation as core/rebin.hpp's trapz_rebin:
// the mean of the linear interpolant of (x, y) over each output bin) through the
// cumulative integral of the interpolant, for inputs rebinned many times (a
// template basis at thousands of redshifts).
//
//   C_k = ∫_{x_0}^{x_k} ŷ dx  (prefix sum of trapezoids, precomputed once),
//   F(t) = C_k + ∫_{x_k}^{t} ŷ dx  with x_k ≤ t < x_{k+1} (closed form),
//   out_i = (F(e_{i+1}) − F(e_i)) / (e_{i+1} − e_i).
//
// Each bin then costs O(1) per input (plus a forward walk of the shared sample
// index) instead of a walk over every input sample inside the bin per input.
//
// Precision: F(e_{i+1}) − F(e_i) is a difference of two large running sums, which
// in plain double would lose ≈ log10(|C|max / |bin integral|) digits (up to ~5 for
// 80000-sample templates). C is therefore kept as an unevaluated double-double
// (hi + lo, error-free transformations while summing), so the difference
// (hi₁ − hi₀) + (lo₁ − lo₀) is accurate to a few ulps of the bin integral, as the
// direct summation is. Device safe (the functor); the prefix is built on the host.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "rebin.hpp"

namespace specx::core {

/// Inputs per table component: ny rounded up to a multiple of 4, so each
/// component of a record is whole 4-wide vectors (the padding inputs are zeros).
constexpr std::size_t prefix_stride(std::size_t ny) { return (ny + 3) / 4 * 4; }

namespace detail {
/// The inputs of a per-template rebin table (make_prefix_integral,
/// interleave_samples): x strictly increasing with ≥ 2 samples, y [ny, nx].
/// Throws invalid_argument naming fn.
inline void check_rebin_table_inputs(const char* fn, std::span<const double> x, std::span<const double> y,
                                     std::size_t ny) {
  const std::string f(fn);
  if (x.size() < 2) throw invalid_argument(f + ": need at least 2 samples");
  if (y.size() != x.size() * ny) throw invalid_argument(f + ": y must be [ny, nx]");
  for (std::size_t k = 1; k < x.size(); ++k)
    if (!(x[k] > x[k - 1])) throw invalid_argument(f + ": x must be strictly increasing");
}

/// The sizes of a batched rebin (prefix_rebin_batch, sample_rebin_batch): throws
/// invalid_argument naming fn; returns the number of bin chunks (chunk ≥ 1 after
/// the call), 0 when there is nothing to do.
inline std::size_t rebin_chunks(const char* fn, std::size_t nx, std::size_t ny, std::size_t nedges,
                                std::size_t nscale, std::size_t max_ny, std::size_t& chunk) {
  const std::string f(fn);
  if (nx < 2 || nedges < 2) throw invalid_argument(f + ": need nx >= 2 and nedges >= 2");
  if (ny > max_ny) throw invalid_argument(f + ": at most " + std::to_string(max_ny) + " inputs");
  if (ny == 0 || nscale == 0) return 0;
  if (chunk == 0) chunk = 1;
  return (nedges - 1 + chunk - 1) / chunk;
}
}  // namespace detail

/// The cumulative integral of the linear interpolant of each row of y [ny, nx]
/// at the samples x, as double-double, interleaved with the samples for locality
/// (one lookup of sample k reads one contiguous record of all inputs, each
/// component contiguous in m, padded to prefix_stride(ny), so the lookup is a
/// few whole vector loads):
///   table[(k·3 + {0, 1, 2})·stride + m] = {hi, lo, y[m, k]},  C[m, k] = hi + lo.
struct prefix_integral {
  std::size_t nx = 0, ny = 0, stride = 0;
  std::vector<double> table;  ///< [nx, 3, stride]
  double hi(std::size_t m, std::size_t k) const { return table[k * 3 * stride + m]; }
  double lo(std::size_t m, std::size_t k) const { return table[(k * 3 + 1) * stride + m]; }
};

/// Builds the prefix integrals of the ny rows of y (x strictly increasing,
/// nx ≥ 2; throws invalid_argument otherwise).
inline prefix_integral make_prefix_integral(std::span<const double> x, std::span<const double> y, std::size_t ny) {
  detail::check_rebin_table_inputs("specx::core::make_prefix_integral", x, y, ny);
  const std::size_t nx = x.size();
  prefix_integral p;
  p.nx = nx;
  p.ny = ny;
  p.stride = prefix_stride(ny);
  const std::size_t st = p.stride;
  p.table.assign(nx * st * 3, 0.0);
  for (std::size_t m = 0; m < ny; ++m) {
    const double* ym = y.data() + m * nx;
    double hi = 0, lo = 0;
    p.table[2 * st + m] = ym[0];
    for (std::size_t k = 1; k < nx; ++k) {
      const double t = 0.5 * (x[k] - x[k - 1]) * (ym[k - 1] + ym[k]);
      // two_sum(hi, t), then renormalise (hi, lo).
      const double s = hi + t;
      const double bp = s - hi;
      const double e = (hi - (s - bp)) + (t - bp);
      lo += e;
      hi = s + lo;
      lo = lo - (hi - s);
      double* r = p.table.data() + k * 3 * st + m;
      r[0] = hi;
      r[st] = lo;
      r[2 * st] = ym[k];
    }
  }
  return p;
}

/// A uniformly spaced sample grid, x_k ≈ x0 + k·dx, for locating a point by one
/// multiplication instead of a search (inv_dx = 1/dx; 0: not uniform). Only a
/// first guess: the exact segment is then found by comparing with the samples,
/// so a grid that is uniform to rounding gives the same segments as a search.
struct uniform_grid {
  double x0 = 0, inv_dx = 0;
};

/// uniform_grid of x if its samples lie within 1e-3·dx of x0 + k·dx (then the
/// guess is off by at most one segment), else {0, 0}.
inline uniform_grid detect_uniform(std::span<const double> x) {
  const std::size_t n = x.size();
  if (n < 2) return {};
  const double dx = (x[n - 1] - x[0]) / static_cast<double>(n - 1);
  if (!(dx > 0)) return {};
  for (std::size_t k = 0; k < n; ++k)
    if (!(std::abs(x[k] - (x[0] + static_cast<double>(k) * dx)) <= 1e-3 * dx)) return {};
  return {x[0], 1.0 / dx};
}

/// The segment k ≤ nx − 2 with x_k ≤ t < x_{k+1} (the last if t ≥ x_{nx−2}),
/// starting from seg ≤ that answer (any seg on a uniform grid, where the guess
/// is off by at most one segment and corrected without branches).
SPECX_HOST_DEVICE inline std::size_t locate_segment(const double* x, std::size_t nx, uniform_grid grid, double t,
                                                    std::size_t seg) {
  if (grid.inv_dx > 0) {
    const double g = (t - grid.x0) * grid.inv_dx;
    seg = g <= 0 ? 0 : (g >= static_cast<double>(nx - 2) ? nx - 2 : static_cast<std::size_t>(g));
    seg -= static_cast<std::size_t>(seg > 0 && x[seg] > t);
    seg += static_cast<std::size_t>(seg + 2 < nx && x[seg + 1] <= t);
    return seg;
  }
  while (seg + 2 < nx && x[seg + 1] <= t) ++seg;
  return seg;
}

/// Batched rebin from prefix integrals. Work item c·nscale + k: scale k, bins
/// [c·chunk, min((c+1)·chunk, nbins)); for every input m, out[k, m, i] = mean over
/// [edges[i]·s_k, edges[i+1]·s_k] of the linear interpolant of (x, y[m, :]).
/// The first edge of a chunk is located by binary search, the next ones by
/// walking forward (edges increase) — or, on a uniform grid, by one
/// multiplication and a comparison with the samples (templates are sampled at
/// 0.1 Å, ≈ 8 samples per pixel: the walk would dominate) — and F at each edge
/// is shared by its two bins. Scaled edges must lie in [x_0, x_{nx−1}]; ny ≤ max_ny.
struct prefix_rebin_chunk {
  static constexpr std::size_t max_ny = 16;
  const double* x;
  const double* table;  ///< [nx, 3, prefix_stride(ny)] (make_prefix_integral)
  std::size_t nx, ny;
  const double* edges;  ///< [nbins + 1]
  std::size_t nbins, chunk, nchunk;
  const double* scales;  ///< [nscale]
  double* out;           ///< [nscale, ny, nbins]
  std::size_t nitems = 0;     ///< nscale·nchunk
  uniform_grid grid = {};     ///< x's spacing if uniform (detect_uniform)
  SPECX_HOST_DEVICE std::size_t locate(double t, std::size_t seg) const { return locate_segment(x, nx, grid, t, seg); }
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    // The padded width as a compile-time constant keeps F's components in
    // registers and the per-input loops whole vectors.
    switch (prefix_stride(ny)) {
      case 4: run<4>(idx); break;
      case 8: run<8>(idx); break;
      case 12: run<12>(idx); break;
      default: run<16>(idx); break;
    }
  }
  template <std::size_t NY>
  SPECX_HOST_DEVICE void run(std::size_t idx) const {
    // Chunk-major: consecutive items rebin the same bins at neighbouring scales,
    // which read nearly the same table records (cache reuse across a z block).
    const std::size_t nscale = nitems / nchunk;
    const std::size_t c = idx / nscale, k = idx % nscale;
    const std::size_t i0 = c * chunk, i1 = (i0 + chunk < nbins) ? i0 + chunk : nbins;
    const std::size_t n = ny;  // outputs written; NY (≥ n) lanes computed
    const double s = scales[k];
    // Components of F at the previous edge, per input: hi, lo, partial integral.
    double ph[NY], pl[NY], pp[NY];
    double a = edges[i0] * s;
    std::size_t seg = grid.inv_dx > 0 ? locate(a, 0) : segment_index(x, nx, a);
    eval<NY>(seg, a, ph, pl, pp);
    double* o = out + k * ny * nbins;
    // Edges in blocks: first every edge's segment (a short loop over x only),
    // then the evaluations, whose table loads no longer wait on the search.
    constexpr std::size_t kBlock = 32;
    std::size_t segs[kBlock];
    for (std::size_t ib = i0; ib < i1; ib += kBlock) {
      const std::size_t nblk = ib + kBlock < i1 ? kBlock : i1 - ib;
      for (std::size_t j = 0; j < nblk; ++j) segs[j] = seg = locate(edges[ib + j + 1] * s, seg);
      for (std::size_t j = 0; j < nblk; ++j) {
        const std::size_t i = ib + j;
        const double b = edges[i + 1] * s;
        double h[NY], l[NY], q[NY];
        eval<NY>(segs[j], b, h, l, q);
        const double inv = 1.0 / (b - a);
        double v[NY];
        for (std::size_t m = 0; m < NY; ++m) {
          v[m] = (((h[m] - ph[m]) + (l[m] - pl[m])) + (q[m] - pp[m])) * inv;
          ph[m] = h[m];
          pl[m] = l[m];
          pp[m] = q[m];
        }
        for (std::size_t m = 0; m < n; ++m) o[m * nbins + i] = v[m];
        a = b;
      }
    }
  }
  /// hi, lo of C at x_seg and ∫_{x_seg}^{t} ŷ = d·(y_k + ½ (y_{k+1} − y_k)·d/(x_{k+1} − x_k)).
  template <std::size_t NY>
  SPECX_HOST_DEVICE void eval(std::size_t seg, double t, double* h, double* l, double* q) const {
    const double d = t - x[seg];
    const double f = 0.5 * d / (x[seg + 1] - x[seg]);
    const double* r0 = table + seg * 3 * NY;  // NY = the table's stride
    const double* r1 = r0 + 3 * NY;
    for (std::size_t m = 0; m < NY; ++m) {
      const double y0 = r0[2 * NY + m], y1 = r1[2 * NY + m];
      h[m] = r0[m];
      l[m] = r0[NY + m];
      q[m] = d * (y0 + (y1 - y0) * f);
    }
  }
};

/// Batched rebin on a backend from prefix integrals (pointers in B's memory;
/// table from make_prefix_integral, uploaded). Same output layout and meaning as
/// trapz_rebin_batch (out [nscale, ny, nbins]); the inputs are not validated here
/// (the caller checks that the scaled edges lie within x). Blocking.
template <class B>
void prefix_rebin_batch(B be, const double* x, std::size_t nx, const double* table, std::size_t ny,
                        const double* edges, std::size_t nedges, const double* scales, std::size_t nscale,
                        double* out, std::size_t chunk = 64, uniform_grid grid = {}) {
  const std::size_t nchunk =
      detail::rebin_chunks("specx::core::prefix_rebin_batch", nx, ny, nedges, nscale, prefix_rebin_chunk::max_ny, chunk);
  if (nchunk == 0) return;
  const std::size_t nbins = nedges - 1;
  for_each_index(be, nscale * nchunk,
                 prefix_rebin_chunk{x, table, nx, ny, edges, nbins, chunk, nchunk, scales, out, nscale * nchunk, grid});
}

}  // namespace specx::core
