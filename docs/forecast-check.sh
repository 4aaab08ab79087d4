#!/usr/bin/env bash
# The forecast check of docs/forecast-check.md, through the real binary and broker:
# December 2026 as the tracker sees it at noon on the 7th (the live simulation: the
# roster and the planned work booked by then, unplanned abstractions up to then),
# against the whole month simulated with the same seed and read after it closed.
#
#   bash docs/forecast-check.sh            # BIN, OFFICERS, OUT may be set
#
# Writes $OUT/day7.json, $OUT/closed.json, $OUT/report-day7.html and prints the
# per-LPA table. Needs nats-server (Debian's /usr/sbin/nats-server) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-./target/release/abstraction-tracker}
OFFICERS=${OFFICERS:-2000}
OUT=${OUT:-./forecast-check}
NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
[ -x "$BIN" ] || { echo "no binary at $BIN: run cargo build --release (or set BIN)" >&2; exit 1; }
free_port() {
  local p=$1
  while (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}
rm -rf "$OUT"; mkdir -p "$OUT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

# run NAME AS_OF TO [NOW]: a fresh broker and tracker, the simulated events, the report.
run() {
  local name=$1 as_of=$2 to=$3 now=${4:-}
  local dir=$OUT/$name nats_port http_port
  mkdir -p "$dir"
  nats_port=$(free_port 24222); http_port=$(free_port 28080)
  "$NATS_BIN" -js -a 127.0.0.1 -p "$nats_port" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
  local nats_pid=$!; pids+=("$nats_pid")
  export NATS_URL=nats://127.0.0.1:$nats_port
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$nats_port") 2>/dev/null && break; sleep 0.1; done
  "$BIN" serve --data-dir "$dir/store" --http-addr "127.0.0.1:$http_port" --as-of "$as_of" >"$dir/tracker.log" 2>&1 &
  local tracker_pid=$!; pids+=("$tracker_pid")
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
  "$BIN" simulate --seed 1 --from 2026-12-01 --to "$to" ${now:+--now "$now"} --officers "$OFFICERS" >"$dir/events.ndjson"
  "$BIN" publish "$dir/events.ndjson"
  for _ in $(seq 3000); do curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.2; done
  curl -fs "http://127.0.0.1:$http_port/readyz" >/dev/null || { echo "$name: the tracker did not catch up" >&2; exit 1; }
  "$BIN" report --server "http://127.0.0.1:$http_port" --month 2026-12 --format json >"$OUT/$name.json"
  "$BIN" report --server "http://127.0.0.1:$http_port" --month 2026-12 --format html >"$OUT/report-$name.html"
  kill "$tracker_pid" "$nats_pid"; wait "$tracker_pid" "$nats_pid" 2>/dev/null || true
}

echo "== December 2026 as of 2026-12-07T12:00:00Z (live: roster and bookings ahead)"
run day7 2026-12-07T12:00:00Z 2026-12-31 2026-12-07T12:00:00Z
echo "== December 2026 closed (simulated to 2027-01-03, read as of 2027-01-15)"
run closed 2027-01-15T12:00:00Z 2027-01-03

python3 - "$OUT/day7.json" "$OUT/closed.json" "$OFFICERS" <<'PY'
import json, sys
day7, closed, officers = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
final = {l["lpa"]: l["abstraction_ratio"] for l in closed["lpas"]}
pct = lambda r: "—" if r is None else f"{r * 100:.1f}%"
print(f"{officers} officers, seed 1\n")
print("| LPA | Ratio to date | Forecast | Status (forecast) | Final ratio | Forecast error |")
print("|---|---:|---:|---|---:|---:|")
worst = 0.0
for l in day7["lpas"]:
    p = l["in_progress"]
    f, r = p["forecast_ratio"], final[l["lpa"]]
    worst = max(worst, abs(f - r))
    print(f"| {l['name']} | {pct(p['abstraction_ratio_to_date'])} | {pct(f)} | {l['rag']} | {pct(r)} | {(f - r) * 100:+.1f} pp |")
s, c = day7["summary"]["in_progress"], closed["summary"]["abstraction_ratio"]
print(f"| Force | {pct(s['abstraction_ratio_to_date'])} | {pct(s['forecast_ratio'])} | | {pct(c)} | {(s['forecast_ratio'] - c) * 100:+.1f} pp |")
print(f"\nlargest LPA error: {worst * 100:.1f} pp")
PY
