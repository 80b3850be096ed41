#!/usr/bin/env bash
# Fault trials of the `lockstep` command under mpirun -np 2:
#   - stall: SIGSTOP rank 1, and separately rank 0, in each reduction mode (shared, overlap,
#     blocking) with --stall-timeout 5; the job must end within timeout + 10 s with exit 4
#     and a line naming the stopped rank, and leave nothing behind (no process of the job,
#     none of the /dev/shm segments or the session directory its ranks had mapped);
#   - slow: a live rank that sleeps 5 s every 100 steps finishes under --stall-timeout 8,
#     and ends the job, named as never arriving, under --stall-timeout 2;
#   - supervised: scripts/supervise.sh relaunches a run in which a random rank is killed at
#     a random moment, three times; it must end bit-identical to an uninterrupted run.
# Prints one line per trial and a table (trial, N, outcomes, time to exit min/median/max,
# leftovers). Usage: scripts/test_faults.sh [path/to/lockstep] [trials per case (default 1)] [stall|slow|supervised]
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-$root/.build/debug/lockstep}
trials=${2:-1}
only=${3:-all}
mpirun_sh="$root/scripts/mpirun.sh"
work=$(mktemp -d /tmp/lockstep-faults.XXXXXX)
trap 'kill_job_ranks; rm -rf "$work"' EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/      /' | head -n 15; }
declare -A times outcomes leftovers

