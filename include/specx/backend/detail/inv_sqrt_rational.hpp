// A^(−1/2) of a symmetric positive definite matrix without its eigenvectors: the
// cpu backend's fast path for inv_sqrt (extraction's per-fiber decorrelation runs
// it on ≈ 23 500 blocks of ≈ 71 × 71 per frame).
//
//   1. Householder tridiagonalisation A = Q T Qᵀ (own kernel, four matrices at
//      once interleaved across the vector lanes: lower triangle only, each entry
//      loaded once per step for its rank-2 update and both halves of the next
//      step's symmetric product; Qᵀ accumulated four reflectors per pass).
//   2. Spectrum bounds [m, M] of T: Gershgorin for M, Sturm sequences (8 shifts per
//      pass, 3 passes, geometric bisection) for a verified lower bound m.
//   3. x^(−1/2) = (2/π) ∫₀^∞ dt / (t² + x); substituting t = √m · sc(u | k) with
//      k'² = m/M makes the integrand 2K-periodic in u and analytic in the strip
//      |Im u| < K', so the midpoint rule with N nodes converges like
//      exp(−2π²N / (ln(M/m) + ln 16)) uniformly on [m, M] (cf. the elliptic-function
//      quadratures of Hale, Higham & Trefethen 2008, SIAM J. Numer. Anal. 46, 2505):
//      x^(−1/2) ≈ Σ_j w_j / (x + s_j) with all s_j, w_j > 0. N = 18 for κ = 10³,
//      55 for κ = 10¹².
//   4. F = f(T) = Σ_j w_j (T + s_j)⁻¹: each shifted tridiagonal inverse is built row
//      by row from its two pivot sequences (X_ij = X_(i+1)j · (−e_i / p_i) above the
//      diagonal, 1/X_jj = p_j − e_j² / q_(j+1)); entries below 1e−20 ‖F‖ are cut.
//   5. A^(−1/2) = Q F Qᵀ (two GEMMs, the second to one triangle).
//
// All of it is vector arithmetic with no data-dependent iteration count, against
// the implicit QR's serial rotation chain: ≈ 2× faster than Eigen's
// SelfAdjointEigenSolver route at n ≈ 71 (docs/performance.md). The error is the
// quadrature's (≤ 5e−15 relative up to κ = 10⁶; beyond, the nodes' own rounding,
// ≤ 3e−12) plus the rounding of a backward stable reduction, which is of the same
// order as the eigen-decomposition's.
//
// The fast path declines (returns false) where the eigen route's semantics are
// needed: a non-finite matrix, λ_min ≤ max(rel_cutoff, 1e−12) · λ_max (eigenvalues
// would be dropped or the node count would exceed 55), or n = 0.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <numbers>
#include <vector>

#include <Eigen/Dense>

namespace specx::backend::detail {

/// Jacobi elliptic functions of real argument by the descending Landen
/// (arithmetic–geometric mean) scale (Abramowitz & Stegun 16.4), for a modulus
/// given by its complement k' (accurate when k' is tiny, where k = 1 − O(k'²)).
class jacobi_elliptic {
 public:
  explicit jacobi_elliptic(double kp) {
    double a = 1, b = kp;
    a_[0] = 1;
    c_[0] = std::sqrt((1 - kp) * (1 + kp));
    while (n_ < max_steps - 1 && c_[n_] > 1e-17 * a_[n_]) {
      const double an = 0.5 * (a + b);
      const double cn = c_[n_] * c_[n_] / (4 * an);  // (a − b)/2 without cancellation
      b = std::sqrt(a * b);
      a = an;
      ++n_;
      a_[n_] = a;
      c_[n_] = cn;
    }
    K_ = std::numbers::pi / (2 * a_[n_]);
  }
  /// The complete elliptic integral of the first kind K(k).
  double K() const { return K_; }
  /// sn, cn, dn at u (0 ≤ u ≤ K/2 keeps all three to full relative accuracy).
  void operator()(double u, double& sn, double& cn, double& dn) const {
    double phi = std::ldexp(a_[n_] * u, n_), prev = phi;
    for (int i = n_; i >= 1; --i) {
      prev = phi;
      phi = 0.5 * (phi + std::asin(c_[i] / a_[i] * std::sin(phi)));
    }
    sn = std::sin(phi);
    cn = std::cos(phi);
    dn = n_ > 0 ? cn / std::cos(prev - phi) : 1.0;
  }

