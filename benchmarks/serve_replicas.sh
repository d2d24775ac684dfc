#!/usr/bin/env bash
# Several `recur serve` processes behind nginx, measured once with benchmarks/serve_load.py.
#
#   benchmarks/serve_replicas.sh [--recur BIN] [--llm GGUF] [--puzzle-model GGUF] [--replicas N]
#                                [--threads T] [--parallel P] [--api-key KEY] [--clients N] [--requests M]
#                                [-- more serve_load.py options]
#
# 1. installs Debian's nginx when there is none (apt-get; through sudo when not root);
# 2. starts N replicas (default 2) of `BIN serve --host 127.0.0.1 --port 0`, each on the ephemeral
#    port its listening line names, with T threads each (default: the CPUs shared among them);
# 3. writes an nginx configuration into a temporary directory: one upstream with every replica,
#    least_conn (a streamed generation holds its connection, so the replica with the fewest open
#    requests gets the next one), HTTP/1.1 with keep-alive to the replicas, proxy_buffering off so
#    server-sent events reach the client token by token, ten-minute read timeouts, and a request that
#    a replica turned away with 503 (its queue full) retried on the next one;
# 4. runs nginx in the foreground (master process, not a daemon) with its pid file, logs and
#    temporary files in that directory, on a free loopback port;
# 5. waits for GET /health through nginx, runs serve_load.py --url against nginx (the replicas'
#    memory summed), and prints how many requests each replica got;
# 6. stops nginx and the replicas and removes the directory on any exit (trap).
#
# Defaults: BIN .build/release/recur, LLM .cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf, clients 4,
# requests 4; STARTUP_S=120 in the environment bounds each start-up wait. The exit status is
# serve_load.py's (0 when no request failed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECUR=$ROOT/.build/release/recur
LLM=$ROOT/.cache/llm/SmolLM2-135M-Instruct.Q4_1.gguf
PUZZLE=
REPLICAS=2
THREADS=
PARALLEL=2
API_KEY=
CLIENTS=4
REQUESTS=4
STARTUP_S=${STARTUP_S:-120}  # seconds for each replica and for nginx to answer
EXTRA=()

die() { local status=$1; shift; echo "serve_replicas.sh: $*" >&2; exit "$status"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --recur) RECUR=$2; shift 2 ;;
        --llm) LLM=$2; shift 2 ;;
        --puzzle-model) PUZZLE=$2; shift 2 ;;
        --replicas) REPLICAS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --parallel) PARALLEL=$2; shift 2 ;;
        --api-key) API_KEY=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) usage; exit 0 ;;
        *) die 2 "unknown argument $1 (see --help)" ;;
    esac
