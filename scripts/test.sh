#!/usr/bin/env bash
# The whole test suite: installs what the tests need when it is missing, then runs the format
# check, clippy with -D warnings, every test (including those against real NATS, PostgreSQL and
# MongoDB-compatible servers, which the tests start themselves on free ports) and the docs build.
#
# Usage: scripts/test.sh [--no-install]
set -euo pipefail
cd "$(dirname "$0")/.."

install=1
[ "${1:-}" = "--no-install" ] && install=0

log() { printf '\n==> %s\n' "$*"; }

if [ "$install" = 1 ]; then
  scripts/install-test-deps.sh
fi

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (all targets, all features, -D warnings)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

log "cargo test (all features)"
cargo test --workspace --all-features --locked

log "cargo doc (no warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

log "all checks passed"