 private:
  static constexpr int max_steps = 24;
  double a_[max_steps] = {}, c_[max_steps] = {};
  int n_ = 0;
  double K_ = 0;
};

/// Number of quadrature nodes for relative error ≲ 1e−15 on a spectrum of
/// condition κ = M/m (the convergence rate above, with a margin of one node).
inline int inv_sqrt_node_count(double kappa) {
  return static_cast<int>(std::ceil(1.75 * (std::log(std::max(kappa, 1.0)) + 2.77))) + 1;
}

/// Nodes s_j and weights w_j with x^(−1/2) ≈ Σ_j w_j / (x + s_j) on [m, M].
/// Nodes past K/2 use the reflection u → K − u (sn, cn, dn of K − u in terms of
/// those of u), so every node is computed at full relative accuracy.
inline void inv_sqrt_nodes(double m, double M, int count, double* s, double* w) {
  const double kp = std::sqrt(m / M);
  const jacobi_elliptic ell(kp);
  const double K = ell.K(), c = 2 * K / (std::numbers::pi * count);
  const double sm = std::sqrt(m), sM = std::sqrt(M);
  for (int j = 0; j < count; ++j) {
    const double u = (j + 0.5) * K / count;
    double sn, cn, dn;
    if (u <= 0.5 * K) {
      ell(u, sn, cn, dn);
      s[j] = m * (sn / cn) * (sn / cn);
      w[j] = c * sm * dn / (cn * cn);
    } else {
      ell(K - u, sn, cn, dn);
      s[j] = M * (cn / sn) * (cn / sn);
      w[j] = c * sM * dn / (sn * sn);
    }
  }
}

/// Scratch of tridiagonalize_lanes (reused across groups).
struct tridiag_lanes_workspace {
  std::vector<double> a, p, y;
};

/// Four doubles as one value of the compiler's vector extension (GCC and Clang;
/// nvcc passes host code through): element-wise + − × are one SIMD instruction.
/// Unaligned and may alias double, so it can be loaded from any double array.
typedef double lane4 __attribute__((vector_size(32), aligned(8), may_alias));
inline constexpr int tridiag_lanes = 4;

/// Per-thread scratch of inv_sqrt_rational (reused across matrices), with the
/// quadrature nodes of [1, κ_q] cached per κ_q = 2^(q/8): the upper bound M is
/// rounded up to m·κ_q (≤ 9 % wider, about a third of a node), and the nodes of
/// [m, m·κ_q] are m·s_j and √m·w_j.
struct inv_sqrt_workspace {
  std::vector<double> p, d, e, s, w, piv, qiv, g, r, rows, f;
  tridiag_lanes_workspace lanes;  // the interleaved reduction's scratch
  std::vector<int> end;
  std::vector<std::vector<double>> nodes;  // [q]: s_1..s_N, w_1..w_N of [1, 2^(q/8)]
  Eigen::MatrixXd tmp;

