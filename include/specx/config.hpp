// specx: configuration macros. This is the only header that inspects the compiler
// for CUDA; every other header uses the macros defined here.
#pragma once

#include <cstdio>
#include <cstdlib>

#define SPECX_VERSION_MAJOR 0
#define SPECX_VERSION_MINOR 1
#define SPECX_VERSION_PATCH 0
#define SPECX_VERSION_STRING "0.1.0"

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SPECX_HOST_DEVICE __host__ __device__
#define SPECX_DEVICE __device__
#define SPECX_COMPILING_CUDA 1
#else
#define SPECX_HOST_DEVICE
#define SPECX_DEVICE
#define SPECX_COMPILING_CUDA 0
#endif

#if defined(__CUDA_ARCH__)
#define SPECX_DEVICE_PASS 1
#else
#define SPECX_DEVICE_PASS 0
#endif

// SPECX_WIDE_VECTORS: host code compiled by GCC for x86 may use 512-bit vectors in
// this function where the target has them (GCC's default on AVX-512 targets is
// 256-bit). It changes instruction width only, never the arithmetic or its order.
// Put on register-tiled kernels that measured faster with it (docs/performance.md).
#if defined(__GNUC__) && !defined(__clang__) && !SPECX_COMPILING_CUDA && (defined(__x86_64__) || defined(__i386__))
#define SPECX_WIDE_VECTORS __attribute__((target("prefer-vector-width=512")))
#else
#define SPECX_WIDE_VECTORS
#endif

// Debug contracts (tier 2 of the error model, see docs/concepts.md): a violated
// precondition is a programming error, not bad input. Active unless NDEBUG or
// SPECX_NO_CONTRACTS is defined. Aborts with the expression, file and line; on a
// device it traps.
#if !defined(NDEBUG) && !defined(SPECX_NO_CONTRACTS)
#if SPECX_DEVICE_PASS
#define SPECX_EXPECTS(cond)                                                             \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      printf("specx: contract violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__);     \
      __trap();                                                                         \
    }                                                                                   \
  } while (0)
#else
#define SPECX_EXPECTS(cond)                                                             \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "specx: contract violated: %s (%s:%d)\n", #cond, __FILE__,   \
                   __LINE__);                                                           \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
#endif
#else
#define SPECX_EXPECTS(cond) ((void)0)
#endif
