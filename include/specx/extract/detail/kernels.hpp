// Per-patch functors of the extraction (one patch, or one patch × fiber, per
// thread). All take raw pointers into backend memory and are SPECX_HOST_DEVICE.
//
// Unknowns of a patch are ordered wavelength-major across fibers, u = j·nfib + i
// (bin j, fiber i): two unknowns couple only when their stamps overlap, which
// happens for |Δj| ≲ stamp height / rows per bin, so AᵀWA is banded with half-
// bandwidth ≈ nfib·(Δj_max + 1) (~60 for DESI r) instead of dense (n ≈ 500).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../backend/banded_linalg.hpp"
#include "../../config.hpp"
#include "../options.hpp"

namespace specx::extract::detail {

/// A patch as the kernels see it (plain data, uploaded to the backend).
struct patch_desc {
  int fib0, nfib, keep0, nkeep;  // absolute PSF fibers
  int iw0, nwrite, nlo, ncore, nhi, nw, n;
  int mfirst;                    // grid index of bin 0 (relative to the output grid)
  int x0, y0, wx, wy;            // pixel window (CCD coordinates)
};

/// The bundle-batch stamp cache: fibers [f0, f0 + nf) × grid bins [m0, m0 + nm).
struct stamp_cache {
  const double* stamps;  // [nf, nm, sny·snx]
  const int* corners;    // [nf, nm, 2] (xmin, ymin)
  const std::uint8_t* valid;
  int f0, nf, m0, nm, snx, sny;
  SPECX_HOST_DEVICE std::ptrdiff_t index(int f, int m) const {
    return static_cast<std::ptrdiff_t>(f - f0) * nm + (m - m0);
  }
};

/// Fills the stamp cache: PSF stamp of (fiber, λ_m = λ_0 + m·dλ) where the
/// centroid lies on the CCD and λ inside the PSF domain; invalid otherwise (an
/// empty column of A, as specter's xypix returns for off-CCD wavelengths).
template <class V>
struct stamp_fn {
  V psf;
  double* stamps;
  int* corners;
  std::uint8_t* valid;
  int f0, nf, m0, nm, npix_y;
  double wave0, dw;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    using T = typename V::value_type;
    const int f = f0 + static_cast<int>(k / static_cast<std::size_t>(nm));
    const int m = m0 + static_cast<int>(k % static_cast<std::size_t>(nm));
    const int np = psf.stamp_nx() * psf.stamp_ny();
    double* out = stamps + static_cast<std::ptrdiff_t>(k) * np;
    const double lam = wave0 + m * dw;
    bool ok = lam >= double(psf.wavemin(f)) && lam <= double(psf.wavemax(f));
    if (ok) {
      const T y = psf.xy(f, T(lam)).y;
      ok = y >= T(-0.5) && y < T(npix_y) - T(0.5);
    }
    if (!ok) {
      valid[k] = 0;
      corners[2 * k] = corners[2 * k + 1] = 0;
      for (int i = 0; i < np; ++i) out[i] = 0;
      return;
    }
    T tmp[V::max_stamp_pixels];
    const auto c = psf.stamp(f, T(lam), tmp);
    for (int i = 0; i < np; ++i) out[i] = double(tmp[i]);
    corners[2 * k] = c.xmin;
    corners[2 * k + 1] = c.ymin;
    valid[k] = 1;
  }
};

/// Clipped rectangle of unknown u's stamp inside the patch window.
struct rect {
  int x0, x1, y0, y1;
  SPECX_HOST_DEVICE bool empty() const { return x1 <= x0 || y1 <= y0; }
};

struct patch_geometry {
  stamp_cache sc;
  SPECX_HOST_DEVICE std::ptrdiff_t cache_index(const patch_desc& p, int u) const {
    const int j = u / p.nfib, i = u % p.nfib;
    return sc.index(p.fib0 + i, p.mfirst + j);
  }
  SPECX_HOST_DEVICE rect clip(const patch_desc& p, std::ptrdiff_t c) const {
    if (!sc.valid[c]) return {0, 0, 0, 0};
    const int xa = sc.corners[2 * c], ya = sc.corners[2 * c + 1];
    rect r{xa, xa + sc.snx, ya, ya + sc.sny};
    r.x0 = r.x0 > p.x0 ? r.x0 : p.x0;
    r.x1 = r.x1 < p.x0 + p.wx ? r.x1 : p.x0 + p.wx;
    r.y0 = r.y0 > p.y0 ? r.y0 : p.y0;
    r.y1 = r.y1 < p.y0 + p.wy ? r.y1 : p.y0 + p.wy;
    return r;
  }
  SPECX_HOST_DEVICE const double* stamp(std::ptrdiff_t c) const {
    return sc.stamps + c * static_cast<std::ptrdiff_t>(sc.snx * sc.sny);
  }
};

