// Reading the simulation's inputs and writing its outputs as DESI-like FITS files
// through specx::io (docs/simulation.md#files). This is the part of sim that
// includes io (and so CFITSIO); the numerical parts of sim do not.
//
//   raw      desi-EXPID.fits     empty primary (exposure keywords), one image HDU
//                                per camera named e.g. "R0" (uint16 ADU, tile-
//                                compressed like DESI's .fits.fz) with the amplifier
//                                keywords desispec.preproc reads
//   preproc  preproc-CAM-EXPID.fits   IMAGE (f32 electrons), IVAR (f32), MASK (i32),
//                                READNOISE (f32), as desispec's preproc files
//   truth    truth-CAM-EXPID.fits     TRUTH table (one row per fiber), WAVELENGTH,
//                                FLUX, SKYFLUX, THROUGHPUT, OBJPHOT, SKYPHOT,
//                                EXPECTED, TRUTHMASK, COSMICS table
// Every file is written through io::write_fits_atomically (temporary name, then
// rename).
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../io.hpp"
#include "exposure.hpp"

namespace specx::sim {

/// A redrock template file as a sim::template_basis.
inline template_basis to_template_basis(const io::template_data& t) {
  template_basis b;
  b.rrtype = t.rrtype;
  b.subtype = t.rrsubtype;
  b.wave.assign(t.wave.begin(), t.wave.end());
  b.basis = t.basis;
  if (t.archetype_coeff) b.archetype_coeff = *t.archetype_coeff;
  else b.archetype_coeff = xt::xtensor<double, 2>::from_shape({std::size_t(0), t.nbasis()});
  return b;
}

/// Reads a two-column text spectrum (λ [Å], value), e.g. sky/desi-sky-model.dat.
inline tabulated_curve read_two_column_text(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw io_error(path, "", "", "cannot open");
  tabulated_curve c;
  std::string line;
  int row = 0;
  while (std::getline(f, line)) {
    ++row;
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    char* end = nullptr;
    const double w = std::strtod(line.c_str() + b, &end);
    char* end2 = nullptr;
    const double v = std::strtod(end, &end2);
    if (end == line.c_str() + b || end2 == end)
      throw format_error(path, "", "", "row " + std::to_string(row) + ": expected two numbers");
    if (!c.wave.empty() && !(w > c.wave.back()))
      throw format_error(path, "", "", "row " + std::to_string(row) + ": wavelengths must increase");
    c.wave.push_back(w);
    c.value.push_back(v);
  }
  if (c.wave.size() < 2) throw format_error(path, "", "", "fewer than two rows");
  return c;
}

/// Reads a zenith-extinction table (first binary table: WAVELENGTH [Å],
/// EXTINCTION [mag/airmass]), e.g. atmosphere/ZenExtinct-KPNO.fits.
inline tabulated_curve read_extinction(const std::string& path) {
  io::fits_file f(path);
  f.move_to(1);
  const auto t = io::read_table(f);
  const auto w = t.values<double>("WAVELENGTH");
  const auto k = t.values<double>("EXTINCTION");
  tabulated_curve c;
  c.wave.assign(w.begin(), w.end());
  c.value.assign(k.begin(), k.end());
  for (std::size_t i = 1; i < c.wave.size(); ++i)
    if (!(c.wave[i] > c.wave[i - 1])) throw format_error(path, t.extname, "WAVELENGTH", "not increasing");
  return c;
}

/// Loads every input of the forward model from the repository's data/ folder:
/// templates/rrtemplate-GALAXY-2016, QSO-{LOZ,HIZ}-v1.1, STAR-{A,F,G,K,M}-v0.1;
/// sky/desi-sky-model.dat; atmosphere/ZenExtinct-KPNO.fits; filters/decamDR1-r.ecsv;
/// instrument/rdnoise-desi-202206.csv; redshift/{LAF,DLA}coeff.txt.
inline sim_inputs load_inputs(const std::string& data_dir) {
  if (data_dir.empty()) throw invalid_argument("specx::sim::load_inputs: empty data folder");
  const std::string d = data_dir + "/";
  sim_inputs in;
  in.galaxy = to_template_basis(io::read_template(d + "templates/rrtemplate-GALAXY-2016.fits"));
  in.qso_loz = to_template_basis(io::read_template(d + "templates/rrtemplate-QSO-LOZ-v1.1.fits"));
  in.qso_hiz = to_template_basis(io::read_template(d + "templates/rrtemplate-QSO-HIZ-v1.1.fits"));
  for (const char* s : {"A", "F", "G", "K", "M"})
    in.stars.push_back(to_template_basis(io::read_template(d + "templates/rrtemplate-STAR-" + s + "-v0.1.fits")));
  in.sky.lines = read_two_column_text(d + "sky/desi-sky-model.dat");
  in.extinction = read_extinction(d + "atmosphere/ZenExtinct-KPNO.fits");
  in.filter = read_filter_ecsv(d + "filters/decamDR1-r.ecsv", "decamDR1-r");
  in.rdnoise = read_read_noise_csv(d + "instrument/rdnoise-desi-202206.csv");
  in.igm = igm::read_inoue14(d + "redshift/LAFcoeff.txt", d + "redshift/DLAcoeff.txt");
  return in;
}

/// simulate_exposure with the inputs loaded from cfg.data_dir (see load_inputs).
template <backend::Backend B, psf::Psf P>
simulated_exposure simulate_exposure(B be, const P& psf, const exposure_config& cfg) {
  return simulate_exposure(be, psf, cfg, load_inputs(cfg.data_dir));
}

namespace detail {
inline void write_cards(io::fits_file& f, const std::vector<card>& cards) {
  for (const auto& c : cards)
    std::visit([&](const auto& v) { f.write_key(c.name, io::keyword_value(v), c.comment); }, c.value);
}
inline std::string upper(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}
template <class T>
xt::xtensor<T, 1> to_column(const std::vector<T>& v) {
  auto out = xt::xtensor<T, 1>::from_shape({v.size()});
  std::copy(v.begin(), v.end(), out.begin());
  return out;
}
}  // namespace detail

/// File names DESI uses for one exposure (EXPID zero-padded to 8 digits).
inline std::string raw_file_name(std::int64_t expid) {
  char b[64];
  std::snprintf(b, sizeof b, "desi-%08lld.fits", static_cast<long long>(expid));
  return b;
}
inline std::string preproc_file_name(const std::string& camera, std::int64_t expid) {
  char b[96];
  std::snprintf(b, sizeof b, "preproc-%s-%08lld.fits", camera.c_str(), static_cast<long long>(expid));
  return b;
}
inline std::string truth_file_name(const std::string& camera, std::int64_t expid) {
  char b[96];
  std::snprintf(b, sizeof b, "truth-%s-%08lld.fits", camera.c_str(), static_cast<long long>(expid));
  return b;
}

/// Writes the raw file: an empty primary HDU with the exposure keywords, then one
/// image HDU per exposure, named after its camera in upper case ("R0"), holding
/// the uint16 raw frame (RICE tile compression unless compress is false).
inline void write_raw(const std::string& path, const std::vector<const simulated_exposure*>& cameras,
                      bool overwrite = true, bool compress = true) {
  if (cameras.empty()) throw invalid_argument("specx::sim::write_raw: no camera to write");
  io::write_fits_atomically(path, overwrite, [&](io::fits_file& f) {
    f.write_empty_primary();
    detail::write_cards(f, cameras.front()->primary_cards);
    for (const auto* e : cameras) {
      io::image_options opt;
      opt.compress = compress ? io::compression::rice1 : io::compression::none;
      f.write_image(detail::upper(e->config.camera), e->ccd.raw, opt);
      detail::write_cards(f, e->camera_cards);
      f.write_checksum();
    }
  });
}
inline void write_raw(const std::string& path, const simulated_exposure& e, bool overwrite = true,
                      bool compress = true) {
  write_raw(path, std::vector<const simulated_exposure*>{&e}, overwrite, compress);
}

/// Writes the preprocessed image: IMAGE (with the camera keywords), IVAR, MASK,
/// READNOISE.
inline void write_preproc(const std::string& path, const simulated_exposure& e, bool overwrite = true) {
  io::write_fits_atomically(path, overwrite, [&](io::fits_file& f) {
    f.write_image("IMAGE", e.ccd.image);
    detail::write_cards(f, e.camera_cards);
    f.write_key("BUNIT", "electron", "Unit of the image");
    f.write_key("PROCTYPE", "PREPROC", "Data processing level");
    f.write_key("IVARSRC", e.config.ivar_from_data ? "DATA" : "MODEL", "specx: variance from data or model");
    f.write_image("IVAR", e.ccd.ivar);
    f.write_key("BUNIT", "electron-2", "Unit of the image");
    f.write_image("MASK", e.ccd.mask);
    f.write_key("BUNIT", "", "desispec.maskbits ccdmask bits");
    f.write_image("READNOISE", e.ccd.readnoise);
    f.write_key("BUNIT", "electron", "Unit of the image");
  });
}

/// Writes the truth: TRUTH table (FIBER, OBJTYPE, SPECTYPE, SUBTYPE, TEMPLATEID, Z,
/// MAG, ACCEPT, THRUSCL, THRUSLP, SKYSCL, COEFF[ncoef]); images WAVELENGTH [nwave],
/// FLUX, SKYFLUX, THROUGHPUT, OBJPHOT, SKYPHOT [nfiber, nwave]; EXPECTED [ny, nx]
/// (model electrons), TRUTHMASK [ny, nx] (BAD/COSMIC), COSMICE [ny, nx] (cosmic
/// electrons); COSMICS table (X, Y, THETA, PHI, LENGTH, ELECTRONS).
inline void write_truth(const std::string& path, const simulated_exposure& e, bool overwrite = true) {
  const auto& t = e.truth;
  const std::size_t nf = t.fibers.size();
  std::size_t ncoef = 1;
  for (const auto& f : t.fibers) ncoef = std::max(ncoef, f.coeff.size());
  io::table tab;
  std::vector<std::int32_t> fiber(nf), tid(nf);
  std::vector<double> z(nf), mag(nf), acc(nf), tsc(nf), tsl(nf), ssc(nf);
  std::vector<std::string> objtype(nf), spectype(nf), subtype(nf);
  auto coeff = xt::xtensor<double, 2>::from_shape({nf, ncoef});
  coeff.fill(0.0);
  for (std::size_t i = 0; i < nf; ++i) {
    const auto& f = t.fibers[i];
    fiber[i] = f.fiber;
    tid[i] = f.templateid;
    z[i] = f.z;
    mag[i] = f.mag;
    acc[i] = f.acceptance;
    tsc[i] = f.thru_scale;
    tsl[i] = f.thru_slope;
    ssc[i] = f.sky_scale;
    objtype[i] = f.objtype;
    spectype[i] = f.spectype;
    subtype[i] = f.subtype;
    for (std::size_t k = 0; k < f.coeff.size(); ++k) coeff(i, k) = f.coeff[k];
  }
  tab.add_column("FIBER", detail::to_column(fiber));
  tab.add_column("OBJTYPE", objtype);
  tab.add_column("SPECTYPE", spectype);
  tab.add_column("SUBTYPE", subtype);
  tab.add_column("TEMPLATEID", detail::to_column(tid));
  tab.add_column("Z", detail::to_column(z));
  tab.add_column("MAG", detail::to_column(mag), "mag");
  tab.add_column("ACCEPT", detail::to_column(acc));
  tab.add_column("THRUSCL", detail::to_column(tsc));
  tab.add_column("THRUSLP", detail::to_column(tsl));
  tab.add_column("SKYSCL", detail::to_column(ssc));
  tab.add_column("COEFF", coeff);
  tab.keywords.push_back({"FILTER", std::string("decamDR1-r"), "filter of MAG (AB)"});

  io::table cos;
  std::vector<double> cx, cy, cth, cph, cl, ce;
  for (const auto& c : t.cosmics) {
    cx.push_back(c.x);
    cy.push_back(c.y);
    cth.push_back(c.theta);
    cph.push_back(c.phi);
    cl.push_back(c.length_pix);
    ce.push_back(c.electrons);
  }
  cos.add_column("X", detail::to_column(cx));
  cos.add_column("Y", detail::to_column(cy));
  cos.add_column("THETA", detail::to_column(cth), "rad");
  cos.add_column("PHI", detail::to_column(cph), "rad");
  cos.add_column("LENGTH", detail::to_column(cl), "pixel");
  cos.add_column("ELECTRONS", detail::to_column(ce), "electron");

  io::write_fits_atomically(path, overwrite, [&](io::fits_file& f) {
    f.write_empty_primary();
    detail::write_cards(f, e.primary_cards);
    f.write_key("CAMERA", e.config.camera, "Camera name");
    f.write_key("DARKE", t.dark_electrons, "electron; dark current per pixel (truth)");
    io::write_table(f, "TRUTH", tab);
    f.write_image("WAVELENGTH", t.wave);
    f.write_key("BUNIT", "Angstrom", "sample centres (vacuum)");
    f.write_key("SAMPLEDW", t.grid.size() ? t.grid.width(0) : 0.0, "Angstrom; sample width");
    f.write_image("FLUX", t.flux);
    f.write_key("BUNIT", "10**-17 erg/(s cm2 Angstrom)", "object flux at the top of the atmosphere");
    f.write_image("SKYFLUX", t.sky);
    f.write_key("BUNIT", "10**-17 erg/(s cm2 Angstrom arcsec2)", "sky surface brightness");
    f.write_image("THROUGHPUT", t.throughput);
    f.write_image("OBJPHOT", t.object_electrons);
    f.write_key("BUNIT", "electron", "expected object electrons per sample");
    f.write_image("SKYPHOT", t.sky_electrons);
    f.write_key("BUNIT", "electron", "expected sky electrons per sample");
    f.write_image("EXPECTED", t.expected);
    f.write_key("BUNIT", "electron", "model image: projection + dark");
    f.write_image("TRUTHMASK", t.mask);
    f.write_image("COSMICE", t.cosmic_electrons);
    f.write_key("BUNIT", "electron", "cosmic-ray deposits");
    io::write_table(f, "COSMICS", cos);
  });
}

/// Writes the three files of one camera exposure into `dir`:
/// desi-EXPID.fits, preproc-CAM-EXPID.fits, truth-CAM-EXPID.fits.
inline void write_exposure(const std::string& dir, const simulated_exposure& e, bool overwrite = true) {
  write_raw(dir + "/" + raw_file_name(e.config.expid), e, overwrite);
  write_preproc(dir + "/" + preproc_file_name(e.config.camera, e.config.expid), e, overwrite);
  write_truth(dir + "/" + truth_file_name(e.config.camera, e.config.expid), e, overwrite);
}

/// A raw camera HDU read back: the ADU frame and its header.
struct raw_camera {
  xt::xtensor<std::uint16_t, 2> image;
  io::header header;
};

/// Reads the HDU of `camera` (case-insensitive EXTNAME) of a raw file.
inline raw_camera read_raw(const std::string& path, const std::string& camera) {
  io::fits_file f(path);
  f.move_to(detail::upper(camera));
  raw_camera r;
  r.header = f.read_header();
  r.image = f.read_image<std::uint16_t, 2>();
  return r;
}

/// Header cards as an io::header: the camera HDU's keywords as read_raw returns
/// them after write_raw.
inline io::header header_of(const std::vector<card>& cards) {
  io::header h;
  for (const auto& c : cards)
    h.push_back({c.name, std::visit([](const auto& v) { return io::keyword_value(v); }, c.value), c.comment});
  return h;
}

/// The raw camera HDU of an in-memory exposure (see header_of).
inline raw_camera raw_of(const simulated_exposure& e) { return {e.ccd.raw, header_of(e.camera_cards)}; }

/// A preprocessed image read back.
struct preproc_image {
  xt::xtensor<float, 2> image, ivar, readnoise;
  xt::xtensor<std::int32_t, 2> mask;
  io::header header;
};

inline preproc_image read_preproc(const std::string& path) {
  io::fits_file f(path);
  preproc_image p;
  f.move_to("IMAGE");
  p.header = f.read_header();
  p.image = f.read_image<float, 2>();
  p.ivar = f.read_image<float, 2>("IVAR");
  p.mask = f.read_image<std::int32_t, 2>("MASK");
  p.readnoise = f.read_image<float, 2>("READNOISE");
  return p;
}

}  // namespace specx::sim
