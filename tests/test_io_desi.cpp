// Tests of the DESI-format readers and writers on real public files (credits in
// data/README.md and tests/data/README.md). Every concrete value below was first
// read with an independent reader, astropy 5 + numpy (`/usr/bin/python3`,
// astropy.io.fits.getdata / header), and pasted here; floating-point values are
// compared exactly (float32 values against their float32 literal, float64 against
// the 17-digit repr), since both readers decode the same IEEE bytes.
#include "testing.hpp"

#include <specx/io.hpp>

#include <cstring>
#include <set>

namespace fs = std::filesystem;
using namespace specx;
using specx::test::data_path;
using specx::test::temp_dir;
using specx::test::test_data_path;

namespace {

template <class A, class B>
bool same_bits(const A& a, const B& b) {
  if (a.shape() != b.shape()) return false;
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(typename A::value_type)) == 0;
}

void check_same_table(const std::optional<io::table>& a, const std::optional<io::table>& b) {
  REQUIRE(a.has_value() == b.has_value());
  if (!a) return;
  REQUIRE(a->ncols() == b->ncols());
  CHECK(a->nrows() == b->nrows());
  for (std::size_t c = 0; c < a->ncols(); ++c) {
    const auto& x = a->columns[c];
    const auto& y = b->columns[c];
    CAPTURE(x.name);
    CHECK(x.name == y.name);
    CHECK(x.type() == y.type());
    CHECK(x.dims == y.dims);
    CHECK(x.unit == y.unit);
    CHECK(x.tnull == y.tnull);
    std::visit(
        [&](const auto& dx) {
          using D = std::decay_t<decltype(dx)>;
          const auto& dy = std::get<D>(y.data);
          if constexpr (std::is_same_v<D, std::vector<std::string>>) CHECK(dx == dy);
          else CHECK(same_bits(dx, dy));
        },
        x.data);
  }
}

void check_same_spectra(const io::spectra_data& a, const io::spectra_data& b) {
  check_same_table(a.fibermap, b.fibermap);
  check_same_table(a.exp_fibermap, b.exp_fibermap);
  check_same_table(a.scores, b.scores);
  REQUIRE(a.bands.size() == b.bands.size());
  for (std::size_t i = 0; i < a.bands.size(); ++i) {
    const auto& x = a.bands[i];
    const auto& y = b.bands[i];
    CAPTURE(x.name);
    CHECK(x.name == y.name);
    CHECK(same_bits(x.wavelength, y.wavelength));
    CHECK(same_bits(x.flux, y.flux));
    CHECK(same_bits(x.ivar, y.ivar));
    REQUIRE(x.mask.has_value() == y.mask.has_value());
    if (x.mask) CHECK(same_bits(*x.mask, *y.mask));
    REQUIRE(x.resolution.has_value() == y.resolution.has_value());
    if (x.resolution) CHECK(same_bits(*x.resolution, *y.resolution));
    CHECK(x.wavelength_unit == y.wavelength_unit);
    CHECK(x.flux_unit == y.flux_unit);
    CHECK(x.ivar_unit == y.ivar_unit);
  }
  // Primary keywords survive with their values.
  for (const auto& k : a.primary) {
    CAPTURE(k.name);
    const auto* o = io::find_keyword(b.primary, k.name);
    REQUIRE(o != nullptr);
    CHECK(o->value == k.value);
  }
}

}  // namespace

