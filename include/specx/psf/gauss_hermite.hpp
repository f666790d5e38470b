// The Gauss–Hermite PSF of specex / specter (GaussHermitePSF), PSFVER 3 and 2.
//
// For fiber f at wavelength λ, with trace centroid (xc, yc) = (x_f(λ), y_f(λ)) and
// every shape parameter a Legendre series in λ on the PSF's own domain:
//   core(x, y) = Σ_{i≤GHDEGX, j≤GHDEGY} GH-i-j · [∫_pix He_i(u) φ(u) du]_x · [∫_pix He_j(v) φ(v) dv]_y,
//     u = (x − xc)/GHSIGX, v = (y − yc)/GHSIGY (each factor integrated over the pixel in u);
//   tail(x, y) = TAILAMP · r² / (TAILCORE² + r²)^(1 + TAILINDE/2),
//     r² = (dx·TAILXSCA)² + (dy·TAILYSCA)², dx, dy from the centroid to the pixel centre;
//   stamp = max(core + tail, 0) / Σ_stamp max(core + tail, 0)
// on (2·HSIZEY+1) x (2·HSIZEX+1) pixels from (floor(xc − HSIZEX + ½), floor(yc − HSIZEY + ½)).
// The core is separable: stamp_core = Y · Cᵀ · X (C = [GH-i-j]), a small matrix product.
// Equations, conventions and where we differ from specter: docs/psf.md.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../core/legendre.hpp"
#include "../error.hpp"
#include "../io/fwd.hpp"
#include "concept.hpp"
#include "detail/gauss_hermite_kernel.hpp"
#include "detail/math.hpp"
#include "detail/model_base.hpp"
#include "traces.hpp"

namespace specx::psf {

/// Host description of a Gauss–Hermite PSF (what a PSF file holds): traces, the
/// named parameter series (GHSIGX, GHSIGY, GH-i-j, TAILAMP, TAILCORE, TAILXSCA,
/// TAILYSCA, TAILINDE; others are ignored) and the header numbers.
struct gauss_hermite_params {
  legendre_table xtrace, ytrace;
  std::vector<std::pair<std::string, legendre_table>> params;
  int hsizex = 8, hsizey = 5;  ///< stamp half sizes (HSIZEX, HSIZEY)
  int ghdegx = 0, ghdegy = 0;  ///< Hermite degrees (GHDEGX, GHDEGY)
  int npix_x = 0, npix_y = 0;  ///< CCD size

  const legendre_table* find(const std::string& name) const {
    for (const auto& [n, t] : params)
      if (n == name) return &t;
    return nullptr;
  }
};

/// Compile-time bounds of the Gauss–Hermite kernel's fixed-size local arrays
/// (checked at construction).
struct gauss_hermite_limits {
  static constexpr int max_gh_degree = 10;        ///< GHDEGX, GHDEGY ≤ 10
  static constexpr int max_half_size = 24;        ///< HSIZEX, HSIZEY ≤ 24
  static constexpr int max_legendre_degree = 15;  ///< parameters' Legendre degree ≤ 15
  static constexpr int max_side = 2 * max_half_size + 1;
};

/// Trivially copyable view of a Gauss–Hermite PSF (raw pointers into backend
/// memory). Device-side members assume valid inputs (0 ≤ fiber < nfiber(),
/// wavemin(f) ≤ λ ≤ wavemax(f)): the owning model validates on the host.
template <class T>
struct gauss_hermite_view {
  using value_type = T;
  using limits = gauss_hermite_limits;
  static constexpr int max_stamp_pixels = limits::max_side * limits::max_side;
  /// Parameter slots: 0 GHSIGX, 1 GHSIGY, 2..6 TAILAMP, TAILCORE, TAILXSCA,
  /// TAILYSCA, TAILINDE, then GH-i-j at first_gh + i·(ghdegy+1) + j.
  enum : int { sigx = 0, sigy = 1, tailamp = 2, tailcore = 3, tailxsca = 4, tailysca = 5, tailinde = 6, first_gh = 7 };

  legendre_set_view<T> xtrace, ytrace;
  const T* coeff = nullptr;  ///< [nfiber, npcoef, nparam] (coefficient-major: par += leg_l · row l)
  int nparam = 0, npcoef = 0;
  core::legendre_domain<T> pdomain{};
  int nfib = 0, hsizex = 0, hsizey = 0, ghdegx = 0, ghdegy = 0;
  bool has_tail = false;
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

