#!/usr/bin/env bash
# docs/BENCHMARKS.md, "sled and fjall through the real serve". Run from the repository:
#   cargo build --release --bin abstraction-tracker
#   OFFICERS=2000 FROM=2024-01-01 TO=2024-06-30 bash docs/engine-quick-bench.sh
# Needs nats-server and curl. Quick engine comparison through the real `serve` (release build): one stream of
# simulated events, consumed once by a sled projector and once by a fjall projector,
# one after the other; each timed from start until its /metrics counts every event,
# its peak RSS (VmHWM) read then, its data directory measured after a clean stop.
set -euo pipefail
BIN=${BIN:-target/release/abstraction-tracker}
OFFICERS=${OFFICERS:-2000}
FROM=${FROM:-2024-01-01}; TO=${TO:-2024-03-31}
W=$(mktemp -d /tmp/engbench.XXXX)
PORT=$((20000 + RANDOM % 20000)); HTTP=$((PORT + 1))
nats-server -js -p "$PORT" -sd "$W/nats" >"$W/nats.log" 2>&1 & NATS=$!
trap 'kill $NATS 2>/dev/null; rm -rf "$W"' EXIT
sleep 1
"$BIN" simulate --seed 1 --from "$FROM" --to "$TO" --officers "$OFFICERS" > "$W/events.ndjson"
N=$(wc -l < "$W/events.ndjson"); JSON=$(stat -c %s "$W/events.ndjson")
echo "events $N, raw JSON $JSON bytes ($(numfmt --to=iec "$JSON"))"
# serve creates the streams; a throwaway one does so before anything is published.
RUST_LOG=warn "$BIN" serve --nats-url "nats://127.0.0.1:$PORT" --data-dir "$W/streams" --consumer setup --http-addr "127.0.0.1:$HTTP" & S=$!
until curl -s "http://127.0.0.1:$HTTP/healthz" >/dev/null; do sleep 0.2; done; sleep 1; kill -TERM $S; wait $S || true
"$BIN" publish --nats-url "nats://127.0.0.1:$PORT" "$W/events.ndjson" 2>&1 | tail -1
for E in sled fjall; do
  D="$W/data-$E"
  start=$(date +%s.%N)
  RUST_LOG=warn "$BIN" serve --nats-url "nats://127.0.0.1:$PORT" --engine "$E" --data-dir "$D" \
     --consumer "bench-$E" --http-addr "127.0.0.1:$HTTP" --as-of 2024-04-30T12:00:00Z &
  PID=$!
  until [ "$(curl -s "http://127.0.0.1:$HTTP/metrics" | awk '/^abstraction_tracker_stored_events /{print $2}')" = "$N" ]; do sleep 0.2; done
  end=$(date +%s.%N)
  rss=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
  kill -TERM $PID; wait $PID || true
  du=$(du -sb "$D" | cut -f1); alloc=$(du -s --block-size=1 "$D" | cut -f1)
  echo "$E: data dir allocated on disk $(numfmt --to=iec $alloc) (apparent $(numfmt --to=iec $du)); files: $(ls "$D" | tr '\n' ' ')"
  python3 - "$E" "$N" "$start" "$end" "$rss" "$du" "$JSON" <<'PY'
import sys
e,n,s,t,rss,du,js=sys.argv[1],int(sys.argv[2]),float(sys.argv[3]),float(sys.argv[4]),int(sys.argv[5]),int(sys.argv[6]),int(sys.argv[7])
print(f"{e}: {n} events in {t-s:.1f} s = {n/(t-s):,.0f} events/s (start to all stored); peak RSS {rss/1024:.0f} MiB; data dir {du/2**20:.0f} MiB = {du/js:.2f}x the JSON")
PY
done
