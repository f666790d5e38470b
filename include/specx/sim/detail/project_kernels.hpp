// Functors of the projection (sim/project.hpp), written once for every backend
// (SPECX_HOST_DEVICE, no allocation, no atomics).
#pragma once

#include <cstddef>

#include "../../config.hpp"
#include "../../psf/concept.hpp"

namespace specx::sim::detail {

/// The half-open pixel rectangle a projection writes: the window ∩ the CCD, and
/// the window's origin and width (image row stride).
struct write_region {
  int x0, x1, y0, y1;   ///< writable columns [x0, x1), rows [y0, y1), CCD coordinates
  int ox, oy, stride;   ///< image pixel [r][c] is CCD (ox + c, oy + r); row stride
};

/// Sample s = i·nwave + j (input fiber i, wavelength j): its stamp corner.
template <class V>
struct corner_functor {
  using T = typename V::value_type;
  V psf;
  const int* fibers;
  const T* waves;
  bool shared_waves;
  int nwave;
  int* xmin;
  int* ymin;
  SPECX_HOST_DEVICE void operator()(std::size_t s) const {
    const int i = static_cast<int>(s / static_cast<std::size_t>(nwave));
    const T lambda = waves[shared_waves ? s % static_cast<std::size_t>(nwave) : s];
    const psf::stamp_corner c = psf.corner(fibers[i], lambda);
    xmin[s] = c.xmin;
    ymin[s] = c.ymin;
  }
};

/// One task of a colour class: input fiber tasks[2t], wavelength block
/// tasks[2t+1] (indices [b·block, min((b+1)·block, nwave))). Adds photons·stamp
/// of each sample, in increasing wavelength index, into the image. Tasks of one
/// class touch disjoint pixels (see project.hpp), so no two threads write one pixel.
template <class V>
struct project_task_functor {
  using T = typename V::value_type;
  V psf;
  const int* fibers;
  const T* waves;
  const T* photons;
  bool shared_waves;
  int nwave;
  int block;
  const int* tasks;
  T* image;
  write_region reg;

  SPECX_HOST_DEVICE void operator()(std::size_t t) const {
    const int i = tasks[2 * t];
    const int b = tasks[2 * t + 1];
    const int f = fibers[i];
    const int nx = psf.stamp_nx(), ny = psf.stamp_ny();
    T stamp[V::max_stamp_pixels];
    const int jend = (b + 1) * block < nwave ? (b + 1) * block : nwave;
    for (int j = b * block; j < jend; ++j) {
      const std::size_t s = static_cast<std::size_t>(i) * static_cast<std::size_t>(nwave) + static_cast<std::size_t>(j);
      const T ph = photons[s];
      if (ph == T(0)) continue;
      const T lambda = waves[shared_waves ? static_cast<std::size_t>(j) : s];
      const psf::stamp_corner c0 = psf.corner(f, lambda);
      if (c0.xmin >= reg.x1 || c0.xmin + nx <= reg.x0 || c0.ymin >= reg.y1 || c0.ymin + ny <= reg.y0) continue;
      const psf::stamp_corner c = psf.stamp(f, lambda, stamp);
      const int r0 = reg.y0 > c.ymin ? reg.y0 - c.ymin : 0;
      const int r1 = reg.y1 < c.ymin + ny ? reg.y1 - c.ymin : ny;
      const int q0 = reg.x0 > c.xmin ? reg.x0 - c.xmin : 0;
      const int q1 = reg.x1 < c.xmin + nx ? reg.x1 - c.xmin : nx;
      for (int r = r0; r < r1; ++r) {
        T* row = image + static_cast<std::ptrdiff_t>(c.ymin + r - reg.oy) * reg.stride + (c.xmin - reg.ox);
        const T* srow = stamp + r * nx;
        for (int q = q0; q < q1; ++q) row[q] += ph * srow[q];
      }
    }
  }
};

}  // namespace specx::sim::detail
