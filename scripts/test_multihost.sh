#!/usr/bin/env bash
# A real multi-host run on one machine: two "hosts" are Linux network namespaces joined
# by veth pairs to a bridge (itself inside a namespace of its own), with private addresses
# 10.77.0.11 and 10.77.0.12 that exist only inside those namespaces. mpirun runs in a
# third namespace (10.77.0.1) and starts its daemons on the hosts through
# cluster/netns-agent.sh (which maps an address to `ip netns exec NS ...` instead of ssh);
# OpenMPI is held to TCP on 10.77.0.0/24, so every gradient crosses the veths.
#
# Checks: a 2-host x 2-rank training run gives the same parameters as the same run with 4
# ranks on one host (`lockstep inspect --compare --rtol 1e-6`), and a different run is told
# apart; the traffic really went over the veths; the all-reduce benchmark runs across the
# hosts (and, where the kernel has sch_netem, again with 1 ms delay and 1 Gbit/s on the
# links); an unknown host and a host with no network fail with a clear error within a
# timeout and leave no processes behind. Namespaces, veths and the bridge are removed on
# exit, failure included. No traffic leaves the namespaces this script creates.
#
# Usage: scripts/test_multihost.sh [path/to/lockstep]   (default: release build, else debug)
# Needs root and `ip netns`; otherwise prints "skip: <reason>" and exits 0. ~30 s (release),
# ~1 minute (debug build).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${1:-}
if [ -z "$bin" ]; then
    bin="$root/.build/release/lockstep"
    [ -x "$bin" ] || bin="$root/.build/debug/lockstep"
fi
agent="$root/cluster/netns-agent.sh"
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "ok    $1"; }
bad() { failed=$((failed + 1)); echo "FAIL  $1"; [ -n "${2:-}" ] && echo "$2" | sed 's/^/      /' | head -n 20; }
skip() { echo "skip: $1"; echo "multihost: 0 passed, 0 failed"; exit 0; }

# --- can this machine do it? ------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "network namespaces need root"
for tool in ip unshare mpirun python3; do
    command -v "$tool" >/dev/null || skip "'$tool' is not installed"
done
[ -x "$bin" ] || { echo "test_multihost.sh: no lockstep binary at $bin (swift build -c release)" >&2; echo "multihost: 0 passed, 1 failed"; exit 1; }

tag="lsmh$$"
sw="$tag-sw"; head="$tag-head"; h1="$tag-h1"; h2="$tag-h2"; dark="$tag-dark"
namespaces=()
work=$(mktemp -d /tmp/lockstep-multihost.XXXXXX)

