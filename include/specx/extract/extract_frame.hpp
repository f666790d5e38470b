// Spectro-perfectionism extraction of a CCD frame (Bolton & Schlegel 2010), DESI's
// recipe (specter ex2d / gpu_specter), batched on a backend. See docs/extraction.md.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../backend/banded_linalg.hpp"
#include "../error.hpp"
#include "../psf/concept.hpp"
#include "detail/kernels.hpp"
#include "options.hpp"
#include "plan.hpp"

namespace specx::extract {

/// A preprocessed CCD image (host memory, row-major [ny][nx], FITS order): pixel
/// [r][c] is CCD pixel (x0 + c, y0 + r), so a cutout can be passed with its origin.
/// Pixels outside it, with mask ≠ 0, ivar ≤ 0 or non-finite values have weight 0.
struct image_view {
  const float* image = nullptr;
  const float* ivar = nullptr;
  const std::int32_t* mask = nullptr;  ///< optional
  int nx = 0, ny = 0;
  int x0 = 0, y0 = 0;
};

/// Convenience: a view of xtensor images (mask may be null).
inline image_view view_of(const xt::xtensor<float, 2>& image, const xt::xtensor<float, 2>& ivar,
                          const xt::xtensor<std::int32_t, 2>* mask = nullptr, int x0 = 0, int y0 = 0) {
  if (image.shape() != ivar.shape() || (mask && mask->shape() != image.shape()))
    throw invalid_argument("specx::extract::view_of: IMAGE, IVAR and MASK shapes differ");
  image_view v;
  v.image = image.data();
  v.ivar = ivar.data();
  v.mask = mask ? mask->data() : nullptr;
  v.ny = static_cast<int>(image.shape()[0]);
  v.nx = static_cast<int>(image.shape()[1]);
  v.x0 = x0;
  v.y0 = y0;
  return v;
}

/// Wall-clock seconds of the stages of one extraction (blocking backend calls).
struct extraction_timings {
  double plan = 0, stamps = 0, bandwidth = 0, assemble = 0, model = 0, covariance = 0, decorrelate = 0, finalize = 0, total = 0;
};

/// A frame: fluxes in electrons/Å on the output grid (already convolved with the
/// resolution), their inverse variance, DESI specmask bits, the per-fiber banded
/// resolution [nspec, 2·ndiag+1, nwave] (DESI / scipy dia storage: RESOLUTION[s, d, j]
/// = R_s[j + d − ndiag, j]), χ²/pixel, the masked PSF fraction and the model image.
struct extraction_result {
  int specmin = 0, nspec = 0, ndiag = 0;
  xt::xtensor<double, 1> wavelength;
  xt::xtensor<double, 2> flux, ivar, chi2pix, pixmask_fraction;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<double, 3> resolution;
  xt::xtensor<float, 2> model;  ///< same shape and origin as the input image; empty if not requested
  int npatch = 0, nfailed = 0;  ///< patches solved / whose factorisation failed (bins flagged NODATA)
  /// Floating-point operations of the linear algebra (a model count: band Cholesky
  /// n·b², solve 4·n·b, covariance columns 2·(n − r)·b and products, eigen-
  /// decomposition ≈ 9·nw³ and reconstruction 2·nw³ per kept fiber), for GFLOP/s.
  double flops = 0;
  extraction_timings timings;
};

namespace detail {
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// specter's resolution half-width: 9σ of the spot along the dispersion in output
/// bins (σ from the stamp's y profile times dλ/dy), at most the stamp half sizes.
template <psf::Psf P>
int default_ndiag(const P& psf, double dw) {
  const auto v = psf.host_view();
  const int nx = v.stamp_nx(), ny = v.stamp_ny();
  int nd = 0;
  std::vector<typename P::value_type> s(static_cast<std::size_t>(nx * ny));
  for (int f : {0, psf.nfiber() / 2, psf.nfiber() - 1})
    for (double t : {0.1, 0.5, 0.9}) {
      const double w = psf.wavemin(f) + t * (psf.wavemax(f) - psf.wavemin(f));
      v.stamp(f, typename P::value_type(w), s.data());
      double m0 = 0, m1 = 0, m2 = 0;
      for (int r = 0; r < ny; ++r)
        for (int c = 0; c < nx; ++c) {
          m0 += s[static_cast<std::size_t>(r * nx + c)];
          m1 += r * s[static_cast<std::size_t>(r * nx + c)];
          m2 += r * r * s[static_cast<std::size_t>(r * nx + c)];
        }
      const double sig = std::sqrt(std::max(m2 / m0 - (m1 / m0) * (m1 / m0), 0.0));
      const double dydw = (psf.xy(f, w + 0.5).y - psf.xy(f, w - 0.5).y);
      nd = std::max(nd, static_cast<int>(std::lround(9.0 * sig / std::abs(dydw) / dw)));
    }
  return std::min({nd, ny / 2, nx / 2});
}
}  // namespace detail

/// Extracts fibers [specmin, specmin + nspec) (PSF fiber indices) on the linear
/// wavelength grid `wave` (Å, at least 2 bins, constant step) from `img`.
/// `inverse` is the approximate y → λ inverse used for patch geometry (see
/// trace_inverse); it must cover fibers [specmin − 1, specmin + nspec].
/// Throws invalid_argument for inconsistent inputs (grid not linear, fibers outside
/// the PSF, a grid that does not intersect the PSF's wavelength domain, traces whose
/// y does not increase with λ). Numerical failures do not throw: the bins are
/// flagged (MASK) with ivar 0. Blocking.
template <backend::Backend B, psf::Psf P>
extraction_result extract_frame(B be, const P& psf, const image_view& img, int specmin, int nspec,
                                const std::vector<double>& wave, const trace_inverse& inverse,
                                const options& opt = {}) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  const char* fn = "specx::extract::extract_frame";
  auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
  if (wave.size() < 2) fail("need at least 2 output wavelengths");
  const int nwave = static_cast<int>(wave.size());
  const double dw = wave[1] - wave[0];
  if (!(dw > 0)) fail("wavelengths must increase");
  for (int i = 1; i < nwave; ++i)
    if (std::abs((wave[static_cast<std::size_t>(i)] - wave[static_cast<std::size_t>(i - 1)]) - dw) > 1e-6 * dw)
      fail("only linear wavelength grids are supported (as specter's ex2d)");
  if (nspec <= 0 || specmin < 0 || specmin + nspec > psf.nfiber())
    fail("fibers [" + std::to_string(specmin) + ", " + std::to_string(specmin + nspec) + ") outside the PSF's 0.." +
         std::to_string(psf.nfiber() - 1));
  if (!img.image || !img.ivar || img.nx <= 0 || img.ny <= 0) fail("empty image");
  if (opt.bundle_size <= 0 || opt.n_subbundles <= 0 || opt.wave_chunk <= 0) fail("bad bundle or chunk size");
  double dmin = std::numeric_limits<double>::infinity(), dmax = -dmin;
  for (int f = specmin; f < specmin + nspec; ++f) {
    dmin = std::min(dmin, double(psf.wavemin(f)));
    dmax = std::max(dmax, double(psf.wavemax(f)));
  }
  if (wave.back() < dmin || wave.front() > dmax)
    fail("the output grid [" + std::to_string(wave.front()) + ", " + std::to_string(wave.back()) +
         "] does not intersect the PSF's wavelength domain [" + std::to_string(dmin) + ", " + std::to_string(dmax) + "]");
  for (int f = specmin; f < specmin + nspec; ++f) {
    const double a = psf.xy(f, psf.wavemin(f)).y, b = psf.xy(f, psf.wavemax(f)).y;
    if (!(b > a)) fail("trace y must increase with wavelength (fiber " + std::to_string(f) + ")");
  }