TEST_CASE("spectra file with compressed MASK: shapes, keywords and values") {
  const auto s = io::read_spectra(test_data_path("spectra/spectra-5-169-thru20210419.fits"));
  REQUIRE(s.bands.size() == 3);
  CHECK(s.bands[0].name == "B");
  CHECK(s.bands[1].name == "R");
  CHECK(s.bands[2].name == "Z");
  CHECK(s.nspec() == 5);
  const auto& b = s.band("b");
  CHECK(b.nwave() == 2751);
  CHECK(b.flux.shape() == std::array<std::size_t, 2>{5, 2751});
  CHECK(b.resolution->shape() == std::array<std::size_t, 3>{5, 11, 2751});
  CHECK(s.band("R").nwave() == 2326);
  CHECK(s.band("Z").nwave() == 2881);
  // astropy: B_WAVELENGTH[0] = 3600.0, [-1] = 5800.0000000005
  CHECK(b.wavelength(0) == 3600.0);
  CHECK(b.wavelength(2750) == 5800.0000000005);
  // astropy: B_FLUX[2,1000] = -0.6720792, R_IVAR[4,100] = 2.9721155, Z_RESOLUTION[1,5,2000] = 0.43776488,
  // Z_RESOLUTION[1,0,2000] = -0.0016476955 (float32 reprs)
  CHECK(b.flux(2, 1000) == -0.6720792f);
  CHECK(s.band("R").ivar(4, 100) == 2.9721155f);
  CHECK((*s.band("Z").resolution)(1, 5, 2000) == 0.43776488f);
  CHECK((*s.band("Z").resolution)(1, 0, 2000) == -0.0016476955f);
  // astropy (decompressing the GZIP_1 tiles): B_MASK uint32 with 11004 non-zero entries, max 512,
  // B_MASK[0,0] = 512; R_MASK takes the values {0, 1, 512, 513}.
  REQUIRE(b.mask.has_value());
  CHECK(std::count_if(b.mask->begin(), b.mask->end(), [](std::int32_t m) { return m != 0; }) == 11004);
  CHECK(*std::max_element(b.mask->begin(), b.mask->end()) == 512);
  CHECK((*b.mask)(0, 0) == 512);
  std::set<std::int32_t> rvals(s.band("R").mask->begin(), s.band("R").mask->end());
  CHECK(rvals == std::set<std::int32_t>{0, 1, 512, 513});
  CHECK(b.flux_unit == "10**-17 erg/(s cm2 Angstrom)");
  CHECK(b.ivar_unit == "10**+34 (s2 cm4 Angstrom2) / erg2");
  CHECK(b.wavelength_unit == "Angstrom");
  // FIBERMAP: astropy TARGETID = [-1695072, 39633297352951412, -1695064, -1695073, 39633300968442591],
  // FIBER = 2500..2504, OBJTYPE = ['', 'TGT', '', '', 'TGT'] (3A), FA_TYPE (uint8) = [0, 1, 0, 0, 1],
  // TARGET_RA[1] = 215.52494515373894.
  REQUIRE(s.fibermap.has_value());
  CHECK(s.fibermap->ncols() == 78);
  const auto tid = s.fibermap->values<std::int64_t>("TARGETID");
  CHECK(tid(0) == -1695072);
  CHECK(tid(1) == 39633297352951412LL);
  CHECK(tid(4) == 39633300968442591LL);
  CHECK(s.fibermap->get<std::int32_t>("FIBER")(3, 0) == 2503);
  CHECK(s.fibermap->strings("OBJTYPE") == std::vector<std::string>{"", "TGT", "", "", "TGT"});
  CHECK(s.fibermap->get<std::uint8_t>("FA_TYPE")(1, 0) == 1);
  CHECK(s.fibermap->get<double>("TARGET_RA")(1, 0) == 215.52494515373894);
  // SCORES: 61 columns, TSNR2_LRG_Z[0] = 111.4543755146109 (float64).
  REQUIRE(s.scores.has_value());
  CHECK(s.scores->ncols() == 61);
  CHECK(s.scores->get<double>("TSNR2_LRG_Z")(0, 0) == 111.4543755146109);
  CHECK_FALSE(s.exp_fibermap.has_value());
  // Primary header: TILEID = 169, SPGRP = 'cumulative'.
  CHECK(std::get<std::int64_t>(io::find_keyword(s.primary, "TILEID")->value) == 169);
  CHECK(std::get<std::string>(io::find_keyword(s.primary, "SPGRP")->value) == "cumulative");
}

TEST_CASE("partial coadd file (FLUX, IVAR, WAVELENGTH only)") {
  const auto s = io::read_spectra(test_data_path("spectra/coadd-everest-25fibers.fits"));
  REQUIRE(s.bands.size() == 3);
  CHECK(s.nspec() == 25);
  CHECK_FALSE(s.fibermap.has_value());
  CHECK_FALSE(s.scores.has_value());
  for (const auto& b : s.bands) {
    CHECK_FALSE(b.mask.has_value());
    CHECK_FALSE(b.resolution.has_value());
    CHECK(b.flux_unit.empty());  // no BUNIT in this file
  }
  // astropy: B_FLUX[0,0] = -3.3409886, Z_IVAR[24,2880] = 289.15897, R_WAVELENGTH[0] = 5760.0,
  // R_FLUX[12,1234] = 0.2730354
  CHECK(s.band("B").flux(0, 0) == -3.3409886f);
  CHECK(s.band("Z").ivar(24, 2880) == 289.15897f);
  CHECK(s.band("R").wavelength(0) == 5760.0);
  CHECK(s.band("R").flux(12, 1234) == 0.2730354f);
}

