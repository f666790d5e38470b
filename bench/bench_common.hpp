// Shared includes and helpers of the benchmark suites.
#pragma once

#include <algorithm>
#include <span>
#include <vector>

#include <specx/backend.hpp>

#if SPECX_HAS_THRUST && !defined(SPECX_BENCH_NO_THRUST_OMP)
#define SPECX_BENCH_THRUST_OMP 1
#else
#define SPECX_BENCH_THRUST_OMP 0
#endif
