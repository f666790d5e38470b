// The CCD: from an expected-electron image to a raw frame as DESI's spectrograph
// cameras write it (four amplifiers with prescan, overscan columns and rows;
// integer ADU) and to the preprocessed image (electrons, IVAR, MASK). See
// docs/simulation.md#ccd.
//
// Per data pixel p (image coordinates), with the pixel's amplifier a:
//   e_p   = Poisson(max(μ_p, 0)) + cosmic deposit_p          (0 on dead/bad columns)
//   s_p   = e_p + σ_a · N(0, 1)                               read noise, electrons
//   ADU_p = clamp(round(bias_a + s_p / g_a), 0, 65535)        raw value (uint16)
//   IMAGE = (ADU_p − bias_a) · g_a                            preproc, electrons
// and every prescan/overscan pixel holds round(bias_a + σ_a N(0,1)/g_a). μ_p is the
// projected model plus dark current. The draws of raw pixel k use only
// (seed, stream::pixel_noise, k), so the frame is identical on every host backend.
//
// Preprocessing here uses the true bias and gain (DESI's preproc measures the
// overscan level instead). IVAR = 1/(σ_a² + max(μ_p, 0)) from the *model* (as the
// specter reference file in tests/data/reference did), or from the data
// (DESI's preproc: σ_a² + max(IMAGE, 0)) with ivar_from_data; IVAR = 0 wherever
// MASK ≠ 0. The ADU rounding adds g²/12 of variance that neither form includes
// (≈ 0.2 e² against σ² ≈ 7 e²).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../config.hpp"
#include "../error.hpp"
#include "../maskbits.hpp"
#include "../random.hpp"

namespace specx::sim {

/// DESI CCD mask bits: the one definition lives in maskbits.hpp.
namespace ccdmask = ::specx::ccdmask;

/// A rectangle of raw or image pixels: columns [x0, x1), rows [y0, y1) (0-based,
/// half-open). fits() formats it as a 1-based inclusive IRAF/FITS section.
struct pixel_rect {
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  SPECX_HOST_DEVICE bool contains(int x, int y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
  std::string fits() const {
    return "[" + std::to_string(x0 + 1) + ":" + std::to_string(x1) + "," + std::to_string(y0 + 1) + ":" +
           std::to_string(y1) + "]";
  }
};

/// The four-amplifier layout of a DESI raw frame, generalised to any image size.
/// Image (preprocessed) columns split at nx/2 and rows at ny/2: A lower left,
/// B lower right, C upper left, D upper right. In the raw frame, each amplifier's
/// data is flanked by its prescan columns on the outside and its overscan columns
/// towards the centre; overscan rows lie between the lower and upper halves and a
/// row-prescan row at the bottom/top edge:
///
///   row-prescan | pre | data A | bias A | bias B | data B | pre      (lower half)
///               |     | ORSEC A (rows)  |        | ORSEC B |
///   ...mirror for C, D in the upper half.
///
/// For the r and z cameras (image 4114 x 4128) this reproduces DESI's raw headers
/// (raw 4256 x 4194; e.g. DATASECA [8:2064,2:2065], BIASSECA [2065:2128,2:2065],
/// ORSECA [8:2064,2066:2097], PRESECA [1:7,2:2065], CCDSECA [1:2057,1:2064]).
struct amp_layout {
  int nx = 0, ny = 0;          ///< preprocessed image size
  int prescan_cols = 7;        ///< PRESEC width
  int overscan_cols = 64;      ///< BIASSEC width
  int overscan_rows = 32;      ///< ORSEC height
  int prescan_rows = 1;        ///< PRRSEC height

  SPECX_HOST_DEVICE int left() const { return nx / 2; }
  SPECX_HOST_DEVICE int right() const { return nx - nx / 2; }
  SPECX_HOST_DEVICE int bottom() const { return ny / 2; }
  SPECX_HOST_DEVICE int top() const { return ny - ny / 2; }
  SPECX_HOST_DEVICE int raw_nx() const { return 2 * prescan_cols + 2 * overscan_cols + nx; }
  SPECX_HOST_DEVICE int raw_ny() const { return 2 * prescan_rows + 2 * overscan_rows + ny; }
  /// Raw columns [0, xsplit) belong to amplifiers A and C; rows [0, ysplit) to A and B.
  SPECX_HOST_DEVICE int xsplit() const { return prescan_cols + left() + overscan_cols; }
  SPECX_HOST_DEVICE int ysplit() const { return prescan_rows + bottom() + overscan_rows; }
  /// Amplifier index (0 A, 1 B, 2 C, 3 D) of a raw pixel.
  SPECX_HOST_DEVICE int amp_of_raw(int x, int y) const { return (x >= xsplit() ? 1 : 0) + (y >= ysplit() ? 2 : 0); }

