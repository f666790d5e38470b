// Coadds across exposures and cameras: S/N and pulls of N noisy copies, R_coadd ·
// truth = coadd expectation (dense reference), masked pixels never leak, cosmic
// clipping, camera overlaps, and DESI's real spectra/coadd files.
#include "testing.hpp"

#include <Eigen/Dense>
#include <cmath>
#include <numeric>
#include <random>

#include <specx/coadd.hpp>
#include <specx/coadd/io.hpp>

using namespace specx;

namespace {

/// Gaussian resolution rows (σ in pixels varying along the grid), normalised, ndiag
/// diagonals, for nspec spectra; storage outside the matrix is 0.
std::vector<float> gaussian_resolution(int nspec, int ndiag, int nwave, double s0, double s1, std::uint32_t seed) {
  std::vector<float> r(std::size_t(nspec) * ndiag * nwave, 0.0f);
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(-0.05, 0.05);
  const int h = ndiag / 2;
  for (int s = 0; s < nspec; ++s) {
    const double js = u(g);
    for (int i = 0; i < nwave; ++i) {
      const double sig = (s0 + (s1 - s0) * i / std::max(1, nwave - 1)) * (1 + js);
      double sum = 0;
      for (int o = -h; o <= h; ++o) {
        const int j = i + o;
        if (j >= 0 && j < nwave) sum += std::exp(-0.5 * o * o / (sig * sig));
      }
      for (int o = -h; o <= h; ++o) {
        const int j = i + o;
        if (j < 0 || j >= nwave) continue;
        const int d = h - o;  // R[i, j] stored at (d, j) with o_d = j − i
        r[(std::size_t(s) * ndiag + d) * nwave + j] = float(std::exp(-0.5 * o * o / (sig * sig)) / sum);
      }
    }
  }
  return r;
}

/// A smooth spectrum with lines.
double truth_at(double l) {
  return 10.0 + 3.0 * std::sin(l / 150.0) + 40.0 * std::exp(-0.5 * std::pow((l - 6000.0) / 1.5, 2)) +
         25.0 * std::exp(-0.5 * std::pow((l - 6100.0) / 3.0, 2));
}

/// A host frame: nspec spectra, flux = R·truth + noise of ivar.
struct host_frame {
  int nspec, nwave, ndiag;
  std::vector<float> flux, ivar, res;
  std::vector<std::int32_t> mask;
};

host_frame make_frame(const std::vector<double>& wave, int nspec, int ndiag, std::uint32_t seed, std::vector<double>* expect,
                      double ivar_scale = 1.0) {
  host_frame f{nspec, int(wave.size()), ndiag, {}, {}, gaussian_resolution(nspec, ndiag, int(wave.size()), 0.9, 1.3, seed), {}};
  const int n = f.nwave, h = ndiag / 2;
  f.flux.resize(std::size_t(nspec) * n);
  f.ivar.resize(f.flux.size());
  f.mask.assign(f.flux.size(), 0);
  expect->assign(f.flux.size(), 0.0);
  std::mt19937_64 g(seed * 7919u + 1);
  std::normal_distribution<double> N(0, 1);
  for (int s = 0; s < nspec; ++s)
    for (int i = 0; i < n; ++i) {
      double e = 0;
      for (int d = 0; d < ndiag; ++d) {
        const int j = i + (h - d);
        if (j >= 0 && j < n) e += f.res[(std::size_t(s) * ndiag + d) * n + j] * truth_at(wave[std::size_t(j)]);
      }
      const std::size_t p = std::size_t(s) * n + i;
      (*expect)[p] = e;
      const double iv = ivar_scale * (0.5 + 0.5 * std::cos(i * 0.01 + s));  // varies by pixel, spectrum and exposure
      const double ivv = std::max(iv, 0.05) ;
      f.ivar[p] = float(ivv);
      f.flux[p] = float(e + N(g) / std::sqrt(ivv));
    }
  return f;
}

template <class B>
struct dev_frame {
  backend::vector_t<B, float> flux, ivar, res;
  backend::vector_t<B, std::int32_t> mask;
  coadd::spectra_view<float> view(const host_frame& h) const {
    B be;
    return {backend::raw(be, flux), backend::raw(be, ivar), backend::raw(be, mask),
            resolution::banded_view<const float>{backend::raw(be, res), h.nspec, h.ndiag, h.nwave}, h.nspec, h.nwave};
  }
};

template <class B>
dev_frame<B> upload(B be, const host_frame& h) {
  return {backend::to_backend(be, std::span<const float>(h.flux)), backend::to_backend(be, std::span<const float>(h.ivar)),
          backend::to_backend(be, std::span<const float>(h.res)), backend::to_backend(be, std::span<const std::int32_t>(h.mask))};
}

std::vector<double> grid(double w0, double dw, int n) {
  std::vector<double> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = w0 + dw * i;
  return out;
}

}  // namespace

