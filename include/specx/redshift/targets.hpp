// Targets for the redshift scanner: a batch of spectra that share their cameras'
// wavelength grids (a DESI coadd file: b, r, z on fixed grids), each camera with
// its own flux, inverse variance and banded resolution matrix per target.
//
// prepare() applies the pixel masking redrock (and rrdesi) do before fitting:
//   * non-finite flux → flux 0, ivar 0; non-finite or negative ivar → 0
//     (rrdesi zeroes NaN/inf; a negative ivar is invalid data, we zero it too);
//   * ivar ← 0 where MASK ≠ 0 (done by the caller that holds the mask);
//   * ivar ← 0 where a resolution row sums to < 0.99 (redrock's
//     min_resolution_integral: the first/last ndiag/2−3 pixels of a camera) or
//     where the row holds a non-finite value (then the row is zeroed);
//   * rrdesi's sky-line mask: ivar ← 0 for 5572 ≤ λ ≤ 5582 and 9792 ≤ λ ≤ 9795 Å;
//   * rrdesi's negative-flux mask: ivar ← 0 where flux·√ivar < −5.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "../error.hpp"

namespace specx::redshift {

/// One camera's wavelength grid, shared by all targets of a batch.
struct camera_grid {
  std::string band;          ///< "B", "R", "Z", ...
  std::vector<double> wave;  ///< pixel centres (Å), strictly increasing
  std::size_t ndiag = 1;     ///< resolution diagonals (odd); 1 = identity
};

/// Spectra of ntarget targets on common camera grids. Host data, row-major.
struct target_batch {
  std::vector<camera_grid> cameras;
  std::vector<std::int64_t> targetid;  ///< [ntarget]
  /// Per camera c: flux[c], ivar[c] are [ntarget, nwave_c]; resolution[c] is
  /// [ntarget, ndiag_c, nwave_c] in DESI's diagonal storage (row d = offset ndiag/2 − d,
  /// column-indexed: R[j − o_d, j] = res[d, j]).
  std::vector<std::vector<double>> flux, ivar, resolution;