/// Per-unknown geometry of a patch, one record of 8 ints per unknown u:
/// clipped rectangle (x0, x1, y0, y1), stamp corner (x, y), stamp-cache index,
/// flags (bit 0: empty rectangle, bit 1: valid stamp). Filled by bandwidth_fn,
/// read by assemble_solve_fn (the pair loops visit each unknown up to 2b times).
struct unknown_table {
  static constexpr int empty = 1, valid = 2;
  SPECX_HOST_DEVICE static void fill(const patch_geometry& g, const patch_desc& p, int* R) {
    for (int u = 0; u < p.n; ++u) {
      const std::ptrdiff_t cu = g.cache_index(p, u);
      const rect r = g.clip(p, cu);
      int* ru = R + 8 * u;
      ru[0] = r.x0;
      ru[1] = r.x1;
      ru[2] = r.y0;
      ru[3] = r.y1;
      ru[4] = g.sc.corners[2 * cu];
      ru[5] = g.sc.corners[2 * cu + 1];
      ru[6] = static_cast<int>(cu);
      ru[7] = (r.empty() ? empty : 0) | (g.sc.valid[cu] ? valid : 0);
    }
  }
};

/// Half-bandwidth of AᵀWA in the wavelength-major order: the largest u' − u over
/// pairs of overlapping stamps, scanning u' ≤ u + scan. A fiber's stamps move
/// down the CCD with its bins (trace y increases with λ), so once every fiber of
/// a whole bin row has a valid stamp starting below u's rows, no later partner
/// can overlap u and the scan stops there (the same maximum, found ≈ 2× sooner).
/// Also fills the patch's unknown_table (rbuf) for the assembly.
struct bandwidth_fn {
  const patch_desc* patches;
  patch_geometry g;
  int scan;
  int* bw;
  int* rbuf;  // [npatch][n_max · 8]
  int n_max;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const patch_desc p = patches[k];
    int* R = rbuf + static_cast<std::ptrdiff_t>(k) * n_max * 8;
    unknown_table::fill(g, p, R);
    int b = 0;
    for (int u = 0; u < p.n; ++u) {
      const int* ra = R + 8 * u;
      if (ra[7] & unknown_table::empty) continue;
      const int last = (u + scan < p.n - 1) ? u + scan : p.n - 1;
      bool full_row = false, row_below = true;  // a whole bin row scanned, all of it below u
      for (int v = u + 1; v <= last; ++v) {
        if (v % p.nfib == 0) {
          full_row = true;
          row_below = true;
        }
        const int* rb = R + 8 * v;
        row_below = row_below && (rb[7] & unknown_table::valid) && rb[5] >= ra[3];
        if (!(rb[7] & unknown_table::empty) && rb[0] < ra[1] && ra[0] < rb[1] && rb[2] < ra[3] && ra[2] < rb[3] &&
            v - u > b)
          b = v - u;
        if (full_row && row_below && v % p.nfib == p.nfib - 1) break;
      }
    }
    bw[k] = b;
  }
};

/// Pixel data of the input image (host or device memory): a cutout whose pixel
/// [r][c] is CCD pixel (x0 + c, y0 + r); pixels outside it have weight 0.
struct image_data {
  const float* image;
  const float* ivar;
  const std::int32_t* mask;  // may be null; non-zero → weight 0
  int nx, ny, x0, y0;
};

