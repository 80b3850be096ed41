#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs the single-process tests
# (`swift test`) and the multi-process tests under mpirun with 2, 3 and 4 ranks (4
# oversubscribes a 2-core machine), the command-line tests and a short fuzzing run of
# the parsers (scripts/fuzz.sh). Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/bootstrap.sh || { echo "test.sh: bootstrap failed" >&2; exit 1; }

passed=0
failed=0
failures=()
record() {  # record NAME PASSED FAILED
    passed=$((passed + $2)); failed=$((failed + $3))
    if [ "$3" -ne 0 ]; then failures+=("$1"); fi
}

echo "== build (debug, with tests)"
if ! swift build --build-tests 2>&1 | tail -n 30; then :; fi
if [ "${PIPESTATUS[0]}" -ne 0 ]; then echo "test.sh: build failed" >&2; exit 1; fi

# Python with safetensors, for the checkpoint interoperability tests (PyPI).
venv="$root/.venv-test"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import safetensors, numpy" 2>/dev/null; then
    echo "== python venv with safetensors and numpy (for checkpoint interop tests)"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q safetensors numpy || echo "test.sh: could not install safetensors; its interop tests will be skipped"
fi
if "$venv/bin/python" -c "import safetensors, numpy" 2>/dev/null; then export LOCKSTEP_PYTHON="$venv/bin/python"; fi

echo "== swift test"
log=$(mktemp)
swift test --skip-build 2>&1 | tee "$log" | grep -E "✘|error|passed after|failed after|skipped|Executed" | grep -v "^✔ Test [a-zA-Z]" | tail -n 40
status=${PIPESTATUS[0]}
n_pass=$(grep -cE "^✔ Test .*passed after" "$log" || true)
n_fail=$(grep -cE "^✘ Test .*failed after" "$log" || true)
# The summary lines ("Test run with N tests") are not tests themselves.
n_pass=$((n_pass - $(grep -cE "^✔ Test run with" "$log" || true)))
n_fail=$((n_fail - $(grep -cE "^✘ Test run with" "$log" || true)))
if [ "$status" -ne 0 ] && [ "$n_fail" -eq 0 ]; then n_fail=1; fi
record "swift test" "$n_pass" "$n_fail"
rm -f "$log"

echo "== multi-process tests (mpirun)"
runner="$root/.build/debug/MPITestRunner"
for suite_np in mpi:2 mpi:3 mpi:4 training:1 training:2 training:3 training:4; do
    suite=${suite_np%%:*}; np=${suite_np##*:}
    out=$(timeout 600 bash scripts/mpirun.sh -np "$np" "$runner" "$suite" 2>&1)
    status=$?
    echo "$out" | grep -E "FAIL|passed|failed|ranks\)" | head -n 40
    line=$(echo "$out" | grep -E "^[0-9]+ passed, [0-9]+ failed$" | tail -n 1)
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
    if [ -z "$line" ]; then p=0; f=1; echo "$suite under mpirun -np $np: no summary (exit $status)"; echo "$out" | tail -n 20; fi
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record "$suite -np $np" "$p" "$f"
done

echo "== command-line tests (bad input, dead ranks, checkpoints)"
out=$(bash scripts/test_cli.sh "$root/.build/debug/lockstep" 2>&1)
echo "$out" | grep -vE "^ok " | tail -n 40
line=$(echo "$out" | grep -E "^cli: [0-9]+ passed, [0-9]+ failed$" | tail -n 1)
if [ -z "$line" ]; then record "cli" 0 1; else record "cli" "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $4}')"; fi

echo "== fault trials (stalled ranks in every reduction mode, a slow rank, supervised restarts)"
out=$(timeout 1500 bash scripts/test_faults.sh "$root/.build/debug/lockstep" 2>&1)
echo "$out" | grep -vE "^ok " | tail -n 30
line=$(echo "$out" | grep -E "^faults: [0-9]+ passed, [0-9]+ failed$" | tail -n 1)
if [ -z "$line" ]; then record "faults" 0 1; else record "faults" "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $4}')"; fi

echo "== fuzzing the parsers of outside input (10 s per target; scripts/fuzz.sh SECONDS for longer)"
out=$(timeout 900 bash scripts/fuzz.sh "${LOCKSTEP_FUZZ_SECONDS:-10}" 2>&1); status=$?
echo "$out" | tail -n 20
n_targets=$(echo "$out" | grep -cE "^(idx|npy|csv|safetensors|state|model) .* ok$" || true)
if [ "$status" -eq 0 ]; then record "fuzz" "$n_targets" 0; else record "fuzz" "$n_targets" 1; fi

echo "== multi-host test (network namespaces; skipped where they are not allowed)"
out=$(timeout 400 bash scripts/test_multihost.sh "$root/.build/debug/lockstep" 2>&1)
echo "$out" | grep -vE "^ok " | tail -n 20
line=$(echo "$out" | grep -E "^multihost: [0-9]+ passed, [0-9]+ failed$" | tail -n 1)
if [ -n "$line" ]; then record "multihost" "$(echo "$line" | awk '{print $2}')" "$(echo "$line" | awk '{print $4}')"
elif echo "$out" | grep -q "^skip"; then echo "(multi-host test skipped)"
else record "multihost" 0 1; fi

echo
if [ ${#failures[@]} -ne 0 ]; then echo "failed suites: ${failures[*]}"; fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
