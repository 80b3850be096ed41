#!/usr/bin/env bash
# Scaling sweep: runs `lockstep train` for a list of world sizes in strong scaling (fixed
# global batch split over the ranks) and weak scaling (fixed batch per rank), several
# repetitions each, and writes ONE CSV of medians; optionally an accuracy-vs-epoch run per
# world size (a second CSV); then draws the plots (scripts/plot_scaling.py, matplotlib in
# .venv-plots/, created on first use).
#
#   scripts/scaling.sh --quick                               # smoke run, ~1 minute
#   scripts/scaling.sh --model seed-mlp --world-sizes "1 2 4" --repeats 3 --steps 200 \
#       --accuracy-epochs 5 --out runs/scaling-mlp           # a full sweep
#   scripts/scaling.sh --hostfile cluster/hostfile --world-sizes "1 2 4 8 16"   # cluster
#
# Every run writes its JSON-lines metrics under OUT/runs/; the figures come from the
# `end` line (samples_per_s, compute_s, allreduce_s, steps), because with --max-steps a
# run may stop mid-epoch and then writes no epoch line. Per-step times are end-line
# totals divided by steps. Run `scripts/scaling.sh --help` for every option.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

usage() {
    cat <<'EOF'
Usage: scripts/scaling.sh [options]
  --model NAME            model preset or spec (default seed-mlp); several, space-separated
                          ("seed-mlp seed-cnn"), sweep each into OUT/NAME/
  --world-sizes "1 2 4"   world sizes to run (default "1 2 4")
  --modes "strong weak"   which sweeps (default both)
  --repeats N             repetitions per point; the CSV holds median/min/max (default 3)
  --steps N               optimizer steps per run, passed as --max-steps (default 200)
  --strong-batch N        global batch for strong scaling, split over ranks (default 256)
  --weak-batch N          batch per rank for weak scaling (default 64)
  --dataset D             synthetic (default) or fashion-mnist
  --synthetic-count N     training samples for --dataset synthetic (default: steps x
                          global batch, so each run is exactly one epoch and reports
                          test accuracy)
  --accuracy-epochs E     also train E epochs per world size (global batch
                          --strong-batch) and write accuracy.csv (default 0: off)
  --accuracy-count N      synthetic training samples for the accuracy runs (default 16384)
  --hostfile FILE         launch across the hosts of FILE (mpirun --hostfile)
  --mpi-args "ARGS"       extra mpirun arguments, e.g. "--mca btl tcp,self"
  --bin PATH              lockstep binary (default .build/release/lockstep)
  --out DIR               output directory (default runs/scaling-<UTC time>)
  --run-timeout S         seconds before one run is killed as hung (default 900)
  --machine "TEXT"        machine description for the plots' subtitle (default: detected)
  --no-plots              write the CSVs only
  --quick                 smoke run: world sizes "1 2", 1 repeat, 20 steps, 2 accuracy
                          epochs on a small synthetic set
  -h, --help              this text
Outputs in OUT: scaling.csv, runs.csv (every run), accuracy.csv (with
--accuracy-epochs), machine.txt, runs/*.jsonl and *.log, and the PNGs.
EOF
}

die() { echo "scaling.sh: $*" >&2; exit 2; }
is_posint() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }

model=seed-mlp
world_sizes="1 2 4"
modes="strong weak"
repeats=3
steps=200
strong_batch=256
weak_batch=64
dataset=synthetic
synthetic_count=""
accuracy_epochs=0
accuracy_count=16384
hostfile=""
mpi_args=""
bin="$root/.build/release/lockstep"
out=""
run_timeout=900
machine=""
plots=1
quick=0

need() { [ $# -ge 2 ] || die "option $1 needs a value (see --help)"; }
all_args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --model) need "$@"; model=$2; shift 2 ;;
        --world-sizes) need "$@"; world_sizes=$2; shift 2 ;;
        --modes) need "$@"; modes=$2; shift 2 ;;
        --repeats) need "$@"; repeats=$2; shift 2 ;;
        --steps|--max-steps) need "$@"; steps=$2; shift 2 ;;
        --strong-batch) need "$@"; strong_batch=$2; shift 2 ;;
        --weak-batch) need "$@"; weak_batch=$2; shift 2 ;;
        --dataset) need "$@"; dataset=$2; shift 2 ;;
        --synthetic-count) need "$@"; synthetic_count=$2; shift 2 ;;
        --accuracy-epochs) need "$@"; accuracy_epochs=$2; shift 2 ;;
        --accuracy-count) need "$@"; accuracy_count=$2; shift 2 ;;
        --hostfile) need "$@"; hostfile=$2; shift 2 ;;
        --mpi-args) need "$@"; mpi_args=$2; shift 2 ;;
        --bin) need "$@"; bin=$2; shift 2 ;;
        --out) need "$@"; out=$2; shift 2 ;;
        --run-timeout) need "$@"; run_timeout=$2; shift 2 ;;
        --machine) need "$@"; machine=$2; shift 2 ;;
        --no-plots) plots=0; shift ;;
        --quick) quick=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

# Several models (--model "seed-mlp seed-cnn"): one sweep each, into
# OUT/MODEL/, by running this script once per model with the same options.
read -r -a model_list <<<"$model"
if [ ${#model_list[@]} -gt 1 ]; then
    base_out=${out:-$root/runs/scaling-$(date -u +%Y%m%d-%H%M%S)}
    rest=()
    skip=0
    for a in "${all_args[@]}"; do   # drop --model X and --out X; each run gets its own
        if [ $skip -eq 1 ]; then skip=0; continue; fi
        case "$a" in --model|--out) skip=1; continue ;; esac
        rest+=("$a")
    done
    for m in "${model_list[@]}"; do
        echo "scaling.sh: model $m -> $base_out/$m"
        bash "$0" "${rest[@]}" --model "$m" --out "$base_out/$m" || exit $?
    done
    echo "scaling.sh: all models done; results in $base_out/*/"
    exit 0
fi

if [ "$quick" -eq 1 ]; then  # small defaults; options given explicitly still win
    [[ " ${all_args[*]} " == *" --world-sizes "* ]] || world_sizes="1 2"
    [[ " ${all_args[*]} " == *" --repeats "* ]] || repeats=1
    [[ " ${all_args[*]} " == *" --steps "* || " ${all_args[*]} " == *" --max-steps "* ]] || steps=20
    [[ " ${all_args[*]} " == *" --accuracy-epochs "* ]] || accuracy_epochs=2
    [[ " ${all_args[*]} " == *" --accuracy-count "* ]] || accuracy_count=2048
fi

# --- validate everything before starting a single process ------------------------------
read -r -a sizes <<<"$world_sizes"
[ ${#sizes[@]} -gt 0 ] || die "--world-sizes is empty; give e.g. \"1 2 4\""
for n in "${sizes[@]}"; do
    [[ "$n" =~ ^[0-9]+$ ]] || die "world size '$n' is not a number; give e.g. --world-sizes \"1 2 4\""
    [ "$n" -gt 0 ] || die "world size 0 is not allowed: a run needs at least one rank"
done
mapfile -t sizes < <(printf '%s\n' "${sizes[@]}" | sort -n -u)
max_n=${sizes[-1]}
for v in repeats steps strong_batch weak_batch run_timeout; do
    is_posint "${!v}" || die "--${v//_/-} must be a positive integer, got '${!v}'"
done
[[ "$accuracy_epochs" =~ ^[0-9]+$ ]] || die "--accuracy-epochs must be a whole number, got '$accuracy_epochs'"
is_posint "$accuracy_count" || die "--accuracy-count must be a positive integer, got '$accuracy_count'"
[ -z "$synthetic_count" ] || is_posint "$synthetic_count" || die "--synthetic-count must be a positive integer, got '$synthetic_count'"
for m in $modes; do
    case "$m" in strong|weak) ;; *) die "unknown mode '$m' in --modes (use strong and/or weak)" ;; esac
done
case "$dataset" in synthetic|fashion-mnist) ;; *) die "--dataset must be synthetic or fashion-mnist, got '$dataset'" ;; esac
if [[ " $modes " == *" strong "* ]] || [ "$accuracy_epochs" -gt 0 ]; then
    for n in "${sizes[@]}"; do
        [ $((strong_batch % n)) -eq 0 ] || die "strong scaling splits the global batch $strong_batch over the ranks, but $n does not divide it; change --strong-batch or --world-sizes"
    done
