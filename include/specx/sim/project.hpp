// The forward model of a spectrograph frame: spectra (photons per fiber and
// wavelength sample) projected through a PSF onto the CCD.
//
//   image[y][x] += photons[i][j] · stamp_{fibers[i]}(λ_ij)[y − ymin][x − xmin]
//
// Each (fiber, λ) sample is a monochromatic delta at λ (specter's PSF.project
// convention: photons per sample, not per Å). Stamp pixels outside the window or
// the CCD are dropped. The sum is deterministic and bitwise identical on every
// backend, without atomics: samples are grouped into tasks (one fiber, one block of
// consecutive wavelength indices), tasks into colour classes whose members touch
// disjoint pixels, classes run one after the other (each a parallel for_each_index),
// and every task adds its samples in increasing wavelength order. So each pixel
// receives its contributions in one fixed order, whatever the thread count.
// See docs/psf.md#projection.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../psf/concept.hpp"
#include "detail/project_kernels.hpp"

namespace specx::sim {

/// A rectangle of CCD pixels: columns [xmin, xmax), rows [ymin, ymax) — half-open,
/// like specter's xyrange. An image on a window is row-major [ny(), nx()] with
/// pixel [r][c] at CCD (xmin + c, ymin + r).
struct window {
  int xmin = 0, xmax = 0, ymin = 0, ymax = 0;
  int nx() const { return xmax - xmin; }
  int ny() const { return ymax - ymin; }
};

/// The whole CCD of a PSF model.
template <psf::Psf P>
window full_ccd(const P& psf) {
  return {0, psf.npix_x(), 0, psf.npix_y()};
}

/// How project_into grouped the work (for tests and tuning).
struct projection_plan_info {
  int fiber_stride = 0;     ///< K: fibers k and k + K (in x order) never share a column
  int block = 0;            ///< wavelength samples per task
  int ntasks = 0;
  int nclasses = 0;
};

namespace detail {

struct plan {
  projection_plan_info info;
  std::vector<int> tasks;       ///< pairs (input fiber, block), grouped by class
  std::vector<int> class_begin; ///< task offsets of each class (+ end)
};

/// Colour the (fiber, wavelength block) tasks so that tasks of one class have
/// disjoint pixel boxes. Boxes come from the stamp corners of the active samples
/// (non-zero photons, stamp meeting the write region), widened by one pixel.
inline plan make_plan(const std::vector<int>& cx, const std::vector<int>& cy, const std::vector<char>& active,
                      int nfib, int nwave, int snx, int sny) {
  plan p;
  constexpr int big = 1 << 30;
  std::vector<int> x0(nfib, big), x1(nfib, -big);
  double rows = 0;
  int nrate = 0;
  for (int i = 0; i < nfib; ++i) {
    int jfirst = -1, jlast = -1;
    for (int j = 0; j < nwave; ++j) {
      const std::size_t s = static_cast<std::size_t>(i) * nwave + j;
      if (!active[s]) continue;
      x0[i] = std::min(x0[i], cx[s] - 1);
      x1[i] = std::max(x1[i], cx[s] + snx + 1);
      if (jfirst < 0) jfirst = j;
      jlast = j;
    }
    if (jlast > jfirst) {
      rows += std::abs(double(cy[static_cast<std::size_t>(i) * nwave + jlast] -
                              cy[static_cast<std::size_t>(i) * nwave + jfirst])) / double(jlast - jfirst);
      ++nrate;
    }
  }
  std::vector<int> order;
  for (int i = 0; i < nfib; ++i)
    if (x1[i] > x0[i]) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return x0[a] < x0[b]; });
  const int n = static_cast<int>(order.size());
  // K = max_k (m_k − k), m_k the first later fiber (in x order) starting at or
  // after fiber k's end: then every later fiber of k's class is clear of it.
  int K = 1;
  for (int k = 0; k < n; ++k) {
    int m = k + 1;
    while (m < n && x0[order[m]] < x1[order[k]]) ++m;
    K = std::max(K, m - k);
  }
  std::vector<int> rank(nfib, -1);
  for (int k = 0; k < n; ++k) rank[order[k]] = k;

