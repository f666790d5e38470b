// DESI calibration files (desispec.io.fiberflat / io.sky layouts, docs/formats.md):
//
//   fiberflat-CAM-EXPID.fits  FIBERFLAT (primary, f32 [nspec, nwave], CHI2PDF), IVAR (f32),
//                             MASK (uint32, BZERO 2³¹), MEANSPEC (f32 [nwave], electron/Angstrom),
//                             WAVELENGTH (f32 [nwave], Angstrom)
//   sky-CAM-EXPID.fits        SKY (primary, f32 [nspec, nwave], electrons/Å), IVAR (f32),
//                             MASK (uint32), WAVELENGTH (f32, Angstrom), STATIVAR (f32),
//                             THRPUTCORR (f32 [nspec])
//
// and the raw-header helper of preprocessing: the amplifier geometry (CCDSEC,
// DATASEC, BIASSEC, ORSEC, GAIN, RDNOISE, SATULEV per amplifier) from a raw
// camera HDU's keywords. As DESI writes them, wavelengths are stored in float32;
// reading converts back to double (the values are then exact to ~2.5e-4 Å at 7600 Å).
#pragma once

#include <bit>
#include <cstdint>
#include <optional>
#include <string>

#include <xtensor/xtensor.hpp>

#include "../fiberflat/compute.hpp"
#include "../preproc/amplifiers.hpp"
#include "../sky/compute.hpp"
#include "fits.hpp"
#include "spectra_file.hpp"

