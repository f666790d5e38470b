// Standard-star fit: the best stellar model (archetype, radial velocity) for each
// standard star over all cameras, scaled to the star's photometry.
//
// For camera c, pixel i, the data d_i (electrons/Å) of a star are modelled as
//   d_i ≈ P_c(u_i) · [R (A · T_k(λ/(1+z)))]_i,
// T_k an archetype of the stellar grid, A the atmospheric transmission at the
// exposure's airmass, R the star's resolution matrix and P_c a Legendre polynomial
// per camera (u ∈ [−1, 1] across the camera) that absorbs the unknown throughput
// and the stellar continuum: the fit is continuum-normalised, so the model is
// selected by its absorption lines, as in desispec's match_templates (which divides
// by a median-filtered continuum instead; the polynomial is linear, so it is
// marginalised exactly). Pixels in sky-line windows and telluric bands are excluded.
// Each family's archetypes are combinations of nbasis basis vectors, so one rebin +
// convolution per basis vector serves every archetype: with Φ_(p,b) = P_p M_b the
// Gram matrix G = Φᵀ W Φ is built once and each archetype's χ² costs O(npoly²·nbasis²).
// See docs/fluxcalib.md.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../core/rebin.hpp"
#include "../error.hpp"
#include "../photometry.hpp"
#include "detail/kernels.hpp"
#include "types.hpp"

