#!/usr/bin/env bash
# Local demo: a nats-server with JetStream, the tracker, simulated West Midlands traffic
# for the last three months up to now plus the roster published to the end of next
# month, then the board's report for the month in progress and where to see metrics.
# Last month's report is issued (frozen as issue 1) before a few late corrections for
# it arrive, so its report then shows a revision (contract v3 section 13).
# Installs what is missing when run as root on Debian; otherwise says what to run.
#
# Options (environment): DEMO_DIR (default ./demo-data), DEMO_NATS_PORT (14222),
# DEMO_HTTP_PORT (18080), DEMO_OFFICERS (2000), DEMO_AS_OF (the tracker's and the
# simulator's "now", RFC 3339; default the wall clock), DEMO_FROM/DEMO_TO (default the
# 1st of the month two months before now / the last day of next month; a DEMO_TO given
# alone makes noon on it "now", the history-only demo), DEMO_KEEP=1 keeps the broker and
# tracker running until Ctrl-C (the default on a terminal).
set -euo pipefail
cd "$(dirname "$0")/.."

# The first free port from $1 upward (the machine may already run NATS on 4222).
free_port() {
  local p=$1
  while (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
DIR=${DEMO_DIR:-./demo-data}
NATS_PORT=${DEMO_NATS_PORT:-$(free_port 14222)}
HTTP_PORT=${DEMO_HTTP_PORT:-$(free_port 18080)}
OFFICERS=${DEMO_OFFICERS:-2000}
if [ -n "${DEMO_TO:-}" ] && [ -z "${DEMO_AS_OF:-}" ]; then
  AS_OF=${DEMO_TO}T12:00:00Z
else
  AS_OF=${DEMO_AS_OF:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
fi
THIS_MONTH=${AS_OF:0:7}
FROM=${DEMO_FROM:-$(date -u -d "$THIS_MONTH-01 -2 months" +%Y-%m-%d)}
TO=${DEMO_TO:-$(date -u -d "$THIS_MONTH-01 +2 months -1 day" +%Y-%m-%d)}
# The month in progress: the tracker's as-of month (the simulator writes nothing after
# AS_OF, except the roster already published for the days ahead).
MONTH=$THIS_MONTH
if [ -t 0 ]; then KEEP=${DEMO_KEEP:-1}; else KEEP=${DEMO_KEEP:-0}; fi

if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing nats-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  else
    echo "nats-server is missing. Run: sudo apt-get update && sudo apt-get install -y nats-server" >&2
    exit 1
  fi
fi
NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
command -v cargo >/dev/null || { echo "cargo is missing: install Rust (https://rustup.rs)" >&2; exit 1; }

echo "== building (release)"
cargo build --release --locked --quiet
BIN=${CARGO_TARGET_DIR:-./target}/release/abstraction-tracker

rm -rf "$DIR"; mkdir -p "$DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== starting nats-server -js on 127.0.0.1:$NATS_PORT (store $DIR/nats)"
"$NATS_BIN" -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$DIR/nats" >"$DIR/nats.log" 2>&1 &
pids+=($!)
NATS_PID=$!
export NATS_URL=nats://127.0.0.1:$NATS_PORT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
kill -0 "$NATS_PID" 2>/dev/null || { echo "nats-server did not start:" >&2; cat "$DIR/nats.log" >&2; exit 1; }

echo "== starting the tracker on http://127.0.0.1:$HTTP_PORT (log $DIR/tracker.log)"
"$BIN" serve --data-dir "$DIR/store" --http-addr "127.0.0.1:$HTTP_PORT" --as-of "$AS_OF" >"$DIR/tracker.log" 2>&1 &
pids+=($!)
TRACKER_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
kill -0 "$TRACKER_PID" 2>/dev/null || { echo "the tracker did not start:" >&2; cat "$DIR/tracker.log" >&2; exit 1; }

echo "== simulating $FROM to $TO as of $AS_OF for $OFFICERS neighbourhood staff, publishing to JetStream"
"$BIN" simulate --seed 1 --from "$FROM" --to "$TO" --now "$AS_OF" --officers "$OFFICERS" >"$DIR/events.ndjson"
"$BIN" publish "$DIR/events.ndjson"

echo "== waiting for the tracker to catch up"
for _ in $(seq 900); do
  kill -0 "$TRACKER_PID" 2>/dev/null || { echo "the tracker stopped:" >&2; tail -20 "$DIR/tracker.log" >&2; exit 1; }
  curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$HTTP_PORT/readyz" || { echo "the tracker did not catch up in 3 minutes" >&2; exit 1; }

SERVER=http://127.0.0.1:$HTTP_PORT
LAST=$(date -u -d "$THIS_MONTH-01 -1 month" +%Y-%m)
echo "== issuing $LAST's report: the figures the board is shown, frozen as an issue"
"$BIN" report --server "$SERVER" --month "$LAST" --issue >"$DIR/issue-$LAST.json"
echo "   issue $(sed -E 's/.*"issue":([0-9]+).*/\1/' "$DIR/issue-$LAST.json") of $LAST kept in the NEIGHBOURHOOD_ISSUES bucket ($DIR/issue-$LAST.json)"

echo "== late corrections for $LAST arrive after the issue"
# Two abstractions recorded late and one of Walsall's shifts cancelled after the event
# (its first rostered shift of the month in the simulated roster).
LATE_SHIFT=$(grep '"type":"shift.rostered"' "$DIR/events.ndjson" | grep '"lpa":"walsall"' \
  | grep "\"start\":\"$LAST-1" | sed -nE '1s/.*"shift_id":"([^"]+)".*/\1/p' || true)
{
  printf '{"event_id":"demo-late-1","type":"abstraction.recorded","schema_version":1,"occurred_at":"%s","source":"demo","lpa":"walsall","data":{"abstraction_id":"demo-late-abs-1","officer_id":"demo:late:1","role":"pc","sector":"walsall-north","reason":"response_cover","scope":"lpa","planned":false,"start":"%s-15T08:00:00Z","end":"%s-15T12:00:00Z"}}\n' "$AS_OF" "$LAST" "$LAST"
  printf '{"event_id":"demo-late-2","type":"abstraction.recorded","schema_version":1,"occurred_at":"%s","source":"demo","lpa":"dudley","data":{"abstraction_id":"demo-late-abs-2","officer_id":"demo:late:2","role":"pcso","sector":"dudley-town","reason":"response_cover","scope":"lpa","planned":false,"start":"%s-20T10:00:00Z","end":"%s-20T16:00:00Z"}}\n' "$AS_OF" "$LAST" "$LAST"
  if [ -n "$LATE_SHIFT" ]; then
    printf '{"event_id":"demo-late-3","type":"shift.cancelled","schema_version":1,"occurred_at":"%s","source":"demo","lpa":"walsall","data":{"shift_id":"%s"}}\n' "$AS_OF" "$LATE_SHIFT"
  fi
} >"$DIR/late.ndjson"
"$BIN" publish "$DIR/late.ndjson"
for _ in $(seq 150); do curl -fs "$SERVER/readyz" >/dev/null && break; sleep 0.2; done
echo
"$BIN" report --server "$SERVER" --month "$LAST" --format md | sed -n '/^## Revisions since issue/,/^## Hours by reason/p' | sed '$d'
"$BIN" report --server "$SERVER" --month "$LAST" --format html >"$DIR/report-$LAST.html"

"$BIN" report --server "http://127.0.0.1:$HTTP_PORT" --month "$MONTH" --format html >"$DIR/report-$MONTH.html"
"$BIN" report --server "http://127.0.0.1:$HTTP_PORT" --month "$MONTH" --format csv >"$DIR/report-$MONTH.csv"
echo
"$BIN" report --server "http://127.0.0.1:$HTTP_PORT" --month "$MONTH" --format md
echo
echo "== see it yourself"
echo "metrics:      curl http://127.0.0.1:$HTTP_PORT/metrics | grep ^neighbourhood_"
echo "month JSON:   curl http://127.0.0.1:$HTTP_PORT/api/v1/months/$MONTH"
echo "report:       $DIR/report-$MONTH.html (also http://127.0.0.1:$HTTP_PORT/api/v1/reports/monthly/$MONTH)"
echo "CSV:          $DIR/report-$MONTH.csv"
echo "issued month: $DIR/report-$LAST.html, its issues: curl $SERVER/api/v1/reports/monthly/$LAST/issues"
echo "what moved:   $BIN explain --server $SERVER --lpa walsall --month $LAST --format csv | grep ',true\$'"
echo "events_total: $(curl -fs http://127.0.0.1:$HTTP_PORT/metrics | grep '^abstraction_tracker_events_total' | tr '\n' ' ')"
if [ "$KEEP" = 1 ]; then
  echo "broker and tracker keep running; Ctrl-C stops them."
  wait
fi
