// Raw 4-amplifier frame → preprocessed image (docs/calibration.md#preprocessing).
//
// Per amplifier a (sections from the raw header, amplifiers.hpp):
//   overscan level o_a and read noise σ_a from the BIASSEC pixels (after the bias
//   frame, if any): median and 1.4826·MAD, then 3 passes of a 5σ-clipped mean and
//   standard deviation, the deviation corrected for the clipping (desispec's
//   calc_overscan); optionally o_a per row (clipped mean of the row's overscan
//   pixels around o_a);
//   IMAGE = (raw − bias − o_a) · g_a − dark · exptime, divided by the pixel flat;
//   VAR   = (σ_a² + max(IMAGE·pixflat, 0)) / pixflat²   (read noise + Poisson from
//           the data, as desispec does; σ_a is measured on integer ADU, so it
//           includes the quantisation g²/12 that real data pixels also carry);
//   MASK  = input bad pixels (BAD) | SATURATED (raw ≥ SATULEV) | PIXFLATZERO |
//           PIXFLATLOW (< 0.1) | DEAD (+BAD) on a dead amplifier | BADREADNOISE when
//           σ_a > max_readnoise | COSMIC (cosmics.hpp);
//   IVAR  = 1/VAR, 0 where MASK ≠ 0.
// The overscan statistics are host work (O(overscan pixels)); every per-pixel
// step and the cosmic-ray passes run on the backend.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../error.hpp"
#include "../log.hpp"
#include "../maskbits.hpp"
#include "amplifiers.hpp"
#include "cosmics.hpp"

