#!/usr/bin/env bash
# Configure (once) and build specx in ./build. Extra arguments are build targets.
# The CUDA toolkit, when installed in /usr/local/cuda, is put on PATH so that the
# CUDA tests are compiled too (they run only where a GPU is present).
set -euo pipefail
cd "$(dirname "$0")/.."
builddir=${SPECX_BUILD_DIR:-build}
if [[ -x /usr/local/cuda/bin/nvcc ]] && ! command -v nvcc >/dev/null; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if [[ ! -f $builddir/build.ninja ]]; then
  meson setup "$builddir" ${SPECX_MESON_ARGS:-}
fi
meson compile -C "$builddir" "$@"
