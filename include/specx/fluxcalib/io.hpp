// File inputs and outputs of the flux calibration (includes CFITSIO through
// specx::io; kept out of fluxcalib.hpp): the stellar grid from redrock STAR
// templates, the extinction table, and calibration → DESI fluxcalib/cframe data.
#pragma once

#include <string>
#include <vector>

#include "../fluxcalib.hpp"
#include "../io.hpp"
#include "../io/fluxcalib_file.hpp"

namespace specx::fluxcalib {

/// The stellar model grid from redrock STAR template files with ARCHETYPE_COEFF
/// (e.g. data/templates/rrtemplate-STAR-{A,F,G,K,M}-v0.1.fits). Files without
/// archetypes are bad_data.
inline stellar_grid read_stellar_grid(const std::vector<std::string>& paths) {
  stellar_grid g;
  for (const auto& p : paths) {
    const auto t = io::read_template(p);
    if (!t.archetype_coeff) throw bad_data(p + ": no ARCHETYPE_COEFF HDU: cannot build stellar models");
    stellar_family f;
    f.subtype = t.rrsubtype;
    f.wave.assign(t.wave.begin(), t.wave.end());
    f.basis.assign(t.basis.begin(), t.basis.end());
    f.coeff.assign(t.archetype_coeff->begin(), t.archetype_coeff->end());
    f.nbasis = t.nbasis();
    f.narch = t.archetype_coeff->shape()[0];
    g.families.push_back(std::move(f));
  }
  return g;
}

/// DESI's standard-star families in data_dir/templates (STAR-A, F, G, K, M).
inline stellar_grid read_default_stellar_grid(const std::string& data_dir) {
  std::vector<std::string> p;
  for (const char* s : {"A", "F", "G", "K", "M"}) p.push_back(data_dir + "/templates/rrtemplate-STAR-" + s + "-v0.1.fits");
  return read_stellar_grid(p);
}

/// A zenith-extinction table (first binary table: WAVELENGTH [Å], EXTINCTION
/// [mag/airmass]), e.g. data/atmosphere/ZenExtinct-KPNO.fits.
inline curve read_extinction(const std::string& path) {
  io::fits_file f(path);
  f.move_to(1);
  const auto t = io::read_table(f);
  const auto w = t.values<double>("WAVELENGTH");
  const auto k = t.values<double>("EXTINCTION");
  curve c;
  c.wave.assign(w.begin(), w.end());
  c.value.assign(k.begin(), k.end());
  for (std::size_t i = 1; i < c.wave.size(); ++i)
    if (!(c.wave[i] > c.wave[i - 1])) throw format_error(path, t.extname, "WAVELENGTH", "not increasing");
  return c;
}

/// The calibration in DESI's fluxcalib-CAMERA-EXPID layout (host copy).
template <backend::Backend B>
io::fluxcalib_data to_fluxcalib_data(B be, const calibration<B>& c) {
  io::fluxcalib_data d;
  const std::size_t ns = std::size_t(c.nspec), nw = std::size_t(c.nwave);
  d.wavelength = xt::xtensor<double, 1>::from_shape({nw});
  std::copy(c.wave.begin(), c.wave.end(), d.wavelength.begin());
  auto copy2 = [&](const auto& v, auto& dst) {
    const auto h = backend::to_host(be, v);
    dst = std::decay_t<decltype(dst)>::from_shape({ns, nw});
    std::copy(h.begin(), h.end(), dst.begin());
  };
  copy2(c.value, d.calib);
  copy2(c.ivar, d.ivar);
  copy2(c.mask, d.mask);
  d.keywords.push_back({"CAMERA", c.band, "camera"});
  d.keywords.push_back({"NSTDSTAR", std::int64_t(c.nstars_used), "standard stars used"});
  return d;
}

}  // namespace specx::fluxcalib
