// Preprocessing of simulated raw exposures (a 12-fiber Gaussian PSF on a
// 200 × 800 CCD, DESI's 4-amplifier raw layout with overscan, r0 gains and read
// noise, many cosmic rays, a bad column): electrons equal the simulation's
// expectation within noise, the read noise is measured to 2%, ≥ 95% of the cosmic
// pixels are masked with < 0.1% false positives on signal; saturation, a dead
// amplifier and missing keywords are handled.
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <specx/preproc.hpp>
#include <specx/psf.hpp>
#include <specx/sim.hpp>

using namespace specx;

namespace {
constexpr int kFibers = 12, kNx = 200, kNy = 800;
constexpr double kWmin = 5600, kWmax = 7600;

template <class B>
psf::gaussian_psf<double, B> small_psf() {
  std::vector<double> xs(kFibers), yc(2 * kFibers);
  for (int f = 0; f < kFibers; ++f) {
    xs[f] = 20.0 + 14.0 * f + 0.3 * f;
    yc[2 * f] = 0.5 * (kNy - 1);
    yc[2 * f + 1] = 0.5 * kNy;
  }
  psf::legendre_table xt = psf::legendre_table::constant(xs, kWmin, kWmax);
  psf::legendre_table yt{kWmin, kWmax, static_cast<std::size_t>(kFibers), 2, yc};
  return psf::gaussian_psf<double, B>(psf::gaussian_psf<double, B>::constant_width(xt, yt, 1.0, 1.0, kNx, kNy), B{});
}

const sim::simulated_exposure& exposure() {
  static const sim::simulated_exposure e = [] {
    const auto psf = small_psf<backend::cpu>();
    sim::exposure_config c;
    c.camera = "r0";
    c.seed = 77;
    c.exptime_s = 900;
    c.wave_min = 5700;
    c.wave_max = 7500;
    c.sample_step = 0.5;
    c.sky_fraction = 0.25;
    c.mag_min = 17;
    c.mag_max = 20;
    c.cosmic.rate_per_cm2_min = 80;  // ~400 events on this 3 × 12 mm CCD
    c.n_bad_columns = 1;
    return sim::simulate_exposure(backend::cpu{}, psf, c, sim::load_inputs(SPECX_DATA_DIR));
  }();
  return e;
}

preproc::amplifiers amps_of(const std::vector<sim::card>& cards, const std::string& drop = {}) {
  return preproc::amplifiers_from_keywords([&](const std::string& key) -> std::optional<std::string> {
    if (key == drop) return std::nullopt;
    for (const auto& c : cards)
      if (c.name == key) {
        if (auto s = std::get_if<std::string>(&c.value)) return *s;
        if (auto d = std::get_if<double>(&c.value)) return std::to_string(*d);
        return std::to_string(std::get<std::int64_t>(c.value));
      }
    return std::nullopt;
  });
}
}  // namespace

TEST_CASE("preproc: header sections") {
  const auto s = preproc::parse_section("[8:2064, 2:2065]");
  CHECK(s.x0 == 7);
  CHECK(s.x1 == 2064);
  CHECK(s.y0 == 1);
  CHECK(s.y1 == 2065);
  CHECK_THROWS_AS(preproc::parse_section("8:2064,2:2065"), specx::invalid_argument);
  CHECK_THROWS_AS(preproc::parse_section("[9:8,1:2]"), specx::invalid_argument);
  const auto& e = exposure();
  const auto amps = amps_of(e.camera_cards);
  REQUIRE(amps.size() == 4);
  CHECK(amps[1].name == "B");
  CHECK(amps[0].gain == doctest::Approx(e.ccd.amps[0].gain));
  CHECK_THROWS_AS(amps_of(e.camera_cards, "BIASSECB"), specx::missing_entry);
  CHECK_THROWS_WITH(amps_of(e.camera_cards, "GAINC"), doctest::Contains("GAINC"));
}

