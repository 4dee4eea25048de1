#!/bin/sh
# The side-by-side benchmark: builds the servers and sse-bench once (release), then runs the
# same workloads against axum, actix, warp and two yardsticks in turn, each on a fresh server
# process. The yardsticks: the floor, `sse-bench floor`, no framework at all (what the writes
# alone cost), and node, the seed's plain Node server (crates/sse-bench/peers/node-seed.js,
# load only; it has no chat). And the server a user would deploy instead for fan-out: nchan,
# nginx's pub/sub module, one worker process (crates/sse-bench/peers/nchan.conf; fan-out and
# rooms only: it has no clock).
#   load:   N subscribers on GET /events at 1 event/s (default 10000 for 15 s)
#   fanout: N subscribers on GET /events/chat, one publisher at R messages/s (10000, 10/s, 15 s)
#   storm:  N subscribers on GET /events; the server is stopped with SIGTERM and started again,
#           and every subscriber reconnects after its retry with Last-Event-ID, as EventSource
#           does: once with each stream's retry spread ±30 % (the default), once without
#           (--retry-jitter 0). axum, actix and warp only.
# and writes target/compare/report.md (one table) and target/compare/report.svg (a chart).
#
#   scripts/compare.sh                      the book's numbers, docs/src/measured.md (about 5.5 minutes after the build)
#   scripts/compare.sh --clients 1000 --secs 5      a quick run
#   scripts/compare.sh --servers axum       one server only (or 'axum floor', ...)
#   scripts/compare.sh --workloads fanout   only these of load, fanout, storm and rooms (rooms in
#                                           memory only; --rooms adds Redis and the Cluster)
#   scripts/compare.sh --pinned             every server on one core (taskset -c 0: tokio and
#                                           actix then start one worker thread, as nchan has one
#                                           worker process), the load client on the other
#                                           (taskset -c 1); into target/compare/pinned/
#   scripts/compare.sh --tls                adds the load over HTTP/2 (TLS) for each server: the
#                                           same subscribers carried on 100 connections
#   scripts/compare.sh --redis              adds a fan-out column: the three servers on one
#                                           redis-server (started here), the publisher posting to
#                                           axum, the subscribers dealt out over all three
#   scripts/compare.sh --rooms              adds the fan-out over rooms (a table of its own): 100
#                                           rooms of 100 subscribers (--clients), 10 messages/s
#                                           per room (--rate), one publisher per room; on each
#                                           server in memory, then the three on one Redis, then
#                                           on a three-master Redis Cluster (both started here)
set -eu
cd "$(dirname "$0")/.."
. scripts/server-port.sh
. scripts/services.sh

clients=10000 secs=15 rate=10 servers="axum actix warp floor node nchan" redis="" tls="" rooms=""
pinned="" workloads="load fanout storm"
while [ $# -gt 0 ]; do
    case "$1" in
        --clients) clients=$2; shift 2 ;;
        --secs) secs=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --servers) servers=$2; shift 2 ;;
        --redis) redis=yes; shift ;;
        --tls) tls=yes; shift ;;
        --rooms) rooms=yes; shift ;;
        --pinned) pinned=yes; shift ;;
        --workloads) workloads=$2; shift 2 ;;
        *) echo "usage: $0 [--clients N] [--secs S] [--rate R] [--servers 'axum actix warp floor node nchan'] [--pinned] [--workloads 'load fanout storm'] [--tls] [--redis] [--rooms]" >&2; exit 2 ;;
    esac
done

echo "==> cargo build --release -p server-axum -p server-actix -p server-warp -p sse-bench"
cargo build --release -p server-axum -p server-actix -p server-warp -p sse-bench
out=target/compare
bench=target/release/sse-bench
# Pinned: the server's process on core 0, the load client on core 1.
on_server_core=""
if [ -n "$pinned" ]; then
    out=target/compare/pinned
    on_server_core="taskset -c 0"
    bench="taskset -c 1 $bench"
