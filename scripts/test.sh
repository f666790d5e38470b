#!/usr/bin/env bash
# Build and run the whole test suite: every host backend (cpu, thrust-omp), and the
# CUDA tests where nvcc exists (all of them where a GPU is seen, else a compile
# check of four: meson option gpu_tests); then the host suite again under
# -Db_sanitize=address,undefined in ./build-asan (SPECX_SANITIZE=0 skips that).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
status=0
meson test -C "${SPECX_BUILD_DIR:-build}" --print-errorlogs --num-processes 2 || status=$?
if [[ "${SPECX_SANITIZE:-1}" == 1 ]]; then
  # -O1, as the sanitizers' authors advise: at -O3, UBSan's checks made this build
  # take about three times as long to compile, for runs about half as long.
  SPECX_BUILD_DIR=build-asan SPECX_MESON_ARGS="-Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 -Dcuda=disabled -Dbenchmarks=disabled -Dexamples=false" \
    bash scripts/build.sh
  # One OpenMP thread: GCC 12's libubsan can miss a suppression (tests/ubsan.supp)
  # when Thrust's OpenMP workers report the same site concurrently, which made
  # this run fail about once in six on 4 threads; with one thread it never did
  # (60/60). The multi-threaded paths are exercised by the run above.
  OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/ubsan.supp \
    meson test -C build-asan --print-errorlogs --num-processes 2 || status=$?
fi
exit $status
