// Exposure assembly: a configuration → input spectra per fiber → photon budget →
// projection through a PSF → CCD readout, with the truth kept
// (docs/simulation.md#exposures). Deterministic for a seed: every random quantity
// is a counter-based draw keyed by (seed, stream, fiber or pixel).
#pragma once

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../error.hpp"
#include "../igm.hpp"
#include "../psf/concept.hpp"
#include "../random.hpp"
#include "budget.hpp"
#include "ccd.hpp"
#include "photometry.hpp"
#include "project.hpp"
#include "spectra.hpp"

namespace specx::sim {

/// What the exposure observes.
enum class flavor { science, flat, arc };

inline const char* flavor_name(flavor f) { return f == flavor::science ? "science" : f == flavor::flat ? "flat" : "arc"; }

/// Fractions of target fibers (non-sky) per class; normalised internally.
struct target_mix {
  double galaxy = 0.5;
  double qso = 0.2;
  double star = 0.3;
};

/// The configuration of one simulated camera exposure.
struct exposure_config {
  std::string camera = "r0";          ///< b/r/z + spectrograph digit
  flavor obstype = flavor::science;
  std::vector<int> fibers;            ///< PSF fiber indices to illuminate; empty: all
  double exptime_s = 1000.0;
  double airmass = 1.2;
  std::uint64_t seed = 1;             ///< noise, cosmic rays (the exposure's own randomness)
  std::uint64_t scene_seed = 0;       ///< what is observed: targets, sky fibers, throughputs, bad
                                      ///< columns; 0: `seed`. Equal across the exposures and cameras of a night.
  std::int64_t expid = 1;
  std::int64_t night = 20250101;      ///< YYYYMMDD
  double wave_min = 0, wave_max = 0;  ///< sample range (Å); 0: the PSF's common domain
  double sample_step = 0.2;           ///< width of the projected samples (Å)
  double sky_fraction = 0.1;          ///< fraction of fibers that are sky fibers
  target_mix mix;
  double mag_min = 19.0, mag_max = 22.5;         ///< AB magnitude range in the filter (DECam r)
  double star_mag_min = 0, star_mag_max = 0;     ///< range for stars (e.g. bright standards); both 0: mag_min..mag_max
  double galaxy_zmin = 0.05, galaxy_zmax = 1.4;  ///< uniform galaxy redshifts
  double qso_zmin = 0.5, qso_zmax = 3.5;         ///< uniform quasar redshifts
  double qso_hiz_threshold = 1.5;                ///< QSO-HIZ template at and above this z, else LOZ
  double qso_pca_amplitude = 0.05;               ///< see qso_coefficients
  double star_rv_sigma_kms = 30.0;               ///< Gaussian radial velocities
  double point_acceptance = 0.60;     ///< assumed fiber-aperture acceptance, QSO and stars
  double extended_acceptance = 0.45;  ///< assumed fiber-aperture acceptance, galaxies
  double fiber_thru_sigma = 0.03;     ///< fiber-to-fiber throughput scatter (fraction)
  double fiber_thru_slope_sigma = 0.01;  ///< its slow change across the arm (fraction, end to end ±)
  double sky_level_sigma = 0.02;      ///< per-fiber sky level scatter (fraction)
  double sky_continuum_ab = 21.9;     ///< dark-sky continuum, AB mag arcsec⁻²
  double flat_level = 2e4;            ///< flat lamp: electrons per Å at peak (before throughput shape)
  double arc_line_electrons = 2e5;    ///< arc lamp: electrons per line of unit strength
  double dark_e_per_hour = -1;        ///< dark current; < 0: the arm's default (specsim)
  bool cosmics = true;
  cosmic_config cosmic;               ///< thickness 0: the arm's (default_ccd_thickness_um)
  int n_bad_columns = 2;
  bool ivar_from_data = false;
  std::string data_dir;               ///< the repository's data/ folder, for the loading overload
};

/// The data a simulation reads (templates, sky, atmosphere, filter, CCD electronics,
/// IGM). Loaded by load_inputs (sim/files.hpp) or built by hand.
struct sim_inputs {
  template_basis galaxy;
  template_basis qso_loz, qso_hiz;
  std::vector<template_basis> stars;
  sky_model sky;
  tabulated_curve extinction;
  filter_curve filter;
  read_noise_table rdnoise;
  igm::inoue14_table igm;
  std::map<char, tabulated_curve> throughput;  ///< per arm; missing arms use default_throughput
};

/// Truth of one fiber.
struct fiber_truth {
  int fiber = 0;              ///< PSF fiber index
  std::string objtype;        ///< TGT, SKY, or CAL (lamp exposures)
  std::string spectype;       ///< GALAXY, QSO, STAR, SKY, FLAT, ARC
  std::string subtype;        ///< template subtype (LOZ, HIZ, G, ...)
  int templateid = -1;        ///< archetype row (galaxies, stars)
  double z = 0;               ///< redshift (v/c for stars)
  double mag = std::numeric_limits<double>::quiet_NaN();  ///< AB in the filter
  double acceptance = 0;      ///< fiber-aperture acceptance used
  double thru_scale = 1, thru_slope = 0;  ///< τ_f(λ) = thru_scale · (1 + thru_slope · u(λ)), u ∈ [−1, 1]
  double sky_scale = 1;
  std::vector<double> coeff;  ///< template coefficients
};

/// Everything known about the simulated exposure.
struct exposure_truth {
  std::vector<fiber_truth> fibers;
  sample_grid grid;                        ///< projected samples (observed Å)
  xt::xtensor<double, 1> wave;             ///< sample centres [nwave]
  xt::xtensor<float, 2> flux;              ///< [nfiber, nwave] object f_λ at the top of the atmosphere, 1e-17 erg/s/cm²/Å
  xt::xtensor<float, 2> sky;               ///< [nfiber, nwave] sky surface brightness incl. sky_scale, 1e-17 erg/s/cm²/Å/arcsec²
  xt::xtensor<float, 2> throughput;        ///< [nfiber, nwave] instrument T(λ)·τ_f(λ) (no atmosphere, no aperture)
  xt::xtensor<float, 2> object_electrons;  ///< [nfiber, nwave] expected object electrons per sample
  xt::xtensor<float, 2> sky_electrons;     ///< [nfiber, nwave] expected sky electrons per sample
  xt::xtensor<float, 2> expected;          ///< [ny, nx] model image in electrons (projection + dark)
  xt::xtensor<std::int32_t, 2> mask;       ///< [ny, nx] truth BAD / COSMIC bits
  xt::xtensor<float, 2> cosmic_electrons;  ///< [ny, nx] cosmic-ray deposits
  std::vector<cosmic_event> cosmics;
  std::vector<pixel_rect> bad_columns;
  double dark_electrons = 0;               ///< per pixel
};

/// A simulated exposure of one camera: the CCD frame (raw + preprocessed), the
/// truth and the header cards (raw HDU and primary).
struct simulated_exposure {
  exposure_config config;
  ccd_frame ccd;
  exposure_truth truth;
  std::vector<card> primary_cards;
  std::vector<card> camera_cards;
};

/// The template a science target of simulate_exposure was drawn from: the galaxy
/// set, the QSO set whose subtype it records (LOZ/HIZ), or the stellar set of its
/// subtype. Throws invalid_argument for sky or lamp fibers and unknown subtypes.
inline const template_basis& template_of(const sim_inputs& in, const fiber_truth& ft) {
  const std::string fn = "specx::sim::template_of(fiber " + std::to_string(ft.fiber) + "): ";
  if (ft.spectype == "GALAXY") return in.galaxy;
  if (ft.spectype == "QSO") return ft.subtype == in.qso_hiz.subtype && in.qso_hiz.nbasis() > 0 ? in.qso_hiz : in.qso_loz;
  if (ft.spectype == "STAR")
    for (const auto& t : in.stars)
      if (t.subtype == ft.subtype) return t;
  throw invalid_argument(fn + "no template for spectype '" + ft.spectype + "' subtype '" + ft.subtype + "'");
}

/// The object's f_λ at the top of the atmosphere (1e-17 erg/s/cm²/Å, bin means over
/// `grid`) exactly as simulate_exposure put it in the fiber: the template spectrum
/// at the truth's redshift, scaled to its magnitude `ft.mag` in `in.filter`
/// (normalised on `phot_grid`, by default photometry_grid(in.filter)). Any grid the
/// template covers works, so the truth can be evaluated over other cameras or filters.
inline std::vector<double> object_spectrum(const sim_inputs& in, const fiber_truth& ft, const sample_grid& grid,
                                           const sample_grid& phot_grid = {}) {
  const auto& t = template_of(in, ft);
  auto shape = [&](const sample_grid& g) {
    return ft.spectype == "QSO" ? qso_spectrum(t, ft.coeff, ft.z, g, &in.igm)
                                : archetype_spectrum(t, static_cast<std::size_t>(ft.templateid), ft.z, g);
  };
  const auto pgrid = phot_grid.size() > 0 ? phot_grid : photometry_grid(in.filter);
  const double m0 = ab_magnitude(pgrid.centers(), shape(pgrid), in.filter);
  const double scale = std::pow(10.0, -0.4 * (ft.mag - m0));
  auto f = shape(grid);
  for (auto& v : f) v *= scale;
  return f;
}

namespace detail {
inline std::string date_obs(std::int64_t night) {
  using namespace std::chrono;
  const year_month_day d{year{static_cast<int>(night / 10000)}, month{static_cast<unsigned>((night / 100) % 100)},
                         day{static_cast<unsigned>(night % 100)}};
  if (!d.ok()) throw invalid_argument("specx::sim: night " + std::to_string(night) + " is not a valid YYYYMMDD date");
  const year_month_day n{sys_days{d} + days{1}};  // Kitt Peak nights end on the next UTC date
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT05:00:00.000", static_cast<int>(n.year()),
                static_cast<unsigned>(n.month()), static_cast<unsigned>(n.day()));
  return buf;
}
}  // namespace detail

