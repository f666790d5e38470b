// Reader of redrock template files (rrtemplate-*.fits): PCA/NMF basis vectors on a
// linear or log10 wavelength grid, optional redshift grid and archetype
// coefficients. Layout and defaults: docs/formats.md, "Template files".
#pragma once

#include <cmath>
#include <optional>
#include <string>

#include <xtensor/xtensor.hpp>

#include "fits.hpp"

namespace specx::io {

/// The contents of one redrock template file.
struct template_data {
  std::string path;
  std::string rrtype;                     ///< RRTYPE: GALAXY, QSO, STAR (required)
  std::string rrsubtype;                  ///< RRSUBTYP ("" if absent, as redrock)
  std::optional<std::string> version;     ///< VERSION of the template set
  std::optional<std::string> rrversion;   ///< RRVER: redrock version that made it
  std::optional<std::string> rrigm;       ///< RRIGM: IGM model name, if the file names one
  xt::xtensor<double, 2> basis;           ///< BASIS_VECTORS [nbasis, nwave], row-major
  /// Wavelength grid axis as in the header: axis[i] = CRVAL1 + CDELT1 (i + 1 - CRPIX1)
  /// (log10 of Angstrom when loglam).
  xt::xtensor<double, 1> axis;
  xt::xtensor<double, 1> wave;            ///< rest-frame wavelength in Angstrom ([nwave])
  bool loglam = false;                    ///< LOGLAM != 0: the axis is log10(lambda)
  double crval1 = 0, cdelt1 = 0, crpix1 = 1;
  std::optional<xt::xtensor<double, 1>> redshifts;        ///< REDSHIFTS HDU (z grid), if present
  std::optional<xt::xtensor<double, 2>> archetype_coeff;  ///< ARCHETYPE_COEFF [N, nbasis], if present
  header primary;                         ///< all primary keywords

  std::size_t nbasis() const { return basis.shape()[0]; }
  std::size_t nwave() const { return basis.shape()[1]; }
  /// redrock's "full type": RRTYPE, or RRTYPE:::RRSUBTYP when a subtype is set.
  std::string full_type() const { return rrsubtype.empty() ? rrtype : rrtype + ":::" + rrsubtype; }
};

/// Reads a redrock template file. BASIS_VECTORS is the HDU of that EXTNAME, else
/// the primary. Empty or non-finite basis vectors are bad_data; a non-positive
/// CDELT1 or mismatched REDSHIFTS/ARCHETYPE_COEFF shapes are format_error.
inline template_data read_template(const std::string& path) {
  fits_file f(path);
  template_data t;
  t.path = path;
  if (f.has_hdu("BASIS_VECTORS")) f.move_to("BASIS_VECTORS");
  else f.move_to(0);
  const std::string hdu = f.hdu_label();
  t.primary = f.read_header();
  t.basis = f.read_image<double, 2>();
  if (t.basis.shape()[0] == 0 || t.basis.shape()[1] == 0)
    throw bad_data(path + " [HDU " + hdu + "]: empty template: BASIS_VECTORS has shape [" +
                   std::to_string(t.basis.shape()[0]) + ", " + std::to_string(t.basis.shape()[1]) + "]");
  for (std::size_t k = 0; k < t.basis.shape()[0]; ++k)
    for (std::size_t i = 0; i < t.basis.shape()[1]; ++i)
      if (!std::isfinite(t.basis(k, i)))
        throw bad_data(path + " [HDU " + hdu + "]: BASIS_VECTORS holds a non-finite value at [" + std::to_string(k) +
                       ", " + std::to_string(i) + "]");
  t.rrtype = f.read_key<std::string>("RRTYPE");
  t.rrsubtype = f.read_key_opt<std::string>("RRSUBTYP").value_or("");
  t.version = f.read_key_opt<std::string>("VERSION");
  t.rrversion = f.read_key_opt<std::string>("RRVER");
  t.rrigm = f.read_key_opt<std::string>("RRIGM");
  t.crval1 = f.read_key<double>("CRVAL1");
  t.cdelt1 = f.read_key<double>("CDELT1");
  t.crpix1 = f.read_key_opt<double>("CRPIX1").value_or(1.0);
  if (!(t.cdelt1 > 0) || !std::isfinite(t.crval1))
    throw format_error(path, hdu, "", "CDELT1 must be positive and CRVAL1 finite");
  if (auto l = f.read_keyword("LOGLAM")) {
    if (auto b = std::get_if<bool>(&*l)) t.loglam = *b;
    else t.loglam = convert_keyword<double>(*l).value_or(0.0) != 0.0;
  }
  const std::size_t nw = t.basis.shape()[1];
  t.axis = xt::xtensor<double, 1>::from_shape({nw});
  t.wave = xt::xtensor<double, 1>::from_shape({nw});
  for (std::size_t i = 0; i < nw; ++i) {
    t.axis(i) = t.crval1 + t.cdelt1 * (static_cast<double>(i) + 1.0 - t.crpix1);
    t.wave(i) = t.loglam ? std::pow(10.0, t.axis(i)) : t.axis(i);
  }
  if (!(t.wave(0) > 0))
    throw format_error(path, hdu, "", "the wavelength grid starts at a non-positive wavelength");
  if (f.has_hdu("REDSHIFTS")) {
    t.redshifts = f.read_image<double, 1>("REDSHIFTS");
    for (double z : *t.redshifts)
      if (!std::isfinite(z) || z <= -1) throw bad_data(path + " [HDU REDSHIFTS]: invalid redshift in the z grid");
  }
  if (f.has_hdu("ARCHETYPE_COEFF")) {
    t.archetype_coeff = f.read_image<double, 2>("ARCHETYPE_COEFF");
    if (t.archetype_coeff->shape()[1] != t.nbasis())
      throw format_error(path, "ARCHETYPE_COEFF", "",
                         "ARCHETYPE_COEFF has " + std::to_string(t.archetype_coeff->shape()[1]) +
                             " columns but there are " + std::to_string(t.nbasis()) + " basis vectors");
  }
  return t;
}

}  // namespace specx::io
