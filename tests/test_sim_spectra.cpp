// Input spectra of the forward model: redshifting conventions, synthetic AB
// magnitudes, template spectra, lamps.
#include "testing.hpp"

#include <specx/io.hpp>
#include <specx/sim.hpp>

using namespace specx;
using sim::sample_grid;

namespace {
// ∫ of the linear interpolant of (x, y) over [a, b] (reference, by trapezoids).
double integral(const std::vector<double>& x, const std::vector<double>& y, double a, double b) {
  return core::trapz_bin_mean(x.data(), y.data(), x.size(), a, b) * (b - a);
}
double sum_flux(const sample_grid& g, const std::vector<double>& f) {
  double s = 0;
  for (std::size_t i = 0; i < f.size(); ++i) s += f[i] * g.width(i);
  return s;
}
}  // namespace

TEST_CASE("sim spectra: redshifting conserves the integrated flux (f_obs = f_rest(λ/(1+z))/(1+z))") {
  // A synthetic rest spectrum: continuum + narrow lines, on a 0.25 Å grid.
  std::vector<double> x, y;
  for (double l = 1000; l <= 9000; l += 0.25) {
    x.push_back(l);
    y.push_back(1.0 + 0.2 * std::sin(l / 300.0) + 50.0 * std::exp(-0.5 * std::pow((l - 3728.5) / 0.7, 2)) +
                20.0 * std::exp(-0.5 * std::pow((l - 4862.7) / 1.1, 2)));
  }
  for (double z : {0.0, 0.3, 0.7, 1.4}) {
    for (double step : {0.1, 0.8, 3.0}) {
      const auto g = sample_grid::linear(4000, 8800, step);
      const auto f = sim::redshift_onto(x, y, z, g);
      const double ref = integral(x, y, g.edges.front() / (1 + z), g.edges.back() / (1 + z));
      CAPTURE(z);
      CAPTURE(step);
      CHECK(sum_flux(g, f) == doctest::Approx(ref).epsilon(1e-12));
    }
  }
  // Outside the template: an error, not a silent zero.
  CHECK_THROWS_AS(sim::redshift_onto(x, y, 0.0, sample_grid::linear(500, 2000, 1.0)), specx::invalid_argument);
}

TEST_CASE("sim spectra: a line's observed wavelength is rest·(1+z)") {
  std::vector<double> x, y;
  const double rest = 3728.48;
  for (double l = 3000; l <= 4500; l += 0.05) {
    x.push_back(l);
    y.push_back(std::exp(-0.5 * std::pow((l - rest) / 0.6, 2)));
  }
  for (double z : {0.1, 0.55, 1.2}) {
    const auto g = sample_grid::linear(rest * (1 + z) - 40, rest * (1 + z) + 40, 0.1);
    const auto f = sim::redshift_onto(x, y, z, g);
    double m0 = 0, m1 = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      m0 += f[i] * g.width(i);
      m1 += f[i] * g.width(i) * g.center(i);
    }
    // The centroid of bin means of a Gaussian sampled at 0.1 Å: exact to ~1e-4 Å.
    CHECK(m1 / m0 == doctest::Approx(rest * (1 + z)).epsilon(1e-7));
    // and the line flux is (√(2π)·0.6)·(1+z)/(1+z): conserved.
    CHECK(m0 == doctest::Approx(std::sqrt(2 * M_PI) * 0.6).epsilon(1e-6));
  }
}

TEST_CASE("sim spectra: synthetic AB magnitude of a flat f_ν spectrum") {
  const auto filter = sim::read_filter_ecsv(test::data_path("filters/decamDR1-r.ecsv"), "decam-r");
  CHECK(filter.wave.front() == doctest::Approx(5400.0));
  for (double m : {15.0, 19.7, 21.0, 23.4}) {
    std::vector<double> w, f;
    for (double l = 5000; l <= 7600; l += 0.37) {
      w.push_back(l);
      f.push_back(sim::flat_fnu_flambda(m, l));  // 3631 Jy·10^(−0.4 m)·c/λ², in 1e-17 units
    }
    CHECK(std::abs(sim::ab_magnitude(w, f, filter) - m) < 1e-6);
    // scaling by 10 brightens by exactly 2.5 mag
    for (auto& v : f) v *= 10;
    CHECK(std::abs(sim::ab_magnitude(w, f, filter) - (m - 2.5)) < 1e-9);
  }
  // Not covering the filter is an error.
  std::vector<double> w{6000, 6001}, f{1, 1};
  CHECK_THROWS_AS(sim::ab_magnitude(w, f, filter), specx::invalid_argument);
}

