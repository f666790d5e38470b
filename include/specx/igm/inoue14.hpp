// The mean transmission of the intergalactic medium, after Inoue, Shimizu, Iwata
// & Tanaka (2014, MNRAS 442, 1805; "Inoue+14"): an analytic fit to Monte Carlo
// absorber populations of the Lyman-alpha forest (LAF: log N_HI < 17.2) and of
// damped Lyman-alpha systems (DLA: higher columns). The optical depth at the
// observed wavelength λ for a source at z_S is the sum of four parts
//
//   τ = τ_LS^LAF + τ_LS^DLA + τ_LC^LAF + τ_LC^DLA,   T = exp(−τ).
//
// Lyman series (their eqs. 21–22), summed over the lines j = 2…40 (Lyα … ) of rest
// wavelength λ_j, for λ_j < λ < λ_j (1 + z_S):
//   LAF: A_j1 (λ/λ_j)^1.2  for λ < 2.2 λ_j,   A_j2 (λ/λ_j)^3.7  for λ < 5.7 λ_j,
//        A_j3 (λ/λ_j)^5.5  beyond;
//   DLA: A_j1 (λ/λ_j)^2    for λ < 3 λ_j,     A_j2 (λ/λ_j)^3    beyond.
// Lyman continuum (their eqs. 25–29), x = λ/λ_L with λ_L = 911.8 Å, for
// λ_L < λ < λ_L (1 + z_S):
//   LAF, z_S < 1.2:        0.3248 [x^1.2 − (1+z_S)^−0.9 x^2.1]
//   LAF, 1.2 ≤ z_S < 4.7:  2.545e-2 (1+z_S)^1.6 x^2.1 + 0.3248 x^1.2 − 0.2496 x^2.1   (x < 2.2)
//                          2.545e-2 [(1+z_S)^1.6 x^2.1 − x^3.7]                      (x ≥ 2.2)
//   LAF, z_S ≥ 4.7:        5.221e-4 (1+z_S)^3.4 x^2.1 + 0.3248 x^1.2 − 3.140e-2 x^2.1 (x < 2.2)
//                          5.221e-4 (1+z_S)^3.4 x^2.1 + 0.2182 x^2.1 − 2.545e-2 x^3.7 (2.2 ≤ x < 5.7)
//                          5.221e-4 [(1+z_S)^3.4 x^2.1 − x^5.5]                      (x ≥ 5.7)
//   DLA, z_S < 2:          0.2113 (1+z_S)^2 − 0.07661 (1+z_S)^2.3 x^−0.3 − 0.1347 x^2
//   DLA, z_S ≥ 2:          0.6340 + 4.696e-2 (1+z_S)^3 − 1.779e-2 (1+z_S)^3.3 x^−0.3
//                            − 0.1347 x^2 − 0.2905 x^−0.3                            (x < 3)
//                          4.696e-2 (1+z_S)^3 − 1.779e-2 (1+z_S)^3.3 x^−0.3 − 2.916e-2 x^3 (x ≥ 3)
// The continuum pieces vanish at λ = λ_L (1 + z_S) only to the rounding of the
// published coefficients; each is clipped at 0 so that T ≤ 1.
//
// The coefficients A_j come from Inoue's tables (data/redshift/{LAF,DLA}coeff.txt,
// as redrock ships them). The table is a small trivially copyable struct: pass it
// by value into backend functors and call transmission() on the device.
#pragma once

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "../config.hpp"
#include "../error.hpp"

