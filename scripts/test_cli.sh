#!/usr/bin/env bash
# End-to-end tests of the `lockstep` command: bad input gives a clear error and a
# non-zero exit on every rank, never a crash or a hang; a killed rank takes the job down;
# failed runs leave existing checkpoints alone; checkpoints load in Python.
# Usage: scripts/test_cli.sh [path/to/lockstep]   (default: the debug build)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-$root/.build/debug/lockstep}
mpirun_sh="$root/scripts/mpirun.sh"
work=$(mktemp -d /tmp/lockstep-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0; failed=0

ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/      /' | head -n 15; }

# expect_error NAME PATTERN CMD... : CMD must exit non-zero within 120 s and print PATTERN.
expect_error() {
    local name=$1 pattern=$2; shift 2
    local out status
    out=$(timeout 120 "$@" 2>&1); status=$?
    if [ $status -eq 124 ]; then bad "$name (hung: killed after 120 s)" "$out"
    elif [ $status -eq 0 ]; then bad "$name (exit 0)" "$out"
    elif ! grep -qE -- "$pattern" <<<"$out"; then bad "$name (message lacks /$pattern/)" "$out"
    else ok "$name"; fi
}

# expect_user_error NAME PATTERN CMD... : the contract for bad input. CMD must exit with
# status 2 within 120 s, print exactly one line on stderr (from one rank, even under
# mpirun), without control characters, matching PATTERN; never a crash or a backtrace.
# Under mpirun, only lockstep's lines count (mpirun adds its own notice of the exit code).
expect_user_error() {
    local name=$1 pattern=$2; shift 2
    local err status lines
    err=$(timeout 120 "$@" 2>&1 >/dev/null); status=$?
    if [ "$1" = bash ] && [ "$2" = "$mpirun_sh" ]; then err=$(grep -v -e '^---*$' -e '^$' <<<"$err" | grep -e 'lockstep' -e 'rror' -e 'signal'); fi
    lines=$(printf '%s' "$err" | grep -c '')
    if [ $status -eq 124 ]; then bad "$name (hung: killed after 120 s)" "$err"
    elif [ $status -ne 2 ]; then bad "$name (exit $status, expected 2)" "$err"
    elif [ "$lines" -ne 1 ]; then bad "$name ($lines lines on stderr, expected 1)" "$err"
    elif LC_ALL=C grep -q '[[:cntrl:]]' <<<"$err"; then bad "$name (control characters on stderr)" "$(cat -v <<<"$err")"
    elif ! grep -qE -- "$pattern" <<<"$err"; then bad "$name (message lacks /$pattern/)" "$err"
    else ok "$name"; fi
}

small=(--dataset synthetic --synthetic-count 512 --model mlp:784,32,10 --batch-size 32 --progress lines)

# --- flags and configuration -------------------------------------------------------
expect_error "negative learning rate is refused, naming it" "lr -0.1" "$bin" train "${small[@]}" --lr=-0.1
expect_error "momentum >= 1 is refused" "momentum 1.5" "$bin" train "${small[@]}" --momentum 1.5
expect_error "unknown model name is refused, naming it" "nope" "$bin" train "${small[@]}" --model nope
expect_error "malformed model spec is refused" "mlp:784,,10" "$bin" train "${small[@]}" --model mlp:784,,10
expect_error "bad schedule string is refused" "schedule" "$bin" train "${small[@]}" --schedule step:x
expect_error "unknown flag is refused" "Unknown option" "$bin" train --no-such-flag
printf 'lr: 0.1\nbatchsize: 3\n' > "$work/bad.yaml"
expect_error "unknown key in a YAML config is refused" "unknown key 'batchsize'" "$bin" train "${small[@]}" --config "$work/bad.yaml"
printf 'epochs: [1\n' > "$work/broken.yaml"
expect_error "broken YAML is refused" "not valid YAML" "$bin" train "${small[@]}" --config "$work/broken.yaml"
printf 'epochs: 1\nlr: 0.02\nmodel: mlp:784,16,10\ndataset: synthetic\nsynthetic-count: 256\nbatch-size: 32\n' > "$work/good.yaml"
out=$(timeout 120 "$bin" train --config "$work/good.yaml" --lr 0.03 --progress lines 2>&1)
if [ $? -eq 0 ] && grep -q "mlp:784,16,10" <<<"$out" && grep -q "lr 0.03" <<<"$out"; then ok "YAML config is read and flags win over it"
else bad "YAML config is read and flags win over it" "$out"; fi
printf 'epochs: 1\nmodel: mlp:784,16,10\ndataset: synthetic\nsynthetic-count: 256\nbatch-size: 32\noptimizer: adamw\nschedule: step:2:0.5\nloss: mse\nsync-bn: true\nnormalize: false\n' > "$work/named.yaml"
out=$(timeout 120 "$bin" train --config "$work/named.yaml" --loss cross-entropy --progress lines 2>&1)
if [ $? -eq 0 ] && grep -q "adamw lr 0.05, schedule step:2:0.5, loss cross-entropy" <<<"$out"; then ok "YAML config sets named settings (optimizer, schedule, loss) and a flag wins"
else bad "YAML config sets named settings" "$out"; fi
expect_user_error "an unknown key in a YAML config: one line naming the key and the file" "config $work/bad.yaml: unknown key 'batchsize'" "$bin" train "${small[@]}" --config "$work/bad.yaml"
printf 'epochs: many\n' > "$work/type.yaml"
expect_user_error "a YAML value of the wrong type names the key and the file" "config $work/type.yaml: 'epochs' should be a Int" "$bin" train "${small[@]}" --config "$work/type.yaml"
printf 'optimizer: rmsprop\n' > "$work/opt.yaml"
expect_user_error "an unknown optimizer in a YAML config lists the registry" "config $work/opt.yaml: --optimizer 'rmsprop' is not known; use sgd, adamw" "$bin" train "${small[@]}" --config "$work/opt.yaml"
expect_user_error "an unknown --optimizer lists the registry" "--optimizer 'rmsprop' is not known; use sgd, adamw" "$bin" train "${small[@]}" --optimizer rmsprop
expect_user_error "an unknown --dataset lists the registry" "--dataset 'cifar' is not known; use fashion-mnist, mnist, csv, npy, synthetic" "$bin" train --dataset cifar
expect_user_error "a malformed --schedule lists the forms" "--schedule 'step:x': schedule .*use constant, cosine" "$bin" train "${small[@]}" --schedule step:x
expect_user_error "a rule between two settings names both flags" "give either --validation-split or --validation-data, not both" "$bin" train "${small[@]}" --validation-split 0.1 --validation-data x.csv
out=$("$bin" train --help 2>&1)
if grep -q "Optimizer: sgd, adamw" <<<"$out" && grep -q "Dataset: fashion-mnist, mnist, csv, npy, synthetic" <<<"$out" && grep -q "cross-entropy, nll, mse, bce-with-logits, l1" <<<"$out"; then
    ok "train --help lists the registries' names"
else bad "train --help lists the registries' names" "$out"; fi

# --- data ---------------------------------------------------------------------------
expect_error "missing dataset names the Debian package and --data" "dataset-fashion-mnist.*--data|--data.*dataset-fashion-mnist" \
    "$bin" train --data "$work/nowhere"
expect_error "missing dataset under mpirun -np 2: clean error, no hang" "dataset-fashion-mnist" \
    bash "$mpirun_sh" -np 2 "$bin" train --data "$work/nowhere"
if [ -d /usr/share/datasets/fashion-mnist ]; then
    mkdir -p "$work/trunc"
    cp /usr/share/datasets/fashion-mnist/*labels* /usr/share/datasets/fashion-mnist/t10k-images* "$work/trunc/"
    head -c 100000 /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz > "$work/trunc/train-images-idx3-ubyte.gz"
    expect_error "truncated gzip IDX file is refused, naming the file" "train-images" "$bin" train --data "$work/trunc"
fi
printf '0,0.5,0.25\n1,0.1,0.9\n1,0.3\n' > "$work/ragged.csv"
expect_error "ragged CSV row is refused with its line number" "line 3" "$bin" train --dataset csv --data "$work/ragged.csv" --model mlp:2,4,2
python3 - "$work" <<'PY'
import sys
rows = ["%d,%s" % (i % 13, ",".join(["0.5"] * 4)) for i in range(64)]
open(sys.argv[1] + "/classes13.csv", "w").write("\n".join(rows) + "\n")
PY
expect_error "labels beyond the model's outputs are refused" "13 classes" "$bin" train --dataset csv --data "$work/classes13.csv" --model mlp:4,8,10 --batch-size 8
expect_error "more ranks than samples: refused on every rank" "samples" \
    bash "$mpirun_sh" -np 4 "$bin" train "${small[@]}" --train-limit 3

# --- ranks that disagree or die -------------------------------------------------------
mpmd_root=(); [ "$(id -u)" -eq 0 ] && mpmd_root=(--allow-run-as-root)
expect_user_error "ranks started with different settings: error names the setting" "'learningRate' is 0.1 on rank 0 but 0.2 on rank 1" \
    mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 "$bin" train "${small[@]}" --lr 0.1 : -np 1 "$bin" train "${small[@]}" --lr 0.2
expect_user_error "an optional setting on rank 0 only is named (key by key, not by position)" "'trainLimit' is 500 on rank 0 but not set on rank 1" \
    mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 "$bin" train "${small[@]}" --train-limit 500 : -np 1 "$bin" train "${small[@]}"
expect_user_error "an optional setting on rank 1 only is named" "'maxSteps' is not set on rank 0 but 3 on rank 1" \
    mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 "$bin" train "${small[@]}" : -np 1 "$bin" train "${small[@]}" --max-steps 3
mkdir -p "$work/nodeA" "$work/nodeB"
python3 - "$work" <<'PY'
import sys
for node, shift in (("nodeA", 0.0), ("nodeB", 0.25)):
    rows = ["%d,%s" % (i % 2, ",".join(["%.2f" % (0.1 * i + shift)] * 4)) for i in range(64)]
    open("%s/%s/d.csv" % (sys.argv[1], node), "w").write("\n".join(rows) + "\n")
PY
# -wdir changes where a relative executable path is looked up: name the binary absolutely.
abs_bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
expect_user_error "different data behind one --data path is refused with both fingerprints" \
    "different csv data behind --data d.csv: rank 0 read 64 training \+ 0 test samples, hash 0x[0-9a-f]{16} but rank 1 read 64 training \+ 0 test samples, hash 0x[0-9a-f]{16}" \
    mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 -wdir "$work/nodeA" "$abs_bin" train --dataset csv --data d.csv --model mlp:4,8,2 --batch-size 8 \
        : -np 1 -wdir "$work/nodeB" "$abs_bin" train --dataset csv --data d.csv --model mlp:4,8,2 --batch-size 8
cp "$work/nodeA/d.csv" "$work/nodeB/d.csv"
out=$(timeout 120 mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 -wdir "$work/nodeA" "$abs_bin" train --dataset csv --data d.csv --model mlp:4,8,2 --batch-size 8 --epochs 1 \
        : -np 1 -wdir "$work/nodeB" "$abs_bin" train --dataset csv --data d.csv --model mlp:4,8,2 --batch-size 8 --epochs 1 2>&1)
if [ $? -eq 0 ]; then ok "equal copies of the data behind one path train"; else bad "equal copies of the data behind one path train" "$out"; fi
expect_user_error "a launch mixing train and evaluate is refused, naming both" "rank 0 runs 'lockstep train' .* but rank 1 runs 'lockstep evaluate'" \
    mpirun "${mpmd_root[@]}" --quiet --oversubscribe -np 1 "$bin" train "${small[@]}" : -np 1 "$bin" evaluate "$work/nowhere"
(
    OPENBLAS_NUM_THREADS=1 timeout 180 bash "$mpirun_sh" -np 2 "$bin" train --dataset synthetic --synthetic-count 200000 \
        --model seed-mlp --epochs 50 --progress lines > "$work/killed.log" 2>&1
    echo $? > "$work/killed.status"
) &
launcher=$!
victim=""
for _ in $(seq 1 120); do
    victim=$(pgrep -f "synthetic-count 200000" | while read -r p; do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = "lockstep" ] && echo "$p"; done | tail -n 1)
    [ -n "$victim" ] && grep -q "steps/epoch" "$work/killed.log" 2>/dev/null && break
    sleep 0.5
done
if [ -n "$victim" ]; then
    kill -9 "$victim"
    wait "$launcher"
    status=$(cat "$work/killed.status")
    if [ "$status" -eq 124 ]; then bad "a killed rank takes the job down (hung)" "$(tail -n 5 "$work/killed.log")"
    elif [ "$status" -eq 0 ]; then bad "a killed rank takes the job down (exit 0)"
    else ok "a killed rank takes the job down (mpirun exit $status, no hang)"; fi
else
    kill "$launcher" 2>/dev/null; bad "a killed rank takes the job down (could not find a rank to kill)" "$(tail -n 5 "$work/killed.log")"
fi
pkill -f "synthetic-count 200000" 2>/dev/null

# --- checkpoints ----------------------------------------------------------------------
ck="$work/ck"
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --epochs 2 --checkpoint-dir "$ck" --metrics "$work/m.jsonl" 2>&1)
if [ $? -eq 0 ] && [ -f "$ck/latest" ]; then ok "2-rank run writes checkpoints and a latest pointer"; else bad "2-rank run writes checkpoints" "$out"; fi
lines=$(grep -c '"event":"epoch"' "$work/m.jsonl" 2>/dev/null || echo 0)
if [ "$lines" -eq 2 ] && grep -q '"event":"end"' "$work/m.jsonl" && python3 -c "
import json,sys
for l in open('$work/m.jsonl'):
    d = json.loads(l)
    if d['event'] == 'epoch':
        for k in ['epoch','step','world_size','batch_per_rank','lr','train_loss','train_acc','test_loss','test_acc','samples_per_s','epoch_s','compute_s','allreduce_s']:
            assert k in d, k
        assert d['world_size'] == 2
"; then ok "metrics file has one epoch line per epoch with every contract key, and an end line"
else bad "metrics file lines" "$(cat "$work/m.jsonl" 2>/dev/null)"; fi
before=$(cd "$ck" && find . -type f -exec sha256sum {} + | sort)
expect_error "a fresh run refuses a directory that holds checkpoints" "already holds checkpoints" "$bin" train "${small[@]}" --checkpoint-dir "$ck"
expect_error "resuming with another model is refused" "different model|trained with model" "$bin" train "${small[@]}" --model mlp:784,16,10 --checkpoint-dir "$ck" --resume
latest_dir="$ck/$(cat "$ck/latest")"
cp -r "$latest_dir" "$work/tampered"
python3 - "$work/tampered/model.safetensors" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-3] ^= 0xFF; open(p, "wb").write(bytes(b))
PY
expect_error "a checkpoint with a bad hash is refused by evaluate" "hash|SHA-256|corrupt" "$bin" evaluate "$work/tampered"
expect_error "a checkpoint with a bad hash is refused by resume" "hash|SHA-256|corrupt" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/tampered" --checkpoint-dir "$ck"
after=$(cd "$ck" && find . -type f -exec sha256sum {} + | sort)
if [ "$before" = "$after" ]; then ok "failed runs left the existing checkpoints untouched"; else bad "failed runs changed existing checkpoints"; fi
out=$(timeout 120 "$bin" evaluate "$ck" 2>&1)
if [ $? -eq 0 ] && grep -q "accuracy" <<<"$out"; then ok "evaluate reads the newest checkpoint"; else bad "evaluate" "$out"; fi
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --epochs 3 --checkpoint-dir "$ck" --resume 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from" <<<"$out" && grep -q "epoch 3/3" <<<"$out"; then ok "--resume continues to the new epoch count"; else bad "--resume" "$out"; fi

# --- losses: each trains the synthetic problem below a stated bound ---------------------
printf 'input: [784]\nloss: nll\nlayers:\n  - linear: {out: 32}\n  - relu\n  - linear: {out: 10}\n  - log-softmax\n' > "$work/nll.yaml"
for case in "cross-entropy:0.1" "nll:0.1" "mse:0.02" "bce-with-logits:0.1" "l1:0.08"; do
    loss=${case%%:*}; bound=${case##*:}
    if [ "$loss" = nll ]; then how=(--model "$work/nll.yaml"); else how=(--model mlp:784,32,10 --loss "$loss"); fi
    rm -f "$work/loss.jsonl"
    out=$(timeout 120 "$bin" train "${small[@]:0:4}" "${how[@]}" --batch-size 32 --epochs 3 --progress lines --metrics "$work/loss.jsonl" 2>&1)
    if [ $? -eq 0 ] && grep -q "loss $loss;" <<<"$out" && python3 - "$work/loss.jsonl" "$bound" <<'PY'
import json, sys
epochs = [json.loads(l) for l in open(sys.argv[1]) if '"event":"epoch"' in l]
assert len(epochs) == 3 and epochs[-1]["train_loss"] < float(sys.argv[2]) and epochs[-1]["test_acc"] >= 0.95, epochs[-1]
PY
    then ok "--loss $loss trains the synthetic problem below $bound (accuracy >= 0.95)"; else bad "--loss $loss" "$out"; fi
done
expect_error "an unknown --loss is refused, listing the losses" "--loss 'hinge'.*not known; use cross-entropy, nll, mse, bce-with-logits, l1" "$bin" train "${small[@]}" --loss hinge
expect_error "nll on a model without log-softmax is refused before training" "nll loss takes log-probabilities.*ends with Linear" "$bin" train "${small[@]}" --loss nll
out=$(timeout 120 "$bin" train "${small[@]:0:4}" --model sigmoid-net --batch-size 32 --max-steps 2 --progress lines 2>&1)
if [ $? -eq 0 ] && grep -q "loss mse;" <<<"$out"; then ok "sigmoid-net declares MSE on one-hot targets"; else bad "sigmoid-net's loss" "$out"; fi

# --- --resume auto: one command for the first start and every requeue ------------------
ra="$work/ra"
out=$(timeout 120 "$bin" train "${small[@]}" --max-steps 3 --checkpoint-dir "$ra" --resume auto 2>&1)
if [ $? -eq 0 ] && grep -q "no checkpoint in $ra yet: starting fresh (--resume auto)" <<<"$out" && [ -f "$ra/latest" ]; then
    ok "--resume auto on an empty directory starts fresh and says so"
else bad "--resume auto on an empty directory" "$out"; fi
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 6 --checkpoint-dir "$ra" --resume auto 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from $ra/step-000000003" <<<"$out" && ! grep -q "starting fresh" <<<"$out"; then
    ok "--resume auto continues from the newest checkpoint when there is one (2 ranks)"
else bad "--resume auto with a checkpoint" "$out"; fi
expect_error "--resume auto needs --checkpoint-dir" "resume auto needs --checkpoint-dir" "$bin" train "${small[@]}" --resume auto
expect_error "--resume auto goes alone" "goes alone" "$bin" train "${small[@]}" --checkpoint-dir "$ra" --resume auto --resume-from "$ra"

# --- how gradients are summed: shared memory on one node by default ---------------------
out=$(timeout 120 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 3 2>&1)
if [ $? -eq 0 ] && grep -q "gradients summed in shared memory" <<<"$out"; then ok "2 ranks on one node sum gradients in shared memory by default"
else bad "default reduction on one node" "$out"; fi
out=$(timeout 120 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 3 --allreduce overlap 2>&1)
if [ $? -eq 0 ] && grep -q "all-reduce bucket" <<<"$out"; then ok "--allreduce overlap uses the bucketed all-reduce"
else bad "--allreduce overlap" "$out"; fi
expect_error "an unknown --allreduce mode is refused" "allreduce" "$bin" train "${small[@]}" --allreduce ring
# One rank failing mid-run (rank 0 cannot write a checkpoint: latest.tmp is a directory)
# must end the job with that rank's error, in every mode: the other rank is already in the
# next step and must not be left waiting (nor rank 0 wait for it in a collective cleanup).
for mode in auto overlap; do
    rm -rf "$work/ckfail"; mkdir -p "$work/ckfail/latest.tmp/x"
    expect_error "rank 0 failing to write a checkpoint mid-run ends the job (--allreduce $mode)" "rank 0 of 2.*latest.tmp" \
        bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --epochs 2 --checkpoint-every 3 --checkpoint-dir "$work/ckfail" --allreduce "$mode"
done

# --- non-finite guard: a diverging run stops with exit 3 and writes no checkpoint --------
# One good epoch, then --resume with --lr 1000 (seed-mlp's loss is NaN by step 3): exit 3,
# one line naming the step and the learning rate, the checkpoints and `latest` untouched.
diverge=(train --dataset synthetic --synthetic-count 512 --model seed-mlp --batch-size 32 --progress lines)
for mode in shared overlap blocking; do
    nf="$work/nonfinite-$mode"
    timeout 300 bash "$mpirun_sh" -np 2 "$bin" "${diverge[@]}" --epochs 1 --checkpoint-dir "$nf" --allreduce "$mode" > /dev/null 2>&1
    good=$(cat "$nf/latest" 2>/dev/null)
    before=$(cd "$nf" 2>/dev/null && find . -type f -exec sha256sum {} + | sort)
    out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" "${diverge[@]}" --epochs 3 --lr 1000 --checkpoint-dir "$nf" --resume \
        --allreduce "$mode" 2>&1); status=$?
    after=$(cd "$nf" 2>/dev/null && find . -type f -exec sha256sum {} + | sort)
    errors=$(grep -c "^lockstep: error" <<<"$out")
    if [ -z "$good" ]; then bad "--allreduce $mode: the good epoch wrote no checkpoint" "$out"
    elif [ $status -ne 3 ]; then bad "a NaN run stops with exit 3 (--allreduce $mode): exit $status" "$out"
    elif [ "$errors" -ne 1 ] || ! grep -qE "^lockstep: error: non-finite loss or gradients at step [0-9]+ \(epoch 2, learning rate [0-9.]+\)" <<<"$out"; then
        bad "a NaN run names the step and the learning rate in one line (--allreduce $mode)" "$out"
    elif [ "$before" != "$after" ] || [ "$(cat "$nf/latest")" != "$good" ]; then
        bad "a NaN run leaves the checkpoints and latest untouched (--allreduce $mode)" "$(diff <(echo "$before") <(echo "$after"))"
    else ok "a NaN run stops with exit 3, names the step and lr, writes no checkpoint (--allreduce $mode)"; fi
done
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" "${diverge[@]}" --epochs 2 --lr 1000 --on-nonfinite skip --max-skipped-steps 3 \
    --checkpoint-dir "$work/nonfinite-skip" 2>&1); status=$?
if [ $status -eq 3 ] && grep -qE "^lockstep: error: 3 consecutive steps had a non-finite loss or gradients \(steps [0-9]+ to [0-9]+" <<<"$out" \
    && [ ! -e "$work/nonfinite-skip/latest" ]; then ok "--on-nonfinite skip stops with exit 3 after --max-skipped-steps in a row"
else bad "--on-nonfinite skip stops after --max-skipped-steps (exit $status)" "$out"; fi
expect_error "--max-skipped-steps 0 is refused" "max-skipped-steps 0" "$bin" train "${small[@]}" --max-skipped-steps 0
expect_error "an unknown --on-nonfinite policy is refused" "on-nonfinite" "$bin" train "${small[@]}" --on-nonfinite ignore
expect_error "a negative --stall-timeout is refused" "stall-timeout" "$bin" train "${small[@]}" --stall-timeout=-1

# --- bench step: throughput and the per-layer table --------------------------------------
out=$(timeout 120 "$bin" bench step --model seed-cnn --seconds 0.3 --layers 2>&1)
if [ $? -eq 0 ] && grep -q "^throughput .* samples/s" <<<"$out" && grep -q "^(2): Conv2d(16, 32" <<<"$out" \
    && grep -q "^SGD step" <<<"$out" && grep -q "ms per step" <<<"$out"; then
    ok "bench step --layers prints throughput and a row per layer"
else bad "bench step --layers" "$out"; fi
expect_error "bench step refuses a zero batch size" "batch-size 0" "$bin" bench step --batch-size 0

# --- bench recurrent: an LSTM's and a GRU's forward + backward ------------------------------
for kind in lstm gru; do
    out=$(timeout 120 "$bin" bench recurrent --kind $kind --input-size 8 --hidden-size 16 --layers 2 --seq-len 5 --batch-size 3 2>&1)
    if [ $? -eq 0 ] && grep -qi "^layer  *$kind(8, 16, num_layers=2" <<<"$out" && grep -q "^throughput .* tokens/s" <<<"$out" \
        && grep -q "^fraction of peak" <<<"$out"; then
        ok "bench recurrent --kind $kind prints tokens/s and the fraction of peak"
    else bad "bench recurrent --kind $kind" "$out"; fi
done
expect_error "bench recurrent refuses an unknown kind" "kind rnn is not lstm or gru" "$bin" bench recurrent --kind rnn
expect_error "bench recurrent refuses a zero sequence length" "seq-len 0" "$bin" bench recurrent --seq-len 0

# --- bench block: a TransformerBlock's forward + backward and its parts --------------------
out=$(timeout 120 "$bin" bench block --dim 32 --heads 2 --seq-len 16 --batch-size 2 --seconds 0.2 2>&1)
if [ $? -eq 0 ] && grep -q "^fraction of peak" <<<"$out" && grep -q "^on-CPU time" <<<"$out" && grep -q "^attn " <<<"$out" \
    && grep -q "^mlp.1 (GELU)" <<<"$out"; then
    ok "bench block prints the step's share of the sgemm peak and a row per part"
else bad "bench block" "$out"; fi
expect_error "bench block refuses heads that do not divide the width" "heads 3 must divide --dim 32" "$bin" bench block --dim 32 --heads 3
expect_error "bench block refuses a zero sequence length" "seq-len 0" "$bin" bench block --seq-len 0

# --- validation split, early stopping, DIR/best ------------------------------------------
es=(--dataset synthetic --synthetic-count 1024 --model mlp:784,32,10 --batch-size 32 --progress lines --epochs 12
    --validation-split 0.2 --early-stopping 2 --min-delta 0.01)
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${es[@]}" --checkpoint-dir "$work/es" --keep 1 --metrics "$work/es.jsonl" 2>&1)
end=$(grep '"event":"end"' "$work/es.jsonl" 2>/dev/null)
if [ $? -eq 0 ] && grep -q '"stop_reason":"early-stopping"' <<<"$end" && grep -q '"best_epoch":1' <<<"$end" \
    && grep -q "val loss" <<<"$out" && grep -q "stopped early" <<<"$out" \
    && [ "$(cat "$work/es/best")" = step-000000012 ] && [ -f "$work/es/step-000000012/state.json" ] \
    && [ "$(ls "$work/es" | grep -c '^step-')" -eq 2 ]; then
    ok "early stopping ends the run after the patience; DIR/best survives --keep 1"
else bad "early stopping and DIR/best" "$out
$end
$(ls "$work/es" 2>&1)"; fi
# Interrupted after epoch 2 and resumed, the run must stop where the uninterrupted one did.
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${es[@]}" --checkpoint-dir "$work/es2" --max-steps 24 2>&1 \
    && timeout 300 bash "$mpirun_sh" -np 2 "$bin" train "${es[@]}" --checkpoint-dir "$work/es2" --resume --metrics "$work/es2.jsonl" 2>&1)
if grep -q '"stop_reason":"early-stopping"' "$work/es2.jsonl" 2>/dev/null && grep -q '"steps":36' "$work/es2.jsonl" \
    && [ "$(cat "$work/es2/best")" = step-000000012 ]; then
    ok "a resumed run keeps the early-stopping state and stops at the same step"
else bad "early stopping across --resume" "$out $(cat "$work/es2.jsonl" 2>&1)"; fi
expect_error "early stopping on validation loss without a validation set is refused" "needs a validation set" \
    "$bin" train "${small[@]}" --early-stopping 3
expect_error "a validation split outside (0, 1) is refused" "validation-split 1.5" "$bin" train "${small[@]}" --validation-split 1.5

# --- predict: outputs in input order, the same classes as evaluate's accuracy ---------------
"$bin" train --dataset synthetic --synthetic-count 1024 --model mlp:784,16,10 --batch-size 32 --progress lines \
    --max-steps 3 --checkpoint-dir "$work/pred" >/dev/null 2>&1
acc=$("$bin" evaluate "$work/pred" 2>&1 | sed -n 's/.*accuracy \([0-9.]*\).*/\1/p')
out=$(timeout 120 "$bin" predict "$work/pred" --output "$work/p1.csv" 2>&1 \
    && timeout 120 bash "$mpirun_sh" -np 3 "$bin" predict "$work/pred" --output "$work/p3.npy" --probabilities 2>&1)
out2=$(python3 - "$work/p1.csv" "$work/p3.npy" "$work/p3.classes.npy" "$acc" <<'PY' 2>&1
import csv, struct, sys
rows = list(csv.reader(open(sys.argv[1])))
body = rows[1:]
assert [int(r[0]) for r in body] == list(range(len(body))), "rows in input order"
acc = sum(r[1] == r[2] for r in body) / len(body)
assert abs(acc - float(sys.argv[4])) < 1e-4, (acc, sys.argv[4])
def npy(path):
    b = open(path, "rb").read()
    n = int.from_bytes(b[8:10], "little")
    header = b[10:10 + n].decode()
    return header, b[10 + n:]
h, payload = npy(sys.argv[2])
assert "'<f4'" in h and f"({len(body)}, 10)" in h, h
probs = struct.unpack(f"<{len(body) * 10}f", payload)
assert all(abs(sum(probs[i * 10:(i + 1) * 10]) - 1) < 1e-5 for i in range(len(body))), "rows sum to 1"
h, payload = npy(sys.argv[3])
classes = struct.unpack(f"<{len(body)}q", payload)
assert list(classes) == [int(r[2]) for r in body], "3 ranks predict the classes 1 rank does"
print(f"{len(body)} samples, accuracy {acc:.4f}")
PY
)
if [ $? -eq 0 ] && [ -n "$acc" ]; then ok "predict writes outputs in input order at 1 and 3 ranks; its accuracy is evaluate's ($out2)"
else bad "predict" "$out $out2"; fi
expect_error "predict refuses an output name it cannot write" "csv or .npy" "$bin" predict "$work/pred" --output "$work/p.txt"

# --- diagnostics: --log-level, each line tagged with its rank ---------------------------
out=$(timeout 120 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 2 --log-level debug 2>&1)
if grep -q "^lockstep\[rank 0/2\] debug: gradients summed in shared memory" <<<"$out" && grep -q "^lockstep\[rank 1/2\] info: data loaded" <<<"$out"; then
    ok "--log-level debug prints diagnostics tagged with each rank"
else bad "--log-level debug" "$out"; fi
out=$(timeout 120 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 2 2>&1)
if [ $? -eq 0 ] && ! grep -q "^lockstep\[rank" <<<"$out"; then ok "the default log level prints no diagnostics in a healthy run"
else bad "default log level is quiet" "$out"; fi

# --- the timeline is a valid Chrome trace with every rank's spans ----------------------
out=$(timeout 120 bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --max-steps 4 --timeline "$work/trace.json" --timeline-steps 3 2>&1)
out2=$(python3 - "$work/trace.json" <<'PY' 2>&1
import json, sys
t = json.load(open(sys.argv[1]))
ev = t["traceEvents"]
spans = [e for e in ev if e["ph"] == "X"]
for r in (0, 1):
    names = {e["name"].split(" ")[0] for e in spans if e["pid"] == r}
    assert {"forward", "backward"} <= names, (r, names)
    assert any(e["ph"] == "M" and e["pid"] == r and e["args"]["name"] == f"rank {r}" for e in ev), r
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
print(len(spans), "spans")
PY
)
if [ $? -eq 0 ]; then ok "--timeline writes a Chrome trace with both ranks' forward and backward spans ($out2)"
else bad "--timeline trace" "$out $out2"; fi

# --- model files ----------------------------------------------------------------------
# Every broken model file of the corpus: exit 2 and one error line naming the file, the line
# and what is wrong (expected.tsv lists both for each file).
corpus="$root/Tests/NeuralNetTests/Fixtures/bad-models"
corpus_failures=""; corpus_count=0
while IFS=$'\t' read -r name line text; do
    case "$name" in "#"*|"") continue;; esac
    corpus_count=$((corpus_count + 1))
    out=$(timeout 20 "$bin" inspect --model "$corpus/$name" 2>&1); status=$?
    where="$corpus/$name:"; [ "$line" != "-" ] && where="$corpus/$name:$line:"
    if [ $status -ne 2 ] || [ "$(wc -l <<<"$out")" -ne 1 ] || ! grep -qF -- "lockstep: error: $where" <<<"$out" || ! grep -qF -- "$text" <<<"$out"; then
        corpus_failures+="$name (exit $status): $out"$'\n'
    fi
