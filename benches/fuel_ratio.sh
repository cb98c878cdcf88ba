#!/bin/bash
# Compile time of N sequential small loops with fuel against without, whole process:
# `kiln compile --consume-fuel` and `kiln compile` alternate RUNS times; prints the
# medians and their ratio (issue 13's target: within 2x, up to at least 100k loops).
#
#   cargo build --release -p kiln-cli
#   benches/fuel_ratio.sh [RUNS] [N...]        # defaults: 11 runs; 1k 10k 20k 50k 100k 200k
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=$root/target/release/kiln
runs=${1:-11}
shift || true
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1000 10000 20000 50000 100000 200000)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{x[NR]=$1} END {print x[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
echo "| loops | fuel | no fuel | ratio |"
echo "|---:|---:|---:|---:|"
for n in "${counts[@]}"; do
  wat=$work/loops_$n.wat
  python3 -c "import sys; sys.stdout.write('(module (func (export \"f\") (param i32)' + ' (loop (br_if 0 (local.get 0)))' * $n + '))')" > "$wat"
  fuel=(); plain=()
  for _ in $(seq "$runs"); do
    fuel+=("$(seconds "$kiln" compile --consume-fuel -o "$work/a.kwasm" "$wat")")
    plain+=("$(seconds "$kiln" compile -o "$work/b.kwasm" "$wat")")
  done
  f=$(printf '%s\n' "${fuel[@]}" | median)
  p=$(printf '%s\n' "${plain[@]}" | median)
  printf '| %d | %.3f s | %.3f s | %.2f |\n' "$n" "$f" "$p" "$(echo "$f / $p" | bc -l)"
done
