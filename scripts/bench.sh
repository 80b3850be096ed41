#!/usr/bin/env bash
# Produces the figures of docs/PERFORMANCE.md in one go (release build, one BLAS thread per
# rank), as medians of repeated runs taken in one run:
#   1. lockstep bench step: single-process training samples/s and % of sgemm peak;
#   2. training throughput with 1 and 2 ranks (Fashion-MNIST, batch 64 per rank), both
#      all-reduce strategies, with the all-reduce wait as a share of training time;
#   3. lockstep bench allreduce with 2 ranks: the Swift wrapper against plain C.
# Usage: scripts/bench.sh [--reps N] [--steps N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
reps=5; steps=400; out=runs/bench-$(date +%Y%m%d-%H%M%S)
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) reps=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "bench.sh: unknown argument '$1' (use --reps N, --steps N, --out DIR)" >&2; exit 2 ;;
    esac
done
case "$reps$steps" in *[!0-9]*) echo "bench.sh: --reps and --steps take whole numbers" >&2; exit 2 ;; esac
[ "$reps" -ge 1 ] && [ "$steps" -ge 1 ] || { echo "bench.sh: --reps and --steps must be at least 1" >&2; exit 2; }

bash scripts/bootstrap.sh >/dev/null
bash scripts/build_release.sh
bin=.build/release/lockstep
mkdir -p "$out"
echo "bench.sh: results in $out ($(nproc) cores, $reps repetitions, $steps steps per training run)"

echo "== 1. single-process step (lockstep bench step, batch 64)"
for m in seed-mlp seed-cnn; do
    "$bin" bench step --model "$m" --batch-size 64 --seconds 4 | tee "$out/step-$m.txt"
done

echo "== 2. training throughput (Fashion-MNIST, batch 64 per rank, $steps steps, median of $reps)"
printf "%-9s %5s %-9s %10s %10s %10s %9s\n" model ranks allreduce "samples/s" min max "wait %" | tee "$out/train.txt"
for m in seed-mlp seed-cnn; do
    for np in 1 2; do
        modes=(auto); [ "$np" -gt 1 ] && modes=(auto overlap blocking)
        for mode in "${modes[@]}"; do
            results=()
            for _ in $(seq 1 "$reps"); do
                rm -f "$out/run.jsonl"
                bash scripts/mpirun.sh -np "$np" "$bin" train --model "$m" --epochs 1 --max-steps "$steps" \
                    --allreduce "$mode" --quiet --metrics "$out/run.jsonl" > /dev/null
                results+=("$(tail -n 1 "$out/run.jsonl" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["samples_per_s"], 100*d["allreduce_s"]/d["train_s"])')")
            done
            printf '%s\n' "${results[@]}" | python3 -c "
import sys, statistics as st
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
s = [r[0] for r in rows]; w = [r[1] for r in rows]
print('%-9s %5d %-9s %10.0f %10.0f %10.0f %9.1f' % ('$m', $np, '$mode', st.median(s), min(s), max(s), st.median(w)))
" | tee -a "$out/train.txt"
        done
    done
done
rm -f "$out/run.jsonl"

echo "== 3. all-reduce: Swift wrapper vs C MPI_Allreduce (2 ranks)"
bash scripts/mpirun.sh -np 2 "$bin" bench allreduce --json "$out/allreduce.json" | tee "$out/allreduce.txt"
echo "bench.sh: done; figures in $out"