fi
[ -x "$bin" ] || die "no lockstep binary at $bin; build it with 'swift build -c release' or pass --bin"

if [ -n "$hostfile" ]; then
    [ -r "$hostfile" ] || die "hostfile '$hostfile' does not exist or is not readable"
    hostfile=$(cd "$(dirname "$hostfile")" && pwd)/$(basename "$hostfile")
    # Slots as mpirun counts them: 'host slots=K' gives K, a bare 'host' line one slot.
    slots=$(awk '{sub(/#.*/, "")} NF == 0 {next}
        { s = 1; for (i = 2; i <= NF; i++) if ($i ~ /^slots=/) { split($i, a, "="); s = a[2] } ; t += s }
        END { print t + 0 }' "$hostfile")
    [ "$slots" -gt 0 ] || die "hostfile '$hostfile' names no hosts"
    [ "$max_n" -le "$slots" ] || die "world size $max_n needs $max_n slots but hostfile '$hostfile' has only $slots; remove the larger sizes from --world-sizes or add hosts"
elif [ -n "${SLURM_JOB_ID:-}" ] && [ -n "${SLURM_NTASKS:-}" ]; then
    [ "$max_n" -le "$SLURM_NTASKS" ] || die "world size $max_n exceeds this Slurm allocation's $SLURM_NTASKS tasks"
fi

[ -n "$out" ] || out="$root/runs/scaling-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out/runs"
out=$(cd "$out" && pwd)

cores=$(nproc)
if [ -z "$machine" ]; then
    cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
    if [ -n "$hostfile" ]; then machine="hosts of $(basename "$hostfile") ($slots slots)"
    elif [ -n "${SLURM_JOB_ID:-}" ]; then machine="Slurm job ${SLURM_JOB_ID} (${SLURM_JOB_NUM_NODES:-?} nodes)"
    else
        machine="${cores}-core machine${cpu:+ ($cpu)}"
        [ "$max_n" -gt "$cores" ] && machine="$machine; ranks > $cores oversubscribe the cores"
    fi
fi
{
    echo "machine: $machine"
    echo "cores: $cores"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "command: scripts/scaling.sh ${all_args[*]}"
    echo "model: $model; dataset: $dataset; steps: $steps; repeats: $repeats; world sizes: ${sizes[*]}"
    echo "openmpi: $(mpirun --version 2>/dev/null | head -n 1)"
} > "$out/machine.txt"

# --- running children: always cleaned up --------------------------------------------------
child=""
cleanup() {
    local status=$?
    if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
        echo "scaling.sh: stopping the running job (pid $child)" >&2
        kill -TERM "$child" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

launch=(bash "$root/scripts/mpirun.sh")
[ -n "$hostfile" ] && launch+=(--hostfile "$hostfile")
if [ -n "$mpi_args" ]; then read -r -a extra_mpi <<<"$mpi_args"; launch+=("${extra_mpi[@]}"); fi

# run_job LOG N ARGS... : one `lockstep train` under mpirun with a timeout; on failure,
# print the log's tail and stop the sweep.
run_job() {
    local log=$1 n=$2; shift 2
    timeout --kill-after=15 "$run_timeout" "${launch[@]}" -np "$n" "$bin" train "$@" --progress lines >"$log" 2>&1 &
    child=$!
    local status=0
    wait "$child" || status=$?
    child=""
    if [ "$status" -ne 0 ]; then
        echo "scaling.sh: run with $n ranks failed (exit $status$([ "$status" -eq 124 ] && echo ", timed out after ${run_timeout}s")); last lines of $log:" >&2
        tail -n 15 "$log" | sed 's/^/    /' >&2
        case "$(tail -n 30 "$log")" in
            *"not enough slots"*) echo "scaling.sh: the hostfile or allocation has too few slots for $n ranks" >&2 ;;
            *"ORTE was unable to reliably start"*|*"ssh:"*|*"Could not resolve"*|*"No route to host"*)
                echo "scaling.sh: a host could not be reached; check the hostfile and that every host accepts ssh without a password" >&2 ;;
        esac
        exit 1
    fi
}

