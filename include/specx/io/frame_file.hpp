// DESI frame files (desispec.io.write_frame / read_frame layout): the extracted
// spectra of one camera of one exposure.
//   HDU 0 FLUX        f32 [nspec, nwave]  (primary HDU, EXTNAME = FLUX, with the frame keywords)
//   IVAR              f32 [nspec, nwave]
//   MASK              uint32 [nspec, nwave] (BZERO 2^31; GZIP_1 tile-compressed as DESI writes it)
//   WAVELENGTH        f64 [nwave]  Å
//   RESOLUTION        f32 [nspec, ndiag, nwave]  (scipy dia storage, offsets ndiag/2 … −ndiag/2)
//   FIBERMAP          binary table, one row per spectrum (optional)
//   CHI2PIX           f32 [nspec, nwave]
// Arrays are row-major (C order) with numpy's shapes.
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

/// The contents of a frame file.
struct frame_data {
  header primary;                        ///< keywords of the FLUX (primary) HDU: CAMERA, EXPID, ...
  xt::xtensor<float, 2> flux;            ///< electrons/Å (uncalibrated frames)
  xt::xtensor<float, 2> ivar;
  xt::xtensor<std::int32_t, 2> mask;     ///< bit pattern of DESI's uint32 specmask
  xt::xtensor<double, 1> wavelength;
  xt::xtensor<float, 3> resolution;
  std::optional<table> fibermap;
  std::optional<xt::xtensor<float, 2>> chi2pix;
  std::string flux_unit = "electron/Angstrom";
  std::string source;  ///< file it was read from

  std::size_t nspec() const { return flux.shape()[0]; }
  std::size_t nwave() const { return wavelength.size(); }
};

namespace detail {
inline void check_frame(const std::string& file, const frame_data& fr) {
  const auto nw = fr.wavelength.size();
  if (fr.flux.shape()[1] != nw)
    throw format_error(file, "FLUX", "", "FLUX has " + std::to_string(fr.flux.shape()[1]) + " wavelengths, WAVELENGTH " +
                                             std::to_string(nw));
  if (fr.ivar.shape() != fr.flux.shape()) throw format_error(file, "IVAR", "", "IVAR shape differs from FLUX");
  if (fr.mask.shape() != fr.flux.shape()) throw format_error(file, "MASK", "", "MASK shape differs from FLUX");
  const auto& r = fr.resolution.shape();
  if (r[0] != fr.flux.shape()[0] || r[2] != nw || r[1] % 2 != 1)
    throw format_error(file, "RESOLUTION", "", "RESOLUTION must be [nspec, odd ndiag, nwave]");
  if (fr.chi2pix && fr.chi2pix->shape() != fr.flux.shape())
    throw format_error(file, "CHI2PIX", "", "CHI2PIX shape differs from FLUX");
  if (fr.fibermap && fr.fibermap->nrows() != fr.flux.shape()[0])
    throw format_error(file, "FIBERMAP", "", "FIBERMAP has " + std::to_string(fr.fibermap->nrows()) +
                                                 " rows but there are " + std::to_string(fr.flux.shape()[0]) + " spectra");
}
}  // namespace detail

/// Writes a frame file atomically (write_fits_atomically), in desispec's layout
/// (shapes validated first: format_error, nothing written).
inline void write_frame(const std::string& path, const frame_data& fr, bool overwrite = true) {
  detail::check_frame(path, fr);
  write_fits_atomically(path, overwrite, [&](fits_file& f) {
    f.write_image("FLUX", fr.flux);
    f.write_header(fr.primary);
    if (!fr.flux_unit.empty()) f.write_key("BUNIT", keyword_value(fr.flux_unit));
    f.write_checksum();
    f.write_image("IVAR", fr.ivar);
    if (!fr.flux_unit.empty()) f.write_key("BUNIT", keyword_value("(" + fr.flux_unit + ")^-2"));
    f.write_checksum();
    xt::xtensor<std::uint32_t, 2> u(fr.mask.shape());
    std::transform(fr.mask.begin(), fr.mask.end(), u.begin(), [](std::int32_t x) { return std::bit_cast<std::uint32_t>(x); });
    f.write_image("MASK", u, image_options{compression::gzip1});
    f.write_checksum();
    f.write_image("WAVELENGTH", fr.wavelength);
    f.write_key("BUNIT", keyword_value("Angstrom"));
    f.write_checksum();
    f.write_image("RESOLUTION", fr.resolution);
    f.write_checksum();
    if (fr.fibermap) {
      write_table(f, "FIBERMAP", *fr.fibermap);
      f.write_checksum();
    }
    if (fr.chi2pix) {
      f.write_image("CHI2PIX", *fr.chi2pix);
      f.write_checksum();
    }
  });
}

/// Reads a frame file (ours or DESI's). FIBERMAP and CHI2PIX may be absent.
inline frame_data read_frame(const std::string& path) {
  fits_file f(path);
  frame_data fr;
  fr.source = path;
  f.move_to("FLUX");
  fr.primary = f.read_header();
  fr.flux_unit = f.read_key_opt<std::string>("BUNIT").value_or("");
  fr.flux = f.read_image<float, 2>();
  fr.ivar = f.read_image<float, 2>("IVAR");
  f.move_to("MASK");
  fr.mask = detail::read_mask_image(f);
  fr.wavelength = f.read_image<double, 1>("WAVELENGTH");
  fr.resolution = f.read_image<float, 3>("RESOLUTION");
  if (f.has_hdu("FIBERMAP")) fr.fibermap = read_table(f, "FIBERMAP");
  if (f.has_hdu("CHI2PIX")) fr.chi2pix = f.read_image<float, 2>("CHI2PIX");
  detail::check_frame(path, fr);
  return fr;
}

}  // namespace specx::io