done < "$corpus/expected.tsv"
if [ -z "$corpus_failures" ] && [ "$corpus_count" -ge 30 ]; then ok "$corpus_count broken model files: each exits 2 with one line naming the file, the line and the problem"
else bad "broken model files ($corpus_count)" "$corpus_failures"; fi
expect_error "train refuses a broken model file before loading data" "groups-do-not-divide.yaml:5: layer 2 \(conv2d\): groups 3" \
    "$bin" train --model "$corpus/groups-do-not-divide.yaml" --data "$work/nowhere"
expect_error "a broken model file under mpirun -np 2: one clean error, no hang" "linear-after-conv.yaml:5: layer 2 \(linear\).*\[16, 28, 28\]" \
    bash "$mpirun_sh" -np 2 "$bin" train --model "$corpus/linear-after-conv.yaml" "${small[@]:0:4}"
expect_error "a missing model file is named" "nowhere.yaml: cannot read the model file: no such file" "$bin" train --model "$work/nowhere.yaml"
out=$(timeout 60 "$bin" inspect --model examples/models/small-cnn.yaml 2>&1)
if [ $? -eq 0 ] && grep -q "^(3) Conv2d(16, 16, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2), dilation=(2, 2), groups=16) *\[16, 28, 28\] *160 *225,792$" <<<"$out" \
    && grep -q "^(8) Linear(in_features=3136, out_features=64, bias=True) *\[64\] *200,768" <<<"$out" \
    && grep -q "^parameters: 201,770" <<<"$out" && grep -q "forward 854,272, training step (forward + backward) 2,337,024" <<<"$out"; then
    ok "inspect --model prints each layer's output shape, parameters and FLOPs, and the totals"
