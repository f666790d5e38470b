// A spot-grid PSF: oversampled PSF images ("spots") tabulated on a grid of slit
// positions x wavelengths, like specter's SpotGridPSF or the PFS spot files.
//
// Spot k is sampled at spacing 1/oversample CCD pixel; sample (b, a) sits at
// ((a − (spot_nx−1)/2)/os, (b − (spot_ny−1)/2)/os) pixels from the trace centroid.
// For fiber f at λ:
//  1. the four spots around (fiberpos[f], λ) are mixed with bilinear weights in
//     (slit position, wavelength) — all spots share one sub-pixel grid, so the
//     mixture is again a set of samples on that grid;
//  2. the samples define a continuous spot by bilinear (tensor-product hat)
//     interpolation, S(u, v) = Σ_ab s_ab h_a(u) h_b(v);
//  3. each CCD pixel value is the exact integral of S over the pixel,
//     Σ_ab s_ab H_a(pixel_x) H_b(pixel_y), H = ∫ of a hat over an interval
//     (piecewise quadratic, docs/psf.md#spot-grid-psf);
//  4. negatives are clipped and the stamp normalised to 1, as for the other models.
// The stamp geometry (size, corner) is that of the Gauss–Hermite model.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "concept.hpp"
#include "detail/math.hpp"
#include "detail/model_base.hpp"
#include "traces.hpp"

namespace specx::psf {

/// Host description of a spot-grid PSF.
struct spot_grid_params {
  legendre_table xtrace, ytrace;  ///< trace centroids per fiber
  std::vector<double> fiberpos;   ///< [nfiber] slit position of each fiber
  std::vector<double> spotpos;    ///< [npos] slit positions of the spots, strictly increasing
  std::vector<double> spotwave;   ///< [nwave] wavelengths of the spots, strictly increasing
  int spot_nx = 0, spot_ny = 0;   ///< samples per spot along x and y
  int oversample = 1;             ///< samples per CCD pixel
  std::vector<double> spots;      ///< [npos, nwave, spot_ny, spot_nx], row-major
  int hsizex = 8, hsizey = 5;
  int npix_x = 0, npix_y = 0;
};

struct spot_grid_limits {
  static constexpr int max_half_size = 24;
  static constexpr int max_side = 2 * max_half_size + 1;
  static constexpr int max_oversample = 16;
  static constexpr int max_taps = max_oversample + 3;  ///< samples whose hat meets one pixel
};

namespace detail {
/// ∫_{−∞}^{t} max(0, 1 − |s|) ds.
template <class T>
SPECX_HOST_DEVICE T hat_cdf(T t) {
  if (t <= T(-1)) return T(0);
  if (t <= T(0)) return T(0.5) * (T(1) + t) * (T(1) + t);
  if (t < T(1)) return T(1) - T(0.5) * (T(1) - t) * (T(1) - t);
  return T(1);
}
/// For pixel edges [s0, s0 + os] in sample coordinates (sample a at s = a), the
/// first sample whose hat meets the pixel, how many do, and their integrals over
/// the pixel in CCD-pixel units (1/os per unit of s).
template <class T>
SPECX_HOST_DEVICE int hat_taps(T s0, int os, int nsample, int& first, T* w) {
  const T s1 = s0 + T(os);
  int a0 = static_cast<int>(floor_(s0)) ;  // hats of a ≤ s0 − 1 end before s0
  int a1 = static_cast<int>(floor_(s1)) + 1;
  if (a0 < 0) a0 = 0;
  if (a1 > nsample - 1) a1 = nsample - 1;
  first = a0;
  int n = 0;
  const T inv = T(1) / T(os);
  for (int a = a0; a <= a1; ++a) w[n++] = (hat_cdf(s1 - T(a)) - hat_cdf(s0 - T(a))) * inv;
  return n;
}
}  // namespace detail

/// Trivially copyable view of a spot-grid PSF; device members assume valid inputs.
template <class T>
struct spot_grid_view {
  using value_type = T;
  using limits = spot_grid_limits;
  static constexpr int max_stamp_pixels = limits::max_side * limits::max_side;

  legendre_set_view<T> xtrace, ytrace;
  const T* spots = nullptr;     ///< [npos, nwave, spot_ny, spot_nx]
  const T* spotwave = nullptr;  ///< [nwave]
  const int* cell = nullptr;    ///< [nfiber] slit cell: spots cell and cell + 1
  const T* cellw = nullptr;     ///< [nfiber] weight of spot cell + 1
  int npos = 0, nwave = 0, spot_nx = 0, spot_ny = 0, oversample = 1;
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

