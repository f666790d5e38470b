// specx::io::fits_file: the one RAII handle on a CFITSIO file. This is the only
// header of the project that includes <fitsio.h>; every CFITSIO status is turned
// into a specx exception here, naming the file, the HDU and the column.
//
// Array boundary: every image and vector column crosses this boundary as an
// xt::xtensor in row-major (C) order, with the shapes numpy shows for the same file
// (FITS NAXIS1 is the last, fastest C axis).
#pragma once

#include <fitsio.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../error.hpp"
#include "fwd.hpp"

namespace specx::io {

/// How a fits_file is opened. read_only never modifies the file; create makes a
/// new, empty file (failing if the path exists; see write_fits_atomically for the
/// overwrite policy of the writers).
enum class open_mode { read_only, create };

/// A header keyword value: logical, integer, floating point or string (complex
/// values are kept as their raw string).
using keyword_value = std::variant<bool, std::int64_t, double, std::string>;

/// One header card, in file order.
struct keyword {
  std::string name;
  keyword_value value;
  std::string comment;
};

/// The non-structural keywords of one HDU, in file order (see fits_file::read_header).
using header = std::vector<keyword>;

/// Look up a keyword in a header (case-insensitive); nullptr if absent.
inline const keyword* find_keyword(const header& h, const std::string& name);

/// Tile compression of an image HDU (CFITSIO's tiled-image convention, which
/// astropy's CompImageHDU and DESI's MASK HDUs use). Lossless for integer images.
enum class compression { none, gzip1, rice1 };

/// Options of fits_file::write_image.
struct image_options {
  compression compress = compression::none;
};

/// Element type of a binary-table column, after applying the TZERO conventions for
/// unsigned and signed-byte integers.
enum class column_type { boolean, int8, uint8, int16, uint16, int32, uint32, int64, float32, float64, string };

/// What a binary-table column holds.
struct column_info {
  std::string name;
  column_type type = column_type::float64;
  std::int64_t repeat = 1;             ///< elements per row (characters for strings)
  std::int64_t width = 0;              ///< bytes per element (string width for strings)
  std::vector<std::int64_t> dims;      ///< TDIM in C order (e.g. [500, 2]); empty if no TDIM
  std::string unit;                    ///< TUNIT, empty if absent
  std::optional<std::int64_t> tnull;   ///< TNULL, integer columns only
};

/// The C++ element type stored for each column_type.
template <class T>
inline constexpr bool is_column_element_v =
    std::is_same_v<T, bool> || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t> ||
    std::is_same_v<T, std::int16_t> || std::is_same_v<T, std::uint16_t> ||
    std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::uint32_t> ||
    std::is_same_v<T, std::int64_t> || std::is_same_v<T, float> || std::is_same_v<T, double>;

namespace detail {

inline std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

inline std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(' ');
  return s.substr(b, e - b + 1);
}

/// CFITSIO datatype codes for a C++ element type.
template <class T>
constexpr int fits_datatype() {
  if constexpr (std::is_same_v<T, float>) return TFLOAT;
  else if constexpr (std::is_same_v<T, double>) return TDOUBLE;
  else if constexpr (std::is_same_v<T, std::int8_t>) return TSBYTE;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return TBYTE;
  else if constexpr (std::is_same_v<T, std::int16_t>) return TSHORT;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return TUSHORT;
  else if constexpr (std::is_same_v<T, std::int32_t>) return TINT;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return TUINT;
  else if constexpr (std::is_same_v<T, std::int64_t>) return TLONGLONG;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return TULONGLONG;
  else {
    static_assert(sizeof(T) == 0, "specx::io: unsupported FITS element type (use float, double or a fixed-width integer)");
    return 0;
  }
}

/// BITPIX (with CFITSIO's unsigned conventions) for writing an image of T.
template <class T>
constexpr int fits_bitpix() {
  if constexpr (std::is_same_v<T, float>) return FLOAT_IMG;
  else if constexpr (std::is_same_v<T, double>) return DOUBLE_IMG;
  else if constexpr (std::is_same_v<T, std::int8_t>) return SBYTE_IMG;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return BYTE_IMG;
  else if constexpr (std::is_same_v<T, std::int16_t>) return SHORT_IMG;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return USHORT_IMG;
  else if constexpr (std::is_same_v<T, std::int32_t>) return LONG_IMG;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return ULONG_IMG;
  else if constexpr (std::is_same_v<T, std::int64_t>) return LONGLONG_IMG;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return ULONGLONG_IMG;
  else {
    static_assert(sizeof(T) == 0, "specx::io: unsupported FITS image type (use float, double or a fixed-width integer)");
    return 0;
  }
}

template <class T>
constexpr column_type column_type_of() {
  if constexpr (std::is_same_v<T, bool>) return column_type::boolean;
  else if constexpr (std::is_same_v<T, std::int8_t>) return column_type::int8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return column_type::uint8;
  else if constexpr (std::is_same_v<T, std::int16_t>) return column_type::int16;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return column_type::uint16;
  else if constexpr (std::is_same_v<T, std::int32_t>) return column_type::int32;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return column_type::uint32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return column_type::int64;
  else if constexpr (std::is_same_v<T, float>) return column_type::float32;
  else if constexpr (std::is_same_v<T, double>) return column_type::float64;
  else {
    static_assert(sizeof(T) == 0, "specx::io: unsupported column element type");
    return column_type::float64;
  }
}

/// TFORM letter of a column type.
inline char tform_letter(column_type t) {
  switch (t) {
    case column_type::boolean: return 'L';
    case column_type::int8: return 'S';
    case column_type::uint8: return 'B';
    case column_type::int16: return 'I';
    case column_type::uint16: return 'U';
    case column_type::int32: return 'J';
    case column_type::uint32: return 'V';
    case column_type::int64: return 'K';
    case column_type::float32: return 'E';
    case column_type::float64: return 'D';
    case column_type::string: return 'A';
  }
  return 'D';
}

/// Keywords that describe the HDU's structure; CFITSIO writes them itself, so they
/// are not part of a specx::io::header.
inline bool is_structural_keyword(const std::string& name) {
  static const char* exact[] = {"SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT",
                                "TFIELDS", "EXTNAME", "CHECKSUM", "DATASUM", "BSCALE", "BZERO", "THEAP",
                                "LONGSTRN", "COMMENT", "HISTORY", "CONTINUE", ""};
  for (const char* e : exact)
    if (name == e) return true;
  static const char* indexed[] = {"NAXIS", "TTYPE", "TFORM", "TUNIT", "TNULL", "TDIM", "TSCAL", "TZERO", "TDISP"};
  for (const char* p : indexed) {
    const std::size_t n = std::strlen(p);
    if (name.size() > n && name.compare(0, n, p) == 0 &&
        std::all_of(name.begin() + static_cast<std::ptrdiff_t>(n), name.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }))
      return true;
  }
  return false;
}

