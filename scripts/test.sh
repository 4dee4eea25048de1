#!/bin/sh
# Runs every check CI runs, from any directory: formatting, lints, then all tests (unit tests,
# property tests, the contract suite against the real server binaries on 127.0.0.1 with the chat
# in memory and in Redis, the cluster behind nginx, and the pages in headless Chromium).
# Installs Chromium, redis-server and nginx first when they are missing and this is a Debian
# machine we are root on; otherwise those tests fail and say how.
set -eu
cd "$(dirname "$0")/.."

# What the tests need besides Rust: Chromium and its driver (the pages), redis-server and nginx
# (the contract suite with --redis, and the cluster tests). Debian's packages, installed when
# missing if we are root on Debian; otherwise those tests fail and say how to install them.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v chromedriver >/dev/null 2>&1 || missing="$missing chromium-driver"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install$missing (for the tests)"
        apt-get update -qq
        # The tests start redis-server and nginx of their own on free ports; the system's, if
        # Debian starts them, are not used.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "==> missing and cannot be installed here:$missing"
        echo "    the tests that need them will fail (apt-get install$missing)"
    fi
fi
# nginx lives in /usr/sbin, which a non-login shell may not have on its PATH.
PATH="$PATH:/usr/sbin"
export PATH

echo "==> cargo fmt --all --check"
cargo fmt --all --check

echo "==> cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test --workspace --locked"
cargo test --workspace --locked