  // Wavelength blocks: tall enough (in rows) that blocks b and b + 2 of a fiber
  // never overlap; verified, doubled until valid (one block is always valid).
  const double rate = nrate > 0 ? rows / nrate : 0.0;
  int L = rate > 0 ? static_cast<int>(std::ceil((sny + 3) / rate)) + 1 : nwave;
  L = std::max(1, std::min(L, nwave));
  auto valid = [&](int len) {
    const int nb = (nwave + len - 1) / len;
    std::vector<int> y0(nb), y1(nb);
    for (int i : order) {
      std::fill(y0.begin(), y0.end(), big);
      std::fill(y1.begin(), y1.end(), -big);
      for (int j = 0; j < nwave; ++j) {
        const std::size_t s = static_cast<std::size_t>(i) * nwave + j;
        if (!active[s]) continue;
        y0[j / len] = std::min(y0[j / len], cy[s] - 1);
        y1[j / len] = std::max(y1[j / len], cy[s] + sny + 1);
      }
      for (int par = 0; par < 2; ++par) {
        std::vector<std::pair<int, int>> iv;
        for (int b = par; b < nb; b += 2)
          if (y1[b] > y0[b]) iv.emplace_back(y0[b], y1[b]);
        std::sort(iv.begin(), iv.end());
        for (std::size_t k = 1; k < iv.size(); ++k)
          if (iv[k].first < iv[k - 1].second) return false;
      }
    }
    return true;
  };
  while (L < nwave && !valid(L)) L = std::min(nwave, 2 * L);

  const int nb = (nwave + L - 1) / L;
  const int ncls = 2 * K;
  std::vector<std::vector<int>> cls(static_cast<std::size_t>(ncls));
  for (int k = 0; k < n; ++k) {
    const int i = order[k];
    for (int b = 0; b < nb; ++b) {
      bool any = false;
      for (int j = b * L; j < std::min(nwave, (b + 1) * L) && !any; ++j)
        any = active[static_cast<std::size_t>(i) * nwave + j] != 0;
      if (!any) continue;
      auto& c = cls[static_cast<std::size_t>((rank[i] % K) * 2 + (b % 2))];
      c.push_back(i);
      c.push_back(b);
    }
  }
  p.class_begin.push_back(0);
  for (auto& c : cls) {
    if (c.empty()) continue;
    p.tasks.insert(p.tasks.end(), c.begin(), c.end());
    p.class_begin.push_back(static_cast<int>(p.tasks.size() / 2));
  }
  p.info = {K, L, static_cast<int>(p.tasks.size() / 2), static_cast<int>(p.class_begin.size()) - 1};
  return p;
}

}  // namespace detail