TEST_CASE_TEMPLATE("preproc: raw → electrons, read noise, cosmic rays", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto& e = exposure();
  const auto& t = e.truth;
  const auto amps = amps_of(e.camera_cards);
  preproc::options o;
  o.cosmics.psf_gradients = preproc::psf_gradients(small_psf<backend::cpu>());
  const auto img = preproc::preprocess(be, e.ccd.raw, amps, o);
  REQUIRE(img.pix.shape()[0] == std::size_t(kNy));
  REQUIRE(img.pix.shape()[1] == std::size_t(kNx));

  // read noise: the overscan measures √(σ² + g²/12) (integer ADU); both within 2%
  for (int a = 0; a < 4; ++a) {
    const auto& p = e.ccd.amps[a];
    const double eff = std::sqrt(p.rdnoise * p.rdnoise + p.gain * p.gain / 12);
    MESSAGE("amp " << img.amps[a].name << ": read noise " << img.amps[a].readnoise << " e (true " << p.rdnoise
                   << ", with quantisation " << eff << "), overscan " << img.amps[a].overscan_adu << " ADU (bias "
                   << p.bias << ")");
    CHECK(img.amps[a].readnoise == doctest::Approx(eff).epsilon(0.02));
    CHECK(img.amps[a].readnoise == doctest::Approx(p.rdnoise).epsilon(0.02 + (eff / p.rdnoise - 1)));
    CHECK(std::abs(img.amps[a].overscan_adu - p.bias) < 0.05);
    CHECK_FALSE(img.amps[a].dead);
  }

  // truth cosmic pixels grown by 2 (for the false-positive sample) and bad columns
  std::vector<char> near_cr(img.pix.size(), 0);
  for (int y = 0; y < kNy; ++y)
    for (int x = 0; x < kNx; ++x)
      if (t.mask(y, x) & ccdmask::COSMIC)
        for (int dy = -2; dy <= 2; ++dy)
          for (int dx = -2; dx <= 2; ++dx)
            if (y + dy >= 0 && y + dy < kNy && x + dx >= 0 && x + dx < kNx) near_cr[std::size_t(y + dy) * kNx + x + dx] = 1;
  std::size_t ncr = 0, ncr_found = 0, nsig = 0, nsig_false = 0, npull = 0;
  double s = 0, s2 = 0;
  for (int y = 0; y < kNy; ++y)
    for (int x = 0; x < kNx; ++x) {
      const std::size_t k = std::size_t(y) * kNx + x;
      const auto tm = t.mask(y, x);
      if (tm & ccdmask::BAD) {
        CHECK((img.mask(y, x) & ccdmask::BAD) == 0);  // no BAD input mask given: a dead column reads noise only
        continue;
      }
      if (tm & ccdmask::COSMIC) {
        ++ncr;
        ncr_found += (img.mask(y, x) & ccdmask::COSMIC) != 0;
        continue;
      }
      const double mu = t.expected(y, x);
      const double rn = img.readnoise(y, x);
      if (!near_cr[k] && mu - t.dark_electrons > 5 * rn) {
        ++nsig;
        nsig_false += (img.mask(y, x) & ccdmask::COSMIC) != 0;
      }
      if (img.mask(y, x) == 0 && !near_cr[k]) {
        const double p = (img.pix(y, x) - mu) / std::sqrt(rn * rn + std::max(mu, 0.0));
        s += p;
        s2 += p * p;
        ++npull;
      }
    }
  const double mean = s / double(npull), rms = std::sqrt(s2 / double(npull) - mean * mean);
  const double found = double(ncr_found) / double(ncr), fp = double(nsig_false) / double(nsig);
  MESSAGE("pulls: mean " << mean << ", rms " << rms << " over " << npull << " px; cosmic pixels " << ncr << ", masked "
                         << 100 * found << " %; signal pixels " << nsig << ", false positives " << 100 * fp << " %; "
                         << img.ncosmic_pixels << " pixels flagged COSMIC");
  CHECK(ncr > 1000);
  CHECK(nsig > 10000);
  CHECK(std::abs(mean) < 0.02);
  CHECK(rms == doctest::Approx(1.0).epsilon(0.03));
  CHECK(found >= 0.95);
  CHECK(fp < 0.001);
  for (std::size_t k = 0; k < img.mask.size(); ++k)
    if (img.mask.data()[k] != 0) REQUIRE(img.ivar.data()[k] == 0);

  SUBCASE("identical on every backend") {
    const auto ref = preproc::preprocess(backend::cpu{}, e.ccd.raw, amps, o);
    CHECK(std::equal(ref.mask.begin(), ref.mask.end(), img.mask.begin()));
    CHECK(std::equal(ref.pix.begin(), ref.pix.end(), img.pix.begin()));
  }
}

