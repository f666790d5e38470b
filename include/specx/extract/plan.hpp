// Host-side planning of an extraction: DESI's divide and conquer (specter ex2d)
// into patches of (sub-bundle + neighbour fibers) × (wavelength chunk + padding),
// each with the CCD pixel window it reads. See docs/extraction.md.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <Eigen/Dense>

#include "../error.hpp"
#include "../psf/concept.hpp"
#include "options.hpp"

namespace specx::extract {

/// specter's approximate y → λ inverse of the traces (TraceSet.invert): per fiber a
/// Legendre series λ(y) of degree ncoef_y + 1 (trace degree + 2), least-squares fit
/// to 1000 samples of y(λ) taken uniformly in λ over the trace domain; y is reduced
/// on one domain common to all fibers, [min_f y_f(λmin), max_f y_f(λmax)]. It
/// differs from the exact root by ~1e-3 Å (docs/psf.md). Extraction uses it only
/// for patch geometry (padding), as specter does, so that the padding decisions
/// equal specter's; fluxes never depend on it otherwise.
class trace_inverse {
 public:
  trace_inverse() = default;

  /// Fits the inverse for every fiber of `psf`. `degree` < 0: ytrace_ncoef + 1
  /// (pass the YTRACE coefficient count); nsample: 1000 as specter.
  template <psf::Psf P>
  trace_inverse(const P& psf, int degree, int nsample = 1000) {
    nfiber_ = psf.nfiber();
    deg_ = degree;
    if (deg_ < 1 || nsample < deg_ + 1) throw invalid_argument("specx::extract::trace_inverse: bad degree or sample count");
    double ylo = std::numeric_limits<double>::infinity(), yhi = -ylo;
    for (int f = 0; f < nfiber_; ++f) {
      ylo = std::min(ylo, double(psf.xy(f, psf.wavemin(f)).y));
      yhi = std::max(yhi, double(psf.xy(f, psf.wavemax(f)).y));
    }
    ymin_ = ylo;
    ymax_ = yhi;
    coef_.assign(static_cast<std::size_t>(nfiber_) * (deg_ + 1), 0.0);
    Eigen::MatrixXd V(nsample, deg_ + 1);
    Eigen::VectorXd w(nsample);
    for (int f = 0; f < nfiber_; ++f) {
      const double w0 = double(psf.wavemin(f)), w1 = double(psf.wavemax(f));
      for (int s = 0; s < nsample; ++s) {
        const double lam = w0 + (w1 - w0) * s / double(nsample - 1);
        w(s) = lam;
        legendre_row(reduce(double(psf.xy(f, lam).y)), V.row(s).data(), nsample);
      }
      // numpy.polynomial.legendre.legfit: least squares with unit-norm columns.
      Eigen::VectorXd scale = V.colwise().norm().transpose();
      Eigen::MatrixXd Vs = V * scale.cwiseInverse().asDiagonal();
      Eigen::VectorXd c = Vs.colPivHouseholderQr().solve(w).cwiseQuotient(scale);
      for (int k = 0; k <= deg_; ++k) coef_[static_cast<std::size_t>(f) * (deg_ + 1) + k] = c(k);
    }
  }

  /// λ at which fiber f crosses row y (approximate, as specter).
  double operator()(int f, double y) const {
    const double u = reduce(y);
    const double* c = coef_.data() + static_cast<std::size_t>(f) * (deg_ + 1);
    double p0 = 1, p1 = u, s = c[0] + (deg_ >= 1 ? c[1] * u : 0.0);
    for (int k = 2; k <= deg_; ++k) {
      const double p2 = ((2 * k - 1) * u * p1 - (k - 1) * p0) / k;
      s += c[k] * p2;
      p0 = p1;
      p1 = p2;
    }
    return s;
  }
  int degree() const { return deg_; }
  double ymin() const { return ymin_; }
  double ymax() const { return ymax_; }
  bool empty() const { return coef_.empty(); }

