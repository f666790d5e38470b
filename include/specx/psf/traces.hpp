// Trace geometry shared by every PSF model: per-fiber Legendre series x(λ), y(λ)
// (specex/specter XTRACE, YTRACE), their device views, and the host-side queries
// (the wavelength at a CCD row, each fiber's on-CCD wavelength range). See docs/psf.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../core/legendre.hpp"
#include "../core/trace.hpp"
#include "../error.hpp"

namespace specx::psf {

/// Host description of a set of per-fiber Legendre series in reduced wavelength
/// u = 2 (λ − wavemin) / (wavemax − wavemin) − 1: coeff is [nfiber, ncoef],
/// row-major. This is how traces and PSF parameters enter every model.
struct legendre_table {
  double wavemin = 0;
  double wavemax = 0;
  std::size_t nfiber = 0;
  std::size_t ncoef = 0;
  std::vector<double> coeff;

  /// A table of one constant per fiber (ncoef = 1) on [wavemin, wavemax].
  static legendre_table constant(std::span<const double> values, double wavemin, double wavemax) {
    return {wavemin, wavemax, values.size(), 1, std::vector<double>(values.begin(), values.end())};
  }

  /// The series of fiber f at λ (host, double).
  double operator()(std::size_t f, double lambda) const {
    const core::legendre_domain<double> d{wavemin, wavemax};
    return core::legendre_value(coeff.data() + f * ncoef, static_cast<int>(ncoef) - 1, d.to_reduced(lambda));
  }

  /// Throws invalid_argument naming `what` if the table is malformed.
  void validate(const std::string& what) const {
    if (nfiber == 0 || ncoef == 0)
      throw invalid_argument(what + ": empty Legendre table (nfiber = " + std::to_string(nfiber) +
                             ", ncoef = " + std::to_string(ncoef) + ")");
    if (coeff.size() != nfiber * ncoef)
      throw invalid_argument(what + ": " + std::to_string(coeff.size()) + " coefficients for [" +
                             std::to_string(nfiber) + ", " + std::to_string(ncoef) + "]");
    if (!(wavemax > wavemin) || !std::isfinite(wavemin) || !std::isfinite(wavemax))
      throw invalid_argument(what + ": wavelength domain [" + std::to_string(wavemin) + ", " +
                             std::to_string(wavemax) + "] is empty");
    for (double c : coeff)
      if (!std::isfinite(c)) throw invalid_argument(what + ": non-finite Legendre coefficient");
  }
};

/// A device view of per-fiber Legendre series (value type T): trivially copyable.
template <class T>
struct legendre_set_view {
  const T* coeff = nullptr;  ///< [nfiber, ncoef]
  int ncoef = 0;
  core::legendre_domain<T> domain{};