TEST_CASE("coadd file with EXP_FIBERMAP (runtime data)") {
  const auto s = io::read_spectra(data_path("spectra/coadd-sv3-dark-26065.fits"));
  // astropy: TARGETID[0] = -2713437, 7 EXP_FIBERMAP rows, R_FLUX[0,500] = 0.0, B_MASK all zero.
  CHECK(s.nspec() == 5);
  REQUIRE(s.exp_fibermap.has_value());
  CHECK(s.exp_fibermap->nrows() == 7);
  CHECK(s.fibermap->values<std::int64_t>("TARGETID")(0) == -2713437);
  CHECK(s.band("R").flux(0, 500) == 0.0f);
  CHECK(std::all_of(s.band("B").mask->begin(), s.band("B").mask->end(), [](std::int32_t m) { return m == 0; }));
}

TEST_CASE("spectra and coadd files round-trip exactly through write_spectra") {
  temp_dir tmp;
  const std::vector<std::string> inputs = {test_data_path("spectra/spectra-5-169-thru20210419.fits"),
                                           test_data_path("spectra/coadd-everest-25fibers.fits"),
                                           data_path("spectra/coadd-sv3-dark-26065.fits")};
  for (const auto& in : inputs) {
    for (bool compress : {false, true}) {
      CAPTURE(in);
      CAPTURE(compress);
      const auto a = io::read_spectra(in);
      const auto out = tmp.file("rt.fits");
      io::write_spectra(out, a, io::spectra_write_options{true, compress, true});
      const auto b = io::read_spectra(out);
      check_same_spectra(a, b);
      // The layout is DESI's: FIBERMAP right after the primary, MASK compressed on request.
      io::fits_file f(out);
      const auto names = f.hdu_names();
      if (a.fibermap) CHECK(names.at(1) == "FIBERMAP");
      if (a.bands[0].mask) {
        f.move_to("B_MASK");
        CHECK(f.is_compressed_image() == compress);
        CHECK(f.image_equivalent_bitpix() == ULONG_IMG);  // uint32 as DESI writes it
      }
      // Writing what was read back gives the same data again (read -> write -> read -> write -> read).
      const auto out2 = tmp.file("rt2.fits");
      io::write_spectra(out2, b, io::spectra_write_options{true, compress, true});
      check_same_spectra(a, io::read_spectra(out2));
    }
  }
}

TEST_CASE("PSFVER 3 file (specex GAUSS-HERMITE, camera r0)") {
  const auto p = io::read_psf(data_path("psf/psf-r0-00067784.fits"));
  CHECK(p.layout == io::psf_layout::gauss_hermite_v3);
  CHECK(p.psfver == 3);
  CHECK(p.psftype == "GAUSS-HERMITE");
  CHECK(p.nfiber() == 500);
  CHECK(p.xtrace.coeff.shape() == std::array<std::size_t, 2>{500, 7});
  CHECK(p.ytrace.coeff.shape() == std::array<std::size_t, 2>{500, 7});
  // astropy: XTRACE[0,0] = 118.02542005200785, XTRACE[499,6] = 0.2653666202826127,
  // YTRACE[10,2] = 61.451889872845285; XTRACE WAVEMIN 5543, WAVEMAX 7826.
  CHECK(p.xtrace.coeff(0, 0) == 118.02542005200785);
  CHECK(p.xtrace.coeff(499, 6) == 0.2653666202826127);
  CHECK(p.ytrace.coeff(10, 2) == 61.451889872845285);
  CHECK(p.xtrace.wavemin == 5543.0);
  CHECK(p.xtrace.wavemax == 7826.0);
  // PSF HDU header: HSIZEX 8, HSIZEY 5, GHDEGX/Y 6, LEGDEG 1, NPIX 4114 x 4128, FIBERMIN 0,
  // FIBERMAX 499, WAVEMIN 5543, WAVEMAX 7827 (one more than XTRACE's), 59 PARAM rows.
  CHECK(p.hsizex == 8);
  CHECK(p.hsizey == 5);
  CHECK(p.ghdegx == 6);
  CHECK(p.ghdegy == 6);
  CHECK(p.legdeg == 1);
  CHECK(p.npix_x == 4114);
  CHECK(p.npix_y == 4128);
  CHECK(p.fibermin == 0);
  CHECK(p.fibermax == 499);
  CHECK(p.psf_wavemax.value() == 7827.0);
  CHECK(p.params.size() == 59);
  CHECK(p.params.front().name == "GHSIGX");
  CHECK(p.params.back().name == "CONT");
  // astropy: GHSIGX COEFF[0,0] = 1.0382261548162712, [123,1] = -0.03675522985045375;
  // GH-1-0 COEFF[499,0] = 0.001932125499966857; LEGDEGX of the first row = 1.
  const auto& sx = p.param("GHSIGX");
  CHECK(sx.coeff.shape() == std::array<std::size_t, 2>{500, 2});
  CHECK(sx.coeff(0, 0) == 1.0382261548162712);
  CHECK(sx.coeff(123, 1) == -0.03675522985045375);
  CHECK(sx.wavemin == 5543.0);
  CHECK(sx.wavemax == 7827.0);
  CHECK(sx.legdegx.value() == 1);
  CHECK(p.param("GH-1-0").coeff(499, 0) == 0.001932125499966857);
  CHECK(p.has_param("TAILAMP"));
  CHECK_THROWS_AS(p.param("NOPE"), missing_entry);
  CHECK(std::get<double>(p.keywords.at("B00RCHI2")) == 1.259091564575302);
}