 private:
  double reduce(double y) const { return 2.0 * (y - ymin_) / (ymax_ - ymin_) - 1.0; }
  void legendre_row(double u, double* row, int stride) const {
    double p0 = 1, p1 = u;
    row[0] = 1;
    if (deg_ >= 1) row[stride] = u;
    for (int k = 2; k <= deg_; ++k) {
      const double p2 = ((2 * k - 1) * u * p1 - (k - 1) * p0) / k;
      row[static_cast<std::ptrdiff_t>(k) * stride] = p2;
      p0 = p1;
      p1 = p2;
    }
  }
  int nfiber_ = 0, deg_ = 0;
  double ymin_ = 0, ymax_ = 0;
  std::vector<double> coef_;
};

/// One extraction patch (all CCD coordinates absolute, pixel windows half-open).
struct patch_plan {
  int fib0 = 0, nfib = 0;    ///< fibers solved: [fib0, fib0 + nfib) (PSF indices)
  int keep0 = 0, nkeep = 0;  ///< fibers whose results are kept
  int iw0 = 0;               ///< output bin of the first core wavelength
  int ncore = 0;             ///< core bins: wave_chunk, or to the end of the grid
  int nwrite = 0;            ///< output bins this patch writes: iw0 … iw0 + nwrite − 1 (= ncore)
  int nlo = 0, nhi = 0;      ///< padded bins below and above the core (solved, discarded)
  int x0 = 0, y0 = 0, wx = 0, wy = 0;  ///< pixel window [x0, x0+wx) × [y0, y0+wy)
  int nw() const { return nlo + ncore + nhi; }
  int n() const { return nfib * nw(); }
  int mfirst() const { return iw0 - nlo; }  ///< grid index of the first solved bin
};

namespace detail {

/// specter's split_bundle: sub-bundles (sizes differing by at most one, smaller
/// ones in the middle) and the fibers extracted for each (plus one neighbour on
/// each side inside the bundle).
inline std::vector<std::pair<std::pair<int, int>, std::pair<int, int>>> split_bundle(int size, int n) {
  n = std::max(1, std::min(n, size));
  std::vector<int> len(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) len[static_cast<std::size_t>(i)] = size / n + (i < size % n ? 1 : 0);
  for (int i = 0; i < n - 1; ++i)
    if (len[static_cast<std::size_t>(i)] > len[static_cast<std::size_t>(i + 1)])
      std::swap(len[static_cast<std::size_t>(i)], len[static_cast<std::size_t>(i + 1)]);
  std::vector<std::pair<std::pair<int, int>, std::pair<int, int>>> out;
  int lo = 0;
  for (int l : len) {
    const int e0 = lo > 0 ? lo - 1 : lo;
    const int e1 = lo + l < size ? lo + l + 1 : lo + l;
    out.push_back({{lo, l}, {e0, e1 - e0}});
    lo += l;
  }
  return out;
}

/// Python's int() of a double: truncation toward zero.
inline int py_int(double v) { return static_cast<int>(std::trunc(v)); }

}  // namespace detail

/// Geometry queries specter makes of a PSF, with specter's conventions: the stamp
/// slices clipped to the CCD (PSF.xypix) and the approximate inverse trace.
template <psf::Psf P>
class patch_planner {
 public:
  patch_planner(const P& psf, const trace_inverse& inv) : psf_(psf), inv_(inv), view_(psf.host_view()) {
    wmin_ = std::numeric_limits<double>::infinity();
    wmax_ = -wmin_;
    for (int f = 0; f < psf.nfiber(); ++f) {
      wmin_ = std::min(wmin_, inv_(f, -0.5));
      wmax_ = std::max(wmax_, inv_(f, psf.npix_y() - 0.5));
    }
  }

  /// specter's xypix slices clipped to the CCD: {x0, x1, y0, y1}.
  std::array<int, 4> xypix(int f, double w) const {
    const int npy = psf_.npix_y(), npx = psf_.npix_x();
    if (w < inv_(f, -0.5)) return {0, 0, 0, 0};
    if (w > inv_(f, npy - 0.5)) return {0, 0, npy, npy};
    const auto c = view_.corner(f, typename P::value_type(w));
    int x0 = c.xmin, y0 = c.ymin, x1 = x0 + view_.stamp_nx(), y1 = y0 + view_.stamp_ny();
    if (y0 >= npy) return {0, 0, npy, npy};
    if (y1 < 0) return {0, 0, 0, 0};
    if (x0 >= npx) return {npx, npx, 0, 0};
    if (x1 <= 0) return {0, 0, 0, 0};
    x0 = std::max(x0, 0);
    x1 = std::min(x1, npx);
    y0 = std::max(y0, 0);
    y1 = std::min(y1, npy);
    return {x0, x1, y0, y1};
  }

  /// specter's PSF.xyrange((specmin, specmax), (wavemin, wavemax)): {xmin, xmax, ymin, ymax}.
  std::array<int, 4> xyrange(int specmin, int specmax, double wavemin, double wavemax) const {
    wavemin = std::max(wavemin, wmin_);
    wavemax = std::min(wavemax, wmax_);
    const int last = std::min(specmax, psf_.nfiber()) - 1;
    int fy0 = specmin, fy1 = specmin;
    double ylo = std::numeric_limits<double>::infinity(), yhi = -ylo;
    for (int f = specmin; f <= last; ++f) {
      const double a = psf_.xy(f, clampw(f, wavemin)).y, b = psf_.xy(f, clampw(f, wavemax)).y;
      if (a < ylo) { ylo = a; fy0 = f; }
      if (b > yhi) { yhi = b; fy1 = f; }
    }
    const int ymin = xypix(fy0, wavemin)[2];
    const int ymax = xypix(fy1, wavemax)[3];
    const int xmin = xextreme(specmin, wavemin, wavemax, false);
    const int xmax = xextreme(specmax - 1, wavemin, wavemax, true);
    return {xmin, xmax, ymin, ymax};
  }

  double wmin() const { return wmin_; }
  double wmax() const { return wmax_; }
  const trace_inverse& inverse() const { return inv_; }

