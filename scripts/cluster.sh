#!/bin/sh
# Many instances, one chat, behind a real reverse proxy: starts a redis-server (or a Redis
# Cluster of three masters), the axum, actix and warp servers on it (ports 3000 to 3002), and
# nginx in front of them with deploy/nginx.conf, then prints the one URL to open. Ctrl-C stops
# everything it started. redis-server, redis-cli and nginx are Debian's packages, installed
# when missing (as root on Debian).
#
#   scripts/cluster.sh                  nginx on http://127.0.0.1:8080/, one Redis
#   scripts/cluster.sh --redis-cluster  the rooms spread over a three-master Redis Cluster
#   scripts/cluster.sh --port 9090      nginx on another port
#
# nginx's files (its access log, with which server answered each request) go to a new
# directory under /tmp, printed at the start.
set -eu
cd "$(dirname "$0")/.."
. scripts/services.sh

port=8080 redis_cluster=no
while [ $# -gt 0 ]; do
    case "$1" in
        --port) port=$2; shift 2 ;;
        --redis-cluster) redis_cluster=yes; shift ;;
        *) echo "usage: $0 [--port PORT] [--redis-cluster]" >&2; exit 2 ;;
    esac
done

need redis-server:redis-server redis-cli:redis-tools nginx:nginx
echo "==> cargo build --release -p server-axum -p server-actix -p server-warp"
cargo build --release -p server-axum -p server-actix -p server-warp

pids=""
redis_pid="" redis_dir=""
nginx_dir=$(mktemp -d /tmp/sse-nginx.XXXXXX)
stop() {
    trap - INT TERM EXIT
    echo "==> stopping nginx, the servers and redis-server"
    for pid in $pids $redis_pid; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$nginx_dir" "$redis_dir"
}
trap stop INT TERM EXIT

if [ "$redis_cluster" = yes ]; then
    start_redis_cluster
    store="--redis-cluster $redis_cluster_urls"
    said="the rooms spread over the cluster's three masters"
else
    start_redis
    store="--redis $redis_url"
    said="one chat through $redis_url"
fi
for framework in axum actix warp; do
    # nginx runs on this machine: its X-Forwarded-For names the clients.
    # shellcheck disable=SC2086
    "target/release/server-$framework" $store --trusted-proxy 127.0.0.1 &
    pids="$pids $!"
done

sed "s/listen 127.0.0.1:8080;/listen 127.0.0.1:$port;/" deploy/nginx.conf >"$nginx_dir/nginx.conf"
# As root, nginx's workers run as nobody: they may write in their directory.
chmod 777 "$nginx_dir"
nginx -p "$nginx_dir/" -c "$nginx_dir/nginx.conf" -e stderr &
pids="$pids $!"
sleep 1
all_started $pids
echo "==> open http://127.0.0.1:$port/ : nginx in front of axum (3000), actix (3001) and warp (3002),"
echo "    $said. Which server answered each request: $nginx_dir/access.log"
echo "    Ctrl-C stops everything."
wait
