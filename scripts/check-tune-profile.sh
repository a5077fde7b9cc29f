#!/usr/bin/env bash
# Checks what `make tune` left: the profile it wrote under results/ (newer than MARKER) has every
# stage's section and a parallel pick, and `train --profile` runs that pick for a step.
# Usage: scripts/check-tune-profile.sh MARKER MODEL
set -euo pipefail
cd "$(dirname "$0")/.."
marker=$1
model=$2
bin=$(swift build -c release --show-bin-path)

profile=$(find results -maxdepth 1 -name '*.json' -newer "$marker" -print | sort | tail -n 1)
if [ -z "$profile" ]; then
  echo "check-tune-profile: make tune wrote no profile under results/" >&2
  exit 1
fi
echo "check-tune-profile: $profile"
# Every stage's section, read back through the tool's own reader (the pick is checked below).
report=$("$bin/tune" report "$profile")
for part in "ScaleTune probe:" "GEMM tuning:" "Attention tuning:" "pick:"; do
  if ! grep -q "$part" <<<"$report"; then
    echo "check-tune-profile: $profile has no '$part' part: a stage did not run" >&2
    exit 1
  fi
done
# The pick, exported (refused when there is none), then trained for a step with the profile.
"$bin/tune" export "$profile" --format torchrun > /dev/null 2>/dev/null
out=$("$bin/train" --profile "$profile" --model "$model" --steps 1 2>&1)
echo "$out"
if ! grep -q "applied layout" <<<"$out"; then
  echo "check-tune-profile: train --profile did not apply the profile's parallel pick" >&2
  exit 1
fi
