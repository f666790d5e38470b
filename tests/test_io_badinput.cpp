// Bad input to the io module: every case must raise the documented exception type
// with a message naming the file and, where it applies, the HDU and column. Never a
// crash, never a silent wrong answer.
#include "testing.hpp"

#include <specx/io.hpp>

#include <fstream>

namespace fs = std::filesystem;
using namespace specx;
using specx::test::data_path;
using specx::test::temp_dir;
using specx::test::test_data_path;

namespace {

/// Runs f, requires it to throw E, and returns the message.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("wrong exception type: " << std::string(e.what()));
    return {};
  }
  FAIL("no exception thrown");
  return {};
}

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

void copy_prefix(const std::string& from, const std::string& to, std::size_t nbytes) {
  std::ifstream in(from, std::ios::binary);
  std::string buf(nbytes, '\0');
  in.read(buf.data(), static_cast<std::streamsize>(nbytes));
  std::ofstream(to, std::ios::binary).write(buf.data(), in.gcount());
}

/// A minimal one-band spectra file with the given arrays.
void write_band_file(const std::string& path, const xt::xtensor<double, 1>& wave, const xt::xtensor<float, 2>& flux,
                     const xt::xtensor<float, 2>& ivar, const xt::xtensor<float, 3>* res, bool with_wave = true) {
  io::write_fits_atomically(path, true, [&](io::fits_file& f) {
    f.write_empty_primary();
    if (with_wave) f.write_image("B_WAVELENGTH", wave);
    f.write_image("B_FLUX", flux);
    f.write_image("B_IVAR", ivar);
    if (res) f.write_image("B_RESOLUTION", *res);
  });
}

}  // namespace

TEST_CASE("a file that does not exist") {
  const std::string path = "/nonexistent/folder/spectra-missing.fits";
  auto m = message_of<io_error>([&] { io::read_spectra(path); });
  CHECK(contains(m, path));
  CHECK(contains(m, "does not exist"));
  m = message_of<io_error>([&] { io::read_psf(path); });
  CHECK(contains(m, path));
  m = message_of<io_error>([&] { io::read_template(path); });
  CHECK(contains(m, path));
}

TEST_CASE("a file that is not FITS") {
  temp_dir tmp;
  const auto path = tmp.file("garbage.fits");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 5000; ++i) out.put(static_cast<char>((i * 7919) & 0xff));
  }
  auto m = message_of<fits_error>([&] { io::read_spectra(path); });
  CHECK(contains(m, path));
  CHECK(contains(m, "CFITSIO"));
  // An empty file is not FITS either.
  const auto empty = tmp.file("empty.fits");
  std::ofstream(empty).close();
  m = message_of<fits_error>([&] { io::fits_file f(empty); });
  CHECK(contains(m, empty));
  // Nor is a directory.
  m = message_of<io_error>([&] { io::fits_file f(tmp.path.string()); });
  CHECK(contains(m, "directory"));
}

TEST_CASE("truncated FITS files") {
  temp_dir tmp;
  const auto src = test_data_path("spectra/spectra-5-169-thru20210419.fits");
  // Cut inside the primary header (2880-byte blocks): not even one complete header.
  const auto t1 = tmp.file("cut-header.fits");
  copy_prefix(src, t1, 1000);
  auto m = message_of<fits_error>([&] { io::read_spectra(t1); });
  CHECK(contains(m, t1));
  // Cut in the middle of the data: the headers before are fine, the image data is not.
  const auto t2 = tmp.file("cut-data.fits");
  copy_prefix(src, t2, fs::file_size(src) / 2);
  m = message_of<fits_error>([&] { io::read_spectra(t2); });
  CHECK(contains(m, t2));
  CHECK(contains(m, "truncated"));
  // The same through the low-level handle, on the last HDU of a truncated PSF file.
  const auto t3 = tmp.file("cut-psf.fits");
  copy_prefix(data_path("psf/psf-r0-00067784.fits"), t3, 2880 * 10);
  m = message_of<fits_error>([&] { io::read_psf(t3); });
  CHECK(contains(m, t3));
  CHECK(contains(m, "truncated"));
}

