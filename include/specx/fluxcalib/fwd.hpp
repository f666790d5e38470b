// Forward declarations of the flux-calibration module (see fluxcalib.hpp).
#pragma once

namespace specx::fluxcalib {
template <class T>
struct frame_view;
template <class T>
struct camera_frame;
struct curve;
struct stellar_family;
struct stellar_grid;
struct star_photometry;
struct stdstar_options;
struct star_fit;
struct calibration_options;
template <class B>
struct calibration;
template <class B, class T>
struct calibrated_frame;
}  // namespace specx::fluxcalib
