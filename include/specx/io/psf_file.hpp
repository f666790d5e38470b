// Reader of DESI PSF files (specex/specter Gauss-Hermite PSFVER 3 and 2, and
// trace-only files). Returns the file's contents as plain host data; the PSF models
// are built from this struct elsewhere (io never evaluates a model).
// Layout details and defaults: docs/formats.md, "PSF files".
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "fits.hpp"

namespace specx::io {

/// Per-fiber Legendre series in reduced wavelength
/// u = 2 (lambda - wavemin) / (wavemax - wavemin) - 1.
struct legendre_set {
  double wavemin = 0, wavemax = 0;
  xt::xtensor<double, 2> coeff;  ///< [nfiber, ncoef], row-major (C order)

  std::size_t nfiber() const { return coeff.shape()[0]; }
  std::size_t ncoef() const { return coeff.shape()[1]; }
};

/// One PSF parameter (GHSIGX, GH-i-j, TAILAMP, ...) as a Legendre series per fiber.
struct psf_param : legendre_set {
  std::string name;
  std::optional<int> legdegx;  ///< LEGDEGX column of PSFVER 3 files
  std::optional<int> legdegw;  ///< LEGDEGW column of PSFVER 3 files
};

/// Which layout a PSF file had.
enum class psf_layout {
  gauss_hermite_v3,  ///< XTRACE, YTRACE images + PSF table (PARAM, COEFF, LEGDEGX, LEGDEGW)
  gauss_hermite_v2,  ///< one table with rows PARAM, WAVEMIN, WAVEMAX, COEFF; traces are rows X and Y
  traces_only,       ///< XTRACE, YTRACE (+ XSIGMA, WSIGMA) images
};

/// The contents of a PSF file. Keyword fields hold 0 / empty when the file lacks
/// them (trace-only files have no HSIZEX, ...); `keywords` holds every keyword.
struct psf_file_data {
  std::string path;
  psf_layout layout = psf_layout::gauss_hermite_v3;
  int psfver = 0;        ///< PSFVER (0 if absent)
  std::string psftype;   ///< PSFTYPE ("GAUSS-HERMITE"; "psf" in trace files)
  legendre_set xtrace, ytrace;  ///< CCD x(lambda), y(lambda) in pixels
  std::vector<psf_param> params;  ///< model parameters in file order (X and Y rows excluded)
  std::optional<xt::xtensor<double, 1>> xsigma;  ///< [nfiber], trace-only files
  std::optional<xt::xtensor<double, 2>> wsigma;  ///< [nfiber, ncoef], trace-only files

  int hsizex = 0, hsizey = 0;  ///< stamp half sizes (pixels)
  int ghdegx = 0, ghdegy = 0;  ///< Gauss-Hermite degrees
  int legdeg = 0;              ///< Legendre degree of the parameters
  int npix_x = 0, npix_y = 0;  ///< CCD size (pixels)
  int fibermin = 0, fibermax = -1;
  std::optional<double> psf_wavemin, psf_wavemax;  ///< WAVEMIN/WAVEMAX of the PSF HDU
  std::string camera;          ///< CAMERA (empty if absent), as written in the file
  /// Keywords by name: the primary header, then the PSF-table header (later
  /// HDUs override same-named keywords).
  std::map<std::string, keyword_value> keywords;

