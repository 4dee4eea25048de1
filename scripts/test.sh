#!/bin/sh
# Runs every check CI runs, from any directory: formatting, lints, then all tests (unit tests,
# property tests, the contract suite against the real server binaries on 127.0.0.1 with the chat
# in memory and in Redis, the cluster behind nginx, and the pages in headless Chromium), then
# the workshop's grader both ways.
# Installs Chromium, redis-server and nginx first when they are missing and this is a Debian
# machine we are root on; otherwise those tests fail and say how.
set -eu
cd "$(dirname "$0")/.."

# The suite compiles everything once: incremental compilation's caches (3.7 GB from a fresh
# clone) serve an edit-and-rebuild loop, not this. Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# What the tests need besides Rust: Chromium and its driver (the pages), redis-server and nginx
# (the contract suite with --redis, and the cluster tests), from Debian's packages. Installed
# when missing, if we are root on Debian; otherwise those tests fail and say how to install them.
. scripts/services.sh
need chromium:chromium chromedriver:chromium-driver redis-server:redis-server nginx:nginx ||
    echo "    the tests that need them will fail"

echo "==> cargo fmt --all --check"
cargo fmt --all --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test --workspace --locked"
cargo test --workspace --locked

# The workshop is a workspace of its own (unsolved exercises must not break the one above).
sh scripts/workshop.sh
