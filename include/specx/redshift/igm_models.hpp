// Mean IGM transmission models used by redrock for quasar templates (the model a
// template names in its RRIGM keyword):
//
//   Calura12  Lyman-series effective optical depth τ_n(λ) = A_n (λ/λ_n)^B for the
//             rest-frame wavelengths below each line λ_n (n = α, β, 3, 4, 5): the
//             Lyα fit of Calura et al. (2012, MNRAS 422, 3019, eq. 5:
//             A = 0.0023, B = 3.64) with the higher orders scaled down by the
//             oscillator-strength ratios of Irsic et al. (2013, eq. 1.1):
//             A_β = A/5.2615, A_3 = A/14.356, A_4 = A/29.85984, A_5 = A/53.36202.
//   Kamble20  Lyα only, A = 0.00554, B = 3.182 (Kamble et al. 2020, ApJ 892, 70),
//             the model DESI's QSO v1.1 templates were built with.
//   Inoue14   Inoue et al. (2014) analytic LAF + DLA model (specx::igm, read
//             from data/redshift/{LAF,DLA}coeff.txt).
//   None      T = 1.
//
// For Calura12 / Kamble20 the transmission at observed λ of a source at z is
//   T(λ, z) = Π_{n : λ/(1+z) < λ_n} exp(−A_n (λ/λ_n)^B)
// (λ/λ_n − 1 is the absorber redshift; there is no lower cut, as in redrock).
// Everything here is SPECX_HOST_DEVICE and allocation-free.
#pragma once

#include <cctype>
#include <cmath>
#include <string>

#include "../config.hpp"
#include "../error.hpp"
#include "../igm/inoue14.hpp"

namespace specx::redshift {

/// IGM model applied to a template blueward of Lyα.
enum class igm_model { none, calura12, kamble20, inoue14 };

/// Rest wavelength of Lyα used by redrock's IGM models (Å).
inline constexpr double lya_wavelength = 1215.67;

/// The model named by an RRIGM value ("None", "Calura12", "Kamble20", "Inoue14";
/// case-insensitive). Throws invalid_argument for an unknown name, as redrock does.
inline igm_model parse_igm_model(const std::string& name) {
  std::string u;
  for (char c : name)
    if (c != ' ') u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u == "none" || u.empty()) return igm_model::none;
  if (u == "calura12") return igm_model::calura12;
  if (u == "kamble20") return igm_model::kamble20;
  if (u == "inoue14") return igm_model::inoue14;
  throw invalid_argument("specx::redshift: unknown IGM model '" + name +
                         "' (expected None, Calura12, Kamble20 or Inoue14)");
}

/// The RRIGM spelling of a model.
inline const char* igm_model_name(igm_model m) {
  switch (m) {
    case igm_model::calura12: return "Calura12";
    case igm_model::kamble20: return "Kamble20";
    case igm_model::inoue14: return "Inoue14";
    default: return "None";
  }
}

namespace detail {
SPECX_HOST_DEVICE inline double igm_pow(double x, double e) {
#if SPECX_DEVICE_PASS
  return ::pow(x, e);
#else
  return std::pow(x, e);
#endif
}
SPECX_HOST_DEVICE inline double igm_exp(double x) {
#if SPECX_DEVICE_PASS
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
}  // namespace detail

/// Calura12 / Kamble20 transmission at observed λ (Å) for a source at z.
SPECX_HOST_DEVICE inline double lyman_series_transmission(igm_model m, double lambda_obs, double z) {
  constexpr double lines[5] = {lya_wavelength, 1025.72, 972.537, 949.7431, 937.8035};
  constexpr double ratio[5] = {1.0, 5.2615, 14.356, 29.85984, 53.36202};
  double a, b;
  int nlines;
  if (m == igm_model::kamble20) {
    a = 0.00554, b = 3.182, nlines = 1;
  } else {
    a = 0.0023, b = 3.64, nlines = 5;
  }
  const double lrest = lambda_obs / (1.0 + z);
  double t = 1.0;
  for (int n = 0; n < nlines; ++n)
    if (lrest < lines[n]) t *= detail::igm_exp(-(a / ratio[n]) * detail::igm_pow(lambda_obs / lines[n], b));
  return t;
}

/// Transmission of any model; `inoue` is only read for igm_model::inoue14.
/// redrock evaluates Inoue14 only where λ_min/(1+z) < 1220 Å; redward of Lyα the
/// model is 1 anyway.
SPECX_HOST_DEVICE inline double igm_transmission(igm_model m, const igm::inoue14_table& inoue, double lambda_obs,
                                                 double z) {
  switch (m) {
    case igm_model::none: return 1.0;
    case igm_model::inoue14: return igm::transmission(inoue, lambda_obs, z);
    default: return lyman_series_transmission(m, lambda_obs, z);
  }
}

/// True when the model can change a spectrum whose bluest pixel is λ_min at
/// redshift z (redrock's shortcut: nothing to do when λ_min/(1+z) > Lyα).
SPECX_HOST_DEVICE inline bool igm_affects(igm_model m, double lambda_min, double z) {
  if (m == igm_model::none) return false;
  const double limit = (m == igm_model::inoue14) ? 1220.0 : lya_wavelength;
  return lambda_min / (1.0 + z) < limit;
}

}  // namespace specx::redshift