/// Simulates one camera exposure on backend `be` through `psf` (the model decides
/// the CCD size and where fibers land). Throws invalid_argument for inconsistent
/// configurations (a fiber outside the PSF, a template that does not cover the
/// needed wavelengths, an unknown camera). Blocking.
template <backend::Backend B, psf::Psf P>
simulated_exposure simulate_exposure(B be, const P& psf, const exposure_config& cfg, const sim_inputs& in) {
  using T = typename P::value_type;
  const char* fn = "specx::sim::simulate_exposure";
  auto fail = [&](const std::string& m) { throw invalid_argument(std::string(fn) + ": " + m); };
  const char arm = camera_arm(cfg.camera);
  if (!(cfg.exptime_s >= 0) || !(cfg.airmass >= 1.0)) fail("need exptime >= 0 and airmass >= 1");
  if (!(cfg.sample_step > 0)) fail("sample_step must be > 0");
  if (!(cfg.sky_fraction >= 0 && cfg.sky_fraction <= 1)) fail("sky_fraction must be in [0, 1]");
  const std::uint64_t scene = cfg.scene_seed != 0 ? cfg.scene_seed : cfg.seed;

  simulated_exposure out;
  out.config = cfg;
  auto& truth = out.truth;

  // ---- fibers and the sample grid ------------------------------------------------
  std::vector<int> fibers = cfg.fibers;
  if (fibers.empty()) {
    fibers.resize(static_cast<std::size_t>(psf.nfiber()));
    std::iota(fibers.begin(), fibers.end(), 0);
  }
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  for (int f : fibers) {
    if (f < 0 || f >= psf.nfiber())
      fail("fiber " + std::to_string(f) + " is outside the PSF's 0.." + std::to_string(psf.nfiber() - 1));
    lo = std::max(lo, double(psf.wavemin(f)));
    hi = std::min(hi, double(psf.wavemax(f)));
  }
  if (cfg.wave_min > 0) lo = std::max(lo, cfg.wave_min);
  if (cfg.wave_max > 0) hi = std::min(hi, cfg.wave_max);
  if (!(hi > lo + cfg.sample_step)) fail("empty wavelength range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  truth.grid = sample_grid::linear(lo, hi, cfg.sample_step);
  const auto& grid = truth.grid;
  const std::size_t nf = fibers.size(), nw = grid.size();
  truth.wave = xt::xtensor<double, 1>::from_shape({nw});
  for (std::size_t j = 0; j < nw; ++j) truth.wave(j) = grid.center(j);
  const std::array<std::size_t, 2> shape{nf, nw};
  truth.flux = xt::zeros<float>(shape);
  truth.sky = xt::zeros<float>(shape);
  truth.throughput = xt::zeros<float>(shape);
  truth.object_electrons = xt::zeros<float>(shape);
  truth.sky_electrons = xt::zeros<float>(shape);

  // ---- instrument ----------------------------------------------------------------
  photon_budget budget;
  budget.exptime_s = cfg.exptime_s;
  budget.airmass = cfg.airmass;
  budget.throughput = in.throughput.count(arm) ? in.throughput.at(arm) : default_throughput(arm);
  budget.extinction = in.extinction;
  double tpeak = 0;
  for (double v : budget.throughput.value) tpeak = std::max(tpeak, v);
  sky_model sky = in.sky;
  sky.continuum_ab = cfg.sky_continuum_ab;
  std::vector<double> sky_sb;
  if (cfg.obstype == flavor::science) sky_sb = sky.surface_brightness(grid);
  const auto thru = budget.throughput.bin_means(grid);
  const double lmid = 0.5 * (grid.edges.front() + grid.edges.back());
  const double lhalf = 0.5 * (grid.edges.back() - grid.edges.front());

  // ---- which fibers are sky: the nsky smallest keyed uniforms ------------------------
  std::vector<char> is_sky(nf, 0);
  if (cfg.obstype == flavor::science) {
    const auto nsky = static_cast<std::size_t>(std::llround(cfg.sky_fraction * static_cast<double>(nf)));
    std::vector<std::pair<double, std::size_t>> u(nf);
    for (std::size_t i = 0; i < nf; ++i)
      u[i] = {random::counter_rng(scene, random::stream::target, static_cast<std::uint64_t>(fibers[i]) << 8).uniform(), i};
    std::sort(u.begin(), u.end());
    for (std::size_t k = 0; k < nsky; ++k) is_sky[u[k].second] = 1;
  }
  const double mix_total = cfg.mix.galaxy + cfg.mix.qso + cfg.mix.star;
  if (cfg.obstype == flavor::science && !(mix_total > 0)) fail("the target mix must have a positive total");
  const auto pgrid = in.filter.wave.empty() ? sample_grid{} : photometry_grid(in.filter);
  const auto arcs = default_arc_lines();
  const auto arc_shape = cfg.obstype == flavor::arc ? arc_spectrum(grid, arcs, cfg.arc_line_electrons) : std::vector<double>{};
  const auto flat_shape = cfg.obstype == flavor::flat ? flat_spectrum(grid, cfg.flat_level) : std::vector<double>{};

  std::vector<T> photons(nf * nw, T(0));
  std::vector<double> flux(nw), tau(nw), obj_e(nw), sky_e(nw);
  for (std::size_t i = 0; i < nf; ++i) {
    fiber_truth ft;
    ft.fiber = fibers[i];
    const auto key = static_cast<std::uint64_t>(fibers[i]);
    {  // fiber-to-fiber throughput, slow in λ
      random::counter_rng g(scene, random::stream::throughput, key);
      ft.thru_scale = 1.0 + cfg.fiber_thru_sigma * g.normal();
      ft.thru_slope = cfg.fiber_thru_slope_sigma * g.normal();
      for (std::size_t j = 0; j < nw; ++j) tau[j] = ft.thru_scale * (1.0 + ft.thru_slope * (grid.center(j) - lmid) / lhalf);
    }
    std::fill(flux.begin(), flux.end(), 0.0);
    if (cfg.obstype != flavor::science) {
      ft.objtype = "CAL";
      ft.spectype = cfg.obstype == flavor::flat ? "FLAT" : "ARC";
      const auto& lamp = cfg.obstype == flavor::flat ? flat_shape : arc_shape;
      for (std::size_t j = 0; j < nw; ++j) {
        obj_e[j] = lamp[j] * grid.width(j) * tau[j] * (tpeak > 0 ? thru[j] / tpeak : 0.0);
        sky_e[j] = 0;
      }
    } else {
      random::counter_rng gs(scene, random::stream::sky, key);
      ft.sky_scale = 1.0 + cfg.sky_level_sigma * gs.normal();
      if (is_sky[i]) {
        ft.objtype = "SKY";
        ft.spectype = "SKY";
      } else {
        ft.objtype = "TGT";
        if (pgrid.size() == 0) fail("sim_inputs has no filter curve to normalise target magnitudes");
        random::counter_rng g(scene, random::stream::target, (key << 8) | 1);
        const double uclass = g.uniform() * mix_total;
        ft.mag = cfg.mag_min + (cfg.mag_max - cfg.mag_min) * g.uniform();
        if (uclass < cfg.mix.galaxy) {
          const auto& t = in.galaxy;
          if (t.narchetypes() == 0) fail("the galaxy template has no ARCHETYPE_COEFF");
          ft.spectype = "GALAXY";
          ft.subtype = t.subtype;
          ft.templateid = static_cast<int>(std::min<std::size_t>(t.narchetypes() - 1, static_cast<std::size_t>(g.uniform() * t.narchetypes())));
          ft.z = cfg.galaxy_zmin + (cfg.galaxy_zmax - cfg.galaxy_zmin) * g.uniform();
          ft.coeff = t.archetype(static_cast<std::size_t>(ft.templateid));
          ft.acceptance = cfg.extended_acceptance;
        } else if (uclass < cfg.mix.galaxy + cfg.mix.qso) {
          ft.spectype = "QSO";
          ft.z = cfg.qso_zmin + (cfg.qso_zmax - cfg.qso_zmin) * g.uniform();
          const auto& t = ft.z >= cfg.qso_hiz_threshold ? in.qso_hiz : in.qso_loz;
          ft.subtype = t.subtype;
          ft.coeff = qso_coefficients(t, scene, key, cfg.qso_pca_amplitude);
          ft.acceptance = cfg.point_acceptance;
        } else {
          if (in.stars.empty()) fail("no stellar templates");
          const auto& t = in.stars[std::min(in.stars.size() - 1, static_cast<std::size_t>(g.uniform() * in.stars.size()))];
          if (t.narchetypes() == 0) fail("stellar template " + t.subtype + " has no ARCHETYPE_COEFF");
          ft.spectype = "STAR";
          if (cfg.star_mag_max > cfg.star_mag_min)
            ft.mag = cfg.star_mag_min + (cfg.star_mag_max - cfg.star_mag_min) * (ft.mag - cfg.mag_min) / (cfg.mag_max - cfg.mag_min);
          ft.subtype = t.subtype;
          ft.templateid = static_cast<int>(std::min<std::size_t>(t.narchetypes() - 1, static_cast<std::size_t>(g.uniform() * t.narchetypes())));
          ft.z = cfg.star_rv_sigma_kms * g.normal() / 299792.458;
          ft.coeff = t.archetype(static_cast<std::size_t>(ft.templateid));
          ft.acceptance = cfg.point_acceptance;
        }
        const auto obs = object_spectrum(in, ft, grid, pgrid);
        std::copy(obs.begin(), obs.end(), flux.begin());
      }
      fiber_electrons(budget, grid, ft.objtype == "SKY" ? std::span<const double>{} : std::span<const double>(flux),
                      ft.acceptance, sky_sb, ft.sky_scale, tau, obj_e, sky_e);
    }
    for (std::size_t j = 0; j < nw; ++j) {
      truth.flux(i, j) = static_cast<float>(flux[j]);
      truth.sky(i, j) = sky_sb.empty() ? 0.0f : static_cast<float>(sky_sb[j] * ft.sky_scale);
      truth.throughput(i, j) = static_cast<float>(thru[j] * tau[j]);
      truth.object_electrons(i, j) = static_cast<float>(obj_e[j]);
      truth.sky_electrons(i, j) = static_cast<float>(sky_e[j]);
      photons[i * nw + j] = static_cast<T>(obj_e[j] + sky_e[j]);
    }
    truth.fibers.push_back(std::move(ft));
  }

  // ---- projection through the PSF ---------------------------------------------------
  std::vector<T> waves(nw);
  for (std::size_t j = 0; j < nw; ++j) waves[j] = static_cast<T>(grid.center(j));
  const auto model = project(be, psf, std::span<const int>(fibers), std::span<const T>(waves), std::span<const T>(photons));
  const int nx = psf.npix_x(), ny = psf.npix_y();
  const std::size_t npix = static_cast<std::size_t>(nx) * static_cast<std::size_t>(ny);
  const double dark_rate = cfg.dark_e_per_hour >= 0 ? cfg.dark_e_per_hour : default_dark_current(arm);
  truth.dark_electrons = dark_rate * cfg.exptime_s / 3600.0;
  truth.expected = xt::xtensor<float, 2>::from_shape({static_cast<std::size_t>(ny), static_cast<std::size_t>(nx)});
  for (std::size_t p = 0; p < npix; ++p)
    truth.expected.data()[p] = static_cast<float>(double(model.data()[p]) + truth.dark_electrons);

  // ---- CCD defects and readout -------------------------------------------------------
  amp_layout L;
  L.nx = nx;
  L.ny = ny;
  std::array<amp_params, 4> amps = in.rdnoise.at(cfg.camera);
  const auto bias = default_bias_levels();
  for (int a = 0; a < 4; ++a) amps[a].bias = bias[a];
  std::vector<float> deposit;
  std::vector<std::int32_t> tmask(npix, 0);
  if (cfg.cosmics) {
    cosmic_config cc = cfg.cosmic;
    if (!(cc.thickness_um > 0)) cc.thickness_um = default_ccd_thickness_um(arm);
    truth.cosmics = make_cosmics(cc, nx, ny, cfg.exptime_s, cfg.seed, deposit);
    for (std::size_t p = 0; p < deposit.size(); ++p)
      if (deposit[p] > 0) tmask[p] |= ccdmask::COSMIC;
  }
  truth.bad_columns = make_bad_columns(cfg.n_bad_columns, L, scene, tmask);
  truth.mask = xt::xtensor<std::int32_t, 2>::from_shape({static_cast<std::size_t>(ny), static_cast<std::size_t>(nx)});
  std::copy(tmask.begin(), tmask.end(), truth.mask.begin());
  truth.cosmic_electrons = xt::zeros<float>({static_cast<std::size_t>(ny), static_cast<std::size_t>(nx)});
  if (!deposit.empty()) std::copy(deposit.begin(), deposit.end(), truth.cosmic_electrons.begin());

  auto dexp = backend::to_backend(be, std::span<const float>(truth.expected.data(), npix));
  readout_options ro;
  ro.seed = cfg.seed;
  ro.ivar_from_data = cfg.ivar_from_data;
  out.ccd = read_out(be, dexp, L, amps, std::span<const float>(deposit), std::span<const std::int32_t>(tmask), ro);

  // ---- header cards ------------------------------------------------------------------
  const std::string obstype = cfg.obstype == flavor::science ? "SCIENCE" : cfg.obstype == flavor::flat ? "FLAT" : "ARC";
  std::vector<card> common = {
      {"EXPID", std::int64_t(cfg.expid), "Exposure number"},
      {"NIGHT", std::int64_t(cfg.night), "Observing night"},
      {"DATE-OBS", detail::date_obs(cfg.night), "[UTC] Observation data and start time"},
      {"EXPTIME", cfg.exptime_s, "[s] Actual exposure time"},
      {"FLAVOR", std::string(flavor_name(cfg.obstype)), "Observation type"},
      {"OBSTYPE", obstype, "Spectrograph observation type"},
      {"AIRMASS", cfg.airmass, "Airmass"},
      {"INSTRUME", std::string("DESI"), "Instrument name"},
      {"PROCTYPE", std::string("RAW"), "Data processing level"},
      {"SIMSEED", static_cast<std::int64_t>(cfg.seed & 0x7fffffffffffffffULL), "specx simulation seed"},
  };
  out.primary_cards = common;
  out.camera_cards = common;
  out.camera_cards.push_back({"DETECTOR", std::string("SIM"), "Detector (ccd) identification"});
  if (cfg.camera.size() > 1 && std::isdigit(static_cast<unsigned char>(cfg.camera[1])))
    out.camera_cards.push_back({"SPECGRPH", std::int64_t(cfg.camera[1] - '0'), "Spectrograph logical name (SP)"});
  for (auto& c : amp_cards(L, amps, cfg.camera)) out.camera_cards.push_back(std::move(c));
  return out;
}

}  // namespace specx::sim