/// Assembles AᵀWA (lower band) and AᵀWp from stamp overlaps, adds specter's
/// low-weight regularisation, factorises (band Cholesky) and solves for the
/// deconvolved flux x. Also copies the window's pixels and weights to the patch
/// workspace for the model/χ² pass.
struct assemble_solve_fn {
  const patch_desc* patches;
  patch_geometry g;
  image_data img;
  double* band;  // [npatch][n_max · ld]
  double* x;     // [npatch][n_max]
  double* wpix;  // [npatch][npix_max] pixel weights
  double* ppix;  // [npatch][npix_max] pixel values
  double* fweight;  // [npatch][n_max] Σ w·A per unknown
  int* status;
  double* hcopy;  // optional [npatch][n_max · ld]: AᵀWA before factorisation (full decorrelation)
  double* wsbuf;  // [npatch][stamp pixels]: w·s of the current unknown
  const int* rbuf;  // [npatch][n_max · 8]: the unknown_table bandwidth_fn filled
  int ld, n_max, npix_max;
  double min_weight_fraction, regularize;

  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const patch_desc p = patches[k];
    double* ab = band + static_cast<std::ptrdiff_t>(k) * n_max * ld;
    double* xk = x + static_cast<std::ptrdiff_t>(k) * n_max;
    double* W = wpix + static_cast<std::ptrdiff_t>(k) * npix_max;
    double* P = ppix + static_cast<std::ptrdiff_t>(k) * npix_max;
    double* fw = fweight + static_cast<std::ptrdiff_t>(k) * n_max;
    for (int r = 0; r < p.wy; ++r)
      for (int c = 0; c < p.wx; ++c) {
        const int ix = p.x0 + c - img.x0, iy = p.y0 + r - img.y0;
        double w = 0, v = 0;
        if (ix >= 0 && ix < img.nx && iy >= 0 && iy < img.ny) {
          const std::ptrdiff_t q = static_cast<std::ptrdiff_t>(iy) * img.nx + ix;
          const bool masked = img.mask && img.mask[q] != 0;
          w = masked ? 0.0 : double(img.ivar[q]);
          v = double(img.image[q]);
          if (!(w > 0) || !(w < 1e300) || !(v == v) || !(v < 1e300 && v > -1e300)) w = 0;  // NaN/inf → masked
          if (w == 0) v = (v == v && v < 1e300 && v > -1e300) ? v : 0.0;
        }
        W[r * p.wx + c] = w;
        P[r * p.wx + c] = v;
      }
    const int b = ld - 1;
    for (int i = 0; i < p.n * ld; ++i) ab[i] = 0;
    double fwmax = 0;
    const int snx = g.sc.snx;
    double* wsa = wsbuf + static_cast<std::ptrdiff_t>(k) * snx * g.sc.sny;
    // Clipped rectangles and stamp origins of all unknowns (bandwidth_fn's table).
    const int* R = rbuf + static_cast<std::ptrdiff_t>(k) * n_max * 8;
    for (int u = 0; u < p.n; ++u) {
      const int* rau = R + 8 * u;
      const std::ptrdiff_t ca = rau[6];
      const rect ra{rau[0], rau[1], rau[2], rau[3]};
      double y = 0, f = 0;
      if (!(rau[7] & unknown_table::empty)) {
        const double* sa = g.stamp(ca);
        const int xa = rau[4], ya = rau[5];
        // w·s_a over the clipped stamp, kept for the products with the partners
        // ((w·s_a)·s_b is the product w·s_a·s_b as written before, bit for bit).
        double haa = 0;
        for (int yy = ra.y0; yy < ra.y1; ++yy) {
          const double* s = sa + (yy - ya) * snx - xa;
          double* o = wsa + (yy - ya) * snx - xa;
          const double* w = W + (yy - p.y0) * p.wx - p.x0;
          const double* v = P + (yy - p.y0) * p.wx - p.x0;
          for (int xx = ra.x0; xx < ra.x1; ++xx) {
            const double ws = w[xx] * s[xx];
            o[xx] = ws;
            f += ws;
            y += ws * v[xx];
            haa += ws * s[xx];
          }
        }
        ab[static_cast<std::ptrdiff_t>(u) * ld] = haa;
        const int last = (u + b < p.n - 1) ? u + b : p.n - 1;
        for (int v2 = u + 1; v2 <= last; ++v2) {
          const int* rbv = R + 8 * v2;
          if (rbv[7] & unknown_table::empty) continue;
          const int ox0 = ra.x0 > rbv[0] ? ra.x0 : rbv[0], ox1 = ra.x1 < rbv[1] ? ra.x1 : rbv[1];
          const int oy0 = ra.y0 > rbv[2] ? ra.y0 : rbv[2], oy1 = ra.y1 < rbv[3] ? ra.y1 : rbv[3];
          if (ox1 <= ox0 || oy1 <= oy0) continue;
          const double* sb = g.stamp(rbv[6]);
          const int xb = rbv[4], yb = rbv[5];
          // Four partial sums: the dot product is latency-bound with one.
          double h0 = 0, h1 = 0, h2 = 0, h3 = 0;
          for (int yy = oy0; yy < oy1; ++yy) {
            const double* s1 = wsa + (yy - ya) * snx - xa;
            const double* s2 = sb + (yy - yb) * snx - xb;
            int xx = ox0;
            for (; xx + 3 < ox1; xx += 4) {
              h0 += s1[xx] * s2[xx];
              h1 += s1[xx + 1] * s2[xx + 1];
              h2 += s1[xx + 2] * s2[xx + 2];
              h3 += s1[xx + 3] * s2[xx + 3];
            }
            for (; xx < ox1; ++xx) h0 += s1[xx] * s2[xx];
          }
          ab[static_cast<std::ptrdiff_t>(u) * ld + (v2 - u)] = (h0 + h1) + (h2 + h3);
        }
      }
      xk[u] = y;
      fw[u] = f;
      fwmax = f > fwmax ? f : fwmax;
    }
    // specter: Idiag = regularize; Idiag[fw < minweight] = minweight − fw; AᵀWA += Idiag².
    const double minw = min_weight_fraction * fwmax;
    for (int u = 0; u < p.n; ++u) {
      const double d = fw[u] < minw ? minw - fw[u] : regularize;
      ab[static_cast<std::ptrdiff_t>(u) * ld] += d * d;
    }
    if (hcopy) {
      double* hc = hcopy + static_cast<std::ptrdiff_t>(k) * n_max * ld;
      for (int i = 0; i < p.n * ld; ++i) hc[i] = ab[i];
    }
    const int info = backend::band_cholesky(p.n, b, ab, ld);
    status[k] = info;
    if (info == 0) backend::band_cholesky_solve(p.n, b, ab, ld, xk);
    else
      for (int u = 0; u < p.n; ++u) xk[u] = 0;
  }
};

