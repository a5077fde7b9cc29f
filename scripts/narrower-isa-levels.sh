#!/usr/bin/env bash
# Prints the SCALETUNE_ISA levels below this CPU's widest vector ISA, widest first: "avx2 sse2" on
# an AVX-512 CPU, "sse2" on an AVX2 one, nothing on a baseline x86-64 (or a CPU that is not x86).
set -euo pipefail
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { [[ " $flags " == *" $1 "* ]]; }
if has avx512f; then
  echo "avx2 sse2"
elif has avx2; then
  echo "sse2"
fi
