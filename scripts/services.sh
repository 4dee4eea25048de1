# Sourced by test.sh, run-all.sh and cluster.sh: Debian's packages the project uses, and a Redis
# of the script's own.
#
# need PROGRAM:PACKAGE ...   installs the packages whose programs are missing (apt-get, as
#                            root on Debian); elsewhere says what to install and returns 1.
#                            PROGRAM may be a file's path instead, for a package with no
#                            program of its own (an nginx module).
# all_started PID ...        exits 1 (so the caller's trap stops the rest) when one of these
#                            processes has already ended: a server that could not start (its
#                            port taken, say) has said why on stderr.
# python_clients             makes the virtualenv of the Python clients the contract suite
#                            reads streams with (httpx-sse, openai), from PyPI, pinned, in
#                            target/python-clients, when missing or when the pins changed;
#                            sets and exports $SSE_PYTHON.
# node_clients               installs the JavaScript clients (the openai package) with npm ci
#                            from their lock file into target/node-clients, when missing or
#                            when the lock changed; sets and exports $SSE_NODE_MODULES.
# start_redis                starts redis-server on the first free port from 6380, keeping
#                            nothing on disk (its directory is a new one under /tmp); sets
#                            $redis_url and $redis_pid.
# start_redis_cluster        starts a Redis Cluster of three masters (no replicas) on the first
#                            free ports from 7001, in a new directory under /tmp, joined with
#                            redis-cli --cluster create; sets $redis_cluster_urls (for
#                            --redis-cluster) and $redis_pid (all three pids).

# nginx lives in /usr/sbin, which a non-login shell may not have on its PATH.
PATH="$PATH:/usr/sbin"
export PATH

need() {
    missing=""
    for pair in "$@"; do
        have=${pair%%:*}
        command -v "$have" >/dev/null 2>&1 || [ -e "$have" ] || missing="$missing ${pair#*:}"
    done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> apt-get install$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "==> missing:$missing (install them: apt-get install$missing)" >&2
        return 1
    fi
}

python_clients() {
    venv="${CARGO_TARGET_DIR:-target}/python-clients"
    pins=crates/contract-tests/clients/requirements.txt
    if ! cmp -s "$pins" "$venv/requirements.txt" 2>/dev/null; then
        echo "==> python3 -m venv $venv, and pip install -r $pins"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
        cp "$pins" "$venv/requirements.txt"
    fi
    SSE_PYTHON="$(cd "$venv" && pwd)/bin/python"
    export SSE_PYTHON
}

node_clients() {
    modules="${CARGO_TARGET_DIR:-target}/node-clients"
    lock=crates/contract-tests/clients/package-lock.json
    if ! cmp -s "$lock" "$modules/package-lock.json" 2>/dev/null; then
        echo "==> npm ci in $modules, from $lock"
        rm -rf "$modules"
        mkdir -p "$modules"
        cp crates/contract-tests/clients/package.json "$lock" "$modules/"
        (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    SSE_NODE_MODULES="$(cd "$modules" && pwd)/node_modules"
    export SSE_NODE_MODULES
}

start_redis() {
    redis_dir=$(mktemp -d /tmp/sse-redis.XXXXXX)
    redis_port=6380
    while [ "$redis_port" -lt 6400 ]; do
        redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$redis_dir" \
            --save "" --appendonly no >"$redis_dir/redis.log" 2>&1 &
        redis_pid=$!
        sleep 0.3
        if kill -0 "$redis_pid" 2>/dev/null; then
            redis_url="redis://127.0.0.1:$redis_port"
            echo "==> redis-server on $redis_url (pid $redis_pid, nothing kept on disk)"
            return 0
        fi
        redis_port=$((redis_port + 1))
    done
    echo "no free port for redis-server in 6380..6399; see $redis_dir/redis.log" >&2
    return 1
}

start_redis_cluster() {
    redis_dir=$(mktemp -d /tmp/sse-redis-cluster.XXXXXX)
    base=7001
    while [ "$base" -lt 7100 ]; do
        ok=yes redis_pid="" nodes="" redis_cluster_urls=""
        for node_port in $base $((base + 1)) $((base + 2)); do
            mkdir -p "$redis_dir/$node_port"
            # One master away must not stop the other masters' rooms: no full coverage.
            redis-server --bind 127.0.0.1 --port "$node_port" --dir "$redis_dir/$node_port" \
                --cluster-enabled yes --cluster-config-file nodes.conf \
                --cluster-node-timeout 1000 --cluster-require-full-coverage no \
                --appendonly yes --save "" >"$redis_dir/$node_port/redis.log" 2>&1 &
            redis_pid="$redis_pid $!"
            nodes="$nodes 127.0.0.1:$node_port"
            redis_cluster_urls="${redis_cluster_urls:+$redis_cluster_urls,}redis://127.0.0.1:$node_port"
        done
        sleep 0.5
        for pid in $redis_pid; do kill -0 "$pid" 2>/dev/null || ok=no; done
        if [ "$ok" = yes ]; then
            # shellcheck disable=SC2086
            redis-cli --cluster create $nodes --cluster-replicas 0 --cluster-yes >"$redis_dir/create.log"
            until redis-cli -p "$base" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
            echo "==> a Redis Cluster of three masters:$nodes (pids$redis_pid, files in $redis_dir)"
            return 0
        fi
        for pid in $redis_pid; do kill "$pid" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "${redis_dir:?}"/*
        base=$((base + 3))
    done
    echo "no three free ports for a Redis Cluster in 7001..7099; see $redis_dir" >&2
    return 1
}

all_started() {
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "==> a server did not start (see above); stopping" >&2; exit 1; }
    done
}
