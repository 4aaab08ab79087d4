#!/usr/bin/env bash
# Runs every check and test of abstraction-tracker: formatting, clippy, unit and
# integration tests (each starts its own nats-server), Prometheus rule tests.
# Installs what is missing when run as root on Debian; otherwise says what to run.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
command -v promtool >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
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

echo "== prometheus rules"
if [ -d deploy/prometheus/rules ]; then
  promtool check config deploy/prometheus/prometheus.yml
  promtool check rules deploy/prometheus/rules/*.yml
  promtool test rules deploy/prometheus/tests/*.yml
fi

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast
else
  cargo test --locked --no-fail-fast
fi
