#!/usr/bin/env bash
# mpirun with the flags this machine needs, so users and scripts need not remember them:
#   - as root, OpenMPI refuses to start without --allow-run-as-root;
#   - with more ranks than cores, it refuses without --oversubscribe.
# Usage: scripts/mpirun.sh -np N PROGRAM [ARGS...]   (any other mpirun flags pass through)
set -euo pipefail

extra=()
if [ "$(id -u)" -eq 0 ]; then extra+=(--allow-run-as-root); fi

np=1
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        -np|-n|--np) np="${args[$((i + 1))]:-1}" ;;
    esac
done
# Only add --oversubscribe on a single machine without a hostfile; on a cluster the
# hostfile or the scheduler's allocation decides where ranks go.
if [[ " $* " != *" --hostfile "* && " $* " != *" -hostfile "* && -z "${SLURM_JOB_ID:-}" ]]; then
    cores=$(nproc)
    if [ "$np" -gt "$cores" ]; then extra+=(--oversubscribe); fi
fi
# One BLAS thread per rank unless the caller says otherwise.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
exec mpirun "${extra[@]}" -x OPENBLAS_NUM_THREADS "$@"