namespace specx::igm {

/// Inoue+14 coefficients: up to max_lines Lyman-series lines.
struct inoue14_table {
  static constexpr int max_lines = 40;
  static constexpr double lambda_limit = 911.8;  ///< Lyman limit λ_L used by the fit (Å)
  int nlines = 0;
  double lambda[max_lines] = {};   ///< rest wavelength of line j (Å)
  double laf[max_lines][3] = {};   ///< A_j1, A_j2, A_j3 of the LAF
  double dla[max_lines][2] = {};   ///< A_j1, A_j2 of the DLAs
};

namespace detail {
template <class T>
SPECX_HOST_DEVICE T ipow(T x, T e) {
#if SPECX_DEVICE_PASS
  return ::pow(x, e);
#else
  return std::pow(x, e);
#endif
}
template <class T>
SPECX_HOST_DEVICE T iexp(T x) {
#if SPECX_DEVICE_PASS
  return ::exp(x);
#else
  return std::exp(x);
#endif
}
}  // namespace detail

/// Lyman-series optical depth of the LAF and DLA components at observed λ (Å).
SPECX_HOST_DEVICE inline double tau_lyman_series(const inoue14_table& t, double lambda_obs, double z_source) {
  double tau = 0;
  for (int j = 0; j < t.nlines; ++j) {
    const double lj = t.lambda[j];
    if (!(lambda_obs > lj && lambda_obs < lj * (1.0 + z_source))) continue;
    const double r = lambda_obs / lj;
    if (r < 2.2) tau += t.laf[j][0] * detail::ipow(r, 1.2);
    else if (r < 5.7) tau += t.laf[j][1] * detail::ipow(r, 3.7);
    else tau += t.laf[j][2] * detail::ipow(r, 5.5);
    if (r < 3.0) tau += t.dla[j][0] * r * r;
    else tau += t.dla[j][1] * r * r * r;
  }
  return tau;
}

/// Lyman-continuum optical depth of the LAF at observed λ (Å).
SPECX_HOST_DEVICE inline double tau_lyman_continuum_laf(double lambda_obs, double z_source) {
  const double ll = inoue14_table::lambda_limit;
  if (!(lambda_obs > ll && lambda_obs < ll * (1.0 + z_source))) return 0;
  const double x = lambda_obs / ll, zp = 1.0 + z_source;
  double tau;
  if (z_source < 1.2) {
    tau = 0.3248 * (detail::ipow(x, 1.2) - detail::ipow(zp, -0.9) * detail::ipow(x, 2.1));
  } else if (z_source < 4.7) {
    if (x < 2.2)
      tau = 2.545e-2 * detail::ipow(zp, 1.6) * detail::ipow(x, 2.1) + 0.3248 * detail::ipow(x, 1.2) -
            0.2496 * detail::ipow(x, 2.1);
    else
      tau = 2.545e-2 * (detail::ipow(zp, 1.6) * detail::ipow(x, 2.1) - detail::ipow(x, 3.7));
  } else {
    if (x < 2.2)
      tau = 5.221e-4 * detail::ipow(zp, 3.4) * detail::ipow(x, 2.1) + 0.3248 * detail::ipow(x, 1.2) -
            3.140e-2 * detail::ipow(x, 2.1);
    else if (x < 5.7)
      tau = 5.221e-4 * detail::ipow(zp, 3.4) * detail::ipow(x, 2.1) + 0.2182 * detail::ipow(x, 2.1) -
            2.545e-2 * detail::ipow(x, 3.7);
    else
      tau = 5.221e-4 * (detail::ipow(zp, 3.4) * detail::ipow(x, 2.1) - detail::ipow(x, 5.5));
  }
  return tau > 0 ? tau : 0;
}

/// Lyman-continuum optical depth of the DLAs at observed λ (Å).
SPECX_HOST_DEVICE inline double tau_lyman_continuum_dla(double lambda_obs, double z_source) {
  const double ll = inoue14_table::lambda_limit;
  if (!(lambda_obs > ll && lambda_obs < ll * (1.0 + z_source))) return 0;
  const double x = lambda_obs / ll, zp = 1.0 + z_source;
  double tau;
  if (z_source < 2.0) {
    tau = 0.2113 * zp * zp - 0.07661 * detail::ipow(zp, 2.3) * detail::ipow(x, -0.3) - 0.1347 * x * x;
  } else if (x < 3.0) {
    tau = 0.6340 + 4.696e-2 * zp * zp * zp - 1.779e-2 * detail::ipow(zp, 3.3) * detail::ipow(x, -0.3) -
          0.1347 * x * x - 0.2905 * detail::ipow(x, -0.3);
  } else {
    tau = 4.696e-2 * zp * zp * zp - 1.779e-2 * detail::ipow(zp, 3.3) * detail::ipow(x, -0.3) - 2.916e-2 * x * x * x;
  }
  return tau > 0 ? tau : 0;
}

/// Total Inoue+14 optical depth at observed wavelength λ (Å) for a source at z.
SPECX_HOST_DEVICE inline double optical_depth(const inoue14_table& t, double lambda_obs, double z_source) {
  return tau_lyman_series(t, lambda_obs, z_source) + tau_lyman_continuum_laf(lambda_obs, z_source) +
         tau_lyman_continuum_dla(lambda_obs, z_source);
}

/// Mean IGM transmission exp(−τ) at observed wavelength λ (Å) for a source at z.
/// Exactly 1 redward of the source's Lyα (λ ≥ 1215.67 Å (1 + z)).
SPECX_HOST_DEVICE inline double transmission(const inoue14_table& t, double lambda_obs, double z_source) {
  return detail::iexp(-optical_depth(t, lambda_obs, z_source));
}

/// A functor form for backend loops: out[i] = transmission(λ[i], z).
struct transmission_functor {
  inoue14_table table;
  const double* lambda_obs;
  double z_source;
  double* out;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const { out[i] = transmission(table, lambda_obs[i], z_source); }
};

/// Reads Inoue's coefficient tables: LAF rows "j λ_j A_j1 A_j2 A_j3", DLA rows
/// "j λ_j A_j1 A_j2" (whitespace separated, same lines in the same order).
/// Throws io_error if a file cannot be read, format_error on malformed rows or
/// when the two tables disagree.
inline inoue14_table read_inoue14(const std::string& laf_path, const std::string& dla_path) {
  inoue14_table t;
  auto open = [](const std::string& p) {
    std::ifstream f(p);
    if (!f) throw io_error(p, "", "", "cannot open the Inoue+14 coefficient table");
    return f;
  };
  {
    auto f = open(laf_path);
    std::string line;
    int row = 0;
    while (std::getline(f, line)) {
      ++row;
      if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
      std::istringstream s(line);
      double j, l, a1, a2, a3;
      if (!(s >> j >> l >> a1 >> a2 >> a3))
        throw format_error(laf_path, "", "", "row " + std::to_string(row) + ": expected 5 numbers");
      if (t.nlines == inoue14_table::max_lines)
        throw format_error(laf_path, "", "", "more than " + std::to_string(inoue14_table::max_lines) + " lines");
      t.lambda[t.nlines] = l;
      t.laf[t.nlines][0] = a1;
      t.laf[t.nlines][1] = a2;
      t.laf[t.nlines][2] = a3;
      ++t.nlines;
    }
  }
  {
    auto f = open(dla_path);
    std::string line;
    int row = 0, n = 0;
    while (std::getline(f, line)) {
      ++row;
      if (line.find_first_not_of(" \t\r") == std::string::npos || line[line.find_first_not_of(" \t")] == '#') continue;
      std::istringstream s(line);
      double j, l, a1, a2;
      if (!(s >> j >> l >> a1 >> a2))
        throw format_error(dla_path, "", "", "row " + std::to_string(row) + ": expected 4 numbers");
      if (n >= t.nlines || std::abs(l - t.lambda[n]) > 1e-6)
        throw format_error(dla_path, "", "", "row " + std::to_string(row) + ": does not match the LAF table's lines");
      t.dla[n][0] = a1;
      t.dla[n][1] = a2;
      ++n;
    }
    if (n != t.nlines)
      throw format_error(dla_path, "", "", "has " + std::to_string(n) + " lines, the LAF table " + std::to_string(t.nlines));
  }
  if (t.nlines == 0) throw format_error(laf_path, "", "", "no coefficient rows");
  return t;
}

}  // namespace specx::igm
