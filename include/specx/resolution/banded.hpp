// Banded resolution matrices in DESI's diagonal storage.
//
// A spectrum's resolution matrix R (nwave x nwave) is stored as data[d, j],
// d = 0..ndiag−1, holding the diagonal with offset o_d = ndiag/2 − d, indexed by
// the COLUMN j exactly as scipy.sparse.dia_matrix stores it:
//     data[d, j] = R[j − o_d, j].
// Storage entries whose row j − o_d falls outside [0, nwave) are not part of the
// matrix: they are ignored on apply and zeroed by from_dense / the coadd.
// A batch of spectra is the row-major cube [nspec, ndiag, nwave] of DESI files
// (RESOLUTION HDU). See docs/pitfalls.md (column indexing, coadd row weights).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Dense>
#include <xtensor/xtensor.hpp>

#include "../backend.hpp"
#include "../config.hpp"
#include "../error.hpp"

namespace specx::resolution {

/// A non-owning view of nspec banded matrices [nspec, ndiag, nwave] (row-major,
/// DESI layout) in some backend's memory. Trivially copyable: pass it to functors.
template <class T>
struct banded_view {
  T* data = nullptr;
  int nspec = 0;
  int ndiag = 0;
  int nwave = 0;

  /// ndiag / 2: the largest |offset|.
  SPECX_HOST_DEVICE int half() const { return ndiag / 2; }
  /// The diagonal offset o_d = ndiag/2 − d stored in row d (o > 0: above the main diagonal).
  SPECX_HOST_DEVICE int offset(int d) const { return ndiag / 2 - d; }
  SPECX_HOST_DEVICE std::size_t size() const {
    return static_cast<std::size_t>(nspec) * static_cast<std::size_t>(ndiag) * static_cast<std::size_t>(nwave);
  }
  /// The storage element data[s, d, j] = R_s[j − o_d, j].
  SPECX_HOST_DEVICE T& operator()(int s, int d, int j) const {
    return data[(static_cast<std::size_t>(s) * ndiag + static_cast<std::size_t>(d)) * nwave + static_cast<std::size_t>(j)];
  }
  /// Whether storage (d, j) is a matrix element (its row j − o_d is inside the matrix).
  SPECX_HOST_DEVICE bool in_matrix(int d, int j) const {
    const int i = j - offset(d);
    return i >= 0 && i < nwave;
  }
  /// The matrix element R_s[i, j]; zero outside the band.
  SPECX_HOST_DEVICE std::remove_const_t<T> element(int s, int i, int j) const {
    const int d = half() - (j - i);
    if (d < 0 || d >= ndiag || i < 0 || i >= nwave || j < 0 || j >= nwave) return std::remove_const_t<T>(0);
    return (*this)(s, d, j);
  }
  /// The same view, read-only (only for mutable views: a const view is already read-only).
  template <class U = T, std::enable_if_t<!std::is_const_v<U>, int> = 0>
  SPECX_HOST_DEVICE operator banded_view<const U>() const {
    return {data, nspec, ndiag, nwave};
  }
};

namespace detail {
inline void require(bool ok, const char* fn, const std::string& what) {
  if (!ok) throw invalid_argument(std::string("specx::resolution::") + fn + ": " + what);
}
inline void check_ndiag(std::size_t ndiag, const char* fn) {
  require(ndiag % 2 == 1, fn, "ndiag must be odd (diagonals +ndiag/2 ... -ndiag/2), got " + std::to_string(ndiag));
}
template <class T>
using dense_matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
}  // namespace detail

/// Host-owning batch of banded resolution matrices: an xtensor cube
/// [nspec, ndiag, nwave], row-major as in DESI files.
template <class T>
class banded {
 public:
  using value_type = T;
  using dense_type = detail::dense_matrix<T>;

  banded() = default;
  /// Zero matrices. ndiag must be odd.
  banded(std::size_t nspec, std::size_t ndiag, std::size_t nwave)
      : data_(xt::xtensor<T, 3>::from_shape({nspec, ndiag, nwave})) {
    detail::check_ndiag(ndiag, "banded");
    data_.fill(T(0));
  }
  /// Adopt a DESI cube [nspec, ndiag, nwave] as read from a RESOLUTION HDU. Storage
  /// outside the matrix is kept as is (apply ignores it); call zero_outside() to clear it.
  explicit banded(xt::xtensor<T, 3> data) : data_(std::move(data)) {
    detail::check_ndiag(data_.shape()[1], "banded");
  }

