// File I/O of the redshift module (includes CFITSIO through specx::io; kept out of
// redshift.hpp): redrock template files → rr_template, DESI spectra/coadd files →
// target_batch, and the REDSHIFTS catalogue (redrock's column layout) with
// optional χ²(z) scans.
#pragma once

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "../igm/inoue14.hpp"
#include "../io.hpp"
#include "../redshift.hpp"

namespace specx::redshift {

/// Reads one redrock template file and applies redrock's defaults (templates.hpp).
/// io errors propagate (io_error, fits_error, missing_entry, bad_data, ...); an
/// empty basis is bad_data.
inline rr_template load_template(const std::string& path, const grid_options& grids = {}) {
  auto td = io::read_template(path);
  std::vector<double> wave(td.wave.begin(), td.wave.end()), basis(td.basis.begin(), td.basis.end()), z;
  if (td.redshifts) z.assign(td.redshifts->begin(), td.redshifts->end());
  return make_template(td.rrtype, td.rrsubtype, td.version, td.rrigm, std::move(wave), std::move(basis),
                       std::move(z), grids, path);
}

/// Loads templates from a file, a folder (every rrtemplate-*.fits, sorted by name,
/// as redrock's old-style directory scan) or a list of files.
inline std::vector<rr_template> load_templates(const std::string& path, const grid_options& grids = {}) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) {
      const auto n = e.path().filename().string();
      if (n.rfind("rrtemplate-", 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == ".fits")
        files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) throw io_error(path, "", "", "no rrtemplate-*.fits file in this folder");
  } else {
    files.push_back(path);
  }
  std::vector<rr_template> out;
  for (const auto& f : files) out.push_back(load_template(f, grids));
  return out;
}

/// redrock's default load order for the 11 templates shipped in data/templates
/// (GALAXY, QSO LOZ, QSO HIZ, STAR A, B, CV, F, G, K, M, WD): the order of the
/// reference run (tests/data/reference/redrock-sim24.fits).
inline std::vector<std::string> default_template_files(const std::string& dir) {
  const char* names[] = {"rrtemplate-GALAXY-2016.fits",  "rrtemplate-QSO-LOZ-v1.1.fits", "rrtemplate-QSO-HIZ-v1.1.fits",
                         "rrtemplate-STAR-A-v0.1.fits",  "rrtemplate-STAR-B-v0.1.fits",  "rrtemplate-STAR-CV-v0.1.fits",
                         "rrtemplate-STAR-F-v0.1.fits",  "rrtemplate-STAR-G-v0.1.fits",  "rrtemplate-STAR-K-v0.1.fits",
                         "rrtemplate-STAR-M-v0.1.fits",  "rrtemplate-STAR-WD-v0.1.fits"};
  std::vector<std::string> out;
  for (const char* n : names) out.push_back(dir + "/" + n);
  return out;
}

/// Loads the Inoue+14 tables from a folder holding LAFcoeff.txt and DLAcoeff.txt.
inline igm::inoue14_table load_inoue14(const std::string& dir) {
  return igm::read_inoue14(dir + "/LAFcoeff.txt", dir + "/DLAcoeff.txt");
}

/// Converts a DESI spectra/coadd file's contents to a target batch: every band
/// with its resolution (identity when absent), ivar zeroed where MASK ≠ 0,
/// TARGETID from the FIBERMAP (row index when there is none). Call prepare()
/// afterwards. Throws format_error when there are no bands.
inline target_batch targets_from_spectra(const io::spectra_data& s) {
  if (s.bands.empty()) throw format_error(s.source, "", "", "no spectra bands (no {BAND}_FLUX HDU)");
  target_batch tb;
  const std::size_t nt = s.nspec();
  tb.targetid.resize(nt);
  if (s.fibermap && s.fibermap->has("TARGETID")) {
    const auto id = s.fibermap->values<std::int64_t>("TARGETID");
    for (std::size_t i = 0; i < nt; ++i) tb.targetid[i] = id(i);
  } else {
    for (std::size_t i = 0; i < nt; ++i) tb.targetid[i] = static_cast<std::int64_t>(i);
  }
  for (const auto& b : s.bands) {
    const std::size_t nw = b.nwave();
    std::vector<double> wave(b.wavelength.begin(), b.wavelength.end());
    std::vector<double> f(b.flux.begin(), b.flux.end()), iv(b.ivar.begin(), b.ivar.end()), res;
    if (b.mask)
      for (std::size_t k = 0; k < nt * nw; ++k)
        if (b.mask->data()[k] != 0) iv[k] = 0;
    std::size_t nd = 1;
    if (b.resolution) {
      nd = b.resolution->shape()[1];
      res.assign(b.resolution->begin(), b.resolution->end());
    }
    tb.add_camera(b.name, std::move(wave), std::move(f), std::move(iv), std::move(res), nd);
  }
  return tb;
}

/// Options of write_redshifts.
struct redshift_write_options {
  bool overwrite = true;
  std::size_t coeff_width = 10;  ///< COEFF repeat (redrock's catalogue uses 10; at least max NCOEFF)
  bool scans = false;            ///< append CHI2_/PENALTY_/REDSHIFTS_<type> HDUs (needs zfind keep_scans)
  bool zfit = false;             ///< append a ZFIT table with every candidate
};

