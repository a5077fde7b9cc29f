#!/usr/bin/env bash
# Installs the system libraries ScaleTune links against, when pkg-config cannot find them:
# libopenblas-dev (BLAS), libhwloc-dev (topology and thread binding) and pkg-config itself.
set -euo pipefail

packages=(pkg-config libopenblas-dev libhwloc-dev)

have_all() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hwloc openblas
}

if have_all; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: pkg-config cannot find hwloc and openblas, and this system has no apt-get." >&2
  echo "Install them with your package manager (e.g. dnf install hwloc-devel openblas-devel pkgconf," >&2
  echo "pacman -S hwloc openblas pkgconf), or point PKG_CONFIG_PATH at their .pc files." >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "error: installing ${packages[*]} needs root, and sudo is not available." >&2
    exit 1
  fi
fi

echo "Installing ${packages[*]} (apt-get)…" >&2
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"

if ! have_all; then
  echo "error: installed ${packages[*]}, but pkg-config still cannot find hwloc and openblas." >&2
  exit 1
fi
