// Backend primitives: transfers, for_each_index, transform_reduce, on every backend.
#include "testing.hpp"

#include <numeric>

using namespace specx;

TEST_CASE_TEMPLATE("backend satisfies the concept and round-trips data", B, SPECX_TEST_BACKENDS) {
  static_assert(backend::Backend<B>);
  B be;
  std::vector<double> h(1000);
  std::iota(h.begin(), h.end(), 0.5);
  auto d = backend::to_backend(be, std::span<const double>(h));
  CHECK(d.size() == h.size());
  auto back = backend::to_host(be, d);
  CHECK(back == h);  // transfers are bit-exact copies
  auto z = backend::make_vector<float>(be, 17, 2.5f);
  auto zh = backend::to_host(be, z);
  CHECK(zh.size() == 17);
  CHECK(std::all_of(zh.begin(), zh.end(), [](float v) { return v == 2.5f; }));
}

namespace {
template <class T>
struct axpy_functor {
  T a;
  const T* x;
  T* y;
  SPECX_HOST_DEVICE void operator()(std::size_t i) const { y[i] = a * x[i] + y[i]; }
};
template <class T>
struct square_of {
  const T* x;
  SPECX_HOST_DEVICE T operator()(std::size_t i) const { return x[i] * x[i]; }
};
struct plus {
  template <class T>
  SPECX_HOST_DEVICE T operator()(T a, T b) const { return a + b; }
};
struct max_op {
  template <class T>
  SPECX_HOST_DEVICE T operator()(T a, T b) const { return a > b ? a : b; }
};
}  // namespace

TEST_CASE_TEMPLATE("for_each_index visits every index exactly once", B, SPECX_TEST_BACKENDS) {
  B be;
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(100003)}) {
    std::vector<double> x(n), y(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = double(i);
      y[i] = 1.0;
    }
    auto dx = backend::to_backend(be, std::span<const double>(x));
    auto dy = backend::to_backend(be, std::span<const double>(y));
    backend::for_each_index(be, n, axpy_functor<double>{2.0, backend::raw(be, dx), backend::raw(be, dy)});
    auto r = backend::to_host(be, dy);
    bool ok = true;
    for (std::size_t i = 0; i < n; ++i) ok &= (r[i] == 2.0 * double(i) + 1.0);  // exact in double
    CHECK(ok);
  }
}

TEST_CASE_TEMPLATE("transform_reduce equals the closed form", B, SPECX_TEST_BACKENDS) {
  B be;
  // Σ_{i<n} i² = (n-1) n (2n-1) / 6; all partial sums are integers < 2^53, so exact.
  const std::size_t n = 200001;
  std::vector<double> x(n);
  std::iota(x.begin(), x.end(), 0.0);
  auto dx = backend::to_backend(be, std::span<const double>(x));
  const double s = backend::transform_reduce(be, n, square_of<double>{backend::raw(be, dx)}, 0.0, plus{});
  const double nn = double(n);
  CHECK(s == (nn - 1) * nn * (2 * nn - 1) / 6);
  const double m = backend::transform_reduce(be, n, square_of<double>{backend::raw(be, dx)}, -1.0, max_op{});
  CHECK(m == (nn - 1) * (nn - 1));
  CHECK(backend::transform_reduce(be, 0, square_of<double>{nullptr}, 42.0, plus{}) == 42.0);
}