  SPECX_HOST_DEVICE stamp_corner stamp(int f, T lambda, T* out) const {
    const point<T> c = xy(f, lambda);
    const int nx = stamp_nx(), ny = stamp_ny();
    const int x0 = detail::stamp_first_pixel(c.x, hsizex);
    const int y0 = detail::stamp_first_pixel(c.y, hsizey);
    // The four spots and their bilinear weights.
    int lo = 0, hi = nwave - 1;  // spotwave[lo] ≤ λ ≤ spotwave[lo + 1]
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (spotwave[mid] <= lambda) lo = mid; else hi = mid;
    }
    const int j1 = nwave > 1 ? lo + 1 : lo;
    const T t = nwave > 1 ? (lambda - spotwave[lo]) / (spotwave[j1] - spotwave[lo]) : T(0);
    const int i0 = cell[f], i1 = npos > 1 ? i0 + 1 : i0;
    const T ws = cellw[f];
    const std::ptrdiff_t spot_size = static_cast<std::ptrdiff_t>(spot_nx) * spot_ny;
    const T* sp[4] = {spots + (static_cast<std::ptrdiff_t>(i0) * nwave + lo) * spot_size,
                      spots + (static_cast<std::ptrdiff_t>(i0) * nwave + j1) * spot_size,
                      spots + (static_cast<std::ptrdiff_t>(i1) * nwave + lo) * spot_size,
                      spots + (static_cast<std::ptrdiff_t>(i1) * nwave + j1) * spot_size};
    const T wk[4] = {(T(1) - ws) * (T(1) - t), (T(1) - ws) * t, ws * (T(1) - t), ws * t};
    // Hat integrals over each stamp column and row, in sample coordinates
    // s = (pixel edge − centroid)·os + (n − 1)/2.
    const T cx = T(0.5) * T(spot_nx - 1), cy = T(0.5) * T(spot_ny - 1);
    T hx[limits::max_side][limits::max_taps], hy[limits::max_side][limits::max_taps];
    int ax[limits::max_side], nax[limits::max_side], by[limits::max_side], nby[limits::max_side];
    for (int q = 0; q < nx; ++q)
      nax[q] = detail::hat_taps((T(x0 + q) - T(0.5) - c.x) * T(oversample) + cx, oversample, spot_nx, ax[q], hx[q]);
    for (int r = 0; r < ny; ++r)
      nby[r] = detail::hat_taps((T(y0 + r) - T(0.5) - c.y) * T(oversample) + cy, oversample, spot_ny, by[r], hy[r]);
    for (int r = 0; r < ny; ++r)
      for (int q = 0; q < nx; ++q) {
        T v = T(0);
        for (int k = 0; k < 4; ++k) {
          if (wk[k] == T(0)) continue;
          T acc = T(0);
          for (int kb = 0; kb < nby[r]; ++kb) {
            const T* srow = sp[k] + static_cast<std::ptrdiff_t>(by[r] + kb) * spot_nx + ax[q];
            T s = T(0);
            for (int ka = 0; ka < nax[q]; ++ka) s += hx[q][ka] * srow[ka];
            acc += hy[r][kb] * s;
          }
          v += wk[k] * acc;
        }
        out[r * nx + q] = v > T(0) ? v : T(0);
      }
    detail::normalise(out, nx * ny);
    return {x0, y0};
  }
};

/// The owning spot-grid PSF model on backend B with value type T.
template <class T, backend::Backend B = backend::cpu>
class spot_grid_psf : public detail::model_base<spot_grid_psf<T, B>, T, B> {
  using base = detail::model_base<spot_grid_psf<T, B>, T, B>;
  friend base;
  using base::geo_;
  using base::wmax_;
  using base::wmin_;

 public:
  static constexpr const char* model_name = "specx::psf::spot_grid_psf";
  using base::check;
  using base::nfiber;
  using base::npix_x;
  using base::npix_y;
  using value_type = T;
  using backend_type = B;
  using view_type = spot_grid_view<T>;
  using limits = spot_grid_limits;