# The pids of the job's ranks (their command lines hold $work), and the rank of one.
job_pids() { pgrep -f -- "lockstep.* train .*$work/" | while read -r p; do
    [ -r "/proc/$p/environ" ] && tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=' && echo "$p"; done; }
rank_of() { tr '\0' '\n' < "/proc/$1/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p'; }
# Ends what is left of this script's jobs, by pid (a stopped rank needs SIGCONT to die cleanly).
kill_job_ranks() { local p; for p in $(job_pids); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done; }

# Waits until the log shows training steps (at most 240 s); returns 1 if it never does.
wait_for_steps() {
    local log=$1 launcher=$2
    for _ in $(seq 1 480); do
        grep -q '^step ' "$log" 2>/dev/null && return 0
        kill -0 "$launcher" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# After the job: no process left, no file left of those its ranks had mapped.
check_leftovers() {  # check_leftovers MAPPED_LIST -> prints what is left
    local left=""
    for _ in $(seq 1 20); do
        left=$(job_pids | tr '\n' ' ')
        [ -z "$left" ] && break
        sleep 0.5
    done
    [ -n "$left" ] && echo "processes: $left"
    while read -r f; do [ -n "$f" ] && [ -e "$f" ] && echo "file: $f"; done < "$1"
}

record_case() {  # record_case CASE SECONDS OUTCOME LEFTOVER(0|1)
    times[$1]="${times[$1]:-} $2"
    outcomes[$1]="${outcomes[$1]:-} $3"
    leftovers[$1]=$(( ${leftovers[$1]:-0} + $4 ))
}

train=(train --dataset synthetic --synthetic-count 16000 --model mlp:784,32,10 --batch-size 32 --epochs 50
       --progress lines --log-every 20)

stall_trial() {  # stall_trial MODE VICTIM N
    local mode=$1 victim=$2 n=$3 name="stall $1 rank $2"
    local dir="$work/stall-$mode-$victim-$n/"; mkdir -p "$dir"
    local log="$dir/log"
    bash "$mpirun_sh" -np 2 "$bin" "${train[@]}" --allreduce "$mode" --stall-timeout 5 --metrics "$dir/m.jsonl" > "$log" 2>&1 &
    local launcher=$!
    if ! wait_for_steps "$log" "$launcher"; then
        bad "$name: training never started" "$(tail -n 5 "$log")"; kill "$launcher" 2>/dev/null; wait "$launcher" 2>/dev/null
        record_case "$name" 0 no-start 0; return
    fi
    local pid="" p
    for p in $(job_pids); do [ "$(rank_of "$p")" = "$victim" ] && pid=$p; done
    # What the job's ranks map from /dev/shm and Open MPI's session directory.
    for p in $(job_pids); do awk '$6 ~ /^\/dev\/shm\/|\/ompi\./ {print $6}' "/proc/$p/maps" 2>/dev/null; done | sort -u > "$dir/mapped"
    local t0 t1 status
    t0=$(date +%s.%N)
    kill -STOP "$pid"
    # The budget: timeout + 10 s; past it the job counts as hung and is killed.
    ( sleep 15; kill -0 "$launcher" 2>/dev/null && { kill_job_ranks; kill -KILL "$launcher"; } ) 2>/dev/null &
    local guard=$!
    wait "$launcher"; status=$?
    t1=$(date +%s.%N)
    kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
    local took; took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local left; left=$(check_leftovers "$dir/mapped")
    local outcome="exit$status"
    if awk -v t="$took" 'BEGIN { exit !(t > 15) }'; then outcome="hung"; fi
    record_case "$name" "$took" "$outcome" "$([ -n "$left" ] && echo 1 || echo 0)"
    if [ "$outcome" = hung ]; then bad "$name: still running after 15 s (killed)" "$(tail -n 5 "$log")"
    elif [ "$status" -ne 4 ]; then bad "$name: exit $status, expected 4" "$(grep -v '^step' "$log" | tail -n 8)"
    elif ! grep -qE "stalled: rank $((1 - victim)) waited .* at step [0-9]+ .*rank $victim \(pid $pid\) stopped responding" "$log"; then
        bad "$name: the message does not name the step, the collective and the stopped rank" "$(grep -v '^step' "$log" | tail -n 8)"
    elif [ -n "$left" ]; then bad "$name: left behind: $left"
    else ok "$name: exit 4 after $took s, rank $victim named"; fi
}

slow_trial() {  # slow_trial TIMEOUT EXPECT(ok|stall) N
    local timeout=$1 expect=$2 n=$3 name="slow rank 1 (5 s every 100 steps), --stall-timeout $1"
    local dir="$work/slow-$timeout-$n/"; mkdir -p "$dir"
    local log="$dir/log" t0 t1 status
    t0=$(date +%s.%N)
    timeout 300 bash "$mpirun_sh" -np 2 "$bin" "${train[@]}" --allreduce auto --max-steps 210 --stall-timeout "$timeout" \
        --inject-sleep 1:5:100 --metrics "$dir/m.jsonl" > "$log" 2>&1
    status=$?
    t1=$(date +%s.%N)
    local took; took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local left; left=$(: > "$dir/none"; check_leftovers "$dir/none")
    record_case "$name" "$took" "exit$status" "$([ -n "$left" ] && echo 1 || echo 0)"
    if [ "$expect" = ok ]; then
        if [ "$status" -eq 0 ] && grep -q '^done: 210 steps' "$log"; then ok "$name: finished (exit 0)"
        else bad "$name: exit $status, expected a finished run" "$(grep -v '^step' "$log" | tail -n 8)"; fi
    else
        if [ "$status" -eq 4 ] && grep -qE "stalled: rank 0 waited .* at step 100 .*rank 1 never arrived: alive but computing step 100" "$log"; then
            ok "$name: ended, naming rank 1 as never arriving"
        else bad "$name: exit $status, expected 4 naming rank 1" "$(grep -v '^step' "$log" | tail -n 8)"; fi
    fi
}

# Supervised: scripts/supervise.sh relaunches a run whose random rank is killed (SIGKILL)
# at a random moment, three times; the run must finish with the parameters and optimizer
# state of an uninterrupted run, bit for bit, and log each failure and restart.
supervised_trial() {  # supervised_trial N
    local n=$1 name="kill a random rank 3 times, supervised"
    local dir="$work/supervised-$n/"; mkdir -p "$dir"
    local run=(train --dataset synthetic --synthetic-count 16384 --model mlp:784,32,10 --batch-size 32 --epochs 10
               --checkpoint-every 10 --progress lines --log-every 5)
    if [ ! -f "$work/reference/latest" ]; then
        bash "$mpirun_sh" -np 2 "$bin" "${run[@]}" --checkpoint-dir "$work/reference" > "$work/reference.log" 2>&1
    fi
    local t0 t1 status
    t0=$(date +%s.%N)
    bash "$root/scripts/supervise.sh" --max-restarts 5 --backoff 0.2 -- bash "$mpirun_sh" -np 2 "$bin" "${run[@]}" \
        --checkpoint-dir "$dir/ck" --metrics "$dir/m.jsonl" > "$dir/log" 2>&1 &
    local supervisor=$! killed="" kills=0 p victim
    while [ $kills -lt 3 ] && kill -0 "$supervisor" 2>/dev/null; do
        # A fresh launch (ranks not yet killed) that is training: wait a random moment, kill one.
        local pids; pids=$(job_pids | grep -vxF -e "${killed:-none}" | tr '\n' ' ')
        local lines; lines=$(grep -c '^step ' "$dir/log" 2>/dev/null)
        if [ -n "$pids" ] && [ "$lines" -gt "${seen:-0}" ]; then
            sleep "0.$((RANDOM % 9 + 1))"
            read -r -a candidates <<< "$pids"
            victim=${candidates[$((RANDOM % ${#candidates[@]}))]}
            kill -KILL "$victim" 2>/dev/null && { kills=$((kills + 1)); killed=$(printf '%s\n%s' "$killed" "$pids" | sed '/^$/d'); }
            seen=$(grep -c '^step ' "$dir/log" 2>/dev/null)
        fi
        sleep 0.2
    done
    wait "$supervisor"; status=$?
    t1=$(date +%s.%N)
    local took; took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    local left; left=$(: > "$dir/none"; check_leftovers "$dir/none")
    record_case "$name" "$took" "exit$status" "$([ -n "$left" ] && echo 1 || echo 0)"
    local ref="$work/reference/$(cat "$work/reference/latest" 2>/dev/null)" got="$dir/ck/$(cat "$dir/ck/latest" 2>/dev/null)"
    local failures restarts
    failures=$(grep -c '"event":"failure"' "$dir/m.jsonl" 2>/dev/null); restarts=$(grep -c '"event":"restart"' "$dir/m.jsonl" 2>/dev/null)
    if [ "$status" -ne 0 ]; then bad "$name: exit $status" "$(grep -v '^step' "$dir/log" | tail -n 10)"
    elif [ "$kills" -ne 3 ] || [ "$failures" -ne 3 ] || [ "$restarts" -ne 3 ]; then
        bad "$name: $kills kills, $failures failures and $restarts restarts logged, expected 3 each" "$(grep supervise "$dir/log")"
    elif [ "$(basename "$ref")" != "$(basename "$got")" ] || ! cmp -s "$ref/model.safetensors" "$got/model.safetensors" \
        || ! cmp -s "$ref/optimizer.safetensors" "$got/optimizer.safetensors"; then
        bad "$name: the final checkpoint ($got) differs from the uninterrupted run's ($ref)"
    elif [ -n "$left" ]; then bad "$name: left behind: $left"
    else ok "$name: 3 restarts, final parameters bit-identical to an uninterrupted run"; fi
}

for n in $(seq 1 "$trials"); do
    if [ "$only" = all ] || [ "$only" = stall ]; then
        for mode in shared overlap blocking; do
            for victim in 1 0; do stall_trial "$mode" "$victim" "$n"; done
        done
    fi
    if [ "$only" = all ] || [ "$only" = slow ]; then
        slow_trial 8 ok "$n"
        slow_trial 2 stall "$n"
    fi
    if [ "$only" = all ] || [ "$only" = supervised ]; then supervised_trial "$n"; fi
done

echo
printf '%-52s %3s  %-24s %-22s %s\n' trial N outcomes "exit s (min/med/max)" leftovers
for name in "${!times[@]}"; do
    read -r -a ts <<< "${times[$name]}"
    sorted=$(printf '%s\n' "${ts[@]}" | sort -g)
    min=$(echo "$sorted" | head -n 1); max=$(echo "$sorted" | tail -n 1)
    med=$(echo "$sorted" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    summary=$(printf '%s\n' ${outcomes[$name]} | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')
    printf '%-52s %3s  %-24s %-22s %s\n' "$name" "${#ts[@]}" "$summary" "$min/$med/$max" "${leftovers[$name]}"
done | sort
echo "faults: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
