// The reduction chain of one camera exposure (docs/pipeline.md): raw → preproc →
// extraction → frame; a flat-lamp frame → fiber flat; a science frame → fiber
// flat applied → sky model fitted on the sky fibers and subtracted. Each step is
// one library call; these functions wire them, carry DESI's keywords from the raw
// header to the frame and time the steps. Generic over the backend and the PSF.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../error.hpp"
#include "../extract.hpp"
#include "../fiberflat.hpp"
#include "../io.hpp"
#include "../preproc.hpp"
#include "../sky.hpp"

namespace specx::pipeline {

/// Wall seconds spent per step, accumulated over calls.
struct step_times {
  double preproc = 0, extract = 0, fiberflat = 0, sky = 0, fluxcalib = 0, coadd = 0, redshift = 0;
};

namespace detail {
/// Adds the seconds since construction to a step_times member on destruction.
class scoped_timer {
 public:
  explicit scoped_timer(double& acc) : acc_(acc), t0_(std::chrono::steady_clock::now()) {}
  ~scoped_timer() { acc_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
  scoped_timer(const scoped_timer&) = delete;
  scoped_timer& operator=(const scoped_timer&) = delete;

 private:
  double& acc_;
  std::chrono::steady_clock::time_point t0_;
};

inline void copy_keyword(const io::header& from, io::header& to, const std::string& name) {
  if (const auto* k = io::find_keyword(from, name)) to.push_back(*k);
}
}  // namespace detail

/// What to extract and how: fibers [specmin, specmin + nspec) of the PSF on the
/// linear output grid `wave` (Å), with each step's options.
struct camera_options {
  int specmin = 0, nspec = 0;
  std::vector<double> wave;
  preproc::options preproc;
  extract::options extract;
  int trace_inverse_degree = 9;  ///< Legendre degree of the y → λ inverse used for patch padding
  fiberflat::options fiberflat;
  sky::options sky;
};

/// Raw camera HDU (ADU image + header with the amplifier keywords) → preprocessed
/// image (IMAGE electrons, IVAR, MASK; docs/calibration.md#preprocessing).
template <backend::Backend B>
preproc::image preprocess_raw(B be, const xt::xtensor<std::uint16_t, 2>& raw, const io::header& header,
                              const camera_options& opt, step_times& times, const std::string& source = "raw") {
  detail::scoped_timer t(times.preproc);
  const auto amps = io::amplifiers_from_header(header, source);
  return preproc::preprocess(be, raw, amps, opt.preproc);
}

/// A preprocessed image → extracted frame (DESI frame semantics: FLUX electrons/Å,
/// IVAR, MASK, WAVELENGTH, RESOLUTION, CHI2PIX; primary keywords CAMERA, EXPID,
/// NIGHT, EXPTIME, FLAVOR, ... copied from the raw `header`). `source` names the
/// input in errors.
template <backend::Backend B, psf::Psf P>
io::frame_data extract_image(B be, const P& psf, const extract::image_view& img, const io::header& header,
                             const camera_options& opt, step_times& times, const std::string& source = "image") {
  if (opt.nspec <= 0 || opt.wave.size() < 2)
    throw invalid_argument("specx::pipeline::extract_image(" + source + "): no fibers or no wavelength grid to extract");
  detail::scoped_timer t(times.extract);
  const extract::trace_inverse inv(psf, opt.trace_inverse_degree);
  const auto r = extract::extract_frame(be, psf, img, opt.specmin, opt.nspec, opt.wave, inv, opt.extract);
  io::frame_data fr;
  for (const char* k : {"CAMERA", "EXPID", "NIGHT", "EXPTIME", "FLAVOR", "OBSTYPE", "DATE-OBS", "AIRMASS", "SPECGRPH"})
    detail::copy_keyword(header, fr.primary, k);
  fr.primary.push_back({"SPECMIN", std::int64_t(opt.specmin), "First extracted fiber"});
  fr.primary.push_back({"SPECMAX", std::int64_t(opt.specmin + opt.nspec - 1), "Last extracted fiber"});
  fr.flux = xt::cast<float>(r.flux);
  fr.ivar = xt::cast<float>(r.ivar);
  fr.mask = r.mask;
  fr.wavelength = r.wavelength;
  fr.resolution = xt::cast<float>(r.resolution);
  fr.chi2pix = xt::xtensor<float, 2>(xt::cast<float>(r.chi2pix));
  fr.source = source;
  return fr;
}

/// preprocess_raw, then extract_image.
template <backend::Backend B, psf::Psf P>
io::frame_data extract_raw(B be, const P& psf, const xt::xtensor<std::uint16_t, 2>& raw, const io::header& header,
                           const camera_options& opt, step_times& times, const std::string& source = "raw") {
  const auto img = preprocess_raw(be, raw, header, opt, times, source);
  return extract_image(be, psf, extract::view_of(img.pix, img.ivar, &img.mask), header, opt, times, source);
}

/// The mutable frame_view of a frame's arrays (flux, ivar, mask, wavelength, resolution).
inline frame_view<float> view_of(io::frame_data& fr) {
  return make_frame_view(fr.flux, fr.ivar, fr.mask, fr.wavelength, fr.resolution);
}

/// The fiber flat of an extracted flat-lamp frame.
template <backend::Backend B>
fiberflat::result compute_fiberflat(B be, io::frame_data& flat, const camera_options& opt, step_times& times) {
  detail::scoped_timer t(times.fiberflat);
  return fiberflat::compute(be, view_of(flat), opt.fiberflat);
}

/// A science frame in place: divided by the fiber flat, then the sky fitted on
/// `sky_fibers` (rows of the frame) and subtracted from every fiber. Returns the
/// sky model (DESI sky file content). Throws invalid_argument when the flat and
/// the frame disagree in shape or grid, or when no sky fiber is given.
template <backend::Backend B>
sky::result calibrate_science(B be, io::frame_data& frame, const fiberflat::fiberflat_data& flat,
                              std::span<const int> sky_fibers, const camera_options& opt, step_times& times) {
  const auto v = view_of(frame);
  {
    detail::scoped_timer t(times.fiberflat);
    fiberflat::apply(be, v, flat);
  }
  detail::scoped_timer t(times.sky);
  auto s = sky::compute(be, v, sky_fibers, opt.sky);
  sky::subtract(be, v, s);
  return s;
}

}  // namespace specx::pipeline
