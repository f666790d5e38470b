// χ² tail thresholds for the cosmic-ray test of the coadd (host only).
//
// The threshold for k measurements is the χ² value with k − 1 degrees of freedom
// whose upper-tail probability equals the one-sided normal tail of nsig σ,
//   Q((k−1)/2, t/2) = Φ(−nsig),
// Q the regularised upper incomplete gamma function (desispec coaddition's
// _chi2_threshold). Q is evaluated with its power series (x < a + 1) or its
// continued fraction (modified Lentz), as in Abramowitz & Stegun 6.5.29 / 6.5.31,
// and t found by bisection (Q decreases monotonically in t).
#pragma once

#include <cmath>
#include <vector>

namespace specx::coadd::detail {

/// Regularised upper incomplete gamma Q(a, x), a > 0, x ≥ 0.
inline double gamma_q(double a, double x) {
  if (x <= 0) return 1.0;
  const double lg = std::lgamma(a);
  if (x < a + 1.0) {  // P by its series Σ x^n / (a (a+1) … (a+n))
    double term = 1.0 / a, sum = term;
    for (int n = 1; n < 1000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::abs(term) < std::abs(sum) * 1e-16) break;
    }
    return 1.0 - sum * std::exp(-x + a * std::log(x) - lg);
  }
  // Q by the continued fraction 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …)))
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 1000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::abs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::abs(del - 1.0) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - lg) * h;
}

/// The χ² value with `dof` degrees of freedom exceeded with probability p.
inline double chi2_isf(double p, int dof) {
  const double a = 0.5 * dof;
  double lo = 0, hi = 1.0;
  while (gamma_q(a, 0.5 * hi) > p) hi *= 2.0;
  for (int it = 0; it < 200 && hi - lo > 1e-12 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (gamma_q(a, 0.5 * mid) > p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Thresholds for k = 0 … kmax measurements (k − 1 dof; entries k < 2 are +inf).
inline std::vector<double> chi2_thresholds(double nsig, int kmax) {
  std::vector<double> t(std::size_t(kmax) + 1, HUGE_VAL);
  const double p = 0.5 * std::erfc(nsig / std::sqrt(2.0));  // Φ(−nsig)
  for (int k = 2; k <= kmax; ++k) t[std::size_t(k)] = chi2_isf(p, k - 1);
  return t;
}

}  // namespace specx::coadd::detail
