# Sourced by compare.sh and soak.sh. wait_for_port LOG NAME: waits (at most 10 s) for a server
# started with --port 0 to print its first line, "listening on http://127.0.0.1:PORT/ (NAME)",
# into LOG, and sets $port from it.
wait_for_port() {
    port=""
    tries=0
    while [ -z "$port" ]; do
        tries=$((tries + 1))
        [ "$tries" -le 100 ] || { echo "$2 did not start; see $1" >&2; exit 1; }
        sleep 0.1
        port=$(sed -n '1s|^listening on https\{0,1\}://127.0.0.1:\([0-9]*\)/.*|\1|p' "$1")
    done
}