/// Model of the window, A·x, and per unknown: χ²/pixel with the PSF error term
/// (specter: pixel ivar⁻¹ + (psferr·model)² in the denominator, weighted by A over
/// unmasked pixels) and the masked fraction of its PSF weight, 1 − Σ A·[w > 0].
struct model_chi2_fn {
  const patch_desc* patches;
  patch_geometry g;
  const double* x;
  const double* wpix;
  const double* ppix;
  double* model;  // [npatch][npix_max]
  double* chi2x;  // [npatch][n_max]
  double* pmf;    // [npatch][n_max]
  double* work;   // [npatch][npix_max] χ² per pixel (negative: no valid variance)
  int n_max, npix_max;
  double psferr;

  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const patch_desc p = patches[k];
    const double* xk = x + static_cast<std::ptrdiff_t>(k) * n_max;
    const double* W = wpix + static_cast<std::ptrdiff_t>(k) * npix_max;
    const double* P = ppix + static_cast<std::ptrdiff_t>(k) * npix_max;
    double* M = model + static_cast<std::ptrdiff_t>(k) * npix_max;
    double* C = work + static_cast<std::ptrdiff_t>(k) * npix_max;
    const int npix = p.wx * p.wy;
    for (int i = 0; i < npix; ++i) M[i] = 0;
    for (int u = 0; u < p.n; ++u) {
      const std::ptrdiff_t ca = g.cache_index(p, u);
      const rect ra = g.clip(p, ca);
      if (ra.empty() || xk[u] == 0) continue;
      const double* sa = g.stamp(ca);
      const int xa = g.sc.corners[2 * ca], ya = g.sc.corners[2 * ca + 1];
      for (int yy = ra.y0; yy < ra.y1; ++yy) {
        const double* s = sa + (yy - ya) * g.sc.snx - xa;
        double* m = M + (yy - p.y0) * p.wx - p.x0;
        for (int xx = ra.x0; xx < ra.x1; ++xx) m[xx] += xk[u] * s[xx];
      }
    }
    for (int i = 0; i < npix; ++i) {
      const double ms = M[i] * psferr + 1e-32;
      const double modelivar = 1.0 / (ms * ms);
      if (modelivar > 0 && W[i] > 0) {
        const double tot = 1.0 / (1.0 / modelivar + 1.0 / W[i]);
        const double r = P[i] - M[i];
        C[i] = r * r * tot;
      } else {
        C[i] = -1;  // no valid variance: excluded from χ² and its weight
      }
    }
    double* cx = chi2x + static_cast<std::ptrdiff_t>(k) * n_max;
    double* pm = pmf + static_cast<std::ptrdiff_t>(k) * n_max;
    for (int u = 0; u < p.n; ++u) {
      const std::ptrdiff_t ca = g.cache_index(p, u);
      const rect ra = g.clip(p, ca);
      double num = 0, den = 0, good = 0;
      if (!ra.empty()) {
        const double* sa = g.stamp(ca);
        const int xa = g.sc.corners[2 * ca], ya = g.sc.corners[2 * ca + 1];
        for (int yy = ra.y0; yy < ra.y1; ++yy) {
          const double* s = sa + (yy - ya) * g.sc.snx - xa;
          const double* c = C + (yy - p.y0) * p.wx - p.x0;
          const double* w = W + (yy - p.y0) * p.wx - p.x0;
          for (int xx = ra.x0; xx < ra.x1; ++xx) {
            if (c[xx] >= 0) {
              num += s[xx] * c[xx];
              den += s[xx];
            }
            if (w[xx] > 0) good += s[xx];
          }
        }
      }
      cx[u] = den > 0 ? num / den : 0.0;
      pm[u] = 1.0 - good;
    }
  }
};

/// Per-fiber covariance block C_ff = E_fᵀ (L Lᵀ)⁻¹ E_f = Z_fᵀ Z_f, Z_f = L⁻¹ E_f, for
/// the kept fibers of a patch. Column j of Z_f starts at row r_j = j·nfib + i (L is
/// lower triangular), so C[j, j'] sums rows ≥ max(r_j, r_j'). The block is written
/// into an nw_max × nw_max matrix padded with the identity (inv_sqrt then returns
/// the identity there, leaving the nw × nw block exact).
///
/// Z is formed row by row (row-major, zstride(nw_max) per row): row i of L⁻¹E_f is
/// (e_i − Σ_{i−b ≤ k < i} L[i,k]·Z[k,·]) / L[i,i], the same operations in the same
/// order (k ascending) as a column-wise forward substitution, but the inner loop
/// runs over the ≤ nw active right-hand sides, contiguous, so it vectorises
/// without reassociation (a multi-RHS banded TRSM); rows of the staircase hold
/// explicit zeros beyond their active columns (adding 0·l is exact). ZᵀZ is
/// summed in 8 × 8 register tiles over the rows where the tile is active,
/// i ascending: the same terms in the same order as the column dot products.
struct fiber_covariance_fn {
  const patch_desc* patches;
  const int* items;  // [nitem][2]: patch, kept-fiber index
  const double* band;
  const int* status;
  double* zws;  // [nitem][n_max · zstride(nw_max)]
  double* cov;  // [nitem][nw_max²]
  int ld, n_max, nw_max;

