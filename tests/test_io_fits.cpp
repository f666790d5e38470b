// Tests of specx::io::fits_file and specx::io::table: image, keyword and table round
// trips, tile compression, atomic writes and read-only opens. The truth is the data
// each test writes; every comparison is exact (bitwise for floating point) because
// FITS stores IEEE values unchanged.
#include "testing.hpp"

#include <specx/io.hpp>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

namespace fs = std::filesystem;
using namespace specx;
using specx::test::temp_dir;

namespace {

template <class T, std::size_t N>
xt::xtensor<T, N> random_array(const std::array<std::size_t, N>& shape, unsigned seed) {
  std::mt19937_64 rng(seed);
  xt::xtensor<T, N> a(shape);
  for (auto& x : a) {
    if constexpr (std::is_floating_point_v<T>) {
      x = static_cast<T>(std::normal_distribution<double>(0.0, 1e3)(rng));
    } else {
      x = static_cast<T>(rng());  // covers the whole range of T, negative values included
    }
  }
  return a;
}

template <class A, class B>
bool same_bits(const A& a, const B& b) {
  if (a.shape() != b.shape()) return false;
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(typename A::value_type)) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> dir_listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("images of several types and dimensions round-trip exactly") {
  temp_dir tmp;
  const auto path = tmp.file("images.fits");
  const auto f32 = random_array<float, 2>({3, 4}, 1);
  const auto f64 = random_array<double, 3>({2, 3, 5}, 2);
  const auto i16 = random_array<std::int16_t, 1>({17}, 3);
  const auto u8 = random_array<std::uint8_t, 2>({4, 4}, 4);
  const auto i64 = random_array<std::int64_t, 2>({2, 2}, 5);
  const auto u32 = random_array<std::uint32_t, 2>({3, 2}, 6);
  const auto i32c = random_array<std::int32_t, 2>({7, 1000}, 7);
  xt::xtensor<std::int32_t, 2> sparse({5, 300});  // a mask-like image: mostly zeros
  sparse.fill(0);
  sparse(1, 7) = 512;
  sparse(4, 299) = std::numeric_limits<std::int32_t>::min();

  io::write_fits_atomically(path, false, [&](io::fits_file& f) {
    f.write_image("F32", f32);  // first HDU: the primary, with EXTNAME
    f.write_image("F64", f64);
    f.write_image("I16", i16);
    f.write_image("U8", u8);
    f.write_image("I64", i64);
    f.write_image("U32", u32);
    f.write_image("I32C", i32c, io::image_options{io::compression::gzip1});
    f.write_image("SPARSE", sparse, io::image_options{io::compression::rice1});
  });

  io::fits_file f(path);
  CHECK(f.num_hdus() == 8);  // F32 is the primary HDU
  CHECK(f.hdu_names() == std::vector<std::string>{"F32", "F64", "I16", "U8", "I64", "U32", "I32C", "SPARSE"});
  CHECK(f.find_hdu("F32") == 0);
  CHECK(f.has_hdu("i32c"));  // EXTNAME lookup is case-insensitive
  CHECK_FALSE(f.has_hdu("NOPE"));

  CHECK(same_bits(f.read_image<float, 2>("F32"), f32));
  CHECK(same_bits(f.read_image<double, 3>("F64"), f64));
  CHECK(f.image_shape() == std::vector<std::int64_t>{2, 3, 5});  // C order
  CHECK(same_bits(f.read_image<std::int16_t, 1>("I16"), i16));
  CHECK(same_bits(f.read_image<std::uint8_t, 2>("U8"), u8));
  CHECK(same_bits(f.read_image<std::int64_t, 2>("I64"), i64));
  CHECK(same_bits(f.read_image<std::uint32_t, 2>("U32"), u32));
  CHECK(f.image_equivalent_bitpix() == ULONG_IMG);
  CHECK(same_bits(f.read_image<std::int32_t, 2>("I32C"), i32c));
  CHECK(f.is_compressed_image());
  CHECK(same_bits(f.read_image<std::int32_t, 2>("SPARSE"), sparse));
  CHECK(f.is_compressed_image());
  f.move_to("F64");
  CHECK_FALSE(f.is_compressed_image());  // compression was switched off after I32C/SPARSE

  // The natural CFITSIO conversion: an int16 image read as double.
  const auto as_double = f.read_image<double, 1>("I16");
  for (std::size_t i = 0; i < i16.size(); ++i) CHECK(as_double(i) == double(i16(i)));
  // A wrong number of dimensions is a format_error naming the HDU.
  CHECK_THROWS_AS((f.read_image<float, 3>("F32")), format_error);
}

TEST_CASE("the names of all HDUs, with unnamed ones empty") {
  temp_dir tmp;
  const auto path = tmp.file("names.fits");
  io::write_fits_atomically(path, true, [&](io::fits_file& f) {
    f.write_empty_primary();
    f.write_image("", xt::xtensor<float, 1>::from_shape({3}));
    f.write_image("B", xt::xtensor<float, 1>::from_shape({3}));
  });
  io::fits_file f(path);
  CHECK(f.hdu_names() == std::vector<std::string>{"PRIMARY", "", "B"});
  CHECK(f.find_hdu("PRIMARY") == 0);
  f.move_to(1);
  CHECK(f.hdu_label() == "#1");
  CHECK_THROWS_AS(f.move_to(3), missing_entry);
}

TEST_CASE("keywords: typed write and read, optional reads, header listing") {
  temp_dir tmp;
  const auto path = tmp.file("keys.fits");
  const double third = 1.0 / 3.0;
  const std::string long_text(150, 'x');
  io::write_fits_atomically(path, true, [&](io::fits_file& f) {
    f.write_image("DATA", xt::xtensor<double, 1>::from_shape({2}));
    f.write_key("FLAG", io::keyword_value(true), "a logical");
    f.write_key("COUNT", 42);
    f.write_key("BIG", std::int64_t(9007199254740993));  // 2^53 + 1: not representable in double
    f.write_key("THIRD", third);
    f.write_key("NAME", "r0", "camera");
    f.write_key("VERS", "3");
    f.write_key("LONGSTR", io::keyword_value(long_text));
  });
  io::fits_file f(path);
  f.move_to("DATA");
  CHECK(f.read_key<bool>("FLAG") == true);
  CHECK(f.read_key<int>("COUNT") == 42);
  CHECK(f.read_key<double>("COUNT") == 42.0);
  CHECK(f.read_key<std::int64_t>("BIG") == 9007199254740993LL);
  CHECK(f.read_key<double>("THIRD") == third);  // 17 significant digits: bit-exact
  CHECK(f.read_key<std::string>("NAME") == "r0");
  CHECK(f.read_key<int>("VERS") == 3);  // a string holding an integer (DESI's PSFVER = '3')
  CHECK(f.read_key<std::string>("LONGSTR") == long_text);
  CHECK_FALSE(f.read_key_opt<double>("ABSENT").has_value());
  CHECK(f.read_key_opt<int>("COUNT").value() == 42);
  CHECK_THROWS_AS(f.read_key<int>("ABSENT"), missing_entry);
  CHECK_THROWS_AS(f.read_key<int>("THIRD"), format_error);  // 0.333 is not an integer
  CHECK_THROWS_AS(f.read_key<int>("NAME"), format_error);

  const auto h = f.read_header();
  std::vector<std::string> keys;
  for (const auto& k : h) keys.push_back(k.name);
  CHECK(keys == std::vector<std::string>{"FLAG", "COUNT", "BIG", "THIRD", "NAME", "VERS", "LONGSTR"});
  CHECK(io::find_keyword(h, "name")->comment == "camera");
}

TEST_CASE("tables with every column kind round-trip exactly") {
  temp_dir tmp;
  const std::size_t n = 6;
  io::table t;
  auto b = xt::xtensor<bool, 1>::from_shape({n});
  for (std::size_t i = 0; i < n; ++i) b(i) = (i % 3) == 1;
  t.add_column("FLAG", b);
  t.add_column("I8", random_array<std::int8_t, 1>({n}, 11));
  t.add_column("U8", random_array<std::uint8_t, 1>({n}, 12));
  t.add_column("I16", random_array<std::int16_t, 1>({n}, 13));
  t.add_column("U16", random_array<std::uint16_t, 1>({n}, 14));
  t.add_column("I32", random_array<std::int32_t, 1>({n}, 15));
  t.add_column("U32", random_array<std::uint32_t, 1>({n}, 16));
  t.add_column("TARGETID", random_array<std::int64_t, 1>({n}, 17));
  t.add_column("F32", random_array<float, 1>({n}, 18), "mm");
  t.add_column("F64", random_array<double, 1>({n}, 19), "deg");
  t.add_column("COEFF", random_array<double, 2>({n, 10}, 20));
  t.add_column("GRID", random_array<float, 2>({n, 6}, 21));
  t.column("GRID").dims = {2, 3};  // TDIM: each cell is [2, 3] in C order
  t.add_column("VFLAG", random_array<std::uint8_t, 2>({n, 4}, 22));
  t.add_column("NAME", std::vector<std::string>{"", "TGT", "SKY", "BAD", "a b", "x"});
  t.column("I32").tnull = -99;
  t.keywords.push_back({"ENCODING", io::keyword_value(std::string("ascii")), ""});
  // Special floating values must survive too.
  auto& f64 = std::get<xt::xtensor<double, 2>>(t.column("F64").data);
  f64(0, 0) = std::numeric_limits<double>::quiet_NaN();
  f64(1, 0) = -std::numeric_limits<double>::infinity();
  f64(2, 0) = -0.0;

  const auto p1 = tmp.file("t1.fits"), p2 = tmp.file("t2.fits");
  io::write_fits_atomically(p1, true, [&](io::fits_file& f) { io::write_table(f, "FIBERMAP", t); });
  io::fits_file f1(p1);
  const io::table r1 = io::read_table(f1, "FIBERMAP");
  io::write_fits_atomically(p2, true, [&](io::fits_file& f) { io::write_table(f, "FIBERMAP", r1); });
  io::fits_file f2(p2);
  const io::table r2 = io::read_table(f2, "FIBERMAP");

  for (const io::table* r : {&r1, &r2}) {
    REQUIRE(r->ncols() == t.ncols());
    CHECK(r->nrows() == n);
    for (std::size_t c = 0; c < t.ncols(); ++c) {
      const auto& a = t.columns[c];
      const auto& z = r->columns[c];
      CAPTURE(a.name);
      CHECK(z.name == a.name);
      CHECK(z.type() == a.type());
      CHECK(z.unit == a.unit);
      CHECK(z.dims == a.dims);
      CHECK(z.tnull == a.tnull);
      std::visit(
          [&](const auto& da) {
            using D = std::decay_t<decltype(da)>;
            const auto& dz = std::get<D>(z.data);
            if constexpr (std::is_same_v<D, std::vector<std::string>>) CHECK(dz == da);
            else CHECK(same_bits(dz, da));
          },
          a.data);
    }
    CHECK(io::find_keyword(r->keywords, "ENCODING") != nullptr);
  }
  CHECK(r1.column("NAME").string_width == 3);
  CHECK(r1.values<double>("I16")(2) == double(t.get<std::int16_t>("I16")(2, 0)));
  CHECK_THROWS_AS(r1.get<float>("F64"), format_error);
  CHECK_THROWS_AS(r1.column("NOPE"), missing_entry);

  // Low-level column access agrees with the table.
  f1.move_to("FIBERMAP");
  CHECK(f1.num_rows() == std::int64_t(n));
  CHECK(f1.column("GRID").dims == std::vector<std::int64_t>{2, 3});
  CHECK(f1.column("GRID").repeat == 6);
  CHECK(f1.column("U16").type == io::column_type::uint16);
  const auto tid = f1.read_column<std::int64_t>("TARGETID");
  for (std::size_t i = 0; i < n; ++i) CHECK(tid(i) == t.get<std::int64_t>("TARGETID")(i, 0));
  CHECK_THROWS_AS(f1.read_column<double>("COEFF"), format_error);  // vector column
  CHECK(f1.read_vector_column<double>("COEFF").shape()[1] == 10);
  CHECK_THROWS_AS(f1.read_string_column("F32"), format_error);
}

TEST_CASE("an empty table and a zero-row table") {
  temp_dir tmp;
  io::table t;
  t.add_column("X", xt::xtensor<double, 1>::from_shape({0}));
  t.add_column("S", std::vector<std::string>{});
  const auto p = tmp.file("empty.fits");
  io::write_fits_atomically(p, true, [&](io::fits_file& f) { io::write_table(f, "EMPTY", t); });
  io::fits_file f(p);
  const auto r = io::read_table(f, "EMPTY");
  CHECK(r.nrows() == 0);
  CHECK(r.ncols() == 2);
}

TEST_CASE("atomic writes: nothing appears if the writer throws, no temporary files remain") {
  temp_dir tmp;
  const auto path = tmp.file("out.fits");
  struct boom {};
  CHECK_THROWS_AS(io::write_fits_atomically(path, true,
                                            [&](io::fits_file& f) {
                                              f.write_image("A", xt::xtensor<float, 1>::from_shape({100}));
                                              throw boom{};
                                            }),
                  boom);
  CHECK_FALSE(fs::exists(path));
  CHECK(dir_listing(tmp.path).empty());

  // An existing file survives a failed rewrite unchanged.
  const xt::xtensor<float, 1> a = {1.f, 2.f, 3.f, 4.f};
  io::write_fits_atomically(path, true, [&](io::fits_file& f) { f.write_image("A", a); });
  const std::string before = slurp(path);
  CHECK_THROWS_AS(io::write_fits_atomically(path, true,
                                            [&](io::fits_file& f) {
                                              f.write_image("B", xt::xtensor<double, 2>::from_shape({3, 3}));
                                              throw std::runtime_error("midway");
                                            }),
                  std::runtime_error);
  CHECK(slurp(path) == before);
  CHECK(dir_listing(tmp.path) == std::vector<std::string>{"out.fits"});

  // overwrite = false refuses; overwrite = true replaces.
  CHECK_THROWS_AS(io::write_fits_atomically(path, false, [&](io::fits_file&) {}), io_error);
  CHECK(slurp(path) == before);
  io::write_fits_atomically(path, true, [&](io::fits_file& f) { f.write_image("C", a); });
  io::fits_file f(path);
  CHECK(f.has_hdu("C"));
  CHECK_FALSE(f.has_hdu("A"));
  CHECK(dir_listing(tmp.path) == std::vector<std::string>{"out.fits"});
}

TEST_CASE("a read-only open never modifies the file, and refuses writes") {
  temp_dir tmp;
  const auto path = tmp.file("copy.fits");
  fs::copy_file(specx::test::test_data_path("spectra/spectra-5-169-thru20210419.fits"), path);
  const auto t0 = fs::last_write_time(path);
  const std::string bytes0 = slurp(path);
  {
    io::fits_file f(path);
    (void)f.hdu_names();
    (void)f.read_image<std::int32_t, 2>("B_MASK");  // a compressed HDU
    (void)io::read_table(f, "FIBERMAP");
    (void)f.read_header();
    CHECK_THROWS_AS(f.write_key("NEW", 1), io_error);
    CHECK_THROWS_AS(f.write_image("X", xt::xtensor<float, 1>::from_shape({2})), io_error);
  }
  (void)io::read_spectra(path);
  CHECK(fs::last_write_time(path) == t0);
  CHECK(slurp(path) == bytes0);
}

TEST_CASE("fits_file is movable and closes once") {
  temp_dir tmp;
  const auto path = tmp.file("m.fits");
  io::write_fits_atomically(path, true, [&](io::fits_file& f) { f.write_image("A", xt::xtensor<float, 1>::from_shape({2})); });
  io::fits_file a(path);
  io::fits_file b(std::move(a));
  CHECK_FALSE(a.is_open());
  CHECK(b.is_open());
  io::fits_file c;
  c = std::move(b);
  CHECK(c.has_hdu("A"));
  c.close();
  CHECK_FALSE(c.is_open());
  CHECK_THROWS_AS(c.num_hdus(), io_error);
}