done
[ -x "$RECUR" ] || die 2 "no recur binary at $RECUR (swift build -c release --product recur)"
[ -f "$LLM" ] || die 2 "no model file $LLM"
[ -z "$PUZZLE" ] || [ -f "$PUZZLE" ] || die 2 "no model file $PUZZLE"
[ -n "$THREADS" ] || THREADS=$(( $(nproc) / REPLICAS > 0 ? $(nproc) / REPLICAS : 1 ))

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX" ]; then
    echo "serve_replicas.sh: installing nginx (apt-get)" >&2
    SUDO=()
    [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
    "${SUDO[@]}" apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi

WORK=$(mktemp -d -t recur-replicas.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as nobody when the master runs as root
PIDS=()
NGINX_PID=
cleanup() {
    local status=$?
    [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -z "$NGINX_PID" ] || wait "$NGINX_PID" 2>/dev/null || true
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" -ne 0 ]; then
        for log in "$WORK"/*.log; do
            [ -s "$log" ] && { echo "--- $(basename "$log") (last lines)" >&2; tail -n 15 "$log" >&2; }
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

http_ok() {
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" >/dev/null 2>&1
}

# 2. the replicas
SERVE=(serve --model "$LLM")
[ -z "$PUZZLE" ] || SERVE+=(--model "$PUZZLE")
SERVE+=(--host 127.0.0.1 --port 0 --threads "$THREADS" --parallel "$PARALLEL")
[ -z "$API_KEY" ] || SERVE+=(--api-key "$API_KEY")
for i in $(seq 1 "$REPLICAS"); do
    "$RECUR" "${SERVE[@]}" >"$WORK/replica$i.log" 2>&1 &
    PIDS+=($!)
done
UPSTREAMS=()
for i in $(seq 1 "$REPLICAS"); do
    url=
    for _ in $(seq 1 $((STARTUP_S * 10))); do
        url=$(grep -o 'listening on http://[^[:space:]]*' "$WORK/replica$i.log" | head -n 1) || true
        url=${url#listening on }
        [ -z "$url" ] || break
        kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || die 1 "replica $i exited"
        sleep 0.1
    done
    [ -n "$url" ] || die 1 "replica $i did not print its listening line"
    UPSTREAMS+=("${url#http://}")
    echo "replica $i: pid ${PIDS[$((i - 1))]}, $url, $THREADS threads, parallel $PARALLEL" >&2
done

# 3. the nginx configuration
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
    echo "worker_processes 1;"
    echo "daemon off;"
    echo "pid $WORK/nginx.pid;"
    echo "error_log $WORK/nginx-error.log warn;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "    log_format upstream '\$upstream_addr \$status \$request_time \$request';"
    echo "    access_log $WORK/nginx-access.log upstream;"
    for dir in client_body proxy fastcgi uwsgi scgi; do echo "    ${dir}_temp_path $WORK/$dir;"; done
    echo "    client_body_buffer_size 1m;"
    echo "    client_max_body_size 16m;"
    echo "    upstream recur {"
    echo "        least_conn;"
    # max_fails=0: a replica's 503 (queue full) must not take it out of the rotation.
    for u in "${UPSTREAMS[@]}"; do echo "        server $u max_fails=0;"; done
    echo "        keepalive 32;"
    echo "    }"
    echo "    server {"
    echo "        listen 127.0.0.1:$PORT;"
    echo "        location / {"
    echo "            proxy_pass http://recur;"
    echo "            proxy_http_version 1.1;"
    echo "            proxy_set_header Connection \"\";"
    echo "            proxy_set_header Host \$host;"
    echo "            proxy_buffering off;"
    echo "            proxy_cache off;"
    echo "            proxy_connect_timeout 5s;"
    echo "            proxy_send_timeout 600s;"
    echo "            proxy_read_timeout 600s;"
    echo "            proxy_next_upstream error http_503 non_idempotent;"
    echo "        }"
    echo "    }"
    echo "}"
} >"$WORK/nginx.conf"

# 4. nginx in the foreground, in the background of this script
"$NGINX" -p "$WORK/" -c "$WORK/nginx.conf" -e "$WORK/nginx-error.log" &
NGINX_PID=$!

# 5. ready through nginx, then the load
for _ in $(seq 1 $((STARTUP_S * 5))); do
    http_ok "http://127.0.0.1:$PORT/health" && break
    kill -0 "$NGINX_PID" 2>/dev/null || die 1 "nginx exited"
    sleep 0.2
done
http_ok "http://127.0.0.1:$PORT/health" || die 1 "no healthy answer through nginx"
echo "nginx: pid $NGINX_PID, http://127.0.0.1:$PORT -> ${UPSTREAMS[*]}" >&2

LOAD=(--url "http://127.0.0.1:$PORT" --pid "$(IFS=,; echo "${PIDS[*]}")" --llm "$LLM"
      --clients "$CLIENTS" --requests "$REQUESTS")
[ -z "$PUZZLE" ] || LOAD+=(--puzzle-model "$PUZZLE")
[ -z "$API_KEY" ] || LOAD+=(--api-key "$API_KEY")
status=0
python3 "$ROOT/benchmarks/serve_load.py" "${LOAD[@]}" "${EXTRA[@]}" || status=$?

echo
echo "requests per replica (nginx access log, health checks included):"
awk '{print $1}' "$WORK/nginx-access.log" | sort | uniq -c
exit "$status"
