#!/usr/bin/env bash
# Builds the `lockstep` product in release mode (what train.sh and bench.sh run): prints
# the build's last line, or its errors and a non-zero exit when it fails.
#   bash scripts/build_release.sh      # then run .build/release/lockstep
set -euo pipefail
cd "$(dirname "$0")/.."
if ! log=$(swift build -c release --product lockstep 2>&1); then
    echo "$log" | grep -E "error" | head -n 20
    echo "build_release.sh: the build failed" >&2
    exit 1
fi
echo "$log" | tail -n 1
