// Forward declarations of the coadd module (see coadd.hpp).
#pragma once

namespace specx::coadd {
template <class T>
struct spectra_view;
template <class T>
struct camera_view;
template <class B, class T>
struct spectra;
struct stack_map;
struct exposure_options;
struct camera_options;
}  // namespace specx::coadd