data_args=(--dataset "$dataset")
runs_csv="$out/runs.csv"
echo "model,mode,world_size,batch_per_rank,global_batch,repeat,steps,samples_per_s,compute_s,allreduce_s,train_s,test_acc,metrics" > "$runs_csv"

total_runs=0
for m in $modes; do total_runs=$((total_runs + ${#sizes[@]} * repeats)); done
echo "scaling.sh: $model on $dataset, world sizes ${sizes[*]}, modes: $modes, $repeats repeats x $steps steps ($total_runs runs); output in $out"
echo "scaling.sh: $machine"

k=0
for mode in $modes; do
    for n in "${sizes[@]}"; do
        if [ "$mode" = strong ]; then bpr=$((strong_batch / n)); else bpr=$weak_batch; fi
        gb=$((bpr * n))
        count_args=()
        if [ "$dataset" = synthetic ]; then count_args=(--synthetic-count "${synthetic_count:-$((steps * gb))}"); fi
        for r in $(seq 1 "$repeats"); do
            k=$((k + 1))
            tag="$mode-n$n-r$r"
            metrics="$out/runs/$tag.jsonl"
            rm -f "$metrics"
            printf 'scaling.sh: [%d/%d] %-6s %3d ranks x batch %4d (global %5d), repeat %d ... ' "$k" "$total_runs" "$mode" "$n" "$bpr" "$gb" "$r"
            run_job "$out/runs/$tag.log" "$n" --model "$model" "${data_args[@]}" "${count_args[@]}" \
                --batch-size "$bpr" --epochs 1 --max-steps "$steps" --seed $((41 + r)) --metrics "$metrics"
            python3 - "$metrics" "$model" "$mode" "$n" "$bpr" "$gb" "$r" >>"$runs_csv" <<'PY'
import json, sys
path, model, mode, n, bpr, gb, r = sys.argv[1:]
end, acc = None, ""
for line in open(path):
    d = json.loads(line)
    if d.get("event") == "epoch" and "test_acc" in d:
        acc = d["test_acc"]
    if d.get("event") == "end":
        end = d
if end is None:
    sys.exit("scaling.sh: %s has no end line" % path)
acc = end.get("test_acc", acc)
print(",".join(str(x) for x in [model, mode, n, bpr, gb, r, end["steps"], end["samples_per_s"],
      end["compute_s"], end["allreduce_s"], end.get("train_s", ""), acc, path]))
PY
            tail -n 1 "$runs_csv" | awk -F, '{printf "%.0f samples/s\n", $8}'
        done
    done
done

# --- aggregate: medians per (mode, world size) -----------------------------------------------
python3 - "$runs_csv" "$out/scaling.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["mode"], int(r["world_size"])), []).append(r)
out = []
for mode in sorted({m for m, _ in groups}):
    sizes = sorted(n for m, n in groups if m == mode)
    base_n = sizes[0]
    base = statistics.median(float(r["samples_per_s"]) for r in groups[(mode, base_n)])
    for n in sizes:
        g = groups[(mode, n)]
        sps = [float(r["samples_per_s"]) for r in g]
        med = statistics.median(sps)
        # Speedup against the smallest world size measured (1 rank in a normal sweep),
        # scaled so that a sweep starting at N0 ranks still reads as "x times one rank".
        speedup = base_n * med / base
        comp = statistics.median(float(r["compute_s"]) / int(r["steps"]) for r in g)
        comm = statistics.median(float(r["allreduce_s"]) / int(r["steps"]) for r in g)
        accs = [float(r["test_acc"]) for r in g if r["test_acc"] != ""]
        out.append(dict(model=g[0]["model"], world_size=n, mode=mode,
                        batch_per_rank=g[0]["batch_per_rank"], global_batch=g[0]["global_batch"],
                        repeats=len(g), samples_per_s_median="%.1f" % med,
                        samples_per_s_min="%.1f" % min(sps), samples_per_s_max="%.1f" % max(sps),
                        speedup="%.3f" % speedup, efficiency="%.3f" % (speedup / n),
                        compute_s="%.6f" % comp, allreduce_s="%.6f" % comm,
                        test_acc=("%.4f" % statistics.median(accs)) if accs else ""))
cols = ["model", "world_size", "mode", "batch_per_rank", "global_batch", "repeats",
        "samples_per_s_median", "samples_per_s_min", "samples_per_s_max", "speedup",
        "efficiency", "compute_s", "allreduce_s", "test_acc"]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(out)
PY
echo "scaling.sh: wrote $out/scaling.csv"
column -s, -t < "$out/scaling.csv" || cat "$out/scaling.csv"

# --- accuracy vs epoch, one run per world size (same global batch for every size) ------------
if [ "$accuracy_epochs" -gt 0 ]; then
    acc_csv="$out/accuracy.csv"
    echo "model,world_size,global_batch,batch_per_rank,epoch,step,test_acc,test_loss,train_acc,train_loss,samples_per_s,epoch_s" > "$acc_csv"
    for n in "${sizes[@]}"; do
        bpr=$((strong_batch / n))
        count_args=()
        if [ "$dataset" = synthetic ]; then count_args=(--synthetic-count "$accuracy_count"); fi
        metrics="$out/runs/accuracy-n$n.jsonl"
        rm -f "$metrics"
        echo "scaling.sh: accuracy run, $n ranks x batch $bpr, $accuracy_epochs epochs ..."
        run_job "$out/runs/accuracy-n$n.log" "$n" --model "$model" "${data_args[@]}" "${count_args[@]}" \
            --batch-size "$bpr" --epochs "$accuracy_epochs" --seed 42 --metrics "$metrics"
        python3 - "$metrics" "$model" "$n" "$strong_batch" "$bpr" >>"$acc_csv" <<'PY'
import json, sys
path, model, n, gb, bpr = sys.argv[1:]
for line in open(path):
    d = json.loads(line)
    if d.get("event") == "epoch":
        print(",".join(str(x) for x in [model, n, gb, bpr, d["epoch"], d["step"], d["test_acc"], d["test_loss"],
              d["train_acc"], d["train_loss"], d["samples_per_s"], d["epoch_s"]]))
PY
    done
    echo "scaling.sh: wrote $acc_csv"
fi

# --- plots -----------------------------------------------------------------------------------
if [ "$plots" -eq 1 ]; then
    venv="$root/.venv-plots"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
        echo "scaling.sh: creating $venv with matplotlib (scripts/requirements-plots.txt)"
        if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$root/scripts/requirements-plots.txt"; }; then
            echo "scaling.sh: could not install matplotlib; the CSVs are in $out; plot later with scripts/plot_scaling.py" >&2
            exit 1
        fi
    fi
    plot_args=("$out/scaling.csv" --out "$out" --machine "$machine"
               --note "$dataset data; $steps steps per run, median of $repeats; compute and all-reduce per step on rank 0")
    [ -f "$out/accuracy.csv" ] && plot_args+=(--accuracy "$out/accuracy.csv")
    "$venv/bin/python" "$root/scripts/plot_scaling.py" "${plot_args[@]}"
fi
echo "scaling.sh: done; results in $out"
