#!/usr/bin/env bash
# OpenMPI launch agent for "hosts" that are Linux network namespaces on this machine
# (scripts/test_multihost.sh). mpirun calls its rsh agent like ssh:
#     netns-agent.sh [ssh-style options] HOST COMMAND WORDS...
# Instead of ssh, this runs the command (OpenMPI's orted) inside the namespace mapped to
# HOST, in a UTS namespace of its own whose hostname is the host's name, so OpenMPI sees
# distinct nodes. The map is a file named by $LOCKSTEP_NETNS_MAP, one host a line:
#     ADDRESS NAMESPACE HOSTNAME        e.g. 10.77.0.11 lockstep-h1-123 node1
# Use: mpirun --mca plm_rsh_agent /path/cluster/netns-agent.sh --mca plm_rsh_no_tree_spawn 1 ...
# A host missing from the map is refused with exit 255, as ssh does for an unknown host.
set -euo pipefail

while [ $# -gt 0 ] && [[ "$1" == -* ]]; do
    case "$1" in
        -o|-p|-l|-i|-F) shift 2 ;;   # ssh options that take a value
        *) shift ;;
    esac
done
if [ $# -lt 2 ]; then
    echo "netns-agent: usage: netns-agent.sh HOST COMMAND..." >&2
    exit 255
fi
host=$1
shift
map=${LOCKSTEP_NETNS_MAP:-}
if [ -z "$map" ] || [ ! -r "$map" ]; then
    echo "netns-agent: LOCKSTEP_NETNS_MAP does not name a readable map file ('$map')" >&2
    exit 255
fi
read -r ns name < <(awk -v h="$host" '$1 == h || $3 == h { print $2, $3; exit }' "$map") || true
if [ -z "${ns:-}" ]; then
    echo "netns-agent: host '$host' is not in $map: no such host (no namespace mapped to it)" >&2
    exit 255
fi
if ! ip netns pids "$ns" >/dev/null 2>&1 && [ ! -e "/run/netns/$ns" ]; then
    echo "netns-agent: host '$host' maps to namespace '$ns', which does not exist" >&2
    exit 255
fi
# ssh joins its command words with spaces and hands them to the remote shell; so do we.
# shellcheck disable=SC2016  # $1 and $2 belong to the inner shell
exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$1" && exec /bin/sh -c "$2"' netns-agent "$name" "$*"