TEST_CASE_TEMPLATE("coadd_exposures: S/N improves by sqrt(N), pulls rms 1, R_coadd·truth = expectation", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto wave = grid(5900.0, 0.8, 400);
  const int nspec = 6, ndiag = 11, nexp = 4;
  std::vector<host_frame> hf;
  std::vector<std::vector<double>> ex;
  for (int e = 0; e < nexp; ++e) {
    std::vector<double> x;
    hf.push_back(make_frame(wave, nspec, ndiag, 100u + e, &x, 1.0 + 0.3 * e));
    ex.push_back(std::move(x));
  }
  std::vector<dev_frame<B>> df;
  std::vector<coadd::spectra_view<float>> views;
  for (auto& h : hf) df.push_back(upload(be, h));
  for (std::size_t e = 0; e < hf.size(); ++e) views.push_back(df[e].view(hf[e]));
  coadd::exposure_options opt;
  opt.cosmics_nsig = 0;  // pure statistics first
  auto c = coadd::coadd_exposures(be, std::span<const coadd::spectra_view<float>>(views), std::span<const double>(wave), {}, opt);
  const auto flux = backend::to_host(be, c.flux), ivar = backend::to_host(be, c.ivar);
  const auto res = backend::to_host(be, c.resolution.storage);
  // Expectation of the weighted mean: Σ w_e E_e / Σ w_e.
  double pull2 = 0, ratio_sum = 0;
  std::size_t np = 0;
  double max_r_err = 0;
  const int n = int(wave.size()), h = ndiag / 2;
  for (int s = 0; s < nspec; ++s)
    for (int i = 0; i < n; ++i) {
      const std::size_t p = std::size_t(s) * n + i;
      double sw = 0, swe = 0;
      for (int e = 0; e < nexp; ++e) {
        sw += hf[std::size_t(e)].ivar[p];
        swe += hf[std::size_t(e)].ivar[p] * ex[std::size_t(e)][p];
      }
      const double expect = swe / sw;
      CHECK(ivar[p] == doctest::Approx(sw).epsilon(1e-5));
      pull2 += (flux[p] - expect) * (flux[p] - expect) * ivar[p];
      ratio_sum += std::sqrt(ivar[p] / hf[0].ivar[p]);
      ++np;
      // R_coadd · truth at row i
      double rt = 0;
      for (int d = 0; d < ndiag; ++d) {
        const int j = i + (h - d);
        if (j >= 0 && j < n) rt += res[(std::size_t(s) * ndiag + d) * n + j] * truth_at(wave[std::size_t(j)]);
      }
      max_r_err = std::max(max_r_err, std::abs(rt - expect) / expect);
    }
  const double rms = std::sqrt(pull2 / double(np));
  MESSAGE("pull rms " << rms << ", <sqrt(ivar_coadd/ivar_1)> " << ratio_sum / double(np) << ", max |R·t − E|/E " << max_r_err);
  CHECK(std::abs(rms - 1.0) < 5.0 / std::sqrt(2.0 * double(np)));
  CHECK(max_r_err < 1e-5);
  // Equal-ivar copies: σ_coadd = σ/√N exactly in the ivar, and the empirical scatter
  // of (coadd − expectation) shrinks by √N.
  std::vector<host_frame> eq;
  std::vector<std::vector<double>> eqx;
  for (int e = 0; e < nexp; ++e) {
    std::vector<double> x;
    eq.push_back(make_frame(wave, nspec, ndiag, 100u + e, &x, 1.0));
    eq.back().res = hf[0].res;  // same resolution: identical expectation
    for (std::size_t p = 0; p < eq.back().ivar.size(); ++p) {
      eq.back().ivar[p] = eq[0].ivar[p];
      const double e0 = ex[0][p];
      std::mt19937_64 g(77u + 1000u * e + p);
      std::normal_distribution<double> N(0, 1);
      eq.back().flux[p] = float(e0 + N(g) / std::sqrt(eq[0].ivar[p]));
    }
  }
  std::vector<dev_frame<B>> edf;
  std::vector<coadd::spectra_view<float>> ev;
  for (auto& hh : eq) edf.push_back(upload(be, hh));
  for (std::size_t e = 0; e < eq.size(); ++e) ev.push_back(edf[e].view(eq[e]));
  auto c2 = coadd::coadd_exposures(be, std::span<const coadd::spectra_view<float>>(ev), std::span<const double>(wave), {}, opt);
  const auto f2 = backend::to_host(be, c2.flux), i2 = backend::to_host(be, c2.ivar);
  double s1 = 0, sN = 0;
  for (std::size_t p = 0; p < f2.size(); ++p) {
    CHECK(i2[p] == doctest::Approx(nexp * eq[0].ivar[p]).epsilon(1e-5));
    s1 += (eq[0].flux[p] - ex[0][p]) * (eq[0].flux[p] - ex[0][p]) * eq[0].ivar[p];
    sN += (f2[p] - ex[0][p]) * (f2[p] - ex[0][p]) * eq[0].ivar[p];
  }
  const double gain = std::sqrt(s1 / sN);
  MESSAGE("empirical S/N gain " << gain << " (sqrt(N) = " << std::sqrt(double(nexp)) << ")");
  CHECK(std::abs(gain / std::sqrt(double(nexp)) - 1.0) < 5.0 / std::sqrt(2.0 * double(f2.size())) * 2);
}

