// specx resolution: banded resolution matrices in DESI's diagonal storage
// ([nspec, ndiag, nwave], row d = offset ndiag/2 − d, column-indexed like
// scipy.sparse.dia_matrix), applied on any backend. See resolution/banded.hpp
// and docs/pitfalls.md.
#pragma once

#include "config.hpp"
#include "resolution/banded.hpp"
