// specx: the example driver. A thin front end: every step is a library call;
// this file only parses the command line (CLI11), routes the library's log hook
// to spdlog and prints results (fmt).
//
//   specx demo                 the main job: bundled real files, then a simulated night (night)
//   specx night                simulate a night of one spectrograph (b, r, z) and reduce it:
//                              raw → preproc → extract → fiberflat → sky → fluxcalib → coadd → redshift
//   specx simulate             simulate one camera exposure (raw, preproc, truth files)
//   specx extract              simulate an r0 exposure and extract it (spectroperfectionism)
//   specx redshift COADD       redshifts of a DESI spectra/coadd file (redrock's method)
//   specx info FILE...         summarise DESI PSF / spectra / coadd / template files
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <specx/backend.hpp>
#include <specx/core.hpp>
#include <specx/error.hpp>
#include <specx/io.hpp>
#include <specx/log.hpp>
#include <specx/fluxcalib/io.hpp>
#include <specx/pipeline.hpp>
#include <specx/photometry.hpp>
#include <specx/extract.hpp>
#include <specx/psf.hpp>
#include <specx/redshift.hpp>
#include <specx/redshift/io.hpp>
#include <specx/sim.hpp>

namespace {

namespace fs = std::filesystem;

void route_library_log_to_spdlog() {
  specx::set_log_hook([](specx::log_level lvl, std::string_view msg) {
    switch (lvl) {
      case specx::log_level::debug: spdlog::debug("{}", msg); break;
      case specx::log_level::info: spdlog::info("{}", msg); break;
      case specx::log_level::warning: spdlog::warn("{}", msg); break;
      case specx::log_level::error: spdlog::error("{}", msg); break;
    }
  });
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

void summarise_psf(const std::string& path) {
  const auto psf = specx::io::read_psf(path);
  const std::size_t nf = psf.nfiber();
  const specx::core::legendre_domain<double> tdom{psf.ytrace.wavemin, psf.ytrace.wavemax};
  auto eval = [&](const specx::io::legendre_set& s, std::size_t f, double w) {
    return specx::core::legendre_value(&s.coeff(f, 0), static_cast<int>(s.ncoef()) - 1, tdom.to_reduced(w));
  };
  const double wmid = 0.5 * (tdom.wavemin + tdom.wavemax);
  std::vector<double> spacing;
  for (std::size_t f = 1; f < nf; ++f) spacing.push_back(eval(psf.xtrace, f, wmid) - eval(psf.xtrace, f - 1, wmid));
  fmt::print("PSF {}\n", fs::path(path).filename().string());
  fmt::print("  {:<30}{}\n", "type / PSFVER", fmt::format("{} / {}", psf.psftype, psf.psfver));
  fmt::print("  {:<30}{}\n", "fibers", nf);
  fmt::print("  {:<30}{} x {}\n", "CCD (NPIX_X x NPIX_Y)", psf.npix_x, psf.npix_y);
  fmt::print("  {:<30}{:.1f} - {:.1f} A\n", "trace wavelength domain", tdom.wavemin, tdom.wavemax);
  fmt::print("  {:<30}{} x {} (GH degree {} x {})\n", "stamp", 2 * psf.hsizex + 1, 2 * psf.hsizey + 1,
             psf.ghdegx, psf.ghdegy);
  fmt::print("  {:<30}{}\n", "parameters", psf.params.size());
  fmt::print("  {:<30}x {:.1f} .. {:.1f} px at {:.0f} A\n", "traces", eval(psf.xtrace, 0, wmid),
             eval(psf.xtrace, nf - 1, wmid), wmid);
  fmt::print("  {:<30}{:.2f} px (min {:.2f}, max {:.2f})\n", "median fiber spacing", median(spacing),
             *std::min_element(spacing.begin(), spacing.end()), *std::max_element(spacing.begin(), spacing.end()));
  fmt::print("  {:<30}{:.1f} .. {:.1f} px\n", "trace y range (fiber 0)", eval(psf.ytrace, 0, tdom.wavemin),
             eval(psf.ytrace, 0, tdom.wavemax));
  if (psf.has_param("GHSIGX")) {
    const auto& sx = psf.param("GHSIGX");
    const auto& sy = psf.param("GHSIGY");
    const specx::core::legendre_domain<double> pdom{sx.wavemin, sx.wavemax};
    std::vector<double> vx, vy;
    for (std::size_t f = 0; f < nf; ++f) {
      vx.push_back(specx::core::legendre_value(&sx.coeff(f, 0), static_cast<int>(sx.ncoef()) - 1, pdom.to_reduced(wmid)));
      vy.push_back(specx::core::legendre_value(&sy.coeff(f, 0), static_cast<int>(sy.ncoef()) - 1, pdom.to_reduced(wmid)));
    }
    fmt::print("  {:<30}{:.3f} x {:.3f} px (median over fibers)\n", "core sigma (GHSIGX x GHSIGY)", median(vx),
               median(vy));
  }
}

void summarise_spectra(const std::string& path) {
  const auto s = specx::io::read_spectra(path);
  fmt::print("Spectra {}\n", fs::path(path).filename().string());
  fmt::print("  {:<10}{:>6}{:>7}{:>20}{:>10}{:>12}{:>14}\n", "band", "nspec", "nwave", "wavelength (A)", "ndiag",
             "masked %", "median S/N");
  for (const auto& b : s.bands) {
    std::size_t masked = 0, total = b.flux.size();
    std::vector<double> snr;
    for (std::size_t i = 0; i < b.nspec(); ++i) {
      std::vector<double> row;
      for (std::size_t j = 0; j < b.nwave(); ++j) {
        const bool bad = (b.mask && (*b.mask)(i, j) != 0) || !(b.ivar(i, j) > 0);
        masked += bad;
        if (!bad) row.push_back(b.flux(i, j) * std::sqrt(double(b.ivar(i, j))));
      }
      if (!row.empty()) snr.push_back(median(row));
    }
    fmt::print("  {:<10}{:>6}{:>7}{:>20}{:>10}{:>11.1f}%{:>14.2f}\n", b.name, b.nspec(), b.nwave(),
               fmt::format("{:.1f}-{:.1f}", b.wavelength(0), b.wavelength(b.nwave() - 1)),
               b.resolution ? std::to_string(b.resolution->shape()[1]) : std::string("-"),
               100.0 * double(masked) / double(std::max<std::size_t>(total, 1)), median(snr));
  }
  if (s.fibermap) fmt::print("  FIBERMAP: {} rows, {} columns\n", s.fibermap->nrows(), s.fibermap->ncols());
}

void summarise(const std::string& path) {
  // Decide by content, not by name: spectra files have *_FLUX HDUs, PSF files XTRACE.
  specx::io::fits_file f(path);
  if (f.has_hdu("XTRACE") || f.has_hdu("PSF")) {
    summarise_psf(path);
  } else if (f.has_hdu("B_FLUX") || f.has_hdu("R_FLUX") || f.has_hdu("Z_FLUX")) {
    summarise_spectra(path);
  } else {
    const auto t = specx::io::read_template(path);
    fmt::print("Template {}: {} {} — {} basis vectors x {} wavelengths ({:.1f}-{:.1f} A)\n",
               fs::path(path).filename().string(), t.rrtype, t.rrsubtype, t.nbasis(), t.nwave(), t.wave.front(),
               t.wave.back());
  }
}

/// Wall-clock timer for the per-step table.
struct stopwatch {
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

/// Run `fn(backend)` with the backend named on the command line.
template <class F>
void with_backend(const std::string& name, F&& fn) {
  if (name == "cpu") return fn(specx::backend::cpu{});
#if SPECX_HAS_THRUST
  if (name == "thrust-omp") return fn(specx::backend::thrust_omp{});
#endif
  throw specx::invalid_argument("unknown or unavailable backend '" + name + "' (cpu, thrust-omp)");
}

struct simulate_options {
  std::string psf_file;
  std::string data_dir;
  std::string camera = "r0";
  std::string backend = "cpu";
  std::string out_dir;  // empty: do not write files
  int nfiber = 500;
  double exptime = 1000;
  double airmass = 1.2;
  std::uint64_t seed = 1;
};

/// Simulate one exposure through the real PSF and print what went in.
void run_simulate(const simulate_options& o) {
  with_backend(o.backend, [&](auto be) {
    using B = decltype(be);
    stopwatch total;
    spdlog::info("[1/3] reading PSF {}", o.psf_file);
    const auto file = specx::io::read_psf(o.psf_file);
    specx::psf::gauss_hermite_psf<double, B> psf(file, be);

    specx::sim::exposure_config cfg;
    cfg.camera = o.camera;
    cfg.exptime_s = o.exptime;
    cfg.airmass = o.airmass;
    cfg.seed = o.seed;
    cfg.data_dir = o.data_dir;
    for (int f = 0; f < std::min(o.nfiber, psf.nfiber()); ++f) cfg.fibers.push_back(f);

    spdlog::info("[2/3] simulating {} fibers of {} on {} ({} s, airmass {}, seed {}) ...", cfg.fibers.size(),
                 o.camera, B::name, o.exptime, o.airmass, o.seed);
    stopwatch t_sim;
    const auto inputs = specx::sim::load_inputs(o.data_dir);
    const auto exp = specx::sim::simulate_exposure(be, psf, cfg, inputs);
    const double sim_s = t_sim.seconds();

    std::map<std::string, int> classes;
    std::map<std::string, double> electrons;
    const auto& tr = exp.truth;
    for (std::size_t i = 0; i < tr.fibers.size(); ++i) {
      classes[tr.fibers[i].spectype]++;
      double e = 0;
      for (std::size_t j = 0; j < tr.wave.size(); ++j) e += tr.object_electrons(i, j) + tr.sky_electrons(i, j);
      electrons[tr.fibers[i].spectype] += e;
    }
    std::size_t cosmic_px = 0;
    for (auto m : tr.mask) cosmic_px += (m & 16) != 0;  // ccdmask COSMIC bit
    double image_sum = 0;
    for (auto v : exp.ccd.image) image_sum += v;

    fmt::print("\nSimulated exposure: camera {}, {} fibers, {} samples of {:.2f} A ({:.1f}-{:.1f} A)\n", o.camera,
               tr.fibers.size(), tr.wave.size(), cfg.sample_step, tr.wave(0), tr.wave(tr.wave.size() - 1));
    fmt::print("  {:<10}{:>8}{:>22}\n", "class", "fibers", "electrons per fiber");
    for (const auto& [k, n] : classes) fmt::print("  {:<10}{:>8}{:>22.3g}\n", k, n, electrons[k] / n);
    fmt::print("  CCD {} x {} px (raw {} x {}), {:.4g} electrons, {} cosmic rays ({} px masked)\n",
               exp.ccd.image.shape()[1], exp.ccd.image.shape()[0], exp.ccd.raw.shape()[1], exp.ccd.raw.shape()[0],
               image_sum, tr.cosmics.size(), cosmic_px);
    fmt::print("  simulation {:.2f} s on {}\n", sim_s, B::name);
    if (!o.out_dir.empty()) {
      spdlog::info("[3/3] writing raw, preproc and truth files to {}", o.out_dir);
      fs::create_directories(o.out_dir);
      specx::sim::write_exposure(o.out_dir, exp);
    } else {
      spdlog::info("[3/3] no --out given: files not written");
    }
    spdlog::info("done in {:.1f} s", total.seconds());
  });
}

/// Simulate an exposure whose samples sit on the extraction grid (one 0.8 Å delta
/// per output bin, as extraction models the flux, so pulls against the truth are
/// exact), extract it and print fibers, S/N, pulls and time.
void run_extract(const simulate_options& o) {
  with_backend(o.backend, [&](auto be) {
    using B = decltype(be);
    stopwatch total;
    spdlog::info("[1/4] reading PSF {}", o.psf_file);
    specx::psf::gauss_hermite_psf<double, B> psf(specx::io::read_psf(o.psf_file), be);
    specx::sim::exposure_config cfg;
    cfg.camera = o.camera;
    cfg.exptime_s = o.exptime;
    cfg.airmass = o.airmass;
    cfg.seed = o.seed;
    cfg.sample_step = 0.8;
    cfg.wave_min = 5759.6 - 0.8 * 200;
    const int nf = std::min(o.nfiber, psf.nfiber());
    for (int f = 0; f < nf; ++f) cfg.fibers.push_back(f);
    spdlog::info("[2/4] simulating {} fibers of {} ...", nf, o.camera);
    stopwatch t_sim;
    const auto e = specx::sim::simulate_exposure(be, psf, cfg, specx::sim::load_inputs(o.data_dir));
    const double sim_s = t_sim.seconds();
    std::vector<double> wave;
    for (int j = 0; j < 2326; ++j) wave.push_back(5760.0 + 0.8 * j);  // DESI's r grid

    spdlog::info("[3/4] extracting {} fibers x {} bins on {} ...", nf, wave.size(), B::name);
    // preproc subtracts a dark frame; here the simulation's known dark level.
    const xt::xtensor<float, 2> image = e.ccd.image - float(e.truth.dark_electrons);
    stopwatch t_ex;
    const specx::extract::trace_inverse inv(psf, 9);
    const auto r = specx::extract::extract_frame(be, psf, specx::extract::view_of(image, e.ccd.ivar, &e.ccd.mask), 0,
                                                 nf, wave, inv);
    const double ex_s = t_ex.seconds();

    // Pulls (flux − R·truth)·√ivar, truth = each 0.8 Å sample's electrons / 0.8 Å.
    std::vector<double> pulls, snr, chi2;
    std::size_t flagged = 0;
    const int nd = r.ndiag;
    for (int s = 0; s < nf; ++s) {
      std::vector<double> tb(wave.size(), 0.0), rt(wave.size(), 0.0);
      std::size_t k = 0;
      for (std::size_t j = 0; j < wave.size(); ++j) {
        while (e.truth.wave(k) < wave[j] - 0.1) ++k;
        tb[j] = (double(e.truth.object_electrons(s, k)) + double(e.truth.sky_electrons(s, k))) / 0.8;
      }
      for (int j = 0; j < int(wave.size()); ++j)
        for (int d = 0; d <= 2 * nd; ++d) {
          const int i = j + d - nd;
          if (i >= 0 && i < int(wave.size())) rt[i] += r.resolution(s, d, j) * tb[j];
        }
      std::vector<double> row;
      for (std::size_t j = nd; j + nd < wave.size(); ++j) {
        if (r.mask(s, j) != 0 || !(r.ivar(s, j) > 0)) {
          ++flagged;
          continue;
        }
        pulls.push_back((r.flux(s, j) - rt[j]) * std::sqrt(r.ivar(s, j)));
        row.push_back(r.flux(s, j) * std::sqrt(r.ivar(s, j)));
        chi2.push_back(r.chi2pix(s, j));
      }
      snr.push_back(median(row));
    }
    double m = 0, ss = 0;
    for (double p : pulls) m += p;
    m /= double(pulls.size());
    for (double p : pulls) ss += (p - m) * (p - m);
    fmt::print("\nExtraction of a simulated {} exposure ({}, {} fibers x {} bins {:.1f}-{:.1f} A)\n", o.camera, B::name,
               nf, wave.size(), wave.front(), wave.back());
    fmt::print("  {:<34}{}\n", "patches solved / failed", fmt::format("{} / {}", r.npatch, r.nfailed));
    fmt::print("  {:<34}{:.2f}\n", "median S/N per bin (median fiber)", median(snr));
    fmt::print("  {:<34}mean {:+.4f}, rms {:.4f} over {} bins ({} flagged)\n", "pulls (flux - R truth) sqrt(ivar)", m,
               std::sqrt(ss / double(pulls.size())), pulls.size(), flagged);
    fmt::print("  {:<34}{:.3f}\n", "median chi2/pixel", median(chi2));
    fmt::print("  {:<34}simulation {:.2f} s, extraction {:.2f} s ({:.1f} us per flux element)\n", "time", sim_s, ex_s,
               1e6 * ex_s / (double(nf) * double(wave.size())));
    if (!o.out_dir.empty()) {
      fs::create_directories(o.out_dir);
      specx::io::frame_data fr;
      fr.flux = xt::cast<float>(r.flux);
      fr.ivar = xt::cast<float>(r.ivar);
      fr.mask = r.mask;
      fr.wavelength = r.wavelength;
      fr.resolution = xt::cast<float>(r.resolution);
      fr.chi2pix = xt::xtensor<float, 2>(xt::cast<float>(r.chi2pix));
      const std::string path = o.out_dir + "/frame-" + o.camera + ".fits";
      spdlog::info("[4/4] writing {}", path);
      specx::io::write_frame(path, fr);
    } else {
      spdlog::info("[4/4] no --out given: frame not written");
    }
    spdlog::info("done in {:.1f} s", total.seconds());
  });
}

struct night_options {
  std::string data_dir;
  std::string backend = "cpu";
  std::string out_dir;  // empty: no files written
  int nfiber = 50;
  int nexp = 3;
  double exptime = 900;
  double airmass = 1.2;
  std::uint64_t seed = 20251125;
};

/// DESI's extraction grid of an arm (0.8 Å), restricted to where every fiber of
/// `psf` in [0, nfiber) has its traces, 2 Å inside.
template <class P>
std::vector<double> arm_grid(char arm, const P& psf, int nfiber) {
  const double a = arm == 'b' ? 3600.0 : arm == 'r' ? 5760.0 : 7520.0;
  const double b = arm == 'b' ? 5800.0 : arm == 'r' ? 7620.0 : 9824.0;
  double lo = a, hi = b;
  for (int f = 0; f < nfiber; ++f) {
    lo = std::max(lo, double(psf.wavemin(f)) + 2.0);
    hi = std::min(hi, double(psf.wavemax(f)) - 2.0);
  }
  std::vector<double> w;
  for (int j = 0; a + 0.8 * j <= b + 1e-9; ++j)
    if (a + 0.8 * j >= lo && a + 0.8 * j <= hi) w.push_back(a + 0.8 * j);
  return w;
}

/// Simulates a night of one spectrograph — a flat and `nexp` science exposures of
/// the b, r, z cameras (r: the real r0 Gauss–Hermite PSF; b, z: Gaussian PSFs on the
/// real b0/z0 traces) — and reduces it with the library's pipeline: raw → preproc →
/// extract → fiber flat → sky → flux calibration → coadd → redshifts. Prints the
/// result table (per class: redshift success vs truth, median ZERR; per step: time).
void run_night(const night_options& o) {
  with_backend(o.backend, [&](auto be) {
    using B = decltype(be);
    namespace pl = specx::pipeline;
    namespace rz = specx::redshift;
    stopwatch total;
    pl::step_times times;
    double sim_s = 0;
    const std::string d = o.data_dir;
    spdlog::info("night: {} fibers, {} x {} s science exposures + 1 flat, cameras b0 r0 z0, backend {}", o.nfiber,
                 o.nexp, o.exptime, B::name);
    const auto inputs = specx::sim::load_inputs(d);
    const std::vector<std::string> bands{"b", "r", "z"};
    const int nexp_total = o.nexp + 1;  // expid 0: the flat
    // frames[e][c]: science exposure e, camera c (sky-subtracted, then calibrated)
    std::vector<std::vector<specx::io::frame_data>> frames(static_cast<std::size_t>(o.nexp));
    std::vector<specx::sim::fiber_truth> truth;
    std::vector<int> sky_rows;
    int nf = 0;
    std::size_t camera_index = 0;

    auto reduce_camera = [&](const auto& psf, const std::string& camera) {
      const char arm = camera[0];
      nf = std::min(o.nfiber, psf.nfiber());
      pl::camera_options copt;
      copt.specmin = 0;
      copt.nspec = nf;
      copt.wave = arm_grid(arm, psf, nf);
      copt.extract.model_image = false;
      copt.preproc.exptime = o.exptime;
      copt.preproc.cosmics.psf_gradients = specx::preproc::psf_gradients(psf);
      copt.preproc.dark = xt::xtensor<float, 2>::from_shape({std::size_t(psf.npix_y()), std::size_t(psf.npix_x())});
      copt.preproc.dark.fill(float(specx::sim::default_dark_current(arm) / 3600.0));  // the master dark
      specx::fiberflat::result flat;
      for (int e = 0; e < nexp_total; ++e) {
        specx::sim::exposure_config cfg;
        cfg.camera = camera;
        cfg.obstype = e == 0 ? specx::sim::flavor::flat : specx::sim::flavor::science;
        cfg.exptime_s = e == 0 ? 60.0 : o.exptime;
        cfg.airmass = o.airmass;
        cfg.scene_seed = o.seed;
        cfg.seed = o.seed * 1000 + std::uint64_t(e) * 10 + camera_index;
        cfg.expid = 100 + e;
        cfg.sky_fraction = 0.2;
        cfg.star_mag_min = 16.5;  // bright stars: the standards
        cfg.star_mag_max = 18.5;
        cfg.data_dir = d;
        for (int f = 0; f < nf; ++f) cfg.fibers.push_back(f);
        spdlog::info("  [{}] exposure {} ({}): simulate, preproc, extract {} fibers x {} bins ...", camera, cfg.expid,
                     specx::sim::flavor_name(cfg.obstype), nf, copt.wave.size());
        stopwatch ts;
        const auto ex = specx::sim::simulate_exposure(be, psf, cfg, inputs);
        sim_s += ts.seconds();
        copt.preproc.exptime = cfg.exptime_s;
        if (copt.preproc.mask.size() == 0)  // the camera's known bad columns (DESI's master bad-pixel mask)
          copt.preproc.mask = ex.truth.mask & specx::ccdmask::BAD;
        auto fr = pl::extract_raw(be, psf, ex.ccd.raw, specx::sim::header_of(ex.camera_cards), copt, times,
                                  "simulated " + camera + " exposure " + std::to_string(cfg.expid));
        if (e == 0) {
          flat = pl::compute_fiberflat(be, fr, copt, times);
          continue;
        }
        if (truth.empty()) {
          truth = ex.truth.fibers;
          for (int f = 0; f < nf; ++f)
            if (truth[std::size_t(f)].objtype == "SKY") sky_rows.push_back(f);
        }
        pl::calibrate_science(be, fr, flat, std::span<const int>(sky_rows), copt, times);
        frames[std::size_t(e - 1)].push_back(std::move(fr));
      }
      ++camera_index;
    };
    {
      const auto b_file = specx::io::read_psf(d + "/psf/traces-b0.fits");
      reduce_camera(specx::psf::gaussian_psf<double, B>(b_file, be), "b0");
    }
    reduce_camera(specx::psf::gauss_hermite_psf<double, B>(specx::io::read_psf(d + "/psf/psf-r0-00067784.fits"), be),
                  "r0");
    reduce_camera(specx::psf::gaussian_psf<double, B>(specx::io::read_psf(d + "/psf/traces-z0.fits"), be), "z0");

    // ---- flux calibration: standard stars are the STAR targets, g r z photometry from the truth
    spdlog::info("  flux calibration of {} exposures ...", o.nexp);
    pl::flux_calibration fc;
    fc.grid = specx::fluxcalib::read_default_stellar_grid(d);
    fc.stdstar.airmass = fc.calib.airmass = o.airmass;
    fc.stdstar.extinction = fc.calib.extinction = specx::fluxcalib::read_extinction(d + "/atmosphere/ZenExtinct-KPNO.fits");
    for (const char* f : {"g", "r", "z"})
      fc.stdstar.filters.push_back(specx::photometry::read_filter_ecsv(d + "/filters/decamDR1-" + f + ".ecsv", f));
    pl::standard_stars stars;
    const auto pgrid = specx::sim::sample_grid::linear(3500, 10950, 1.0);
    for (int f = 0; f < nf; ++f) {
      const auto& t = truth[std::size_t(f)];
      if (t.spectype != "STAR") continue;
      const auto flux = specx::sim::object_spectrum(inputs, t, pgrid);
      specx::fluxcalib::star_photometry p;
      for (const auto& filt : fc.stdstar.filters)
        p.mag.push_back(specx::photometry::ab_magnitude(pgrid.centers(), flux, filt));
      stars.rows.push_back(f);
      stars.photometry.push_back(std::move(p));
    }
    std::vector<std::size_t> stars_used(bands.size(), 0);
    for (auto& e : frames) {
      std::vector<specx::io::frame_data*> ptrs;
      for (auto& f : e) ptrs.push_back(&f);
      const auto [fits, cals] = pl::flux_calibrate(be, std::span<specx::io::frame_data* const>(ptrs),
                                                   std::span<const std::string>(bands), stars, fc, times);
      for (std::size_t c = 0; c < cals.size(); ++c) stars_used[c] = cals[c].calibration.nstars_used;
    }

    // ---- coadd and redshifts
    spdlog::info("  coadd of {} exposures, redshifts of {} spectra ...", o.nexp, nf);
    specx::io::table fibermap;
    {
      xt::xtensor<std::int64_t, 1> tid = xt::xtensor<std::int64_t, 1>::from_shape({std::size_t(nf)});
      xt::xtensor<std::int32_t, 1> fib = xt::xtensor<std::int32_t, 1>::from_shape({std::size_t(nf)});
      std::vector<std::string> objtype;
      for (int f = 0; f < nf; ++f) {
        tid(f) = 39600000000000LL + f;
        fib(f) = f;
        objtype.push_back(truth[std::size_t(f)].objtype);
      }
      fibermap.add_column("TARGETID", tid);
      fibermap.add_column("FIBER", fib);
      fibermap.add_column("OBJTYPE", objtype);
    }
    const auto coadd = pl::coadd_night(be, frames, std::span<const std::string>(bands), fibermap, times);
    const auto tpl = rz::load_templates(d + "/templates");
    auto tb = rz::targets_from_spectra(coadd);
    rz::prepare(tb);
    rz::zfind_options zo;
    zo.scan.inoue = rz::load_inoue14(d + "/redshift");
    rz::zfind_result zr;
    {
      stopwatch tz;
      zr = rz::zfind(be, tpl, tb, zo);
      times.redshift += tz.seconds();
    }

    // ---- flux calibration vs truth: calibrated / true flux summed over the r camera
    // (R conserves flux; galaxies sit lower by their smaller fiber acceptance,
    // which point-source calibration does not know: DESI's PSF_TO_FIBER factor)
    std::map<std::string, std::vector<double>> calib_ratio;
    {
      const auto& rw = coadd.band("R").wavelength;
      const double step = rw(1) - rw(0);
      const auto rgrid = specx::sim::sample_grid::linear(rw(0) - step / 2, rw(rw.size() - 1) + step / 2 + 1e-9, step);
      for (int f = 0; f < nf; ++f) {
        const auto& t = truth[std::size_t(f)];
        if (t.objtype != "TGT") continue;
        const auto tf = specx::sim::object_spectrum(inputs, t, rgrid);
        double a = 0, b = 0;
        for (std::size_t j = 0; j < rw.size() && j < tf.size(); ++j) {
          a += coadd.band("R").flux(f, j);
          b += tf[j];
        }
        calib_ratio[t.spectype].push_back(a / b);
      }
    }

    // ---- result table
    struct cls {
      int n = 0, type_ok = 0, z_ok = 0, zwarn = 0;
      std::vector<double> zerr;
    };
    std::map<std::string, cls> by;
    for (int f = 0; f < nf; ++f) {
      const auto& t = truth[std::size_t(f)];
      if (t.objtype != "TGT") continue;
      const auto& c = zr.targets[std::size_t(f)].fits.front();
      auto& k = by[t.spectype];
      ++k.n;
      const bool type_ok = c.spectype == t.spectype;
      k.type_ok += type_ok;
      k.z_ok += type_ok && std::abs(c.z - t.z) < 0.0033 * (1 + t.z);
      k.zwarn += c.zwarn != 0;
      k.zerr.push_back(c.zerr);
    }
    fmt::print("\nSimulated night: spectrograph 0 (b0 r0 z0), {} fibers ({} sky, {} standard stars), {} x {:.0f} s, "
               "airmass {:.2f}, backend {}\n",
               nf, sky_rows.size(), stars.rows.size(), o.nexp, o.exptime, o.airmass, B::name);
    fmt::print("  {:<8}{:>6}{:>12}{:>18}{:>14}{:>10}\n", "class", "N", "type ok", "redshift ok", "median ZERR",
               "ZWARN!=0");
    cls all;
    for (const auto& [name, k] : by) {
      fmt::print("  {:<8}{:>6}{:>12}{:>11} ({:>3.0f}%){:>14.2e}{:>10}\n", name, k.n, k.type_ok, k.z_ok,
                 100.0 * k.z_ok / std::max(k.n, 1), median(k.zerr), k.zwarn);
      all.n += k.n;
      all.type_ok += k.type_ok;
      all.z_ok += k.z_ok;
      all.zwarn += k.zwarn;
      all.zerr.insert(all.zerr.end(), k.zerr.begin(), k.zerr.end());
    }
    fmt::print("  {:<8}{:>6}{:>12}{:>11} ({:>3.0f}%){:>14.2e}{:>10}\n", "all", all.n, all.type_ok, all.z_ok,
               100.0 * all.z_ok / std::max(all.n, 1), median(all.zerr), all.zwarn);
    fmt::print("  redshift ok: right spectype and |dz| < 0.0033 (1 + z) (1000 km/s)\n");
    fmt::print("  flux calibration, calibrated / true flux over the r camera (median):");
    for (const auto& [k, v] : calib_ratio) fmt::print(" {} {:.3f}", k, median(v));
    fmt::print(" (fiber acceptance: point sources {:.2f}, galaxies {:.2f} of the total flux)\n",
               specx::sim::exposure_config{}.point_acceptance, specx::sim::exposure_config{}.extended_acceptance);
    fmt::print("  standard stars used per camera:");
    for (std::size_t c = 0; c < bands.size(); ++c) fmt::print(" {} {}", bands[c], stars_used[c]);
    fmt::print("\n  {:<28}{:>10}\n", "step (all cameras, exposures)", "seconds");
    const std::pair<const char*, double> rows[] = {
        {"simulation (not reduction)", sim_s}, {"preproc", times.preproc},     {"extract", times.extract},
        {"fiberflat", times.fiberflat},        {"sky", times.sky},             {"fluxcalib", times.fluxcalib},
        {"coadd", times.coadd},                {"redshift", times.redshift}};
    double red = 0;
    for (const auto& [k, v] : rows) {
      fmt::print("  {:<28}{:>10.2f}\n", k, v);
      if (std::string(k).rfind("simulation", 0) != 0) red += v;
    }
    fmt::print("  {:<28}{:>10.2f}\n", "reduction total", red);
    if (!o.out_dir.empty()) {
      fs::create_directories(o.out_dir);
      for (std::size_t e = 0; e < frames.size(); ++e)
        for (std::size_t c = 0; c < bands.size(); ++c)
          specx::io::write_frame(fmt::format("{}/cframe-{}0-{:08d}.fits", o.out_dir, bands[c], 101 + e), frames[e][c]);
      specx::io::write_spectra(o.out_dir + "/coadd-0-night.fits", coadd);
      rz::write_redshifts(o.out_dir + "/redrock-0-night.fits", zr, tpl, {.zfit = true});
      spdlog::info("wrote cframes, coadd and redshift catalog to {}", o.out_dir);
    }
    spdlog::info("done in {:.1f} s", total.seconds());
  });
}

struct redshift_options {
  std::string input;
  std::string data_dir;
  std::string output;  // empty: no catalog file
  std::string backend = "cpu";
  bool scans = false;
};

/// Fit redshifts of every target of a spectra/coadd file and print a summary.
void run_redshift(const redshift_options& o) {
  with_backend(o.backend, [&](auto be) {
    using B = decltype(be);
    namespace rz = specx::redshift;
    stopwatch total;
    spdlog::info("[1/4] loading templates from {}/templates", o.data_dir);
    const auto tpl = rz::load_templates(o.data_dir + "/templates");
    spdlog::info("[2/4] reading targets from {}", o.input);
    auto tb = rz::targets_from_spectra(specx::io::read_spectra(o.input));
    rz::prepare(tb);
    rz::zfind_options zo;
    zo.keep_scans = o.scans;
    // Written scans are plotted: every value fitted with the target's own R.
    if (o.scans) zo.coarse = rz::coarse_scan::exact;
    zo.scan.inoue = rz::load_inoue14(o.data_dir + "/redshift");
    spdlog::info("[3/4] scanning {} templates on {} ...", tpl.size(), B::name);
    const auto r = rz::zfind(be, tpl, tb, zo);
    const std::size_t nt = r.targets.size();

    fmt::print("\nRedshifts of {} ({} targets, {} templates, backend {})\n", fs::path(o.input).filename().string(),
               nt, tpl.size(), B::name);
    fmt::print("  {:>20}{:>10}{:>12}{:>11}{:>8}{:>12}{:>10}\n", "TARGETID", "SPECTYPE", "Z", "ZERR", "ZWARN",
               "DELTACHI2", "NPIXELS");
    std::map<std::string, int> counts;
    std::vector<double> zerr;
    std::size_t nwarn = 0;
    for (const auto& t : r.targets) {
      const auto& c = t.fits.front();
      counts[c.spectype]++;
      if (c.zerr > 0) zerr.push_back(c.zerr);
      nwarn += c.zwarn != 0;
      fmt::print("  {:>20}{:>10}{:>12.6f}{:>11.2e}{:>8}{:>12.1f}{:>10}\n", t.targetid, c.spectype, c.z, c.zerr,
                 c.zwarn, c.deltachi2, c.npixels);
    }
    fmt::print("  spectypes:");
    for (const auto& [k, n] : counts) fmt::print(" {} {}", k, n);
    fmt::print("; median ZERR {:.2e}; ZWARN != 0: {:.0f}%\n", median(zerr),
               100.0 * double(nwarn) / double(std::max<std::size_t>(nt, 1)));
    fmt::print("  time: scan {:.2f} s + refine {:.2f} s = {:.2f} s per target\n", r.seconds_scan, r.seconds_fit,
               (r.seconds_scan + r.seconds_fit) / double(std::max<std::size_t>(nt, 1)));
    if (!o.output.empty()) {
      spdlog::info("[4/4] writing {}", o.output);
      rz::write_redshifts(o.output, r, tpl, {.scans = o.scans, .zfit = true});
    } else {
      spdlog::info("[4/4] no --out given: catalog not written");
    }
    spdlog::info("done in {:.1f} s", total.seconds());
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"specx: fiber-spectrograph reduction (example driver)"};
  app.require_subcommand(1);
  std::string level = "info";
  app.add_option("--log-level", level, "debug, info, warn, error")->capture_default_str();

  std::string data_dir = SPECX_DATA_DIR;
  auto* demo = app.add_subcommand("demo", "Run the main job on the bundled data and print a summary");
  demo->add_option("--data-dir", data_dir, "Folder holding psf/ and spectra/")->capture_default_str();

  simulate_options sim;
  sim.data_dir = data_dir;
  sim.psf_file = data_dir + "/psf/psf-r0-00067784.fits";
  auto* simulate = app.add_subcommand("simulate", "Simulate one camera exposure through a real DESI PSF");
  simulate->add_option("--psf", sim.psf_file, "PSF file")->capture_default_str();
  simulate->add_option("--data-dir", sim.data_dir, "Folder with templates, sky, extinction, ...")->capture_default_str();
  simulate->add_option("--camera", sim.camera, "Camera (b/r/z + spectrograph)")->capture_default_str();
  simulate->add_option("--fibers", sim.nfiber, "Number of fibers (from 0)")->capture_default_str();
  simulate->add_option("--exptime", sim.exptime, "Exposure time (s)")->capture_default_str();
  simulate->add_option("--airmass", sim.airmass, "Airmass")->capture_default_str();
  simulate->add_option("--seed", sim.seed, "Random seed (the exposure is a function of it)")->capture_default_str();
  simulate->add_option("--backend", sim.backend, "cpu or thrust-omp")->capture_default_str();
  simulate->add_option("--out", sim.out_dir, "Write raw/preproc/truth FITS files to this folder");
  demo->add_option("--backend", sim.backend, "cpu or thrust-omp")->capture_default_str();
  int demo_fibers = 50;
  demo->add_option("--fibers", demo_fibers, "Fibers of the simulated night")->capture_default_str();
  simulate_options ex = sim;
  auto* extract = app.add_subcommand("extract", "Simulate an r0 exposure and extract it");
  extract->add_option("--psf", ex.psf_file, "PSF file")->capture_default_str();
  extract->add_option("--data-dir", ex.data_dir, "Folder with templates, sky, ...")->capture_default_str();
  extract->add_option("--fibers", ex.nfiber, "Number of fibers (from 0)")->capture_default_str();
  extract->add_option("--exptime", ex.exptime, "Exposure time (s)")->capture_default_str();
  extract->add_option("--seed", ex.seed, "Random seed")->capture_default_str();
  extract->add_option("--backend", ex.backend, "cpu or thrust-omp")->capture_default_str();
  extract->add_option("--out", ex.out_dir, "Write the DESI frame file to this folder");

  night_options nt;
  nt.data_dir = data_dir;
  auto* night = app.add_subcommand("night", "Simulate a night of one spectrograph (b, r, z) and reduce it to redshifts");
  night->add_option("--data-dir", nt.data_dir, "Folder with psf/, templates/, sky/, ...")->capture_default_str();
  night->add_option("--fibers", nt.nfiber, "Fibers of the spectrograph (from 0)")->capture_default_str();
  night->add_option("--exposures", nt.nexp, "Science exposures")->capture_default_str();
  night->add_option("--exptime", nt.exptime, "Exposure time (s)")->capture_default_str();
  night->add_option("--airmass", nt.airmass, "Airmass")->capture_default_str();
  night->add_option("--seed", nt.seed, "Random seed of the night")->capture_default_str();
  night->add_option("--backend", nt.backend, "cpu or thrust-omp")->capture_default_str();
  night->add_option("--out", nt.out_dir, "Write cframes, the coadd and the redshift catalog here");

  redshift_options rz;
  rz.data_dir = data_dir;
  auto* redshift = app.add_subcommand("redshift", "Fit redshifts of a DESI spectra/coadd file");
  redshift->add_option("input", rz.input, "Spectra or coadd FITS file")->required()->check(CLI::ExistingFile);
  redshift->add_option("--data-dir", rz.data_dir, "Folder with templates/ and redshift/")->capture_default_str();
  redshift->add_option("--out", rz.output, "Write the REDSHIFTS catalog here");
  redshift->add_flag("--scans", rz.scans, "Also write chi2(z) of every template (exact scan everywhere: slower)");
  redshift->add_option("--backend", rz.backend, "cpu or thrust-omp")->capture_default_str();

  std::vector<std::string> files;
  auto* info = app.add_subcommand("info", "Summarise DESI PSF, spectra/coadd or redrock template files");
  info->add_option("files", files, "FITS files")->required()->check(CLI::ExistingFile);

  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::from_str(level));
  route_library_log_to_spdlog();

  try {
    if (*demo) {
      spdlog::info("specx {} demo: reading the bundled real DESI files in {}", SPECX_VERSION_STRING, data_dir);
      summarise(data_dir + "/psf/psf-r0-00067784.fits");
      summarise(data_dir + "/spectra/coadd-sv3-dark-26065.fits");
      rz.data_dir = data_dir;
      rz.input = data_dir + "/spectra/coadd-sv3-dark-26065.fits";
      rz.backend = sim.backend;
      run_redshift(rz);
      nt.data_dir = data_dir;
      nt.nfiber = demo_fibers;
      nt.backend = sim.backend;
      run_night(nt);
    } else if (*night) {
      run_night(nt);
    } else if (*redshift) {
      run_redshift(rz);
    } else if (*extract) {
      run_extract(ex);
    } else if (*simulate) {
      run_simulate(sim);
    } else if (*info) {
      for (const auto& f : files) summarise(f);
    }
  } catch (const specx::error& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