fi
mkdir -p "$out"
rm -f "$out"/*.json
case " $servers " in *" node "*) need node:nodejs ;; esac
case " $servers " in *" nchan "*)
    need nginx:nginx /usr/lib/nginx/modules/ngx_nchan_module.so:libnginx-mod-nchan ;;
esac
# Each side of 10,000 connections needs 10,000 file descriptors.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# The benchmark is one client (127.0.0.1) with thousands of streams and a fast publisher: it
# lifts the limits that keep one client from taking a server from everyone else.
one_client="--max-streams-per-client 100000 --max-connections-per-client 100000 --post-rate 100000 --post-burst 100000"

# Starts a server on a free port, with any further arguments; sets $pid (the process to
# measure) and $port.
start() {
    name=$1
    shift
    log="$out/$name.log"
    case "$name" in
        floor) $on_server_core target/release/sse-bench floor --port 0 >"$log" 2>&1 & ;;
        node) $on_server_core node crates/sse-bench/peers/node-seed.js --port 0 >"$log" 2>&1 & ;;
        nchan) start_nchan; return ;;
        # shellcheck disable=SC2086 # $one_client is several words
        *) $on_server_core "target/release/server-$name" --port 0 $one_client "$@" >"$log" 2>&1 & ;;
    esac
    pid=$!
    wait_for_port "$log" "$name"
}

# nginx with nchan from crates/sse-bench/peers/nchan.conf, in a directory of its own on a free
# port; $pid is its one worker process (the master only watches it), $nginx_pid the master.
start_nchan() {
    nchan_dir=$(mktemp -d)
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed -e "s|__PREFIX__|$nchan_dir|g" -e "s|__PORT__|$port|g" crates/sse-bench/peers/nchan.conf >"$nchan_dir/nginx.conf"
    $on_server_core nginx -p "$nchan_dir" -c "$nchan_dir/nginx.conf" >"$out/nchan.log" 2>&1 &
    nginx_pid=$!
    pid=""
    tries=0
    while [ -z "$pid" ]; do
        tries=$((tries + 1))
        [ "$tries" -le 100 ] || { echo "nchan did not start; see $nchan_dir/error.log" >&2; exit 1; }
        sleep 0.1
        [ -s "$nchan_dir/nginx.pid" ] && pid=$(pgrep -P "$nginx_pid" | head -1)
    done
}

stop() {
    if [ "$name" = nchan ]; then
        kill -QUIT "$nginx_pid"
        { wait "$nginx_pid" || true; } 2>/dev/null
        rm -rf "$nchan_dir"
        return
    fi
    kill -TERM "$pid"
    { wait "$pid" || true; } 2>/dev/null
}

# Whether the workload $1 was asked for (--workloads).
wants() {
    case " $workloads " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}

for server in $servers; do
    if [ "$server" != nchan ] && wants load; then
        echo "==> $server: load, $clients subscribers on /events for $secs s"
        start "$server"
        $bench load "http://127.0.0.1:$port/events" --clients "$clients" --secs "$secs" \
            --pid "$pid" --json "$out/load-$server.json" >/dev/null
        stop
        # The client's closed connections linger in TIME_WAIT; a few seconds keep runs apart.
        sleep 2
    fi
    if [ "$server" != node ] && wants fanout; then
        echo "==> $server: fanout, $clients chat subscribers, $rate messages/s for $secs s"
        start "$server"
        $bench fanout "http://127.0.0.1:$port" --clients "$clients" --rate "$rate" --secs "$secs" \
            --pid "$pid" --json "$out/fanout-$server.json" >/dev/null
        stop
        sleep 2
    fi
    if [ -n "$tls" ] && [ "$server" != floor ] && [ "$server" != nchan ]; then
        echo "==> $server over HTTP/2: load, $clients subscribers on 100 connections for $secs s"
        start "$server" --tls
        $bench load "https://127.0.0.1:$port/events" --connections 100 --clients "$clients" \
            --secs "$secs" --pid "$pid" --json "$out/load-h2-$server.json" >/dev/null
        stop
        sleep 2
    fi
    if [ "$server" != floor ] && [ "$server" != nchan ] && wants storm; then
        for jitter in 30 0; do
            echo "==> $server: restart storm, $clients subscribers on /events, --retry-jitter $jitter"
            # shellcheck disable=SC2086 # $on_server_core is a command and its options, or nothing
            $bench storm --clients "$clients" --json "$out/storm-$jitter-$server.json" \
                -- $on_server_core "target/release/server-$server" $one_client --retry-jitter "$jitter" >/dev/null
            sleep 2
        done
    fi
done

if [ -n "$redis" ]; then
    need redis-server:redis-server
    start_redis
    bases="" pids=""
    for server in axum actix warp; do
        start "$server" --redis "$redis_url"
        bases="$bases http://127.0.0.1:$port" pids="$pids $pid"
    done
    set -- $bases
    echo "==> axum+actix+warp on one Redis: fanout, $clients chat subscribers dealt out over the three, $rate messages/s posted to axum for $secs s"
    $bench fanout "$1" --spread "$2" --spread "$3" --clients "$clients" --rate "$rate" \
        --secs "$secs" --json "$out/fanout-redis.json" >/dev/null
    for pid in $pids; do kill -TERM "$pid"; done
    kill -TERM "$redis_pid"
    wait 2>/dev/null || true
    rm -rf "$redis_dir"
fi

# The fan-out over rooms on the three servers sharing `$1` (--redis URL or --redis-cluster
# URLS), the publishers and subscribers dealt out over all three; CPU of the servers, then of
# each Redis process ($redis_pid).
rooms_on_redis() {
    store=$1 what=$2 json=$3
    bases="" pids=""
    for server in axum actix warp; do
        # shellcheck disable=SC2086 # $store is an option and its value
        start "$server" $store
        bases="$bases http://127.0.0.1:$port" pids="$pids $pid"
    done
    # shellcheck disable=SC2086
    set -- $bases
    server_pids=""
    for p in $pids $redis_pid; do server_pids="$server_pids --server-pid $p"; done
    echo "==> rooms: axum+actix+warp on $what, $clients subscribers over 100 rooms, $rate messages/s per room for $secs s"
    # shellcheck disable=SC2086
    $bench rooms "$1" --spread "$2" --spread "$3" --rooms 100 --clients "$clients" --rate "$rate" \
        --secs "$secs" $server_pids --setup "axum+actix+warp, $what (CPU: the three servers, then Redis)" \
        --json "$out/$json" >/dev/null
    for p in $pids $redis_pid; do kill -TERM "$p"; done
    wait 2>/dev/null || true
    rm -rf "$redis_dir"
}

# The rooms in memory: --rooms, or --workloads rooms (which leaves out the Redis runs).
if [ -n "$rooms" ] || wants rooms; then
    rooms_servers=""
    for server in axum actix warp nchan; do
        case " $servers " in *" $server "*) rooms_servers="$rooms_servers $server" ;; esac
    done
    # `--rooms --servers ""`: the rooms workload only, on our three servers.
    [ -n "$rooms_servers" ] || rooms_servers="axum actix warp"
    for server in $rooms_servers; do
        echo "==> $server: rooms, $clients subscribers over 100 rooms, $rate messages/s per room for $secs s"
        start "$server"
        $bench rooms "http://127.0.0.1:$port" --rooms 100 --clients "$clients" --rate "$rate" \
            --secs "$secs" --server-pid "$pid" --setup "$server, in memory" \
            --json "$out/rooms-1-memory-$server.json" >/dev/null
        stop
        sleep 2
    done
fi
if [ -n "$rooms" ]; then
    need redis-server:redis-server redis-cli:redis-tools
    start_redis
    rooms_on_redis "--redis $redis_url" "one Redis" rooms-2-redis.json
    sleep 2
    start_redis_cluster
    rooms_on_redis "--redis-cluster $redis_cluster_urls" "a Redis Cluster of 3 masters" rooms-3-cluster.json
fi

echo "==> $out/report.md and $out/report.svg"
$bench report "$out"/*.json --out "$out"