  /// Row stride of Z: nw rounded up to whole 8-wide column blocks.
  SPECX_HOST_DEVICE static int zstride(int nw) { return (nw + 7) / 8 * 8; }

  // Rows i … i + R − 1 (R ≤ b + 1) over the columns [jb, jb + W): each z_k row is
  // loaded once for all R rows (R·W/8 independent accumulator chains). Row i + r
  // takes L[i+r, k] for k ≥ i + r − b (outside the band it has no term, so the
  // first R − 1 values of k skip the rows they do not reach); each finished row
  // (÷ L[i+r, i+r]) enters the rows below it as their terms k = i + r. Per element
  // the operations and their order (k ascending) are those of the one-row form.
  // The right-hand side of row i + r is e_i's row of E_f: 1 in column (i + r − fi)/nfib
  // when the row is one of fiber fi's unknowns, else 0. Rows before fi are zero in Z
  // (no column starts there), so the sums begin at row fi (they would add 0·l).
  template <int W, int R>
  SPECX_HOST_DEVICE SPECX_WIDE_VECTORS static void substitute_block(double* zi, const double* Z, int zld,
                                                                    const double* ab, int ld, int i, int b, int jb,
                                                                    int fi, int nfib) {
    double a[R][W];
    for (int r = 0; r < R; ++r) {
      const int t = i + r - fi;
      const int unit = t % nfib == 0 ? t / nfib - jb : -1;
      for (int q = 0; q < W; ++q) a[r][q] = q == unit ? 1.0 : 0.0;
    }
    int kk = i - b > fi ? i - b : fi;
    // Prologue: k < i + R − 1 − b is outside the band of the last rows.
    for (; kk < i && kk < i + R - 1 - b; ++kk) {
      const double* zk = Z + static_cast<std::ptrdiff_t>(kk) * zld + jb;
      const double* lk = ab + static_cast<std::ptrdiff_t>(kk) * ld;
      for (int r = 0; r < R; ++r) {
        if (i + r - kk > b) break;
        const double l = lk[i + r - kk];
        for (int q = 0; q < W; ++q) a[r][q] -= zk[q] * l;
      }
    }
    for (; kk < i; ++kk) {
      const double* zk = Z + static_cast<std::ptrdiff_t>(kk) * zld + jb;
      const double* lk = ab + static_cast<std::ptrdiff_t>(kk) * ld + (i - kk);
      double l[R];
      for (int r = 0; r < R; ++r) l[r] = lk[r];
      for (int q = 0; q < W; ++q) {
        const double z = zk[q];
        for (int r = 0; r < R; ++r) a[r][q] -= z * l[r];
      }
    }
    // Finish the rows in order; the column loops are innermost so they vectorise
    // (with the row loop inside, GCC computes this triangle scalar).
    for (int r = 0; r < R; ++r) {
      const double* lr = ab + static_cast<std::ptrdiff_t>(i + r) * ld;
      const double d = lr[0];
      double* zr = zi + static_cast<std::ptrdiff_t>(r) * zld + jb;
      for (int q = 0; q < W; ++q) {
        a[r][q] /= d;
        zr[q] = a[r][q];
      }
      for (int r2 = r + 1; r2 < R; ++r2) {
        const double l = lr[r2 - r];
        for (int q = 0; q < W; ++q) a[r2][q] -= a[r][q] * l;
      }
    }
  }

  // Column blocks of rows [i, i + R) whose active width is ja: full 32-wide
  // blocks, then one block of 8, 16, 24 or 32.
  // Writes columns [0, cover(ja)) of the R rows: cover(ja) = ja rounded up to 8.
  template <int R>
  SPECX_HOST_DEVICE SPECX_WIDE_VECTORS static void substitute_rows(double* zi, const double* Z, int zld,
                                                                   const double* ab, int ld, int i, int b, int ja,
                                                                   int fi, int nfib) {
    int jb = 0;
    for (; jb + 32 <= ja; jb += 32) substitute_block<32, R>(zi, Z, zld, ab, ld, i, b, jb, fi, nfib);
    const int rem = ja - jb;
    if (rem > 24)
      substitute_block<32, R>(zi, Z, zld, ab, ld, i, b, jb, fi, nfib);
    else if (rem > 16)
      substitute_block<24, R>(zi, Z, zld, ab, ld, i, b, jb, fi, nfib);
    else if (rem > 8)
      substitute_block<16, R>(zi, Z, zld, ab, ld, i, b, jb, fi, nfib);
    else if (rem > 0)
      substitute_block<8, R>(zi, Z, zld, ab, ld, i, b, jb, fi, nfib);
  }
  SPECX_HOST_DEVICE static int cover(int ja) { return (ja + 7) / 8 * 8; }