  std::size_t ntarget() const { return targetid.size(); }
  std::size_t ncamera() const { return cameras.size(); }
  std::size_t npix() const {
    std::size_t n = 0;
    for (const auto& c : cameras) n += c.wave.size();
    return n;
  }
  /// Number of pixels with ivar > 0 for target t (redrock's NPIXELS).
  std::size_t npixels(std::size_t t) const {
    std::size_t n = 0;
    for (std::size_t c = 0; c < ncamera(); ++c) {
      const std::size_t nw = cameras[c].wave.size();
      for (std::size_t i = 0; i < nw; ++i) n += ivar[c][t * nw + i] > 0 ? 1 : 0;
    }
    return n;
  }
  /// Appends a camera (all targets' arrays). `resolution` may be empty (identity).
  void add_camera(std::string band, std::vector<double> wave, std::vector<double> f, std::vector<double> iv,
                  std::vector<double> res = {}, std::size_t ndiag = 1) {
    const std::size_t nw = wave.size(), nt = ntarget();
    const std::string where = "specx::redshift::target_batch::add_camera(" + band + "): ";
    if (nw < 2) throw invalid_argument(where + "need at least 2 pixels");
    for (std::size_t i = 1; i < nw; ++i)
      if (!(wave[i] > wave[i - 1])) throw invalid_argument(where + "wavelengths must be strictly increasing");
    if (f.size() != nt * nw || iv.size() != nt * nw)
      throw invalid_argument(where + "flux/ivar must be [ntarget, nwave] = [" + std::to_string(nt) + ", " +
                             std::to_string(nw) + "]");
    if (res.empty()) {
      ndiag = 1;
      res.assign(nt * nw, 1.0);
    }
    if (ndiag % 2 == 0 || res.size() != nt * ndiag * nw)
      throw invalid_argument(where + "resolution must be [ntarget, ndiag (odd), nwave]");
    cameras.push_back({std::move(band), std::move(wave), ndiag});
    flux.push_back(std::move(f));
    ivar.push_back(std::move(iv));
    resolution.push_back(std::move(res));
  }
};

/// Pixel masks applied by prepare() (rrdesi defaults).
struct prepare_options {
  double min_resolution_integral = 0.99;  ///< redrock constants.min_resolution_integral
  /// [λ0, λ1] windows (Å) whose ivar is zeroed (rrdesi's sky-line mask).
  std::vector<std::pair<double, double>> sky_mask = {{5572.0, 5582.0}, {9792.0, 9795.0}};
  double negflux_nsig = 5.0;  ///< ivar ← 0 where flux·√ivar < −nsig (≤ 0 disables)
};

/// Applies the masks listed in the file comment, in place. Never throws on data
/// values (bad values are masked); throws invalid_argument on inconsistent shapes.
inline void prepare(target_batch& tb, const prepare_options& opt = {}) {
  const std::size_t nt = tb.ntarget();
  if (tb.flux.size() != tb.ncamera() || tb.ivar.size() != tb.ncamera() || tb.resolution.size() != tb.ncamera())
    throw invalid_argument("specx::redshift::prepare: per-camera arrays do not match the camera list");
  for (std::size_t c = 0; c < tb.ncamera(); ++c) {
    const auto& cam = tb.cameras[c];
    const std::size_t nw = cam.wave.size(), nd = cam.ndiag;
    const long h = static_cast<long>(nd / 2);
    if (tb.flux[c].size() != nt * nw || tb.ivar[c].size() != nt * nw || tb.resolution[c].size() != nt * nd * nw)
      throw invalid_argument("specx::redshift::prepare: camera " + cam.band + " has inconsistent array sizes");
    std::vector<char> sky(nw, 0);
    for (std::size_t i = 0; i < nw; ++i)
      for (const auto& [a, b] : opt.sky_mask)
        if (cam.wave[i] >= a && cam.wave[i] <= b) sky[i] = 1;
    for (std::size_t t = 0; t < nt; ++t) {
      double* f = tb.flux[c].data() + t * nw;
      double* iv = tb.ivar[c].data() + t * nw;
      double* r = tb.resolution[c].data() + t * nd * nw;
      for (std::size_t i = 0; i < nw; ++i) {
        if (!std::isfinite(f[i])) {
          f[i] = 0;
          iv[i] = 0;
        }
        if (!std::isfinite(iv[i]) || iv[i] < 0) iv[i] = 0;
        if (sky[i]) iv[i] = 0;
        if (opt.negflux_nsig > 0 && f[i] * std::sqrt(iv[i]) < -opt.negflux_nsig) iv[i] = 0;
        // Row i of R: elements R[i, i + o_d] stored at (d, i + o_d), o_d = h − d.
        double rowsum = 0;
        bool finite = true;
        for (std::size_t d = 0; d < nd; ++d) {
          const long j = static_cast<long>(i) + h - static_cast<long>(d);
          if (j < 0 || j >= static_cast<long>(nw)) continue;
          const double v = r[d * nw + static_cast<std::size_t>(j)];
          if (!std::isfinite(v)) finite = false;
          else rowsum += v;
        }
        if (!finite) {
          for (std::size_t d = 0; d < nd; ++d) {
            const long j = static_cast<long>(i) + h - static_cast<long>(d);
            if (j >= 0 && j < static_cast<long>(nw)) r[d * nw + static_cast<std::size_t>(j)] = 0;
          }
          iv[i] = 0;
        } else if (rowsum < opt.min_resolution_integral) {
          iv[i] = 0;
        }
      }
      // Entries of the storage outside the matrix (j − o_d out of range) are never
      // read; clear non-finite ones so no NaN can reach a product.
      for (std::size_t k = 0; k < nd * nw; ++k)
        if (!std::isfinite(r[k])) r[k] = 0;
    }
  }
}

}  // namespace specx::redshift
