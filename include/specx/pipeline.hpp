// specx/pipeline: the reduction chain wired from the library's steps (raw →
// preproc → extract → fiber flat → sky per camera; flux calibration and coadd per
// spectrograph). Generic over the backend. See docs/pipeline.md.
#pragma once

#include "pipeline/camera.hpp"
#include "pipeline/spectrograph.hpp"