  std::size_t nfiber() const { return xtrace.nfiber(); }
  bool has_param(const std::string& name) const {
    for (const auto& p : params)
      if (p.name == name) return true;
    return false;
  }
  /// The parameter `name`; missing_entry (naming the file) if absent.
  const psf_param& param(const std::string& name) const {
    for (const auto& p : params)
      if (p.name == name) return p;
    throw missing_entry(path, "PSF", "PARAM", "no PSF parameter named " + name);
  }
};

namespace detail {

inline void add_keywords(std::map<std::string, keyword_value>& m, const header& h) {
  for (const auto& k : h) m[k.name] = k.value;
}

template <class T>
std::optional<T> key_from(const std::map<std::string, keyword_value>& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) return std::nullopt;
  return convert_keyword<T>(it->second);
}

/// Reads a trace image (XTRACE/YTRACE) with its WAVEMIN/WAVEMAX.
inline legendre_set read_trace_image(fits_file& f, const std::string& extname) {
  f.move_to(extname);
  legendre_set s;
  s.coeff = f.read_image<double, 2>();
  s.wavemin = f.read_key<double>("WAVEMIN");
  s.wavemax = f.read_key<double>("WAVEMAX");
  if (!(s.wavemax > s.wavemin))
    throw format_error(f.name(), extname, "", "WAVEMAX must exceed WAVEMIN");
  if (s.coeff.shape()[0] == 0 || s.coeff.shape()[1] == 0)
    throw format_error(f.name(), extname, "", "empty trace coefficient array");
  return s;
}

/// Reshapes row `r` of a flattened COEFF column to [nfiber, ncoef] using TDIM.
inline xt::xtensor<double, 2> coeff_row(const xt::xtensor<double, 2>& flat, std::size_t r, std::size_t nfiber,
                                        std::size_t ncoef) {
  xt::xtensor<double, 2> c({nfiber, ncoef});
  std::copy(flat.data() + r * flat.shape()[1], flat.data() + (r + 1) * flat.shape()[1], c.data());
  return c;
}

inline std::pair<std::size_t, std::size_t> coeff_dims(fits_file& f, const std::string& hdu) {
  const auto ci = f.column("COEFF");
  if (ci.dims.size() != 2 || ci.dims[0] * ci.dims[1] != ci.repeat)
    throw format_error(f.name(), hdu, "COEFF", "expected a 2-d TDIM [nfiber, ncoef] on COEFF");
  return {static_cast<std::size_t>(ci.dims[0]), static_cast<std::size_t>(ci.dims[1])};
}

}  // namespace detail