TEST_CASE_TEMPLATE("coadd_exposures: masked pixels never leak, cosmics are clipped, R rows follow the weights", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto wave = grid(5900.0, 0.8, 300);
  const int nspec = 3, ndiag = 11, nexp = 5, n = 300;
  std::vector<host_frame> hf;
  std::vector<std::vector<double>> ex;
  for (int e = 0; e < nexp; ++e) {
    std::vector<double> x;
    hf.push_back(make_frame(wave, nspec, ndiag, 300u + e, &x, 2.0));
    ex.push_back(std::move(x));
  }
  // exposure 1, spectrum 0: pixels 100..109 masked with absurd values (must not leak)
  for (int i = 100; i < 110; ++i) {
    hf[1].mask[std::size_t(i)] = 1 << 2;
    hf[1].flux[std::size_t(i)] = 1e6f;
  }
  // exposure 2, spectrum 1: an unflagged cosmic at 200 (must be clipped)
  hf[2].flux[std::size_t(n + 200)] += 500.0f;
  // exposure 3, spectrum 2: NaN flux with ivar 0 (must be ignored)
  hf[3].flux[std::size_t(2 * n + 50)] = std::nanf("");
  hf[3].ivar[std::size_t(2 * n + 50)] = 0;
  // pixel 20 of spectrum 2 masked in every exposure: fallback to unmasked ivar, masks ORed
  for (int e = 0; e < nexp; ++e) hf[std::size_t(e)].mask[std::size_t(2 * n + 20)] = 1 << e;
  std::vector<dev_frame<B>> df;
  std::vector<coadd::spectra_view<float>> views;
  for (auto& h : hf) df.push_back(upload(be, h));
  for (std::size_t e = 0; e < hf.size(); ++e) views.push_back(df[e].view(hf[e]));
  auto c = coadd::coadd_exposures(be, std::span<const coadd::spectra_view<float>>(views), std::span<const double>(wave));
  const auto flux = backend::to_host(be, c.flux), ivar = backend::to_host(be, c.ivar);
  const auto mask = backend::to_host(be, c.mask);
  const auto res = backend::to_host(be, c.resolution.storage);
  MESSAGE("clipped input pixels " << c.nclipped);
  CHECK(c.nclipped >= 1);
  CHECK(c.nclipped <= 12);
  const int h = ndiag / 2;
  for (int s = 0; s < nspec; ++s)
    for (int i = 0; i < n; ++i) {
      const std::size_t p = std::size_t(s) * n + i;
      CHECK(std::isfinite(flux[p]));
      if (s == 2 && i == 20) {
        CHECK(mask[p] == 0x1f);
        CHECK(ivar[p] > 0);
        continue;
      }
      CHECK(mask[p] == 0);
      // expected weights: ivar of unmasked, non-cosmic, finite inputs
      double sw = 0, swf = 0, swe = 0;
      std::vector<double> w(nexp, 0.0);
      for (int e = 0; e < nexp; ++e) {
        const auto& f = hf[std::size_t(e)];
        bool ok = f.mask[p] == 0 && f.ivar[p] > 0;
        if (e == 2 && s == 1 && (i == 199 || i == 200 || i == 201)) ok = ok && false;
        if (!ok) continue;
        w[std::size_t(e)] = f.ivar[p];
        sw += f.ivar[p];
        swf += f.ivar[p] * f.flux[p];
        swe += f.ivar[p] * ex[std::size_t(e)][p];
      }
      if (s == 1 && i >= 199 && i <= 201) {
        // the cosmic's exposure is excluded (two or three pixels around the hit)
        CHECK(std::abs(flux[p] - swe / sw) < 6.0 / std::sqrt(sw));
        continue;
      }
      CHECK(ivar[p] == doctest::Approx(sw).epsilon(1e-5));
      CHECK(flux[p] == doctest::Approx(swf / sw).epsilon(1e-4));
      // the resolution row is the weighted mean of the inputs' rows (row weights)
      for (int d = 0; d < ndiag; ++d) {
        const int j = i + (h - d);
        if (j < 0 || j >= n) continue;
        double rr = 0;
        for (int e = 0; e < nexp; ++e) rr += w[std::size_t(e)] * hf[std::size_t(e)].res[(std::size_t(s) * ndiag + d) * n + j];
        CHECK(res[(std::size_t(s) * ndiag + d) * n + j] == doctest::Approx(rr / sw).epsilon(1e-4));
      }
    }
  // the masked 1e6 never leaks anywhere
  for (float f : flux) CHECK(f < 1000.0f);
}