TEST_CASE("PSFVER 2 file (specter test PSF, 25 fibers)") {
  const auto p = io::read_psf(test_data_path("psf/psf-gausshermite-v2-25fibers.fits"));
  CHECK(p.layout == io::psf_layout::gauss_hermite_v2);
  CHECK(p.psfver == 2);
  CHECK(p.nfiber() == 25);
  CHECK(p.hsizex == 14);
  CHECK(p.hsizey == 8);
  CHECK(p.ghdegx == 8);
  CHECK(p.legdeg == 7);
  // 91 rows of which X and Y become the traces; COEFF per row [25, 8].
  CHECK(p.params.size() == 89);
  CHECK(p.params.front().name == "GHSIGX");
  // astropy: row X: WAVEMIN 5564, WAVEMAX 7805, COEFF[0,0] = 169.78680580914516,
  // COEFF[3,2] = -3.678445676087663; row Y COEFF[24,7] = 0.09783476343248794;
  // row GH-2-3 COEFF[5,1] = 0.0007142175306761513.
  CHECK(p.xtrace.coeff.shape() == std::array<std::size_t, 2>{25, 8});
  CHECK(p.xtrace.wavemin == 5564.0);
  CHECK(p.xtrace.wavemax == 7805.0);
  CHECK(p.xtrace.coeff(0, 0) == 169.78680580914516);
  CHECK(p.xtrace.coeff(3, 2) == -3.678445676087663);
  CHECK(p.ytrace.coeff(24, 7) == 0.09783476343248794);
  CHECK(p.param("GH-2-3").coeff(5, 1) == 0.0007142175306761513);
  CHECK(p.param("GH-2-3").wavemin == 5564.0);
  CHECK_FALSE(p.has_param("X"));
}

TEST_CASE("trace-only file (desispec r0 traces)") {
  const auto p = io::read_psf(test_data_path("psf/traces-r0.fits"));
  CHECK(p.layout == io::psf_layout::traces_only);
  CHECK(p.psfver == 0);
  CHECK(p.params.empty());
  CHECK(p.xtrace.coeff.shape() == std::array<std::size_t, 2>{500, 6});
  // astropy: XTRACE[0,0] = 169.78918295244733, YTRACE[499,5] = -0.8796221263386498,
  // XSIGMA[7] = 1.0678773845159997, WSIGMA[3,2] = 0.034507001719100365,
  // WAVEMIN = 5563.655906232749; CAMERA 'r0', NPIX_X 4114.
  CHECK(p.xtrace.coeff(0, 0) == 169.78918295244733);
  CHECK(p.ytrace.coeff(499, 5) == -0.8796221263386498);
  CHECK(p.xtrace.wavemin == 5563.655906232749);
  REQUIRE(p.xsigma.has_value());
  REQUIRE(p.wsigma.has_value());
  CHECK(p.xsigma->size() == 500);
  CHECK((*p.xsigma)(7) == 1.0678773845159997);
  CHECK(p.wsigma->shape() == std::array<std::size_t, 2>{500, 3});
  CHECK((*p.wsigma)(3, 2) == 0.034507001719100365);
  CHECK(p.camera == "r0");
  CHECK(p.npix_x == 4114);
}