namespace detail {
inline std::string hdu_type_name(const std::string& full_type) {
  std::string s;
  if (full_type.find(":::") == std::string::npos) return full_type + "_NONE";
  for (char c : full_type) s += (c == ':') ? '_' : c;
  while (s.find("__") != std::string::npos) s.erase(s.find("__"), 1);
  return s;
}
}  // namespace detail

/// Writes the REDSHIFTS catalogue in redrock's layout — TARGETID K, Z D, ZERR D,
/// ZWARN K, CHI2 D, COEFF D[coeff_width], NPIXELS K, SPECTYPE 6A, SUBTYPE 20A,
/// NCOEFF K, DELTACHI2 D — atomically, with optional χ²(z) scans and ZFIT.
inline void write_redshifts(const std::string& path, const zfind_result& r, const std::vector<rr_template>& templates,
                            const redshift_write_options& opt = {}) {
  const std::size_t n = r.targets.size();
  std::size_t width = opt.coeff_width;
  for (const auto& t : templates) width = std::max(width, t.nbasis);
  auto make_table = [&](bool all) {
    io::table tab;
    std::vector<const candidate*> rows;
    std::vector<std::int64_t> tid, znum;
    for (const auto& t : r.targets)
      for (std::size_t k = 0; k < (all ? t.fits.size() : std::min<std::size_t>(1, t.fits.size())); ++k) {
        rows.push_back(&t.fits[k]);
        tid.push_back(t.targetid);
        znum.push_back(static_cast<std::int64_t>(k));
      }
    const std::size_t m = rows.size();
    xt::xtensor<std::int64_t, 1> a_tid = xt::xtensor<std::int64_t, 1>::from_shape({m}), a_zw = a_tid, a_np = a_tid,
                                 a_nc = a_tid, a_zn = a_tid;
    xt::xtensor<double, 1> a_z = xt::xtensor<double, 1>::from_shape({m}), a_ze = a_z, a_c2 = a_z, a_dc = a_z;
    xt::xtensor<double, 2> a_co = xt::zeros<double>({m, width});
    std::vector<std::string> st, sub;
    for (std::size_t i = 0; i < m; ++i) {
      const candidate& c = *rows[i];
      a_tid(i) = tid[i];
      a_zn(i) = znum[i];
      a_z(i) = c.z;
      a_ze(i) = c.zerr;
      a_zw(i) = c.zwarn;
      a_c2(i) = c.chi2;
      for (std::size_t k = 0; k < c.coeff.size() && k < width; ++k) a_co(i, k) = c.coeff[k];
      a_np(i) = static_cast<std::int64_t>(c.npixels);
      a_nc(i) = static_cast<std::int64_t>(c.ncoeff);
      a_dc(i) = c.deltachi2;
      st.push_back(c.spectype);
      sub.push_back(c.subtype);
    }
    tab.add_column("TARGETID", a_tid);
    if (all) tab.add_column("ZNUM", a_zn);
    tab.add_column("Z", a_z);
    tab.add_column("ZERR", a_ze);
    tab.add_column("ZWARN", a_zw);
    tab.add_column("CHI2", a_c2);
    tab.add_column("COEFF", a_co);
    tab.add_column("NPIXELS", a_np);
    tab.add_column("SPECTYPE", st);
    tab.columns.back().string_width = 6;
    tab.add_column("SUBTYPE", sub);
    tab.columns.back().string_width = 20;
    tab.add_column("NCOEFF", a_nc);
    tab.add_column("DELTACHI2", a_dc);
    return tab;
  };
  (void)n;
  io::write_fits_atomically(path, opt.overwrite, [&](io::fits_file& f) {
    io::write_table(f, "REDSHIFTS", make_table(false));
    if (opt.zfit) io::write_table(f, "ZFIT", make_table(true));
    if (opt.scans) {
      for (std::size_t k = 0; k < r.scans.size(); ++k) {
        const auto& s = r.scans[k];
        const std::string name = detail::hdu_type_name(s.full_type);
        xt::xtensor<double, 2> c2 = xt::xtensor<double, 2>::from_shape({s.ntarget, s.nz()});
        xt::xtensor<double, 2> pe = c2;
        std::copy(s.chi2.begin(), s.chi2.end(), c2.begin());
        std::copy(s.penalty.begin(), s.penalty.end(), pe.begin());
        xt::xtensor<double, 1> zz = xt::xtensor<double, 1>::from_shape({s.nz()});
        std::copy(s.redshifts.begin(), s.redshifts.end(), zz.begin());
        f.write_image("CHI2_" + name, c2);
        f.write_key("FULLTYPE", s.full_type.c_str());
        f.write_image("PENALTY_" + name, pe);
        f.write_key("FULLTYPE", s.full_type.c_str());
        f.write_image("REDSHIFTS_" + name, zz);
        f.write_key("FULLTYPE", s.full_type.c_str());
      }
    }
  });
}

}  // namespace specx::redshift