/// Keywords of CFITSIO's tiled-image compression convention (only skipped in
/// compressed HDUs, where they are structural).
inline bool is_compression_keyword(const std::string& name) {
  static const char* prefixes[] = {"ZIMAGE", "ZBITPIX", "ZNAXIS", "ZTILE", "ZCMPTYPE", "ZNAME", "ZVAL",
                                   "ZQUANTIZ", "ZDITHER", "ZSIMPLE", "ZTENSION", "ZEXTEND", "ZBLOCKED",
                                   "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZSCALE", "ZZERO", "ZBLANK"};
  for (const char* p : prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

/// Text of the CFITSIO status and its error-message stack (which it then clears).
inline std::string cfitsio_message(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  std::string s = "CFITSIO status " + std::to_string(status) + " (" + text + ")";
  char msg[FLEN_ERRMSG] = {0};
  std::string stack;
  while (fits_read_errmsg(msg)) {
    std::string m = trim(msg);
    if (m.empty()) continue;
    if (!stack.empty()) stack += "; ";
    stack += m;
  }
  if (!stack.empty()) s += ": " + stack;
  return s;
}

}  // namespace detail

inline const keyword* find_keyword(const header& h, const std::string& name) {
  const std::string u = detail::upper(name);
  for (const auto& k : h)
    if (k.name == u) return &k;
  return nullptr;
}

/// Converts a keyword value to T (bool, an integer, float/double or std::string).
/// Numbers convert naturally (a double converts to an integer only if integral);
/// a string that holds a whole number converts to a number (DESI PSF files write
/// PSFVER = '3' as a string). Returns nullopt if the conversion is impossible.
template <class T>
std::optional<T> convert_keyword(const keyword_value& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (auto s = std::get_if<std::string>(&v)) return *s;
    if (auto b = std::get_if<bool>(&v)) return std::string(*b ? "T" : "F");
    if (auto i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", std::get<double>(v));
    return std::string(buf);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto b = std::get_if<bool>(&v)) return *b;
    return std::nullopt;
  } else if constexpr (std::is_integral_v<T>) {
    std::int64_t x = 0;
    if (auto i = std::get_if<std::int64_t>(&v)) {
      x = *i;
    } else if (auto d = std::get_if<double>(&v)) {
      if (!(std::floor(*d) == *d) || std::abs(*d) > 9.2e18) return std::nullopt;
      x = static_cast<std::int64_t>(*d);
    } else if (auto s = std::get_if<std::string>(&v)) {
      const std::string t = detail::trim(*s);
      auto r = std::from_chars(t.data(), t.data() + t.size(), x);
      if (t.empty() || r.ec != std::errc() || r.ptr != t.data() + t.size()) return std::nullopt;
    } else {
      return std::nullopt;
    }
    if (x < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
        (x > 0 && static_cast<std::uint64_t>(x) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
      return std::nullopt;
    return static_cast<T>(x);
  } else if constexpr (std::is_floating_point_v<T>) {
    if (auto i = std::get_if<std::int64_t>(&v)) return static_cast<T>(*i);
    if (auto d = std::get_if<double>(&v)) return static_cast<T>(*d);
    if (auto s = std::get_if<std::string>(&v)) {
      const std::string t = detail::trim(*s);
      if (t.empty()) return std::nullopt;
      char* end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (end != t.c_str() + t.size()) return std::nullopt;
      return static_cast<T>(d);
    }
    return std::nullopt;
  } else {
    static_assert(sizeof(T) == 0, "specx::io: keywords convert to bool, integers, floating point or std::string");
  }
}

/// A FITS file opened through CFITSIO. Move-only; the destructor closes the file
/// and never throws (errors on close are reported by an explicit close()).
///
/// HDUs are addressed by 0-based index (0 = primary) or by EXTNAME (case-insensitive,
/// first match); a primary HDU without EXTNAME is also called "PRIMARY". DESI PSF
/// files name their primary HDU "XTRACE", redrock templates "BASIS_VECTORS".
/// Paths are taken literally (CFITSIO's extended file-name syntax is disabled).
class fits_file {
 public:
  fits_file() = default;

  /// Opens `path`. `display_name` (default: path) is the name used in error
  /// messages, so that a temporary file can be reported under its final name.
  explicit fits_file(const std::string& path, open_mode mode = open_mode::read_only,
                     std::string display_name = {})
      : path_(path), name_(display_name.empty() ? path : std::move(display_name)), mode_(mode) {
    int status = 0;
    if (mode == open_mode::read_only) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec))
        throw io_error(name_, "", "", "cannot open: the file does not exist");
      if (std::filesystem::is_directory(path, ec))
        throw io_error(name_, "", "", "cannot open: this is a directory, not a FITS file");
      fits_open_diskfile(&fptr_, path.c_str(), READONLY, &status);
      if (status) {
        fptr_ = nullptr;
        throw fits_error(name_, "", "", "cannot open as FITS (not a FITS file, or truncated/corrupt): " +
                                            detail::cfitsio_message(status));
      }
    } else {
      std::error_code ec;
      if (std::filesystem::exists(path, ec))
        throw io_error(name_, "", "", "cannot create: the file already exists");
      fits_create_diskfile(&fptr_, path.c_str(), &status);
      if (status) {
        fptr_ = nullptr;
        throw io_error(name_, "", "", "cannot create: " + detail::cfitsio_message(status));
      }
    }
  }

  fits_file(const fits_file&) = delete;
  fits_file& operator=(const fits_file&) = delete;
  fits_file(fits_file&& o) noexcept { swap(o); }
  fits_file& operator=(fits_file&& o) noexcept {
    if (this != &o) {
      close_quietly();
      swap(o);
    }
    return *this;
  }
  ~fits_file() { close_quietly(); }

  /// Closes the file, flushing what was written; throws fits_error on failure.
  void close() {
    if (!fptr_) return;
    int status = 0;
    fits_close_file(fptr_, &status);
    fptr_ = nullptr;
    if (status) throw fits_error(name_, "", "", "error while closing: " + detail::cfitsio_message(status));
  }

  bool is_open() const noexcept { return fptr_ != nullptr; }
  /// The name used in error messages (the path, unless a display name was given).
  const std::string& name() const noexcept { return name_; }
  const std::string& path() const noexcept { return path_; }
  open_mode mode() const noexcept { return mode_; }

  // ---- HDUs -------------------------------------------------------------------

  /// Number of HDUs (primary included).
  int num_hdus() {
    int n = 0, status = 0;
    fits_get_num_hdus(handle(), &n, &status);
    check(status, "", "", "cannot count HDUs");
    return n;
  }

  /// 0-based index of the current HDU.
  int current_index() {
    int n = 0;
    fits_get_hdu_num(handle(), &n);
    return n - 1;
  }

  /// EXTNAME of every HDU, in order ("PRIMARY" for a primary without EXTNAME,
  /// "" for an unnamed extension). Keeps the current HDU.
  std::vector<std::string> hdu_names() {
    if (names_) return *names_;
    const int cur = current_index();
    const int n = num_hdus();
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      move_to(i);
      out.push_back(current_extname());
    }
    if (n > 0 && mode_ == open_mode::read_only) check_not_truncated(n - 1);
    if (n > 0) move_to(std::max(cur, 0));
    if (mode_ == open_mode::read_only) names_ = out;
    return out;
  }

  /// Whether an HDU of that EXTNAME exists (case-insensitive).
  bool has_hdu(const std::string& extname) { return find_hdu(extname) >= 0; }

  /// 0-based index of the first HDU named `extname`, or -1.
  int find_hdu(const std::string& extname) {
    const std::string u = detail::upper(detail::trim(extname));
    const auto names = hdu_names();
    for (std::size_t i = 0; i < names.size(); ++i)
      if (detail::upper(names[i]) == u) return static_cast<int>(i);
    return -1;
  }

  /// Makes HDU `index` (0 = primary) current; missing_entry if there is none.
  void move_to(int index) {
    if (index < 0) throw missing_entry(name_, "#" + std::to_string(index), "", "negative HDU index");
    int status = 0, type = 0;
    fits_movabs_hdu(handle(), index + 1, &type, &status);
    if (status == BAD_HDU_NUM || status == END_OF_FILE) {
      const std::string msg = detail::cfitsio_message(status);
      int n = 0, st2 = 0;
      fits_get_num_hdus(fptr_, &n, &st2);
      if (st2 == 0 && index >= n)
        throw missing_entry(name_, "#" + std::to_string(index), "",
                            "no such HDU (the file has " + std::to_string(n) + ")");
      throw fits_error(name_, "#" + std::to_string(index), "",
                       "cannot move to HDU (file truncated or corrupt?): " + msg);
    }
    check(status, "#" + std::to_string(index), "", "cannot move to HDU");
  }

  /// Makes the HDU named `extname` current; missing_entry if there is none.
  void move_to(const std::string& extname) {
    const int i = find_hdu(extname);
    if (i < 0) throw missing_entry(name_, extname, "", "no HDU with this EXTNAME");
    move_to(i);
  }

  /// EXTNAME of the current HDU ("PRIMARY" for a primary without one).
  std::string current_extname() {
    if (auto v = read_keyword("EXTNAME")) {
      if (auto n = convert_keyword<std::string>(*v)) return detail::trim(*n);
    }
    return current_index() == 0 ? std::string("PRIMARY") : std::string();
  }

  /// A label of the current HDU for messages: its EXTNAME, else "#index".
  std::string hdu_label() {
    if (!fptr_) return {};
    std::string n = current_extname();
    return n.empty() ? "#" + std::to_string(current_index()) : n;
  }

  /// Whether the current HDU is an image (compressed images included).
  bool is_image() {
    int type = 0, status = 0;
    fits_get_hdu_type(handle(), &type, &status);
    check(status, hdu_label(), "", "cannot read HDU type");
    return type == IMAGE_HDU;
  }

  bool is_compressed_image() {
    int status = 0;
    const int c = fits_is_compressed_image(handle(), &status);
    check(status, hdu_label(), "", "cannot read HDU type");
    return c != 0;
  }

  // ---- keywords ---------------------------------------------------------------

  /// The keyword `name` of the current HDU, or nullopt if absent (or undefined).
  std::optional<keyword_value> read_keyword(const std::string& name) {
    const auto& cards = raw_cards();
    auto it = cards.find(detail::upper(detail::trim(name)));
    if (it == cards.end()) return std::nullopt;
    return parse_value(it->first, it->second.c_str());
  }

  /// Keyword `name` converted to T; missing_entry if absent, format_error if it
  /// cannot be converted (see convert_keyword).
  template <class T>
  T read_key(const std::string& name) {
    auto v = read_keyword(name);
    if (!v) throw missing_entry(name_, hdu_label(), "", "missing keyword " + name);
    auto t = convert_keyword<T>(*v);
    if (!t) throw format_error(name_, hdu_label(), "", "keyword " + name + " has a value of the wrong type");
    return *t;
  }

  /// Keyword `name` converted to T, or nullopt if absent; format_error if present
  /// but not convertible.
  template <class T>
  std::optional<T> read_key_opt(const std::string& name) {
    auto v = read_keyword(name);
    if (!v) return std::nullopt;
    auto t = convert_keyword<T>(*v);
    if (!t) throw format_error(name_, hdu_label(), "", "keyword " + name + " has a value of the wrong type");
    return t;
  }

  bool has_key(const std::string& name) { return read_keyword(name).has_value(); }

  /// All non-structural keywords of the current HDU, in order (no SIMPLE, BITPIX,
  /// NAXISn, EXTNAME, TTYPEn/TFORMn/..., CHECKSUM/DATASUM, BZERO/BSCALE, compression
  /// keywords, COMMENT/HISTORY; undefined-value keywords are skipped).
  header read_header() {
    int nkeys = 0, status = 0;
    fits_get_hdrspace(handle(), &nkeys, nullptr, &status);
    check(status, hdu_label(), "", "cannot read header");
    const bool compressed = is_image() && is_compressed_image();
    header out;
    for (int i = 1; i <= nkeys; ++i) {
      char name[FLEN_KEYWORD] = {0}, value[FLEN_VALUE] = {0}, comment[FLEN_COMMENT] = {0};
      fits_read_keyn(fptr_, i, name, value, comment, &status);
      check(status, hdu_label(), "", "cannot read header card " + std::to_string(i));
      const std::string n = detail::trim(name);
      if (detail::is_structural_keyword(n) || (compressed && detail::is_compression_keyword(n))) continue;
      if (std::any_of(out.begin(), out.end(), [&](const keyword& k) { return k.name == n; })) continue;
      auto v = parse_value(n, value);
      if (!v) continue;
      out.push_back(keyword{n, std::move(*v), detail::trim(comment)});
    }
    return out;
  }

  /// Writes (or updates) a keyword in the current HDU. Doubles are written with 17
  /// significant digits so that they read back bit-exact.
  void write_key(const std::string& name, const keyword_value& value, const std::string& comment = {}) {
    writable("write keyword");
    int status = 0;
    const char* c = comment.empty() ? nullptr : comment.c_str();
    if (auto b = std::get_if<bool>(&value)) {
      int l = *b ? 1 : 0;
      fits_update_key(handle(), TLOGICAL, name.c_str(), &l, c, &status);
    } else if (auto i = std::get_if<std::int64_t>(&value)) {
      LONGLONG x = *i;
      fits_update_key(handle(), TLONGLONG, name.c_str(), &x, c, &status);
    } else if (auto d = std::get_if<double>(&value)) {
      if (!std::isfinite(*d))
        throw format_error(name_, hdu_label(), "", "keyword " + name + ": FITS cannot store a non-finite value");
      fits_update_key_dbl(handle(), name.c_str(), *d, -17, c, &status);
    } else {
      const auto& s = std::get<std::string>(value);
      if (s.size() <= 68) {
        fits_update_key_str(handle(), name.c_str(), s.c_str(), c, &status);
      } else {
        fits_update_key_longstr(handle(), name.c_str(), s.c_str(), c, &status);
      }
    }
    check(status, hdu_label(), "", "cannot write keyword " + name);
  }
  void write_key(const std::string& name, const char* value, const std::string& comment = {}) {
    write_key(name, keyword_value(std::string(value)), comment);
  }
  template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
  void write_key(const std::string& name, T value, const std::string& comment = {}) {
    if constexpr (std::is_integral_v<T>)
      write_key(name, keyword_value(static_cast<std::int64_t>(value)), comment);
    else
      write_key(name, keyword_value(static_cast<double>(value)), comment);
  }

  /// Writes every keyword of `h` into the current HDU, skipping structural ones.
  void write_header(const header& h) {
    for (const auto& k : h)
      if (!detail::is_structural_keyword(k.name)) write_key(k.name, k.value, k.comment);
  }

  /// Writes CHECKSUM/DATASUM of the current HDU (as DESI's writers do).
  void write_checksum() {
    int status = 0;
    fits_write_chksum(handle(), &status);
    check(status, hdu_label(), "", "cannot write checksum");
  }

  // ---- images -----------------------------------------------------------------

  /// Shape of the current image HDU in C order ([NAXIS2, NAXIS1] for 2-d);
  /// format_error if the HDU is a table.
  std::vector<std::int64_t> image_shape() {
    require_image();
    int naxis = 0, status = 0;
    fits_get_img_dim(fptr_, &naxis, &status);
    check(status, hdu_label(), "", "cannot read image dimensions");
    std::vector<LONGLONG> ax(static_cast<std::size_t>(std::max(naxis, 1)), 0);
    if (naxis > 0) fits_get_img_sizell(fptr_, naxis, ax.data(), &status);
    check(status, hdu_label(), "", "cannot read image size");
    std::vector<std::int64_t> out(static_cast<std::size_t>(naxis));
    for (int i = 0; i < naxis; ++i) out[static_cast<std::size_t>(i)] = ax[static_cast<std::size_t>(naxis - 1 - i)];
    return out;
  }

  /// BITPIX of the current image after applying BZERO/BSCALE (CFITSIO's
  /// "equivalent type": ULONG_IMG for a DESI uint32 MASK stored with BZERO=2^31).
  int image_equivalent_bitpix() {
    require_image();
    int t = 0, status = 0;
    fits_get_img_equivtype(fptr_, &t, &status);
    check(status, hdu_label(), "", "cannot read image type");
    return t;
  }

  /// Reads the current image HDU (tile-compressed images included) as an N-d
  /// row-major array, converting values to T as CFITSIO does (BZERO/BSCALE applied;
  /// NUM_OVERFLOW becomes format_error). format_error if NAXIS != N.
  template <class T, std::size_t N>
  xt::xtensor<T, N> read_image() {
    const auto shape = image_shape();
    if (shape.size() != N)
      throw format_error(name_, hdu_label(), "",
                         "image has " + std::to_string(shape.size()) + " dimension(s), expected " + std::to_string(N));
    std::array<std::size_t, N> sh{};
    for (std::size_t i = 0; i < N; ++i) sh[i] = static_cast<std::size_t>(shape[i]);
    xt::xtensor<T, N> out(sh);
    if (out.size() == 0) return out;
    std::vector<LONGLONG> first(N, 1);
    int status = 0, anynul = 0;
    fits_read_pixll(fptr_, detail::fits_datatype<T>(), first.data(), static_cast<LONGLONG>(out.size()), nullptr,
                    out.data(), &anynul, &status);
    check(status, hdu_label(), "", "cannot read image data");
    return out;
  }

  /// Reads the image HDU named `extname`.
  template <class T, std::size_t N>
  xt::xtensor<T, N> read_image(const std::string& extname) {
    move_to(extname);
    return read_image<T, N>();
  }

  /// Appends an image HDU holding `data` (row-major, C order) with EXTNAME
  /// `extname` (none if empty). The first HDU written becomes the primary HDU,
  /// unless it is compressed (then an empty primary is written first).
  template <class T, std::size_t N>
  void write_image(const std::string& extname, const xt::xtensor<T, N>& data, const image_options& opt = {}) {
    writable("write image");
    names_.reset();
    int status = 0;
    const bool compressed = opt.compress != compression::none;
    if (compressed) {
      if (num_hdus() == 0) write_empty_primary();
      fits_set_compression_type(fptr_, opt.compress == compression::gzip1 ? GZIP_1 : RICE_1, &status);
      check(status, extname, "", "cannot set compression");
    }
    std::array<LONGLONG, N> ax{};
    for (std::size_t i = 0; i < N; ++i) ax[i] = static_cast<LONGLONG>(data.shape()[N - 1 - i]);
    fits_create_imgll(fptr_, detail::fits_bitpix<T>(), static_cast<int>(N), ax.data(), &status);
    if (compressed) {
      int st2 = 0;
      fits_set_compression_type(fptr_, 0, &st2);  // 0: back to uncompressed images
    }
    check(status, extname, "", "cannot create image HDU");
    if (!extname.empty()) write_key("EXTNAME", keyword_value(extname));
    if (data.size() > 0) {
      std::vector<LONGLONG> first(N, 1);
      // CFITSIO's write functions take a non-const pointer but do not modify the data.
      fits_write_pixll(fptr_, detail::fits_datatype<T>(), first.data(), static_cast<LONGLONG>(data.size()),
                       const_cast<T*>(data.data()), &status);
      check(status, extname, "", "cannot write image data");
    }
  }

  /// Appends an empty primary HDU (NAXIS = 0), as DESI spectra files have.
  void write_empty_primary() {
    writable("write primary HDU");
    names_.reset();
    int status = 0;
    fits_create_img(fptr_, BYTE_IMG, 0, nullptr, &status);
    check(status, "PRIMARY", "", "cannot create primary HDU");
  }

  // ---- binary tables ------------------------------------------------------------

  /// Number of rows of the current table HDU.
  std::int64_t num_rows() {
    require_table();
    LONGLONG n = 0;
    int status = 0;
    fits_get_num_rowsll(fptr_, &n, &status);
    check(status, hdu_label(), "", "cannot read number of rows");
    return n;
  }

  /// Column names (TTYPEn) of the current table HDU, in order.
  std::vector<std::string> column_names() {
    require_table();
    int ncol = 0, status = 0;
    fits_get_num_cols(fptr_, &ncol, &status);
    check(status, hdu_label(), "", "cannot read number of columns");
    std::vector<std::string> out;
    for (int i = 1; i <= ncol; ++i) {
      auto v = read_keyword("TTYPE" + std::to_string(i));
      out.push_back(v ? detail::trim(convert_keyword<std::string>(*v).value_or("")) : std::string());
    }
    return out;
  }

  bool has_column(const std::string& name) { return column_index(name) > 0; }

  /// Type, repeat, TDIM, TUNIT and TNULL of a column; missing_entry if absent,
  /// format_error for variable-length or otherwise unsupported columns.
  column_info column(const std::string& name) {
    const int c = require_column(name);
    column_info ci;
    ci.name = column_names()[static_cast<std::size_t>(c - 1)];
    int type = 0, status = 0;
    LONGLONG repeat = 0, width = 0;
    fits_get_eqcoltypell(fptr_, c, &type, &repeat, &width, &status);
    check(status, hdu_label(), name, "cannot read column type");
    if (type < 0)
      throw format_error(name_, hdu_label(), name, "variable-length array columns are not supported");
    switch (type) {
      case TLOGICAL: ci.type = column_type::boolean; break;
      case TSBYTE: ci.type = column_type::int8; break;
      case TBYTE: ci.type = column_type::uint8; break;
      case TSHORT: ci.type = column_type::int16; break;
      case TUSHORT: ci.type = column_type::uint16; break;
      case TINT:
      case TLONG: ci.type = column_type::int32; break;
      case TUINT:
      case TULONG: ci.type = column_type::uint32; break;
      case TLONGLONG: ci.type = column_type::int64; break;
      case TFLOAT: ci.type = column_type::float32; break;
      case TDOUBLE: ci.type = column_type::float64; break;
      case TSTRING: ci.type = column_type::string; break;
      default:
        throw format_error(name_, hdu_label(), name,
                           "unsupported column type (CFITSIO type code " + std::to_string(type) + ")");
    }
    ci.repeat = repeat;
    ci.width = width;
    const std::string idx = std::to_string(c);
    if (has_key("TDIM" + idx)) {
      int naxis = 0;
      std::array<LONGLONG, 16> ax{};
      fits_read_tdimll(fptr_, c, 16, &naxis, ax.data(), &status);
      check(status, hdu_label(), name, "cannot read TDIM");
      for (int i = naxis - 1; i >= 0; --i) ci.dims.push_back(ax[static_cast<std::size_t>(i)]);
    }
    ci.unit = read_key_opt<std::string>("TUNIT" + idx).value_or("");
    if (ci.type != column_type::string && ci.type != column_type::float32 && ci.type != column_type::float64 &&
        ci.type != column_type::boolean)
      ci.tnull = read_key_opt<std::int64_t>("TNULL" + idx);
    return ci;
  }

  /// Reads a scalar numeric column (repeat 1) of the current table as T.
  template <class T>
  xt::xtensor<T, 1> read_column(const std::string& name) {
    auto ci = column(name);
    if (ci.repeat != 1)
      throw format_error(name_, hdu_label(), name,
                         "vector column (repeat " + std::to_string(ci.repeat) + "), expected a scalar column");
    auto v = read_vector_column<T>(name);
    auto out = xt::xtensor<T, 1>::from_shape({v.shape()[0]});
    std::copy(v.begin(), v.end(), out.begin());
    return out;
  }

  /// Reads a fixed-size vector column as [nrows, repeat] (row-major); a TDIM shape
  /// is flattened (reshape with column(name).dims). Numeric values convert to T as
  /// CFITSIO does; logical columns read only as bool.
  template <class T>
  xt::xtensor<T, 2> read_vector_column(const std::string& name) {
    auto ci = column(name);
    const int c = require_column(name);
    if (ci.type == column_type::string)
      throw format_error(name_, hdu_label(), name, "string column, read it with read_string_column");
    if ((ci.type == column_type::boolean) != std::is_same_v<T, bool>)
      throw format_error(name_, hdu_label(), name, "logical columns read only as bool (and bool only from them)");
    const auto nrows = num_rows();
    xt::xtensor<T, 2> out({static_cast<std::size_t>(nrows), static_cast<std::size_t>(ci.repeat)});
    if (out.size() == 0) return out;
    int status = 0, anynul = 0;
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<char> buf(out.size(), 0);
      fits_read_col(fptr_, TLOGICAL, c, 1, 1, static_cast<LONGLONG>(buf.size()), nullptr, buf.data(), &anynul,
                    &status);
      check(status, hdu_label(), name, "cannot read column");
      for (std::size_t i = 0; i < buf.size(); ++i) out.data()[i] = buf[i] != 0;
    } else {
      fits_read_col(fptr_, detail::fits_datatype<T>(), c, 1, 1, static_cast<LONGLONG>(out.size()), nullptr,
                    out.data(), &anynul, &status);
      check(status, hdu_label(), name, "cannot read column");
    }
    return out;
  }

  /// Reads a string column (one string per row; trailing blanks removed).
  std::vector<std::string> read_string_column(const std::string& name) {
    auto ci = column(name);
    const int c = require_column(name);
    if (ci.type != column_type::string) throw format_error(name_, hdu_label(), name, "not a string column");
    if (ci.width != ci.repeat)
      throw format_error(name_, hdu_label(), name, "string columns with several strings per row are not supported");
    const auto nrows = static_cast<std::size_t>(num_rows());
    const std::size_t w = static_cast<std::size_t>(std::max<std::int64_t>(ci.repeat, 1));
    std::vector<char> storage(nrows * (w + 1), '\0');
    std::vector<char*> ptrs(nrows);
    for (std::size_t i = 0; i < nrows; ++i) ptrs[i] = storage.data() + i * (w + 1);
    std::vector<std::string> out(nrows);
    if (nrows == 0 || ci.repeat == 0) return out;
    int status = 0, anynul = 0;
    char nul[] = "";
    fits_read_col_str(fptr_, c, 1, 1, static_cast<LONGLONG>(nrows), nul, ptrs.data(), &anynul, &status);
    check(status, hdu_label(), name, "cannot read string column");
    for (std::size_t i = 0; i < nrows; ++i) {
      out[i] = ptrs[i];
      // Trailing blanks are not significant in FITS strings (CFITSIO returns an
      // empty string as a single blank).
      while (!out[i].empty() && out[i].back() == ' ') out[i].pop_back();
    }
    return out;
  }

  /// Definition of one column of a table to create.
  struct column_def {
    std::string name;
    column_type type = column_type::float64;
    std::int64_t repeat = 1;           ///< elements per row; characters for strings
    std::vector<std::int64_t> dims;    ///< optional TDIM, C order (product == repeat)
    std::string unit;
    std::optional<std::int64_t> tnull;
  };

  /// Appends a binary-table HDU with `nrows` rows and the given columns; fill the
  /// columns with write_column / write_string_column.
  void create_table(const std::string& extname, const std::vector<column_def>& cols, std::int64_t nrows) {
    writable("create table");
    names_.reset();
    if (num_hdus() == 0) write_empty_primary();
    std::vector<std::string> ttype, tform, tunit;
    for (const auto& c : cols) {
      if (c.repeat < 0) throw invalid_argument("specx::io: negative repeat for column " + c.name);
      ttype.push_back(c.name);
      tform.push_back(std::to_string(c.repeat) + detail::tform_letter(c.type));
      tunit.push_back(c.unit);
    }
    std::vector<char*> pt, pf, pu;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      pt.push_back(ttype[i].data());
      pf.push_back(tform[i].data());
      pu.push_back(tunit[i].data());
    }
    int status = 0;
    fits_create_tbl(fptr_, BINARY_TBL, static_cast<LONGLONG>(nrows), static_cast<int>(cols.size()), pt.data(),
                    pf.data(), pu.data(), extname.empty() ? nullptr : extname.c_str(), &status);
    check(status, extname, "", "cannot create table");
    for (std::size_t i = 0; i < cols.size(); ++i) {
      const int cn = static_cast<int>(i + 1);
      if (!cols[i].dims.empty()) {
        std::vector<long> ax(cols[i].dims.rbegin(), cols[i].dims.rend());
        fits_write_tdim(fptr_, cn, static_cast<int>(ax.size()), ax.data(), &status);
        check(status, extname, cols[i].name, "cannot write TDIM");
      }
      if (cols[i].tnull) {
        LONGLONG tn = *cols[i].tnull;
        fits_update_key(fptr_, TLONGLONG, ("TNULL" + std::to_string(cn)).c_str(), &tn, nullptr, &status);
        check(status, extname, cols[i].name, "cannot write TNULL");
      }
    }
  }

  /// Writes a whole numeric column of the current table from [nrows, repeat]
  /// (or [nrows] for scalar columns) row-major data.
  template <class T, std::size_t N>
  void write_column(const std::string& name, const xt::xtensor<T, N>& data) {
    static_assert(N == 1 || N == 2, "specx::io: columns are written from [nrows] or [nrows, repeat] arrays");
    writable("write column", false);
    const int c = require_column(name);
    if (data.size() == 0) return;
    int status = 0;
    if constexpr (std::is_same_v<T, bool>) {
      std::vector<char> buf(data.size());
      for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = data.data()[i] ? 1 : 0;
      fits_write_col(fptr_, TLOGICAL, c, 1, 1, static_cast<LONGLONG>(buf.size()), buf.data(), &status);
    } else {
      fits_write_col(fptr_, detail::fits_datatype<T>(), c, 1, 1, static_cast<LONGLONG>(data.size()),
                     const_cast<T*>(data.data()), &status);
    }
    check(status, hdu_label(), name, "cannot write column");
  }

  /// Writes a string column (strings longer than the column width are an error).
  void write_string_column(const std::string& name, const std::vector<std::string>& values) {
    writable("write column", false);
    auto ci = column(name);
    const int c = require_column(name);
    for (const auto& s : values)
      if (static_cast<std::int64_t>(s.size()) > ci.repeat)
        throw format_error(name_, hdu_label(), name,
                           "string '" + s + "' longer than the column width " + std::to_string(ci.repeat));
    if (values.empty() || ci.repeat == 0) return;
    std::vector<std::string> copy(values);
    std::vector<char*> ptrs;
    for (auto& s : copy) ptrs.push_back(s.data());
    int status = 0;
    fits_write_col_str(fptr_, c, 1, 1, static_cast<LONGLONG>(ptrs.size()), ptrs.data(), &status);
    check(status, hdu_label(), name, "cannot write string column");
  }

 private:
  /// CFITSIO stops counting HDUs at the end of the file, so a file cut inside the
  /// data of its last HDU looks complete until that data is read. Compare the end
  /// of the last HDU (current HDU `last`) with the file size; a shortfall of less
  /// than one 2880-byte block (missing final padding only) is tolerated.
  void check_not_truncated(int last) {
    LONGLONG head = 0, data = 0, end = 0;
    int status = 0;
    fits_get_hduaddrll(fptr_, &head, &data, &end, &status);
    check(status, hdu_label(), "", "cannot read HDU addresses");
    std::error_code ec;
    const auto size = std::filesystem::file_size(path_, ec);
    if (!ec && static_cast<LONGLONG>(size) + 2880 <= end)
      throw fits_error(name_, "#" + std::to_string(last), "",
                       "the file is truncated: this HDU ends at byte " + std::to_string(end) + " but the file has " +
                           std::to_string(size) + " bytes");
  }

  /// Raw value strings of the current HDU's keywords by name (first occurrence),
  /// read in one pass and cached until the HDU changes or is written to: CFITSIO's
  /// keyword search scans the header for every lookup, which made reading an
  /// 80-column FIBERMAP cost seconds.
  const std::unordered_map<std::string, std::string>& raw_cards() {
    const int idx = current_index();
    if (cards_ && cards_index_ == idx) return *cards_;
    int nkeys = 0, status = 0;
    fits_get_hdrspace(handle(), &nkeys, nullptr, &status);
    check(status, "#" + std::to_string(idx), "", "cannot read header");
    std::unordered_map<std::string, std::string> m;
    for (int i = 1; i <= nkeys; ++i) {
      char name[FLEN_KEYWORD] = {0}, value[FLEN_VALUE] = {0}, comment[FLEN_COMMENT] = {0};
      fits_read_keyn(fptr_, i, name, value, comment, &status);
      check(status, "#" + std::to_string(idx), "", "cannot read header card " + std::to_string(i));
      m.emplace(detail::trim(name), value);
    }
    cards_ = std::move(m);
    cards_index_ = idx;
    return *cards_;
  }

  fitsfile* handle() {
    if (!fptr_) throw io_error(name_, "", "", "the file is not open");
    return fptr_;
  }

  void writable(const char* what, bool header_changes = true) {
    if (handle() && mode_ == open_mode::read_only)
      throw io_error(name_, hdu_label(), "", std::string("cannot ") + what + ": the file is open read-only");
    if (header_changes) cards_.reset();
  }

  void require_image() {
    if (!is_image()) throw format_error(name_, hdu_label(), "", "expected an image HDU, found a table");
  }

  void require_table() {
    int type = 0, status = 0;
    fits_get_hdu_type(handle(), &type, &status);
    check(status, hdu_label(), "", "cannot read HDU type");
    if (type != BINARY_TBL) throw format_error(name_, hdu_label(), "", "expected a binary table HDU");
  }

  /// 1-based column number of `name` (case-insensitive exact match), 0 if absent.
  int column_index(const std::string& name) {
    const auto names = column_names();
    const std::string u = detail::upper(name);
    for (std::size_t i = 0; i < names.size(); ++i)
      if (detail::upper(names[i]) == u) return static_cast<int>(i + 1);
    return 0;
  }

  int require_column(const std::string& name) {
    const int c = column_index(name);
    if (c == 0) throw missing_entry(name_, hdu_label(), name, "no such column");
    return c;
  }

  std::optional<keyword_value> parse_value(const std::string& name, const char* raw) {
    const std::string v = detail::trim(raw);
    if (v.empty()) return std::nullopt;
    char dtype = 0;
    int status = 0;
    fits_get_keytype(raw, &dtype, &status);
    if (status) {
      fits_clear_errmsg();
      return keyword_value(v);
    }
    switch (dtype) {
      case 'L': return keyword_value(v == "T");
      case 'I': {
        std::int64_t x = 0;
        auto r = std::from_chars(v.data(), v.data() + v.size(), x);
        if (r.ec == std::errc() && r.ptr == v.data() + v.size()) return keyword_value(x);
        [[fallthrough]];
      }
      case 'F': {
        std::string t = v;
        for (auto& ch : t)
          if (ch == 'D' || ch == 'd') ch = 'E';
        return keyword_value(std::strtod(t.c_str(), nullptr));
      }
      case 'C': {
        // A plain quoted value: unquote ('' is an escaped quote). Values continued
        // with CONTINUE cards end in '&' and go through CFITSIO's long-string reader.
        std::string q = v;
        if (q.size() >= 2 && q.front() == '\'' && q.back() == '\'') {
          std::string out;
          for (std::size_t i = 1; i + 1 < q.size(); ++i) {
            out += q[i];
            if (q[i] == '\'' && q[i + 1] == '\'') ++i;
          }
          while (!out.empty() && out.back() == ' ') out.pop_back();
          if (out.empty() || out.back() != '&') return keyword_value(out);
        }
        char* longstr = nullptr;
        fits_read_key_longstr(fptr_, name.c_str(), &longstr, nullptr, &status);
        std::string s = longstr ? std::string(longstr) : std::string();
        if (longstr) fits_free_memory(longstr, &status);
        check(status, hdu_label(), "", "cannot read string keyword " + name);
        // FITS ignores trailing blanks of string values.
        while (!s.empty() && s.back() == ' ') s.pop_back();
        return keyword_value(s);
      }
      default: return keyword_value(v);
    }
  }

  /// Turns a CFITSIO status into the matching specx exception.
  void check(int status, const std::string& hdu, const std::string& column, const std::string& what) {
    if (status == 0) return;
    const std::string msg = what + ": " + detail::cfitsio_message(status);
    switch (status) {
      case KEY_NO_EXIST:
      case COL_NOT_FOUND:
      case BAD_HDU_NUM: throw missing_entry(name_, hdu, column, msg);
      case NUM_OVERFLOW:
      case BAD_DIMEN:
      case NOT_IMAGE:
      case NOT_TABLE:
      case NOT_BTABLE:
      case BAD_TFORM: throw format_error(name_, hdu, column, msg);
      case END_OF_FILE:
      case READ_ERROR:
        throw fits_error(name_, hdu, column, msg + " (the file is truncated or corrupt)");
      default: throw fits_error(name_, hdu, column, msg);
    }
  }

  void close_quietly() noexcept {
    if (fptr_) {
      int status = 0;
      fits_close_file(fptr_, &status);
      if (status) fits_clear_errmsg();
      fptr_ = nullptr;
    }
  }

  void swap(fits_file& o) noexcept {
    std::swap(fptr_, o.fptr_);
    std::swap(path_, o.path_);
    std::swap(name_, o.name_);
    std::swap(mode_, o.mode_);
    std::swap(names_, o.names_);
    std::swap(cards_, o.cards_);
    std::swap(cards_index_, o.cards_index_);
  }

  fitsfile* fptr_ = nullptr;
  std::string path_, name_;
  open_mode mode_ = open_mode::read_only;
  std::optional<std::vector<std::string>> names_;  // cached HDU names (read-only files)
  std::optional<std::unordered_map<std::string, std::string>> cards_;  // see raw_cards()
  int cards_index_ = -1;
};

