// The amplifier geometry of a raw CCD frame, from the header keywords DESI's
// raw data carry (CCDSEC, DATASEC, BIASSEC, ORSEC per amplifier; GAIN, RDNOISE,
// SATULEV). Sections are IRAF/FITS strings "[x0:x1,y0:y1]": 1-based, inclusive,
// x = column (NAXIS1) first — parsed into 0-based half-open rectangles.
// No CFITSIO here: keywords come through a lookup callable (io/calib_files.hpp
// adapts a FITS header, the simulator's cards adapt directly).
#pragma once

#include <cctype>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "../config.hpp"
#include "../error.hpp"

namespace specx::preproc {

/// Columns [x0, x1), rows [y0, y1), 0-based.
struct section {
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  SPECX_HOST_DEVICE int nx() const { return x1 - x0; }
  SPECX_HOST_DEVICE int ny() const { return y1 - y0; }
  SPECX_HOST_DEVICE bool contains(int x, int y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
  bool empty() const { return x1 <= x0 || y1 <= y0; }
};

/// Parses "[x0:x1,y0:y1]" (spaces allowed) into a 0-based half-open section.
/// Throws invalid_argument for anything else (reversed ranges included).
inline section parse_section(const std::string& s) {
  std::string t;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) t += c;
  auto fail = [&]() -> section { throw invalid_argument("specx::preproc::parse_section: cannot parse '" + s + "'"); };
  if (t.size() < 9 || t.front() != '[' || t.back() != ']') return fail();
  int v[4];
  std::size_t pos = 1;
  const char seps[4] = {':', ',', ':', ']'};
  for (int k = 0; k < 4; ++k) {
    const std::size_t e = t.find(seps[k], pos);
    if (e == std::string::npos || e == pos) return fail();
    char* end = nullptr;
    const std::string num = t.substr(pos, e - pos);
    const long x = std::strtol(num.c_str(), &end, 10);
    if (*end != '\0' || x < 1) return fail();
    v[k] = int(x);
    pos = e + 1;
  }
  if (v[1] < v[0] || v[3] < v[2]) return fail();
  return {v[0] - 1, v[1], v[2] - 1, v[3]};
}

/// One amplifier: where its pixels go in the image (ccdsec) and come from in the
/// raw frame (datasec), its overscan columns (biassec) and optional overscan rows
/// (orsec), its nominal gain (e⁻/ADU), header read noise (e⁻, 0 if absent) and
/// saturation level (ADU).
struct amplifier {
  std::string name;
  section ccdsec, datasec, biassec;
  std::optional<section> orsec;
  double gain = 1.0;
  double rdnoise_header = 0.0;
  double saturation_adu = 65535.0;
};

using amplifiers = std::vector<amplifier>;

/// The amplifiers described by the keywords `lookup(key)` returns (nullopt when
/// absent): amplifier names A–D (DESI) or 1–4 (early DESI headers), those with a
/// CCDSEC keyword. DATASEC, BIASSEC and GAIN are required for each: their absence
/// throws missing_entry naming the keyword. The data and CCD sections must have
/// the same size (invalid_argument).
template <class Lookup>
amplifiers amplifiers_from_keywords(Lookup&& lookup) {
  amplifiers out;
  for (const char* names : {"ABCD", "1234"}) {
    for (int a = 0; a < 4; ++a) {
      const std::string n(1, names[a]);
      const auto ccd = lookup("CCDSEC" + n);
      if (!ccd) continue;
      auto req = [&](const std::string& key) {
        auto v = lookup(key);
        if (!v) throw missing_entry("", "", "", "raw header keyword " + key + " is missing (amplifier " + n + ")");
        return *v;
      };
      amplifier amp;
      amp.name = n;
      amp.ccdsec = parse_section(*ccd);
      amp.datasec = parse_section(req("DATASEC" + n));
      amp.biassec = parse_section(req("BIASSEC" + n));
      if (auto o = lookup("ORSEC" + n)) amp.orsec = parse_section(*o);
      amp.gain = std::strtod(req("GAIN" + n).c_str(), nullptr);
      if (auto r = lookup("RDNOISE" + n)) amp.rdnoise_header = std::strtod(r->c_str(), nullptr);
      if (auto s = lookup("SATULEV" + n)) amp.saturation_adu = std::strtod(s->c_str(), nullptr);
      if (!(amp.gain > 0)) throw invalid_argument("specx::preproc: GAIN" + n + " must be > 0");
      if (amp.ccdsec.nx() != amp.datasec.nx() || amp.ccdsec.ny() != amp.datasec.ny())
        throw invalid_argument("specx::preproc: CCDSEC" + n + " and DATASEC" + n + " differ in size");
      out.push_back(std::move(amp));
    }
    if (!out.empty()) break;
  }
  if (out.empty()) throw missing_entry("", "", "", "raw header has no CCDSEC{A..D} keywords: no amplifier geometry");
  return out;
}

}  // namespace specx::preproc