/// Adds the projection of photons[i][j] (row-major [fibers.size(), nwave]) at
/// wavelengths (one grid [nwave] shared by all fibers, or [fibers.size(), nwave])
/// into `image`, a backend vector holding the window's pixels (row-major
/// [win.ny(), win.nx()]). Pixels outside the window or the CCD are dropped;
/// zero-photon samples are skipped; negative photons are projected (the model is
/// linear). Throws invalid_argument for inconsistent sizes, a fiber outside the
/// PSF, or a wavelength outside the PSF's domain — before any work. Blocking.
template <backend::Backend B, psf::Psf P, class T = typename P::value_type>
projection_plan_info project_into(B be, const P& psf, std::span<const int> fibers, std::span<const T> wavelengths,
                                  std::span<const T> photons, backend::vector_t<B, T>& image, window win) {
  static_assert(std::is_same_v<B, typename P::backend_type>,
                "specx::sim::project: the PSF model must live on the backend the projection runs on");
  static_assert(std::is_same_v<T, typename P::value_type>,
                "specx::sim::project: photons and wavelengths must have the PSF's value type");
  const char* fn = "specx::sim::project";
  auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
  if (win.nx() <= 0 || win.ny() <= 0)
    fail("empty window [" + std::to_string(win.xmin) + ", " + std::to_string(win.xmax) + ") x [" +
         std::to_string(win.ymin) + ", " + std::to_string(win.ymax) + ")");
  if (image.size() != static_cast<std::size_t>(win.nx()) * static_cast<std::size_t>(win.ny()))
    fail("the image holds " + std::to_string(image.size()) + " pixels, the window " +
         std::to_string(win.nx()) + " x " + std::to_string(win.ny()));
  const std::size_t nfib = fibers.size();
  if (nfib == 0) return {};
  if (photons.size() % nfib != 0) fail("photons must be [nfiber, nwave]: size not a multiple of the fiber count");
  const std::size_t nwave = photons.size() / nfib;
  if (nwave == 0) return {};
  const bool shared = wavelengths.size() == nwave;
  if (!shared && wavelengths.size() != nfib * nwave)
    fail("wavelengths must be [nwave] or [nfiber, nwave] (nwave = " + std::to_string(nwave) + "), got " +
         std::to_string(wavelengths.size()) + " values");
  for (std::size_t i = 0; i < nfib; ++i) {
    const int f = fibers[i];
    if (f < 0 || f >= psf.nfiber())
      fail("fiber " + std::to_string(f) + " (input row " + std::to_string(i) + ") is outside 0.." +
           std::to_string(psf.nfiber() - 1));
    const T lo = psf.wavemin(f), hi = psf.wavemax(f);
    for (std::size_t j = 0; j < nwave; ++j) {
      const T w = wavelengths[shared ? j : i * nwave + j];
      if (!(w >= lo && w <= hi))
        fail("wavelength " + std::to_string(double(w)) + " (fiber " + std::to_string(f) + ", sample " +
             std::to_string(j) + ") is outside the PSF domain [" + std::to_string(double(lo)) + ", " +
             std::to_string(double(hi)) + "]");
    }
  }

  detail::write_region reg{std::max(win.xmin, 0), std::min(win.xmax, psf.npix_x()), std::max(win.ymin, 0),
                           std::min(win.ymax, psf.npix_y()), win.xmin, win.ymin, win.nx()};
  if (reg.x1 <= reg.x0 || reg.y1 <= reg.y0) return {};

  const auto v = psf.view();
  auto dfib = backend::to_backend(be, fibers);
  auto dwave = backend::to_backend(be, wavelengths);
  auto dphot = backend::to_backend(be, photons);
  const std::size_t ns = nfib * nwave;
  auto dcx = backend::make_vector<int>(be, ns);
  auto dcy = backend::make_vector<int>(be, ns);
  backend::for_each_index(be, ns,
                          detail::corner_functor<decltype(v)>{v, backend::raw(be, dfib), backend::raw(be, dwave), shared,
                                                              static_cast<int>(nwave), backend::raw(be, dcx),
                                                              backend::raw(be, dcy)});
  const auto cx = backend::to_host(be, dcx);
  const auto cy = backend::to_host(be, dcy);
  const int snx = v.stamp_nx(), sny = v.stamp_ny();
  std::vector<char> active(ns);
  for (std::size_t s = 0; s < ns; ++s)
    active[s] = photons[s] != T(0) && cx[s] < reg.x1 && cx[s] + snx > reg.x0 && cy[s] < reg.y1 &&
                cy[s] + sny > reg.y0;
  const auto pl = detail::make_plan(cx, cy, active, static_cast<int>(nfib), static_cast<int>(nwave), snx, sny);
  if (pl.info.ntasks == 0) return pl.info;
  auto dtasks = backend::to_backend(be, std::span<const int>(pl.tasks));
  detail::project_task_functor<decltype(v)> task{v,
                                                 backend::raw(be, dfib),
                                                 backend::raw(be, dwave),
                                                 backend::raw(be, dphot),
                                                 shared,
                                                 static_cast<int>(nwave),
                                                 pl.info.block,
                                                 nullptr,
                                                 backend::raw(be, image),
                                                 reg};
  for (std::size_t c = 0; c + 1 < pl.class_begin.size(); ++c) {
    task.tasks = backend::raw(be, dtasks) + 2 * pl.class_begin[c];
    backend::for_each_index(be, static_cast<std::size_t>(pl.class_begin[c + 1] - pl.class_begin[c]), task);
  }
  return pl.info;
}

/// The projection onto a new image of the window (default: the whole CCD), as a
/// host array [win.ny(), win.nx()]. See project_into.
template <backend::Backend B, psf::Psf P, class T = typename P::value_type>
xt::xtensor<T, 2> project(B be, const P& psf, std::span<const int> fibers, std::span<const T> wavelengths,
                          std::span<const T> photons, std::optional<window> win = std::nullopt) {
  const window w = win ? *win : full_ccd(psf);
  if (w.nx() <= 0 || w.ny() <= 0) throw invalid_argument("specx::sim::project: empty window");
  auto img = backend::make_vector<T>(be, static_cast<std::size_t>(w.nx()) * static_cast<std::size_t>(w.ny()));
  project_into(be, psf, fibers, wavelengths, photons, img, w);
  const auto h = backend::to_host(be, img);
  xt::xtensor<T, 2> out = xt::xtensor<T, 2>::from_shape({static_cast<std::size_t>(w.ny()), static_cast<std::size_t>(w.nx())});
  std::copy(h.begin(), h.end(), out.begin());
  return out;
}

}  // namespace specx::sim
