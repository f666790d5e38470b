// Forward declarations of the backend tags (see backend.hpp).
#pragma once

namespace specx::backend {

/// Memory-space tags: host memory is directly addressable by host code; device
/// memory (CUDA) is not.
struct host_space {};
struct device_space {};

/// Thrust systems a thrust<> backend can run on.
namespace system {
struct cpp {};   ///< sequential host (Thrust's CPP system)
struct omp {};   ///< OpenMP host threads (Thrust's OMP system): how CI tests the Thrust path
struct cuda {};  ///< NVIDIA GPU (Thrust's CUDA system); only with nvcc
}  // namespace system

struct cpu;
template <class System>
struct thrust;

using thrust_omp = thrust<system::omp>;
using thrust_cpp = thrust<system::cpp>;
using thrust_cuda = thrust<system::cuda>;

}  // namespace specx::backend