namespace specx::fluxcalib {

namespace detail {

/// Per-camera device buffers for one star.
template <class B>
struct camera_dev {
  std::vector<double> wave_h, edges_h, atm_h;
  backend::vector_t<B, double> wave, edges, atm, w;
  double w0 = 0, w1 = 0;
};

inline std::vector<std::pair<double, double>> fit_windows(const stdstar_options& o) {
  auto win = o.masks;
  if (o.mask_telluric && o.extinction.wave.size() > 2) {
    const auto t = telluric_windows(o.extinction, o.airmass);
    win.insert(win.end(), t.begin(), t.end());
  }
  return win;
}

}  // namespace detail

/// The observed-frame model flux (bin means on the pixels of `wave`, in the
/// photometric units of the star, e.g. 1e-17 erg/s/cm²/Å) of a fitted star:
/// scale · T_k(λ/(1+z)) / (1+z), top of the atmosphere. Host.
inline std::vector<double> model_on_grid(const stellar_grid& grid, const star_fit& fit, std::span<const double> wave) {
  const auto& fam = grid.families.at(fit.family);
  const auto t = fam.archetype(fit.archetype);
  auto e = pixel_edges(wave);
  const double s = 1.0 + fit.z;
  for (auto& v : e) v /= s;
  auto out = core::trapz_rebin(std::span<const double>(fam.wave), std::span<const double>(t), std::span<const double>(e));
  for (auto& v : out) v *= fit.scale / s;
  return out;
}

/// Fits every standard star (rows `stars` of the frames; the same rows in every
/// camera) against the stellar grid, allowing radial velocities within
/// ±options.vmax_kms, and scales the best model to `phot[s]` through
/// options.filters. Cameras may have different grids and numbers of diagonals.
/// Throws invalid_argument on inconsistent inputs; a star that cannot be fitted
/// gets a non-zero status. Blocking.
template <backend::Backend B, class T>
std::vector<star_fit> fit_standard_stars(B be, const std::vector<camera_frame<T>>& cams, std::span<const int> stars,
                                         std::span<const star_photometry> phot, const stellar_grid& grid,
                                         const stdstar_options& opt) {
  const char* fn = "specx::fluxcalib::fit_standard_stars: ";
  if (cams.empty()) throw invalid_argument(std::string(fn) + "no camera");
  if (grid.families.empty() || grid.size() == 0) throw invalid_argument(std::string(fn) + "empty stellar grid");
  if (phot.size() != stars.size()) throw invalid_argument(std::string(fn) + "one photometry entry per star is needed");
  const int npoly = opt.poly_degree + 1;
  if (npoly < 1 || npoly > detail::max_poly)
    throw invalid_argument(std::string(fn) + "poly_degree must be in [0, " + std::to_string(detail::max_poly - 1) + "]");
  for (const auto& c : cams) {
    if (c.wave.size() != std::size_t(c.data.nwave) || c.data.resolution.nwave != c.data.nwave ||
        c.data.resolution.nspec != c.data.nspec)
      throw invalid_argument(std::string(fn) + "camera " + c.band + ": wave, flux and resolution shapes differ");
    for (int s : stars)
      if (s < 0 || s >= c.data.nspec) throw invalid_argument(std::string(fn) + "star row out of range");
  }
  for (const auto& f : grid.families)
    if (f.basis.size() != f.nbasis * f.nwave() || f.coeff.size() != f.narch * f.nbasis || f.nbasis == 0 ||
        int(f.nbasis) * npoly > 4 * detail::max_poly * detail::max_poly)
      throw invalid_argument(std::string(fn) + "family " + f.subtype + ": inconsistent basis/coefficient shapes");

  const auto& f0 = grid.families.front();
  for (const auto& f : grid.families)
    if (f.wave != f0.wave || f.nbasis != f0.nbasis)
      throw invalid_argument(std::string(fn) + "every stellar family must share one rest grid and nbasis (as DESI's "
                             "STAR templates do); family " + f.subtype + " differs from " + f0.subtype);
  // ---- device copies of the grid (all families stacked) and camera constants ----
  const std::size_t nfam = grid.families.size(), nb = f0.nbasis, nxr = f0.nwave();
  std::vector<double> basis_all, coeff_all;
  std::vector<int> fam_of;
  std::vector<std::size_t> fam_off;
  for (std::size_t f = 0; f < nfam; ++f) {
    const auto& fm = grid.families[f];
    basis_all.insert(basis_all.end(), fm.basis.begin(), fm.basis.end());
    fam_off.push_back(coeff_all.size() / nb);
    coeff_all.insert(coeff_all.end(), fm.coeff.begin(), fm.coeff.end());
    fam_of.insert(fam_of.end(), fm.narch, int(f));
  }
  const std::size_t narch_all = fam_of.size();
  auto rest_wave = backend::to_backend(be, std::span<const double>(f0.wave));
  auto basis_d = backend::to_backend(be, std::span<const double>(basis_all));
  auto coeff_d = backend::to_backend(be, std::span<const double>(coeff_all));
  auto famof_d = backend::to_backend(be, std::span<const int>(fam_of));
  const auto windows_h = [&] {
    std::vector<double> v;
    for (const auto& w : detail::fit_windows(opt)) {
      v.push_back(w.first);
      v.push_back(w.second);
    }
    return v;
  }();
  auto windows = backend::to_backend(be, std::span<const double>(windows_h));
  const int nwin = int(windows_h.size() / 2);
  std::vector<detail::camera_dev<B>> cd(cams.size());
  std::size_t maxnw = 0;
  for (std::size_t c = 0; c < cams.size(); ++c) {
    auto& d = cd[c];
    d.wave_h = cams[c].wave;
    d.edges_h = pixel_edges(d.wave_h);
    d.atm_h = opt.extinction.wave.size() >= 2 ? atmospheric_transmission(opt.extinction, opt.airmass, d.wave_h)
                                              : std::vector<double>(d.wave_h.size(), 1.0);
    d.wave = backend::to_backend(be, std::span<const double>(d.wave_h));
    d.edges = backend::to_backend(be, std::span<const double>(d.edges_h));
    d.atm = backend::to_backend(be, std::span<const double>(d.atm_h));
    d.w = backend::make_vector<double>(be, d.wave_h.size());
    d.w0 = d.wave_h.front();
    d.w1 = d.wave_h.back();
    maxnw = std::max(maxnw, d.wave_h.size());
  }
  const std::size_t maxnb = nfam * nb;
  const double c_kms = photometry::constants::c_km_per_s;
  const int nz = 2 * int(std::ceil(opt.vmax_kms / opt.dv_kms)) + 1;
  std::vector<double> zgrid(static_cast<std::size_t>(nz)), scales_h(static_cast<std::size_t>(nz));
  for (int k = 0; k < nz; ++k) {
    zgrid[std::size_t(k)] = (double(k - nz / 2) * opt.dv_kms) / c_kms;
    scales_h[std::size_t(k)] = 1.0 / (1.0 + zgrid[std::size_t(k)]);
  }
  auto scales = backend::to_backend(be, std::span<const double>(scales_h));
  auto M = backend::make_vector<double>(be, std::max<std::size_t>(maxnb, std::size_t(nz)) * maxnw);
  auto M2 = backend::make_vector<double>(be, std::max<std::size_t>(maxnb, std::size_t(nz)) * maxnw);
  const std::size_t na = nb * std::size_t(npoly), mg = na + 1;
  auto G = backend::make_vector<double>(be, nfam * cams.size() * mg * mg);
  auto X = backend::make_vector<double>(be, nfam * mg * maxnw);
  auto chi2 = backend::make_vector<double>(be, std::max<std::size_t>(narch_all, std::size_t(nz)));
  auto scale1 = backend::make_vector<double>(be, 1);
  auto tdev = backend::make_vector<double>(be, nxr);

  // Rebin `ny` rest-frame rows y (device) at the scales → M2 (rebinned), then
  // M = R (A · M2) for camera c with the star's matrix.
  auto convolve = [&](std::size_t c, int row, const double* x, std::size_t nx, const double* y, std::size_t ny,
                      const double* sc, std::size_t nsc) {
    const auto& cam = cams[c];
    const std::size_t nw = cd[c].wave_h.size();
    core::trapz_rebin_batch(be, x, nx, y, ny, backend::raw(be, cd[c].edges), nw + 1, sc, nsc, backend::raw(be, M2));
    backend::for_each_index(be, nsc * ny * nw, detail::scale_rows{backend::raw(be, M2), backend::raw(be, cd[c].atm), int(nw)});
    const auto& rv = cam.data.resolution;
    resolution::banded_view<const T> one{rv.data + std::size_t(row) * rv.ndiag * rv.nwave, 1, rv.ndiag, rv.nwave};
    backend::for_each_index(be, nsc * ny * nw, detail::apply_shared<T>{one, backend::raw(be, M2), backend::raw(be, M)});
  };

  // χ² of every archetype of every family at redshift z; returns per-family vectors.
  // All families' basis vectors are rebinned and convolved together, one Gram
  // matrix per (family, camera), then one thread per archetype.
  auto grid_chi2 = [&](int row, double z) {
    std::vector<double> sv{1.0 / (1.0 + z)};
    scale1 = backend::to_backend(be, std::span<const double>(sv));
    const int m = int(mg);
    for (std::size_t c = 0; c < cams.size(); ++c) {
      const int nw = int(cd[c].wave_h.size());
      convolve(c, row, backend::raw(be, rest_wave), nxr, backend::raw(be, basis_d), nfam * nb, backend::raw(be, scale1), 1);
      const T* d = cams[c].data.flux + std::size_t(row) * std::size_t(nw);
      backend::for_each_index(be, nfam * std::size_t(nw),
                              detail::design_rows<T>{backend::raw(be, M), backend::raw(be, cd[c].w), d,
                                                     backend::raw(be, cd[c].wave), nw, int(nb), npoly, cd[c].w0, cd[c].w1,
                                                     backend::raw(be, X)});
      backend::for_each_index(be, nfam * mg * mg,
                              detail::gram_sym{backend::raw(be, X), nw, m, backend::raw(be, G) + c * mg * mg,
                                               cams.size() * mg * mg});
    }
    backend::for_each_index(be, narch_all,
                            detail::archetype_chi2{backend::raw(be, coeff_d), backend::raw(be, famof_d), backend::raw(be, G),
                                                   int(nfam), int(cams.size()), int(nb), npoly, backend::raw(be, chi2)});
    const auto all = backend::to_host(be, chi2);
    std::vector<std::vector<double>> out(nfam);
    for (std::size_t f = 0; f < nfam; ++f)
      out[f].assign(all.begin() + std::ptrdiff_t(fam_off[f]), all.begin() + std::ptrdiff_t(fam_off[f] + grid.families[f].narch));
    return out;
  };

  // χ²(z) of one rest-frame spectrum over the velocity grid, summed over cameras.
  auto zscan = [&](int row, const std::vector<double>& t, const std::vector<double>& rest_wave) {
    tdev = backend::to_backend(be, std::span<const double>(t));
    auto xw = backend::to_backend(be, std::span<const double>(rest_wave));
    std::vector<double> total(std::size_t(nz), 0.0);
    for (std::size_t c = 0; c < cams.size(); ++c) {
      const int nw = int(cd[c].wave_h.size());
      convolve(c, row, backend::raw(be, xw), t.size(), backend::raw(be, tdev), 1, backend::raw(be, scales), std::size_t(nz));
      const T* d = cams[c].data.flux + std::size_t(row) * std::size_t(nw);
      backend::for_each_index(be, std::size_t(nz),
                              detail::model_chi2<T>{backend::raw(be, M), backend::raw(be, cd[c].w), d,
                                                    backend::raw(be, cd[c].wave), nw, npoly, cd[c].w0, cd[c].w1,
                                                    backend::raw(be, chi2)});
      const auto ch = backend::to_host(be, chi2);
      for (int k = 0; k < nz; ++k) total[std::size_t(k)] += ch[std::size_t(k)];
    }
    return total;
  };

  std::vector<star_fit> fits(stars.size());
  for (std::size_t si = 0; si < stars.size(); ++si) {
    const int row = stars[si];
    auto& fit = fits[si];
    std::size_t ngood = 0;
    for (std::size_t c = 0; c < cams.size(); ++c) {
      const auto& v = cams[c].data;
      const std::size_t off = std::size_t(row) * std::size_t(v.nwave);
      backend::for_each_index(be, std::size_t(v.nwave),
                              detail::fit_weights<T>{v.flux + off, v.ivar + off, v.mask ? v.mask + off : nullptr,
                                                     backend::raw(be, cd[c].wave), backend::raw(be, windows), nwin,
                                                     backend::raw(be, cd[c].w)});
      const auto wh = backend::to_host(be, cd[c].w);
      for (double x : wh) ngood += x > 0 ? 1 : 0;
    }
    if (ngood < std::size_t(npoly) * cams.size() + 10) {
      fit.status = 1;
      continue;
    }
    double z = 0;
    std::vector<std::vector<double>> ch;
    for (int it = 0; it < std::max(1, opt.iterations); ++it) {
      ch = grid_chi2(row, z);
      double best = std::numeric_limits<double>::infinity();
      for (std::size_t f = 0; f < ch.size(); ++f)
        for (std::size_t a = 0; a < ch[f].size(); ++a)
          if (ch[f][a] < best) {
            best = ch[f][a];
            fit.family = f;
            fit.archetype = a;
          }
      const auto& fam = grid.families[fit.family];
      const auto cz = zscan(row, fam.archetype(fit.archetype), fam.wave);
      std::size_t k = std::size_t(std::min_element(cz.begin(), cz.end()) - cz.begin());
      z = zgrid[k];
      if (k > 0 && k + 1 < cz.size()) {  // parabola through the minimum and its neighbours
        const double a = cz[k - 1], b = cz[k], c2 = cz[k + 1];
        const double den = a - 2 * b + c2;
        if (den > 0) z += 0.5 * (a - c2) / den * (zgrid[1] - zgrid[0]);
      }
      if (it == 0 && opt.clip_nsig > 0) {
        // Clip outliers (cosmics, sky residuals) against the current best model.
        const auto& fb = grid.families[fit.family];
        const auto t = fb.archetype(fit.archetype);
        auto xw = backend::to_backend(be, std::span<const double>(fb.wave));
        auto tv = backend::to_backend(be, std::span<const double>(t));
        std::vector<double> sv{1.0 / (1.0 + z)};
        scale1 = backend::to_backend(be, std::span<const double>(sv));
        for (std::size_t c = 0; c < cams.size(); ++c) {
          const std::size_t nw = cd[c].wave_h.size();
          convolve(c, row, backend::raw(be, xw), t.size(), backend::raw(be, tv), 1, backend::raw(be, scale1), 1);
          auto m = backend::to_host(be, M);
          auto w = backend::to_host(be, cd[c].w);
          std::vector<T> dsub(nw);
          {
            // the star's row of the frame (device) → host
            backend::vector_t<B, double> tmp = backend::make_vector<double>(be, nw);
            backend::for_each_index(be, nw, detail::copy_to_double<T>{cams[c].data.flux + std::size_t(row) * nw,
                                                                      backend::raw(be, tmp)});
            const auto th = backend::to_host(be, tmp);
            for (std::size_t i = 0; i < nw; ++i) dsub[i] = T(th[i]);
          }
          double N[detail::max_poly * detail::max_poly] = {}, y[detail::max_poly] = {}, P[detail::max_poly], coef[detail::max_poly];
          double d2 = 0;
          for (std::size_t i = 0; i < nw; ++i) {
            if (!(w[i] > 0)) continue;
            detail::legendre_row(npoly, 2.0 * (cd[c].wave_h[i] - cd[c].w0) / (cd[c].w1 - cd[c].w0) - 1.0, P);
            d2 += w[i] * double(dsub[i]) * double(dsub[i]);
            for (int p = 0; p < npoly; ++p) {
              y[p] += w[i] * P[p] * m[i] * double(dsub[i]);
              for (int q = 0; q < npoly; ++q) N[p * npoly + q] += w[i] * P[p] * P[q] * m[i] * m[i];
            }
          }
          for (int p = 0; p < npoly; ++p) coef[p] = 0;
          detail::chi2_after_fit(N, y, npoly, d2, coef);
          bool changed = false;
          for (std::size_t i = 0; i < nw; ++i) {
            if (!(w[i] > 0)) continue;
            detail::legendre_row(npoly, 2.0 * (cd[c].wave_h[i] - cd[c].w0) / (cd[c].w1 - cd[c].w0) - 1.0, P);
            double poly = 0;
            for (int p = 0; p < npoly; ++p) poly += coef[p] * P[p];
            const double res = (double(dsub[i]) - poly * m[i]) * std::sqrt(w[i]);
            if (std::abs(res) > opt.clip_nsig) {
              w[i] = 0;
              changed = true;
            }
          }
          if (changed) cd[c].w = backend::to_backend(be, std::span<const double>(w));
        }
      }
    }
    // Final χ² at the refined velocity, and the gap to the best other family.
    ch = grid_chi2(row, z);
    double best = std::numeric_limits<double>::infinity(), other = best;
    for (std::size_t f = 0; f < ch.size(); ++f)
      for (std::size_t a = 0; a < ch[f].size(); ++a)
        if (ch[f][a] < best) {
          best = ch[f][a];
          fit.family = f;
          fit.archetype = a;
        }
    for (std::size_t f = 0; f < ch.size(); ++f)
      if (f != fit.family)
        for (double v : ch[f]) other = std::min(other, v);
    fit.z = z;
    fit.chi2 = best;
    fit.delta_chi2 = std::isfinite(other) ? other - best : 0.0;
    std::size_t npix = 0;
    for (auto& c : cd) {
      const auto wh = backend::to_host(be, c.w);
      for (double x : wh) npix += x > 0 ? 1 : 0;
    }
    fit.ndof = npix > std::size_t(npoly) * cams.size() ? npix - std::size_t(npoly) * cams.size() : 0;
    fit.subtype = grid.families[fit.family].subtype;

    // ---- scale to the photometry ----------------------------------------------
    const auto& fam = grid.families[fit.family];
    const auto t = fam.archetype(fit.archetype);
    std::vector<double> ow(t.size()), of(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) {
      ow[i] = fam.wave[i] * (1.0 + z);
      of[i] = t[i] / (1.0 + z);
    }
    double sw = 0, sl = 0;
    fit.model_mag.assign(opt.filters.size(), std::numeric_limits<double>::quiet_NaN());
    bool any_flux = false;
    for (std::size_t j = 0; j < opt.filters.size(); ++j) {
      double mm;
      try {
        mm = photometry::ab_magnitude(ow, of, opt.filters[j]);
      } catch (const invalid_argument&) {
        continue;
      }
      any_flux = true;
      fit.model_mag[j] = mm;
      if (j >= phot[si].mag.size() || !std::isfinite(phot[si].mag[j])) continue;
      const double e = j < phot[si].mag_err.size() && phot[si].mag_err[j] > 0 ? phot[si].mag_err[j] : 1.0;
      sl += (-0.4 * (phot[si].mag[j] - mm)) / (e * e);
      sw += 1.0 / (e * e);
    }
    if (!any_flux) {
      fit.status = 3;
      continue;
    }
    if (!(sw > 0)) {
      fit.status = 2;
      continue;
    }
    fit.scale = std::pow(10.0, sl / sw);
    for (auto& m : fit.model_mag) m -= 2.5 * std::log10(fit.scale);
  }
  return fits;
}

}  // namespace specx::fluxcalib