  SPECX_HOST_DEVICE T operator()(int fiber, T lambda) const {
    return core::legendre_value(coeff + static_cast<std::ptrdiff_t>(fiber) * ncoef, ncoef - 1,
                                domain.to_reduced(lambda));
  }
  /// dy/dλ of the series of `fiber` at λ.
  SPECX_HOST_DEVICE T derivative(int fiber, T lambda) const {
    const auto vd = core::legendre_value_derivative(coeff + static_cast<std::ptrdiff_t>(fiber) * ncoef,
                                                    ncoef - 1, domain.to_reduced(lambda));
    return vd.derivative * domain.du_dlambda();
  }
};

namespace detail {

/// Relative tolerance of the host y → λ inversion: 1e-14 (~7e-11 Å at 7000 Å,
/// ~1e-10 px), well inside the 1e-9 px round trip the tests ask for.
inline constexpr double inverse_rtol = 1e-14;

template <class T>
std::vector<T> converted(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

/// Owns x(λ), y(λ) on a backend (value type T) and on the host (double), and
/// answers the host-side geometry queries every model shares.
template <class T, class B>
class trace_geometry {
 public:
  trace_geometry() = default;

  trace_geometry(B be, legendre_table x, legendre_table y, int npix_x, int npix_y)
      : x_(std::move(x)), y_(std::move(y)), npix_x_(npix_x), npix_y_(npix_y) {
    x_.validate("specx::psf: XTRACE");
    y_.validate("specx::psf: YTRACE");
    if (x_.nfiber != y_.nfiber)
      throw invalid_argument("specx::psf: XTRACE has " + std::to_string(x_.nfiber) + " fibers, YTRACE " +
                             std::to_string(y_.nfiber));
    if (npix_x <= 0 || npix_y <= 0)
      throw invalid_argument("specx::psf: the CCD size must be positive, got NPIX_X = " + std::to_string(npix_x) +
                             ", NPIX_Y = " + std::to_string(npix_y));
    const auto xs = converted<T>(x_.coeff), ys = converted<T>(y_.coeff);
    xdev_ = backend::to_backend(be, std::span<const T>(xs));
    ydev_ = backend::to_backend(be, std::span<const T>(ys));
    // y(λ) must be strictly monotonic for λ(y) to exist; the on-CCD range is
    // where the centroid lies within the CCD's pixel edges −½ … NPIX_Y − ½.
    const core::legendre_domain<double> dom{y_.wavemin, y_.wavemax};
    wlo_.resize(y_.nfiber);
    whi_.resize(y_.nfiber);
    for (std::size_t f = 0; f < y_.nfiber; ++f) {
      const std::span<const double> c(y_.coeff.data() + f * y_.ncoef, y_.ncoef);
      const int sign = y_.ncoef >= 2 ? core::legendre_monotonic_sign(c, dom) : 0;
      if (sign == 0)
        throw bad_data("specx::psf: the y trace of fiber " + std::to_string(f) +
                       " is not strictly monotonic on [" + std::to_string(y_.wavemin) + ", " +
                       std::to_string(y_.wavemax) + "]: y → λ is undefined");
      const double ylo = -0.5, yhi = double(npix_y) - 0.5;
      auto at = [&](double yy) {
        // λ where y(λ) = yy, or the domain end when the trace stops short of yy.
        const double y0 = y_(f, y_.wavemin), y1 = y_(f, y_.wavemax);
        const double ymin = std::min(y0, y1), ymax = std::max(y0, y1);
        if (yy <= ymin) return sign > 0 ? y_.wavemin : y_.wavemax;
        if (yy >= ymax) return sign > 0 ? y_.wavemax : y_.wavemin;
        return core::detail::invert_checked(c, dom, yy, inverse_rtol,
                                            "specx::psf::wavelength_range");
      };
      const double a = at(ylo), b = at(yhi);
      wlo_[f] = std::min(a, b);
      whi_[f] = std::max(a, b);
      const double y0 = y_(f, y_.wavemin), y1 = y_(f, y_.wavemax);
      if (std::max(y0, y1) < ylo || std::min(y0, y1) > yhi) {  // never on the CCD
        wlo_[f] = std::numeric_limits<double>::quiet_NaN();
        whi_[f] = std::numeric_limits<double>::quiet_NaN();
      }
    }
  }

  int nfiber() const { return static_cast<int>(x_.nfiber); }
  int npix_x() const { return npix_x_; }
  int npix_y() const { return npix_y_; }
  const legendre_table& xtrace() const { return x_; }
  const legendre_table& ytrace() const { return y_; }
  /// The traces' common wavelength domain.
  double wavemin() const { return std::max(x_.wavemin, y_.wavemin); }
  double wavemax() const { return std::min(x_.wavemax, y_.wavemax); }

  void check_fiber(int f, const char* fn) const {
    if (f < 0 || f >= nfiber())
      throw invalid_argument(std::string(fn) + ": fiber " + std::to_string(f) + " is outside 0.." +
                             std::to_string(nfiber() - 1));
  }

  double x(int f, double lambda) const { return x_(static_cast<std::size_t>(f), lambda); }
  double y(int f, double lambda) const { return y_(static_cast<std::size_t>(f), lambda); }

  /// The exact root of y_f(λ) = yy (Newton–bisection to 1e-12 relative).
  double wavelength_at_y(int f, double yy) const {
    check_fiber(f, "specx::psf::wavelength_at_y");
    const std::span<const double> c(y_.coeff.data() + static_cast<std::size_t>(f) * y_.ncoef, y_.ncoef);
    return core::detail::invert_checked(c, core::legendre_domain<double>{y_.wavemin, y_.wavemax}, yy,
                                        inverse_rtol, "specx::psf::wavelength_at_y");
  }

  /// The fiber's on-CCD wavelengths: where its centroid lies between the pixel
  /// edges y = −½ and y = NPIX_Y − ½ (clipped to the trace domain); NaN if never.
  std::pair<double, double> wavelength_range(int f) const {
    check_fiber(f, "specx::psf::wavelength_range");
    return {wlo_[static_cast<std::size_t>(f)], whi_[static_cast<std::size_t>(f)]};
  }

  legendre_set_view<T> xview() const { return view_of(xdev_, x_); }
  legendre_set_view<T> yview() const { return view_of(ydev_, y_); }

 private:
  legendre_set_view<T> view_of(const backend::vector_t<B, T>& v, const legendre_table& t) const {
    auto& mv = const_cast<backend::vector_t<B, T>&>(v);
    return {backend::raw(B{}, mv), static_cast<int>(t.ncoef), {T(t.wavemin), T(t.wavemax)}};
  }

  legendre_table x_, y_;
  int npix_x_ = 0, npix_y_ = 0;
  backend::vector_t<B, T> xdev_, ydev_;
  std::vector<double> wlo_, whi_;
};

}  // namespace detail
}  // namespace specx::psf
