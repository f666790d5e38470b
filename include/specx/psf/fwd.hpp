// Forward declarations of the psf module (see psf.hpp).
#pragma once

namespace specx::psf {

template <class T>
struct point;
struct stamp_corner;
struct legendre_table;
template <class T>
struct legendre_set_view;

struct gauss_hermite_params;
struct gauss_hermite_limits;
template <class T>
struct gauss_hermite_view;

struct gaussian_params;
template <class T>
struct gaussian_view;

struct spot_grid_params;
template <class T>
struct spot_grid_view;

// The owning models (gauss_hermite_psf, gaussian_psf, spot_grid_psf) are
// constrained templates with a default backend: include their headers.

}  // namespace specx::psf