  /// Every parameter of fiber f at λ: par[k] for k < nparam.
  SPECX_HOST_DEVICE void parameters(int f, T lambda, T* par) const {
    T leg[limits::max_legendre_degree + 1];
    core::legendre_all(npcoef - 1, pdomain.to_reduced(lambda), leg);
    // par = Σ_l leg_l · c[l, ·], l ascending: vectorised across the parameters.
    const T* c = coeff + static_cast<std::ptrdiff_t>(f) * nparam * npcoef;
    for (int k = 0; k < nparam; ++k) par[k] = T(0);
    for (int l = 0; l < npcoef; ++l, c += nparam) {
      const T g = leg[l];
      for (int k = 0; k < nparam; ++k) par[k] += c[k] * g;
    }
  }

  SPECX_HOST_DEVICE stamp_corner stamp(int f, T lambda, T* out) const {
    constexpr int md = limits::max_gh_degree + 1;
    T par[first_gh + md * md];
    parameters(f, lambda, par);
    const point<T> c = xy(f, lambda);
    const int nx = stamp_nx(), ny = stamp_ny();
    const int x0 = detail::stamp_first_pixel(c.x, hsizex);
    const int y0 = detail::stamp_first_pixel(c.y, hsizey);
    const int dx = ghdegx + 1, dy = ghdegy + 1;
    T fx[md * limits::max_side], fy[md * limits::max_side];
    detail::gauss_hermite_pixel_factors<limits::max_gh_degree, limits::max_side>(c.x, par[sigx], x0, nx, ghdegx, fx);
    detail::gauss_hermite_pixel_factors<limits::max_gh_degree, limits::max_side>(c.y, par[sigy], y0, ny, ghdegy, fy);
    const T* gh = par + first_gh;  // gh[i·dy + j] = GH-i-j
    // D[i, r] = Σ_j GH-i-j · Y_j(r), then row r of the core: Σ_i D[i, r] · X_i.
    T dm[md * limits::max_side];
    for (int i = 0; i < dx; ++i) detail::combine_rows(gh + i * dy, 1, dy, fy, ny, dm + i * ny);
    for (int r = 0; r < ny; ++r) detail::combine_rows(dm + r, ny, dx, fx, nx, out + r * nx);
    if (has_tail && par[tailamp] != T(0)) {
      const T amp = par[tailamp], core2 = par[tailcore] * par[tailcore];
      const T expo = T(1) + T(0.5) * par[tailinde];
      for (int r = 0; r < ny; ++r) {
        const T ty = (T(y0 + r) - c.y) * par[tailysca];
        for (int q = 0; q < nx; ++q) {
          const T tx = (T(x0 + q) - c.x) * par[tailxsca];
          const T r2 = tx * tx + ty * ty;
          out[r * nx + q] += amp * r2 / detail::pow_(core2 + r2, expo);
        }
      }
    }
    for (int k = 0; k < nx * ny; ++k) out[k] = out[k] > T(0) ? out[k] : T(0);
    detail::normalise(out, nx * ny);
    return {x0, y0};
  }
};

/// The owning Gauss–Hermite PSF model on backend B with value type T (float or
/// double). Coefficients live in B's memory (and a host copy for host queries).
template <class T, backend::Backend B = backend::cpu>
class gauss_hermite_psf : public detail::model_base<gauss_hermite_psf<T, B>, T, B> {
  using base = detail::model_base<gauss_hermite_psf<T, B>, T, B>;
  friend base;
  using base::geo_;
  using base::wmax_;
  using base::wmin_;

 public:
  static constexpr const char* model_name = "specx::psf::gauss_hermite_psf";
  using base::check;
  using base::nfiber;
  using base::npix_x;
  using base::npix_y;
  using value_type = T;
  using backend_type = B;
  using view_type = gauss_hermite_view<T>;
  using limits = gauss_hermite_limits;

  /// Builds the model from its host description. Throws invalid_argument when a
  /// parameter is missing, shapes disagree, or a degree or stamp size exceeds
  /// gauss_hermite_limits; bad_data when a y trace is not monotonic.
  explicit gauss_hermite_psf(const gauss_hermite_params& p, B be = {}) { build(p, be); }

  /// Builds the model from a PSF file read by specx::io::read_psf (PSFVER 3 or 2).
  /// (A template so that this header needs only io's forward declarations.)
  template <class D>
    requires std::same_as<D, io::psf_file_data>
  explicit gauss_hermite_psf(const D& file, B be = {}) {
    build(params_from_file(file), be);
  }

  /// The device view (valid while this model lives).
  view_type view() const { return make_view(backend::raw(B{}, const_cast<backend::vector_t<B, T>&>(coeff_)), geo_.xview(), geo_.yview()); }
  /// The same view over host memory, for host-side evaluation on any backend.
  view_type host_view() const {
    return make_view(hcoeff_.data(), {hx_.data(), static_cast<int>(geo_.xtrace().ncoef), xdom()},
                     {hy_.data(), static_cast<int>(geo_.ytrace().ncoef), ydom()});
  }

