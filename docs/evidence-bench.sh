#!/usr/bin/env bash
# docs/BENCHMARKS.md, "One scan for neighbouring entities". Run from the repository:
#   cargo build --release --bin abstraction-tracker && cp target/release/abstraction-tracker /tmp/at-a
#   (check out the other version, build again) && cp target/release/abstraction-tracker /tmp/at-b
#   BINS="/tmp/at-a /tmp/at-b" bash docs/evidence-bench.sh
# Needs nats-server and curl. One stream of simulated events (seed 7, 2024, 3,500 officers:
# 1,000,506 events) is ingested once per engine by the first binary; then each data
# directory is served by each binary in turn, twice, and Birmingham's 2024-06 evidence and
# open list are asked 10 times each: median (5th and 6th of 10), min and max, seconds.
# The binaries must read the same store format.
set -euo pipefail
read -r -a BINS <<< "${BINS:-target/release/abstraction-tracker}"
OFFICERS=${OFFICERS:-3500}
W=$(mktemp -d /tmp/evbench.XXXX)
PORT=$((20000 + RANDOM % 20000)); HTTP=$((PORT + 1))
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$W/nats" >"$W/nats.log" 2>&1 & NATS=$!
trap 'kill $NATS 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
"${BINS[0]}" simulate --seed 7 --from 2024-01-01 --to 2024-12-31 --officers "$OFFICERS" > "$W/events.ndjson"
N=$(wc -l < "$W/events.ndjson")
serve() { # BIN ENGINE
  RUST_LOG=warn "$1" serve --nats-url "nats://127.0.0.1:$PORT" --engine "$2" --data-dir "$W/data-$2" \
    --consumer "bench-$2" --http-addr "127.0.0.1:$HTTP" --as-of 2025-01-15T12:00:00Z &
  PID=$!
  until curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null; do sleep 0.2; done
}
stored() { curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^abstraction_tracker_stored_events /{print $2}'; }
first=1
for E in sled fjall; do
  serve "${BINS[0]}" "$E"
  if [ $first = 1 ]; then "${BINS[0]}" publish --no-validate --nats-url "nats://127.0.0.1:$PORT" "$W/events.ndjson" | tail -1; first=0; fi
  start=$(date +%s.%N)
  until [ "$(stored)" = "$N" ]; do sleep 1; done
  echo "$E: $N events stored in $(echo "$(date +%s.%N) - $start" | bc) s"
  kill -TERM $PID; wait $PID || true
  for round in 1 2; do
    for B in "${BINS[@]}"; do
      serve "$B" "$E"
      until curl -sf "http://127.0.0.1:$HTTP/readyz" >/dev/null; do sleep 0.5; done
      for path in months/2024-06/abstractions months/2024-06/shifts abstractions/open; do
        ts=$(for _ in $(seq 10); do
          curl -s -o "$W/out" -w '%{time_total}\n' "http://127.0.0.1:$HTTP/api/v1/lpas/birmingham/$path"
        done | sort -n)
        echo "$E round $round $B $path: median $(echo "$ts" | sed -n 5,6p | awk '{s+=$1} END {printf "%.3f", s/2}')" \
          "(min $(echo "$ts" | head -1), max $(echo "$ts" | tail -1)), $(stat -c %s "$W/out") B"
      done
      kill -TERM $PID; wait $PID || true
    done
  done
done