  SPECX_HOST_DEVICE pixel_rect ccdsec(int a) const {
    const bool r = a & 1, u = a & 2;
    return {r ? left() : 0, r ? nx : left(), u ? bottom() : 0, u ? ny : bottom()};
  }
  SPECX_HOST_DEVICE pixel_rect datasec(int a) const {
    const bool r = a & 1, u = a & 2;
    const int x0 = r ? prescan_cols + left() + 2 * overscan_cols : prescan_cols;
    const int y0 = u ? prescan_rows + bottom() + 2 * overscan_rows : prescan_rows;
    return {x0, x0 + (r ? right() : left()), y0, y0 + (u ? top() : bottom())};
  }
  SPECX_HOST_DEVICE pixel_rect biassec(int a) const {
    const pixel_rect d = datasec(a);
    const int x0 = (a & 1) ? d.x0 - overscan_cols : d.x1;
    return {x0, x0 + overscan_cols, d.y0, d.y1};
  }
  SPECX_HOST_DEVICE pixel_rect orsec(int a) const {
    const pixel_rect d = datasec(a);
    const int y0 = (a & 2) ? d.y0 - overscan_rows : d.y1;
    return {d.x0, d.x1, y0, y0 + overscan_rows};
  }
  SPECX_HOST_DEVICE pixel_rect presec(int a) const {
    const pixel_rect d = datasec(a);
    const int x0 = (a & 1) ? d.x1 : 0;
    return {x0, x0 + prescan_cols, d.y0, d.y1};
  }
  SPECX_HOST_DEVICE pixel_rect prrsec(int a) const {
    const pixel_rect d = datasec(a);
    const int y0 = (a & 2) ? d.y1 : 0;
    return {d.x0, d.x1, y0, y0 + prescan_rows};
  }
};

/// One amplifier's electronics: bias level (ADU), gain (e⁻/ADU), read noise (e⁻).
struct amp_params {
  double bias = 2000.0;
  double gain = 1.5;
  double rdnoise = 3.0;
};

inline constexpr const char* amp_names = "ABCD";

/// Measured read noise and gain per camera and amplifier: DESI's
/// rdnoise-desi-202206.csv (columns NIGHT, EXPID, CAMERA, AMP, RDNOISE [e⁻],
/// GAIN [e⁻/ADU]; 13 exposures of June 2022), averaged over its exposures.
struct read_noise_table {
  std::map<std::string, std::array<amp_params, 4>> cameras;

