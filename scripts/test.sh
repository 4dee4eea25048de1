#!/bin/sh
# Runs every check CI runs, from any directory: formatting, lints, the API docs and the book
# with its link test, then all tests (unit tests, property tests, the contract suite against the
# real server binaries on 127.0.0.1 with the chat in memory and in Redis and over HTTP/2, the
# cluster behind nginx, and the pages in headless Chromium), then the workshop's grader both ways.
# Installs Chromium, redis-server, nginx and mdBook first when they are missing and this is a
# Debian machine we are root on; otherwise those tests fail and say how.
set -eu
cd "$(dirname "$0")/.."

# The suite compiles everything once: incremental compilation's caches (3.7 GB from a fresh
# clone) serve an edit-and-rebuild loop, not this. Set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# What the tests need besides Rust: Chromium and its driver (the pages), redis-server, redis-cli
# and nginx (the contract suite with --redis, the cluster tests, and a Redis Cluster made with
# redis-cli), from Debian's packages. Installed
# when missing, if we are root on Debian; otherwise those tests fail and say how to install them.
. scripts/services.sh
need chromium:chromium chromedriver:chromium-driver redis-server:redis-server redis-cli:redis-tools nginx:nginx ||
    echo "    the tests that need them will fail"

# The clients some contract cases read with, which this project did not write: Python's
# httpx-sse and openai in a virtualenv of their own, and the openai package for JavaScript,
# installed with npm ci from its lock file.
python_clients
node_clients

# The book (docs/) is built with mdBook, pinned like the packages above, and installed with
# cargo when missing: without its web server and file watcher, which only `mdbook serve` uses
# (about 2 minutes to build on 2 cores).
MDBOOK_VERSION=0.5.4
PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
if ! mdbook --version 2>/dev/null | grep -qx "mdbook v$MDBOOK_VERSION"; then
    echo "==> cargo install --locked mdbook@$MDBOOK_VERSION --no-default-features --features search"
    cargo install --locked --quiet "mdbook@$MDBOOK_VERSION" --no-default-features --features search
fi

echo "==> cargo fmt --all --check"
cargo fmt --all --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo doc --workspace --no-deps, warnings refused"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

echo "==> mdbook build docs, and the link test"
mdbook build docs
cargo test -p doc-links --locked

echo "==> cargo test --workspace --locked"
cargo test --workspace --locked

# The workshop is a workspace of its own (unsolved exercises must not break the one above).
sh scripts/workshop.sh