TEST_CASE_TEMPLATE("coadd_cameras: overlaps, resolution rows on the merged grid, copies outside", B, SPECX_TEST_BACKENDS) {
  B be;
  // two "cameras" on one 0.8 Å lattice overlapping over 40 pixels, one with ndiag 7
  const auto wb = grid(5600.0, 0.8, 300), wr = grid(5600.0 + 0.8 * 260, 0.8, 250);
  const int nspec = 4;
  std::vector<double> xb, xr;
  auto hb = make_frame(wb, nspec, 11, 11u, &xb, 1.0), hr = make_frame(wr, nspec, 7, 12u, &xr, 3.0);
  hb.mask[std::size_t(280)] = 4;  // masked in b inside the overlap: r alone there
  auto db = upload(be, hb), dr = upload(be, hr);
  std::vector<coadd::camera_view<float>> cams{{"r", wr, dr.view(hr)}, {"b", wb, db.view(hb)}};
  auto c = coadd::coadd_cameras(be, std::span<const coadd::camera_view<float>>(cams));
  CHECK(c.band == "br");
  REQUIRE(c.nwave == 510);
  CHECK(c.resolution.ndiag == 11);
  const auto flux = backend::to_host(be, c.flux), ivar = backend::to_host(be, c.ivar);
  const auto res = backend::to_host(be, c.resolution.storage);
  const int n = 510, nd = 11, h = 5;
  // Dense check: R_merged · truth equals Σ_c w_c (R_c truth_c) / Σ w_c per pixel,
  // each camera's expectation computed on its own grid.
  double max_err = 0;
  for (int s = 0; s < nspec; ++s)
    for (int i = 0; i < n; ++i) {
      const std::size_t p = std::size_t(s) * n + i;
      double sw = 0, swe = 0, swf = 0;
      const bool inb = i < 300, inr = i >= 260;
      if (inb && hb.mask[std::size_t(s) * 300 + i] == 0) {
        const double w = hb.ivar[std::size_t(s) * 300 + i];
        sw += w;
        swe += w * xb[std::size_t(s) * 300 + i];
        swf += w * hb.flux[std::size_t(s) * 300 + i];
      }
      if (inr) {
        const double w = hr.ivar[std::size_t(s) * 250 + (i - 260)];
        sw += w;
        swe += w * xr[std::size_t(s) * 250 + (i - 260)];
        swf += w * hr.flux[std::size_t(s) * 250 + (i - 260)];
      }
      CHECK(ivar[p] == doctest::Approx(sw).epsilon(1e-5));
      CHECK(flux[p] == doctest::Approx(swf / sw).epsilon(1e-4));
      if (!inr) CHECK(flux[p] == hb.flux[std::size_t(s) * 300 + i]);  // copied unchanged
      double rt = 0;
      for (int d = 0; d < nd; ++d) {
        const int j = i + (h - d);
        if (j >= 0 && j < n) rt += res[(std::size_t(s) * nd + d) * n + j] * truth_at(5600.0 + 0.8 * j);
      }
      max_err = std::max(max_err, std::abs(rt - swe / sw) / (swe / sw));
    }
  MESSAGE("max |R_merged·t − E|/E " << max_err);
  CHECK(max_err < 1e-5);
  // misaligned grids are refused
  const auto wbad = grid(5600.0 + 0.8 * 260 + 0.3, 0.8, 250);
  std::vector<coadd::camera_view<float>> bad{{"b", wb, db.view(hb)}, {"r", wbad, dr.view(hr)}};
  CHECK_THROWS_AS(coadd::coadd_cameras(be, std::span<const coadd::camera_view<float>>(bad)), specx::invalid_argument);
}

