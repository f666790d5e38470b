// DESI fluxcalib and (c)frame files (desispec.io.fluxcalibration, desispec.io.frame).
//
// fluxcalib-CAMERA-EXPID.fits: FLUXCALIB (primary, f32 [nspec, nwave], BUNIT
// "10**+17 cm2 count s / erg"), IVAR (f32), MASK (uint32 as int32 bits),
// WAVELENGTH (f64 [nwave], Angstrom).
// cframe-CAMERA-EXPID.fits (a frame): FLUX (primary, f32 [nspec, nwave], BUNIT
// "10**-17 erg/(s cm2 Angstrom)"), IVAR, MASK, WAVELENGTH, RESOLUTION (f32
// [nspec, ndiag, nwave]), optional FIBERMAP table. Arrays row-major.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>

#include <xtensor/xtensor.hpp>

#include "fits.hpp"
#include "frame_file.hpp"
#include "spectra_file.hpp"
#include "table.hpp"

namespace specx::io {

inline constexpr const char* desi_fluxcalib_unit = "10**+17 cm2 count s / erg";

/// The arrays of a fluxcalib file.
struct fluxcalib_data {
  header keywords;  ///< FLUXCALIB keywords
  xt::xtensor<float, 2> calib, ivar;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<double, 1> wavelength;
};

namespace detail {
inline void write_mask_u32(fits_file& f, const std::string& name, const xt::xtensor<std::int32_t, 2>& m) {
  xt::xtensor<std::uint32_t, 2> u(m.shape());
  std::transform(m.begin(), m.end(), u.begin(), [](std::int32_t x) { return std::bit_cast<std::uint32_t>(x); });
  f.write_image(name, u, image_options{compression::gzip1});
}
inline void check_2d(const std::string& path, const char* what, const std::vector<std::size_t>& a,
                     const std::vector<std::size_t>& b) {
  if (a != b) throw format_error(path, what, "", "shape differs from the flux/calibration shape");
}
}  // namespace detail

/// Writes a fluxcalib file atomically (format_error on inconsistent shapes).
inline void write_fluxcalib(const std::string& path, const fluxcalib_data& d, bool overwrite = true) {
  const std::vector<std::size_t> s(d.calib.shape().begin(), d.calib.shape().end());
  detail::check_2d(path, "IVAR", {d.ivar.shape().begin(), d.ivar.shape().end()}, s);
  detail::check_2d(path, "MASK", {d.mask.shape().begin(), d.mask.shape().end()}, s);
  if (d.wavelength.size() != s[1]) throw format_error(path, "WAVELENGTH", "", "length differs from nwave");
  write_fits_atomically(path, overwrite, [&](fits_file& f) {
    f.write_image("FLUXCALIB", d.calib);
    f.write_header(d.keywords);
    f.write_key("BUNIT", keyword_value(std::string(desi_fluxcalib_unit)));
    f.write_checksum();
    f.write_image("IVAR", d.ivar);
    f.write_checksum();
    detail::write_mask_u32(f, "MASK", d.mask);
    f.write_checksum();
    f.write_image("WAVELENGTH", d.wavelength);
    f.write_key("BUNIT", keyword_value(std::string(desi_wavelength_unit)));
    f.write_checksum();
  });
}

/// Reads a fluxcalib file (missing_entry / format_error naming the HDU).
inline fluxcalib_data read_fluxcalib(const std::string& path) {
  fits_file f(path);
  fluxcalib_data d;
  f.move_to("FLUXCALIB");
  d.keywords = f.read_header();
  d.calib = f.read_image<float, 2>();
  d.ivar = f.read_image<float, 2>("IVAR");
  f.move_to("MASK");
  d.mask = detail::read_mask_image(f);
  d.wavelength = f.read_image<double, 1>("WAVELENGTH");
  return d;
}

// cframe files have the frame layout: io::write_frame / io::read_frame
// (frame_file.hpp) with flux_unit = desi_flux_unit.

}  // namespace specx::io
