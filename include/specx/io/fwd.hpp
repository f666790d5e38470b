// Forward declarations of the io module (see io.hpp).
#pragma once

namespace specx::io {

enum class open_mode;
class fits_file;
struct keyword;
struct column_info;
struct image_options;

struct table_column;
class table;

struct legendre_set;
struct psf_param;
struct psf_file_data;

struct band_data;
struct spectra_data;
struct spectra_write_options;

struct template_data;

}  // namespace specx::io
