// The host-side API every owning PSF model shares (CRTP): geometry queries and
// checked host evaluation through the model's host_view(). A model derives from
// model_base<Model, T, B>, sets geo_, wmin_, wmax_ when it is built, and
// provides host_view(), stamp_nx(), stamp_ny() and `static constexpr const char*
// model_name` (used in error messages).
#pragma once

#include <span>
#include <string>
#include <utility>

#include "../../error.hpp"
#include "../concept.hpp"
#include "../traces.hpp"

namespace specx::psf::detail {

template <class Model, class T, backend::Backend B>
class model_base {
 public:
  int nfiber() const { return geo_.nfiber(); }
  int npix_x() const { return geo_.npix_x(); }
  int npix_y() const { return geo_.npix_y(); }

  /// The wavelength domain where the model is defined (traces ∩ parameters).
  T wavemin(int f) const {
    geo_.check_fiber(f, where("wavemin").c_str());
    return wmin_;
  }
  T wavemax(int f) const {
    geo_.check_fiber(f, where("wavemax").c_str());
    return wmax_;
  }

  /// Trace centroid (host; checks fiber and wavelength).
  point<T> xy(int f, T lambda) const {
    check(f, lambda, where("xy").c_str());
    return self().host_view().xy(f, lambda);
  }

  /// λ at which fiber f's trace crosses row y: the exact root of y_f(λ) = y.
  T wavelength_at_y(int f, T y) const { return T(geo_.wavelength_at_y(f, double(y))); }

  /// Fiber f's on-CCD wavelengths [λ(y = −½), λ(y = NPIX_Y − ½)], clipped to the
  /// trace domain (NaN if the trace never crosses the CCD).
  std::pair<T, T> wavelength_range(int f) const {
    auto r = geo_.wavelength_range(f);
    return {T(r.first), T(r.second)};
  }

  /// Throws invalid_argument if f is not a fiber of the model or λ lies outside
  /// its domain.
  void check(int f, T lambda, const char* fn) const {
    geo_.check_fiber(f, fn);
    if (!(lambda >= wmin_ && lambda <= wmax_))
      throw invalid_argument(std::string(fn) + ": wavelength " + std::to_string(double(lambda)) +
                             " is outside the PSF domain [" + std::to_string(double(wmin_)) + ", " +
                             std::to_string(double(wmax_)) + "] (fiber " + std::to_string(f) + ")");
  }

  /// Host stamp evaluation (checked): fills out[stamp_ny()·stamp_nx()].
  stamp_corner stamp(int f, T lambda, std::span<T> out) const {
    const std::string fn = where("stamp");
    check(f, lambda, fn.c_str());
    if (out.size() < static_cast<std::size_t>(self().stamp_nx() * self().stamp_ny()))
      throw invalid_argument(fn + ": output span too small");
    return self().host_view().stamp(f, lambda, out.data());
  }

 protected:
  const Model& self() const { return static_cast<const Model&>(*this); }
  static std::string where(const char* member) { return std::string(Model::model_name) + "::" + member; }

  trace_geometry<T, B> geo_;
  T wmin_ = T(0), wmax_ = T(0);
};

}  // namespace specx::psf::detail
