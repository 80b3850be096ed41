#!/usr/bin/env bash
# Quick start: installs what is missing, builds Lockstep (release), and trains with
# mpirun on this machine. With no arguments: seed-cnn on Fashion-MNIST, 5 epochs, 2 ranks,
# metrics and checkpoints in a new runs/quickstart-DATE-TIME/ directory.
#   scripts/train.sh                              # the default run
#   RANKS=4 scripts/train.sh --model seed-mlp      # any `lockstep train` flags
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
echo "train.sh: building lockstep (release)"
bash scripts/build_release.sh
bin=.build/release/lockstep
ranks=${RANKS:-2}

if [ $# -eq 0 ]; then
    out=runs/quickstart-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$out"
    set -- --metrics "$out/metrics.jsonl" --checkpoint-dir "$out/checkpoints"
    echo "train.sh: metrics and checkpoints go to $out/"
fi
echo "train.sh: scripts/mpirun.sh -np $ranks $bin train $*"
exec bash scripts/mpirun.sh -np "$ranks" "$bin" train "$@"
