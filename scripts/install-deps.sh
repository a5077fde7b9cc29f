#!/usr/bin/env bash
# Installs the system libraries ScaleTune uses, when they are missing: libopenblas-dev (BLAS) and
# libhwloc-dev (topology and thread binding), linked through pkg-config (installed too); and the
# two libraries the GEMM tuner measures beside them, opened at run time: libblis-dev (BLIS) and
# libdnnl-dev (oneDNN, whose header the loader is compiled against); and Open MPI (openmpi-bin,
# libopenmpi-dev: the trainer's ranks as processes across nodes, through mpirun or srun); and, for
# the tests that start a Slurm of their own on fake nodes, Slurm's daemons and client (started by
# hand, never as services).
set -euo pipefail

packages=(pkg-config libopenblas-dev libhwloc-dev libblis-dev libdnnl-dev openmpi-bin libopenmpi-dev slurmctld slurmd slurm-client slurm-wlm-basic-plugins)

have_library() {
  /sbin/ldconfig -p 2>/dev/null | grep -q "$1" || [ -e "/usr/lib/x86_64-linux-gnu/$1" ] || [ -e "/usr/lib64/$1" ]
}

have_all() {
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists hwloc openblas ompi-c && command -v mpirun >/dev/null 2>&1 \
    && [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v srun >/dev/null 2>&1 \
    && [ -e /usr/include/oneapi/dnnl/dnnl.h ] && have_library libdnnl.so.2 && have_library libblis.so.4
}

if have_all; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: hwloc, openblas, Open MPI, BLIS or oneDNN is missing, and this system has no apt-get." >&2
  echo "Install them with your package manager (e.g. dnf install hwloc-devel openblas-devel openmpi-devel blis-devel onednn-devel pkgconf)," >&2
  echo "or point PKG_CONFIG_PATH at the .pc files of hwloc, openblas and ompi-c (BLIS and oneDNN are optional: without them the tuner prunes them)." >&2
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
  echo "error: installed ${packages[*]}, but hwloc, openblas, Open MPI, BLIS or oneDNN is still missing." >&2
  exit 1
fi
