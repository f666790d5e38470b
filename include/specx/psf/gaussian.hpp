// A pixel-integrated 2-D Gaussian PSF on Legendre traces: the simplest model,
// for trace-only files (desispec's XTRACE, YTRACE, XSIGMA, WSIGMA) or given widths.
//
//   stamp[r][c] ∝ [Φ((x_c + ½ − xc)/σx) − Φ((x_c − ½ − xc)/σx)] · [same in y with σy],
// normalised to 1 over the (2·hsizey+1) x (2·hsizex+1) stamp whose corner is
// (floor(xc − hsizex + ½), floor(yc − hsizey + ½)) as for the Gauss–Hermite model.
// Widths are Legendre series in λ (a constant is a one-coefficient series). A
// width given in Ångström along the dispersion (desispec's WSIGMA, which
// desispec.io.read_xytraceset documents as Å and converts to pixels by
// multiplying with dy/dλ) is converted exactly at each λ: σy = WSIGMA(λ)·|dy/dλ|.
// See docs/psf.md#gaussian-psf.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../core/gaussian.hpp"
#include "../error.hpp"
#include "../io/fwd.hpp"
#include "concept.hpp"
#include "detail/math.hpp"
#include "detail/model_base.hpp"
#include "traces.hpp"

namespace specx::psf {

/// Host description of a Gaussian PSF.
struct gaussian_params {
  legendre_table xtrace, ytrace;
  legendre_table sigma_x;        ///< σx(λ) in pixels, per fiber
  legendre_table sigma_y;        ///< σy(λ) in pixels, or in Å if sigma_y_in_angstrom
  bool sigma_y_in_angstrom = false;
  int hsizex = 8, hsizey = 5;    ///< stamp half sizes (DESI's defaults)
  int npix_x = 0, npix_y = 0;
};

struct gaussian_limits {
  static constexpr int max_half_size = 24;
  static constexpr int max_side = 2 * max_half_size + 1;
};

/// Trivially copyable view of a Gaussian PSF; device members assume valid inputs.
template <class T>
struct gaussian_view {
  using value_type = T;
  using limits = gaussian_limits;
  static constexpr int max_stamp_pixels = limits::max_side * limits::max_side;

  legendre_set_view<T> xtrace, ytrace, sigx, sigy;
  bool sigy_angstrom = false;
  int nfib = 0, hsizex = 0, hsizey = 0;
  T wmin = T(0), wmax = T(0);

  SPECX_HOST_DEVICE int nfiber() const { return nfib; }
  SPECX_HOST_DEVICE int stamp_nx() const { return 2 * hsizex + 1; }
  SPECX_HOST_DEVICE int stamp_ny() const { return 2 * hsizey + 1; }
  SPECX_HOST_DEVICE T wavemin(int) const { return wmin; }
  SPECX_HOST_DEVICE T wavemax(int) const { return wmax; }
  SPECX_HOST_DEVICE point<T> xy(int f, T lambda) const { return {xtrace(f, lambda), ytrace(f, lambda)}; }
  SPECX_HOST_DEVICE stamp_corner corner(int f, T lambda) const {
    const point<T> c = xy(f, lambda);
    return {detail::stamp_first_pixel(c.x, hsizex), detail::stamp_first_pixel(c.y, hsizey)};
  }
  /// (σx, σy) in pixels at (f, λ).
  SPECX_HOST_DEVICE point<T> sigma(int f, T lambda) const {
    T sy = sigy(f, lambda);
    if (sigy_angstrom) sy *= detail::abs_(ytrace.derivative(f, lambda));
    return {sigx(f, lambda), sy};
  }