else bad "inspect --model small-cnn.yaml" "$out"; fi
out=$(timeout 120 "$bin" train "${small[@]}" --model mlp:784,32,10:tanh --max-steps 2 2>&1 && "$bin" inspect --model mlp:784,32,10:tanh 2>&1)
if [ $? -eq 0 ] && grep -q "^(1) Tanh() " <<<"$out"; then ok "an mlp spec takes an activation (mlp:784,32,10:tanh)"; else bad "mlp spec with activation" "$out"; fi
if [ -d /usr/share/datasets/fashion-mnist ]; then
    quick=(--max-steps 3 --train-limit 512 --test-limit 100 --progress lines)
    out=$(timeout 300 "$bin" train --model examples/models/small-cnn.yaml "${quick[@]}" 2>&1)
    if [ $? -eq 0 ] && grep -q "small-cnn.yaml, 201,770 parameters, on fashion-mnist" <<<"$out"; then ok "examples/models/small-cnn.yaml trains on Fashion-MNIST at 1 rank"
    else bad "small-cnn.yaml at 1 rank" "$out"; fi
    # Train from a copy of the file, then delete it: the checkpoint alone rebuilds the model.
    cp examples/models/small-cnn.yaml "$work/copy.yaml"
    sc="$work/small-cnn"
    out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train --model "$work/copy.yaml" "${quick[@]}" --checkpoint-dir "$sc" 2>&1)
    if [ $? -eq 0 ] && [ -f "$sc/latest" ]; then ok "examples/models/small-cnn.yaml trains on Fashion-MNIST at 2 ranks"
    else bad "small-cnn.yaml at 2 ranks" "$out"; fi
    rm -f "$work/copy.yaml"
    if grep -q '"modelDescription"' "$sc/$(cat "$sc/latest")/state.json" 2>/dev/null \
        && [ "$("$bin" inspect "$sc" --description 2>&1)" = "$("$bin" inspect --model examples/models/small-cnn.yaml --description 2>&1)" ]; then
        ok "state.json holds the model description (inspect --description gives the file's network back)"
    else bad "the checkpoint's model description" "$("$bin" inspect "$sc" --description 2>&1)"; fi
    out=$(timeout 120 "$bin" evaluate "$sc" 2>&1)
    if [ $? -eq 0 ] && grep -q "accuracy" <<<"$out"; then ok "evaluate rebuilds a model-file model without the file"; else bad "evaluate without the model file" "$out"; fi
    out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train --resume --checkpoint-dir "$sc" --max-steps 5 --train-limit 512 --test-limit 100 --progress lines 2>&1)
    if [ $? -eq 0 ] && grep -q "resumed from" <<<"$out" && grep -q "copy.yaml, 201,770 parameters" <<<"$out"; then
        ok "--resume without --model takes the checkpoint's model, its file gone"
    else bad "--resume without --model" "$out"; fi
