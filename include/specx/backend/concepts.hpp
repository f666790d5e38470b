// The Backend concept: what every backend tag must provide.
#pragma once

#include <concepts>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "fwd.hpp"

namespace specx::backend {

/// A backend is an empty tag type that names its memory space, its owning
/// vector template and its name; the operations (backend/ops: for_each_index,
/// transform_reduce, transfers; backend/linalg: batched dense linear algebra)
/// are free functions overloaded on the tag.
template <class B>
concept Backend = std::is_empty_v<B> && std::is_default_constructible_v<B> && requires {
  typename B::memory_space;
  typename B::template vector<double>;
  { B::name } -> std::convertible_to<std::string_view>;
  { B::host_accessible } -> std::convertible_to<bool>;
};

/// The owning vector of element type T on backend B.
template <Backend B, class T>
using vector_t = typename B::template vector<T>;

/// True when host code may dereference pointers into B's memory.
template <Backend B>
inline constexpr bool host_accessible_v = B::host_accessible;

}  // namespace specx::backend
