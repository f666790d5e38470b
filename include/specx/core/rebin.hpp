// Flux-conserving rebinning by exact integration of the linear interpolant
// (redrock's `trapz_rebin`): the input samples (x_k, y_k) define the piecewise-
// linear density ŷ(x); output bin i is its mean over [e_i, e_{i+1}],
//   out_i = (1/(e_{i+1} − e_i)) ∫_{e_i}^{e_{i+1}} ŷ(x) dx,
// integrated exactly (trapezoids between the bin edges and the interior samples).
// Output edges must lie inside [x_0, x_{n−1}]. See docs/numerics.md#rebinning.
//
// The batched version rebins ny inputs onto many scaled copies of one edge set,
// e.g. template basis vectors at many redshifts (scale = 1/(1+z)). It is generic
// over the backend through argument-dependent lookup of for_each_index and
// transform_reduce (declared in backend/), so this core header does not include
// the backend headers (dependencies point core ← backend).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace specx::core {

/// Largest k in [0, n−2] with x[k] ≤ t (x strictly increasing, n ≥ 2): the
/// segment of the linear interpolant that contains t.
template <class T>
SPECX_HOST_DEVICE std::size_t segment_index(const T* x, std::size_t n, T t) {
  std::size_t lo = 0, hi = n - 1;  // invariant: x[lo] ≤ t or lo = 0; answer in [lo, hi)
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (x[mid] <= t) lo = mid; else hi = mid;
  }
  return lo;
}

/// The mean of the linear interpolant of (x, y) over [e0, e1], with
/// x[0] ≤ e0 < e1 ≤ x[n−1], x strictly increasing, n ≥ 2. No checks, no allocation.
template <class T>
SPECX_HOST_DEVICE T trapz_bin_mean(const T* x, const T* y, std::size_t n, T e0, T e1) {
  std::size_t k = segment_index(x, n, e0);
  auto interp = [&](std::size_t s, T t) {
    return y[s] + (y[s + 1] - y[s]) * ((t - x[s]) / (x[s + 1] - x[s]));
  };
  T a = e0;
  T ya = interp(k, a);
  T sum = T(0);
  for (;;) {
    const bool last = !(x[k + 1] < e1) || k + 2 >= n;
    const T b = last ? e1 : x[k + 1];
    const T yb = last ? interp(k, b) : y[k + 1];
    sum += (b - a) * (ya + yb);
    if (last) break;
    a = b;
    ya = yb;
    ++k;
  }
  return T(0.5) * sum / (e1 - e0);
}

namespace detail {
template <class T>
void check_rebin_inputs(std::span<const T> x, std::span<const T> y, std::span<const T> edges, const char* fn) {
  const std::string f(fn);
  if (x.size() != y.size())
    throw invalid_argument(f + ": len(x) " + std::to_string(x.size()) + " != len(y) " + std::to_string(y.size()));
  if (x.size() < 2) throw invalid_argument(f + ": need at least 2 input samples");
  if (edges.size() < 2) throw invalid_argument(f + ": need at least 2 output edges");
  for (std::size_t i = 1; i < x.size(); ++i)
    if (!(x[i] > x[i - 1])) throw invalid_argument(f + ": x must be strictly increasing (index " + std::to_string(i) + ")");
  for (std::size_t i = 1; i < edges.size(); ++i)
    if (!(edges[i] > edges[i - 1]))
      throw invalid_argument(f + ": edges must be strictly increasing (index " + std::to_string(i) + ")");
  if (edges.front() < x.front() || edges.back() > x.back())
    throw invalid_argument(f + ": edges [" + std::to_string(edges.front()) + ", " + std::to_string(edges.back()) +
                           "] must be contained within the input x range [" + std::to_string(x.front()) + ", " +
                           std::to_string(x.back()) + "]");
}
}  // namespace detail

/// out[i] = mean over [edges[i], edges[i+1]] of the linear interpolant of (x, y).
/// out has edges.size() − 1 entries. Throws invalid_argument on unequal x/y sizes,
/// non-increasing x or edges, or edges outside [x.front(), x.back()].
template <class T>
void trapz_rebin(std::span<const T> x, std::span<const T> y, std::span<const T> edges, std::span<T> out) {
  detail::check_rebin_inputs(x, y, edges, "specx::core::trapz_rebin");
  if (out.size() + 1 != edges.size())
    throw invalid_argument("specx::core::trapz_rebin: output size must be len(edges) - 1");
  for (std::size_t i = 0; i + 1 < edges.size(); ++i)
    out[i] = trapz_bin_mean(x.data(), y.data(), x.size(), edges[i], edges[i + 1]);
}