  // One 8 × 8 tile of ZᵀZ: acc[q][l] = Σ_{i0 ≤ i < n} Z[i, jb + l]·Z[i, j2b + q],
  // stored to C[(j2b + q)·nw_max + jb + l] where jb + l ≤ j2b + q < nw (Z is zero
  // beyond nw up to zld, so the tile may read there).
  // Eight named accumulator rows, the column loop innermost: one vector of
  // Z[i, jb..jb+8) times eight broadcasts per row (an acc[8][8] array makes GCC
  // vectorise across q with a permute per FMA).
  SPECX_HOST_DEVICE SPECX_WIDE_VECTORS void syrk_tile(double* C, const double* Z, int zld, int i0, int n, int jb, int j2b,
                                                      int nw) const {
    double a0[8] = {}, a1[8] = {}, a2[8] = {}, a3[8] = {}, a4[8] = {}, a5[8] = {}, a6[8] = {}, a7[8] = {};
    for (int i = i0; i < n; ++i) {
      const double* __restrict u = Z + static_cast<std::ptrdiff_t>(i) * zld + jb;
      const double* __restrict w = Z + static_cast<std::ptrdiff_t>(i) * zld + j2b;
      const double w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7];
      for (int l = 0; l < 8; ++l) {
        const double ul = u[l];
        a0[l] += ul * w0;
        a1[l] += ul * w1;
        a2[l] += ul * w2;
        a3[l] += ul * w3;
        a4[l] += ul * w4;
        a5[l] += ul * w5;
        a6[l] += ul * w6;
        a7[l] += ul * w7;
      }
    }
    const double* acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int q = 0; q < 8 && j2b + q < nw; ++q) {
      double* cr = C + static_cast<std::ptrdiff_t>(j2b + q) * nw_max;
      for (int l = 0; l < 8 && jb + l <= j2b + q; ++l) cr[jb + l] = acc[q][l];
    }
  }

  SPECX_HOST_DEVICE SPECX_WIDE_VECTORS void operator()(std::size_t t) const {
    const int k = items[2 * t], c = items[2 * t + 1];
    const patch_desc p = patches[k];
    double* C = cov + static_cast<std::ptrdiff_t>(t) * nw_max * nw_max;
    const bool ok = status[k] == 0;
    const int nw = ok ? p.nw : 0;
    // The nw × nw block is written below (both triangles); the padding is the identity.
    for (int j = 0; j < nw_max; ++j) {
      double* cj = C + static_cast<std::ptrdiff_t>(j) * nw_max;
      for (int i = j < nw ? nw : 0; i < nw_max; ++i) cj[i] = 0;
      if (j >= nw) cj[j] = 1;
    }
    if (!ok) return;
    const int zld = zstride(nw_max);
    const double* ab = band + static_cast<std::ptrdiff_t>(k) * n_max * ld;
    double* Z = zws + static_cast<std::ptrdiff_t>(t) * n_max * zld;
    const int fi = p.keep0 - p.fib0 + c, nfib = p.nfib, n = p.n, b = ld - 1;
    // Z = L⁻¹ E_f from row fi on, four rows at a time. Every stored value beyond a
    // row's active columns is an exact zero (by induction: (0 − Σ 0·l)/d), so the
    // blocks may run past a row's ja. A group of rows writes columns
    // [0, cover(ja)) and reads those columns of the b rows above it; where those
    // rows were written to a smaller cover (the active width grows by one column
    // every nfib rows), the gap is zeroed when the cover grows. Nothing else of Z
    // is ever read, so the workspace needs no clearing.
    // Rows go in groups of four from fi; the last ≤ 3 rows (or all, if b < 3) one at
    // a time. A group writes the columns its last row needs.
    auto group_last = [&](int r) {
      const int g0 = fi + (r - fi) / 4 * 4;
      return (b >= 3 && g0 + 3 < n) ? g0 + 3 : r;
    };
    auto written = [&](int last) { return cover((last - fi) / nfib + 1); };
    int zc = 0;  // cover of the previous group
    for (int i = fi; i < n;) {
      const int rows = group_last(i) - i + 1;
      const int ja = (i + rows - 1 - fi) / nfib + 1;  // active columns of the last row
      const int cv = written(i + rows - 1);
      if (cv > zc) {
        for (int r = i - b > fi ? i - b : fi; r < i; ++r) {
          double* zr = Z + static_cast<std::ptrdiff_t>(r) * zld;
          for (int j = written(group_last(r)); j < cv; ++j) zr[j] = 0;
        }
        zc = cv;
      }
      double* zi = Z + static_cast<std::ptrdiff_t>(i) * zld;
      if (rows == 4)
        substitute_rows<4>(zi, Z, zld, ab, ld, i, b, ja, fi, nfib);
      else
        substitute_rows<1>(zi, Z, zld, ab, ld, i, b, ja, fi, nfib);
      i += rows;
    }
    // C[j2·nw_max + j] = Σ_i Z[i, j]·Z[i, j2] for j ≤ j2 < nw, by 8 × 8 tiles held
    // in registers over all their rows (a register-tiled SYRK), then mirrored.
    // A tile's sums start at the first row of its first j2 column; the rows where
    // a column is still zero add exact zeros, so every entry is the same terms in
    // the same order (i ascending from 0) as its column dot product.
    for (int jb = 0; jb < nw; jb += 8)
      for (int j2b = jb; j2b < nw; j2b += 8) syrk_tile(C, Z, zld, fi + j2b * nfib, n, jb, j2b, nw);
    for (int j2 = 0; j2 < nw; ++j2)
      for (int j = 0; j < j2; ++j) C[static_cast<std::ptrdiff_t>(j) * nw_max + j2] = C[static_cast<std::ptrdiff_t>(j2) * nw_max + j];
  }
};