# Namespaces left by an earlier run that was killed with SIGKILL (its pid is gone).
for stale in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^lsmh[0-9]+-' || true); do
    pid=${stale#lsmh}; pid=${pid%%-*}
    if ! kill -0 "$pid" 2>/dev/null; then
        for p in $(ip netns pids "$stale" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$stale" 2>/dev/null && echo "note: removed stale namespace $stale"
    fi
done

cleanup() {
    local ns p
    for ns in "${namespaces[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
    done
    # Deleting a namespace destroys the veth ends and the bridge inside it.
    for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

add_ns() {  # add_ns NAME : a namespace with its loopback up
    ip netns add "$1" 2>"$work/netns.err" || return 1
    namespaces+=("$1")
    ip -n "$1" link set lo up
}
if ! add_ns "$sw"; then skip "cannot create a network namespace ($(head -n 1 "$work/netns.err"))"; fi

# --- the network: a bridge in $sw, one veth pair per host ---------------------------------
set -e
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
port=0
attach() {  # attach NS ADDRESS : veth eth0 in NS <-> pN on the bridge
    port=$((port + 1))
    ip link add eth0 netns "$1" type veth peer name "p$port" netns "$sw"
    ip -n "$sw" link set "p$port" master br0
    ip -n "$sw" link set "p$port" up
    ip -n "$1" addr add "$2/24" dev eth0
    ip -n "$1" link set eth0 up
}
add_ns "$head"; attach "$head" 10.77.0.1
add_ns "$h1"; attach "$h1" 10.77.0.11     # switch port p2
add_ns "$h2"; attach "$h2" 10.77.0.12     # switch port p3
add_ns "$dark"                            # a "host" with no network at all
set +e
echo "note: namespaces $sw (bridge), $head (mpirun, 10.77.0.1), $h1 (10.77.0.11), $h2 (10.77.0.12), $dark (no link)"

cat > "$work/hosts.map" <<EOF
10.77.0.11 $h1 node1
10.77.0.12 $h2 node2
10.77.0.13 $dark node3
EOF
printf '10.77.0.11 slots=2\n10.77.0.12 slots=2\n' > "$work/hostfile"
export LOCKSTEP_NETNS_MAP="$work/hosts.map"
export OPENBLAS_NUM_THREADS=1

# mpirun in the head namespace, daemons through the agent, TCP on the private subnet only.
# --leave-session-attached keeps each daemon tied to its agent, so a daemon that dies at
# start-up is reported at once instead of leaving mpirun waiting for it. --bind-to none:
# the "hosts" share this machine's cores, and each daemon would bind its first rank to
# core 0, so ranks of different hosts would time-share one core (ms-scale latencies).
mpi_ns() {  # mpi_ns TIMEOUT HOSTFILE MPIRUN-ARGS...
    local t=$1 hf=$2; shift 2
    timeout --kill-after=10 "$t" ip netns exec "$head" mpirun --allow-run-as-root --leave-session-attached --bind-to none \
        --hostfile "$hf" --mca plm_rsh_agent "$agent" --mca plm_rsh_no_tree_spawn 1 \
        --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
        -x OPENBLAS_NUM_THREADS "$@"
}
no_leftovers() {  # prints the processes still inside our namespaces, if any
    local ns
    for ns in "${namespaces[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do echo "$ns: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null | cut -c1-100)"; done
    done
}
rx_bytes() { ip netns exec "$sw" cat "/sys/class/net/$1/statistics/rx_bytes"; }

# --- 1. the launcher reaches both hosts --------------------------------------------------
out=$(mpi_ns 60 "$work/hostfile" -np 4 hostname 2>&1); status=$?
if [ $status -eq 0 ] && [ "$(grep -c '^node1$' <<<"$out")" -eq 2 ] && [ "$(grep -c '^node2$' <<<"$out")" -eq 2 ]; then
    ok "mpirun starts 2 ranks on each of 2 namespace hosts through the agent"
else bad "mpirun across namespace hosts (exit $status)" "$out"; fi

# --- 2. 2 hosts x 2 ranks == 1 host x 4 ranks, bit for bit ---------------------------------
train=(train --dataset synthetic --synthetic-count 4096 --model seed-mlp --batch-size 32 --epochs 1
       --max-steps 20 --progress lines)
rx1=$(rx_bytes p2); rx2=$(rx_bytes p3)
out=$(mpi_ns 120 "$work/hostfile" -np 4 "$bin" "${train[@]}" --checkpoint-dir "$work/D1" 2>&1); status=$?
if [ $status -eq 0 ] && [ -f "$work/D1/latest" ] && grep -q "4 ranks" <<<"$out"; then
    ok "2-host x 2-rank training run over TCP writes a checkpoint"
else bad "2-host x 2-rank training run (exit $status)" "$out"; fi
moved=$(( $(rx_bytes p2) - rx1 + $(rx_bytes p3) - rx2 ))
# 20 steps all-reduce 633,226 floats (2.5 MB) each, so tens of MB must cross the links.
if [ "$moved" -gt 20000000 ]; then ok "the gradients crossed the veth links ($((moved / 1000000)) MB from the two hosts)"
else bad "too little traffic on the veth links: $moved bytes"; fi

# On one host the default (auto) would reduce through shared memory, in another order;
# overlap is what the 2-host run fell back to, so the two must agree.
out=$(timeout 120 bash "$root/scripts/mpirun.sh" -np 4 "$bin" "${train[@]}" --allreduce overlap --checkpoint-dir "$work/D2" 2>&1); status=$?
if [ $status -eq 0 ] && [ -f "$work/D2/latest" ]; then ok "the same run with 4 ranks on one host"
else bad "the same run on one host (exit $status)" "$out"; fi
out=$("$bin" inspect "$work/D1" --compare "$work/D2" --rtol 1e-6 2>&1); status=$?
if [ $status -eq 0 ] && grep -q "largest relative difference" <<<"$out"; then
    ok "multi-host and single-host parameters agree (inspect --compare --rtol 1e-6: $(grep -o 'largest relative difference [^ ]*' <<<"$out"))"
else bad "multi-host and single-host parameters differ (exit $status)" "$out"; fi
# --allreduce shared across hosts is hierarchical: each host sums in shared memory and
# keeps its own copy, each local rank all-reduces its slice with the other host's.
rx1=$(rx_bytes p2); rx2=$(rx_bytes p3)
out=$(mpi_ns 120 "$work/hostfile" -np 4 "$bin" "${train[@]}" --allreduce shared --check-replicas 1 --checkpoint-dir "$work/D4" 2>&1); status=$?
moved=$(( $(rx_bytes p2) - rx1 + $(rx_bytes p3) - rx2 ))
if [ $status -eq 0 ] && grep -q "on each of 2 nodes" <<<"$out" && [ -f "$work/D4/latest" ]; then
    ok "--allreduce shared across 2 hosts runs hierarchically, the hosts' copies checked equal every step ($((moved / 1000000)) MB crossed)"
else bad "--allreduce shared across 2 hosts (exit $status)" "$out"; fi
out=$("$bin" inspect "$work/D4" --compare "$work/D2" --rtol 1e-5 2>&1); status=$?
if [ $status -eq 0 ] && grep -q "largest relative difference" <<<"$out"; then
    ok "hierarchical and single-host parameters agree (--rtol 1e-5: $(grep -o 'largest relative difference [^ ]*' <<<"$out"))"
else bad "hierarchical and single-host parameters differ (exit $status)" "$out"; fi
out=$(mpi_ns 120 "$work/hostfile" -np 3 "$bin" "${train[@]}" --allreduce shared 2>&1); status=$?
if [ $status -eq 2 ] && [ "$(grep -c "the same number of ranks on every node" <<<"$out")" -eq 1 ]; then
    ok "--allreduce shared over hosts with 2 and 1 ranks is refused once, with exit 2"
else bad "--allreduce shared over unequal hosts (exit $status)" "$out"; fi
out=$(timeout 120 bash "$root/scripts/mpirun.sh" -np 4 "$bin" "${train[@]}" --seed 7 --checkpoint-dir "$work/D3" 2>&1); status=$?
if [ $status -eq 0 ]; then out=$("$bin" inspect "$work/D1" --compare "$work/D3" --rtol 1e-6 2>&1); status=$?; else status="run failed: $status"; fi
if [ "$status" = 1 ]; then ok "a run with another seed is told apart (inspect exits 1)"
else bad "inspect --compare did not flag a run with another seed (exit $status)" "$out"; fi

# --- 3. all-reduce benchmark across the hosts (figures only, no timing assertion) -----------
bench=(bench allreduce --min-bytes 16384 --max-bytes 4194304 --rounds 1)
out=$(mpi_ns 90 "$work/hostfile" -np 2 --map-by node "$bin" "${bench[@]}" --json "$work/ar.json" 2>&1); status=$?
fit=$(grep -i "alpha-beta fit" <<<"$out")
if [ $status -eq 0 ] && python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert r and all(x['worldSize']==2 for x in r)" "$work/ar.json" 2>/dev/null; then
    ok "all-reduce benchmark across the 2 hosts over veth: ${fit:-no fit line}"
else bad "all-reduce benchmark across hosts (exit $status)" "$out"; fi
if ip netns exec "$h1" tc qdisc add dev eth0 root netem delay 1ms rate 1gbit 2>"$work/tc.err" &&
   ip netns exec "$h2" tc qdisc add dev eth0 root netem delay 1ms rate 1gbit 2>>"$work/tc.err"; then
    out=$(mpi_ns 90 "$work/hostfile" -np 2 --map-by node "$bin" "${bench[@]}" --json "$work/ar-netem.json" 2>&1); status=$?
    if [ $status -eq 0 ]; then ok "all-reduce with netem 1 ms + 1 Gbit/s on each link: $(grep -i "alpha-beta fit" <<<"$out")"
    else bad "all-reduce benchmark with netem (exit $status)" "$out"; fi
    ip netns exec "$h1" tc qdisc del dev eth0 root 2>/dev/null; ip netns exec "$h2" tc qdisc del dev eth0 root 2>/dev/null
else
    echo "skip  netem delay/rate on the links: $(head -n 1 "$work/tc.err") (kernel module sch_netem missing?)"
fi

# --- 4. bad hosts: a clear error within a timeout, nothing left behind ------------------------
# expect_start_failure NAME HOSTFILE PATTERN: mpirun must fail (not time out) within 60 s,
# print PATTERN, and leave no process behind.
expect_start_failure() {
    local name=$1 hostfile=$2 pattern=$3 out status left start=$SECONDS
    out=$(mpi_ns 60 "$hostfile" -np 4 "$bin" "${train[@]}" 2>&1); status=$?
    left=$(sleep 1; no_leftovers)
    if [ $status -ne 0 ] && [ $status -ne 124 ] && [ $status -ne 137 ] && grep -qE "$pattern" <<<"$out" && [ -z "$left" ]; then
        ok "$name fails in $((SECONDS - start)) s with a clear error, no processes left"
    else bad "$name (exit $status, $((SECONDS - start)) s)" "$out$([ -n "$left" ] && printf '\nleft behind:\n%s' "$left")"; fi
}
printf '10.77.0.11 slots=2\n10.77.0.99 slots=2\n' > "$work/hostfile-unknown"
expect_start_failure "an unknown host (named in the error)" "$work/hostfile-unknown" "10\.77\.0\.99"
printf '10.77.0.11 slots=2\n10.77.0.13 slots=2\n' > "$work/hostfile-dark"
expect_start_failure "a host with no network" "$work/hostfile-dark" "unable to reliably start|unable to complete a TCP connection"

echo "multihost: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
