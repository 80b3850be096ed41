#!/usr/bin/env bash
# Runs a training command and relaunches it after a failure, resuming from its newest
# checkpoint, as torchrun --max-restarts does.
#
#   scripts/supervise.sh [--max-restarts N] [--backoff SECONDS] [--metrics FILE] -- COMMAND...
#   scripts/supervise.sh --max-restarts 3 -- scripts/mpirun.sh -np 4 lockstep train \
#       --checkpoint-dir runs/ck --checkpoint-every 200 --metrics runs/m.jsonl
#
# - A relaunch adds --resume to COMMAND when its --checkpoint-dir holds a checkpoint
#   (a `latest` file); before the first checkpoint it starts the run afresh.
# - Back-off before relaunch k: SECONDS x 2^(k-1) (default 5 s), at most 300 s.
# - No relaunch after exit 0 (done), 2 (bad input: flags, files, configuration) or 3 (a
#   non-finite loss or gradients): those end the supervisor with the same status. A stall
#   (4, --stall-timeout), a killed rank or any other failure is relaunched, up to N times
#   (default 3); after that the supervisor exits with the last status.
# - Every failure and relaunch is one JSON line in the metrics file (default: COMMAND's
#   --metrics), between the run's own lines, so a resumed run's metrics read as one run:
#   {"event":"failure","attempt":1,"exit_code":137,"seconds":41.2}
#   {"event":"restart","attempt":2,"backoff_s":5,"resume":true}
set -uo pipefail

max_restarts=3
backoff=5
metrics=""
while [ $# -gt 0 ]; do
    case "$1" in
        --max-restarts) max_restarts=${2:-}; shift 2 ;;
        --backoff) backoff=${2:-}; shift 2 ;;
        --metrics) metrics=${2:-}; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "supervise.sh: unknown option '$1'; usage: supervise.sh [--max-restarts N] [--backoff SECONDS] [--metrics FILE] -- COMMAND..." >&2; exit 2 ;;
    esac
done
if [ $# -eq 0 ]; then echo "supervise.sh: no command given; usage: supervise.sh [options] -- COMMAND..." >&2; exit 2; fi
if ! [[ "$max_restarts" =~ ^[0-9]+$ ]]; then echo "supervise.sh: --max-restarts '$max_restarts' must be a whole number >= 0" >&2; exit 2; fi
if ! [[ "$backoff" =~ ^[0-9]+([.][0-9]+)?$ ]]; then echo "supervise.sh: --backoff '$backoff' must be a number of seconds >= 0" >&2; exit 2; fi

command=("$@")
checkpoint_dir=""
resuming=0
for ((i = 0; i < ${#command[@]}; i++)); do
    case "${command[$i]}" in
        --checkpoint-dir) checkpoint_dir=${command[$((i + 1))]:-} ;;
        --checkpoint-dir=*) checkpoint_dir=${command[$i]#--checkpoint-dir=} ;;
        --metrics) [ -z "$metrics" ] && metrics=${command[$((i + 1))]:-} ;;
        --metrics=*) [ -z "$metrics" ] && metrics=${command[$i]#--metrics=} ;;
        --resume|--resume-from|--resume-from=*) resuming=1 ;;
    esac
done
if [ -z "$checkpoint_dir" ] && [ "$resuming" -eq 0 ]; then
    echo "supervise.sh: the command has no --checkpoint-dir, so a relaunch would start from scratch; add one" >&2
    exit 2
fi

log() {  # log JSON-OBJECT-BODY
    [ -n "$metrics" ] && printf '{%s}\n' "$1" >> "$metrics"
    echo "supervise.sh: {$1}" >&2
}

attempt=1
while true; do
    start=$(date +%s.%N)
    "${command[@]}"
    status=$?
    seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    case $status in
        0) exit 0 ;;
        2|3) log "\"event\":\"failure\",\"attempt\":$attempt,\"exit_code\":$status,\"seconds\":$seconds,\"restart\":false"
             exit $status ;;
    esac
    if [ $((attempt - 1)) -ge "$max_restarts" ]; then
        log "\"event\":\"failure\",\"attempt\":$attempt,\"exit_code\":$status,\"seconds\":$seconds,\"restart\":false"
        exit $status
    fi
    log "\"event\":\"failure\",\"attempt\":$attempt,\"exit_code\":$status,\"seconds\":$seconds,\"restart\":true"
    wait_s=$(awk -v b="$backoff" -v k="$attempt" 'BEGIN { w = b * 2 ^ (k - 1); if (w > 300) w = 300; printf "%g", w }')
    sleep "$wait_s"
    attempt=$((attempt + 1))
    resume=false
    if [ "$resuming" -eq 0 ] && [ -n "$checkpoint_dir" ] && [ -f "$checkpoint_dir/latest" ]; then
        command+=(--resume); resuming=1
    fi
    [ "$resuming" -eq 1 ] && resume=true
    log "\"event\":\"restart\",\"attempt\":$attempt,\"backoff_s\":$wait_s,\"resume\":$resume"
done
