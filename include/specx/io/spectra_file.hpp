// Reader and writer of DESI spectra and coadd files (desispec.io.read_spectra /
// write_spectra layout): FIBERMAP [, EXP_FIBERMAP], then per band
// {BAND}_WAVELENGTH, _FLUX, _IVAR, _MASK, _RESOLUTION [, SCORES].
// Arrays are row-major (C order) with numpy's shapes. Details: docs/formats.md.
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "fits.hpp"
#include "table.hpp"

namespace specx::io {

/// BUNIT strings DESI writes for flux-calibrated spectra.
inline constexpr const char* desi_wavelength_unit = "Angstrom";
inline constexpr const char* desi_flux_unit = "10**-17 erg/(s cm2 Angstrom)";
inline constexpr const char* desi_ivar_unit = "10**+34 (s2 cm4 Angstrom2) / erg2";

/// The arrays of one band (camera arm) of a spectra file.
struct band_data {
  std::string name;                    ///< band letter(s) as in the EXTNAMEs ("B", "R", "Z")
  xt::xtensor<double, 1> wavelength;   ///< [nwave], Angstrom
  xt::xtensor<float, 2> flux;          ///< [nspec, nwave]
  xt::xtensor<float, 2> ivar;          ///< [nspec, nwave]
  std::optional<xt::xtensor<std::int32_t, 2>> mask;      ///< [nspec, nwave]; bit pattern of DESI's uint32
  std::optional<xt::xtensor<float, 3>> resolution;       ///< [nspec, ndiag, nwave], DESI diagonal storage
  /// BUNIT of WAVELENGTH, FLUX, IVAR as read (empty if absent); written when non-empty.
  std::string wavelength_unit = desi_wavelength_unit, flux_unit = desi_flux_unit, ivar_unit = desi_ivar_unit;

  std::size_t nspec() const { return flux.shape()[0]; }
  std::size_t nwave() const { return wavelength.size(); }
};

/// A whole spectra or coadd file. Optional HDUs that are absent stay empty.
struct spectra_data {
  header primary;                       ///< primary-HDU keywords
  std::optional<table> fibermap;        ///< FIBERMAP, one row per spectrum
  std::optional<table> exp_fibermap;    ///< EXP_FIBERMAP (coadds), one row per exposure
  std::optional<table> scores;          ///< SCORES, one row per spectrum
  std::vector<band_data> bands;         ///< in file order