  /// The four amplifiers of `camera` (e.g. "r0"); throws invalid_argument if absent.
  std::array<amp_params, 4> at(const std::string& camera) const {
    auto it = cameras.find(camera);
    if (it == cameras.end()) throw invalid_argument("specx::sim::read_noise_table: no camera '" + camera + "'");
    return it->second;
  }
};

/// Reads the read-noise CSV (header line naming CAMERA, AMP, RDNOISE, GAIN in any
/// order). Bias levels are not in the file: they are left at amp_params' default.
inline read_noise_table read_read_noise_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw io_error(path, "", "", "cannot open the read-noise table");
  std::string line;
  if (!std::getline(f, line)) throw format_error(path, "", "", "empty file");
  auto split = [](const std::string& s) {
    std::vector<std::string> v;
    std::string cur;
    std::istringstream is(s);
    while (std::getline(is, cur, ',')) {
      while (!cur.empty() && (cur.back() == '\r' || cur.back() == ' ')) cur.pop_back();
      v.push_back(cur);
    }
    return v;
  };
  const auto head = split(line);
  auto col = [&](const char* n) {
    for (std::size_t i = 0; i < head.size(); ++i)
      if (head[i] == n) return i;
    throw missing_entry(path, "", n, "missing column");
  };
  const std::size_t ccam = col("CAMERA"), camp = col("AMP"), crn = col("RDNOISE"), cg = col("GAIN");
  std::map<std::string, std::array<std::array<double, 3>, 4>> acc;  // sum rn, sum gain, count
  int row = 1;
  while (std::getline(f, line)) {
    ++row;
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    const auto v = split(line);
    if (v.size() < head.size()) throw format_error(path, "", "", "row " + std::to_string(row) + ": too few fields");
    const std::string amp = v[camp];
    const auto pos = std::string(amp_names).find(amp);
    if (amp.size() != 1 || pos == std::string::npos)
      throw format_error(path, "", "AMP", "row " + std::to_string(row) + ": amplifier '" + amp + "' is not A-D");
    char* end = nullptr;
    const double rn = std::strtod(v[crn].c_str(), &end);
    const double g = std::strtod(v[cg].c_str(), &end);
    if (!(rn > 0) || !(g > 0)) throw format_error(path, "", "", "row " + std::to_string(row) + ": non-positive value");
    auto& a = acc[v[ccam]][pos];
    a[0] += rn;
    a[1] += g;
    a[2] += 1;
  }
  read_noise_table t;
  for (const auto& [cam, amps] : acc) {
    std::array<amp_params, 4> p{};
    for (int a = 0; a < 4; ++a) {
      if (amps[a][2] == 0) throw format_error(path, "", "", "camera " + cam + " lacks amplifier " + amp_names[a]);
      p[a].rdnoise = amps[a][0] / amps[a][2];
      p[a].gain = amps[a][1] / amps[a][2];
    }
    t.cameras[cam] = p;
  }
  if (t.cameras.empty()) throw format_error(path, "", "", "no rows");
  return t;
}

/// Assumed bias levels (ADU) of amplifiers A–D: near 2000 with sub-ADU offsets, so
/// that rounding to integer ADU is not aligned with the bias.
inline std::array<double, 4> default_bias_levels() { return {1998.37, 2013.81, 1987.52, 2021.09}; }

/// Cosmic rays (docs/simulation.md#cosmic-rays): straight tracks of muons crossing
/// the depleted silicon. Events arrive at `rate` per cm² per minute (assumed
/// ~1.5: the sea-level muon flux of ≈ 1 cm⁻² min⁻¹ on a horizontal detector, a
/// little higher at Kitt Peak's 2.1 km); zenith angles follow cos²θ, azimuths are
/// uniform; the track's projected length is thickness·tanθ (capped), the charge is
/// ~80 e⁻ per µm of path (most probable loss of a minimum-ionising particle in
/// silicon) shared along the track with ±30% log-normal fluctuations per pixel.
struct cosmic_config {
  double rate_per_cm2_min = 1.5;
  double thickness_um = 0.0;     ///< sensitive thickness; 0: default_ccd_thickness_um(arm)
  double pixel_um = 15.0;
  double electrons_per_um = 80.0;
  double max_length_pix = 60.0;
};

/// Sensitive thickness (µm) assumed per arm: the r and z cameras use LBNL's fully
/// depleted 250 µm CCDs; the b cameras thinned CCDs (40 µm assumed).
inline double default_ccd_thickness_um(char arm) { return arm == 'b' ? 40.0 : 250.0; }

/// One cosmic-ray event (truth).
struct cosmic_event {
  double x = 0, y = 0;           ///< track start (image pixels)
  double theta = 0, phi = 0;     ///< zenith and azimuth angles (rad)
  double length_pix = 0;         ///< projected length (pixels)
  double electrons = 0;          ///< total deposit inside the image
};

/// Draws the cosmic-ray events of an exposure and rasterises their deposits into
/// `deposit` (row-major [ny, nx], electrons, added). Deterministic in (seed).
inline std::vector<cosmic_event> make_cosmics(const cosmic_config& cc, int nx, int ny, double exptime_s,
                                              std::uint64_t seed, std::vector<float>& deposit) {
  std::vector<cosmic_event> events;
  if (!(cc.rate_per_cm2_min > 0) || nx <= 0 || ny <= 0 || !(exptime_s > 0)) return events;
  if (!(cc.thickness_um > 0) || !(cc.pixel_um > 0))
    throw invalid_argument("specx::sim::make_cosmics: thickness and pixel size must be > 0");
  deposit.resize(static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny), 0.0f);
  const double area_cm2 = nx * ny * (cc.pixel_um * 1e-4) * (cc.pixel_um * 1e-4);
  random::counter_rng g0(seed, random::stream::cosmic, 0);
  const auto nev = static_cast<std::size_t>(g0.poisson(cc.rate_per_cm2_min * area_cm2 * exptime_s / 60.0));
  const double tpix = cc.thickness_um / cc.pixel_um;
  for (std::size_t k = 0; k < nev; ++k) {
    random::counter_rng g(seed, random::stream::cosmic, k + 1);
    cosmic_event ev;
    ev.x = g.uniform() * nx - 0.5;
    ev.y = g.uniform() * ny - 0.5;
    const double cth = std::max(std::cbrt(g.uniform()), 1e-6);  // pdf ∝ cos²θ sinθ → CDF cos³θ
    ev.theta = std::acos(cth);
    ev.phi = 6.283185307179586 * g.uniform();
    const double full_length = tpix * std::sqrt(std::max(0.0, 1.0 - cth * cth)) / cth;  // thickness·tanθ
    ev.length_pix = std::min(full_length, cc.max_length_pix);
    // charge of the path inside the silicon (thickness/cosθ), cut like the track
    const double path_um = cc.thickness_um / cth * (full_length > ev.length_pix ? ev.length_pix / full_length : 1.0);
    const double total = cc.electrons_per_um * path_um;
    const int nstep = std::max(1, static_cast<int>(std::ceil(ev.length_pix * 4)));
    std::map<std::size_t, double> pix;
    for (int s = 0; s < nstep; ++s) {
      const double f = (s + 0.5) / nstep;
      const int px = static_cast<int>(std::floor(ev.x + f * ev.length_pix * std::cos(ev.phi) + 0.5));
      const int py = static_cast<int>(std::floor(ev.y + f * ev.length_pix * std::sin(ev.phi) + 0.5));
      if (px < 0 || px >= nx || py < 0 || py >= ny) continue;
      pix[static_cast<std::size_t>(py) * static_cast<std::size_t>(nx) + static_cast<std::size_t>(px)] += total / nstep;
    }
    for (auto& [idx, e] : pix) {
      const double v = std::round(e * std::exp(0.3 * g.normal() - 0.045));  // mean-preserving log-normal
      deposit[idx] += static_cast<float>(v);
      ev.electrons += v;
    }
    events.push_back(ev);
  }
  return events;
}

