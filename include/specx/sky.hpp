// specx sky: the resolution-matched sky model of a frame from its sky fibers and
// its subtraction from every fiber (docs/calibration.md). Generic over the
// backend; inputs are host frame views (fiberflat/frame_view.hpp).
//
//   sky/compute.hpp    compute(be, frame, sky_fibers, options) → result (sky_data + summary)
//   sky/subtract.hpp   subtract(be, frame, sky_data)
#pragma once

#include "config.hpp"
#include "maskbits.hpp"
#include "fiberflat/frame_view.hpp"
#include "sky/compute.hpp"
#include "sky/subtract.hpp"