/// Reads a DESI PSF file. The layout is chosen from what the file holds: a `PSF`
/// table HDU → PSFVER 3; else a table with PARAM/WAVEMIN/WAVEMAX/COEFF → PSFVER 2;
/// else XTRACE + YTRACE images → trace-only. Throws io_error subclasses naming the
/// file, HDU and column for anything missing or malformed.
inline psf_file_data read_psf(const std::string& path) {
  fits_file f(path);
  psf_file_data d;
  d.path = path;
  f.move_to(0);
  detail::add_keywords(d.keywords, f.read_header());

  int v2_table = -1;
  if (!f.has_hdu("PSF")) {
    const int n = f.num_hdus();
    for (int i = 1; i < n && v2_table < 0; ++i) {
      f.move_to(i);
      if (!f.is_image() && f.has_column("PARAM") && f.has_column("WAVEMIN") && f.has_column("COEFF")) v2_table = i;
    }
  }

  if (f.has_hdu("PSF")) {
    d.layout = psf_layout::gauss_hermite_v3;
    d.xtrace = detail::read_trace_image(f, "XTRACE");
    d.ytrace = detail::read_trace_image(f, "YTRACE");
    f.move_to("PSF");
    const header h = f.read_header();
    detail::add_keywords(d.keywords, h);
    const auto names = f.read_string_column("PARAM");
    const auto [nfib, ncoef] = detail::coeff_dims(f, "PSF");
    const auto flat = f.read_vector_column<double>("COEFF");
    std::optional<xt::xtensor<std::int32_t, 2>> ldx, ldw;
    if (f.has_column("LEGDEGX")) ldx = f.read_vector_column<std::int32_t>("LEGDEGX");
    if (f.has_column("LEGDEGW")) ldw = f.read_vector_column<std::int32_t>("LEGDEGW");
    // All parameters of a PSFVER 3 file share the PSF HDU's wavelength range
    // (falling back to XTRACE's when the PSF HDU lacks WAVEMIN/WAVEMAX).
    const auto wmin = f.read_key_opt<double>("WAVEMIN");
    const auto wmax = f.read_key_opt<double>("WAVEMAX");
    d.psf_wavemin = wmin;
    d.psf_wavemax = wmax;
    for (std::size_t r = 0; r < names.size(); ++r) {
      psf_param p;
      p.name = names[r];
      p.wavemin = wmin.value_or(d.xtrace.wavemin);
      p.wavemax = wmax.value_or(d.xtrace.wavemax);
      p.coeff = detail::coeff_row(flat, r, nfib, ncoef);
      if (ldx && ldx->shape()[1] >= 1) p.legdegx = (*ldx)(r, 0);
      if (ldw && ldw->shape()[1] >= 1) p.legdegw = (*ldw)(r, 0);
      d.params.push_back(std::move(p));
    }
    if (nfib != d.xtrace.nfiber())
      throw format_error(path, "PSF", "COEFF",
                         "COEFF has " + std::to_string(nfib) + " fibers but XTRACE has " +
                             std::to_string(d.xtrace.nfiber()));
  } else if (v2_table >= 0) {
    d.layout = psf_layout::gauss_hermite_v2;
    f.move_to(v2_table);
    const std::string hdu = f.hdu_label();
    detail::add_keywords(d.keywords, f.read_header());
    const auto names = f.read_string_column("PARAM");
    const auto wmin = f.read_column<double>("WAVEMIN");
    const auto wmax = f.read_column<double>("WAVEMAX");
    const auto [nfib, ncoef] = detail::coeff_dims(f, hdu);
    const auto flat = f.read_vector_column<double>("COEFF");
    bool have_x = false, have_y = false;
    for (std::size_t r = 0; r < names.size(); ++r) {
      psf_param p;
      p.name = names[r];
      p.wavemin = wmin(r);
      p.wavemax = wmax(r);
      p.coeff = detail::coeff_row(flat, r, nfib, ncoef);
      if (p.name == "X") {
        d.xtrace = p;
        have_x = true;
      } else if (p.name == "Y") {
        d.ytrace = p;
        have_y = true;
      } else {
        d.params.push_back(std::move(p));
      }
    }
    if (!have_x || !have_y)
      throw missing_entry(path, hdu, "PARAM", "PSFVER 2 table lacks the trace rows X and Y");
  } else if (f.has_hdu("XTRACE") && f.has_hdu("YTRACE")) {
    d.layout = psf_layout::traces_only;
    d.xtrace = detail::read_trace_image(f, "XTRACE");
    d.ytrace = detail::read_trace_image(f, "YTRACE");
    if (f.has_hdu("XSIGMA")) d.xsigma = f.read_image<double, 1>("XSIGMA");
    if (f.has_hdu("WSIGMA")) d.wsigma = f.read_image<double, 2>("WSIGMA");
  } else {
    throw missing_entry(path, "", "",
                        "not a PSF file: no PSF table, no PSFVER 2 table and no XTRACE/YTRACE images");
  }

  if (d.ytrace.nfiber() != d.xtrace.nfiber())
    throw format_error(path, "YTRACE", "", "YTRACE and XTRACE have different numbers of fibers");
  if (d.xsigma && d.xsigma->size() != d.nfiber())
    throw format_error(path, "XSIGMA", "", "XSIGMA length differs from the number of fibers");
  if (d.wsigma && d.wsigma->shape()[0] != d.nfiber())
    throw format_error(path, "WSIGMA", "", "WSIGMA rows differ from the number of fibers");

  const auto& k = d.keywords;
  d.psfver = detail::key_from<int>(k, "PSFVER").value_or(0);
  d.psftype = detail::key_from<std::string>(k, "PSFTYPE").value_or("");
  d.hsizex = detail::key_from<int>(k, "HSIZEX").value_or(0);
  d.hsizey = detail::key_from<int>(k, "HSIZEY").value_or(0);
  d.ghdegx = detail::key_from<int>(k, "GHDEGX").value_or(0);
  d.ghdegy = detail::key_from<int>(k, "GHDEGY").value_or(0);
  d.legdeg = detail::key_from<int>(k, "LEGDEG").value_or(0);
  d.npix_x = detail::key_from<int>(k, "NPIX_X").value_or(0);
  d.npix_y = detail::key_from<int>(k, "NPIX_Y").value_or(0);
  d.fibermin = detail::key_from<int>(k, "FIBERMIN").value_or(0);
  d.fibermax = detail::key_from<int>(k, "FIBERMAX").value_or(d.fibermin + static_cast<int>(d.nfiber()) - 1);
  d.camera = detail::key_from<std::string>(k, "CAMERA").value_or("");
  return d;
}

}  // namespace specx::io
