// Cosmic-ray rejection on a preprocessed image (docs/calibration.md#cosmic-rays):
// the SDSS/BOSS sharpness test (idlutils reject_cr_psf) as desispec runs it.
// For a pixel c with error σ_c and, along each of 4 axes a (horizontal, vertical,
// two diagonals), the mean b_a of its two neighbours with error σ_a:
//   1. c > b_a + nsig σ_c on at least 2 axes (the pixel stands out), and
//   2. (c − cfudge σ_c) · c2fudge · g_a > b_a + cfudge σ_a on at least one axis,
//      g_a = the PSF's neighbour/centre ratio along a: a real spot cannot be
//      sharper than the PSF, a cosmic ray can.
// Pass 1 runs on pixels with c √ivar > nsig (nsig 6, cfudge 3, c2fudge 0.5);
// then up to `niter` passes on the 8-neighbours of rejected pixels with nsig 3,
// cfudge 0 (rejected pixels no longer count as neighbours); finally the mask is
// grown by one pixel (3×3 dilation, as sdssproc does).
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../psf/concept.hpp"

namespace specx::preproc {

/// Parameters of the cosmic-ray test.
struct cosmic_options {
  bool enabled = true;
  double nsig = 6.0;
  double cfudge = 3.0;
  double c2fudge = 0.5;
  int niter = 6;
  bool dilate = true;
  /// Neighbour/centre ratios of the PSF along x, y and the two diagonals; see
  /// default_psf_gradients() and psf_gradients().
  std::array<double, 4> psf_gradients{0.819245, 0.847529, 0.617514, 0.656629};
};

/// DESI's mean-PSF gradients per arm (desispec.cosmics, computed from the
/// sp2 PSFs of 2019-03-08).
inline std::array<double, 4> default_psf_gradients(char arm) {
  switch (arm) {
    case 'b': return {0.758221, 0.771945, 0.570183, 0.592199};
    case 'r': return {0.819245, 0.847529, 0.617514, 0.656629};
    case 'z': return {0.829552, 0.862828, 0.633424, 0.664144};
    default: throw invalid_argument(std::string("specx::preproc::default_psf_gradients: unknown arm '") + arm + "'");
  }
}

/// The gradients of a PSF model: for stamps on a grid of fibers × wavelengths,
/// the mean of the two neighbours of the brightest pixel along each axis divided
/// by that pixel, averaged over the grid (host).
template <psf::Psf P>
std::array<double, 4> psf_gradients(const P& p, int nfiber_samples = 10, int nwave_samples = 10) {
  using T = typename P::value_type;
  const auto v = p.host_view();
  const int sx = v.stamp_nx(), sy = v.stamp_ny();
  std::vector<T> st(std::size_t(sx) * sy);
  const int d[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};  // (row, column) steps
  std::array<double, 4> acc{};
  int n = 0;
  for (int a = 0; a < nfiber_samples; ++a) {
    const int f = std::min(p.nfiber() - 1, (a * p.nfiber()) / nfiber_samples + p.nfiber() / (2 * nfiber_samples));
    const double w0 = double(p.wavemin(f)), w1 = double(p.wavemax(f));
    for (int b = 0; b < nwave_samples; ++b) {
      const T wl = T(w0 + (w1 - w0) * (b + 0.5) / nwave_samples);
      v.stamp(f, wl, st.data());
      int r0 = 0, c0 = 0;
      for (int r = 0; r < sy; ++r)
        for (int c = 0; c < sx; ++c)
          if (st[std::size_t(r) * sx + c] > st[std::size_t(r0) * sx + c0]) r0 = r, c0 = c;
      if (r0 < 1 || r0 > sy - 2 || c0 < 1 || c0 > sx - 2 || !(st[std::size_t(r0) * sx + c0] > 0)) continue;
      const double cv = double(st[std::size_t(r0) * sx + c0]);
      for (int k = 0; k < 4; ++k)
        acc[k] += 0.5 * (double(st[std::size_t(r0 + d[k][0]) * sx + c0 + d[k][1]]) +
                         double(st[std::size_t(r0 - d[k][0]) * sx + c0 - d[k][1]])) / cv;
      ++n;
    }
  }
  if (n == 0) throw invalid_argument("specx::preproc::psf_gradients: no usable PSF stamp");
  for (auto& x : acc) x /= n;
  return acc;
}

namespace detail {

/// The sharpness test of one pixel (see the file comment); rej[k] = 1 if rejected.
template <class T>
struct cosmic_test {
  int nx, ny;
  const T* pix;
  const T* ivar;
  const std::uint8_t* selection;
  double nsig, cfudge, c2fudge;
  double grad[4];
  std::uint8_t* rej;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    rej[k] = 0;
    const int y = static_cast<int>(k / std::size_t(nx)), x = static_cast<int>(k % std::size_t(nx));
    if (y < 1 || y > ny - 2 || x < 1 || x > nx - 2 || !selection[k]) return;
    const double civ = double(ivar[k]);
    if (!(civ > 0)) return;
    const double c = double(pix[k]), ce = 1.0 / sqrt(civ);
    const int d[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};
    int first = 0;
    bool second = false;
    for (int a = 0; a < 4; ++a) {
      double nv = 0, ne2 = 0;
      for (int s = -1; s <= 1; s += 2) {
        const std::size_t q = std::size_t(y + s * d[a][0]) * nx + std::size_t(x + s * d[a][1]);
        const double iv = double(ivar[q]);
        if (iv > 0) {
          nv += double(pix[q]);
          ne2 += 1.0 / iv;
        } else {
          nv += c;
          ne2 += ce * ce;
        }
      }
      nv *= 0.5;
      const double ne = 0.5 * sqrt(ne2);
      first += c > nv + nsig * ce;
      second = second || ((c - cfudge * ce) * c2fudge * grad[a] > nv + cfudge * ne);
    }
    rej[k] = (first >= 2 && second) ? 1 : 0;
  }
};

/// First-pass selection: pix √ivar > nsig.
template <class T>
struct cosmic_select {
  const T* pix;
  const T* ivar;
  double nsig;
  std::uint8_t* sel;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const double iv = double(ivar[k]);
    sel[k] = (iv > 0 && double(pix[k]) * sqrt(iv) > nsig) ? 1 : 0;
  }
};