  extraction_result res;
  res.specmin = specmin;
  res.nspec = nspec;
  res.ndiag = opt.ndiag >= 0 ? opt.ndiag : detail::default_ndiag(psf, dw);
  const int nd = 2 * res.ndiag + 1;
  res.wavelength = xt::xtensor<double, 1>::from_shape({static_cast<std::size_t>(nwave)});
  std::copy(wave.begin(), wave.end(), res.wavelength.begin());

  // ---- plan (host) -------------------------------------------------------------
  auto t0 = clock::now();
  patch_planner<P> planner(psf, inverse);
  const auto plans = plan_patches(planner, psf, specmin, nspec, wave, res.ndiag, opt);
  res.npatch = static_cast<int>(plans.size());
  res.timings.plan = detail::seconds_since(t0);

  // ---- outputs and image on the backend ------------------------------------------
  // Host-accessible backends read the image where it is and write the outputs
  // straight into the result (a frame's image, ivar and mask are ≈ 200 MB, its
  // outputs ≈ 140 MB: copies and fresh pages cost more than some stages). Bins no
  // patch writes stay 0, as on the device vectors.
  const std::size_t nout = static_cast<std::size_t>(nspec) * nwave;
  const std::size_t npix_img = static_cast<std::size_t>(img.nx) * img.ny;
  backend::vector_t<B, double> d_flux, d_ivar, d_chi2, d_pmf, d_rdata;
  backend::vector_t<B, std::int32_t> d_mask, d_maskimg;
  backend::vector_t<B, float> d_image, d_ivarimg;
  detail::image_data idata{img.image, img.ivar, img.mask, img.nx, img.ny, img.x0, img.y0};
  detail::frame_out fout{nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, specmin, nwave, res.ndiag};
  const std::array<std::size_t, 2> shape2{static_cast<std::size_t>(nspec), static_cast<std::size_t>(nwave)};
  if constexpr (backend::host_accessible_v<B>) {
    res.flux = xt::zeros<double>(shape2);
    res.ivar = xt::zeros<double>(shape2);
    res.chi2pix = xt::zeros<double>(shape2);
    res.pixmask_fraction = xt::zeros<double>(shape2);
    res.mask = xt::zeros<std::int32_t>(shape2);
    res.resolution = xt::zeros<double>({shape2[0], static_cast<std::size_t>(nd), shape2[1]});
    fout.flux = res.flux.data();
    fout.ivar = res.ivar.data();
    fout.mask = res.mask.data();
    fout.rdata = res.resolution.data();
    fout.chi2pix = res.chi2pix.data();
    fout.pmf = res.pixmask_fraction.data();
  } else {
    d_flux = backend::make_vector<double>(be, nout);
    d_ivar = backend::make_vector<double>(be, nout);
    d_chi2 = backend::make_vector<double>(be, nout);
    d_pmf = backend::make_vector<double>(be, nout);
    d_mask = backend::make_vector<std::int32_t>(be, nout);
    d_rdata = backend::make_vector<double>(be, nout * static_cast<std::size_t>(nd));
    fout.flux = backend::raw(be, d_flux);
    fout.ivar = backend::raw(be, d_ivar);
    fout.mask = backend::raw(be, d_mask);
    fout.rdata = backend::raw(be, d_rdata);
    fout.chi2pix = backend::raw(be, d_chi2);
    fout.pmf = backend::raw(be, d_pmf);
    d_image = backend::to_backend(be, std::span<const float>(img.image, npix_img));
    d_ivarimg = backend::to_backend(be, std::span<const float>(img.ivar, npix_img));
    if (img.mask) d_maskimg = backend::to_backend(be, std::span<const std::int32_t>(img.mask, npix_img));
    idata.image = backend::raw(be, d_image);
    idata.ivar = backend::raw(be, d_ivarimg);
    idata.mask = img.mask ? backend::raw(be, d_maskimg) : nullptr;
  }
  if (opt.model_image) res.model = xt::zeros<float>({static_cast<std::size_t>(img.ny), static_cast<std::size_t>(img.nx)});

