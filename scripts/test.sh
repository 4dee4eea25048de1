#!/bin/sh
# Runs every check CI runs, from any directory: formatting, lints, then all tests (unit tests,
# property tests, and the contract suite against the real server binaries on 127.0.0.1).
set -eu
cd "$(dirname "$0")/.."

echo "==> cargo fmt --all --check"
cargo fmt --all --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test --workspace --locked"
cargo test --workspace --locked