/// Output arrays of the frame (backend memory), [nspec, nwave] and
/// [nspec, 2·ndiag+1, nwave].
struct frame_out {
  double* flux;
  double* ivar;
  std::int32_t* mask;
  double* rdata;
  double* chi2pix;
  double* pmf;
  int specmin, nwave, ndiag;
};

/// Resolution, flux and ivar of one kept fiber of one patch from Q (C_ff^(−1/2),
/// or the fiber's rows of (AᵀWA)^(1/2) with full decorrelation):
/// s = Q·1, R = diag(s)⁻¹ Q, flux = R·x, ivar = s² (Bolton & Schlegel 2010, eq. 13),
/// then per Ångström (÷ dλ, ivar × dλ²) and the mask bits.
struct finalize_fn {
  const patch_desc* patches;
  const int* items;
  const double* q;   // per item: Q block (nw_max × nw_max, column-major) or full Q of the patch
  const double* x;
  const double* chi2x;
  const double* pmf;
  const int* status;
  frame_out out;
  int n_max, nw_max;
  bool full;         // q is the full n_max × n_max matrix of the patch (index by patch)
  double dw, somebad, bad2dfit;
  double* sums = nullptr;  // optional [nitem][nw_max]: scratch for the row sums (else recomputed)

  SPECX_HOST_DEVICE double qel(const patch_desc& p, std::size_t t, int k, int fi, int row_j, int u2) const {
    // Element (row of bin row_j of fiber fi, unknown u2) of Q.
    if (full) {
      const double* Q = q + static_cast<std::ptrdiff_t>(k) * n_max * n_max;
      return Q[static_cast<std::ptrdiff_t>(u2) * n_max + row_j * p.nfib + fi];
    }
    const double* Q = q + static_cast<std::ptrdiff_t>(t) * nw_max * nw_max;
    return Q[static_cast<std::ptrdiff_t>(u2) * nw_max + row_j];
  }

  SPECX_HOST_DEVICE double rowsum(const patch_desc& p, std::size_t t, int k, int fi, int j) const {
    double s = 0;
    if (full)
      for (int u = 0; u < p.n; ++u) s += qel(p, t, k, fi, j, u);
    else
      for (int j2 = 0; j2 < p.nw; ++j2) s += qel(p, t, k, fi, j, j2);
    return s;
  }

  // One 8 × 8 tile of ZᵀZ: acc[q][l] = Σ_{i0 ≤ i < n} Z[i, jb + l]·Z[i, j2b + q],
  // stored to C[(j2b + q)·nw_max + jb + l] where jb + l ≤ j2b + q < nw (Z is zero
  // beyond nw up to zld, so the tile may read there).
  SPECX_HOST_DEVICE void syrk_tile(double* C, const double* Z, int zld, int i0, int n, int jb, int j2b, int nw) const {
    double acc[8][8] = {};
    for (int i = i0; i < n; ++i) {
      const double* zi = Z + static_cast<std::ptrdiff_t>(i) * zld;
      const double* u = zi + jb;
      const double* w = zi + j2b;
      for (int q = 0; q < 8; ++q) {
        const double wq = w[q];
        for (int l = 0; l < 8; ++l) acc[q][l] += u[l] * wq;
      }
    }
    for (int q = 0; q < 8 && j2b + q < nw; ++q) {
      double* cr = C + static_cast<std::ptrdiff_t>(j2b + q) * nw_max;
      for (int l = 0; l < 8 && jb + l <= j2b + q; ++l) cr[jb + l] = acc[q][l];
    }
  }