  const std::vector<double>& nodes_for(int q) {
    if (nodes.size() <= static_cast<std::size_t>(q)) nodes.resize(static_cast<std::size_t>(q) + 1);
    auto& v = nodes[static_cast<std::size_t>(q)];
    if (v.empty()) {
      const double kappa = std::exp2(q / 8.0);
      const int N = inv_sqrt_node_count(kappa);
      v.resize(2 * static_cast<std::size_t>(N));
      inv_sqrt_nodes(1.0, kappa, N, v.data(), v.data() + N);
    }
    return v;
  }
};


/// Householder tridiagonalisation A = Q T Qᵀ of four symmetric matrices of the
/// same order at once (lower triangles read; column-major, lda), interleaved:
/// entry (i, j) of lane l at (j·n + i)·4 + l. Every operation is the same across
/// lanes, so each is one 4-wide vector operation (lane4) with no horizontal sums
/// and no remainder loops; the per-lane scalars (σ, μ, β) are lane4 values. A lane
/// whose column is already reduced (σ = 0) takes β = 0 and v = e₁, which leaves its
/// matrix and P unchanged. On return ws[l]->d, e hold lane l's T and ws[l]->p = Qᵀ
/// (leading dimension n rounded up to 8, padding rows zero). The lanes are
/// independent: one matrix may be passed in several (inv_sqrt_rational does).
inline void tridiagonalize_lanes(const double* const* A, int n, int lda, inv_sqrt_workspace* const* ws,
                                 tridiag_lanes_workspace& lw) {
  constexpr int L = tridiag_lanes;
  const auto nn = static_cast<std::ptrdiff_t>(n);
  lw.a.resize(static_cast<std::size_t>(nn * nn * L));
  lw.p.assign(static_cast<std::size_t>(nn * nn * L), 0.0);
  lw.y.assign(static_cast<std::size_t>(12 * nn * L), 0.0);
  lane4* __restrict a = reinterpret_cast<lane4*>(lw.a.data());
  lane4* __restrict q = reinterpret_cast<lane4*>(lw.p.data());
  lane4* __restrict y = reinterpret_cast<lane4*>(lw.y.data());
  lane4* __restrict dv = y + nn;
  lane4* __restrict ev = dv + nn;
  lane4* __restrict bv = ev + nn;
  lane4* __restrict ym = bv + nn;  // [4][n]: P v_m
  lane4* __restrict um = ym + 4 * nn;  // [4][n]: v_m, zero-padded
  // Per-lane values are read and written through double pointers (the lanes of a
  // lane4 in memory are consecutive doubles): nvcc's host pass cannot compile the
  // subscript of a vector value.
  double* __restrict ad = lw.a.data();
  for (int j = 0; j < n; ++j)
    for (int i = j; i < n; ++i)
      for (int l = 0; l < L; ++l) ad[(j * nn + i) * L + l] = A[l][static_cast<std::ptrdiff_t>(j) * lda + i];
  const lane4 zero = {0, 0, 0, 0}, one = {1, 1, 1, 1};
  // Reflector of step k from column k (rows ≥ k + 1, already updated by the steps
  // before): d_k, e_k, β_k; column k's rows ≥ k + 1 become v (v_(k+1) = 1).
  auto reflector = [&](int k) {
    lane4* __restrict x = a + k * nn;
    dv[k] = x[k];
    lane4 sigma = zero;
    for (int i = k + 2; i < n; ++i) sigma += x[i] * x[i];
    double sgl[L], beta[L] = {}, inv[L] = {};
    std::memcpy(sgl, &sigma, sizeof sgl);
    double* __restrict e = reinterpret_cast<double*>(ev + k);
    const double* __restrict x1 = reinterpret_cast<const double*>(x + k + 1);
    for (int l = 0; l < L; ++l) {
      const double x0 = x1[l], sg = sgl[l];
      if (sg == 0) {  // already reduced: H = I
        e[l] = x0;
        continue;
      }
      const double mu = std::sqrt(x0 * x0 + sg);
      const double v0 = x0 <= 0 ? x0 - mu : -sg / (x0 + mu);
      beta[l] = 2 * v0 * v0 / (sg + v0 * v0);
      inv[l] = 1 / v0;
      e[l] = mu;
    }
    lane4 iv;
    std::memcpy(&bv[k], beta, sizeof beta);
    std::memcpy(&iv, inv, sizeof inv);
    x[k + 1] = one;
    for (int i = k + 2; i < n; ++i) x[i] *= iv;
  };
  // Step k: y = A₂₂ v (A₂₂ = rows and columns ≥ k + 1, lower triangle), then
  // w = β y − (β/2)(β yᵀv) v and A₂₂ −= v wᵀ + w vᵀ. The update of each column is
  // fused with the next step's product y' = A₂₂' v': column k + 1 is updated
  // first, v' formed from it, then every later column, once loaded, is updated and
  // enters y' (four columns at a time, each entry serving both halves of the
  // symmetric product), so A is read once per step instead of twice.
  lane4* __restrict yn = ym;  // y of the next step (ym's first row; the P pass reuses it later)
  // Column j's share of y += A v (lower triangle, rows ≥ j): y_i += a_ij v_j below
  // the diagonal and y_j += Σ_i a_ij v_i, the entry serving both halves.
  auto symv_column = [&](const lane4* __restrict c, int j, const lane4* __restrict v, lane4* __restrict yo) {
    const lane4 vj = v[j];
    lane4 t = zero;
    yo[j] += c[j] * vj;
    for (int i = j + 1; i < n; ++i) {
      yo[i] += c[i] * vj;
      t += c[i] * v[i];
    }
    yo[j] += t;
  };
  if (n >= 3) {
    reflector(0);
    for (int i = 1; i < n; ++i) y[i] = zero;
    for (int j = 1; j < n; ++j) symv_column(a + j * nn, j, a, y);
  }
  for (int k = 0; k + 2 < n; ++k) {
    const lane4* __restrict x = a + k * nn;
    const lane4 beta = bv[k];
    lane4 yv = zero;
    for (int i = k + 1; i < n; ++i) {
      y[i] *= beta;
      yv += y[i] * x[i];
    }
    const lane4 h = 0.5 * beta * yv;
    for (int i = k + 1; i < n; ++i) y[i] -= h * x[i];
    {
      lane4* __restrict c = a + (k + 1) * nn;
      const lane4 wj = y[k + 1], vj = x[k + 1];
      for (int i = k + 1; i < n; ++i) c[i] -= x[i] * wj + y[i] * vj;
    }
    const bool next = k + 3 < n;  // step k + 1 exists
    const lane4* __restrict v2 = a + (k + 1) * nn;  // v' (rows ≥ k + 2) once formed
    if (next) {
      reflector(k + 1);
      for (int i = k + 2; i < n; ++i) yn[i] = zero;
    }
    int j = k + 2;
    for (; j + 4 <= n; j += 4) {
      lane4* __restrict c0 = a + j * nn;
      lane4* __restrict c1 = c0 + nn;
      lane4* __restrict c2 = c1 + nn;
      lane4* __restrict c3 = c2 + nn;
      const lane4 w0 = y[j], w1 = y[j + 1], w2 = y[j + 2], w3 = y[j + 3];
      const lane4 x0 = x[j], x1 = x[j + 1], x2 = x[j + 2], x3 = x[j + 3];
      // The 4 × 4 triangle (rows j..j+3), updated.
      lane4* cs[4] = {c0, c1, c2, c3};
      const lane4 ws4[4] = {w0, w1, w2, w3}, xs4[4] = {x0, x1, x2, x3};
      for (int m = 0; m < 4; ++m)
        for (int r = m; r < 4; ++r) cs[m][j + r] -= x[j + r] * ws4[m] + y[j + r] * xs4[m];
      if (!next) {
        for (int i = j + 4; i < n; ++i) {
          const lane4 xi = x[i], wi = y[i];
          c0[i] -= xi * w0 + wi * x0;
          c1[i] -= xi * w1 + wi * x1;
          c2[i] -= xi * w2 + wi * x2;
          c3[i] -= xi * w3 + wi * x3;
        }
        continue;
      }
      const lane4 v0 = v2[j], v1 = v2[j + 1], vv2 = v2[j + 2], v3 = v2[j + 3];
      lane4 t0 = c0[j + 1] * v1 + c0[j + 2] * vv2 + c0[j + 3] * v3;
      lane4 t1 = c1[j + 2] * vv2 + c1[j + 3] * v3;
      lane4 t2 = c2[j + 3] * v3;
      lane4 t3 = zero;
      yn[j] += c0[j] * v0;
      yn[j + 1] += c0[j + 1] * v0 + c1[j + 1] * v1;
      yn[j + 2] += c0[j + 2] * v0 + c1[j + 2] * v1 + c2[j + 2] * vv2;
      yn[j + 3] += c0[j + 3] * v0 + c1[j + 3] * v1 + c2[j + 3] * vv2 + c3[j + 3] * v3;
      for (int i = j + 4; i < n; ++i) {
        const lane4 xi = x[i], wi = y[i], vi = v2[i];
        const lane4 a0 = c0[i] - (xi * w0 + wi * x0);
        const lane4 a1 = c1[i] - (xi * w1 + wi * x1);
        const lane4 a2 = c2[i] - (xi * w2 + wi * x2);
        const lane4 a3 = c3[i] - (xi * w3 + wi * x3);
        c0[i] = a0;
        c1[i] = a1;
        c2[i] = a2;
        c3[i] = a3;
        yn[i] += (a0 * v0 + a1 * v1) + (a2 * vv2 + a3 * v3);
        t0 += a0 * vi;
        t1 += a1 * vi;
        t2 += a2 * vi;
        t3 += a3 * vi;
      }
      yn[j] += t0;
      yn[j + 1] += t1;
      yn[j + 2] += t2;
      yn[j + 3] += t3;
    }
    for (; j < n; ++j) {
      lane4* __restrict c = a + j * nn;
      const lane4 wj = y[j], xj = x[j];
      for (int i = j; i < n; ++i) c[i] -= x[i] * wj + y[i] * xj;
      if (next) symv_column(c, j, v2, yn);
    }
    if (next)
      for (int i = k + 2; i < n; ++i) y[i] = yn[i];
  }
  if (n >= 2) {
    dv[n - 2] = a[(n - 2) * nn + n - 2];
    ev[n - 2] = a[(n - 2) * nn + n - 1];
  }
  if (n >= 1) dv[n - 1] = a[(n - 1) * nn + n - 1];
  // P = Qᵀ = H_(n−3) ⋯ H_0, accumulated backward (at step k the columns ≥ k + 1 of
  // P are nonzero in rows ≥ k + 1 only), four reflectors per pass over P₂₂: with
  // y_m = P v_m (m = k, k−1, k−2, k−3) from one read of P, and
  // y'_m = y_m − Σ_(p before m) y'_p β_p (v_pᵀ v_m) (P after the earlier reflectors, times v_m),
  // P H_k ⋯ H_(k−3) = P − Σ_m y'_m (β_m v_m)ᵀ over rows and columns ≥ k − 2 (each v_m
  // zero above its first row m + 1). A lane with β = 0, or a reflector index
  // below 0, subtracts zeros.
  for (int i = 0; i < n; ++i) q[i * nn + i] = one;
  for (int k = n - 3; k >= 0; k -= 4) {
    const int r0 = std::max(k - 2, 1);  // first row and column touched (v_(k−3) starts at k − 2)
    lane4 b[4];
    for (int m = 0; m < 4; ++m) {
      const int km = k - m;
      b[m] = km >= 0 ? bv[km] : zero;
      lane4* __restrict u = um + m * nn;
      for (int j = r0; j < n; ++j) u[j] = (km >= 0 && j > km) ? a[km * nn + j] : zero;
    }
    const lane4* __restrict w0 = um;
    const lane4* __restrict w1 = um + nn;
    const lane4* __restrict w2 = um + 2 * nn;
    const lane4* __restrict w3 = um + 3 * nn;
    lane4* __restrict z0 = ym;
    lane4* __restrict z1 = ym + nn;
    lane4* __restrict z2 = ym + 2 * nn;
    lane4* __restrict z3 = ym + 3 * nn;
    int i = r0;
    for (; i + 2 <= n; i += 2) {
      lane4 s00 = zero, s01 = zero, s10 = zero, s11 = zero, s20 = zero, s21 = zero, s30 = zero, s31 = zero;
      for (int jj = r0; jj < n; ++jj) {
        const lane4* __restrict c = q + jj * nn + i;
        const lane4 c0 = c[0], c1 = c[1];
        s00 += c0 * w0[jj];
        s01 += c1 * w0[jj];
        s10 += c0 * w1[jj];
        s11 += c1 * w1[jj];
        s20 += c0 * w2[jj];
        s21 += c1 * w2[jj];
        s30 += c0 * w3[jj];
        s31 += c1 * w3[jj];
      }
      z0[i] = s00;
      z0[i + 1] = s01;
      z1[i] = s10;
      z1[i + 1] = s11;
      z2[i] = s20;
      z2[i + 1] = s21;
      z3[i] = s30;
      z3[i + 1] = s31;
    }
    for (; i < n; ++i) {
      lane4 s0 = zero, s1 = zero, s2 = zero, s3 = zero;
      for (int jj = r0; jj < n; ++jj) {
        const lane4 c = q[jj * nn + i];
        s0 += c * w0[jj];
        s1 += c * w1[jj];
        s2 += c * w2[jj];
        s3 += c * w3[jj];
      }
      z0[i] = s0;
      z1[i] = s1;
      z2[i] = s2;
      z3[i] = s3;
    }
    // y'_m: the reflectors before m applied (Gram coefficients β_p v_pᵀ v_m).
    for (int m = 1; m < 4; ++m) {
      lane4* __restrict zm = ym + m * nn;
      const lane4* __restrict um_ = um + m * nn;
      for (int p2 = 0; p2 < m; ++p2) {
        const lane4* __restrict up = um + p2 * nn;
        const lane4* __restrict zp = ym + p2 * nn;
        lane4 g = zero;
        for (int jj = r0; jj < n; ++jj) g += up[jj] * um_[jj];
        g *= b[p2];
        for (int ii = r0; ii < n; ++ii) zm[ii] -= g * zp[ii];
      }
    }
    for (int jj = r0; jj < n; ++jj) {
      lane4* __restrict c = q + jj * nn;
      const lane4 t0 = b[0] * w0[jj], t1 = b[1] * w1[jj], t2 = b[2] * w2[jj], t3 = b[3] * w3[jj];
      for (int ii = r0; ii < n; ++ii) c[ii] -= (z0[ii] * t0 + z1[ii] * t1) + (z2[ii] * t2 + z3[ii] * t3);
    }
  }
  const int ld8 = (n + 7) & ~7;
  for (int l = 0; l < L; ++l) {
    inv_sqrt_workspace& w = *ws[l];
    w.d.resize(static_cast<std::size_t>(n));
    w.e.assign(static_cast<std::size_t>(n), 0.0);
    const double* dd = reinterpret_cast<const double*>(dv);
    const double* ed = reinterpret_cast<const double*>(ev);
    const double* qd = lw.p.data();
    for (int i = 0; i < n; ++i) w.d[static_cast<std::size_t>(i)] = dd[i * L + l];
    for (int i = 0; i + 1 < n; ++i) w.e[static_cast<std::size_t>(i)] = ed[i * L + l];
    w.p.resize(static_cast<std::size_t>(ld8) * n);
    for (int jj = 0; jj < n; ++jj) {
      double* __restrict pc = w.p.data() + static_cast<std::size_t>(jj) * ld8;
      for (int i = 0; i < n; ++i) pc[i] = qd[(jj * nn + i) * L + l];
      for (int i = n; i < ld8; ++i) pc[i] = 0;
    }
  }
}

/// ok[l] = (T − shift[l]·I is positive definite), by its LDLᵀ pivots (Sturm count
/// zero); 8 shifts per pass so the divisions vectorise.
inline void tridiag_positive_definite8(const double* d, const double* e, int n, const double* shift, bool* ok) {
  double piv[8], low[8];
  for (int l = 0; l < 8; ++l) low[l] = piv[l] = d[0] - shift[l];
  for (int i = 1; i < n; ++i) {
    const double e2 = e[i - 1] * e[i - 1];
    for (int l = 0; l < 8; ++l) {
      piv[l] = d[i] - shift[l] - e2 / piv[l];
      low[l] = piv[l] < low[l] ? piv[l] : low[l];  // (std::fmin is a libm call)
    }
  }
  for (int l = 0; l < 8; ++l) ok[l] = low[l] > 0;  // NaN pivots fail too
}

/// out = A^(−1/2) (column-major, ldo) for symmetric positive definite A, by the
/// rational quadrature above. Returns false, leaving out untouched, where the
/// eigen-decomposition route must be taken instead (see the header comment).
inline bool inv_sqrt_from_tridiagonal(int n, double* out, int ldo, double rel_cutoff, inv_sqrt_workspace& ws);

inline bool inv_sqrt_rational(const double* A, int n, int lda, double* out, int ldo, double rel_cutoff,
                              inv_sqrt_workspace& ws) {
  if (n <= 0) return false;
  // One matrix: the interleaved reduction with A in every lane.
  const double* src[tridiag_lanes];
  inv_sqrt_workspace* wsp[tridiag_lanes];
  for (int l = 0; l < tridiag_lanes; ++l) {
    src[l] = A;
    wsp[l] = &ws;
  }
  tridiagonalize_lanes(src, n, lda, wsp, ws.lanes);
  return inv_sqrt_from_tridiagonal(n, out, ldo, rel_cutoff, ws);
}

/// Steps 2–5 on the tridiagonal form in ws (d, e, p as tridiagonalize_lanes leaves them).
inline bool inv_sqrt_from_tridiagonal(int n, double* out, int ldo, double rel_cutoff, inv_sqrt_workspace& ws) {
  if (n <= 0) return false;
  const double* d = ws.d.data();
  const double* e = ws.e.data();
  double M = 0;
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(d[i]) || !std::isfinite(e[i])) return false;  // (fmax and fmin skip NaN)
    M = std::max(M, d[i] + (i > 0 ? std::fabs(e[i - 1]) : 0.0) + (i + 1 < n ? std::fabs(e[i]) : 0.0));
  }
  if (!(M > 0) || !std::isfinite(M)) return false;
  // Verified lower bound m of λ_min, to a factor e^0.04, by geometric bisection.
  double lo = M * std::max(1e-12, rel_cutoff), hi = M;
  {
    double sh[8];
    bool ok[8];
    std::fill(sh, sh + 8, lo);
    tridiag_positive_definite8(d, e, n, sh, ok);
    if (!ok[0]) return false;
  }
  for (int pass = 0; pass < 3; ++pass) {
    double sh[8];
    bool ok[8];
    const double span = std::log(hi / lo);
    for (int l = 0; l < 8; ++l) sh[l] = lo * std::exp(span * (l + 1) / 9.0);
    tridiag_positive_definite8(d, e, n, sh, ok);
    double nlo = lo, nhi = hi;
    for (int l = 0; l < 8; ++l) {
      if (!ok[l]) {
        nhi = sh[l];
        break;
      }
      nlo = sh[l];
    }
    lo = nlo;
    hi = nhi;
  }
  const double m = lo;
  const int qk = std::max(0, static_cast<int>(std::ceil(8 * std::log2(M / m))));
  const auto& unit = ws.nodes_for(qk);
  const int N = static_cast<int>(unit.size() / 2);
  const auto nN = static_cast<std::size_t>(N), nn = static_cast<std::size_t>(n);
  ws.s.resize(nN);
  ws.w.resize(nN);
  const double sm = std::sqrt(m);
  for (std::size_t j = 0; j < nN; ++j) {
    ws.s[j] = m * unit[j];
    ws.w[j] = sm * unit[nN + j];
  }
  // Pivots of T + s_j (top-down p, bottom-up q), node index innermost so the
  // divisions vectorise; g = diagonal of the inverse, r = the ratios above it.
  ws.piv.resize(nn * nN);
  ws.qiv.resize(nn * nN);
  ws.g.resize(nn * nN);
  ws.r.resize(nn * nN);
  double* p = ws.piv.data();
  double* q = ws.qiv.data();
  double* g = ws.g.data();
  double* r = ws.r.data();
  const double* s = ws.s.data();
  for (int j = 0; j < N; ++j) p[j] = d[0] + s[j];
  for (int i = 1; i < n; ++i) {
    const double e2 = e[i - 1] * e[i - 1];
    for (int j = 0; j < N; ++j) p[i * N + j] = d[i] + s[j] - e2 / p[(i - 1) * N + j];
  }
  for (int j = 0; j < N; ++j) q[(n - 1) * N + j] = d[n - 1] + s[j];
  for (int i = n - 2; i >= 0; --i) {
    const double e2 = e[i] * e[i];
    for (int j = 0; j < N; ++j) q[i * N + j] = d[i] + s[j] - e2 / q[(i + 1) * N + j];
  }
  for (int i = 0; i + 1 < n; ++i) {
    const double e2 = e[i] * e[i], ei = e[i];
    for (int j = 0; j < N; ++j) {
      g[i * N + j] = 1.0 / (p[i * N + j] - e2 / q[(i + 1) * N + j]);
      r[i * N + j] = -ei / p[i * N + j];
    }
  }
  for (int j = 0; j < N; ++j) {
    g[(n - 1) * N + j] = 1.0 / p[(n - 1) * N + j];
    r[(n - 1) * N + j] = 0;
  }
  // F = Σ_j w_j (T + s_j)⁻¹, lower triangle by columns (= upper by rows): row i of
  // each inverse is r_i × row i+1 to the right of the diagonal; each node's row is
  // cut where its entries fall below 1e−20 ‖F‖ (‖F‖ ≈ m^(−1/2)) and zeroed past the
  // cut. Rows and F columns have the padded leading dimension, so the loops run
  // over whole groups of 8 from the group holding i: entries left of i are zero in
  // the rows and land in F's upper triangle, which is overwritten below.
  const int ld = (n + 7) & ~7;
  ws.f.assign(static_cast<std::size_t>(ld) * n, 0.0);
  ws.rows.assign(static_cast<std::size_t>(ld) * nN, 0.0);
  ws.end.assign(nN, n - 1);
  const double cut = 1e-20 / sm;
  for (int i = n - 1; i >= 0; --i) {
    double* __restrict Fi = ws.f.data() + static_cast<std::ptrdiff_t>(i) * ld;  // column i, rows ≥ i
    const int c0 = i & ~7;
    // Row i of every node's inverse: r_i × row i+1 right of the diagonal (entry i of
    // row i+1, and all left of it, are zero), then g at the diagonal. F's column is
    // summed over the nodes in registers, a group of 8 entries at a time.
    for (int cg = c0; cg < ld; cg += 8) {
      lane4 acc0 = {0, 0, 0, 0}, acc1 = acc0;  // (8 doubles as two vector values: GCC kept an acc[8] scalar)
      bool any = false;
      for (int j = 0; j < N; ++j) {
        if (cg > ws.end[static_cast<std::size_t>(j)]) continue;
        any = true;
        lane4* __restrict row = reinterpret_cast<lane4*>(ws.rows.data() + static_cast<std::ptrdiff_t>(j) * ld + cg);
        const double ri = r[i * N + j], wj = ws.w[static_cast<std::size_t>(j)];
        const lane4 v0 = row[0] * ri, v1 = row[1] * ri;
        row[0] = v0;
        row[1] = v1;
        acc0 += wj * v0;
        acc1 += wj * v1;
      }
      if (!any) break;
      lane4* __restrict f4 = reinterpret_cast<lane4*>(Fi + cg);
      f4[0] += acc0;
      f4[1] += acc1;
    }
    double diag = 0;
    for (int j = 0; j < N; ++j) {
      double* __restrict row = ws.rows.data() + static_cast<std::ptrdiff_t>(j) * ld;
      const double wj = ws.w[static_cast<std::size_t>(j)];
      row[i] = g[i * N + j];
      diag += wj * row[i];
      int en = ws.end[static_cast<std::size_t>(j)];
      const int en0 = en;
      while (en > i && std::fabs(wj * row[en]) < cut) --en;
      for (int c = en + 1; c <= en0; ++c) row[c] = 0;
      ws.end[static_cast<std::size_t>(j)] = en;
    }
    Fi[i] += diag;
  }
  using pmap = Eigen::Map<const Eigen::MatrixXd, 0, Eigen::OuterStride<>>;
  Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>> F(ws.f.data(), n, n, Eigen::OuterStride<>(ld));
  F.template triangularView<Eigen::StrictlyUpper>() = F.transpose();
  const pmap P(ws.p.data(), n, n, Eigen::OuterStride<>(ld));
  // A^(−1/2) = Q F Qᵀ = Pᵀ F P.
  ws.tmp.noalias() = F * P;
  Eigen::Map<Eigen::MatrixXd, 0, Eigen::OuterStride<>> O(out, n, n, Eigen::OuterStride<>(ldo));
  O.template triangularView<Eigen::Lower>() = P.transpose() * ws.tmp;
  O.template triangularView<Eigen::StrictlyUpper>() = O.transpose();
  return true;
}

}  // namespace specx::backend::detail