  std::size_t nspec() const { return data_.shape()[0]; }
  std::size_t ndiag() const { return data_.shape()[1]; }
  std::size_t nwave() const { return data_.shape()[2]; }
  int half() const { return static_cast<int>(ndiag() / 2); }

  const xt::xtensor<T, 3>& data() const { return data_; }
  xt::xtensor<T, 3>& data() { return data_; }

  banded_view<T> view() { return {data_.data(), int(nspec()), int(ndiag()), int(nwave())}; }
  banded_view<const T> view() const { return {data_.data(), int(nspec()), int(ndiag()), int(nwave())}; }

  /// R_s[i, j] (zero outside the band).
  T element(std::size_t s, std::size_t i, std::size_t j) const { return view().element(int(s), int(i), int(j)); }

  /// Spectrum s as a dense nwave x nwave matrix.
  dense_type to_dense(std::size_t s) const {
    detail::require(s < nspec(), "banded::to_dense", "spectrum index out of range");
    const auto v = view();
    const int n = v.nwave;
    dense_type m = dense_type::Zero(n, n);
    for (int d = 0; d < v.ndiag; ++d)
      for (int j = 0; j < n; ++j)
        if (v.in_matrix(d, j)) m(j - v.offset(d), j) = v(int(s), d, j);
    return m;
  }

  /// Store the band of a dense matrix as spectrum s; storage outside the matrix is
  /// zeroed. Returns the largest |element| outside the band that was dropped.
  T set_from_dense(std::size_t s, const Eigen::Ref<const dense_type>& m) {
    detail::require(s < nspec(), "banded::set_from_dense", "spectrum index out of range");
    detail::require(m.rows() == Eigen::Index(nwave()) && m.cols() == Eigen::Index(nwave()), "banded::set_from_dense",
                    "dense matrix must be nwave x nwave");
    const auto v = view();
    const int n = v.nwave, h = v.half();
    for (int d = 0; d < v.ndiag; ++d)
      for (int j = 0; j < n; ++j) v(int(s), d, j) = v.in_matrix(d, j) ? m(j - v.offset(d), j) : T(0);
    T dropped = T(0);
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < n; ++i)
        if (i - j > h || j - i > h) dropped = std::max(dropped, T(std::abs(m(i, j))));
    return dropped;
  }

  /// Zero every storage entry that is not a matrix element (first/last columns of
  /// the off-diagonals).
  void zero_outside() {
    const auto v = view();
    for (int s = 0; s < v.nspec; ++s)
      for (int d = 0; d < v.ndiag; ++d)
        for (int j = 0; j < v.nwave; ++j)
          if (!v.in_matrix(d, j)) v(s, d, j) = T(0);
  }

 private:
  xt::xtensor<T, 3> data_;
};

/// Banded matrices with ndiag diagonals from dense square matrices (one per
/// spectrum, all nwave x nwave). Out-of-band elements are dropped.
template <class T>
banded<T> from_dense(const std::vector<detail::dense_matrix<T>>& ms, std::size_t ndiag) {
  detail::require(!ms.empty(), "from_dense", "no matrices");
  const std::size_t n = std::size_t(ms.front().rows());
  banded<T> r(ms.size(), ndiag, n);
  for (std::size_t s = 0; s < ms.size(); ++s) r.set_from_dense(s, ms[s]);
  return r;
}

// ------------------------------------------------------------ backend storage

/// Banded matrices owned in backend B's memory (what device pipelines keep
/// between steps). Same layout as banded<T>.
template <class B, class T>
struct backend_banded {
  backend::vector_t<B, T> storage;
  int nspec = 0, ndiag = 0, nwave = 0;
  banded_view<T> view() { return {backend::raw(B{}, storage), nspec, ndiag, nwave}; }
  banded_view<const T> view() const { return {backend::raw(B{}, storage), nspec, ndiag, nwave}; }
};

/// Copy host matrices to backend B. Blocking.
template <class B, class T>
backend_banded<B, T> upload(B be, const banded<T>& r) {
  return {backend::to_backend(be, std::span<const T>(r.data().data(), r.data().size())), int(r.nspec()),
          int(r.ndiag()), int(r.nwave())};
}

