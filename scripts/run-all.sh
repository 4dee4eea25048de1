#!/bin/sh
# Builds once, then runs the axum, actix and warp servers side by side on ports 3000, 3001 and
# 3002, and stops all three on Ctrl-C. Extra arguments go to every server (e.g. --keep-alive-secs 5).
set -eu
cd "$(dirname "$0")/.."

echo "==> cargo build --release -p server-axum -p server-actix -p server-warp"
cargo build --release -p server-axum -p server-actix -p server-warp

pids=""
stop() {
    trap - INT TERM EXIT
    echo "==> stopping the servers"
    # Ctrl-C reaches the servers too (they share the terminal); otherwise tell them. Either way
    # each server ends its open streams and exits.
    if [ "$1" != INT ]; then
        for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    fi
    wait
}
trap 'stop INT' INT
trap 'stop TERM' TERM EXIT

for framework in axum actix warp; do
    # Each prints "listening on http://127.0.0.1:PORT/ (framework)" first.
    "target/release/server-$framework" "$@" &
    pids="$pids $!"
done
sleep 1
echo "==> open http://127.0.0.1:3000/compare to see all three side by side, or / on :3000 (axum),"
echo "    :3001 (actix) and :3002 (warp); Ctrl-C stops all three"
wait