TEST_CASE("a missing HDU") {
  temp_dir tmp;
  io::fits_file f(test_data_path("spectra/coadd-everest-25fibers.fits"));
  auto m = message_of<missing_entry>([&] { f.move_to("FIBERMAP"); });
  CHECK(contains(m, "coadd-everest-25fibers.fits"));
  CHECK(contains(m, "[HDU FIBERMAP]"));
  m = message_of<missing_entry>([&] { f.move_to(42); });
  CHECK(contains(m, "#42"));

  // A band without its WAVELENGTH HDU.
  const auto path = tmp.file("nowave.fits");
  auto flux = xt::xtensor<float, 2>::from_shape({2, 10});
  flux.fill(1.f);
  write_band_file(path, xt::xtensor<double, 1>::from_shape({10}), flux, flux, nullptr, false);
  m = message_of<missing_entry>([&] { io::read_spectra(path); });
  CHECK(contains(m, path));
  CHECK(contains(m, "B_WAVELENGTH"));

  // A file that is none of the known formats.
  m = message_of<missing_entry>([&] { io::read_psf(test_data_path("spectra/coadd-everest-25fibers.fits")); });
  CHECK(contains(m, "not a PSF file"));
  m = message_of<missing_entry>([&] { io::read_spectra(test_data_path("psf/traces-r0.fits")); });
  CHECK(contains(m, "traces-r0.fits"));
}

TEST_CASE("a missing column or keyword") {
  temp_dir tmp;
  io::fits_file f(test_data_path("spectra/spectra-5-169-thru20210419.fits"));
  f.move_to("FIBERMAP");
  auto m = message_of<missing_entry>([&] { f.read_column<double>("NO_SUCH_COLUMN"); });
  CHECK(contains(m, "spectra-5-169-thru20210419.fits"));
  CHECK(contains(m, "[HDU FIBERMAP]"));
  CHECK(contains(m, "[column NO_SUCH_COLUMN]"));
  m = message_of<missing_entry>([&] { f.read_key<int>("NOKEY"); });
  CHECK(contains(m, "NOKEY"));

  // A PSFVER 3 file whose PSF table has no COEFF column.
  const auto path = tmp.file("psf-nocoeff.fits");
  const auto good = io::read_psf(data_path("psf/psf-r0-00067784.fits"));
  io::write_fits_atomically(path, true, [&](io::fits_file& out) {
    out.write_image("XTRACE", good.xtrace.coeff);
    out.write_key("WAVEMIN", good.xtrace.wavemin);
    out.write_key("WAVEMAX", good.xtrace.wavemax);
    out.write_image("YTRACE", good.ytrace.coeff);
    out.write_key("WAVEMIN", good.ytrace.wavemin);
    out.write_key("WAVEMAX", good.ytrace.wavemax);
    io::table t;
    t.add_column("PARAM", std::vector<std::string>{"GHSIGX"});
    io::write_table(out, "PSF", t);
  });
  m = message_of<missing_entry>([&] { io::read_psf(path); });
  CHECK(contains(m, path));
  CHECK(contains(m, "[HDU PSF]"));
  CHECK(contains(m, "[column COEFF]"));

  // A template without RRTYPE.
  const auto tpath = tmp.file("rrtemplate-notype.fits");
  io::write_fits_atomically(tpath, true, [&](io::fits_file& out) {
    auto basis = xt::xtensor<double, 2>::from_shape({2, 5});
    basis.fill(1.0);
    out.write_image("BASIS_VECTORS", basis);
    out.write_key("CRVAL1", 3000.0);
    out.write_key("CDELT1", 1.0);
  });
  m = message_of<missing_entry>([&] { io::read_template(tpath); });
  CHECK(contains(m, tpath));
  CHECK(contains(m, "RRTYPE"));
}

