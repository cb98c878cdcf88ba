#!/usr/bin/env bash
# Issue 18's clock benchmark, whole processes: benches/host/clock_loop.c built
# natively and for wasm32-wasi, run by `kiln run` (WASI fast paths on, then off) and by
# Wasmtime 48 (`wasmtime_run`, from a precompiled .cwasm), in rounds that rotate the
# order. Prints each side's median wall time and its ratio to native.
#
#   benches/host_clock.sh [ROUNDS]      (default 11; needs clang-14 and wasi-libc:
#                                        apt-get install clang-14 lld-14 wasi-libc
#                                        libclang-rt-14-dev-wasm32)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-11}
out=target/host_clock
mkdir -p "$out"
cc -O2 -o "$out/clock_native" benches/host/clock_loop.c
clang-14 --target=wasm32-wasi --sysroot=/usr -O2 -o "$out/clock.wasm" benches/host/clock_loop.c
cargo build -q --release -p kiln-cli -p kiln-benches --bin kiln --bin wasmtime_run
target/release/wasmtime_run compile "$out/clock.wasm" "$out/clock.cwasm"
export XDG_CACHE_HOME="$PWD/$out/cache"
# Warm Kiln's code cache (both variants compile once).
target/release/kiln run "$out/clock.wasm" >/dev/null
target/release/kiln run --no-wasi-fast-paths "$out/clock.wasm" >/dev/null

sides=(native kiln kiln-generic wasmtime)
run_side() {
    case $1 in
        native) "$out/clock_native" ;;
        kiln) target/release/kiln run "$out/clock.wasm" ;;
        kiln-generic) target/release/kiln run --no-wasi-fast-paths "$out/clock.wasm" ;;
        wasmtime) target/release/wasmtime_run run "$out/clock.cwasm" ;;
    esac
}
declare -A times
for ((r = 0; r < rounds; r++)); do
    for ((k = 0; k < ${#sides[@]}; k++)); do
        s=${sides[$(((k + r) % ${#sides[@]}))]}
        start=$(date +%s%N)
        result=$(run_side "$s")
        end=$(date +%s%N)
        [ "$result" = 0 ] || { echo "$s printed $result" >&2; exit 1; }
        times[$s]+="$(((end - start) / 1000)) "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
native=$(echo "${times[native]}" | median)
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), commit $(git rev-parse --short HEAD), $rounds rounds"
echo "| side | median wall time (ms) | ratio to native |"
echo "|---|---:|---:|"
for s in "${sides[@]}"; do
    m=$(echo "${times[$s]}" | median)
    awk -v s="$s" -v m="$m" -v n="$native" 'BEGIN { printf "| %s | %.1f | %.2f |\n", s, m / 1000, m / n }'
done