namespace specx::preproc {

/// Overscan level and read noise (both in ADU) of a set of overscan pixels.
struct overscan_stats {
  double level = 0;
  double rdnoise = 0;
  bool clipped = true;  ///< false: the clipping failed (too few pixels kept), median/MAD returned
};

/// desispec's calc_overscan: median and normalised MAD, then niter passes of the
/// mean and standard deviation of the pixels within nsigma·σ of the level; σ is
/// divided by the standard deviation of a unit normal truncated at ±nsigma.
inline overscan_stats calc_overscan(std::span<const double> pix, double nsigma = 5.0, int niter = 3) {
  if (pix.empty()) throw invalid_argument("specx::preproc::calc_overscan: no overscan pixels");
  std::vector<double> v(pix.begin(), pix.end());
  auto median = [](std::vector<double>& x) {
    const std::size_t h = x.size() / 2;
    std::nth_element(x.begin(), x.begin() + h, x.end());
    double m = x[h];
    if (x.size() % 2 == 0) m = 0.5 * (m + *std::max_element(x.begin(), x.begin() + h));
    return m;
  };
  overscan_stats s;
  s.level = median(v);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::abs(pix[i] - s.level);
  s.rdnoise = 1.4826 * median(v);
  for (int it = 0; it < niter; ++it) {
    double sum = 0, sum2 = 0;
    std::size_t n = 0;
    for (double p : pix)
      if (std::abs(p - s.level) < nsigma * s.rdnoise) {
        sum += p;
        sum2 += p * p;
        ++n;
      }
    if (n < 5) {
      s.clipped = false;
      return s;
    }
    s.level = sum / double(n);
    s.rdnoise = std::sqrt(std::max(0.0, sum2 / double(n) - s.level * s.level));
  }
  // σ of N(0,1) truncated at ±k: √(1 − 2k φ(k) / (2Φ(k) − 1))
  const double k = nsigma, phi = std::exp(-0.5 * k * k) / std::sqrt(2 * M_PI), cover = std::erf(k / std::sqrt(2.0));
  s.rdnoise /= std::sqrt(1.0 - 2.0 * k * phi / cover);
  return s;
}

/// Calibration frames and options of preprocess().
struct options {
  bool overscan_per_row = false;     ///< row-by-row overscan level
  double max_readnoise = 10.0;       ///< e⁻; above: BADREADNOISE on the amplifier
  double exptime = 0;                ///< s, scales the dark frame
  cosmic_options cosmics;
  /// Optional frames (host, row-major); empty = not used.
  xt::xtensor<float, 2> bias;        ///< raw-shaped, ADU, subtracted before the overscan
  xt::xtensor<float, 2> dark;        ///< image-shaped, electrons per second
  xt::xtensor<float, 2> pixflat;     ///< image-shaped, image is divided by it
  xt::xtensor<std::int32_t, 2> mask; ///< image-shaped ccdmask bits of known bad pixels
};

/// Per-amplifier result.
struct amp_result {
  std::string name;
  double overscan_adu = 0;   ///< mean overscan level
  double readnoise = 0;      ///< e⁻, measured from the overscan
  double gain = 0;
  bool dead = false;         ///< flat overscan and data: no signal chain
  bool bad_readnoise = false;
};

/// A preprocessed image: IMAGE (electrons), IVAR, MASK, READNOISE [ny, nx].
struct image {
  xt::xtensor<float, 2> pix, ivar, readnoise;
  xt::xtensor<std::int32_t, 2> mask;
  std::vector<amp_result> amps;
  std::size_t ncosmic_pixels = 0;
};

namespace detail {

struct amp_device {
  section ccd, data;
  double gain, rdnoise, saturation;
  bool dead, badrn;
};

template <class T>
struct calibrate_pixel {
  int nx, raw_nx, namp;
  amp_device amp[4];
  const std::uint16_t* raw;
  const float* bias;          ///< raw-shaped or null
  const double* row_level;    ///< [namp, raw_ny] overscan level per raw row
  int raw_ny;
  const float* dark;          ///< or null
  double exptime;
  const float* pixflat;       ///< or null
  const std::int32_t* inmask; ///< or null
  T* pix;
  T* ivar;
  std::int32_t* mask;
  float* rn;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int y = static_cast<int>(k / std::size_t(nx)), x = static_cast<int>(k % std::size_t(nx));
    int a = -1;
    for (int q = 0; q < namp; ++q)
      if (amp[q].ccd.contains(x, y)) a = q;
    if (a < 0) {  // not covered by any amplifier
      pix[k] = T(0);
      ivar[k] = T(0);
      mask[k] = ccdmask::BAD;
      rn[k] = 0;
      return;
    }
    const amp_device& A = amp[a];
    const int rx = A.data.x0 + (x - A.ccd.x0), ry = A.data.y0 + (y - A.ccd.y0);
    const std::size_t rk = std::size_t(ry) * raw_nx + rx;
    const double r = double(raw[rk]);
    std::int32_t m = inmask ? inmask[k] : 0;
    if (r >= A.saturation) m |= ccdmask::SATURATED;
    double adu = r - (bias ? double(bias[rk]) : 0.0) - row_level[std::size_t(a) * raw_ny + ry];
    double e = adu * A.gain - (dark ? double(dark[k]) * exptime : 0.0);
    double var = A.rdnoise * A.rdnoise + (e > 0 ? e : 0.0);
    if (pixflat) {
      const double pf = double(pixflat[k]);
      if (!(pf != 0)) {
        m |= ccdmask::PIXFLATZERO;
      } else {
        if (pf < 0.1) m |= ccdmask::PIXFLATLOW;
        e /= pf;
        var /= pf * pf;
      }
    }
    if (A.dead) m |= ccdmask::DEAD | ccdmask::BAD;
    if (A.badrn) m |= ccdmask::BADREADNOISE;
    pix[k] = T(e);
    ivar[k] = (m == 0 && var > 0) ? T(1.0 / var) : T(0);
    mask[k] = m;
    rn[k] = float(A.rdnoise);
  }
};

template <class T>
struct flag_cosmics {
  const std::uint8_t* cr;
  T* ivar;
  std::int32_t* mask;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    if (cr[k]) {
      mask[k] |= ccdmask::COSMIC;
      ivar[k] = T(0);
    }
  }
};

}  // namespace detail