TEST_CASE("sim spectra: galaxy, QSO and star templates give spectra scaled to a magnitude") {
  const auto gal = sim::to_template_basis(io::read_template(test::data_path("templates/rrtemplate-GALAXY-2016.fits")));
  const auto loz = sim::to_template_basis(io::read_template(test::data_path("templates/rrtemplate-QSO-LOZ-v1.1.fits")));
  const auto hiz = sim::to_template_basis(io::read_template(test::data_path("templates/rrtemplate-QSO-HIZ-v1.1.fits")));
  const auto star = sim::to_template_basis(io::read_template(test::data_path("templates/rrtemplate-STAR-G-v0.1.fits")));
  const auto filter = sim::read_filter_ecsv(test::data_path("filters/decamDR1-r.ecsv"));
  const auto igmt = igm::read_inoue14(test::data_path("redshift/LAFcoeff.txt"), test::data_path("redshift/DLAcoeff.txt"));
  const auto pg = sim::photometry_grid(filter);
  const auto grid = sample_grid::linear(3600, 9800, 0.5);

  SUBCASE("galaxy: integrated flux conserved for the real template") {
    const double z = 0.63;
    const auto rest = gal.combine(gal.archetype(17));
    const auto f = sim::archetype_spectrum(gal, 17, z, grid);
    CHECK(sum_flux(grid, f) ==
          doctest::Approx(integral(gal.wave, rest, grid.edges.front() / (1 + z), grid.edges.back() / (1 + z))).epsilon(1e-12));
    const auto p = sim::archetype_spectrum(gal, 17, z, pg);
    const double m0 = sim::ab_magnitude(pg.centers(), p, filter);
    std::vector<double> q(p);
    for (auto& v : q) v *= std::pow(10.0, -0.4 * (21.0 - m0));
    CHECK(sim::ab_magnitude(pg.centers(), q, filter) == doctest::Approx(21.0).epsilon(1e-12));
  }
  SUBCASE("QSO: IGM absorbs blueward of Lyα only; mean + PCA coefficients") {
    const double z = 2.4;
    const auto c = sim::qso_coefficients(hiz, 42, 7);
    CHECK(c.size() == hiz.nbasis());
    CHECK(c[0] == 1.0);
    const auto with = sim::qso_spectrum(hiz, c, z, grid, &igmt);
    const auto without = sim::qso_spectrum(hiz, c, z, grid, nullptr);
    double blue_with = 0, blue_without = 0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      CHECK(with[i] >= 0);
      if (grid.center(i) > 1215.67 * (1 + z)) CHECK(with[i] == without[i]);
      else if (grid.center(i) < 1200 * (1 + z)) {
        blue_with += with[i];
        blue_without += without[i];
      }
    }
    CHECK(blue_with < 0.9 * blue_without);
    // Deterministic in (seed, key); different keys differ.
    CHECK(sim::qso_coefficients(hiz, 42, 7) == c);
    CHECK(sim::qso_coefficients(hiz, 42, 8) != c);
    const auto low = sim::qso_spectrum(loz, sim::qso_coefficients(loz, 1, 2), 1.0, grid, &igmt);
    CHECK(std::all_of(low.begin(), low.end(), [](double v) { return v >= 0; }));
  }
  SUBCASE("star: radial velocity shifts a line by v/c") {
    const double z = 100.0 / 299792.458;
    const auto f0 = sim::archetype_spectrum(star, 3, 0.0, grid);
    const auto f1 = sim::archetype_spectrum(star, 3, z, grid);
    CHECK(sum_flux(grid, f1) > 0);
    // Hα (6564.6 Å vacuum) absorption minimum moves by ~2.2 Å
    auto argmin = [&](const std::vector<double>& f) {
      std::size_t best = 0;
      for (std::size_t i = 0; i < grid.size(); ++i)
        if (std::abs(grid.center(i) - 6564.6) < 4 && (best == 0 || f[i] < f[best])) best = i;
      return grid.center(best);
    };
    CHECK(argmin(f0) == doctest::Approx(6564.6).epsilon(1e-4));
    CHECK(argmin(f1) - argmin(f0) == doctest::Approx(6564.6 * z).epsilon(0.3));
  }
}

