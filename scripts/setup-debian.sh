#!/usr/bin/env bash
# Install what specx needs from Debian's packages (Debian 12 "bookworm" or later).
# Safe to run twice: installs only what is missing. Needs root or sudo.
set -euo pipefail

packages=(
  g++ pkg-config cmake meson ninja-build      # toolchain (OpenMP comes with gcc)
  libeigen3-dev libxtensor-dev xtl-dev        # host linear algebra, host N-d arrays
  libcfitsio-dev                              # FITS I/O
  libthrust-dev                               # Thrust host systems (CUDA's CCCL is used instead when installed)
  doctest-dev libbenchmark-dev                # tests, benchmarks
  libcli11-dev libfmt-dev libspdlog-dev       # the example driver
  libopenmpi-dev openmpi-bin                  # multi-node runs of the driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup-debian: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "setup-debian: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup-debian: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