  SPECX_HOST_DEVICE stamp_corner stamp(int f, T lambda, T* out) const {
    const point<T> c = xy(f, lambda);
    const point<T> s = sigma(f, lambda);
    const int nx = stamp_nx(), ny = stamp_ny();
    const int x0 = detail::stamp_first_pixel(c.x, hsizex);
    const int y0 = detail::stamp_first_pixel(c.y, hsizey);
    T gx[limits::max_side], gy[limits::max_side];
    core::pixel_integrated_gaussians(c.x, s.x, x0, nx, gx);
    core::pixel_integrated_gaussians(c.y, s.y, y0, ny, gy);
    detail::normalise(gx, nx);
    detail::normalise(gy, ny);
    for (int r = 0; r < ny; ++r)
      for (int q = 0; q < nx; ++q) out[r * nx + q] = gy[r] * gx[q];
    return {x0, y0};
  }
};

/// The owning Gaussian PSF model on backend B with value type T.
template <class T, backend::Backend B = backend::cpu>
class gaussian_psf : public detail::model_base<gaussian_psf<T, B>, T, B> {
  using base = detail::model_base<gaussian_psf<T, B>, T, B>;
  friend base;
  using base::geo_;
  using base::wmax_;
  using base::wmin_;

 public:
  static constexpr const char* model_name = "specx::psf::gaussian_psf";
  using base::check;
  using base::nfiber;
  using base::npix_x;
  using base::npix_y;
  using value_type = T;
  using backend_type = B;
  using view_type = gaussian_view<T>;
  using limits = gaussian_limits;

  explicit gaussian_psf(const gaussian_params& p, B be = {}) { build(p, be); }

  /// From a PSF file: a trace-only file (XTRACE, YTRACE, XSIGMA [pixels],
  /// WSIGMA [Å, Legendre on the trace domain]) or a Gauss–Hermite file (its
  /// GHSIGX, GHSIGY: the Gaussian core alone). hsizex/hsizey default to the
  /// file's HSIZEX/HSIZEY, else 8 and 5; npix to NPIX_X/NPIX_Y.
  template <class D>
    requires std::same_as<D, io::psf_file_data>
  explicit gaussian_psf(const D& file, B be = {}, int hsizex = 0, int hsizey = 0) {
    build(params_from_file(file, hsizex, hsizey), be);
  }

  /// A Gaussian of constant widths (pixels) on the given traces.
  static gaussian_params constant_width(legendre_table xtrace, legendre_table ytrace, double sigma_x,
                                        double sigma_y, int npix_x, int npix_y, int hsizex = 8, int hsizey = 5) {
    gaussian_params p;
    const std::vector<double> sx(xtrace.nfiber, sigma_x), sy(xtrace.nfiber, sigma_y);
    p.sigma_x = legendre_table::constant(sx, xtrace.wavemin, xtrace.wavemax);
    p.sigma_y = legendre_table::constant(sy, xtrace.wavemin, xtrace.wavemax);
    p.xtrace = std::move(xtrace);
    p.ytrace = std::move(ytrace);
    p.npix_x = npix_x;
    p.npix_y = npix_y;
    p.hsizex = hsizex;
    p.hsizey = hsizey;
    return p;
  }

  view_type view() const {
    return make_view(geo_.xview(), geo_.yview(), dev(sx_dev_, p_.sigma_x), dev(sy_dev_, p_.sigma_y));
  }
  view_type host_view() const {
    return make_view(host(hx_, p_.xtrace), host(hy_, p_.ytrace), host(hsx_, p_.sigma_x), host(hsy_, p_.sigma_y));
  }

  int stamp_nx() const { return 2 * p_.hsizex + 1; }
  int stamp_ny() const { return 2 * p_.hsizey + 1; }
  /// (σx, σy) in pixels at (f, λ).
  point<T> sigma(int f, T lambda) const {
    check(f, lambda, "specx::psf::gaussian_psf::sigma");
    return host_view().sigma(f, lambda);
  }
  const gaussian_params& params() const { return p_; }

