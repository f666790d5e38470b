// Extraction against specter (desihub/specter b8490d3): tests/data/reference/
// extract-r0-bundle10.fits holds a noisy cutout of fibers 250..274 × 400 bins
// (6000–6319.2 Å) with the real r0 PSF and specter's ex2d outputs on it (recipe in
// its header; conventions in README-specter.txt). We extract the same cutout with
// the same recipe and compare FLUX (|Δ|·√ivar), IVAR (relative), RESOLUTION
// (absolute), CHI2PIX and the model image; thrust-omp against cpu; the frame file
// round trip; and specter's approximate inverse trace (used for the padding).
#include "testing.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include <specx/extract.hpp>
#include <specx/io.hpp>
#include <specx/io/frame_file.hpp>
#include <specx/psf.hpp>

using namespace specx;

namespace {

const std::string psf_file = specx::test::data_path("psf/psf-r0-00067784.fits");
const std::string ref_file = specx::test::test_data_path("reference/extract-r0-bundle10.fits");
const std::string stamps_file = specx::test::test_data_path("reference/psf-r0-00067784-stamps.fits");

struct reference {
  xt::xtensor<float, 2> image, ivar, modelimage;
  int xmin = 0, ymin = 0;
  std::vector<double> wave;
  xt::xtensor<double, 2> flux, ivar_flux, chi2pix, pmf, truth_rconv;
  xt::xtensor<double, 3> resolution;
  int specmin = 0, nspec = 0, ndiag = 0;
};

const reference& ref() {
  static const reference r = [] {
    reference t;
    io::fits_file f(ref_file);
    f.move_to(0);
    t.specmin = static_cast<int>(f.read_key<std::int64_t>("SPECMIN"));
    t.nspec = static_cast<int>(f.read_key<std::int64_t>("NSPEC"));
    t.ndiag = static_cast<int>(f.read_key<std::int64_t>("NDIAG"));
    t.image = f.read_image<float, 2>("IMAGE");
    t.xmin = static_cast<int>(f.read_key<std::int64_t>("XMIN"));
    t.ymin = static_cast<int>(f.read_key<std::int64_t>("YMIN"));
    t.ivar = f.read_image<float, 2>("IVAR");
    t.modelimage = f.read_image<float, 2>("MODELIMAGE");
    const auto w = f.read_image<double, 1>("WAVELENGTH");
    t.wave.assign(w.begin(), w.end());
    t.flux = f.read_image<double, 2>("FLUX");
    t.ivar_flux = f.read_image<double, 2>("IVAR_FLUX");
    t.chi2pix = f.read_image<double, 2>("CHI2PIX");
    t.pmf = f.read_image<double, 2>("PIXMASK_FRACTION");
    t.truth_rconv = f.read_image<double, 2>("TRUTH_RCONV");
    t.resolution = f.read_image<double, 3>("RESOLUTION");
    return t;
  }();
  return r;
}

const psf::gauss_hermite_psf<double, backend::cpu>& host_psf() {
  static const psf::gauss_hermite_psf<double, backend::cpu> p(io::read_psf(psf_file));
  return p;
}

const extract::trace_inverse& inverse() {
  static const extract::trace_inverse inv(host_psf(), 9);
  return inv;
}

extract::options reference_options() {
  extract::options o;  // DESI's defaults are the reference recipe
  o.bundle_size = 25;
  o.n_subbundles = 5;
  o.wave_chunk = 50;
  o.pixpad_frac = 0.8;
  o.wavepad_frac = 0.2;
  o.psferr = 0.01;
  o.regularize = 0.0;
  return o;
}

template <class B>
extract::extraction_result run(B be) {
  const auto& r = ref();
  psf::gauss_hermite_psf<double, B> p(io::read_psf(psf_file), be);
  const auto img = extract::view_of(r.image, r.ivar, nullptr, r.xmin, r.ymin);
  return extract::extract_frame(be, p, img, r.specmin, r.nspec, r.wave, inverse(), reference_options());
}

const extract::extraction_result& cpu_result() {
  static const extract::extraction_result r = run(backend::cpu{});
  return r;
}

}  // namespace

TEST_CASE("specter's approximate inverse trace is reproduced") {
  io::fits_file f(stamps_file);
  f.move_to("WAVE_FROM_Y");
  const auto fib = f.read_column<std::int32_t>("FIBER");
  const auto y = f.read_column<double>("Y");
  const auto w = f.read_column<double>("WAVE");
  double dmax = 0;
  for (std::size_t i = 0; i < fib.size(); ++i) dmax = std::max(dmax, std::abs(inverse()(fib(i), y(i)) - w(i)));
  MESSAGE("max |λ_inverse − specter psf.wavelength| = " << dmax << " Å over " << fib.size() << " samples");
  CHECK(dmax < 1e-6);
  CHECK(inverse().ymin() == doctest::Approx(-114.359).epsilon(1e-5));
  CHECK(inverse().ymax() == doctest::Approx(4312.812).epsilon(1e-6));
}

TEST_CASE("patch geometry is specter's") {
  const auto& r = ref();
  const auto& p = host_psf();
  extract::patch_planner<std::decay_t<decltype(p)>> pl(p, inverse());
  const auto plans = extract::plan_patches(pl, p, r.specmin, r.nspec, r.wave, r.ndiag, reference_options());
  REQUIRE(plans.size() == 40);
  int x0 = 1 << 30, x1 = 0, y0 = 1 << 30, y1 = 0;
  for (const auto& q : plans) {
    x0 = std::min(x0, q.x0);
    x1 = std::max(x1, q.x0 + q.wx);
    y0 = std::min(y0, q.y0);
    y1 = std::max(y1, q.y0 + q.wy);
  }
  // README-specter.txt: the union of ex2d's 40 patches is rows 682..1289, columns 2033..2223.
  CHECK(y0 == 682);
  CHECK(y1 - 1 == 1289);
  CHECK(x0 == 2033);
  CHECK(x1 - 1 == 2223);
}