/// Bad columns: `n` column segments, each in one amplifier, from a random row to
/// that amplifier's far edge (as charge traps block a column). Sets BAD in
/// `truth_mask` (row-major [ny, nx]). Deterministic in (seed).
inline std::vector<pixel_rect> make_bad_columns(int n, const amp_layout& L, std::uint64_t seed,
                                                std::vector<std::int32_t>& truth_mask) {
  std::vector<pixel_rect> cols;
  for (int k = 0; k < n; ++k) {
    random::counter_rng g(seed, random::stream::bad_column, static_cast<std::uint64_t>(k));
    const int x = std::min(L.nx - 1, static_cast<int>(g.uniform() * L.nx));
    const int y = std::min(L.ny - 1, static_cast<int>(g.uniform() * L.ny));
    const bool upper = y >= L.bottom();
    pixel_rect r{x, x + 1, upper ? L.bottom() : y, upper ? y + 1 : L.bottom()};
    for (int yy = r.y0; yy < r.y1; ++yy)
      truth_mask[static_cast<std::size_t>(yy) * static_cast<std::size_t>(L.nx) + static_cast<std::size_t>(x)] |=
          ccdmask::BAD;
    cols.push_back(r);
  }
  return cols;
}

namespace detail {
/// The per-raw-pixel noise and readout functor (see the file comment).
struct ccd_readout_functor {
  amp_layout L;
  double bias[4], gain[4], rdnoise[4];
  const float* expected;      ///< [ny, nx] model electrons (incl. dark)
  const float* deposit;       ///< [ny, nx] cosmic electrons, or null
  const std::int32_t* truth;  ///< [ny, nx] BAD/COSMIC bits, or null
  std::uint64_t seed;
  bool ivar_from_data;
  double saturation_adu;
  std::uint16_t* raw;         ///< [raw_ny, raw_nx]
  float* image;               ///< [ny, nx]
  float* ivar;
  std::int32_t* mask;
  float* readnoise;

