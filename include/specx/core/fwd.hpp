// Forward declarations of the core numerics module (see core.hpp).
#pragma once

namespace specx::core {

template <class T>
struct legendre_domain;
template <class T>
struct value_and_derivative;

enum class inverse_status : int;
template <class T>
struct inverse_result;

enum class grid_scale : int;
template <class T>
class wavegrid;

}  // namespace specx::core