TEST_CASE("sim spectra: lamps") {
  const auto g = sample_grid::linear(5500, 7800, 0.2);
  SUBCASE("arc lines integrate to their strength and sit at their wavelengths") {
    const std::vector<sim::arc_line> lines{{6000.0, 1.0}, {7032.4, 2.5}};
    const auto f = sim::arc_spectrum(g, lines, 1e4, 0.3);
    double s1 = 0, s2 = 0, m1 = 0;
    for (std::size_t i = 0; i < f.size(); ++i) {
      if (g.center(i) < 6500) {
        s1 += f[i] * g.width(i);
        m1 += f[i] * g.width(i) * g.center(i);
      } else {
        s2 += f[i] * g.width(i);
      }
    }
    CHECK(s1 == doctest::Approx(1e4).epsilon(1e-9));
    CHECK(s2 == doctest::Approx(2.5e4).epsilon(1e-9));
    CHECK(m1 / s1 == doctest::Approx(6000.0).epsilon(1e-8));
  }
  SUBCASE("default arc lines are vacuum wavelengths") {
    CHECK(sim::air_to_vacuum(5577.34) == doctest::Approx(5578.887).epsilon(2e-6));  // [O I] sky line
    CHECK(sim::default_arc_lines().size() > 20);
  }
  SUBCASE("flat lamp is smooth and peaks at its level") {
    const auto f = sim::flat_spectrum(g, 3e4);
    CHECK(*std::max_element(f.begin(), f.end()) == doctest::Approx(3e4));
    for (std::size_t i = 1; i < f.size(); ++i) CHECK(std::abs(f[i] / f[i - 1] - 1) < 1e-3);
  }
}

TEST_CASE("sim spectra: photon budget of an r = 21 point source and of the dark sky (r camera, 1000 s)") {
  // Projection-free check of the budget formula against a hand calculation:
  // e/Å = F·1e-17 · A · t · T · 10^(−0.4 k X) · a · λ/(h c).
  sim::photon_budget b;
  b.exptime_s = 1000;
  b.airmass = 1.0;
  b.throughput = sim::default_throughput('r');
  b.extinction = sim::read_extinction(test::data_path("atmosphere/ZenExtinct-KPNO.fits"));
  const double l = 6500, F = sim::flat_fnu_flambda(21.0, l);
  const auto g = sample_grid::linear(l - 0.5, l + 0.5, 1.0);
  std::vector<double> flux{F}, thru{1.0}, obj(1), sky(1);
  const double k = b.extinction(l);
  CHECK(k > 0.05);
  CHECK(k < 0.15);
  sim::fiber_electrons(b, g, flux, 0.6, {}, 1.0, thru, obj, sky);
  const double hand = F * 1e-17 * 86787.09420509 * 1000 * 0.36 * std::pow(10.0, -0.4 * k) * 0.6 * l / (6.62607015e-27 * 2.99792458e18);
  CHECK(obj[0] == doctest::Approx(hand).epsilon(1e-9));
  CHECK(sim::desi::effective_area_cm2 == doctest::Approx(86787.094).epsilon(1e-7));
  CHECK(sim::desi::fiber_area_arcsec2 == doctest::Approx(1.8146).epsilon(1e-4));

  sim::sky_model sm;
  sm.lines = sim::read_two_column_text(test::data_path("sky/desi-sky-model.dat"));
  const auto wide = sample_grid::linear(5760, 7620, 1.0);
  const auto sb = sm.surface_brightness(wide);
  std::vector<double> ones(wide.size(), 1.0), o2(wide.size()), s2(wide.size());
  sim::fiber_electrons(b, wide, {}, 0.0, sb, 1.0, ones, o2, s2);
  double smin = 1e300, ssum = 0;
  for (double v : s2) {
    smin = std::min(smin, v);
    ssum += v;
  }
  MESSAGE("r camera, 1000 s, airmass 1: r=21 point source (acceptance 0.6) at 6500 A: " << obj[0]
          << " e/A; dark sky per fiber: continuum " << smin << " e/A, mean incl. lines " << ssum / wide.size() << " e/A");
  // The sky continuum (21.9 AB/arcsec²) in a 1.8146 arcsec² fiber ≈ 20.2 AB: a bit
  // brighter than an r = 21 source after its 0.6 acceptance and extinction.
  CHECK(smin > 0.5 * obj[0]);
  CHECK(smin < 3 * obj[0]);
}