/// Neighbour passes: sel = not rejected and 8-adjacent to a rejected pixel;
/// the rejected pixels' ivar is zeroed so they do not count as background.
template <class T>
struct cosmic_neighbours {
  int nx, ny;
  const std::uint8_t* rej;
  std::uint8_t* sel;
  T* tivar;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int y = static_cast<int>(k / std::size_t(nx)), x = static_cast<int>(k % std::size_t(nx));
    if (rej[k]) {
      tivar[k] = T(0);
      sel[k] = 0;
      return;
    }
    bool any = false;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int yy = y + dy, xx = x + dx;
        if ((dy || dx) && yy >= 0 && yy < ny && xx >= 0 && xx < nx && rej[std::size_t(yy) * nx + xx]) any = true;
      }
    sel[k] = any ? 1 : 0;
  }
};

/// rej |= add; counts the new pixels in flag.
struct cosmic_merge {
  std::uint8_t* rej;
  const std::uint8_t* add;
  std::uint8_t* flag;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    flag[k] = (add[k] && !rej[k]) ? 1 : 0;
    if (add[k]) rej[k] = 1;
  }
};

/// 3×3 dilation: out = rej or any 8-neighbour rejected.
struct cosmic_dilate {
  int nx, ny;
  const std::uint8_t* rej;
  std::uint8_t* out;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int y = static_cast<int>(k / std::size_t(nx)), x = static_cast<int>(k % std::size_t(nx));
    std::uint8_t v = 0;
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) {
        const int yy = y + dy, xx = x + dx;
        if (yy >= 0 && yy < ny && xx >= 0 && xx < nx && rej[std::size_t(yy) * nx + xx]) v = 1;
      }
    out[k] = v;
  }
};

struct count_u8 {
  const std::uint8_t* f;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t k) const { return f[k]; }
};
struct plus_size {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};

}  // namespace detail

/// Cosmic-ray mask of an image on backend `be`: pix, ivar [ny, nx] in B's memory
/// (ivar = 0 for pixels already masked). Returns a backend vector of 0/1 flags.
/// Blocking.
template <backend::Backend B, class T>
backend::vector_t<B, std::uint8_t> find_cosmics(B be, int nx, int ny, const backend::vector_t<B, T>& pix,
                                                const backend::vector_t<B, T>& ivar, const cosmic_options& o) {
  const std::size_t n = std::size_t(nx) * std::size_t(ny);
  auto rej = backend::make_vector<std::uint8_t>(be, n);
  if (!o.enabled || nx < 3 || ny < 3) return rej;
  auto sel = backend::make_vector<std::uint8_t>(be, n);
  auto add = backend::make_vector<std::uint8_t>(be, n);
  auto flag = backend::make_vector<std::uint8_t>(be, n);
  auto tivar = ivar;  // copy: neighbour passes zero the rejected pixels
  const T* p = backend::raw(be, pix);
  backend::for_each_index(be, n, detail::cosmic_select<T>{p, backend::raw(be, tivar), o.nsig, backend::raw(be, sel)});
  detail::cosmic_test<T> t{nx, ny, p, backend::raw(be, tivar), backend::raw(be, sel), o.nsig, o.cfudge, o.c2fudge,
                           {o.psf_gradients[0], o.psf_gradients[1], o.psf_gradients[2], o.psf_gradients[3]},
                           backend::raw(be, rej)};
  backend::for_each_index(be, n, t);
  for (int it = 0; it < o.niter; ++it) {
    backend::for_each_index(be, n, detail::cosmic_neighbours<T>{nx, ny, backend::raw(be, rej), backend::raw(be, sel),
                                                                backend::raw(be, tivar)});
    t.nsig = 3.0;
    t.cfudge = 0.0;
    t.rej = backend::raw(be, add);
    backend::for_each_index(be, n, t);
    backend::for_each_index(be, n, detail::cosmic_merge{backend::raw(be, rej), backend::raw(be, add), backend::raw(be, flag)});
    const std::size_t nnew = backend::transform_reduce(be, n, detail::count_u8{backend::raw(be, flag)}, std::size_t(0),
                                                       detail::plus_size{});
    if (nnew == 0) break;
  }
  if (o.dilate) {
    backend::for_each_index(be, n, detail::cosmic_dilate{nx, ny, backend::raw(be, rej), backend::raw(be, add)});
    return add;
  }
  return rej;
}

}  // namespace specx::preproc
