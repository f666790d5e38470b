// specx::io::table: a generic in-memory FITS binary table (FIBERMAP, EXP_FIBERMAP,
// SCORES, ...). Every column keeps its exact FITS element type, so read -> write ->
// read reproduces names, types, shapes, units, TNULL and values exactly.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "fits.hpp"

namespace specx::io {

/// The storage of one column: numeric and logical columns as [nrows, repeat]
/// row-major arrays (repeat 1 for scalar columns), string columns as one string
/// per row.
using column_data =
    std::variant<xt::xtensor<bool, 2>, xt::xtensor<std::int8_t, 2>, xt::xtensor<std::uint8_t, 2>,
                 xt::xtensor<std::int16_t, 2>, xt::xtensor<std::uint16_t, 2>, xt::xtensor<std::int32_t, 2>,
                 xt::xtensor<std::uint32_t, 2>, xt::xtensor<std::int64_t, 2>, xt::xtensor<float, 2>,
                 xt::xtensor<double, 2>, std::vector<std::string>>;

/// One column of a table.
struct table_column {
  std::string name;
  column_data data;
  std::vector<std::int64_t> dims;    ///< TDIM in C order, empty if none (product = repeat)
  std::string unit;                  ///< TUNIT, empty if none
  std::optional<std::int64_t> tnull; ///< TNULL of integer columns, if any
  std::int64_t string_width = 0;     ///< declared width of string columns (TFORM rA)

  column_type type() const {
    return std::visit(
        [](const auto& d) -> column_type {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) return column_type::string;
          else return detail::column_type_of<typename D::value_type>();
        },
        data);
  }
  std::size_t nrows() const {
    return std::visit(
        [](const auto& d) -> std::size_t {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) return d.size();
          else return d.shape()[0];
        },
        data);
  }
  /// Elements per row (1 for scalar and string columns).
  std::size_t repeat() const {
    return std::visit(
        [](const auto& d) -> std::size_t {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) return 1;
          else return d.shape()[1];
        },
        data);
  }
};

/// A binary table: ordered columns of equal length plus the HDU's non-structural
/// keywords.
class table {
 public:
  std::vector<table_column> columns;
  header keywords;

  std::size_t nrows() const { return columns.empty() ? nrows_if_empty : columns.front().nrows(); }
  std::size_t ncols() const { return columns.size(); }

  bool has(const std::string& name) const { return find(name) != nullptr; }

  /// The column `name` (case-insensitive); missing_entry if absent.
  const table_column& column(const std::string& name) const {
    if (auto c = find(name)) return *c;
    throw missing_entry(source, extname, name, "no such column");
  }
  table_column& column(const std::string& name) {
    return const_cast<table_column&>(static_cast<const table&>(*this).column(name));
  }

  /// The exact storage of a numeric/logical column ([nrows, repeat]);
  /// format_error if the column has another element type.
  template <class T>
  const xt::xtensor<T, 2>& get(const std::string& name) const {
    const auto& c = column(name);
    if (auto p = std::get_if<xt::xtensor<T, 2>>(&c.data)) return *p;
    throw format_error(source, extname, name, "column has another element type than requested");
  }

  /// The strings of a string column; format_error if not a string column.
  const std::vector<std::string>& strings(const std::string& name) const {
    const auto& c = column(name);
    if (auto p = std::get_if<std::vector<std::string>>(&c.data)) return *p;
    throw format_error(source, extname, name, "not a string column");
  }

  /// A scalar numeric column converted to T ([nrows]); format_error for vector or
  /// string columns.
  template <class T>
  xt::xtensor<T, 1> values(const std::string& name) const {
    const auto& c = column(name);
    return std::visit(
        [&](const auto& d) -> xt::xtensor<T, 1> {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) {
            throw format_error(source, extname, name, "string column, expected a numeric column");
          } else {
            if (d.shape()[1] != 1) throw format_error(source, extname, name, "vector column, expected a scalar column");
            auto out = xt::xtensor<T, 1>::from_shape({d.shape()[0]});
            for (std::size_t i = 0; i < d.shape()[0]; ++i) out(i) = static_cast<T>(d(i, 0));
            return out;
          }
        },
        c.data);
  }

  /// Appends a numeric column from [nrows] or [nrows, repeat] data.
  template <class T, std::size_t N>
  void add_column(const std::string& name, const xt::xtensor<T, N>& data, std::string unit = {}) {
    static_assert(N == 1 || N == 2, "specx::io::table: columns are [nrows] or [nrows, repeat]");
    xt::xtensor<T, 2> d({data.shape()[0], N == 2 ? data.shape()[N - 1] : std::size_t(1)});
    std::copy(data.begin(), data.end(), d.begin());
    table_column c{name, std::move(d), {}, std::move(unit), std::nullopt, 0};
    append(std::move(c));
  }

  /// Appends a string column (width = longest string, at least 1).
  void add_column(const std::string& name, std::vector<std::string> values, std::string unit = {}) {
    std::int64_t w = 1;
    for (const auto& s : values) w = std::max<std::int64_t>(w, static_cast<std::int64_t>(s.size()));
    table_column c{name, std::move(values), {}, std::move(unit), std::nullopt, w};
    append(std::move(c));
  }

  /// Provenance for messages (set by read_table).
  std::string source, extname;
  /// Number of rows of a table without columns.
  std::size_t nrows_if_empty = 0;

 private:
  const table_column* find(const std::string& name) const {
    const std::string u = detail::upper(name);
    for (const auto& c : columns)
      if (detail::upper(c.name) == u) return &c;
    return nullptr;
  }
  void append(table_column c) {
    if (has(c.name)) throw invalid_argument("specx::io::table: duplicate column " + c.name);
    if (!columns.empty() && c.nrows() != nrows())
      throw invalid_argument("specx::io::table: column " + c.name + " has " + std::to_string(c.nrows()) +
                             " rows, the table has " + std::to_string(nrows()));
    columns.push_back(std::move(c));
  }
};

