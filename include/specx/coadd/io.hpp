// DESI spectra/coadd files ↔ coadd (includes CFITSIO through specx::io; kept out
// of coadd.hpp). desispec's desi_coadd_spectra in two calls:
//   io::spectra_data s = io::read_spectra("spectra-….fits");
//   auto c = coadd::coadd_spectra_file(be, s);        // across exposures, per band
//   io::write_spectra("coadd-….fits", c);
//   auto m = coadd::coadd_cameras_file(be, c);        // one "BRZ" band
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../coadd.hpp"
#include "../io.hpp"

namespace specx::coadd {

/// Copies a file band to backend B (owning spectra; a missing RESOLUTION stays
/// absent and means identity, a missing MASK means all good).
template <backend::Backend B>
spectra<B, float> upload(B be, const io::band_data& b) {
  spectra<B, float> s;
  s.band = b.name;
  s.wave.assign(b.wavelength.begin(), b.wavelength.end());
  s.nspec = int(b.nspec());
  s.nwave = int(b.nwave());
  s.flux = backend::to_backend(be, std::span<const float>(b.flux.data(), b.flux.size()));
  s.ivar = backend::to_backend(be, std::span<const float>(b.ivar.data(), b.ivar.size()));
  if (b.mask) s.mask = backend::to_backend(be, std::span<const std::int32_t>(b.mask->data(), b.mask->size()));
  else s.mask = backend::make_vector<std::int32_t>(be, b.flux.size());
  if (b.resolution) {
    s.resolution.storage = backend::to_backend(be, std::span<const float>(b.resolution->data(), b.resolution->size()));
    s.resolution.nspec = s.nspec;
    s.resolution.ndiag = int(b.resolution->shape()[1]);
    s.resolution.nwave = s.nwave;
  }
  return s;
}

/// The view of uploaded spectra, with a null resolution when the file had none.
template <class B, class T>
spectra_view<T> view_of(const spectra<B, T>& s) {
  auto v = s.view();
  if (s.resolution.nspec == 0) v.resolution = {};
  return v;
}

/// Copies coadded spectra back into a file band (DESI units strings kept default).
template <backend::Backend B, class T>
io::band_data to_band(B be, const spectra<B, T>& s, std::string name = {}) {
  io::band_data b;
  b.name = name.empty() ? s.band : std::move(name);
  for (auto& ch : b.name) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  const std::size_t ns = std::size_t(s.nspec), nw = std::size_t(s.nwave);
  b.wavelength = xt::xtensor<double, 1>::from_shape({nw});
  std::copy(s.wave.begin(), s.wave.end(), b.wavelength.begin());
  auto copy2 = [&](const auto& v, auto& dst) {
    const auto h = backend::to_host(be, v);
    dst = std::decay_t<decltype(dst)>::from_shape({ns, nw});
    std::copy(h.begin(), h.end(), dst.begin());
  };
  copy2(s.flux, b.flux);
  copy2(s.ivar, b.ivar);
  xt::xtensor<std::int32_t, 2> m;
  copy2(s.mask, m);
  b.mask = std::move(m);
  if (s.resolution.nspec > 0) {
    const auto h = backend::to_host(be, s.resolution.storage);
    xt::xtensor<float, 3> r = xt::xtensor<float, 3>::from_shape({ns, std::size_t(s.resolution.ndiag), nw});
    std::copy(h.begin(), h.end(), r.begin());
    b.resolution = std::move(r);
  }
  return b;
}

namespace detail {
/// The rows `rows` of table t, in that order (every column type).
inline io::table select_rows(const io::table& t, const std::vector<int>& rows) {
  io::table out;
  out.keywords = t.keywords;
  out.nrows_if_empty = rows.size();
  for (const auto& c : t.columns) {
    io::table_column nc = c;
    std::visit(
        [&](auto& d) {
          using D = std::decay_t<decltype(d)>;
          if constexpr (std::is_same_v<D, std::vector<std::string>>) {
            D o;
            for (int r : rows) o.push_back(d[std::size_t(r)]);
            d = std::move(o);
          } else {
            D o = D::from_shape({rows.size(), d.shape()[1]});
            for (std::size_t i = 0; i < rows.size(); ++i)
              for (std::size_t k = 0; k < d.shape()[1]; ++k) o(i, k) = d(std::size_t(rows[i]), k);
            d = std::move(o);
          }
        },
        nc.data);
    out.columns.push_back(std::move(nc));
  }
  return out;
}
}  // namespace detail

/// desispec's coadd of a spectra file: targets grouped by FIBERMAP TARGETID in
/// order of first appearance, every band coadded across its exposures
/// (coadd_exposures). FIBERMAP: the first row of each target plus COADD_NUMEXP
/// (int16, exposures with data); EXP_FIBERMAP: the input FIBERMAP; SCORES dropped
/// (desispec recomputes them). Without FIBERMAP every spectrum is its own target.
/// Throws invalid_argument on inconsistent inputs. Blocking.
template <backend::Backend B>
io::spectra_data coadd_spectra_file(B be, const io::spectra_data& in, const exposure_options& opt = {}) {
  const std::size_t n = in.nspec();
  std::vector<std::int64_t> tid(n);
  if (in.fibermap && in.fibermap->has("TARGETID")) {
    const auto t = in.fibermap->values<std::int64_t>("TARGETID");
    std::copy(t.begin(), t.end(), tid.begin());
  } else {
    for (std::size_t i = 0; i < n; ++i) tid[i] = std::int64_t(i);
  }
  std::vector<std::int64_t> targets;
  const auto map = map_by_targetid({tid}, &targets);
  io::spectra_data out;
  out.primary = in.primary;
  out.source = in.source;
  for (const auto& b : in.bands) {
    const auto up = upload(be, b);
    const spectra_view<float> v = view_of(up);
    auto c = coadd_exposures(be, std::span<const spectra_view<float>>(&v, 1), std::span<const double>(up.wave), map, opt);
    if (!b.resolution) c.resolution = {};
    auto ob = to_band(be, c, b.name);
    ob.wavelength_unit = b.wavelength_unit;
    ob.flux_unit = b.flux_unit;
    ob.ivar_unit = b.ivar_unit;
    if (!b.mask) ob.mask.reset();
    out.bands.push_back(std::move(ob));
  }
  if (in.fibermap) {
    std::vector<int> first;
    xt::xtensor<std::int16_t, 1> numexp = xt::xtensor<std::int16_t, 1>::from_shape({targets.size()});
    for (int g = 0; g < map.ngroup; ++g) {
      first.push_back(map.slot_row[std::size_t(g) * map.nexp]);
      int k = 0;
      for (int e = 0; e < map.nexp; ++e) k += map.slot_frame[std::size_t(g) * map.nexp + e] >= 0 ? 1 : 0;
      numexp(std::size_t(g)) = std::int16_t(k);
    }
    out.fibermap = detail::select_rows(*in.fibermap, first);
    if (!out.fibermap->has("COADD_NUMEXP")) out.fibermap->add_column("COADD_NUMEXP", numexp);
    out.exp_fibermap = in.exp_fibermap ? in.exp_fibermap : in.fibermap;
  }
  return out;
}

/// desispec's coadd_cameras on a (coadd) file: one band named after the input bands
/// in wavelength order ("BRZ"), see coadd_cameras. FIBERMAP, EXP_FIBERMAP, SCORES
/// are copied. Blocking.
template <backend::Backend B>
io::spectra_data coadd_cameras_file(B be, const io::spectra_data& in, const camera_options& opt = {}) {
  std::vector<spectra<B, float>> ups;
  std::vector<camera_view<float>> cams;
  bool any_res = false;
  for (const auto& b : in.bands) {
    ups.push_back(upload(be, b));
    any_res = any_res || b.resolution.has_value();
  }
  for (const auto& u : ups) cams.push_back({u.band, u.wave, view_of(u)});
  auto c = coadd_cameras(be, std::span<const camera_view<float>>(cams), opt);
  if (!any_res) c.resolution = {};
  io::spectra_data out;
  out.primary = in.primary;
  out.fibermap = in.fibermap;
  out.exp_fibermap = in.exp_fibermap;
  out.scores = in.scores;
  out.source = in.source;
  out.bands.push_back(to_band(be, c));
  return out;
}

}  // namespace specx::coadd