  SPECX_HOST_DEVICE void operator()(std::size_t k) const {
    const int rnx = L.raw_nx();
    const int x = static_cast<int>(k % static_cast<std::size_t>(rnx));
    const int y = static_cast<int>(k / static_cast<std::size_t>(rnx));
    const int a = L.amp_of_raw(x, y);
    random::counter_rng g(seed, random::stream::pixel_noise, k);
    const pixel_rect d = L.datasec(a);
    const bool data = d.contains(x, y);
    std::size_t p = 0;
    double mu = 0, e = 0;
    std::int32_t m = 0;
    if (data) {
      const pixel_rect c = L.ccdsec(a);
      p = static_cast<std::size_t>(c.y0 + (y - d.y0)) * static_cast<std::size_t>(L.nx) +
          static_cast<std::size_t>(c.x0 + (x - d.x0));
      mu = expected[p];
      m = truth ? truth[p] : 0;
      const double counts = g.poisson(mu > 0 ? mu : 0.0);
      if (!(m & ccdmask::BAD)) e = counts + (deposit ? static_cast<double>(deposit[p]) : 0.0);
    }
    const double s = e + rdnoise[a] * g.normal();
    double adu = bias[a] + s / gain[a];
#if SPECX_DEVICE_PASS
    adu = ::floor(adu + 0.5);
#else
    adu = std::floor(adu + 0.5);
#endif
    bool sat = false;
    if (adu >= saturation_adu) {
      adu = saturation_adu;
      sat = true;
    }
    if (adu < 0) adu = 0;
    raw[k] = static_cast<std::uint16_t>(adu);
    if (!data) return;
    const double img = (adu - bias[a]) * gain[a];
    if (sat) m |= ccdmask::SATURATED;
    const double level = ivar_from_data ? img : mu;
    const double var = rdnoise[a] * rdnoise[a] + (level > 0 ? level : 0.0);
    image[p] = static_cast<float>(img);
    ivar[p] = m ? 0.0f : static_cast<float>(1.0 / var);
    mask[p] = m;
    readnoise[p] = static_cast<float>(rdnoise[a]);
  }
};
}  // namespace detail

/// A raw frame and the preprocessed image made from it (host arrays, row-major).
struct ccd_frame {
  amp_layout layout;
  std::array<amp_params, 4> amps{};
  xt::xtensor<std::uint16_t, 2> raw;   ///< [raw_ny, raw_nx] ADU
  xt::xtensor<float, 2> image;         ///< [ny, nx] electrons
  xt::xtensor<float, 2> ivar;          ///< [ny, nx] 1/electrons²
  xt::xtensor<std::int32_t, 2> mask;   ///< [ny, nx] ccdmask bits
  xt::xtensor<float, 2> readnoise;     ///< [ny, nx] electrons
};

/// Options of read_out().
struct readout_options {
  std::uint64_t seed = 0;
  bool ivar_from_data = false;     ///< DESI preproc's convention instead of the model
  double saturation_adu = 65535.0; ///< 16-bit ADC
};

