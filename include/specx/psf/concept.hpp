// The PSF concept: what extraction, the forward model and every other consumer
// may ask of a point-spread-function model. Models (Gauss–Hermite, Gaussian,
// spot grid) are owning host objects built on a backend; each hands out a
// trivially copyable *view* whose SPECX_HOST_DEVICE member functions evaluate
// traces and stamps inside backend functors (on a GPU too). No virtual calls.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "../config.hpp"

namespace specx::psf {

/// A trace position on the CCD, in pixels; pixel centres are at integer
/// coordinates (x = column, y = row).
template <class T>
struct point {
  T x;
  T y;
};

/// Where a stamp sits on the CCD: the pixel (xmin, ymin) of its lower-left
/// corner. The stamp itself is view.stamp_ny() x view.stamp_nx() values,
/// row-major [y][x]; its pixel [r][c] is CCD pixel (xmin + c, ymin + r). The
/// corner may be partly off the CCD: callers clip.
struct stamp_corner {
  int xmin;
  int ymin;
};

/// A PSF view: evaluates trace positions and normalised, pixel-integrated
/// stamps. All members are callable on host and device; none throws or allocates.
///  - nfiber(): number of fibers described (fiber indices 0..nfiber()-1 are
///    relative to the model's first fiber);
///  - stamp_nx(), stamp_ny(): the stamp size (2·HSIZEX+1, 2·HSIZEY+1 for DESI);
///  - wavemin(f), wavemax(f): the wavelength domain where the model is defined;
///  - xy(f, λ): trace centroid;
///  - stamp(f, λ, out): writes stamp_ny()·stamp_nx() values (sum 1 over the full
///    stamp, non-negative) and returns its corner;
///  - corner(f, λ): the corner stamp() would return, without the stamp;
///  - V::max_stamp_pixels: a compile-time bound on stamp_nx()·stamp_ny(), so that
///    callers (the projection, extraction) can hold a stamp in a local array.
template <class V>
concept PsfView = std::is_trivially_copyable_v<V> && requires(const V v, int fiber, typename V::value_type wave,
                                                              typename V::value_type* out) {
  typename V::value_type;
  { v.nfiber() } -> std::convertible_to<int>;
  { v.stamp_nx() } -> std::convertible_to<int>;
  { v.stamp_ny() } -> std::convertible_to<int>;
  { v.wavemin(fiber) } -> std::convertible_to<typename V::value_type>;
  { v.wavemax(fiber) } -> std::convertible_to<typename V::value_type>;
  { v.xy(fiber, wave) } -> std::same_as<point<typename V::value_type>>;
  { v.stamp(fiber, wave, out) } -> std::same_as<stamp_corner>;
  { v.corner(fiber, wave) } -> std::same_as<stamp_corner>;
  { V::max_stamp_pixels } -> std::convertible_to<int>;
};

/// An owning PSF model on a backend: provides view() for functors and host-side
/// geometry (CCD size, each fiber's on-CCD wavelength range, y → λ). Host members
/// validate and throw specx::invalid_argument:
///  - host_view(): the same view over host copies (host evaluation on any backend);
///  - wavemin(f), wavemax(f): the domain (a wavelength outside it is an error);
///  - xy(f, λ): the trace centroid;
///  - wavelength_range(f): [λ(y = −½), λ(y = NPIX_Y − ½)], where the centroid is on the CCD.
template <class P>
concept Psf = requires(const P p, int fiber, typename P::value_type y) {
  typename P::value_type;
  typename P::backend_type;
  { p.view() } -> PsfView;
  { p.nfiber() } -> std::convertible_to<int>;
  { p.npix_x() } -> std::convertible_to<int>;
  { p.npix_y() } -> std::convertible_to<int>;
  /// The wavelength at which fiber's trace crosses row y (exact inverse of y(λ)).
  { p.wavelength_at_y(fiber, y) } -> std::convertible_to<typename P::value_type>;
  { p.host_view() } -> std::same_as<decltype(p.view())>;
  { p.wavemin(fiber) } -> std::convertible_to<typename P::value_type>;
  { p.wavemax(fiber) } -> std::convertible_to<typename P::value_type>;
  { p.xy(fiber, y) } -> std::same_as<point<typename P::value_type>>;
  { p.wavelength_range(fiber) } -> std::same_as<std::pair<typename P::value_type, typename P::value_type>>;
};

}  // namespace specx::psf