  int hsizex() const { return hsizex_; }
  int hsizey() const { return hsizey_; }
  int ghdegx() const { return ghdegx_; }
  int ghdegy() const { return ghdegy_; }
  int stamp_nx() const { return 2 * hsizex_ + 1; }
  int stamp_ny() const { return 2 * hsizey_ + 1; }


  /// Any parameter of the model (GHSIGX, GH-2-0, TAILAMP, ...) at (f, λ), on the host.
  T param(const std::string& name, int f, T lambda) const {
    check(f, lambda, "specx::psf::gauss_hermite_psf::param");
    const int k = slot(name);
    if (k < 0) throw invalid_argument("specx::psf::gauss_hermite_psf::param: no parameter " + name);
    std::vector<T> par(static_cast<std::size_t>(nparam_));
    host_view().parameters(f, lambda, par.data());
    return par[static_cast<std::size_t>(k)];
  }



  /// Converts a PSF file's contents into the host description.
  template <class D>
    requires std::same_as<D, io::psf_file_data>
  static gauss_hermite_params params_from_file(const D& d) {
    if (d.params.empty())
      throw invalid_argument("specx::psf::gauss_hermite_psf: " + d.path +
                             " has no Gauss-Hermite parameters (a trace-only file? use gaussian_psf)");
    auto table = [](const auto& s) {
      legendre_table t;
      t.wavemin = s.wavemin;
      t.wavemax = s.wavemax;
      t.nfiber = s.coeff.shape()[0];
      t.ncoef = s.coeff.shape()[1];
      t.coeff.assign(s.coeff.data(), s.coeff.data() + t.nfiber * t.ncoef);
      return t;
    };
    gauss_hermite_params p;
    p.xtrace = table(d.xtrace);
    p.ytrace = table(d.ytrace);
    for (const auto& q : d.params) p.params.emplace_back(q.name, table(q));
    p.hsizex = d.hsizex;
    p.hsizey = d.hsizey;
    p.ghdegx = d.ghdegx;
    p.ghdegy = d.ghdegy;
    p.npix_x = d.npix_x;
    p.npix_y = d.npix_y;
    return p;
  }

 private:
  core::legendre_domain<T> xdom() const { return {T(geo_.xtrace().wavemin), T(geo_.xtrace().wavemax)}; }
  core::legendre_domain<T> ydom() const { return {T(geo_.ytrace().wavemin), T(geo_.ytrace().wavemax)}; }

  view_type make_view(const T* c, legendre_set_view<T> xv, legendre_set_view<T> yv) const {
    view_type v;
    v.xtrace = xv;
    v.ytrace = yv;
    v.coeff = c;
    v.nparam = nparam_;
    v.npcoef = npcoef_;
    v.pdomain = {T(pwmin_), T(pwmax_)};
    v.nfib = geo_.nfiber();
    v.hsizex = hsizex_;
    v.hsizey = hsizey_;
    v.ghdegx = ghdegx_;
    v.ghdegy = ghdegy_;
    v.has_tail = has_tail_;
    v.wmin = wmin_;
    v.wmax = wmax_;
    return v;
  }

  int slot(const std::string& name) const {
    static const char* fixed[] = {"GHSIGX", "GHSIGY", "TAILAMP", "TAILCORE", "TAILXSCA", "TAILYSCA", "TAILINDE"};
    for (int k = 0; k < view_type::first_gh; ++k)
      if (name == fixed[k]) return k;
    for (int i = 0; i <= ghdegx_; ++i)
      for (int j = 0; j <= ghdegy_; ++j)
        if (name == gh_name(i, j)) return view_type::first_gh + i * (ghdegy_ + 1) + j;
    return -1;
  }
  static std::string gh_name(int i, int j) { return "GH-" + std::to_string(i) + "-" + std::to_string(j); }