  template <class D>
    requires std::same_as<D, io::psf_file_data>
  static gaussian_params params_from_file(const D& d, int hsizex = 0, int hsizey = 0) {
    auto table = [](const auto& s) {
      legendre_table t;
      t.wavemin = s.wavemin;
      t.wavemax = s.wavemax;
      t.nfiber = s.coeff.shape()[0];
      t.ncoef = s.coeff.shape()[1];
      t.coeff.assign(s.coeff.data(), s.coeff.data() + t.nfiber * t.ncoef);
      return t;
    };
    gaussian_params p;
    p.xtrace = table(d.xtrace);
    p.ytrace = table(d.ytrace);
    p.npix_x = d.npix_x;
    p.npix_y = d.npix_y;
    p.hsizex = hsizex > 0 ? hsizex : (d.hsizex > 0 ? d.hsizex : 8);
    p.hsizey = hsizey > 0 ? hsizey : (d.hsizey > 0 ? d.hsizey : 5);
    if (d.has_param("GHSIGX") && d.has_param("GHSIGY")) {
      p.sigma_x = table(d.param("GHSIGX"));
      p.sigma_y = table(d.param("GHSIGY"));
    } else if (d.xsigma && d.wsigma) {
      const auto& xs = *d.xsigma;
      p.sigma_x = legendre_table::constant(std::span<const double>(xs.data(), xs.size()), p.xtrace.wavemin,
                                           p.xtrace.wavemax);
      const auto& ws = *d.wsigma;
      p.sigma_y = {p.ytrace.wavemin, p.ytrace.wavemax, ws.shape()[0], ws.shape()[1],
                   std::vector<double>(ws.data(), ws.data() + ws.size())};
      p.sigma_y_in_angstrom = true;
    } else {
      throw invalid_argument("specx::psf::gaussian_psf: " + d.path +
                             " has neither GHSIGX/GHSIGY nor XSIGMA/WSIGMA: give the widths explicitly");
    }
    return p;
  }

 private:
  legendre_set_view<T> dev(const backend::vector_t<B, T>& v, const legendre_table& t) const {
    return {backend::raw(B{}, const_cast<backend::vector_t<B, T>&>(v)), static_cast<int>(t.ncoef),
            {T(t.wavemin), T(t.wavemax)}};
  }
  static legendre_set_view<T> host(const std::vector<T>& v, const legendre_table& t) {
    return {v.data(), static_cast<int>(t.ncoef), {T(t.wavemin), T(t.wavemax)}};
  }
  view_type make_view(legendre_set_view<T> x, legendre_set_view<T> y, legendre_set_view<T> sx,
                      legendre_set_view<T> sy) const {
    view_type v;
    v.xtrace = x;
    v.ytrace = y;
    v.sigx = sx;
    v.sigy = sy;
    v.sigy_angstrom = p_.sigma_y_in_angstrom;
    v.nfib = geo_.nfiber();
    v.hsizex = p_.hsizex;
    v.hsizey = p_.hsizey;
    v.wmin = wmin_;
    v.wmax = wmax_;
    return v;
  }

  void build(const gaussian_params& p, B be) {
    const std::string fn = "specx::psf::gaussian_psf";
    if (p.hsizex < 0 || p.hsizey < 0 || p.hsizex > limits::max_half_size || p.hsizey > limits::max_half_size)
      throw invalid_argument(fn + ": stamp half sizes " + std::to_string(p.hsizex) + ", " +
                             std::to_string(p.hsizey) + " outside 0.." + std::to_string(limits::max_half_size));
    geo_ = detail::trace_geometry<T, B>(be, p.xtrace, p.ytrace, p.npix_x, p.npix_y);
    p.sigma_x.validate(fn + ": sigma_x");
    p.sigma_y.validate(fn + ": sigma_y");
    if (p.sigma_x.nfiber != p.xtrace.nfiber || p.sigma_y.nfiber != p.xtrace.nfiber)
      throw invalid_argument(fn + ": the width tables do not have one row per fiber");
    p_ = p;
    hx_ = detail::converted<T>(p.xtrace.coeff);
    hy_ = detail::converted<T>(p.ytrace.coeff);
    hsx_ = detail::converted<T>(p.sigma_x.coeff);
    hsy_ = detail::converted<T>(p.sigma_y.coeff);
    sx_dev_ = backend::to_backend(be, std::span<const T>(hsx_));
    sy_dev_ = backend::to_backend(be, std::span<const T>(hsy_));
    wmin_ = T(std::max({geo_.wavemin(), p.sigma_x.wavemin, p.sigma_y.wavemin}));
    wmax_ = T(std::min({geo_.wavemax(), p.sigma_x.wavemax, p.sigma_y.wavemax}));
    if (!(wmax_ > wmin_)) throw invalid_argument(fn + ": the traces' and widths' domains do not overlap");
  }

  gaussian_params p_;
  std::vector<T> hx_, hy_, hsx_, hsy_;
  backend::vector_t<B, T> sx_dev_, sy_dev_;
};

}  // namespace specx::psf
