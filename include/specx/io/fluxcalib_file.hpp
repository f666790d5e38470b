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

/// The arrays of a frame or cframe file.
struct frame_data {
  header keywords;  ///< FLUX keywords
  xt::xtensor<float, 2> flux, ivar;
  xt::xtensor<std::int32_t, 2> mask;
  xt::xtensor<double, 1> wavelength;
  xt::xtensor<float, 3> resolution;
  std::optional<table> fibermap;
  std::string flux_unit = desi_flux_unit;
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

/// Writes a frame/cframe file atomically.
inline void write_frame(const std::string& path, const frame_data& d, bool overwrite = true) {
  const std::vector<std::size_t> s(d.flux.shape().begin(), d.flux.shape().end());
  detail::check_2d(path, "IVAR", {d.ivar.shape().begin(), d.ivar.shape().end()}, s);
  detail::check_2d(path, "MASK", {d.mask.shape().begin(), d.mask.shape().end()}, s);
  if (d.wavelength.size() != s[1]) throw format_error(path, "WAVELENGTH", "", "length differs from nwave");
  if (d.resolution.shape()[0] != s[0] || d.resolution.shape()[2] != s[1] || d.resolution.shape()[1] % 2 != 1)
    throw format_error(path, "RESOLUTION", "", "must be [nspec, ndiag (odd), nwave]");
  write_fits_atomically(path, overwrite, [&](fits_file& f) {
    f.write_image("FLUX", d.flux);
    f.write_header(d.keywords);
    if (!d.flux_unit.empty()) f.write_key("BUNIT", keyword_value(d.flux_unit));
    f.write_checksum();
    f.write_image("IVAR", d.ivar);
    f.write_checksum();
    detail::write_mask_u32(f, "MASK", d.mask);
    f.write_checksum();
    f.write_image("WAVELENGTH", d.wavelength);
    f.write_key("BUNIT", keyword_value(std::string(desi_wavelength_unit)));
    f.write_checksum();
    f.write_image("RESOLUTION", d.resolution);
    f.write_checksum();
    if (d.fibermap) {
      write_table(f, "FIBERMAP", *d.fibermap);
      f.write_checksum();
    }
  });
}

/// Reads a frame/cframe file.
inline frame_data read_frame(const std::string& path) {
  fits_file f(path);
  frame_data d;
  f.move_to("FLUX");
  d.keywords = f.read_header();
  d.flux_unit = f.read_key_opt<std::string>("BUNIT").value_or("");
  d.flux = f.read_image<float, 2>();
  d.ivar = f.read_image<float, 2>("IVAR");
  f.move_to("MASK");
  d.mask = detail::read_mask_image(f);
  d.wavelength = f.read_image<double, 1>("WAVELENGTH");
  d.resolution = f.read_image<float, 3>("RESOLUTION");
  if (f.has_hdu("FIBERMAP")) d.fibermap = read_table(f, "FIBERMAP");
  return d;
}

}  // namespace specx::io