  const auto view = psf.view();
  const int snx = view.stamp_nx(), sny = view.stamp_ny(), sp = snx * sny;

  // Batch workspaces, grown on demand and reused across batches: fresh pages
  // (≈ 250 MB per bundle, zero-filled by the allocator) cost more than the work
  // done on them. Every kernel writes what it later reads, so stale contents
  // from an earlier batch are never used.
  backend::vector_t<B, double> d_stamps, d_band, d_hcopy, d_x, d_fw, d_wpix, d_ppix, d_wsbuf, d_model, d_work,
      d_chi2x, d_pmfx, d_z, d_cov, d_q;
  backend::vector_t<B, int> d_corners, d_rbuf, d_info;
  backend::vector_t<B, std::uint8_t> d_valid;
  auto grow = [&](auto& v, std::size_t n) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    if (v.size() < n) v = backend::make_vector<T>(be, n);
  };

  // ---- batches of bundles ------------------------------------------------------
  std::size_t first = 0;
  while (first < plans.size()) {
    const int bundle0 = (plans[first].keep0 - specmin) / opt.bundle_size;
    std::size_t last = first;
    while (last < plans.size() &&
           (plans[last].keep0 - specmin) / opt.bundle_size < bundle0 + std::max(1, opt.batch_bundles))
      ++last;
    const std::size_t np = last - first;

    // Patch descriptors and workspace shapes.
    std::vector<detail::patch_desc> hp(np);
    int f0 = std::numeric_limits<int>::max(), f1 = 0, m0 = std::numeric_limits<int>::max(), m1 =
        std::numeric_limits<int>::min();
    int n_max = 0, nw_max = 0, npix_max = 0, nfib_max = 0;
    for (std::size_t i = 0; i < np; ++i) {
      const auto& q = plans[first + i];
      auto& d = hp[i];
      d = {q.fib0, q.nfib, q.keep0, q.nkeep, q.iw0, q.nwrite, q.nlo, q.ncore, q.nhi, q.nw(), q.n(), q.mfirst(),
           q.x0, q.y0, q.wx, q.wy};
      f0 = std::min(f0, q.fib0);
      f1 = std::max(f1, q.fib0 + q.nfib);
      m0 = std::min(m0, q.mfirst());
      m1 = std::max(m1, q.mfirst() + q.nw());
      n_max = std::max(n_max, q.n());
      nw_max = std::max(nw_max, q.nw());
      npix_max = std::max(npix_max, q.wx * q.wy);
      nfib_max = std::max(nfib_max, q.nfib);
    }
    npix_max = std::max(npix_max, 1);
    const int nf = f1 - f0, nm = m1 - m0;
    auto d_patches = backend::to_backend(be, std::span<const detail::patch_desc>(hp));
    const detail::patch_desc* pp = backend::raw(be, d_patches);

    // Stamps of every (fiber, bin) the batch solves, evaluated once.
    t0 = clock::now();
    const std::size_t ncache = static_cast<std::size_t>(nf) * nm;
    grow(d_stamps, ncache * sp);
    grow(d_corners, 2 * ncache);
    grow(d_valid, ncache);
    backend::for_each_index(be, ncache,
                            detail::stamp_fn<decltype(view)>{view, backend::raw(be, d_stamps), backend::raw(be, d_corners),
                                                             backend::raw(be, d_valid), f0, nf, m0, nm, psf.npix_y(),
                                                             wave[0], dw});
    detail::stamp_cache sc{backend::raw(be, d_stamps), backend::raw(be, d_corners), backend::raw(be, d_valid),
                           f0, nf, m0, nm, snx, sny};
    detail::patch_geometry geo{sc};
    res.timings.stamps += detail::seconds_since(t0);

    // Bandwidth: scan partners up to the bin separation at which stamps can no
    // longer overlap (stamp height + the fibers' y spread, over the minimum rows
    // per bin), then take the exact maximum.
    t0 = clock::now();
    double gmin = std::numeric_limits<double>::infinity(), yspread = 0;
    for (int f = f0; f < f1; ++f)
      for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
        const double w = std::clamp(wave.front() + t * (wave.back() - wave.front()), double(psf.wavemin(f)),
                                    double(psf.wavemax(f)) - dw);
        gmin = std::min(gmin, double(psf.xy(f, w + dw).y - psf.xy(f, w).y));
        for (int g = f + 1; g < std::min(f1, f + nfib_max); ++g)
          yspread = std::max(yspread, std::abs(double(psf.xy(g, w).y - psf.xy(f, w).y)));
      }
    if (!(gmin > 0)) fail("trace y must increase with wavelength");
    const int dj = static_cast<int>(std::ceil((sny + yspread + 2) / gmin)) + 1;
    const int scan = std::min(n_max - 1, nfib_max * (dj + 1));
    auto d_bw = backend::make_vector<int>(be, np);
    grow(d_rbuf, np * static_cast<std::size_t>(n_max) * 8);
    backend::for_each_index(be, np,
                            detail::bandwidth_fn{pp, geo, scan, backend::raw(be, d_bw), backend::raw(be, d_rbuf), n_max});
    const auto hbw = backend::to_host(be, d_bw);
    const int ld = 1 + *std::max_element(hbw.begin(), hbw.end());
    res.timings.bandwidth += detail::seconds_since(t0);
    t0 = clock::now();
    for (const auto& d : hp) {
      const double n = d.n, b = ld - 1, nw = d.nw;
      res.flops += n * b * b + 4 * n * b;
      const double per_fiber = nw * n * b + nw * nw * n / 3.0 + 11.0 * nw * nw * nw;
      res.flops += (opt.full_decorrelation ? 11.0 * n * n * n / std::max(1, d.nkeep) : per_fiber) * d.nkeep;
    }

    // Assemble, regularise, factorise, solve.
    const std::size_t sz_band = static_cast<std::size_t>(n_max) * ld;
    grow(d_band, np * sz_band);
    grow(d_hcopy, opt.full_decorrelation ? np * sz_band : 0);
    grow(d_x, np * n_max);
    grow(d_fw, np * n_max);
    grow(d_wpix, np * npix_max);
    grow(d_ppix, np * npix_max);
    auto d_status = backend::make_vector<int>(be, np);
    grow(d_wsbuf, np * static_cast<std::size_t>(sp));
    backend::for_each_index(
        be, np,
        detail::assemble_solve_fn{pp, geo, idata, backend::raw(be, d_band), backend::raw(be, d_x), backend::raw(be, d_wpix),
                                  backend::raw(be, d_ppix), backend::raw(be, d_fw), backend::raw(be, d_status),
                                  opt.full_decorrelation ? backend::raw(be, d_hcopy) : nullptr,
                                  backend::raw(be, d_wsbuf), backend::raw(be, d_rbuf), ld, n_max, npix_max,
                                  opt.min_weight_fraction, opt.regularize});
    res.timings.assemble += detail::seconds_since(t0);

    // Model, χ²/pixel and masked fractions.
    t0 = clock::now();
    grow(d_model, np * npix_max);
    grow(d_work, np * npix_max);
    grow(d_chi2x, np * n_max);
    grow(d_pmfx, np * n_max);
    backend::for_each_index(be, np,
                            detail::model_chi2_fn{pp, geo, backend::raw(be, d_x), backend::raw(be, d_wpix),
                                                  backend::raw(be, d_ppix), backend::raw(be, d_model),
                                                  backend::raw(be, d_chi2x), backend::raw(be, d_pmfx),
                                                  backend::raw(be, d_work), n_max, npix_max, opt.psferr});
    res.timings.model += detail::seconds_since(t0);
    const auto hstatus = backend::to_host(be, d_status);
    for (int s : hstatus) res.nfailed += (s != 0);

    // Items: (patch, kept fiber).
    std::vector<int> items;
    for (std::size_t i = 0; i < np; ++i)
      for (int c = 0; c < hp[i].nkeep; ++c) {
        items.push_back(static_cast<int>(i));
        items.push_back(c);
      }
    const std::size_t nitem = items.size() / 2;

    if (!opt.full_decorrelation) {
      // Per-fiber decorrelation: C_ff, Q = C_ff^(−1/2), R, flux, ivar — in chunks
      // bounding the Z workspace (n_max × nw_max per item). Items are grouped by
      // their patch's nw and each group is decomposed at its own size instead of
      // padded with the identity to the batch's largest nw (r: nw 67–74 inside the
      // grid, ≈ 45 at its ends; the eigen-decomposition costs ∝ nw³). Every item
      // writes its own output bins, so the order does not matter.
      const std::size_t zbytes =
          static_cast<std::size_t>(n_max) * detail::fiber_covariance_fn::zstride(nw_max) * sizeof(double);
      // Each item's Z (≈ 250 kB) is used by one thread from start to end, so the
      // chunk size does not matter for locality; fewer, larger chunks mean fewer
      // parallel regions (barriers). The workspace is reused across batches.
      const std::size_t zbudget = backend::host_accessible_v<B> ? (std::size_t(64) << 20) : (std::size_t(256) << 20);
      const std::size_t chunk = std::max<std::size_t>(1, std::min<std::size_t>(nitem, zbudget / std::max<std::size_t>(zbytes, 1)));
      std::vector<int> sorted(items.size());
      {
        std::vector<std::size_t> order(nitem);
        for (std::size_t i = 0; i < nitem; ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
          return hp[static_cast<std::size_t>(items[2 * a])].nw < hp[static_cast<std::size_t>(items[2 * b])].nw;
        });
        for (std::size_t i = 0; i < nitem; ++i) {
          sorted[2 * i] = items[2 * order[i]];
          sorted[2 * i + 1] = items[2 * order[i] + 1];
        }
      }
      grow(d_z, chunk * n_max * detail::fiber_covariance_fn::zstride(nw_max));
      grow(d_cov, chunk * nw_max * nw_max);
      grow(d_q, chunk * nw_max * nw_max);
      grow(d_info, chunk);
      for (std::size_t it0 = 0; it0 < nitem;) {
        // The run of items with this nw, up to one chunk.
        const int nwc = hp[static_cast<std::size_t>(sorted[2 * it0])].nw;
        std::size_t it1 = it0;
        while (it1 < nitem && it1 - it0 < chunk && hp[static_cast<std::size_t>(sorted[2 * it1])].nw == nwc) ++it1;
        const std::size_t nit = it1 - it0;
        auto d_items = backend::to_backend(be, std::span<const int>(sorted.data() + 2 * it0, 2 * nit));
        t0 = clock::now();
        backend::for_each_index(be, nit,
                                detail::fiber_covariance_fn{pp, backend::raw(be, d_items), backend::raw(be, d_band),
                                                            backend::raw(be, d_status), backend::raw(be, d_z),
                                                            backend::raw(be, d_cov), ld, n_max, nwc});
        res.timings.covariance += detail::seconds_since(t0);
        t0 = clock::now();
        backend::inv_sqrt(be,
                          backend::matrix_batch<const double>(
                              backend::make_batch(backend::raw(be, d_cov), nwc, nwc, static_cast<int>(nit))),
                          backend::make_batch(backend::raw(be, d_q), nwc, nwc, static_cast<int>(nit)),
                          backend::raw(be, d_info), 0.0);
        res.timings.decorrelate += detail::seconds_since(t0);
        t0 = clock::now();
        backend::for_each_index(be, nit,
                                detail::finalize_fn{pp, backend::raw(be, d_items), backend::raw(be, d_q),
                                                    backend::raw(be, d_x), backend::raw(be, d_chi2x),
                                                    backend::raw(be, d_pmfx), backend::raw(be, d_status), fout, n_max,
                                                    nwc, false, dw, opt.somebadpix_fraction, opt.bad2dfit_chi2,
                                                    backend::raw(be, d_cov)});  // C_ff is spent: scratch
        res.timings.finalize += detail::seconds_since(t0);
        it0 = it1;
      }
    } else {
      // Full decorrelation (specter ndecorr=True): Q = (AᵀWA)^(1/2) = H · H^(−1/2),
      // rows normalised across all fibers of the patch.
      const std::size_t pchunk = std::max<std::size_t>(1, std::min<std::size_t>(np, 32));
      for (std::size_t p0 = 0; p0 < np; p0 += pchunk) {
        const std::size_t npc = std::min(pchunk, np - p0);
        t0 = clock::now();
        auto d_dense = backend::make_vector<double>(be, npc * n_max * n_max);
        auto d_hm = backend::make_vector<double>(be, npc * n_max * n_max);
        auto d_q = backend::make_vector<double>(be, np * 0 + npc * n_max * n_max);
        auto d_info = backend::make_vector<int>(be, npc);
        backend::for_each_index(be, npc,
                                detail::band_to_dense_fn{pp + p0, backend::raw(be, d_hcopy) + p0 * sz_band,
                                                         backend::raw(be, d_dense), ld, n_max});
        const auto dense = backend::make_batch(backend::raw(be, d_dense), n_max, n_max, static_cast<int>(npc));
        const auto hm = backend::make_batch(backend::raw(be, d_hm), n_max, n_max, static_cast<int>(npc));
        backend::inv_sqrt(be, backend::matrix_batch<const double>(dense), hm, backend::raw(be, d_info), 0.0);
        backend::gemm(be, backend::op::none, backend::op::none, 1.0, backend::matrix_batch<const double>(dense),
                      backend::matrix_batch<const double>(hm), 0.0,
                      backend::make_batch(backend::raw(be, d_q), n_max, n_max, static_cast<int>(npc)));
        res.timings.decorrelate += detail::seconds_since(t0);
        t0 = clock::now();
        std::vector<int> sub;
        for (std::size_t i = 0; i < nitem; ++i)
          if (static_cast<std::size_t>(items[2 * i]) >= p0 && static_cast<std::size_t>(items[2 * i]) < p0 + npc) {
            sub.push_back(items[2 * i] - static_cast<int>(p0));
            sub.push_back(items[2 * i + 1]);
          }
        auto d_items = backend::to_backend(be, std::span<const int>(sub));
        backend::for_each_index(
            be, sub.size() / 2,
            detail::finalize_fn{pp + p0, backend::raw(be, d_items), backend::raw(be, d_q), backend::raw(be, d_x) + p0 * n_max,
                                backend::raw(be, d_chi2x) + p0 * n_max, backend::raw(be, d_pmfx) + p0 * n_max,
                                backend::raw(be, d_status) + p0, fout, n_max, nw_max, true, dw,
                                opt.somebadpix_fraction, opt.bad2dfit_chi2});
        res.timings.finalize += detail::seconds_since(t0);
      }
    }

    // Model image: each patch's window overwrites, in specter's patch order.
    if (opt.model_image) {
      // Host-accessible backends are read in place (no copy of the batch's windows).
      std::vector<double> hcopy_model;
      const double* hm = nullptr;
      if constexpr (backend::host_accessible_v<B>) {
        hm = backend::raw(be, d_model);
      } else {
        hcopy_model = backend::to_host(be, d_model);
        hm = hcopy_model.data();
      }
      for (std::size_t i = 0; i < np; ++i) {
        const auto& p = hp[i];
        for (int r = 0; r < p.wy; ++r) {
          const int iy = p.y0 + r - img.y0;
          if (iy < 0 || iy >= img.ny) continue;
          for (int c = 0; c < p.wx; ++c) {
            const int ix = p.x0 + c - img.x0;
            if (ix < 0 || ix >= img.nx) continue;
            res.model(static_cast<std::size_t>(iy), static_cast<std::size_t>(ix)) =
                static_cast<float>(hm[i * static_cast<std::size_t>(npix_max) + static_cast<std::size_t>(r * p.wx + c)]);
          }
        }
      }
    }
    first = last;
  }

  // ---- download (device backends) ----------------------------------------------
  if constexpr (!backend::host_accessible_v<B>) {
    auto to2 = [&](auto& v, auto& out) {
      out = std::remove_reference_t<decltype(out)>::from_shape(shape2);
      const auto h = backend::to_host(be, v);
      std::copy(h.begin(), h.end(), out.data());
    };
    to2(d_flux, res.flux);
    to2(d_ivar, res.ivar);
    to2(d_chi2, res.chi2pix);
    to2(d_pmf, res.pixmask_fraction);
    to2(d_mask, res.mask);
    res.resolution = xt::xtensor<double, 3>::from_shape({shape2[0], static_cast<std::size_t>(nd), shape2[1]});
    const auto h = backend::to_host(be, d_rdata);
    std::copy(h.begin(), h.end(), res.resolution.data());
  }
  res.timings.total = detail::seconds_since(t_start);
  return res;
}

/// As above, building the approximate inverse trace (specter's TraceSet.invert,
/// degree opt-independent `inverse_degree`, default 9 = DESI's 8 trace coefficients
/// + 1) for the fibers needed.
template <backend::Backend B, psf::Psf P>
extraction_result extract_frame(B be, const P& psf, const image_view& img, int specmin, int nspec,
                                const std::vector<double>& wave, const options& opt = {}, int inverse_degree = 9) {
  const trace_inverse inv(psf, inverse_degree);
  return extract_frame(be, psf, img, specmin, nspec, wave, inv, opt);
}

}  // namespace specx::extract
