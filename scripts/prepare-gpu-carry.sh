#!/usr/bin/env bash
# Prepare the folder .gpu/ that a GPU machine without network needs: the Debian
# packages of specx's build dependencies (downloaded here, unpacked there by
# bench/run_gpu.sh). The GPU machine already has nvcc, CMake, Meson and ninja.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/debs
grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
cd .gpu/debs
apt-get download libeigen3-dev libxtensor-dev xtl-dev libcfitsio-dev libcfitsio10 \
  doctest-dev libbenchmark-dev libbenchmark1debian >/dev/null
ls -la
