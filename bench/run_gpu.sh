#!/usr/bin/env bash
# One call on a GPU machine does it all: build the CUDA tests and benchmarks,
# run the tests (host and CUDA), run the benchmarks, leave logs in $OUT.
# Prepare once where the network is: bash scripts/prepare-gpu-carry.sh, then run
# this with .gpu carried (device tool: carry [".gpu"]).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
# Build dependencies from Debian packages, unpacked into a private prefix.
prefix=/tmp/specx-deps
mkdir -p $prefix
for f in .gpu/debs/*.deb; do dpkg -x "$f" $prefix; done
export PKG_CONFIG_PATH=$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$prefix
export CMAKE_PREFIX_PATH=$prefix/usr
export LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi -L | tee "$OUT/gpu.txt"
meson setup build-gpu -Dcuda=enabled -Dgpu_tests=enabled -Dbenchmarks=enabled -Dexamples=false 2>&1 | tail -20 | tee "$OUT/setup.log"
meson compile -C build-gpu 2>&1 | tail -40 | tee "$OUT/build.log"
meson test -C build-gpu --print-errorlogs 2>&1 | tee "$OUT/test.log" | tail -40
for b in build-gpu/bench/*-cuda; do
  [[ -x $b ]] || continue
  "$b" --benchmark_min_time=0.5 --benchmark_out="$OUT/$(basename "$b").json" --benchmark_out_format=json \
    2>&1 | tee "$OUT/$(basename "$b").txt"
done
