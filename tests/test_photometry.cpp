// Synthetic AB photometry: flat-f_ν spectra return their magnitude, the backend
// batch agrees with the host function, coverage errors.
#include "testing.hpp"

#include <cmath>

#include <specx/photometry.hpp>

using namespace specx;

TEST_CASE_TEMPLATE("band magnitudes of flat-f_nu spectra in DECam g, r, z", B, SPECX_TEST_BACKENDS) {
  B be;
  std::vector<photometry::filter_curve> f;
  for (const char* b : {"g", "r", "z"})
    f.push_back(photometry::read_filter_ecsv(test::data_path(std::string("filters/decamDR1-") + b + ".ecsv"), b));
  std::vector<double> wave;
  for (double l = 3500; l <= 11000; l += 0.8) wave.push_back(l);
  const std::vector<double> mags{17.0, 19.5, 22.25};
  std::vector<float> flux;
  for (double m : mags)
    for (double l : wave) flux.push_back(float(photometry::flat_fnu_flambda(m, l)));
  auto d = backend::to_backend(be, std::span<const float>(flux));
  for (const auto& fc : f) {
    const auto bw = photometry::make_band_weights(wave, fc);
    const auto got = photometry::band_magnitudes(be, backend::raw(be, d), mags.size(), wave.size(), bw);
    for (std::size_t k = 0; k < mags.size(); ++k) {
      CHECK(got[k] == doctest::Approx(mags[k]).epsilon(2e-7));  // float flux rounding
      std::vector<double> fd(wave.size());
      for (std::size_t i = 0; i < wave.size(); ++i) fd[i] = photometry::flat_fnu_flambda(mags[k], wave[i]);
      const double host = photometry::ab_magnitude(wave, fd, fc);
      CHECK(host == doctest::Approx(mags[k]).epsilon(1e-9));
    }
  }
  // a spectrum that misses part of the band is refused; zero flux gives NaN in batch
  std::vector<double> shortw(wave.begin(), wave.begin() + 1000);
  CHECK_THROWS_AS(photometry::make_band_weights(shortw, f[1]), specx::invalid_argument);
  std::vector<float> zero(wave.size(), 0.0f);
  auto dz = backend::to_backend(be, std::span<const float>(zero));
  const auto nz = photometry::band_magnitudes(be, backend::raw(be, dz), 1, wave.size(), photometry::make_band_weights(wave, f[1]));
  CHECK(std::isnan(nz[0]));
}