  /// Throws invalid_argument for inconsistent shapes, non-increasing grids,
  /// fibers outside the slit positions of the spots, or sizes beyond spot_grid_limits.
  explicit spot_grid_psf(spot_grid_params p, B be = {}) {
    const std::string fn = "specx::psf::spot_grid_psf";
    auto fail = [&](const std::string& m) { throw invalid_argument(fn + ": " + m); };
    geo_ = detail::trace_geometry<T, B>(be, p.xtrace, p.ytrace, p.npix_x, p.npix_y);
    const std::size_t nfib = p.xtrace.nfiber;
    if (p.hsizex < 0 || p.hsizey < 0 || p.hsizex > limits::max_half_size || p.hsizey > limits::max_half_size)
      fail("stamp half sizes outside 0.." + std::to_string(limits::max_half_size));
    if (p.oversample < 1 || p.oversample > limits::max_oversample)
      fail("oversample " + std::to_string(p.oversample) + " outside 1.." + std::to_string(limits::max_oversample));
    if (p.spot_nx < 1 || p.spot_ny < 1) fail("empty spots");
    if (p.spotpos.empty() || p.spotwave.empty()) fail("no spot positions or wavelengths");
    if (p.fiberpos.size() != nfib) fail("fiberpos needs one entry per fiber");
    auto increasing = [](const std::vector<double>& v) {
      for (std::size_t i = 1; i < v.size(); ++i)
        if (!(v[i] > v[i - 1])) return false;
      return true;
    };
    if (!increasing(p.spotpos) || !increasing(p.spotwave)) fail("spotpos and spotwave must increase strictly");
    const std::size_t npos = p.spotpos.size(), nw = p.spotwave.size();
    if (p.spots.size() != npos * nw * static_cast<std::size_t>(p.spot_nx) * static_cast<std::size_t>(p.spot_ny))
      fail("spots must be [npos, nwave, spot_ny, spot_nx] = [" + std::to_string(npos) + ", " + std::to_string(nw) +
           ", " + std::to_string(p.spot_ny) + ", " + std::to_string(p.spot_nx) + "]");
    std::vector<int> cell(nfib);
    std::vector<T> cellw(nfib);
    for (std::size_t f = 0; f < nfib; ++f) {
      const double s = p.fiberpos[f];
      if (!(s >= p.spotpos.front() && s <= p.spotpos.back()))
        fail("fiber " + std::to_string(f) + " at slit position " + std::to_string(s) + " is outside the spots' [" +
             std::to_string(p.spotpos.front()) + ", " + std::to_string(p.spotpos.back()) + "]");
      std::size_t i = 0;
      while (i + 2 < npos && p.spotpos[i + 1] <= s) ++i;
      cell[f] = static_cast<int>(i);
      cellw[f] = npos > 1 ? T((s - p.spotpos[i]) / (p.spotpos[i + 1] - p.spotpos[i])) : T(0);
    }
    hx_ = detail::converted<T>(p.xtrace.coeff);
    hy_ = detail::converted<T>(p.ytrace.coeff);
    hspots_ = detail::converted<T>(p.spots);
    hwave_ = detail::converted<T>(p.spotwave);
    hcell_ = cell;
    hcellw_ = cellw;
    spots_ = backend::to_backend(be, std::span<const T>(hspots_));
    wave_ = backend::to_backend(be, std::span<const T>(hwave_));
    cell_ = backend::to_backend(be, std::span<const int>(hcell_));
    cellw_ = backend::to_backend(be, std::span<const T>(hcellw_));
    wmin_ = T(std::max(geo_.wavemin(), p.spotwave.front()));
    wmax_ = T(std::min(geo_.wavemax(), p.spotwave.back()));
    if (!(wmax_ >= wmin_)) fail("the traces' domain and the spot wavelengths do not overlap");
    p.spots.clear();
    p.spots.shrink_to_fit();
    p_ = std::move(p);
  }

  view_type view() const {
    return make_view(geo_.xview(), geo_.yview(), raw(spots_), raw(wave_), raw(cell_), raw(cellw_));
  }
  view_type host_view() const {
    const auto& x = geo_.xtrace();
    const auto& y = geo_.ytrace();
    return make_view({hx_.data(), static_cast<int>(x.ncoef), {T(x.wavemin), T(x.wavemax)}},
                     {hy_.data(), static_cast<int>(y.ncoef), {T(y.wavemin), T(y.wavemax)}}, hspots_.data(),
                     hwave_.data(), hcell_.data(), hcellw_.data());
  }

  int stamp_nx() const { return 2 * p_.hsizex + 1; }
  int stamp_ny() const { return 2 * p_.hsizey + 1; }

 private:
  template <class U>
  static const U* raw(const backend::vector_t<B, U>& v) {
    return backend::raw(B{}, const_cast<backend::vector_t<B, U>&>(v));
  }
  view_type make_view(legendre_set_view<T> x, legendre_set_view<T> y, const T* s, const T* w, const int* c,
                      const T* cw) const {
    view_type v;
    v.xtrace = x;
    v.ytrace = y;
    v.spots = s;
    v.spotwave = w;
    v.cell = c;
    v.cellw = cw;
    v.npos = static_cast<int>(p_.spotpos.size());
    v.nwave = static_cast<int>(p_.spotwave.size());
    v.spot_nx = p_.spot_nx;
    v.spot_ny = p_.spot_ny;
    v.oversample = p_.oversample;
    v.nfib = geo_.nfiber();
    v.hsizex = p_.hsizex;
    v.hsizey = p_.hsizey;
    v.wmin = wmin_;
    v.wmax = wmax_;
    return v;
  }

  spot_grid_params p_;
  std::vector<T> hx_, hy_, hspots_, hwave_, hcellw_;
  std::vector<int> hcell_;
  backend::vector_t<B, T> spots_, wave_, cellw_;
  backend::vector_t<B, int> cell_;
};

}  // namespace specx::psf
