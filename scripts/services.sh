# Sourced by test.sh, run-all.sh and cluster.sh: Debian's packages the project uses, and a Redis
# of the script's own.
#
# need PROGRAM:PACKAGE ...   installs the packages whose programs are missing (apt-get, as
#                            root on Debian); elsewhere says what to install and returns 1.
# all_started PID ...        exits 1 (so the caller's trap stops the rest) when one of these
#                            processes has already ended: a server that could not start (its
#                            port taken, say) has said why on stderr.
# start_redis                starts redis-server on the first free port from 6380, keeping
#                            nothing on disk (its directory is a new one under /tmp); sets
#                            $redis_url and $redis_pid.

# nginx lives in /usr/sbin, which a non-login shell may not have on its PATH.
PATH="$PATH:/usr/sbin"
export PATH

need() {
    missing=""
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
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

all_started() {
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || { echo "==> a server did not start (see above); stopping" >&2; exit 1; }
    done
}