TEST_CASE_TEMPLATE("coadd of DESI's spectra-5-169 file agrees with DESI's coadd and round-trips", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto in = io::read_spectra(test::test_data_path("spectra/spectra-5-169-thru20210419.fits"));
  const auto desi = io::read_spectra(test::test_data_path("spectra/coadd-5-169-thru20210419.fits"));
  auto c = coadd::coadd_spectra_file(be, in);
  REQUIRE(c.nspec() == 5);
  REQUIRE(c.exp_fibermap.has_value());
  // one exposure per target: the coadd is the input itself (flux, ivar, mask, R)
  for (std::size_t k = 0; k < c.bands.size(); ++k) {
    const auto& a = in.bands[k];
    const auto& b = c.bands[k];
    CHECK(test::max_rel_diff(b.ivar, a.ivar) == 0.0);
    // pixels without weight (ivar 0) have flux 0, as in desispec; R rows without
    // weight become zero rows; everything else is the input (R to float rounding
    // of w·R/w)
    std::size_t differ = 0, fdiffer = 0;
    for (std::size_t s = 0; s < 5; ++s)
      for (std::size_t i = 0; i < a.nwave(); ++i)
        if (a.ivar(s, i) > 0 ? b.flux(s, i) != a.flux(s, i) : b.flux(s, i) != 0.0f) ++fdiffer;
    CHECK(fdiffer == 0);
    const std::size_t nd = a.resolution->shape()[1], nw = a.nwave();
    for (std::size_t s = 0; s < 5; ++s)
      for (std::size_t d = 0; d < nd; ++d)
        for (std::size_t j = 0; j < nw; ++j) {
          const long i = long(j) - (long(nd / 2) - long(d));
          if (i < 0 || i >= long(nw)) continue;
          const float rb = (*b.resolution)(s, d, j), ra = (*a.resolution)(s, d, j);
          if (a.ivar(s, std::size_t(i)) > 0 ? std::abs(rb - ra) > 1e-6f * std::abs(ra) + 1e-9f : rb != 0.0f) ++differ;
        }
    CHECK(differ == 0);
  }
  // DESI's coadd also holds a second exposure: it must be statistically consistent.
  // With w1 = ivar of our exposure and W = DESI's coadd ivar, the other exposure is
  // f2 = (W f_c − w1 f1)/(W − w1), ivar W − w1: pulls (f1 − f2)/σ have rms ≈ 1.
  double p2 = 0;
  std::size_t np = 0, worse = 0;
  for (std::size_t k = 0; k < in.bands.size(); ++k) {
    const auto& a = in.bands[k];
    const auto& d = desi.band(a.name);
    for (std::size_t s = 0; s < 5; ++s)
      for (std::size_t i = 0; i < a.nwave(); ++i) {
        const double w1 = a.ivar(s, i), W = d.ivar(s, i);
        if (!(w1 > 0) || (*a.mask)(s, i) != 0 || (*d.mask)(s, i) != 0) continue;
        if (W < w1 * (1 - 1e-5)) ++worse;
        const double w2 = W - w1;
        if (!(w2 > 1e-3 * w1)) continue;
        const double f2 = (W * d.flux(s, i) - w1 * a.flux(s, i)) / w2;
        const double pull = (a.flux(s, i) - f2) / std::sqrt(1 / w1 + 1 / w2);
        if (std::abs(pull) < 10) {
          p2 += pull * pull;
          ++np;
        }
      }
  }
  const double rms = std::sqrt(p2 / double(np));
  MESSAGE("DESI coadd vs our exposure: " << np << " pixels, pull rms " << rms << ", pixels with W < w1: " << worse);
  CHECK(worse == 0);
  CHECK(rms > 0.8);
  CHECK(rms < 1.3);
  // write → read round trip of our coadd file, then the cameras coadd
  test::temp_dir tmp;
  io::write_spectra(tmp.file("coadd.fits"), c);
  const auto back = io::read_spectra(tmp.file("coadd.fits"));
  CHECK(back.fibermap->has("COADD_NUMEXP"));
  for (std::size_t k = 0; k < c.bands.size(); ++k) CHECK(test::max_rel_diff(back.bands[k].flux, c.bands[k].flux) == 0.0);
  auto m = coadd::coadd_cameras_file(be, back);
  REQUIRE(m.bands.size() == 1);
  CHECK(m.bands[0].name == "BRZ");
  CHECK(m.bands[0].nwave() == 7781);  // 3600–9824 Å at 0.8 Å
  io::write_spectra(tmp.file("coadd-brz.fits"), m);
  const auto mb = io::read_spectra(tmp.file("coadd-brz.fits"));
  CHECK(test::max_rel_diff(mb.bands[0].ivar, m.bands[0].ivar) == 0.0);
}
