// Wavelength grids: pixel centres and edges.
//
// Linear:  λ_i = start + i·step.            Log10:  λ_i = 10^(log10(start) + i·step).
// Edges follow redrock's `centers2edges` (also what desispec uses for bin widths):
// interior edges are arithmetic midpoints of neighbouring centres, and the outer
// edges are extrapolated by half the neighbouring interval,
//   e_0 = λ_0 − (λ_1 − λ_0)/2,   e_n = λ_{n−1} + (λ_{n−1} − λ_{n−2})/2.
// For a log10 grid the midpoints are arithmetic in λ, not geometric; the two differ
// by λ·O((step·ln10)²)/8 (docs/numerics.md#wavelength-grids).
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "fwd.hpp"

namespace specx::core {

enum class grid_scale : int { linear = 0, log10 = 1 };

/// Bin edges from strictly increasing bin centres (redrock's centers2edges).
/// Needs at least two centres; throws invalid_argument otherwise.
template <class T>
std::vector<T> centers_to_edges(std::span<const T> c) {
  const std::size_t n = c.size();
  if (n < 2) throw invalid_argument("specx::core::centers_to_edges: need at least 2 centres, got " + std::to_string(n));
  for (std::size_t i = 1; i < n; ++i)
    if (!(c[i] > c[i - 1]))
      throw invalid_argument("specx::core::centers_to_edges: centres must be strictly increasing (index " +
                             std::to_string(i) + ")");
  std::vector<T> e(n + 1);
  for (std::size_t i = 1; i < n; ++i) e[i] = T(0.5) * (c[i - 1] + c[i]);
  e[0] = c[0] - (c[1] - e[1]);
  e[n] = c[n - 1] + (c[n - 1] - e[n - 1]);
  return e;
}

/// A regular wavelength grid, linear or uniform in log10(λ). A trivially copyable
/// value type: centre(i) is callable in device functors.
template <class T>
class wavegrid {
 public:
  /// n centres start, start + step, ...; step > 0, n ≥ 1.
  static wavegrid linear(T start, T step, std::size_t n) {
    if (!(step > T(0)) || n == 0 || !std::isfinite(start))
      throw invalid_argument("specx::core::wavegrid::linear: need finite start, step > 0 and n >= 1");
    return wavegrid(grid_scale::linear, start, step, n);
  }
  /// n centres 10^(log10(start) + i·dlog10); start > 0, dlog10 > 0, n ≥ 1.
  static wavegrid log10(T start, T dlog10, std::size_t n) {
    if (!(start > T(0)) || !(dlog10 > T(0)) || n == 0 || !std::isfinite(start))
      throw invalid_argument("specx::core::wavegrid::log10: need start > 0, dlog10 > 0 and n >= 1");
    return wavegrid(grid_scale::log10, start, dlog10, n);
  }

  SPECX_HOST_DEVICE grid_scale scale() const { return scale_; }
  SPECX_HOST_DEVICE T start() const { return start_; }
  /// The step: in λ for linear grids, in log10(λ) for log10 grids.
  SPECX_HOST_DEVICE T step() const { return step_; }
  SPECX_HOST_DEVICE std::size_t size() const { return n_; }

  /// The i-th pixel centre. Linear grids are computed as start + i·step (no
  /// accumulated rounding); log10 grids as start·10^(i·step).
  SPECX_HOST_DEVICE T center(std::size_t i) const {
    if (scale_ == grid_scale::linear) return start_ + T(i) * step_;
#if SPECX_DEVICE_PASS
    return start_ * ::pow(T(10), T(i) * step_);
#else
    return start_ * std::pow(T(10), T(i) * step_);
#endif
  }

  std::vector<T> centers() const {
    std::vector<T> c(n_);
    for (std::size_t i = 0; i < n_; ++i) c[i] = center(i);
    return c;
  }

  /// n + 1 edges. Linear: start + (i − ½)·step (identical to centers_to_edges up to
  /// rounding). Log10: centers_to_edges of the centres; with a single pixel, the
  /// geometric half step start·10^(∓step/2).
  std::vector<T> edges() const {
    if (scale_ == grid_scale::linear) {
      std::vector<T> e(n_ + 1);
      for (std::size_t i = 0; i <= n_; ++i) e[i] = start_ + (T(i) - T(0.5)) * step_;
      return e;
    }
    if (n_ == 1) return {start_ * std::pow(T(10), -T(0.5) * step_), start_ * std::pow(T(10), T(0.5) * step_)};
    const auto c = centers();
    return centers_to_edges(std::span<const T>(c));
  }

  /// Bin widths e_{i+1} − e_i (what desispec divides by for electrons/Å).
  std::vector<T> widths() const {
    const auto e = edges();
    std::vector<T> w(n_);
    for (std::size_t i = 0; i < n_; ++i) w[i] = e[i + 1] - e[i];
    return w;
  }

 private:
  wavegrid(grid_scale s, T start, T step, std::size_t n) : scale_(s), start_(start), step_(step), n_(n) {}
  grid_scale scale_;
  T start_;
  T step_;
  std::size_t n_;
};

}  // namespace specx::core
