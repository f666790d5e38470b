// specx backends: the tag types, the Backend concept, parallel primitives and
// batched dense linear algebra. See docs/concepts.md.
//
//   specx::backend::cpu             host memory, OpenMP, Eigen
//   specx::backend::thrust<System>  Thrust on system::cpp / omp / cuda
//
// The thrust backends are available when Thrust's headers are found (CUDA
// toolkit CCCL or Debian's libthrust-dev); define SPECX_NO_THRUST to leave them out.
#pragma once

#include "config.hpp"
#include "backend/batch.hpp"
#include "backend/concepts.hpp"
#include "backend/cpu.hpp"
#include "backend/fwd.hpp"
#include "backend/linalg.hpp"

#if !defined(SPECX_NO_THRUST) && __has_include(<thrust/version.h>)
#define SPECX_HAS_THRUST 1
#include "backend/thrust.hpp"
#include "backend/thrust_linalg.hpp"
#if SPECX_COMPILING_CUDA
#include "backend/cuda/linalg.cuh"
#endif
#else
#define SPECX_HAS_THRUST 0
#endif