  std::size_t nspec() const { return bands.empty() ? (fibermap ? fibermap->nrows() : 0) : bands.front().nspec(); }
  bool has_band(const std::string& name) const {
    for (const auto& b : bands)
      if (detail::upper(b.name) == detail::upper(name)) return true;
    return false;
  }
  /// The band `name` (case-insensitive: "b" or "B"); missing_entry if absent.
  const band_data& band(const std::string& name) const {
    for (const auto& b : bands)
      if (detail::upper(b.name) == detail::upper(name)) return b;
    throw missing_entry(source, detail::upper(name) + "_FLUX", "", "no such band");
  }
  std::string source;  ///< the file it was read from (for messages)
};

/// Options of write_spectra.
struct spectra_write_options {
  bool overwrite = true;       ///< replace an existing file (atomically); false: io_error if it exists
  bool compress_mask = false;  ///< write {BAND}_MASK tile-compressed (GZIP_1), as DESI's spectra files do
  bool checksum = true;        ///< write CHECKSUM/DATASUM in every HDU, as DESI does
};

namespace detail {

/// Reads a MASK image as int32 bit patterns: DESI stores masks as uint32 (BITPIX 32,
/// BZERO 2^31), which is reinterpreted bit-for-bit; int8/16/32 masks are widened.
inline xt::xtensor<std::int32_t, 2> read_mask_image(fits_file& f) {
  const int eq = f.image_equivalent_bitpix();
  if (eq == ULONG_IMG) {
    auto u = f.read_image<std::uint32_t, 2>();
    xt::xtensor<std::int32_t, 2> out(u.shape());
    std::transform(u.begin(), u.end(), out.begin(), [](std::uint32_t x) { return std::bit_cast<std::int32_t>(x); });
    return out;
  }
  if (eq == FLOAT_IMG || eq == DOUBLE_IMG || eq == LONGLONG_IMG || eq == ULONGLONG_IMG)
    throw format_error(f.name(), f.hdu_label(), "", "MASK must be an integer image of at most 32 bits");
  return f.read_image<std::int32_t, 2>();
}

inline void check_band(const std::string& file, const band_data& b) {
  const std::string B = b.name;
  const auto nw = b.wavelength.size();
  if (b.flux.shape()[1] != nw)
    throw format_error(file, B + "_FLUX", "",
                       "FLUX has " + std::to_string(b.flux.shape()[1]) + " wavelengths but " + B + "_WAVELENGTH has " +
                           std::to_string(nw));
  if (b.ivar.shape() != b.flux.shape())
    throw format_error(file, B + "_IVAR", "", "IVAR shape differs from FLUX shape");
  if (b.mask && b.mask->shape() != b.flux.shape())
    throw format_error(file, B + "_MASK", "", "MASK shape differs from FLUX shape");
  if (b.resolution) {
    const auto& s = b.resolution->shape();
    if (s[0] != b.flux.shape()[0])
      throw format_error(file, B + "_RESOLUTION", "",
                         "RESOLUTION has " + std::to_string(s[0]) + " spectra but FLUX has " +
                             std::to_string(b.flux.shape()[0]));
    if (s[2] != nw)
      throw format_error(file, B + "_RESOLUTION", "",
                         "RESOLUTION has " + std::to_string(s[2]) + " wavelengths but WAVELENGTH has " +
                             std::to_string(nw));
    if (s[1] % 2 != 1)
      throw format_error(file, B + "_RESOLUTION", "",
                         "RESOLUTION must have an odd number of diagonals, found " + std::to_string(s[1]));
  }
}

inline void check_spectra(const std::string& file, const spectra_data& s) {
  std::optional<std::size_t> nspec;
  for (const auto& b : s.bands) {
    check_band(file, b);
    if (nspec && b.nspec() != *nspec)
      throw format_error(file, b.name + "_FLUX", "",
                         "band " + b.name + " has " + std::to_string(b.nspec()) + " spectra, other bands have " +
                             std::to_string(*nspec));
    nspec = b.nspec();
  }
  if (nspec && s.fibermap && s.fibermap->nrows() != *nspec)
    throw format_error(file, "FIBERMAP", "",
                       "FIBERMAP has " + std::to_string(s.fibermap->nrows()) + " rows but there are " +
                           std::to_string(*nspec) + " spectra");
  if (nspec && s.scores && s.scores->nrows() != *nspec)
    throw format_error(file, "SCORES", "",
                       "SCORES has " + std::to_string(s.scores->nrows()) + " rows but there are " +
                           std::to_string(*nspec) + " spectra");
}

}  // namespace detail

/// Reads a DESI spectra or coadd file. Bands are found from the {BAND}_FLUX HDUs;
/// each needs {BAND}_WAVELENGTH and {BAND}_IVAR; MASK and RESOLUTION may be absent
/// (then nullopt), as may FIBERMAP, EXP_FIBERMAP and SCORES. Shapes are checked
/// against each other (format_error naming the HDU).
inline spectra_data read_spectra(const std::string& path) {
  fits_file f(path);
  spectra_data s;
  s.source = path;
  f.move_to(0);
  s.primary = f.read_header();
  const auto names = f.hdu_names();
  if (f.has_hdu("FIBERMAP")) s.fibermap = read_table(f, "FIBERMAP");
  if (f.has_hdu("EXP_FIBERMAP")) s.exp_fibermap = read_table(f, "EXP_FIBERMAP");
  if (f.has_hdu("SCORES")) s.scores = read_table(f, "SCORES");
  for (const auto& n : names) {
    const std::string u = detail::upper(n);
    if (u.size() <= 5 || u.compare(u.size() - 5, 5, "_FLUX") != 0) continue;
    band_data b;
    b.name = u.substr(0, u.size() - 5);
    const std::string B = b.name;
    auto unit = [&]() { return f.read_key_opt<std::string>("BUNIT").value_or(""); };
    f.move_to(B + "_WAVELENGTH");
    b.wavelength = f.read_image<double, 1>();
    b.wavelength_unit = unit();
    f.move_to(B + "_FLUX");
    b.flux = f.read_image<float, 2>();
    b.flux_unit = unit();
    f.move_to(B + "_IVAR");
    b.ivar = f.read_image<float, 2>();
    b.ivar_unit = unit();
    if (f.has_hdu(B + "_MASK")) {
      f.move_to(B + "_MASK");
      b.mask = detail::read_mask_image(f);
    }
    if (f.has_hdu(B + "_RESOLUTION")) b.resolution = f.read_image<float, 3>(B + "_RESOLUTION");
    s.bands.push_back(std::move(b));
  }
  if (s.bands.empty()) throw missing_entry(path, "", "", "no {BAND}_FLUX HDU: not a spectra or coadd file");
  detail::check_spectra(path, s);
  return s;
}

/// Writes `s` to `path` in DESI's layout (atomically: see write_fits_atomically):
/// empty primary with s.primary keywords, FIBERMAP, EXP_FIBERMAP, then per band
/// WAVELENGTH (f64), FLUX, IVAR (f32), MASK (uint32 with BZERO 2^31, like DESI;
/// optionally GZIP_1 tile-compressed), RESOLUTION (f32), then SCORES. BUNIT is
/// written for WAVELENGTH/FLUX/IVAR when the band's unit string is non-empty.
/// Shapes are validated first (format_error, nothing written).
inline void write_spectra(const std::string& path, const spectra_data& s, const spectra_write_options& opt = {}) {
  detail::check_spectra(path, s);
  if (s.bands.empty()) throw invalid_argument("specx::io::write_spectra: no bands to write to " + path);
  write_fits_atomically(path, opt.overwrite, [&](fits_file& f) {
    auto finish = [&]() {
      if (opt.checksum) f.write_checksum();
    };
    f.write_empty_primary();
    f.write_header(s.primary);
    finish();
    auto tab = [&](const std::optional<table>& t, const char* name) {
      if (!t) return;
      write_table(f, name, *t);
      finish();
    };
    tab(s.fibermap, "FIBERMAP");
    tab(s.exp_fibermap, "EXP_FIBERMAP");
    for (const auto& b : s.bands) {
      const std::string B = detail::upper(b.name);
      auto img = [&](const std::string& suffix, const auto& data, const std::string& unit,
                     const image_options& io = {}) {
        f.write_image(B + suffix, data, io);
        if (!unit.empty()) f.write_key("BUNIT", keyword_value(unit));
        finish();
      };
      img("_WAVELENGTH", b.wavelength, b.wavelength_unit);
      img("_FLUX", b.flux, b.flux_unit);
      img("_IVAR", b.ivar, b.ivar_unit);
      if (b.mask) {
        xt::xtensor<std::uint32_t, 2> u(b.mask->shape());
        std::transform(b.mask->begin(), b.mask->end(), u.begin(),
                       [](std::int32_t x) { return std::bit_cast<std::uint32_t>(x); });
        img("_MASK", u, "", image_options{opt.compress_mask ? compression::gzip1 : compression::none});
      }
      if (b.resolution) img("_RESOLUTION", *b.resolution, "");
    }
    tab(s.scores, "SCORES");
  });
}

}  // namespace specx::io
