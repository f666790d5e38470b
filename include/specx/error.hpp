// specx: the exception hierarchy (tier 3 of the error model). Every exception the
// library throws derives from specx::error, so callers can catch one type.
// Solvers and device code never throw: they return status and set mask bits.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace specx {

/// Base of every exception thrown by specx.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

/// A caller passed arguments that cannot be used: wrong shapes, empty inputs,
/// values out of range (a fiber off the CCD, a wavelength outside the PSF).
class invalid_argument : public error {
 public:
  using error::error;
};

/// Input data that is present but unusable (NaN/inf where finite values are
/// required, an empty template set, a non-monotonic grid).
class bad_data : public error {
 public:
  using error::error;
};

/// A file could not be read or written, or does not have the expected layout.
/// Carries the file name, and where known the HDU and column.
class io_error : public error {
 public:
  io_error(std::string file, std::string hdu, std::string column, const std::string& problem)
      : error(compose(file, hdu, column, problem)),
        file_(std::move(file)),
        hdu_(std::move(hdu)),
        column_(std::move(column)) {}

  const std::string& file() const noexcept { return file_; }
  const std::string& hdu() const noexcept { return hdu_; }
  const std::string& column() const noexcept { return column_; }

 private:
  static std::string compose(const std::string& file, const std::string& hdu,
                             const std::string& column, const std::string& problem) {
    std::string s = file.empty() ? std::string("<memory>") : file;
    if (!hdu.empty()) s += " [HDU " + hdu + "]";
    if (!column.empty()) s += " [column " + column + "]";
    return s + ": " + problem;
  }
  std::string file_, hdu_, column_;
};

/// The file exists but is not FITS, or is truncated/corrupt.
class fits_error : public io_error {
 public:
  using io_error::io_error;
};

/// A required HDU, column or keyword is missing.
class missing_entry : public io_error {
 public:
  using io_error::io_error;
};

/// An entry is present but has the wrong shape, type or value.
class format_error : public io_error {
 public:
  using io_error::io_error;
};

}  // namespace specx
