// Inoue+14 IGM transmission: limits, monotonicity, values computed independently
// (numpy, see below) and the literature mean transmission of the Lyα forest.
#include "testing.hpp"

#include <specx/igm.hpp>

using specx::igm::inoue14_table;

namespace {
const inoue14_table& table() {
  static const inoue14_table t = specx::igm::read_inoue14(specx::test::data_path("redshift/LAFcoeff.txt"),
                                                         specx::test::data_path("redshift/DLAcoeff.txt"));
  return t;
}
}  // namespace

TEST_CASE("igm: the coefficient tables load (39 lines, Lyα first)") {
  const auto& t = table();
  CHECK(t.nlines == 39);
  CHECK(t.lambda[0] == doctest::Approx(1215.67));
  CHECK(t.laf[0][0] == doctest::Approx(1.68976e-2));
  CHECK(t.dla[38][1] == doctest::Approx(3.33895e-5));
  CHECK_THROWS_AS(specx::igm::read_inoue14("/nonexistent/LAF.txt", "/nonexistent/DLA.txt"), specx::io_error);
}

TEST_CASE("igm: transmission is exactly 1 redward of Lyα") {
  const auto& t = table();
  for (double z : {0.5, 2.0, 3.0, 4.5, 6.0})
    for (double l = 1215.67 * (1 + z) * (1 + 1e-9); l < 11000; l *= 1.01)
      CHECK(specx::igm::transmission(t, l, z) == 1.0);
}

TEST_CASE("igm: transmission decreases with source redshift at fixed rest wavelength") {
  const auto& t = table();
  for (double rest : {1200.0, 1100.0, 1000.0, 950.0, 880.0}) {
    double prev = 2;
    for (double z = 1.6; z <= 6.0; z += 0.1) {
      const double T = specx::igm::transmission(t, rest * (1 + z), z);
      CHECK(T < prev);
      CHECK(T >= 0);
      prev = T;
    }
  }
}

TEST_CASE("igm: values match an independent evaluation of Inoue+14 eqs. 21-29") {
  // Computed with /usr/bin/python3 + numpy from the same coefficient files, by a
  // separately written vectorised evaluation (sums over all lines with masks):
  //   for l, z in pairs: print(np.exp(-tau(l, z)))
  struct ref {
    double lambda, z, T;
  };
  const ref refs[] = {
      {4000.0, 3.0, 0.741947867611505}, {4800.0, 3.0, 0.682335887059198}, {3500.0, 2.5, 0.83321472762511},
      {3700.0, 3.5, 0.139333521637919}, {3300.0, 3.0, 0.273652288318375}, {5000.0, 4.5, 0.20937351377371},
      {6000.0, 5.5, 0.0975881430636201}, {4200.0, 2.2, 1.0},
  };
  for (const auto& r : refs) {
    CAPTURE(r.lambda);
    CAPTURE(r.z);
    CHECK(specx::igm::transmission(table(), r.lambda, r.z) == doctest::Approx(r.T).epsilon(1e-12));
  }
}

TEST_CASE("igm: mean Lyα-forest transmission of a z = 3 source is ~0.7") {
  // Observed mean flux of the forest near z_abs ≈ 2.7-2.9: τ_eff ≈ 0.3-0.37, i.e.
  // <F> ≈ 0.70-0.75 (Faucher-Giguère et al. 2008, ApJ 681, 831; Becker et al.
  // 2013, MNRAS 430, 2067). Inoue+14 is fitted to such data; over rest 1070-1170 Å
  // (absorbers at z 2.52-2.85) the independent numpy evaluation gives 0.7432.
  double sum = 0;
  int n = 0;
  for (double rest = 1070; rest <= 1170; rest += 0.05, ++n) sum += specx::igm::transmission(table(), rest * 4.0, 3.0);
  const double mean = sum / n;
  CHECK(mean == doctest::Approx(0.7432).epsilon(2e-3));
  CHECK(mean > 0.65);
  CHECK(mean < 0.80);
}

TEST_CASE_TEMPLATE("igm: the evaluator runs in backend functors and agrees with the host", B, SPECX_TEST_BACKENDS) {
  B be{};
  std::vector<double> lam;
  for (double l = 3000; l < 9000; l += 7.3) lam.push_back(l);
  auto dl = specx::backend::to_backend(be, std::span<const double>(lam));
  auto dout = specx::backend::make_vector<double>(be, lam.size());
  for (double z : {2.1, 3.7, 5.2}) {
    specx::backend::for_each_index(
        be, lam.size(), specx::igm::transmission_functor{table(), specx::backend::raw(be, dl), z, specx::backend::raw(be, dout)});
    const auto h = specx::backend::to_host(be, dout);
    for (std::size_t i = 0; i < lam.size(); ++i) {
      const double ref = specx::igm::transmission(table(), lam[i], z);
#if defined(SPECX_TEST_CUDA)
      CHECK(h[i] == doctest::Approx(ref).epsilon(1e-12));
#else
      CHECK(h[i] == ref);
#endif
    }
  }
}