/// As above, returning the output.
template <class T>
std::vector<T> trapz_rebin(std::span<const T> x, std::span<const T> y, std::span<const T> edges) {
  std::vector<T> out(edges.size() >= 2 ? edges.size() - 1 : 0);
  trapz_rebin(x, y, edges, std::span<T>(out));
  return out;
}

/// The per-element functor of the batched rebin: element (k, m, i) of
/// out[nscale, ny, nbins] is the mean of input m over [edges[i]·s_k, edges[i+1]·s_k].
template <class T>
struct trapz_rebin_element {
  const T* x;
  const T* y;        // [ny, nx]
  std::size_t nx, ny;
  const T* edges;    // [nbins + 1]
  std::size_t nbins;
  const T* scales;   // [nscale]
  T* out;            // [nscale, ny, nbins]
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const std::size_t i = idx % nbins;
    const std::size_t r = idx / nbins;
    const std::size_t m = r % ny;
    const std::size_t k = r / ny;
    const T s = scales[k];
    out[idx] = trapz_bin_mean(x, y + m * nx, nx, edges[i] * s, edges[i + 1] * s);
  }
};

namespace detail {
struct count_plus {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};
template <class T>
struct count_not_increasing {
  const T* v;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t i) const { return (v[i + 1] > v[i]) ? 0u : 1u; }
};
template <class T>
struct count_scale_outside {
  const T* scales;
  T e_first, e_last, x_first, x_last;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t k) const {
    const T s = scales[k];
    return (s > T(0) && e_first * s >= x_first && e_last * s <= x_last) ? 0u : 1u;
  }
};
template <class T>
struct element_at {
  const T* p;
  SPECX_HOST_DEVICE T operator()(std::size_t) const { return p[0]; }
};
template <class T>
struct value_plus {
  SPECX_HOST_DEVICE T operator()(T a, T b) const { return a + b; }
};
}  // namespace detail

/// Batched flux-conserving rebin on a backend: for every scale s_k and input m,
///   out[k, m, i] = mean over [s_k·edges[i], s_k·edges[i+1]] of the linear
///   interpolant of (x, y[m, :]).
/// All pointers are in B's memory (raw(be, vec)); y is [ny, nx] and out is
/// [nscale, ny, nbins] row-major with nbins = nedges − 1. For templates at
/// redshifts z_k onto observed edges, s_k = 1/(1 + z_k) (rest-frame edges).
/// Inputs are validated on the backend (transform_reduce); throws
/// invalid_argument like trapz_rebin, before any output is written. Blocking.
template <class B, class T>
void trapz_rebin_batch(B be, const T* x, std::size_t nx, const T* y, std::size_t ny, const T* edges,
                       std::size_t nedges, const T* scales, std::size_t nscale, T* out) {
  const char* fn = "specx::core::trapz_rebin_batch";
  if (nx < 2 || nedges < 2) throw invalid_argument(std::string(fn) + ": need nx >= 2 and nedges >= 2");
  if (ny == 0 || nscale == 0) return;
  if (transform_reduce(be, nx - 1, detail::count_not_increasing<T>{x}, std::size_t(0), detail::count_plus{}) != 0)
    throw invalid_argument(std::string(fn) + ": x must be strictly increasing");
  if (transform_reduce(be, nedges - 1, detail::count_not_increasing<T>{edges}, std::size_t(0), detail::count_plus{}) != 0)
    throw invalid_argument(std::string(fn) + ": edges must be strictly increasing");
  // Read the end values through the backend (the pointers may be device pointers);
  // 0 + v exactly reproduces v.
  auto value_at = [&](const T* p) {
    return transform_reduce(be, 1, detail::element_at<T>{p}, T(0), detail::value_plus<T>{});
  };
  const T x0 = value_at(x), x1 = value_at(x + (nx - 1));
  const T e0 = value_at(edges), e1 = value_at(edges + (nedges - 1));
  if (transform_reduce(be, nscale, detail::count_scale_outside<T>{scales, e0, e1, x0, x1}, std::size_t(0),
                       detail::count_plus{}) != 0)
    throw invalid_argument(std::string(fn) + ": for some scale, the scaled edges are not contained within the input x range [" +
                           std::to_string(x0) + ", " + std::to_string(x1) + "] (or a scale is <= 0)");
  const std::size_t nbins = nedges - 1;
  for_each_index(be, nscale * ny * nbins, trapz_rebin_element<T>{x, y, nx, ny, edges, nbins, scales, out});
}

}  // namespace specx::core