fi
old="$root/Tests/LockstepTests/Fixtures/old-format-checkpoint"
out=$(timeout 120 "$bin" evaluate "$old" 2>&1)
if [ $? -eq 0 ] && grep -q "mlp:784,4,10, step 3" <<<"$out"; then ok "a checkpoint in the format before model descriptions still evaluates"; else bad "old-format checkpoint: evaluate" "$out"; fi
out=$(timeout 120 "$bin" train --resume-from "$old" --checkpoint-dir "$work/old-resumed" --dataset synthetic --synthetic-count 256 --batch-size 32 --max-steps 5 --progress lines 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from .*step-000000003" <<<"$out" && grep -q "mlp:784,4,10" <<<"$out"; then
    ok "a checkpoint in the format before model descriptions resumes (its preset or spec rebuilds the model)"
else bad "old-format checkpoint: resume" "$out"; fi
v1="$root/Tests/LockstepTests/Fixtures/version-1-checkpoint"
out=$(timeout 120 "$bin" evaluate "$v1" 2>&1)
if [ $? -eq 0 ] && grep -q "accuracy" <<<"$out"; then ok "a version-1 checkpoint (extra as text) evaluates"; else bad "version-1 checkpoint: evaluate" "$out"; fi
out=$(timeout 120 "$bin" inspect "$v1" 2>&1)
if [ $? -eq 0 ] && grep -q "sgd lr 0.05.*schedule cosine" <<<"$out"; then ok "a version-1 checkpoint inspects"; else bad "version-1 checkpoint: inspect" "$out"; fi
out=$(timeout 300 bash "$mpirun_sh" -np 2 "$bin" train --resume-from "$v1" --checkpoint-dir "$work/v1-resumed" --dataset synthetic --synthetic-count 256 --batch-size 16 --epochs 3 --validation-split 0.25 --early-stopping 2 --max-steps 12 --progress lines 2>&1)
if [ $? -eq 0 ] && grep -q "resumed from .*step-000000008 at epoch 2, step 8" <<<"$out" && grep -q '"formatVersion" : 2' "$work/v1-resumed/$(cat "$work/v1-resumed/latest")/state.json"; then
    ok "a version-1 checkpoint resumes at 2 ranks and the run writes version 2"
else bad "version-1 checkpoint: resume" "$out"; fi

# --- model.safetensors in Python, with PyTorch's names and shapes -----------------------
venv="$root/.venv-test"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import safetensors, numpy" 2>/dev/null; then
    python3 -m venv "$venv" >/dev/null 2>&1 && "$venv/bin/pip" install -q safetensors numpy >/dev/null 2>&1
fi
if "$venv/bin/python" -c "import safetensors, numpy" 2>/dev/null; then
    cnn="$work/cnn"
    out=$(timeout 600 "$bin" train --dataset synthetic --synthetic-count 256 --model seed-cnn --batch-size 32 --max-steps 2 --checkpoint-dir "$cnn" --progress lines 2>&1)
    out2=$("$venv/bin/python" scripts/check_safetensors.py "$cnn/$(cat "$cnn/latest")/model.safetensors" \
        --expect 0.weight:16,1,3,3 0.bias:16 2.weight:32,16,3,3 2.bias:32 5.weight:128,3872 5.bias:128 7.weight:10,128 7.bias:10 2>&1)
    if [ $? -eq 0 ]; then ok "seed-cnn model.safetensors loads in Python with nn.Sequential names and shapes"
    else bad "seed-cnn model.safetensors in Python" "$out $out2"; fi
    sc="$work/small-cnn"
    if [ -f "$sc/latest" ]; then
        out2=$("$venv/bin/python" scripts/check_safetensors.py "$sc/$(cat "$sc/latest")/model.safetensors" \
            --expect 0.weight:16,1,3,3 0.bias:16 1.weight:16 1.bias:16 1.running_mean:16 1.running_var:16 1.num_batches_tracked::I64 \
                     3.weight:16,1,3,3 3.bias:16 8.weight:64,3136 8.bias:64 10.weight:10,64 10.bias:10 2>&1)
        if [ $? -eq 0 ]; then ok "small-cnn.yaml's checkpoint has the names and shapes of the equivalent nn.Sequential"
        else bad "small-cnn.yaml's checkpoint in Python" "$out2"; fi
    fi
    printf 'input: [1, 28, 28]\nlayers:\n  - flatten\n  - linear: {out: 16}\n  - residual:\n      - linear: {out: 16}\n      - relu\n      - batchnorm1d\n  - linear: {out: 10}\n' > "$work/res.yaml"
    rs="$work/res"
    out=$(timeout 300 "$bin" train --model "$work/res.yaml" "${small[@]:0:4}" --batch-size 32 --max-steps 2 --checkpoint-dir "$rs" --progress lines 2>&1)
    out2=$("$venv/bin/python" scripts/check_safetensors.py "$rs/$(cat "$rs/latest" 2>/dev/null)/model.safetensors" \
        --expect 1.weight:16,784 1.bias:16 2.0.weight:16,16 2.0.bias:16 2.2.weight:16 2.2.bias:16 2.2.running_mean:16 \
                 2.2.running_var:16 2.2.num_batches_tracked::I64 3.weight:10,16 3.bias:10 2>&1)
    if [ $? -eq 0 ]; then ok "a residual block's tensors are named like the Residual(nn.Sequential) of examples/models/README.md"
    else bad "residual checkpoint names in Python" "$out $out2"; fi
    bn="$work/bn"
    out=$(timeout 600 "$bin" train --dataset synthetic --synthetic-count 256 --model bn-cnn --batch-size 32 --max-steps 2 --checkpoint-dir "$bn" --progress lines 2>&1)
    out2=$("$venv/bin/python" scripts/check_safetensors.py "$bn/$(cat "$bn/latest")/model.safetensors" 2>&1)
    if [ $? -eq 0 ] && grep -q "num_batches_tracked.*I64" <<<"$out2" && grep -q "running_mean" <<<"$out2"; then
        ok "bn-cnn checkpoint holds BatchNorm running statistics and int64 num_batches_tracked"
    else bad "bn-cnn checkpoint in Python" "$out $out2"; fi
else
    echo "skip  safetensors check in Python: could not install the 'safetensors' package from PyPI"
fi

# --- hostile input: every value from outside is range-checked (each of these once crashed) --
expect_user_error "--epochs 2^63-1 is refused" "epochs must be >= 1 and <= 1000000" "$bin" train "${small[@]}" --epochs 9223372036854775807
expect_user_error "--epochs -1 reaches the range check" "epochs must be >= 1" "$bin" train "${small[@]}" --epochs -1
expect_user_error "--accumulate 2^62 is refused" "accumulate must be" "$bin" train "${small[@]}" --accumulate 4611686018427387904
expect_user_error "--bucket-mb 1e300 is refused" "bucket-mb must be" "$bin" train "${small[@]}" --bucket-mb 1e300
expect_user_error "--model mlp:784,99999999999,10 is refused" "layer size 99999999999" "$bin" train "${small[@]}" --model mlp:784,99999999999,10
expect_user_error "a model too large for memory is refused with its size" "needs [0-9.]+ PiB" "$bin" train "${small[@]}" --model mlp:784,16777216,16777216,10
expect_user_error "--synthetic-count 2^62 is refused" "synthetic-count must be" "$bin" train "${small[@]}" --synthetic-count 4611686018427387904
printf 'epochs: 9223372036854775807\n' > "$work/epochs.yaml"
expect_user_error "epochs: 2^63-1 in a YAML config is refused" "epochs must be" "$bin" train "${small[@]}" --config "$work/epochs.yaml"
printf 'bucket-mb: 1e300\n' > "$work/bucket.yaml"
expect_user_error "bucket-mb: 1e300 in a YAML config is refused" "bucket-mb must be" "$bin" train "${small[@]}" --config "$work/bucket.yaml"
expect_user_error "an unknown flag: one line, exit 2 (not ArgumentParser's 64 and usage)" "Unknown option '--no-such-flag'" "$bin" train --no-such-flag
expect_user_error "a flag without its value: one line, exit 2" "Missing value for '--epochs" "$bin" train --epochs
expect_user_error "a malformed value: one line, exit 2" "--batch-size" "$bin" train --batch-size many
expect_user_error "bench recurrent sizes beyond memory are refused with the size" "needs more than 8 EiB" "$bin" bench recurrent --hidden-size 65536 --seq-len 65536 --batch-size 65536 --layers 65536
expect_user_error "a usage error names the nested subcommand's help" "see 'lockstep bench recurrent --help'" "$bin" bench recurrent --layers -1
expect_user_error "a negative --threads reaches the range check" "threads must be >= 1" "$bin" train --threads -3
expect_user_error "an unknown flag under mpirun -np 2: one line from rank 0" "Unknown option" bash "$mpirun_sh" -np 2 "$bin" train --no-such-flag
expect_user_error "a bad value under mpirun -np 2: one line from rank 0" "epochs must be" bash "$mpirun_sh" -np 2 "$bin" train "${small[@]}" --epochs 0
mkdir -p "$work/npylabel"
python3 - "$work/npylabel" <<'PY'
import struct, sys
def npy(path, descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload)
d = sys.argv[1]
npy(d + "/train_x.npy", "<f4", "(2, 4)", struct.pack("<8f", *[0.5] * 8))
npy(d + "/train_y.npy", "<i8", "(2,)", struct.pack("<2q", 1, 2**63 - 1))
PY
expect_user_error "an NPY label of Int64.max is refused, naming the file" "train_y.npy.*label 9223372036854775807" "$bin" train --dataset npy --data "$work/npylabel" --model mlp:4,8,2
printf '0,1,2\n99999999999999999999,3,4\n' > "$work/biglabel.csv"
expect_user_error "a CSV label of 99999999999999999999 is refused with its line" "line 2.*99999999999999999999" "$bin" train --dataset csv --data "$work/biglabel.csv" --model mlp:2,4,2
printf '0,1,2\n\033[31m\001\002,3,4\n' > "$work/binary.csv"
expect_user_error "control bytes echoed from a binary file are replaced" "line 2: field 1 \(label\) '\?\[31m\?\?' is not an integer" "$bin" train --dataset csv --data "$work/binary.csv" --model mlp:2,4,2

# Checkpoints edited by hand: state.json field by field, a relabelled dtype, NaN weights.
good="$work/goodck"
timeout 120 "$bin" train "${small[@]}" --epochs 2 --checkpoint-every 3 --checkpoint-dir "$good" --quiet > /dev/null 2>&1
goodck="$good/$(cat "$good/latest")"
# tamper SRC DST MODE ARGS: copies checkpoint SRC to DST and edits it; tensor edits update
# the SHA-256 recorded in state.json, so that only the new checks can catch them.
tamper() {
    rm -rf "$2"; cp -r "$1" "$2"
    python3 - "$2" "${@:3}" <<'PY'
import hashlib, json, math, struct, sys
d, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
state = json.load(open(d + "/state.json"))
if mode == "state":            # state KEY.PATH JSON-VALUE
    node = state; keys = args[0].split(".")
    for k in keys[:-1]: node = node[k]
    node[keys[-1]] = json.loads(args[1])
else:
    p = d + "/model.safetensors"; b = bytearray(open(p, "rb").read())
    n = struct.unpack("<Q", b[:8])[0]; header = json.loads(b[8:8 + n])
    if mode == "dtype":        # dtype TENSOR NEW: relabel a tensor (same byte size)
        header[args[0]]["dtype"] = args[1]
        text = json.dumps(header, separators=(",", ":")).encode(); text += b" " * (n - len(text))
        assert len(text) == n; b[8:8 + n] = text
    elif mode == "nan":        # nan TENSOR INDEX: write a NaN into an F32 tensor
        off = 8 + n + header[args[0]]["data_offsets"][0] + 4 * int(args[1])
        b[off:off + 4] = struct.pack("<f", math.nan)
    open(p, "wb").write(bytes(b))
    state["files"]["model.safetensors"] = hashlib.sha256(bytes(b)).hexdigest()
json.dump(state, open(d + "/state.json", "w"), indent=2)
PY
}
tamper "$goodck" "$work/t1" state step -1
expect_user_error "state.json step -1 is refused by --resume-from" "'step' is -1" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/t1"
tamper "$goodck" "$work/t2" state configuration.model '"mlp:2147483648,16,10"'
expect_user_error "state.json model mlp:2147483648,16,10 is refused by evaluate" "2147483648" "$bin" evaluate "$work/t2"
for edit in "worldSize 0" "configuration.batchSize 0" "epoch 4611686018427387904" "stepInEpoch 1000000000" "configuration.epochs 9223372036854775807" "configuration.bucketMB 1e300" "rngState []" "samplesInEpoch 7" "optimizerSteps 99" "parameterCount 5" "configuration.optimizer \"rmsprop\""; do
    set -- $edit
    tamper "$goodck" "$work/t3" state "$1" "$2"
    field=${1##*.}
    expect_user_error "state.json $1 = $2 is refused by evaluate" "'($field|[a-zA-Z.]+)' " "$bin" evaluate "$work/t3"
    expect_user_error "state.json $1 = $2 is refused by --resume-from" "cannot resume" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/t3"
done
tamper "$goodck" "$work/t3" state formatVersion 3
expect_user_error "state.json of a newer format version is refused by evaluate" "format version 3 is newer than this build understands" "$bin" evaluate "$work/t3"
expect_user_error "state.json of a newer format version is refused by --resume-from" "cannot resume.*format version 3 is newer" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/t3"
tamper "$goodck" "$work/t4" dtype 0.weight I32
expect_user_error "an F32 tensor relabelled I32 (hash updated) is refused" "0.weight' has dtype I32 but the model stores F32" "$bin" evaluate "$work/t4"
expect_user_error "an F32 tensor relabelled I32 is refused by --resume-from" "dtype I32" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/t4"
tamper "$goodck" "$work/t5" nan 2.weight 7
expect_user_error "NaN weights are refused by evaluate" "2.weight' holds nan at index 7" "$bin" evaluate "$work/t5"
expect_user_error "NaN weights are refused by --resume-from" "holds nan" "$bin" train "${small[@]}" --epochs 3 --resume-from "$work/t5"
expect_user_error "NaN weights are refused by inspect" "holds nan" "$bin" inspect "$work/t5"
out=$(timeout 120 "$bin" evaluate "$work/t5" --allow-nonfinite-checkpoint 2>&1)
if [ $? -eq 0 ] && grep -q "accuracy" <<<"$out"; then ok "--allow-nonfinite-checkpoint loads NaN weights on request"; else bad "--allow-nonfinite-checkpoint" "$out"; fi
out=$(timeout 120 "$bin" inspect "$work/t5" --allow-nonfinite-checkpoint 2>&1)
if [ $? -eq 0 ] && grep -q "^  1 non-finite values" <<<"$out"; then ok "inspect --allow-nonfinite-checkpoint counts the NaN"; else bad "inspect --allow-nonfinite-checkpoint" "$out"; fi
out=$(timeout 120 "$bin" evaluate "$goodck" 2>&1)
if [ $? -eq 0 ]; then ok "the untouched checkpoint passes every check"; else bad "the untouched checkpoint passes every check" "$out"; fi

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