TEST_CASE("wrong shapes") {
  temp_dir tmp;
  auto flux = xt::xtensor<float, 2>::from_shape({3, 10});
  flux.fill(1.f);
  // FLUX with a different nwave than WAVELENGTH.
  const auto p1 = tmp.file("badwave.fits");
  write_band_file(p1, xt::xtensor<double, 1>::from_shape({12}), flux, flux, nullptr);
  auto m = message_of<format_error>([&] { io::read_spectra(p1); });
  CHECK(contains(m, p1));
  CHECK(contains(m, "B_FLUX"));
  CHECK(contains(m, "wavelengths"));
  // IVAR with another shape than FLUX.
  const auto p2 = tmp.file("badivar.fits");
  write_band_file(p2, xt::xtensor<double, 1>::from_shape({10}), flux, xt::xtensor<float, 2>::from_shape({2, 10}),
                  nullptr);
  m = message_of<format_error>([&] { io::read_spectra(p2); });
  CHECK(contains(m, "B_IVAR"));
  // RESOLUTION whose nspec differs from FLUX.
  const auto p3 = tmp.file("badres.fits");
  auto res = xt::xtensor<float, 3>::from_shape({4, 11, 10});
  res.fill(0.f);
  write_band_file(p3, xt::xtensor<double, 1>::from_shape({10}), flux, flux, &res);
  m = message_of<format_error>([&] { io::read_spectra(p3); });
  CHECK(contains(m, p3));
  CHECK(contains(m, "B_RESOLUTION"));
  CHECK(contains(m, "spectra"));
  // A 2-d image read as 3-d, and a table read as an image.
  io::fits_file f(test_data_path("spectra/coadd-everest-25fibers.fits"));
  m = message_of<format_error>([&] { f.read_image<float, 3>("B_FLUX"); });
  CHECK(contains(m, "[HDU B_FLUX]"));
  CHECK(contains(m, "2 dimension"));
  io::fits_file g(test_data_path("spectra/spectra-5-169-thru20210419.fits"));
  m = message_of<format_error>([&] { g.read_image<float, 2>("FIBERMAP"); });
  CHECK(contains(m, "[HDU FIBERMAP]"));
  // The writer refuses inconsistent data before writing anything.
  io::spectra_data s;
  io::band_data b;
  b.name = "B";
  b.wavelength = xt::xtensor<double, 1>::from_shape({12});
  b.flux = flux;
  b.ivar = flux;
  s.bands.push_back(b);
  const auto out = tmp.file("never.fits");
  CHECK_THROWS_AS(io::write_spectra(out, s), format_error);
  CHECK_FALSE(fs::exists(out));
}

TEST_CASE("empty or non-finite templates") {
  temp_dir tmp;
  auto write_template = [&](const std::string& path, const xt::xtensor<double, 2>& basis) {
    io::write_fits_atomically(path, true, [&](io::fits_file& out) {
      out.write_image("BASIS_VECTORS", basis);
      out.write_key("CRVAL1", 3000.0);
      out.write_key("CDELT1", 1.0);
      out.write_key("RRTYPE", "GALAXY");
    });
  };
  const auto p1 = tmp.file("rrtemplate-empty.fits");
  write_template(p1, xt::xtensor<double, 2>::from_shape({0, 10}));
  auto m = message_of<bad_data>([&] { io::read_template(p1); });
  CHECK(contains(m, p1));
  CHECK(contains(m, "BASIS_VECTORS"));
  CHECK(contains(m, "empty"));

  const auto p2 = tmp.file("rrtemplate-nan.fits");
  auto basis = xt::xtensor<double, 2>::from_shape({2, 10});
  basis.fill(1.0);
  basis(1, 3) = std::numeric_limits<double>::quiet_NaN();
  write_template(p2, basis);
  m = message_of<bad_data>([&] { io::read_template(p2); });
  CHECK(contains(m, p2));
  CHECK(contains(m, "[1, 3]"));

  // A non-positive wavelength step.
  const auto p3 = tmp.file("rrtemplate-step.fits");
  basis(1, 3) = 0.0;
  io::write_fits_atomically(p3, true, [&](io::fits_file& out) {
    out.write_image("BASIS_VECTORS", basis);
    out.write_key("CRVAL1", 3000.0);
    out.write_key("CDELT1", 0.0);
    out.write_key("RRTYPE", "GALAXY");
  });
  m = message_of<format_error>([&] { io::read_template(p3); });
  CHECK(contains(m, "CDELT1"));
}

TEST_CASE("writes that must be refused") {
  temp_dir tmp;
  const auto path = tmp.file("exists.fits");
  const auto s = io::read_spectra(test_data_path("spectra/coadd-everest-25fibers.fits"));
  io::write_spectra(path, s);
  const auto size = fs::file_size(path);
  auto m = message_of<io_error>([&] { io::write_spectra(path, s, io::spectra_write_options{false, false, true}); });
  CHECK(contains(m, path));
  CHECK(contains(m, "overwrite"));
  CHECK(fs::file_size(path) == size);
  // Into a folder that does not exist.
  const auto nowhere = tmp.file("no/such/dir/out.fits");
  m = message_of<io_error>([&] { io::write_spectra(nowhere, s); });
  CHECK(contains(m, nowhere));
  // A string longer than its column.
  io::table t;
  t.add_column("NAME", std::vector<std::string>{"abc"});
  t.column("NAME").string_width = 3;
  const auto tp = tmp.file("t.fits");
  io::write_fits_atomically(tp, true, [&](io::fits_file& f) {
    io::write_table(f, "T", t);
    m = message_of<format_error>([&] { f.write_string_column("NAME", {"abcdef"}); });
  });
  CHECK(contains(m, "[column NAME]"));
}