TEST_CASE_TEMPLATE("extraction equals specter's ex2d on the r0 bundle-10 cutout", B, SPECX_TEST_BACKENDS) {
  const auto& r = ref();
  const auto res = std::is_same_v<B, backend::cpu> ? cpu_result() : run(B{});
  REQUIRE(res.ndiag == r.ndiag);
  REQUIRE(res.flux.shape() == r.flux.shape());
  double dflux = 0, divar = 0, dres = 0, dchi = 0, dpmf = 0;
  for (std::size_t s = 0; s < r.flux.shape()[0]; ++s)
    for (std::size_t j = 0; j < r.flux.shape()[1]; ++j) {
      CHECK(std::isfinite(res.flux(s, j)));
      dflux = std::max(dflux, std::abs(res.flux(s, j) - r.flux(s, j)) * std::sqrt(r.ivar_flux(s, j)));
      divar = std::max(divar, std::abs(res.ivar(s, j) / r.ivar_flux(s, j) - 1));
      dchi = std::max(dchi, std::abs(res.chi2pix(s, j) - r.chi2pix(s, j)));
      dpmf = std::max(dpmf, std::abs(res.pixmask_fraction(s, j) - r.pmf(s, j)));
      for (std::size_t d = 0; d < r.resolution.shape()[1]; ++d)
        dres = std::max(dres, std::abs(res.resolution(s, d, j) - r.resolution(s, d, j)));
    }
  double dmodel = 0, mscale = 0;
  for (std::size_t i = 0; i < r.modelimage.size(); ++i) {
    dmodel = std::max(dmodel, double(std::abs(res.model.data()[i] - r.modelimage.data()[i])));
    mscale = std::max(mscale, double(std::abs(r.modelimage.data()[i])));
  }
  MESSAGE(B::name << ": max |Δflux|·√ivar = " << dflux << ", max |Δivar|/ivar = " << divar
                  << ", max |ΔR| = " << dres << ", max |Δchi2pix| = " << dchi << ", max |Δpixmask| = " << dpmf
                  << ", max |Δmodel| = " << dmodel << " e (max model " << mscale << ")");
  MESSAGE("timings: plan " << res.timings.plan << " stamps " << res.timings.stamps << " assemble "
                           << res.timings.assemble << " covariance " << res.timings.covariance << " eigen "
                           << res.timings.decorrelate << " total " << res.timings.total << " s");
  // The bounds are 1e-3 σ, 1e-4 and 1e-5; we reach ~4e-9 σ, 1e-10 and 8e-12
  // (double rounding), so guard much tighter.
  CHECK(dflux < 1e-6);
  CHECK(divar < 1e-8);
  CHECK(dres < 1e-9);
  CHECK(dchi < 1e-6);
  CHECK(dpmf < 1e-9);
  CHECK(dmodel < 1e-5 * mscale);  // the model image is float32
  CHECK(res.nfailed == 0);
  for (std::size_t i = 0; i < res.mask.size(); ++i) CHECK(res.mask.data()[i] == 0);

  if constexpr (!std::is_same_v<B, backend::cpu>) {
    const auto& c = cpu_result();
    CHECK(specx::test::max_rel_diff(res.flux, c.flux) <= 1e-10);
    CHECK(specx::test::max_rel_diff(res.ivar, c.ivar) <= 1e-10);
    CHECK(specx::test::max_rel_diff(res.resolution, c.resolution) <= 1e-10);
    CHECK(specx::test::max_rel_diff(res.chi2pix, c.chi2pix) <= 1e-10);
  }
}

TEST_CASE("frame file round trip") {
  const auto& r = cpu_result();
  io::frame_data fr;
  fr.primary.push_back({"CAMERA", std::string("r0"), "camera"});
  fr.flux = xt::cast<float>(r.flux);
  fr.ivar = xt::cast<float>(r.ivar);
  fr.mask = r.mask;
  fr.mask(3, 7) = static_cast<std::int32_t>(0x80000001u);  // the sign bit survives (uint32 on disk)
  fr.wavelength = r.wavelength;
  fr.resolution = xt::cast<float>(r.resolution);
  fr.chi2pix = xt::xtensor<float, 2>(xt::cast<float>(r.chi2pix));
  io::table fm;
  xt::xtensor<std::int32_t, 1> fib = xt::arange<std::int32_t>(r.specmin, r.specmin + r.nspec);
  fm.add_column("FIBER", fib);
  fr.fibermap = fm;
  specx::test::temp_dir tmp;
  const auto path = tmp.file("frame-r0-00000001.fits");
  io::write_frame(path, fr);
  const auto back = io::read_frame(path);
  CHECK(back.flux == fr.flux);
  CHECK(back.ivar == fr.ivar);
  CHECK(back.mask == fr.mask);
  CHECK(back.wavelength == fr.wavelength);
  CHECK(back.resolution == fr.resolution);
  REQUIRE(back.chi2pix);
  CHECK(*back.chi2pix == *fr.chi2pix);
  REQUIRE(back.fibermap);
  CHECK(back.fibermap->values<std::int32_t>("FIBER") == fib);
  CHECK(io::find_keyword(back.primary, "CAMERA") != nullptr);
  // Inconsistent shapes are refused before anything is written.
  auto bad = fr;
  bad.ivar = xt::zeros<float>({2, 2});
  CHECK_THROWS_AS(io::write_frame(tmp.file("bad.fits"), bad), specx::format_error);
  CHECK_FALSE(std::filesystem::exists(tmp.file("bad.fits")));
}