  void build(const gauss_hermite_params& p, B be) {
    const char* fn = "specx::psf::gauss_hermite_psf";
    auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
    if (p.ghdegx < 0 || p.ghdegy < 0 || p.ghdegx > limits::max_gh_degree || p.ghdegy > limits::max_gh_degree)
      fail("GHDEGX = " + std::to_string(p.ghdegx) + ", GHDEGY = " + std::to_string(p.ghdegy) +
           " outside the supported 0.." + std::to_string(limits::max_gh_degree));
    if (p.hsizex < 0 || p.hsizey < 0 || p.hsizex > limits::max_half_size || p.hsizey > limits::max_half_size)
      fail("HSIZEX = " + std::to_string(p.hsizex) + ", HSIZEY = " + std::to_string(p.hsizey) +
           " outside the supported 0.." + std::to_string(limits::max_half_size));
    geo_ = detail::trace_geometry<T, B>(be, p.xtrace, p.ytrace, p.npix_x, p.npix_y);
    hsizex_ = p.hsizex;
    hsizey_ = p.hsizey;
    ghdegx_ = p.ghdegx;
    ghdegy_ = p.ghdegy;
    nparam_ = view_type::first_gh + (ghdegx_ + 1) * (ghdegy_ + 1);
    const std::size_t nfib = p.xtrace.nfiber;

    // Gather the slots; all shape parameters must share one Legendre domain (a
    // PSFVER 3 file guarantees it; specter's PSFVER 2 loader silently gives every
    // parameter the last row's domain, which we refuse to imitate).
    std::vector<const legendre_table*> src(static_cast<std::size_t>(nparam_), nullptr);
    static const char* fixed[] = {"GHSIGX", "GHSIGY", "TAILAMP", "TAILCORE", "TAILXSCA", "TAILYSCA", "TAILINDE"};
    for (int k = 0; k < view_type::first_gh; ++k) src[static_cast<std::size_t>(k)] = p.find(fixed[k]);
    for (int i = 0; i <= ghdegx_; ++i)
      for (int j = 0; j <= ghdegy_; ++j) {
        const auto* t = p.find(gh_name(i, j));
        if (!t) fail("missing parameter " + gh_name(i, j) + " (GHDEGX = " + std::to_string(ghdegx_) +
                     ", GHDEGY = " + std::to_string(ghdegy_) + ")");
        src[static_cast<std::size_t>(view_type::first_gh + i * (ghdegy_ + 1) + j)] = t;
      }
    if (!src[view_type::sigx] || !src[view_type::sigy]) fail("missing parameter GHSIGX or GHSIGY");
    has_tail_ = src[view_type::tailamp] != nullptr;
    for (int k = view_type::tailcore; k <= view_type::tailinde; ++k)
      if (has_tail_ && !src[static_cast<std::size_t>(k)])
        fail(std::string("TAILAMP is present but ") + fixed[k] + " is missing");
    const legendre_table* first = src[view_type::sigx];
    pwmin_ = first->wavemin;
    pwmax_ = first->wavemax;
    npcoef_ = 0;
    for (int k = 0; k < nparam_; ++k) {
      const auto* t = src[static_cast<std::size_t>(k)];
      if (!t) continue;
      t->validate(std::string(fn) + ": parameter slot " + std::to_string(k));
      if (t->nfiber != nfib)
        fail("a parameter has " + std::to_string(t->nfiber) + " fibers, the traces " + std::to_string(nfib));
      if (t->wavemin != pwmin_ || t->wavemax != pwmax_)
        fail("the PSF parameters do not share one Legendre domain ([" + std::to_string(t->wavemin) + ", " +
             std::to_string(t->wavemax) + "] vs [" + std::to_string(pwmin_) + ", " + std::to_string(pwmax_) + "])");
      npcoef_ = std::max(npcoef_, static_cast<int>(t->ncoef));
    }
    if (npcoef_ - 1 > limits::max_legendre_degree)
      fail("parameter Legendre degree " + std::to_string(npcoef_ - 1) + " exceeds " +
           std::to_string(limits::max_legendre_degree));
    // [nfiber, npcoef, nparam], zero-padded to the largest degree.
    hcoeff_.assign(nfib * static_cast<std::size_t>(nparam_ * npcoef_), T(0));
    for (std::size_t f = 0; f < nfib; ++f)
      for (int k = 0; k < nparam_; ++k) {
        const auto* t = src[static_cast<std::size_t>(k)];
        if (!t) continue;
        for (std::size_t l = 0; l < t->ncoef; ++l)
          hcoeff_[(f * static_cast<std::size_t>(npcoef_) + l) * static_cast<std::size_t>(nparam_) + static_cast<std::size_t>(k)] =
              T(t->coeff[f * t->ncoef + l]);
      }
    coeff_ = backend::to_backend(be, std::span<const T>(hcoeff_));
    hx_ = detail::converted<T>(p.xtrace.coeff);
    hy_ = detail::converted<T>(p.ytrace.coeff);
    wmin_ = T(std::max(geo_.wavemin(), pwmin_));
    wmax_ = T(std::min(geo_.wavemax(), pwmax_));
    if (!(wmax_ > wmin_)) fail("the traces' and the parameters' wavelength domains do not overlap");
  }

  int hsizex_ = 0, hsizey_ = 0, ghdegx_ = 0, ghdegy_ = 0, nparam_ = 0, npcoef_ = 0;
  bool has_tail_ = false;
  double pwmin_ = 0, pwmax_ = 0;
  std::vector<T> hcoeff_, hx_, hy_;
  backend::vector_t<B, T> coeff_;
};

}  // namespace specx::psf
