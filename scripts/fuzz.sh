#!/usr/bin/env bash
# Fuzzes Lockstep's parsers of outside input with libFuzzer and AddressSanitizer: IDX,
# NPY, CSV, safetensors and state.json (Tests/Fuzz/FuzzTargets.swift), and model files
# (target `model`, Tests/Fuzz/ModelFileFuzzTarget.swift; it needs Yams, checked out by a
# first `swift build`). Each target starts
# from its seed corpus of valid files (Tests/Fuzz/corpus/TARGET) and runs SECONDS.
# Usage: scripts/fuzz.sh SECONDS [TARGET...]       (default: every target)
# A crash, hang (over 10 s on one input) or memory error leaves the input in
# .build/fuzz/crashes/TARGET/ and makes the script exit 1; add it to the target's
# regression tests. Inputs that found new paths collect in .build/fuzz/corpus/TARGET.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(idx npy csv safetensors state model)
case $seconds in ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not '$seconds'" >&2; exit 2 ;; esac

out=.build/fuzz
bin=$out/lockstep-fuzz
mkdir -p "$out/src"
# The parsers' sources compiled as one module: their own `import` of each other goes.
# (Lockstep's TrainingConfiguration needs NeuralNet and Yams, so state.json is fuzzed with
# a stand-in configuration: decoding and the checks every checkpoint must pass.)
sources=(Sources/Randomness/*.swift Sources/Datasets/*.swift Sources/Checkpoints/*.swift Tests/Fuzz/FuzzTargets.swift)
newest=$(ls -t "${sources[@]}" "$0" | head -n 1)
if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
    echo "== building $bin (-sanitize=fuzzer,address)"
    rm -f "$out"/src/*.swift
    for f in "${sources[@]}"; do
        sed -E '/^import (Randomness|Datasets|Checkpoints)$/d' "$f" > "$out/src/$(basename "$(dirname "$f")")_$(basename "$f")"
    done
    if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name LockstepFuzz \
        -I Sources/CZlib -lz "$out"/src/*.swift -o "$bin" 2> "$out/build.log"; then
        grep -v "Cannot export local symbol" "$out/build.log" | tail -n 30 >&2
        echo "fuzz.sh: build failed" >&2; exit 1
    fi
fi

# The model-file target: NeuralNet (with Randomness) and Yams' Swift sources as one
# module (named Yams, so that `Yams.compose` still resolves), Yams' C parser and the
# convolution kernels as objects, all instrumented.
model_bin=$out/lockstep-fuzz-model
yams=.build/checkouts/Yams/Sources
model_sources=(Sources/Randomness/*.swift Sources/NeuralNet/*.swift Tests/Fuzz/ModelFileFuzzTarget.swift)
if printf '%s\n' "${targets[@]}" | grep -qx model; then
    [ -d "$yams/Yams" ] || { echo "fuzz.sh: $yams not found; run 'swift build' once first" >&2; exit 1; }
    newest=$(ls -t "${model_sources[@]}" "$0" | head -n 1)
    if [ ! -x "$model_bin" ] || [ "$newest" -nt "$model_bin" ]; then
        echo "== building $model_bin (-sanitize=fuzzer,address)"
        rm -rf "$out/model-src" "$out/model-build.log" && mkdir -p "$out/model-src" "$out/model-obj"
        for f in "${model_sources[@]}"; do
            sed -E '/^(@_exported )?import (Randomness|Yams)$/d' "$f" > "$out/model-src/$(basename "$(dirname "$f")")_$(basename "$f")"
        done
        cp "$yams"/Yams/*.swift "$out/model-src/"
        # SwiftPM writes the kernels' module map itself; outside it, this one.
        mkdir -p "$out/model-inc"
        printf 'module CConvKernels {\n    header "%s"\n    export *\n}\n' "$(pwd)/Sources/CConvKernels/include/CConvKernels.h" > "$out/model-inc/module.modulemap"
        objs=()
        for c in "$yams"/CYaml/src/*.c Sources/CConvKernels/*.c; do
            o=$out/model-obj/$(basename "$c" .c).o
            clang -c -O1 -g -fsanitize=fuzzer-no-link,address -mavx2 -mfma -DYAML_DECLARE_STATIC -I "$yams/CYaml/include" \
                -I Sources/CConvKernels/include "$c" -o "$o" 2>> "$out/model-build.log" || { tail -n 20 "$out/model-build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 1; }
            objs+=("$o")
        done
        if ! swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name Yams -D SWIFT_PACKAGE -Xcc -DYAML_DECLARE_STATIC \
            -I "$yams/CYaml/include" -I "$out/model-inc" -I Sources/CBLAS \
            "$out"/model-src/*.swift "${objs[@]}" -lopenblas -o "$model_bin" 2>> "$out/model-build.log"; then
            grep -v "Cannot export local symbol" "$out/model-build.log" | grep -E "error" | head -n 30 >&2
            echo "fuzz.sh: build failed" >&2; exit 1
        fi
    fi
fi

status=0
printf '%-12s %8s %10s %8s %s\n' target seconds runs coverage result
for t in "${targets[@]}"; do
    seeds=Tests/Fuzz/corpus/$t
    [ -d "$seeds" ] || { echo "fuzz.sh: unknown target '$t' (no $seeds)" >&2; exit 2; }
    mkdir -p "$out/corpus/$t" "$out/crashes/$t"
    log=$out/$t.log
    target_bin=$bin; [ "$t" = model ] && target_bin=$model_bin
    LOCKSTEP_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$target_bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/crashes/$t/" "$out/corpus/$t" "$seeds" > "$log" 2>&1
    rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    if [ $rc -eq 0 ]; then result=ok; else
        result="CRASH: $(ls -t "$out/crashes/$t" | head -n 1) (log $log)"; status=1
        grep -E "ERROR|Fatal error|panic|#[0-9]+ 0x" "$log" | head -n 12 | sed 's/^/    /'
    fi
    printf '%-12s %8s %10s %8s %s\n' "$t" "$seconds" "${runs:-?}" "${cov:-?}" "$result"
done
exit $status