  SPECX_HOST_DEVICE void operator()(std::size_t t) const {
    const int k = items[2 * t], c = items[2 * t + 1];
    const patch_desc p = patches[k];
    const int fi = p.keep0 - p.fib0 + c;
    const int spec = p.keep0 + c - out.specmin;
    // Row sums s = Q·1, each used by up to 2·ndiag + 2 outputs: computed once
    // when scratch is given (the same sums, in the same order).
    double* st = (sums && !full) ? sums + static_cast<std::ptrdiff_t>(t) * nw_max : nullptr;
    if (st && status[k] == 0)
      for (int j = 0; j < p.nw; ++j) st[j] = rowsum(p, t, k, fi, j);
    const double* xk = x + static_cast<std::ptrdiff_t>(k) * n_max;
    const double* cx = chi2x + static_cast<std::ptrdiff_t>(k) * n_max;
    const double* pm = pmf + static_cast<std::ptrdiff_t>(k) * n_max;
    const int nd = 2 * out.ndiag + 1;
    for (int jj = 0; jj < p.nwrite; ++jj) {
      const int j = p.nlo + jj;
      const int ow = p.iw0 + jj;
      const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(spec) * out.nwave + ow;
      const int u = j * p.nfib + fi;
      std::int32_t m = 0;
      double flux = 0, iv = 0;
      const double pmfu = status[k] == 0 ? pm[u] : 1.0;
      if (pmfu > somebad) m |= specmask::somebadpix;
      if (pmfu >= 1.0) m |= specmask::allbadpix;
      double s = 0;
      if (status[k] == 0) s = st ? st[j] : rowsum(p, t, k, fi, j);
      const bool ok = status[k] == 0 && s > 0 && s < 1e300 && !(m & specmask::allbadpix);
      if (ok) {
        double acc = 0;
        if (full)
          for (int u2 = 0; u2 < p.n; ++u2) acc += qel(p, t, k, fi, j, u2) * xk[u2];
        else
          for (int j2 = 0; j2 < p.nw; ++j2) acc += qel(p, t, k, fi, j, j2) * xk[j2 * p.nfib + fi];
        flux = acc / s / dw;
        iv = s * s * dw * dw;
        if (!(flux == flux) || !(iv == iv)) {
          flux = 0;
          iv = 0;
          m |= specmask::nodata;
        }
      } else if (status[k] != 0 || !(s > 0)) {
        m |= specmask::nodata;
      }
      const double chi = status[k] == 0 ? cx[u] : 0.0;
      if (chi > bad2dfit) m |= specmask::bad2dfit;
      out.flux[o] = flux;
      out.ivar[o] = iv;
      out.mask[o] = m;
      out.chi2pix[o] = chi;
      out.pmf[o] = pmfu;
      // RESOLUTION[spec, d, ow] = R[j + d − ndiag, j] (column j's rows; DESI / scipy
      // dia storage), rows outside the patch are 0.
      for (int d = 0; d < nd; ++d) {
        const int row = j + d - out.ndiag;
        double r = 0;
        if (ok && row >= 0 && row < p.nw) {
          const double sr = st ? st[row] : rowsum(p, t, k, fi, row);
          const double qv = full ? qel(p, t, k, fi, row, j * p.nfib + fi) : qel(p, t, k, fi, row, j);
          r = sr != 0 ? qv / sr : 0.0;
        } else if (!ok && d == out.ndiag) {
          r = 1.0;  // unsolved bins: identity row keeps R well defined
        }
        out.rdata[(static_cast<std::ptrdiff_t>(spec) * nd + d) * out.nwave + ow] = r;
      }
    }
  }
};

/// Expands a band matrix to a dense symmetric n_max × n_max matrix (identity on the
/// padding), for full decorrelation.
struct band_to_dense_fn {
  const patch_desc* patches;
  const double* hband;
  double* dense;
  int ld, n_max;
  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const patch_desc p = patches[k];
    const double* ab = hband + static_cast<std::ptrdiff_t>(k) * n_max * ld;
    double* D = dense + static_cast<std::ptrdiff_t>(k) * n_max * n_max;
    for (int i = 0; i < n_max * n_max; ++i) D[i] = 0;
    for (int i = p.n; i < n_max; ++i) D[static_cast<std::ptrdiff_t>(i) * n_max + i] = 1;
    for (int j = 0; j < p.n; ++j)
      for (int d = 0; d < ld && j + d < p.n; ++d) {
        const double v = ab[static_cast<std::ptrdiff_t>(j) * ld + d];
        D[static_cast<std::ptrdiff_t>(j) * n_max + j + d] = v;
        D[static_cast<std::ptrdiff_t>(j + d) * n_max + j] = v;
      }
  }
};

}  // namespace specx::extract::detail
