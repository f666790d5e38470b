// specx: the example driver. A thin front end: every step is a library call;
// this file only parses the command line (CLI11), routes the library's log hook
// to spdlog and prints results (fmt).
//
//   specx demo                 the main job: bundled real files, then a simulated r0 exposure
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
  demo->add_option("--fibers", demo_fibers, "Fibers of the simulated exposure to extract")->capture_default_str();
  simulate_options ex = sim;
  auto* extract = app.add_subcommand("extract", "Simulate an r0 exposure and extract it");
  extract->add_option("--psf", ex.psf_file, "PSF file")->capture_default_str();
  extract->add_option("--data-dir", ex.data_dir, "Folder with templates, sky, ...")->capture_default_str();
  extract->add_option("--fibers", ex.nfiber, "Number of fibers (from 0)")->capture_default_str();
  extract->add_option("--exptime", ex.exptime, "Exposure time (s)")->capture_default_str();
  extract->add_option("--seed", ex.seed, "Random seed")->capture_default_str();
  extract->add_option("--backend", ex.backend, "cpu or thrust-omp")->capture_default_str();
  extract->add_option("--out", ex.out_dir, "Write the DESI frame file to this folder");

  redshift_options rz;
  rz.data_dir = data_dir;
  auto* redshift = app.add_subcommand("redshift", "Fit redshifts of a DESI spectra/coadd file");
  redshift->add_option("input", rz.input, "Spectra or coadd FITS file")->required()->check(CLI::ExistingFile);
  redshift->add_option("--data-dir", rz.data_dir, "Folder with templates/ and redshift/")->capture_default_str();
  redshift->add_option("--out", rz.output, "Write the REDSHIFTS catalog here");
  redshift->add_flag("--scans", rz.scans, "Also write chi2(z) of every template");
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
      sim.data_dir = data_dir;
      sim.psf_file = data_dir + "/psf/psf-r0-00067784.fits";
      sim.nfiber = demo_fibers;
      run_extract(sim);
      rz.data_dir = data_dir;
      rz.input = data_dir + "/spectra/coadd-sv3-dark-26065.fits";
      rz.backend = sim.backend;
      run_redshift(rz);
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