/// Preprocesses a raw frame [raw_ny, raw_nx] (ADU, host) with the amplifier
/// geometry `amps` on backend `be`. The image size is the extent of the CCD
/// sections. Throws invalid_argument when a section falls outside the raw frame or
/// a calibration frame has the wrong shape. Blocking.
template <backend::Backend B>
image preprocess(B be, const xt::xtensor<std::uint16_t, 2>& raw, const amplifiers& amps, const options& opt = {}) {
  using T = float;
  const char* fn = "specx::preproc::preprocess";
  auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
  if (amps.empty() || amps.size() > 4) fail("need 1 to 4 amplifiers");
  const int rny = int(raw.shape()[0]), rnx = int(raw.shape()[1]);
  int nx = 0, ny = 0;
  auto inside = [&](const section& s) { return s.x0 >= 0 && s.y0 >= 0 && s.x1 <= rnx && s.y1 <= rny && !s.empty(); };
  for (const auto& a : amps) {
    if (!inside(a.datasec)) fail("DATASEC" + a.name + " is outside the raw frame");
    if (!inside(a.biassec)) fail("BIASSEC" + a.name + " is outside the raw frame (missing overscan region)");
    nx = std::max(nx, a.ccdsec.x1);
    ny = std::max(ny, a.ccdsec.y1);
  }
  const std::size_t npix = std::size_t(nx) * std::size_t(ny), nraw = raw.size();
  if (opt.bias.size() && (opt.bias.shape()[0] != std::size_t(rny) || opt.bias.shape()[1] != std::size_t(rnx)))
    fail("the bias frame must have the raw frame's shape");
  for (const auto* im : {&opt.dark, &opt.pixflat})
    if (im->size() && (im->shape()[0] != std::size_t(ny) || im->shape()[1] != std::size_t(nx)))
      fail("dark and pixel-flat frames must have the image's shape");
  if (opt.mask.size() && (opt.mask.shape()[0] != std::size_t(ny) || opt.mask.shape()[1] != std::size_t(nx)))
    fail("the bad-pixel mask must have the image's shape");

  // ---- overscan statistics (host) --------------------------------------------------
  image out;
  detail::calibrate_pixel<T> f{};
  f.nx = nx;
  f.raw_nx = rnx;
  f.raw_ny = rny;
  f.namp = int(amps.size());
  std::vector<double> row_level(amps.size() * std::size_t(rny), 0.0);
  auto rawv = [&](int y, int x) {
    const double b = opt.bias.size() ? double(opt.bias(y, x)) : 0.0;
    return double(raw(y, x)) - b;
  };
  for (std::size_t q = 0; q < amps.size(); ++q) {
    const auto& a = amps[q];
    std::vector<double> os;
    os.reserve(std::size_t(a.biassec.nx()) * a.biassec.ny());
    for (int y = a.biassec.y0; y < a.biassec.y1; ++y)
      for (int x = a.biassec.x0; x < a.biassec.x1; ++x) os.push_back(rawv(y, x));
    const auto st = calc_overscan(os);
    // data-section spread: a dead amplifier reads a constant (or only noise at the
    // bias level with a constant overscan)
    double dmin = 1e300, dmax = -1e300;
    for (int y = a.datasec.y0; y < a.datasec.y1; y += std::max(1, a.datasec.ny() / 64))
      for (int x = a.datasec.x0; x < a.datasec.x1; ++x) {
        dmin = std::min(dmin, double(raw(y, x)));
        dmax = std::max(dmax, double(raw(y, x)));
      }
    amp_result ar;
    ar.name = a.name;
    ar.gain = a.gain;
    ar.overscan_adu = st.level;
    ar.readnoise = st.rdnoise * a.gain;
    ar.dead = !(st.rdnoise > 0) || !(dmax > dmin);
    ar.bad_readnoise = !ar.dead && ar.readnoise > opt.max_readnoise;
    if (ar.dead) log(log_level::warning, std::string(fn) + ": amplifier " + a.name + " is dead (constant overscan or data); masked DEAD");
    if (ar.bad_readnoise)
      log(log_level::warning, std::string(fn) + ": amplifier " + a.name + " read noise " + std::to_string(ar.readnoise) +
                                  " e > " + std::to_string(opt.max_readnoise) + "; masked BADREADNOISE");
    for (int y = 0; y < rny; ++y) row_level[q * rny + y] = st.level;
    if (opt.overscan_per_row && st.rdnoise > 0)
      for (int y = a.datasec.y0; y < a.datasec.y1; ++y) {
        const int oy = std::clamp(y, a.biassec.y0, a.biassec.y1 - 1);
        double s = 0;
        int n = 0;
        for (int x = a.biassec.x0; x < a.biassec.x1; ++x) {
          const double v = rawv(oy, x);
          if (std::abs(v - st.level) < 5 * st.rdnoise) {
            s += v;
            ++n;
          }
        }
        if (n > 0) row_level[q * rny + y] = s / n;
      }
    f.amp[q] = {a.ccdsec, a.datasec, a.gain, ar.readnoise, a.saturation_adu, ar.dead, ar.bad_readnoise};
    out.amps.push_back(ar);
  }

  // ---- per-pixel calibration (backend) ------------------------------------------------
  auto d_raw = backend::to_backend(be, std::span<const std::uint16_t>(raw.data(), nraw));
  auto d_bias = backend::to_backend(be, std::span<const float>(opt.bias.data(), opt.bias.size()));
  auto d_dark = backend::to_backend(be, std::span<const float>(opt.dark.data(), opt.dark.size()));
  auto d_pf = backend::to_backend(be, std::span<const float>(opt.pixflat.data(), opt.pixflat.size()));
  auto d_inm = backend::to_backend(be, std::span<const std::int32_t>(opt.mask.data(), opt.mask.size()));
  auto d_rows = backend::to_backend(be, std::span<const double>(row_level));
  auto d_pix = backend::make_vector<T>(be, npix);
  auto d_ivar = backend::make_vector<T>(be, npix);
  auto d_mask = backend::make_vector<std::int32_t>(be, npix);
  auto d_rn = backend::make_vector<float>(be, npix);
  f.raw = backend::raw(be, d_raw);
  f.bias = opt.bias.size() ? backend::raw(be, d_bias) : nullptr;
  f.row_level = backend::raw(be, d_rows);
  f.dark = opt.dark.size() ? backend::raw(be, d_dark) : nullptr;
  f.exptime = opt.exptime;
  f.pixflat = opt.pixflat.size() ? backend::raw(be, d_pf) : nullptr;
  f.inmask = opt.mask.size() ? backend::raw(be, d_inm) : nullptr;
  f.pix = backend::raw(be, d_pix);
  f.ivar = backend::raw(be, d_ivar);
  f.mask = backend::raw(be, d_mask);
  f.rn = backend::raw(be, d_rn);
  backend::for_each_index(be, npix, f);

  // ---- cosmic rays (backend) -------------------------------------------------------------
  if (opt.cosmics.enabled) {
    const auto cr = find_cosmics<B, T>(be, nx, ny, d_pix, d_ivar, opt.cosmics);
    backend::for_each_index(be, npix,
                            detail::flag_cosmics<T>{backend::raw(be, cr), backend::raw(be, d_ivar), backend::raw(be, d_mask)});
    out.ncosmic_pixels = backend::transform_reduce(be, npix, detail::count_u8{backend::raw(be, cr)}, std::size_t(0),
                                                   detail::plus_size{});
  }

  auto fill = [&](auto& dst, const auto& v) {
    using V = typename std::decay_t<decltype(dst)>::value_type;
    dst = xt::xtensor<V, 2>::from_shape({std::size_t(ny), std::size_t(nx)});
    const auto h = backend::to_host(be, v);
    std::copy(h.begin(), h.end(), dst.begin());
  };
  fill(out.pix, d_pix);
  fill(out.ivar, d_ivar);
  fill(out.mask, d_mask);
  fill(out.readnoise, d_rn);
  return out;
}

}  // namespace specx::preproc
