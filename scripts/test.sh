#!/bin/sh
# Runs every check CI runs, from any directory: formatting, lints, then all tests (unit tests,
# property tests, the contract suite against the real server binaries on 127.0.0.1, and the
# pages in headless Chromium). Installs Chromium and its driver first when they are missing
# and this is a Debian machine we are root on; otherwise the browser tests fail and say how.
set -eu
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install chromium chromium-driver (for the browser tests)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "==> Chromium or chromedriver is missing and cannot be installed here:"
        echo "    the browser tests will fail (apt-get install chromium chromium-driver)"
    fi
fi

echo "==> cargo fmt --all --check"
cargo fmt --all --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test --workspace --locked"
cargo test --workspace --locked
