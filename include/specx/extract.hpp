// specx::extract — spectro-perfectionism extraction (Bolton & Schlegel 2010) with
// DESI's recipe (specter ex2d, gpu_specter), generic over the backend and the PSF.
//
// options         DESI's defaults (bundles, sub-bundles, chunks, padding, psferr, flags)
// trace_inverse   specter's approximate y → λ inverse, used for patch geometry
// plan_patches    the divide-and-conquer patches (host)
// extract_frame   the extraction, batched on the backend → extraction_result
//
// The DESI frame file writer/reader lives in io (io/frame_file.hpp). Equations,
// conventions and where we differ from specter: docs/extraction.md.
#pragma once

#include "extract/options.hpp"
#include "extract/plan.hpp"
#include "extract/extract_frame.hpp"