namespace detail {
template <class T>
table_column read_typed_column(fits_file& f, const column_info& ci) {
  table_column c;
  c.data = f.read_vector_column<T>(ci.name);
  return c;
}
}  // namespace detail

/// Reads the binary table of the current HDU of `f`.
inline table read_table(fits_file& f) {
  table t;
  t.source = f.name();
  t.extname = f.hdu_label();
  t.nrows_if_empty = static_cast<std::size_t>(f.num_rows());
  for (const auto& name : f.column_names()) {
    const column_info ci = f.column(name);
    table_column c;
    switch (ci.type) {
      case column_type::boolean: c = detail::read_typed_column<bool>(f, ci); break;
      case column_type::int8: c = detail::read_typed_column<std::int8_t>(f, ci); break;
      case column_type::uint8: c = detail::read_typed_column<std::uint8_t>(f, ci); break;
      case column_type::int16: c = detail::read_typed_column<std::int16_t>(f, ci); break;
      case column_type::uint16: c = detail::read_typed_column<std::uint16_t>(f, ci); break;
      case column_type::int32: c = detail::read_typed_column<std::int32_t>(f, ci); break;
      case column_type::uint32: c = detail::read_typed_column<std::uint32_t>(f, ci); break;
      case column_type::int64: c = detail::read_typed_column<std::int64_t>(f, ci); break;
      case column_type::float32: c = detail::read_typed_column<float>(f, ci); break;
      case column_type::float64: c = detail::read_typed_column<double>(f, ci); break;
      case column_type::string:
        c.data = f.read_string_column(ci.name);
        c.string_width = ci.repeat;
        break;
    }
    c.name = ci.name;
    c.dims = ci.dims;
    c.unit = ci.unit;
    c.tnull = ci.tnull;
    t.columns.push_back(std::move(c));
  }
  t.keywords = f.read_header();
  return t;
}

/// Reads the binary table HDU named `extname`.
inline table read_table(fits_file& f, const std::string& extname) {
  f.move_to(extname);
  return read_table(f);
}

/// Appends `t` to `f` as a binary table HDU named `extname` (with t.keywords).
inline void write_table(fits_file& f, const std::string& extname, const table& t) {
  std::vector<fits_file::column_def> defs;
  const std::size_t n = t.nrows();
  for (const auto& c : t.columns) {
    if (c.nrows() != n)
      throw invalid_argument("specx::io::write_table: column " + c.name + " of " + extname + " has " +
                             std::to_string(c.nrows()) + " rows, expected " + std::to_string(n));
    fits_file::column_def d;
    d.name = c.name;
    d.type = c.type();
    if (d.type == column_type::string) {
      std::int64_t w = std::max<std::int64_t>(c.string_width, 0);
      for (const auto& s : std::get<std::vector<std::string>>(c.data))
        w = std::max<std::int64_t>(w, static_cast<std::int64_t>(s.size()));
      d.repeat = w;
    } else {
      d.repeat = static_cast<std::int64_t>(c.repeat());
    }
    d.dims = c.dims;
    d.unit = c.unit;
    d.tnull = c.tnull;
    defs.push_back(std::move(d));
  }
  f.create_table(extname, defs, static_cast<std::int64_t>(n));
  for (const auto& c : t.columns) {
    std::visit(
        [&](const auto& d) {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) f.write_string_column(c.name, d);
          else f.write_column(c.name, d);
        },
        c.data);
  }
  f.write_header(t.keywords);
}

}  // namespace specx::io