TEST_CASE("redrock QSO template on a log10 grid with a z grid") {
  const auto t = io::read_template(test_data_path("templates/rrtemplate-QSO-LOZ-v1.1.fits"));
  CHECK(t.rrtype == "QSO");
  CHECK(t.rrsubtype == "LOZ");
  CHECK(t.full_type() == "QSO:::LOZ");
  CHECK(t.version.value() == "1.1");
  CHECK(t.rrversion.value() == "0.14.5");
  CHECK_FALSE(t.rrigm.has_value());
  CHECK(t.loglam);
  CHECK(t.crval1 == 3.1236);
  CHECK(t.cdelt1 == 0.0001);
  CHECK(t.basis.shape() == std::array<std::size_t, 2>{4, 8603});
  // astropy: BASIS_VECTORS[0,0] = 3.97547161712263, [3,8602] = -0.000238017876549764,
  // [1,4000] = 4.0505982764720534e-05.
  CHECK(t.basis(0, 0) == 3.97547161712263);
  CHECK(t.basis(3, 8602) == -0.000238017876549764);
  CHECK(t.basis(1, 4000) == 4.0505982764720534e-05);
  // numpy: 10**3.1236 = 1329.229588315684, 10**(3.1236 + 0.0001*8602) = 9633.85266142352;
  // pow vs numpy's power may differ in the last bit: relative tolerance 1e-14.
  CHECK(t.wave(0) == doctest::Approx(1329.229588315684).epsilon(1e-14));
  CHECK(t.wave(8602) == doctest::Approx(9633.85266142352).epsilon(1e-14));
  CHECK(t.axis(0) == 3.1236);
  // astropy: REDSHIFTS has 788 values, [0] = 0.050000000000000044, [100] = 0.1781193770170617,
  // [-1] = 1.5983000344004998.
  REQUIRE(t.redshifts.has_value());
  CHECK(t.redshifts->size() == 788);
  CHECK((*t.redshifts)(0) == 0.050000000000000044);
  CHECK((*t.redshifts)(100) == 0.1781193770170617);
  CHECK((*t.redshifts)(787) == 1.5983000344004998);
  CHECK_FALSE(t.archetype_coeff.has_value());
}

TEST_CASE("redrock STAR template on a linear grid with archetypes") {
  const auto t = io::read_template(test_data_path("templates/rrtemplate-STAR-A-v0.1.fits"));
  CHECK(t.rrtype == "STAR");
  CHECK(t.rrsubtype == "A");
  CHECK_FALSE(t.loglam);
  CHECK(t.crpix1 == 1.0);  // absent from the file: the default
  CHECK(t.basis.shape() == std::array<std::size_t, 2>{5, 80001});
  // astropy: BASIS_VECTORS[0,0] = 0.0036384583152740064, [4,80000] = -0.0008375140638280567,
  // [2,40000] = 0.003249528081253711; CRVAL1 3000, CDELT1 0.1.
  CHECK(t.basis(0, 0) == 0.0036384583152740064);
  CHECK(t.basis(4, 80000) == -0.0008375140638280567);
  CHECK(t.basis(2, 40000) == 0.003249528081253711);
  CHECK(t.wave(0) == 3000.0);
  CHECK(t.wave(80000) == doctest::Approx(11000.0).epsilon(1e-14));  // 3000 + 0.1*80000 in double
  CHECK_FALSE(t.redshifts.has_value());
  // astropy: ARCHETYPE_COEFF shape (1466, 5), [0,0] = 0.9952194314529984, [1465,4] = -0.025575883311854224.
  REQUIRE(t.archetype_coeff.has_value());
  CHECK(t.archetype_coeff->shape() == std::array<std::size_t, 2>{1466, 5});
  CHECK((*t.archetype_coeff)(0, 0) == 0.9952194314529984);
  CHECK((*t.archetype_coeff)(1465, 4) == -0.025575883311854224);
}
