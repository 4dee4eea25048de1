#!/bin/sh
# The soak: one server, M minutes of churn (visitors come and go on every stream, a publisher
# posts to the chat, witnesses and a resumer follow it), then checks that every stream was
# released, the server's memory came back near where it started, and no chat message was lost.
# Not part of CI; its result goes in the closing note of the issue it checks.
#
#   scripts/soak.sh                          axum, 5 minutes, 200 visitors at a time
#   scripts/soak.sh --server warp --minutes 2 --clients 500
set -eu
cd "$(dirname "$0")/.."
. scripts/server-port.sh

server=axum minutes=5 clients=200
while [ $# -gt 0 ]; do
    case "$1" in
        --server) server=$2; shift 2 ;;
        --minutes) minutes=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        *) echo "usage: $0 [--server axum|actix|warp] [--minutes M] [--clients N]" >&2; exit 2 ;;
    esac
done

echo "==> cargo build --release -p server-$server -p sse-bench"
cargo build --release -p "server-$server" -p sse-bench
out=target/soak
mkdir -p "$out"
log="$out/$server.log"
"target/release/server-$server" --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
wait_for_port "$log" "server-$server"

echo "==> soak: $server for $minutes min, $clients visitors at a time (server log: $log)"
target/release/sse-bench soak "http://127.0.0.1:$port" --minutes "$minutes" --clients "$clients" --pid "$pid"