TEST_CASE_TEMPLATE("preproc: saturation, row-by-row overscan, dead amplifier, calibration frames", B, SPECX_TEST_BACKENDS) {
  B be;
  const auto& e = exposure();
  const auto amps = amps_of(e.camera_cards);
  preproc::options o;
  o.cosmics.enabled = false;
  auto raw = e.ccd.raw;
  // saturate a raw data pixel of amplifier A (image pixel (10, 20))
  const auto& A = amps[0];
  raw(A.datasec.y0 + 20, A.datasec.x0 + 10) = 65535;
  // amplifier D dead: data and overscan constant
  const auto& D = amps[3];
  for (int y = 0; y < int(raw.shape()[0]); ++y)
    for (int x = 0; x < int(raw.shape()[1]); ++x)
      if (D.datasec.contains(x, y) || D.biassec.contains(x, y) || (D.orsec && D.orsec->contains(x, y))) raw(y, x) = 2000;
  o.overscan_per_row = true;
  o.pixflat = xt::xtensor<float, 2>::from_shape({std::size_t(kNy), std::size_t(kNx)});
  o.pixflat.fill(1.0f);
  o.pixflat(5, 5) = 0.0f;
  o.pixflat(6, 6) = 0.05f;
  const auto img = preproc::preprocess(be, raw, amps, o);
  CHECK((img.mask(20, 10) & ccdmask::SATURATED) != 0);
  CHECK(img.ivar(20, 10) == 0);
  CHECK((img.mask(5, 5) & ccdmask::PIXFLATZERO) != 0);
  CHECK((img.mask(6, 6) & ccdmask::PIXFLATLOW) != 0);
  CHECK(img.amps[3].dead);
  CHECK_FALSE(img.amps[0].dead);
  const int yD = D.ccdsec.y0 + 3, xD = D.ccdsec.x0 + 3;
  CHECK((img.mask(yD, xD) & ccdmask::DEAD) != 0);
  CHECK(img.ivar(yD, xD) == 0);
  // row-by-row overscan on a flat bias: the same electrons within the overscan noise
  preproc::options o2 = o;
  o2.overscan_per_row = false;
  const auto img2 = preproc::preprocess(be, raw, amps, o2);
  CHECK(std::abs(img.pix(300, 50) - img2.pix(300, 50)) < 2.0);

  SUBCASE("a read-noise outlier is flagged") {
    preproc::options o3 = o2;
    o3.max_readnoise = 1.0;
    const auto img3 = preproc::preprocess(be, e.ccd.raw, amps, o3);
    CHECK(img3.amps[0].bad_readnoise);
    CHECK((img3.mask(100, 50) & ccdmask::BADREADNOISE) != 0);
  }
  SUBCASE("an overscan section outside the raw frame is an error") {
    auto bad = amps;
    bad[1].biassec.x1 = int(raw.shape()[1]) + 10;
    CHECK_THROWS_WITH_AS(preproc::preprocess(be, raw, bad, o), doctest::Contains("BIASSECB"), specx::invalid_argument);
  }
}