/// Copy backend matrices to the host. Blocking.
template <class B, class T>
banded<T> download(B be, const backend_banded<B, T>& r) {
  const std::vector<T> h = backend::to_host(be, r.storage);
  xt::xtensor<T, 3> cube = xt::xtensor<T, 3>::from_shape(
      {std::size_t(r.nspec), std::size_t(r.ndiag), std::size_t(r.nwave)});
  std::copy(h.begin(), h.end(), cube.data());
  return banded<T>(std::move(cube));
}

// ------------------------------------------------------------ kernels

namespace detail {

/// y[s, i] = Σ_j R_s[i, j] x[s, j]: one thread per (spectrum, row). Row i touches
/// storage (d, i + o_d) for the diagonals whose column lies inside the matrix.
template <class T>
struct apply_row {
  banded_view<const T> r;
  const T* x;
  T* y;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = r.nwave;
    const int s = static_cast<int>(idx / std::size_t(n));
    const int i = static_cast<int>(idx % std::size_t(n));
    const T* xs = x + std::size_t(s) * n;
    T acc = T(0);
    for (int d = 0; d < r.ndiag; ++d) {
      const int j = i + r.offset(d);
      if (j >= 0 && j < n) acc += r(s, d, j) * xs[j];
    }
    y[idx] = acc;
  }
};

/// y[s, j] = Σ_i R_s[i, j] x[s, i]: one thread per (spectrum, column); column j
/// is storage column j itself, with row i = j − o_d.
template <class T>
struct apply_transpose_column {
  banded_view<const T> r;
  const T* x;
  T* y;
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = r.nwave;
    const int s = static_cast<int>(idx / std::size_t(n));
    const int j = static_cast<int>(idx % std::size_t(n));
    const T* xs = x + std::size_t(s) * n;
    T acc = T(0);
    for (int d = 0; d < r.ndiag; ++d) {
      const int i = j - r.offset(d);
      if (i >= 0 && i < n) acc += r(s, d, j) * xs[i];
    }
    y[idx] = acc;
  }
};

/// |Σ_j R_s[i, j] − 1| for row (s, i); +inf if the sum is not finite.
template <class T>
struct row_sum_deviation {
  banded_view<const T> r;
  SPECX_HOST_DEVICE T operator()(std::size_t idx) const {
    const int n = r.nwave;
    const int s = static_cast<int>(idx / std::size_t(n));
    const int i = static_cast<int>(idx % std::size_t(n));
    T sum = T(0);
    for (int d = 0; d < r.ndiag; ++d) {
      const int j = i + r.offset(d);
      if (j >= 0 && j < n) sum += r(s, d, j);
    }
    const T dev = sum > T(1) ? sum - T(1) : T(1) - sum;
    return (dev <= std::numeric_limits<T>::max()) ? dev : std::numeric_limits<T>::infinity();
  }
};

template <class T>
struct max_of {
  SPECX_HOST_DEVICE T operator()(T a, T b) const { return a > b ? a : b; }
};
struct size_plus {
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t a, std::size_t b) const { return a + b; }
};

/// One output row (g, i) of the weighted combination. Row i of the result is
/// Σ_e w_e[i] R_e[i, :] / Σ_e w_e[i]; in column storage its elements sit at
/// (d, j = i + o_d), so the weight of storage (d, j) is w[j − o_d], not w[j].
/// The thread also zeroes the storage entries (d, i) that are outside the matrix,
/// so every output entry is written exactly once.
template <class T>
struct combine_row {
  banded_view<const T> in;  // nspec = ngroup * nexp, group-major
  int nexp;
  const T* w;               // [ngroup * nexp, nwave]
  banded_view<T> out;       // nspec = ngroup
  std::uint8_t* zero_rows;  // [ngroup, nwave] or null
  SPECX_HOST_DEVICE void operator()(std::size_t idx) const {
    const int n = out.nwave;
    const int g = static_cast<int>(idx / std::size_t(n));
    const int i = static_cast<int>(idx % std::size_t(n));
    T wsum = T(0);
    for (int e = 0; e < nexp; ++e) wsum += w[(std::size_t(g) * nexp + e) * n + i];
    const bool empty = !(wsum > T(0));
    if (zero_rows) zero_rows[idx] = empty ? 1 : 0;
    for (int d = 0; d < out.ndiag; ++d) {
      const int j = i + out.offset(d);
      if (j >= 0 && j < n) {
        T acc = T(0);
        if (!empty)
          for (int e = 0; e < nexp; ++e)
            acc += w[(std::size_t(g) * nexp + e) * n + i] * in(g * nexp + e, d, j);
        out(g, d, j) = empty ? T(0) : acc / wsum;
      }
      if (!out.in_matrix(d, i)) out(g, d, i) = T(0);
    }
  }
};

