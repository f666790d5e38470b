// specx fiberflat: the fiber-to-fiber (and pixel-scale) response from an
// extracted flat-lamp frame, and its application to other frames
// (docs/calibration.md). Generic over the backend; inputs are host frame views.
//
//   fiberflat/frame_view.hpp   frame_view<T>, make_frame_view (shared with sky)
//   fiberflat/compute.hpp      compute(be, flat_frame, options) → result
//   fiberflat/apply.hpp        apply(be, frame, fiberflat_data)
#pragma once

#include "config.hpp"
#include "maskbits.hpp"
#include "fiberflat/frame_view.hpp"
#include "fiberflat/compute.hpp"
#include "fiberflat/apply.hpp"
