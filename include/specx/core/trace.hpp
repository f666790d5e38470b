// Inversion of a monotonic Legendre series: the wavelength λ at which a trace
// y(λ) = Σ c_k P_k(u(λ)) reaches a given CCD coordinate. Newton's method in u,
// kept inside a bisection bracket, so it converges for any strictly monotonic
// series (quadratically near the root, never leaving [wavemin, wavemax]).
// See docs/numerics.md#trace-inversion.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"
#include "fwd.hpp"
#include "legendre.hpp"

namespace specx::core {

/// Outcome of a device-side inversion (the device never throws).
enum class inverse_status : int {
  ok = 0,
  out_of_range = 1,   ///< y is outside [y(wavemin), y(wavemax)]
  not_converged = 2,  ///< iteration cap reached (cannot happen for a monotonic series)
  bad_domain = 3,     ///< wavemax ≤ wavemin, no coefficients, or y(wavemin) = y(wavemax)
};

template <class T>
struct inverse_result {
  T lambda;                ///< the solution (or the nearest end of the domain)
  inverse_status status;
  int iterations;
};

/// The default relative tolerance in λ: 1e-12, or 8 ulp where T cannot reach it.
template <class T>
SPECX_HOST_DEVICE constexpr T default_inverse_rtol() {
  return T(1e-12) > T(8) * std::numeric_limits<T>::epsilon() ? T(1e-12)
                                                              : T(8) * std::numeric_limits<T>::epsilon();
}

/// Solve Σ c_k P_k(u(λ)) = y for λ ∈ [wavemin, wavemax], assuming the series is
/// strictly monotonic there (check it on the host with legendre_monotonic_sign).
/// Stops when a step changes λ by ≤ rtol·|λ| or the bracket is that narrow.
template <class T>
SPECX_HOST_DEVICE inverse_result<T> legendre_inverse(const T* c, int deg, const legendre_domain<T>& dom, T y,
                                                     T rtol = default_inverse_rtol<T>()) {
  constexpr int max_iter = 200;
  if (deg < 0 || !(dom.wavemax > dom.wavemin)) return {dom.wavemin, inverse_status::bad_domain, 0};
  const T flo = legendre_value(c, deg, T(-1)) - y;
  const T fhi = legendre_value(c, deg, T(1)) - y;
  if (flo == T(0)) return {dom.wavemin, inverse_status::ok, 0};
  if (fhi == T(0)) return {dom.wavemax, inverse_status::ok, 0};
  if ((flo > T(0)) == (fhi > T(0))) {
    const bool same_ends = (flo == fhi);
    const bool nearer_lo = (flo < T(0) ? -flo : flo) <= (fhi < T(0) ? -fhi : fhi);
    return {nearer_lo ? dom.wavemin : dom.wavemax,
            same_ends ? inverse_status::bad_domain : inverse_status::out_of_range, 0};
  }
  const bool increasing = fhi > T(0);
  // Bracket [a, b] in u with f(a) < 0 < f(b) after orienting by the sign.
  T a = T(-1), b = T(1);
  // Start from the linear interpolation between the ends (exact for deg ≤ 1).
  T u = T(-1) + T(2) * flo / (flo - fhi);
  const T half_width = T(0.5) * (dom.wavemax - dom.wavemin);
  for (int it = 1; it <= max_iter; ++it) {
    const auto vd = legendre_value_derivative(c, deg, u);
    const T f = increasing ? vd.value - y : y - vd.value;
    const T df = increasing ? vd.derivative : -vd.derivative;
    if (f == T(0)) return {dom.from_reduced(u), inverse_status::ok, it};
    if (f < T(0)) a = u; else b = u;
    T next = u - f / df;
    if (!(df > T(0)) || !(next > a && next < b)) next = T(0.5) * (a + b);  // bisection safeguard
    const T lam_next = dom.from_reduced(next);
    const T scale = lam_next < T(0) ? -lam_next : lam_next;
    const T step = (next - u) * half_width;
    u = next;
    if ((step < T(0) ? -step : step) <= rtol * scale || (b - a) * half_width <= rtol * scale)
      return {dom.from_reduced(u), inverse_status::ok, it};
  }
  return {dom.from_reduced(u), inverse_status::not_converged, max_iter};
}

/// +1 if dy/dλ > 0 at every point of a uniform grid of `ngrid` points on
/// [wavemin, wavemax] (ends included), −1 if < 0 everywhere, 0 otherwise.
template <class T>
int legendre_monotonic_sign(std::span<const T> c, const legendre_domain<T>& /*dom*/, int ngrid = 0) {
  const int deg = static_cast<int>(c.size()) - 1;
  if (deg < 1) return 0;
  if (ngrid < 2) ngrid = 64 * (deg + 1) + 1;
  int pos = 0, neg = 0;
  for (int i = 0; i < ngrid; ++i) {
    const T u = T(-1) + T(2) * T(i) / T(ngrid - 1);
    const T d = legendre_value_derivative(c.data(), deg, u).derivative;
    pos += d > T(0);
    neg += d < T(0);
  }
  return pos == ngrid ? 1 : (neg == ngrid ? -1 : 0);
}

namespace detail {
template <class T>
void check_invertible(std::span<const T> c, const legendre_domain<T>& dom, const char* fn) {
  if (c.empty()) throw invalid_argument(std::string(fn) + ": no Legendre coefficients");
  if (!(dom.wavemax > dom.wavemin))
    throw invalid_argument(std::string(fn) + ": wavemax must exceed wavemin, got [" +
                           std::to_string(dom.wavemin) + ", " + std::to_string(dom.wavemax) + "]");
  if (legendre_monotonic_sign(c, dom) == 0)
    throw invalid_argument(std::string(fn) + ": the Legendre series is not strictly monotonic on [" +
                           std::to_string(dom.wavemin) + ", " + std::to_string(dom.wavemax) + "]");
}
template <class T>
T invert_checked(std::span<const T> c, const legendre_domain<T>& dom, T y, T rtol, const char* fn) {
  const auto r = legendre_inverse(c.data(), static_cast<int>(c.size()) - 1, dom, y, rtol);
  if (r.status == inverse_status::out_of_range)
    throw invalid_argument(std::string(fn) + ": y = " + std::to_string(y) + " is outside the range [" +
                           std::to_string(legendre_value(c, T(-1))) + ", " +
                           std::to_string(legendre_value(c, T(1))) + "] of the series");
  if (r.status != inverse_status::ok)
    throw bad_data(std::string(fn) + ": inversion failed at y = " + std::to_string(y));
  return r.lambda;
}
}  // namespace detail

/// λ such that the (strictly monotonic) series equals y. Throws invalid_argument
/// when the series is not monotonic on the domain or y is outside its range.
template <class T>
T invert_trace(std::span<const T> c, const legendre_domain<T>& dom, T y, T rtol = default_inverse_rtol<T>()) {
  detail::check_invertible(c, dom, "specx::core::invert_trace");
  return detail::invert_checked(c, dom, y, rtol, "specx::core::invert_trace");
}

/// λ(y_i) for every y_i (the monotonicity check runs once). Throws as above.
template <class T>
std::vector<T> invert_trace(std::span<const T> c, const legendre_domain<T>& dom, std::span<const T> y,
                            T rtol = default_inverse_rtol<T>()) {
  detail::check_invertible(c, dom, "specx::core::invert_trace");
  std::vector<T> out(y.size());
  for (std::size_t i = 0; i < y.size(); ++i)
    out[i] = detail::invert_checked(c, dom, y[i], rtol, "specx::core::invert_trace");
  return out;
}

}  // namespace specx::core