/// Writes a FITS file atomically: `body(fits_file&)` writes into a temporary file
/// `.<name>.tmp-<random>` in the destination folder, which is renamed onto `path`
/// only after body returned and the file closed cleanly. If anything throws, the
/// temporary file is removed and `path` is untouched (an existing file survives).
/// With overwrite == false an existing `path` is an io_error before anything is
/// written. Error messages name `path`, not the temporary file.
template <class Body>
void write_fits_atomically(const std::string& path, bool overwrite, Body&& body) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!overwrite) throw io_error(path, "", "", "refusing to overwrite an existing file (overwrite = false)");
    if (fs::is_directory(target, ec)) throw io_error(path, "", "", "cannot write: this is a directory");
  }
  fs::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) throw io_error(path, "", "", "cannot write: the folder does not exist");
  std::random_device rd;
  fs::path tmp;
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "%08x%08x", rd(), rd());
    std::string name(1, '.');  // appended piecewise: GCC 12 warns falsely on "." + string
    name.append(target.filename().string()).append(".tmp-").append(suffix);
    tmp = dir / name;
    if (!fs::exists(tmp, ec)) break;
  }
  try {
    fits_file f(tmp.string(), open_mode::create, path);
    body(f);
    f.close();
    fs::rename(tmp, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove(tmp, ec);
    throw io_error(path, "", "", std::string("cannot move the written file into place: ") + e.what());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace specx::io
