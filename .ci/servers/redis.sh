# Redis for the `redis` connector's ignored tests (aura-connectors/tests/redis*.rs): Debian's
# redis-server on 127.0.0.1:${AURA_CI_REDIS_PORT:-6390}, with a random password, no persistence
# (`--save ''`, `--appendonly no`) and its working directory in a temporary directory. Exports
# AURA_TEST_REDIS_URL=redis://:PASSWORD@127.0.0.1:PORT. redis-server exits on SIGINT (as
# stop_servers sends), without saving: no save points are configured.
# Sourced by .ci/run (which defines fail, port_open and SERVER_PIDS): defines functions only.

REDIS_PORT="${AURA_CI_REDIS_PORT:-6390}"

install_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    printf '    installing Redis (apt-get install redis-server)\n'
    apt-get update -qq || fail "apt-get update failed"
    # No service is started in a container without an init system; where one exists Debian's
    # own instance listens on 6379, not on the port used here.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null ||
        fail "apt-get install redis-server failed"
    command -v redis-server >/dev/null || fail "redis-server was installed but is not on PATH"
}

start_redis() {
    install_redis
    local dir log password pid i
    log="$ROOT/target/ci-redis.log"
    mkdir -p "$ROOT/target"
    if port_open "$REDIS_PORT"; then
        fail "something already answers on 127.0.0.1:$REDIS_PORT: stop it or set AURA_CI_REDIS_PORT"
    fi
    dir="$(mktemp -d /tmp/aura-ci-redis.XXXXXX)" || fail "no temporary directory for Redis"
    password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$password" --dir "$dir" \
        --save '' --appendonly no --daemonize no --protected-mode yes --logfile '' >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    # Bounded: 15 s for the server to answer PING (it takes well under a second).
    for ((i = 0; i < 30; i++)); do
        if [[ "$(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "redis-server exited while starting (log above)"
        fi
        sleep 0.5
    done
    if [[ "$(REDISCLI_AUTH="$password" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" != PONG ]]; then
        tail -n 30 "$log" >&2
        fail "redis-server did not answer PING on 127.0.0.1:$REDIS_PORT within 15 s (log above)"
    fi
    export AURA_TEST_REDIS_URL="redis://:${password}@127.0.0.1:${REDIS_PORT}"
    printf '    Redis %s on 127.0.0.1:%s (pid %s, dir %s)\n' \
        "$(redis-server --version | sed -nE 's/.*v=([0-9.]+).*/\1/p')" "$REDIS_PORT" "$pid" "$dir"
}

CONNECTOR_SERVERS+=(start_redis)