/// Reads out a CCD on backend `be`: `expected` holds the model electrons of every
/// image pixel (backend vector, row-major [L.ny, L.nx], dark included), `deposit`
/// the cosmic-ray electrons and `truth_mask` the BAD/COSMIC bits (host, each empty
/// or [ny·nx]). One for_each_index over raw pixels; blocking.
template <backend::Backend B>
ccd_frame read_out(B be, const backend::vector_t<B, float>& expected, const amp_layout& L,
                   const std::array<amp_params, 4>& amps, std::span<const float> deposit,
                   std::span<const std::int32_t> truth_mask, const readout_options& opt) {
  const std::size_t npix = static_cast<std::size_t>(L.nx) * static_cast<std::size_t>(L.ny);
  if (L.nx < 2 || L.ny < 2) throw invalid_argument("specx::sim::read_out: the image must be at least 2 x 2");
  if (expected.size() != npix)
    throw invalid_argument("specx::sim::read_out: expected has " + std::to_string(expected.size()) +
                           " pixels, the layout " + std::to_string(npix));
  if ((!deposit.empty() && deposit.size() != npix) || (!truth_mask.empty() && truth_mask.size() != npix))
    throw invalid_argument("specx::sim::read_out: deposit and truth_mask must be empty or [ny, nx]");
  for (const auto& a : amps)
    if (!(a.gain > 0) || !(a.rdnoise >= 0)) throw invalid_argument("specx::sim::read_out: gains must be > 0");
  const std::size_t nraw = static_cast<std::size_t>(L.raw_nx()) * static_cast<std::size_t>(L.raw_ny());
  auto draw = backend::make_vector<std::uint16_t>(be, nraw);
  auto dimg = backend::make_vector<float>(be, npix);
  auto divar = backend::make_vector<float>(be, npix);
  auto dmask = backend::make_vector<std::int32_t>(be, npix);
  auto drn = backend::make_vector<float>(be, npix);
  auto ddep = backend::to_backend(be, deposit);
  auto dtruth = backend::to_backend(be, truth_mask);
  detail::ccd_readout_functor f{};
  f.L = L;
  for (int a = 0; a < 4; ++a) {
    f.bias[a] = amps[a].bias;
    f.gain[a] = amps[a].gain;
    f.rdnoise[a] = amps[a].rdnoise;
  }
  f.expected = backend::raw(be, expected);
  f.deposit = deposit.empty() ? nullptr : backend::raw(be, ddep);
  f.truth = truth_mask.empty() ? nullptr : backend::raw(be, dtruth);
  f.seed = opt.seed;
  f.ivar_from_data = opt.ivar_from_data;
  f.saturation_adu = opt.saturation_adu;
  f.raw = backend::raw(be, draw);
  f.image = backend::raw(be, dimg);
  f.ivar = backend::raw(be, divar);
  f.mask = backend::raw(be, dmask);
  f.readnoise = backend::raw(be, drn);
  backend::for_each_index(be, nraw, f);

  ccd_frame out;
  out.layout = L;
  out.amps = amps;
  auto fill = [](auto& dst, const auto& host, std::size_t r, std::size_t c) {
    using T = typename std::decay_t<decltype(dst)>::value_type;
    dst = xt::xtensor<T, 2>::from_shape({r, c});
    std::copy(host.begin(), host.end(), dst.begin());
  };
  const auto ny = static_cast<std::size_t>(L.ny), nx = static_cast<std::size_t>(L.nx);
  fill(out.raw, backend::to_host(be, draw), static_cast<std::size_t>(L.raw_ny()), static_cast<std::size_t>(L.raw_nx()));
  fill(out.image, backend::to_host(be, dimg), ny, nx);
  fill(out.ivar, backend::to_host(be, divar), ny, nx);
  fill(out.mask, backend::to_host(be, dmask), ny, nx);
  fill(out.readnoise, backend::to_host(be, drn), ny, nx);
  return out;
}

/// A raw-header card (value: integer, real or string), written by sim's writers.
struct card {
  std::string name;
  std::variant<std::int64_t, double, std::string> value;
  std::string comment;
};

/// The per-amplifier keywords desispec.preproc reads (CCDSEC, DATASEC, BIASSEC,
/// ORSEC per amplifier; GAIN, RDNOISE) plus DESI's PRESEC, PRRSEC, DETSEC and
/// CCDSIZE, and the camera name; names and value formats as in DESI raw data.
inline std::vector<card> amp_cards(const amp_layout& L, const std::array<amp_params, 4>& amps,
                                   const std::string& camera) {
  std::vector<card> c;
  c.push_back({"CAMERA", camera, "Camera name"});
  c.push_back({"CCDSIZE", std::to_string(L.raw_ny()) + "," + std::to_string(L.raw_nx()),
               "CCD size in pixels (rows, columns)"});
  for (int a = 0; a < 4; ++a) {
    const std::string n(1, amp_names[a]);
    c.push_back({"CCDSEC" + n, L.ccdsec(a).fits(), "CCD section for quadrant " + n});
    c.push_back({"DETSEC" + n, L.ccdsec(a).fits(), "Detector section for quadrant " + n});
    c.push_back({"DATASEC" + n, L.datasec(a).fits(), "Data section for quadrant " + n});
    c.push_back({"BIASSEC" + n, L.biassec(a).fits(), "Bias section for quadrant " + n});
    c.push_back({"ORSEC" + n, L.orsec(a).fits(), "Row overscan section for quadrant " + n});
    c.push_back({"PRESEC" + n, L.presec(a).fits(), "Prescan section for quadrant " + n});
    if (L.prescan_rows > 0) c.push_back({"PRRSEC" + n, L.prrsec(a).fits(), "Row prescan section for quadrant " + n});
    c.push_back({"GAIN" + n, amps[a].gain, "e/ADU; gain for quadrant " + n});
    c.push_back({"RDNOISE" + n, amps[a].rdnoise, "e; read noise for quadrant " + n});
    c.push_back({"SIMBIAS" + n, amps[a].bias, "ADU; simulated bias level (truth)"});
  }
  return c;
}

}  // namespace specx::sim