 private:
  double clampw(int f, double w) const {
    return std::clamp(w, double(psf_.wavemin(f)), double(psf_.wavemax(f)));
  }
  // x extent of fiber f over [wavemin, wavemax], sampled as specter does: at the
  // wavelengths of every CCD row inside the range plus the two ends, keeping
  // samples whose centroid is on the CCD.
  int xextreme(int f, double wavemin, double wavemax, bool maximum) const {
    const int npy = psf_.npix_y(), npx = psf_.npix_x();
    std::vector<double> ws;
    // Rows whose (approximate) wavelength lies in [wavemin, wavemax]: λ(y) is
    // monotonic, so bracket them through the inverse at the two ends.
    const double ya = psf_.xy(f, clampw(f, wavemin)).y, yb = psf_.xy(f, clampw(f, wavemax)).y;
    const int r0 = std::max(0, static_cast<int>(std::floor(std::min(ya, yb))) - 2);
    const int r1 = std::min(npy - 1, static_cast<int>(std::ceil(std::max(ya, yb))) + 2);
    for (int r = r0; r <= r1; ++r) {
      const double w = inv_(f, r);
      if (w >= wavemin && w <= wavemax) ws.push_back(w);
    }
    ws.push_back(wavemin);
    ws.push_back(wavemax);
    double best = maximum ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    double wbest = wavemin;
    bool any = false;
    for (double w : ws) {
      if (w < psf_.wavemin(f) || w > psf_.wavemax(f)) continue;
      const auto p = psf_.xy(f, typename P::value_type(w));
      const bool on = maximum ? (-0.5 <= p.y && p.y < npy - 0.5) : (0 <= p.y - 0.5 && p.y < npy - 0.5);
      if (!on) continue;
      any = true;
      if (maximum ? p.x > best : p.x < best) {
        best = p.x;
        wbest = w;
      }
    }
    if (!any) return maximum ? npx : 0;
    if (!maximum && best < 0) return 0;
    if (maximum && best > npx) return npx;
    const auto s = xypix(f, wbest);
    return maximum ? s[1] : s[0];
  }

  const P& psf_;
  const trace_inverse& inv_;
  decltype(std::declval<const P&>().host_view()) view_;
  double wmin_, wmax_;
};

/// The patches of an extraction of fibers [specmin, specmin + nspec) on the linear
/// grid wave (nwave bins of width dw), in specter's order (bundle, sub-bundle,
/// chunk), with specter's padding (options: pixpad_frac, wavepad_frac, ndiag).
template <psf::Psf P>
std::vector<patch_plan> plan_patches(const patch_planner<P>& pl, const P& psf, int specmin, int nspec,
                                     const std::vector<double>& wave, int ndiag, const options& opt) {
  std::vector<patch_plan> out;
  const int nwave = static_cast<int>(wave.size());
  const double dw = wave[1] - wave[0];
  const int sny = psf.view().stamp_ny();
  for (int blo = specmin; blo < specmin + nspec; blo += opt.bundle_size) {
    const int bhi = std::min(blo + opt.bundle_size, specmin + nspec);
    for (const auto& sb : detail::split_bundle(bhi - blo, opt.n_subbundles)) {
      const int keep0 = blo + sb.first.first, nkeep = sb.first.second;
      const int s0 = blo + sb.second.first, s1 = s0 + sb.second.second;
      for (int iw = 0; iw < nwave; iw += opt.wave_chunk) {
        patch_plan p;
        p.fib0 = s0;
        p.nfib = s1 - s0;
        p.keep0 = keep0;
        p.nkeep = nkeep;
        p.iw0 = iw;
        const bool last = iw + opt.wave_chunk >= nwave;
        p.ncore = last ? nwave - iw : opt.wave_chunk;
        p.nwrite = p.ncore;
        const double wlo = wave[static_cast<std::size_t>(iw)], whi = wave[static_cast<std::size_t>(iw + p.ncore - 1)];
        auto xy = pl.xyrange(s0, s1, wlo, whi);
        // Stamp height at (first fiber, wlo) as specter's psf.pix(...).shape[0]
        // (smaller where the stamp is clipped by the CCD edge).
        const auto sl = pl.xypix(s0, wlo);
        const int ny = (sl[3] > sl[2] && sl[1] > sl[0]) ? sl[3] - sl[2] : sny;
        const int extra = static_cast<int>(std::lround(opt.pixpad_frac * ny));
        int ylo = std::max(0, xy[2] - extra), yhi = std::min(psf.npix_y(), xy[3] + extra);
        const int wpad = detail::py_int(opt.wavepad_frac * ny);
        const double ymin = ylo - wpad, ymax = yhi + wpad;
        const auto& inv = pl.inverse();
        p.nlo = std::max(detail::py_int((wlo - inv(s0, ymin)) / dw) - 1, ndiag);
        p.nhi = std::max(detail::py_int((inv(s0, ymax) - whi) / dw) - 1, ndiag);
        p.x0 = xy[0];
        p.wx = std::max(0, xy[1] - xy[0]);
        p.y0 = ylo;
        p.wy = std::max(0, yhi - ylo);
        out.push_back(p);
      }
    }
  }
  return out;
}

}  // namespace specx::extract
