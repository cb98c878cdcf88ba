#!/usr/bin/env bash
# Time to first instruction without a code cache, whole process: `kiln run --cache off`
# under each strategy against Wasmtime 48 compiling from the .wasm (`wasmtime_run run
# X.wasm`, no cache: Wasmtime's `-C cache=n`). The sides rotate every round; prints each
# side's median wall time over RUNS rounds and its ratio to Wasmtime.
#
#   cargo build --release -p kiln-cli -p kiln-benches
#   benches/tiers_start.sh RUNS PROGRAM.wasm [ARGS...]
#   e.g. benches/tiers_start.sh 5 python.wasm -c pass
set -euo pipefail
runs=${1:?RUNS}; shift
wasm=${1:?PROGRAM.wasm}; shift
bin=$(dirname "$0")/../target/release
sides=("kiln eager" "kiln lazy" "kiln tiered" "wasmtime")
cmd() {
  case "$1" in
    "kiln "*) "$bin/kiln" run --cache off --strategy "${1#kiln }" "$wasm" "${@:2}" ;;
    wasmtime) "$bin/wasmtime_run" run "$wasm" "${@:2}" ;;
  esac
}
declare -A times
for ((r = 0; r < runs; r++)); do
  for ((k = 0; k < ${#sides[@]}; k++)); do
    side=${sides[$(((k + r) % ${#sides[@]}))]}
    t0=$(date +%s%N)
    cmd "$side" "$@" > /dev/null
    t1=$(date +%s%N)
    times[$side]+="$(((t1 - t0) / 1000000)) "
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
w=$(echo "${times[wasmtime]}" | median)
echo "| side | median ms | / wasmtime |"
echo "|---|---:|---:|"
for side in "${sides[@]}"; do
  m=$(echo "${times[$side]}" | median)
  echo "| $side | $m | $(awk -v a="$m" -v b="$w" 'BEGIN {printf "%.3f", a / b}') |"
done
