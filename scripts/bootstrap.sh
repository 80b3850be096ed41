#!/usr/bin/env bash
# Installs the Debian packages Lockstep needs, only those that are missing, saying what
# it does. Safe to run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev dataset-fashion-mnist pkg-config zlib1g-dev python3-venv)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "bootstrap: all system packages present (${packages[*]})"
else
    echo "bootstrap: installing missing packages: ${missing[*]}"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
        echo "bootstrap: not root and no sudo; please install: ${missing[*]}" >&2; exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null; then
    echo "bootstrap: the Swift toolchain (swift 6.x) is not on PATH; install it from swift.org first" >&2
    exit 1
fi
