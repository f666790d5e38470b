// The spectrograph-level steps of a night (docs/pipeline.md): flux calibration of
// one exposure's cameras together (the standard stars are fitted over b, r, z at
// once), and the coadd of a night's calibrated exposures per camera into a DESI
// spectra/coadd file, which the redshift scanner reads in memory. Generic over the
// backend; frames travel as io::frame_data (host), uploaded once per step.
#pragma once

#include <cctype>
#include <span>
#include <string>
#include <vector>

#include "../backend.hpp"
#include "../coadd.hpp"
#include "../coadd/io.hpp"
#include "../error.hpp"
#include "../fluxcalib.hpp"
#include "../io.hpp"
#include "camera.hpp"

namespace specx::pipeline {

/// A frame's arrays as a spectra-file band named `name` (copies).
inline io::band_data band_of(const io::frame_data& fr, std::string name) {
  io::band_data b;
  b.name = std::move(name);
  for (auto& ch : b.name) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  b.wavelength = fr.wavelength;
  b.flux = fr.flux;
  b.ivar = fr.ivar;
  b.mask = fr.mask;
  b.resolution = fr.resolution;
  return b;
}

/// Standard stars of the frames: their rows and catalogue photometry (AB magnitudes
/// in the filters of flux_calibration::stdstar.filters).
struct standard_stars {
  std::vector<int> rows;
  std::vector<fluxcalib::star_photometry> photometry;
};

/// What flux calibration needs besides the frames: the stellar model grid and the
/// options of the star fit and of the calibration vector (airmass, extinction).
struct flux_calibration {
  fluxcalib::stellar_grid grid;
  fluxcalib::stdstar_options stdstar;
  fluxcalib::calibration_options calib;
};

/// The per-camera result of flux_calibrate.
template <class B>
struct camera_calibration {
  std::string band;
  fluxcalib::calibration<B> calibration;
};

/// One exposure's sky-subtracted, flat-fielded frames (electrons/Å; `bands` names
/// them, e.g. {"b", "r", "z"}) → calibrated frames in place (cframes: FLUX, IVAR in
/// 1e-17 erg/s/cm²/Å, MASK gains NODATA where no calibration exists). The standard
/// stars are fitted once over all cameras. Returns the standard-star fits and each
/// camera's calibration (for the DESI fluxcalib file). Throws invalid_argument on
/// mismatched inputs (number of bands, star rows outside the frames).
template <backend::Backend B>
std::pair<std::vector<fluxcalib::star_fit>, std::vector<camera_calibration<B>>> flux_calibrate(
    B be, std::span<io::frame_data* const> frames, std::span<const std::string> bands, const standard_stars& stars,
    const flux_calibration& fc, step_times& times) {
  const std::string fn = "specx::pipeline::flux_calibrate: ";
  if (frames.empty() || frames.size() != bands.size()) throw invalid_argument(fn + "one band name per frame is needed");
  if (stars.rows.size() != stars.photometry.size())
    throw invalid_argument(fn + "one photometry entry per standard star is needed");
  detail::scoped_timer t(times.fluxcalib);
  std::vector<coadd::spectra<B, float>> dev;
  std::vector<fluxcalib::camera_frame<float>> cams;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    for (int r : stars.rows)
      if (r < 0 || r >= int(frames[k]->nspec()))
        throw invalid_argument(fn + "standard star row " + std::to_string(r) + " is outside frame " + bands[k]);
    dev.push_back(coadd::upload(be, band_of(*frames[k], bands[k])));
  }
  for (std::size_t k = 0; k < frames.size(); ++k) {
    const auto& d = dev[k];
    fluxcalib::frame_view<float> v{backend::raw(be, d.flux), backend::raw(be, d.ivar), backend::raw(be, d.mask),
                                   d.resolution.view(), d.nspec, d.nwave};
    cams.push_back({bands[k], d.wave, v});
  }
  auto fits = fluxcalib::fit_standard_stars(be, cams, std::span<const int>(stars.rows),
                                            std::span<const fluxcalib::star_photometry>(stars.photometry), fc.grid,
                                            fc.stdstar);
  std::vector<camera_calibration<B>> cals;
  for (std::size_t k = 0; k < frames.size(); ++k) {
    auto cal = fluxcalib::compute_calibration(be, cams[k], std::span<const int>(stars.rows),
                                              std::span<const fluxcalib::star_fit>(fits), fc.grid, fc.calib);
    const auto out = fluxcalib::apply_calibration(be, cams[k].data, cal);
    auto& fr = *frames[k];
    const auto f = backend::to_host(be, out.flux), iv = backend::to_host(be, out.ivar);
    const auto m = backend::to_host(be, out.mask);
    std::copy(f.begin(), f.end(), fr.flux.begin());
    std::copy(iv.begin(), iv.end(), fr.ivar.begin());
    std::copy(m.begin(), m.end(), fr.mask.begin());
    fr.flux_unit = io::desi_flux_unit;
    cals.push_back({bands[k], std::move(cal)});
  }
  return {std::move(fits), std::move(cals)};
}

/// A night's calibrated frames, frames[exposure][camera] (every exposure with the
/// same cameras, fibers and grids, named by `bands`) → one DESI coadd: per camera
/// the inverse-variance weighted mean over exposures with cosmic clipping and the
/// resolution rows combined with the same weights. `fibermap` (one row per fiber,
/// TARGETID at least) becomes the FIBERMAP. Throws invalid_argument on mismatched
/// exposures.
template <backend::Backend B>
io::spectra_data coadd_night(B be, const std::vector<std::vector<io::frame_data>>& frames,
                             std::span<const std::string> bands, const io::table& fibermap, step_times& times,
                             const coadd::exposure_options& opt = {}) {
  const std::string fn = "specx::pipeline::coadd_night: ";
  if (frames.empty()) throw invalid_argument(fn + "no exposures");
  detail::scoped_timer t(times.coadd);
  io::spectra_data out;
  out.fibermap = fibermap;
  for (std::size_t c = 0; c < bands.size(); ++c) {
    std::vector<coadd::spectra<B, float>> dev;
    std::vector<coadd::spectra_view<float>> views;
    for (const auto& e : frames) {
      if (e.size() != bands.size()) throw invalid_argument(fn + "every exposure needs one frame per band");
      dev.push_back(coadd::upload(be, band_of(e[c], bands[c])));
    }
    for (const auto& d : dev) views.push_back(coadd::view_of(d));
    const auto s = coadd::coadd_exposures(be, std::span<const coadd::spectra_view<float>>(views),
                                          std::span<const double>(dev.front().wave), {}, opt);
    out.bands.push_back(coadd::to_band(be, s, bands[c]));
  }
  if (fibermap.nrows() != out.nspec())
    throw invalid_argument(fn + "the fibermap has " + std::to_string(fibermap.nrows()) + " rows for " +
                           std::to_string(out.nspec()) + " spectra");
  return out;
}

}  // namespace specx::pipeline