namespace specx::io {

namespace detail {
inline xt::xtensor<std::uint32_t, 2> to_uint32(const xt::xtensor<std::int32_t, 2>& m) {
  xt::xtensor<std::uint32_t, 2> u(m.shape());
  std::transform(m.begin(), m.end(), u.begin(), [](std::int32_t x) { return std::bit_cast<std::uint32_t>(x); });
  return u;
}
template <class T, std::size_t N>
xt::xtensor<float, N> to_f32(const xt::xtensor<T, N>& a) {
  xt::xtensor<float, N> out(a.shape());
  std::transform(a.begin(), a.end(), out.begin(), [](T x) { return static_cast<float>(x); });
  return out;
}
template <class T, std::size_t N>
xt::xtensor<T, N> read_as(fits_file& f, const std::string& hdu) {
  f.move_to(hdu);
  return f.read_image<T, N>();
}
}  // namespace detail

/// Writes a fiber flat in DESI's layout (atomically). `header` goes into the
/// primary (FIBERFLAT) HDU, e.g. CAMERA, NIGHT, EXPID.
inline void write_fiberflat(const std::string& path, const fiberflat::fiberflat_data& ff, const header& hdr = {},
                            bool overwrite = true) {
  const auto sh = ff.fiberflat.shape();
  if (ff.ivar.shape() != sh || ff.mask.shape() != sh || ff.wave.size() != sh[1] || ff.meanspec.size() != sh[1])
    throw format_error(path, "FIBERFLAT", "", "inconsistent fiber-flat shapes");
  write_fits_atomically(path, overwrite, [&](fits_file& f) {
    f.write_image("FIBERFLAT", ff.fiberflat);
    f.write_header(hdr);
    f.write_key("CHI2PDF", ff.chi2pdf, "chi2 per degree of freedom of the flat model");
    f.write_key("BUNIT", "", "adimensional quantity to divide to flatfield a frame");
    f.write_checksum();
    f.write_image("IVAR", ff.ivar);
    f.write_key("BUNIT", "", "inverse variance, adimensional");
    f.write_checksum();
    f.write_image("MASK", detail::to_uint32(ff.mask));
    f.write_checksum();
    f.write_image("MEANSPEC", detail::to_f32(ff.meanspec));
    f.write_key("BUNIT", "electron/Angstrom");
    f.write_checksum();
    f.write_image("WAVELENGTH", detail::to_f32(ff.wave));
    f.write_key("BUNIT", "Angstrom");
    f.write_checksum();
  });
}

/// Reads a DESI fiberflat file (FIBERFLAT, IVAR, MASK, MEANSPEC, WAVELENGTH).
inline fiberflat::fiberflat_data read_fiberflat(const std::string& path) {
  fits_file f(path);
  fiberflat::fiberflat_data ff;
  ff.fiberflat = detail::read_as<float, 2>(f, "FIBERFLAT");
  ff.chi2pdf = f.read_key_opt<double>("CHI2PDF").value_or(0.0);
  ff.ivar = detail::read_as<float, 2>(f, "IVAR");
  f.move_to("MASK");
  ff.mask = detail::read_mask_image(f);
  ff.meanspec = detail::read_as<double, 1>(f, "MEANSPEC");
  ff.wave = detail::read_as<double, 1>(f, "WAVELENGTH");
  const auto sh = ff.fiberflat.shape();
  if (ff.ivar.shape() != sh || ff.mask.shape() != sh) throw format_error(path, "IVAR", "", "IVAR/MASK shape differs from FIBERFLAT");
  if (ff.wave.size() != sh[1] || ff.meanspec.size() != sh[1])
    throw format_error(path, "WAVELENGTH", "", "WAVELENGTH/MEANSPEC length differs from FIBERFLAT's nwave");
  return ff;
}

/// Writes a sky model in DESI's layout (atomically): SKY, IVAR, MASK, WAVELENGTH,
/// STATIVAR (= IVAR: specx's sky variance is statistical only), THRPUTCORR.
inline void write_sky(const std::string& path, const sky::sky_data& s, const header& hdr = {}, bool overwrite = true) {
  const auto sh = s.flux.shape();
  if (s.ivar.shape() != sh || s.mask.shape() != sh || s.wave.size() != sh[1] || s.throughput_corrections.size() != sh[0])
    throw format_error(path, "SKY", "", "inconsistent sky-model shapes");
  write_fits_atomically(path, overwrite, [&](fits_file& f) {
    f.write_image("SKY", s.flux);
    f.write_header(hdr);
    f.write_key("BUNIT", "electron/Angstrom");
    f.write_checksum();
    f.write_image("IVAR", s.ivar);
    f.write_checksum();
    f.write_image("MASK", detail::to_uint32(s.mask));
    f.write_checksum();
    f.write_image("WAVELENGTH", detail::to_f32(s.wave));
    f.write_key("BUNIT", "Angstrom");
    f.write_checksum();
    f.write_image("STATIVAR", s.ivar);
    f.write_checksum();
    f.write_image("THRPUTCORR", s.throughput_corrections);
    f.write_checksum();
  });
}

/// Reads a DESI sky file (SKY, IVAR, MASK, WAVELENGTH; THRPUTCORR if present, else 1).
inline sky::sky_data read_sky(const std::string& path) {
  fits_file f(path);
  sky::sky_data s;
  s.flux = detail::read_as<float, 2>(f, "SKY");
  s.ivar = detail::read_as<float, 2>(f, "IVAR");
  f.move_to("MASK");
  s.mask = detail::read_mask_image(f);
  s.wave = detail::read_as<double, 1>(f, "WAVELENGTH");
  const auto sh = s.flux.shape();
  if (f.has_hdu("THRPUTCORR")) {
    s.throughput_corrections = detail::read_as<float, 1>(f, "THRPUTCORR");
  } else {
    s.throughput_corrections = xt::xtensor<float, 1>::from_shape({sh[0]});
    s.throughput_corrections.fill(1.0f);
  }
  if (s.ivar.shape() != sh || s.mask.shape() != sh) throw format_error(path, "IVAR", "", "IVAR/MASK shape differs from SKY");
  if (s.wave.size() != sh[1]) throw format_error(path, "WAVELENGTH", "", "WAVELENGTH length differs from SKY's nwave");
  if (s.throughput_corrections.size() != sh[0]) throw format_error(path, "THRPUTCORR", "", "THRPUTCORR length differs from nspec");
  return s;
}

/// The amplifier geometry of a raw camera HDU from its keywords (CCDSEC*,
/// DATASEC*, BIASSEC*, optional ORSEC*, GAIN*, RDNOISE*, SATULEV*). Amplifiers are
/// those with a CCDSEC keyword among A–D (DESI) or 1–4 (older headers). Throws
/// missing_entry naming the keyword when a required one is absent.
inline preproc::amplifiers amplifiers_from_header(const header& h, const std::string& file = {},
                                                  const std::string& hdu = {}) {
  auto lookup = [&](const std::string& key) -> std::optional<std::string> {
    const keyword* k = find_keyword(h, key);
    if (!k) return std::nullopt;
    if (auto s = std::get_if<std::string>(&k->value)) return *s;
    if (auto d = std::get_if<double>(&k->value)) return std::to_string(*d);
    if (auto i = std::get_if<std::int64_t>(&k->value)) return std::to_string(*i);
    return std::nullopt;
  };
  try {
    return preproc::amplifiers_from_keywords(lookup);
  } catch (const missing_entry& e) {
    throw missing_entry(file, hdu, "", e.what());
  }
}

}  // namespace specx::io