template <class T>
struct count_empty_rows {
  int nexp, nwave;
  const T* w;
  SPECX_HOST_DEVICE std::size_t operator()(std::size_t idx) const {
    const std::size_t g = idx / std::size_t(nwave), i = idx % std::size_t(nwave);
    T wsum = T(0);
    for (int e = 0; e < nexp; ++e) wsum += w[(g * nexp + e) * nwave + i];
    return wsum > T(0) ? 0u : 1u;
  }
};

}  // namespace detail

/// y = R x for every spectrum on backend B: x, y are [nspec, nwave] row-major in
/// B's memory (y must not alias x). Storage outside the matrix is ignored. Blocking.
template <class B, class U>
void apply(B be, banded_view<U> r, const std::remove_const_t<U>* x, std::remove_const_t<U>* y) {
  using T = std::remove_const_t<U>;
  backend::for_each_index(be, std::size_t(r.nspec) * std::size_t(r.nwave),
                          detail::apply_row<T>{banded_view<const T>(r), x, y});
}

/// y = Rᵀ x for every spectrum on backend B (same layout as apply). Blocking.
template <class B, class U>
void apply_transpose(B be, banded_view<U> r, const std::remove_const_t<U>* x, std::remove_const_t<U>* y) {
  using T = std::remove_const_t<U>;
  backend::for_each_index(be, std::size_t(r.nspec) * std::size_t(r.nwave),
                          detail::apply_transpose_column<T>{banded_view<const T>(r), x, y});
}

/// max over spectra and rows of |Σ_j R[i, j] − 1| (desispec normalises every row
/// of R to sum to 1; edge rows sum over the in-matrix elements only). +inf if
/// any row sum is not finite; 0 for an empty batch. Blocking.
template <class B, class U>
std::remove_const_t<U> max_row_sum_deviation(B be, banded_view<U> r) {
  using T = std::remove_const_t<U>;
  return backend::transform_reduce(be, std::size_t(r.nspec) * std::size_t(r.nwave),
                                   detail::row_sum_deviation<T>{banded_view<const T>(r)}, T(0), detail::max_of<T>{});
}

/// Host convenience of max_row_sum_deviation.
template <class T>
T max_row_sum_deviation(const banded<T>& r) {
  return max_row_sum_deviation(backend::cpu{}, r.view());
}

/// Weighted per-row combination for coadds. `in` holds ngroup·nexp matrices,
/// group-major (matrix g·nexp + e is exposure e of group g); w is [ngroup·nexp,
/// nwave], w ≥ 0, one weight per ROW i (output pixel) and exposure, e.g. the ivar
/// of the exposure's flux at pixel i. Writes, for every group,
///   out_g[i, :] = Σ_e w_{g,e}[i] R_{g,e}[i, :] / Σ_e w_{g,e}[i],
/// a zero row where Σ_e w[i] = 0 (flagged 1 in zero_rows [ngroup, nwave] if not
/// null), and zero storage outside the matrix. Returns the number of zero rows.
/// All pointers are in B's memory. Blocking.
template <class B, class U, class T>
std::size_t weighted_combine(B be, banded_view<U> in, int nexp, const T* w, banded_view<T> out,
                             std::uint8_t* zero_rows = nullptr) {
  static_assert(std::is_same_v<std::remove_const_t<U>, T>, "weighted_combine: input, weights and output must share a value type");
  detail::require(nexp > 0 && in.nspec == out.nspec * nexp, "weighted_combine",
                  "input must hold nexp matrices per output matrix (in.nspec = out.nspec * nexp)");
  detail::require(in.ndiag == out.ndiag && in.nwave == out.nwave, "weighted_combine",
                  "input and output must have the same ndiag and nwave");
  const std::size_t nrows = std::size_t(out.nspec) * std::size_t(out.nwave);
  backend::for_each_index(be, nrows, detail::combine_row<T>{banded_view<const T>(in), nexp, w, out, zero_rows});
  return backend::transform_reduce(be, nrows, detail::count_empty_rows<T>{nexp, out.nwave, w}, std::size_t(0),
                                   detail::size_plus{});
}

}  // namespace specx::resolution
