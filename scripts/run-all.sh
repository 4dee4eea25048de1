#!/bin/sh
# Builds once, then runs the axum, actix and warp servers side by side on ports 3000, 3001 and
# 3002, and stops all three on Ctrl-C. Extra arguments go to every server (e.g. --keep-alive-secs 5).
#
#   scripts/run-all.sh                 each server has its own chat
#   scripts/run-all.sh --redis         one chat for all three: starts a redis-server of its own
#                                      (Debian's package, installed if missing) on a free port
#   scripts/run-all.sh --redis URL     one chat in the Redis at URL (redis://HOST:PORT)
#   scripts/run-all.sh --tls           HTTPS with HTTP/2: one self-signed certificate for all
#                                      three (made with openssl in a temporary directory), so
#                                      that a browser accepts it once for /compare
set -eu
cd "$(dirname "$0")/.."
. scripts/services.sh

redis_url="" redis_pid="" redis_dir="" tls_dir="" scheme=http
while [ $# -gt 0 ]; do
    case "$1" in
        --redis)
            shift
            case "${1:-}" in
                redis://* | rediss://* | unix://* | redis+unix://*) redis_url=$1; shift ;;
                *) need redis-server:redis-server; start_redis ;;
            esac ;;
        --tls)
            shift
            need openssl:openssl
            tls_dir=$(mktemp -d /tmp/sse-tls.XXXXXX)
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
                -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
                -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" 2>/dev/null
            echo "==> a self-signed certificate for localhost and 127.0.0.1: $tls_dir/cert.pem"
            scheme=https ;;
        *) break ;;
    esac
done
set -- ${redis_url:+--redis "$redis_url"} ${tls_dir:+--tls-cert "$tls_dir/cert.pem" --tls-key "$tls_dir/key.pem"} "$@"

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
    wait $pids 2>/dev/null || true
    # Our own Redis, if we started one (Ctrl-C reached it too), and its directory.
    if [ -n "$redis_pid" ]; then
        kill -TERM "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$redis_dir" "$tls_dir"
}
trap 'stop INT' INT
trap 'stop TERM' TERM EXIT

for framework in axum actix warp; do
    # Each prints "listening on http://127.0.0.1:PORT/ (framework)" first.
    "target/release/server-$framework" "$@" &
    pids="$pids $!"
done
sleep 1
all_started $pids
echo "==> open $scheme://localhost:3000/compare to see all three side by side, or / on :3000 (axum),"
echo "    :3001 (actix) and :3002 (warp); Ctrl-C stops all three"
[ -z "$redis_url" ] || echo "==> one chat for all three, in $redis_url"
[ -z "$tls_dir" ] || echo "==> HTTPS with HTTP/2: accept the certificate once in the browser (or curl --cacert $tls_dir/cert.pem)"
wait $pids
