#!/usr/bin/env bash
# Instructions the echo server executes per echoed message (user space: node, V8's JIT code, the
# addon, libc), counted by valgrind's callgrind over a fixed window of saturated small-message
# load (bench (b)'s shape: 100 connections, 16 in flight, 32 B). Unlike msgs/s, the count barely
# moves with what else the machine is doing, so two builds can be compared on a noisy machine.
#
#   scripts/bench/echo-instructions.sh [--text] [CHECKOUT...]   (default: this checkout)
#
# Each CHECKOUT must be built (addon + dist). Prints one line per checkout: messages, Ir, Ir/msg.
# Kernel work (the syscalls) is not counted; it is the same for the same write pattern.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODE=--binary
if [ "${1:-}" = "--text" ]; then MODE=--text; shift; fi
[ $# -gt 0 ] || set -- "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
LOADGEN="$ROOT/native/bench/build/loadgen"
[ -x "$LOADGEN" ] || make -s -C "$ROOT/native/bench" >&2
WARMUP=8 WINDOW=20
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
for checkout in "$@"; do
  port=$((port + 1))
  out="$work/callgrind.out"
  rm -f "$out"*
  (cd "$checkout" && exec valgrind --tool=callgrind --smc-check=all-non-file --instr-atstart=no \
    --callgrind-out-file="$out" node examples/echo-server.js --port "$port") >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 600); do grep -q listening "$work/server.log" && break; sleep 0.2; done
  grep -q listening "$work/server.log" || { cat "$work/server.log" >&2; kill "$server"; exit 1; }
  "$LOADGEN" --ports "$port" --connections 100 --inflight 16 --size 32 $MODE \
    --warmup "$WARMUP" --duration "$WINDOW" --json >"$work/loadgen.json" &
  load=$!
  # Count only the measured window: instrumentation on when the load generator's warmup ends.
  sleep "$WARMUP"; callgrind_control -i on "$server" >/dev/null 2>&1
  sleep "$WINDOW"; callgrind_control -i off "$server" >/dev/null 2>&1
  wait "$load"
  kill -INT "$server"; wait "$server" || true
  messages=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).messages' "$work/loadgen.json")
  instructions=$(grep -h '^summary\|^totals' "$out"* | awk '{s += $2} END {printf "%.0f", s}')
  node -e 'const [c, m, i] = process.argv.slice(1); console.log(`${c}: ${m} messages, ${i} Ir, ${(i / m).toFixed(0)} Ir/msg`)' \
    "$checkout" "$messages" "$instructions"
done
