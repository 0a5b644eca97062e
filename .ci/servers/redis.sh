# Redis for the `redis` connector's ignored tests (aura-connectors/tests/*redis*.rs): Debian's
# redis-server on 127.0.0.1:${AURA_CI_REDIS_PORT:-6390}, and TLS on
# 127.0.0.1:${AURA_CI_REDIS_TLS_PORT:-6389} (the same process; a throw-away CA and server
# certificate made with openssl), with a random password, no persistence (`--save ''`,
# `--appendonly no`) and its working directory (and the certificates) in a temporary directory.
# Exports AURA_TEST_REDIS_URL=redis://:PASSWORD@127.0.0.1:PORT,
# AURA_TEST_REDIS_TLS_URL=rediss://:PASSWORD@127.0.0.1:TLS_PORT and AURA_TEST_REDIS_CA (the CA's
# PEM file). redis-server exits on SIGINT (as stop_servers sends), without saving: no save
# points are configured.
# Sourced by .ci/run (which defines fail, port_open and SERVER_PIDS): defines functions only.

REDIS_PORT="${AURA_CI_REDIS_PORT:-6390}"
REDIS_TLS_PORT="${AURA_CI_REDIS_TLS_PORT:-6389}"

install_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null &&
        return 0
    printf '    installing Redis (apt-get install redis-server openssl)\n'
    apt-get update -qq || fail "apt-get update failed"
    # No service is started in a container without an init system; where one exists Debian's
    # own instance listens on 6379, not on the ports used here.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server openssl >/dev/null ||
        fail "apt-get install redis-server openssl failed"
    command -v redis-server >/dev/null || fail "redis-server was installed but is not on PATH"
}

# redis_certificates DIR: a CA (DIR/ca.crt) and a server certificate for 127.0.0.1 and
# localhost signed by it (DIR/server.crt, DIR/server.key), P-256, valid two days.
redis_certificates() {
    local dir=$1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -subj /CN=aura-ci-redis-ca -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost \
            -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null &&
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n' \
            >"$dir/server.ext" &&
        openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
            -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null &&
        rm -f "$dir/ca.key" "$dir/ca.srl" "$dir/server.csr" "$dir/server.ext"
}

# Whether the server answers PONG on the plain port ($1: the password) and on the TLS port.
redis_ready() {
    [[ "$(REDISCLI_AUTH="$1" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]] &&
        [[ "$(REDISCLI_AUTH="$1" redis-cli --tls --cacert "$2/ca.crt" -h 127.0.0.1 -p "$REDIS_TLS_PORT" ping 2>/dev/null)" == PONG ]]
}

start_redis() {
    install_redis
    local dir log password pid i
    log="$ROOT/target/ci-redis.log"
    mkdir -p "$ROOT/target"
    if port_open "$REDIS_PORT"; then
        fail "something already answers on 127.0.0.1:$REDIS_PORT: stop it or set AURA_CI_REDIS_PORT"
    fi
    if port_open "$REDIS_TLS_PORT"; then
        fail "something already answers on 127.0.0.1:$REDIS_TLS_PORT: stop it or set AURA_CI_REDIS_TLS_PORT"
    fi
    dir="$(mktemp -d /tmp/aura-ci-redis.XXXXXX)" || fail "no temporary directory for Redis"
    SERVER_DIRS+=("$dir")
    redis_certificates "$dir" || fail "openssl could not make the test certificates for Redis"
    password="$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$password" --dir "$dir" \
        --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" \
        --tls-ca-cert-file "$dir/ca.crt" --tls-auth-clients no \
        --save '' --appendonly no --daemonize no --protected-mode yes --logfile '' >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    # Bounded: 15 s for the server to answer PING (it takes well under a second).
    for ((i = 0; i < 30; i++)); do
        if redis_ready "$password" "$dir"; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "redis-server exited while starting (log above)"
        fi
        sleep 0.5
    done
    if ! redis_ready "$password" "$dir"; then
        tail -n 30 "$log" >&2
        fail "redis-server did not answer PING on 127.0.0.1:$REDIS_PORT and (TLS) :$REDIS_TLS_PORT within 15 s (log above)"
    fi
    export AURA_TEST_REDIS_URL="redis://:${password}@127.0.0.1:${REDIS_PORT}"
    export AURA_TEST_REDIS_TLS_URL="rediss://:${password}@127.0.0.1:${REDIS_TLS_PORT}"
    export AURA_TEST_REDIS_CA="$dir/ca.crt"
    printf '    Redis %s on 127.0.0.1:%s, TLS on :%s (pid %s, dir %s)\n' \
        "$(redis-server --version | sed -nE 's/.*v=([0-9.]+).*/\1/p')" "$REDIS_PORT" "$REDIS_TLS_PORT" "$pid" "$dir"
}

CONNECTOR_SERVERS+=(start_redis)
