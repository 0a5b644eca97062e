# moto (S3) for the `object-store` connector's ignored tests
# (aura-connectors/tests/object_store*.rs): `moto[server]` from PyPI, pinned, in a venv under
# target/ci-venv-moto, started as `moto_server` on 127.0.0.1:${AURA_CI_MOTO_PORT:-5010}. moto
# keeps its state in memory (nothing on disk); it accepts any access key (the tests' buckets are
# created by plain HTTP). Exports AURA_TEST_MOTO_URL=http://127.0.0.1:PORT. moto_server (a
# Python process started directly, so `$!` is the server itself) exits on SIGINT.
# Sourced by .ci/run (which defines fail, port_open and SERVER_PIDS): defines functions only.

MOTO_PORT="${AURA_CI_MOTO_PORT:-5010}"
MOTO_VERSION="5.2.6"

install_moto() {
    local venv="$ROOT/target/ci-venv-moto"
    if [[ -x "$venv/bin/moto_server" && "$(cat "$venv/.aura-moto-version" 2>/dev/null)" == "$MOTO_VERSION" ]]; then
        return 0
    fi
    printf '    installing moto[server]==%s (pip, in %s)\n' "$MOTO_VERSION" "$venv"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt-get update -qq || fail "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null ||
            fail "apt-get install python3-venv failed"
    fi
    rm -rf "$venv"
    mkdir -p "$ROOT/target"
    python3 -m venv "$venv" || fail "python3 -m venv $venv failed"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" ||
        fail "pip install moto[server]==$MOTO_VERSION failed"
    [[ -x "$venv/bin/moto_server" ]] || fail "moto was installed but $venv/bin/moto_server is missing"
    printf '%s' "$MOTO_VERSION" >"$venv/.aura-moto-version"
}

start_moto() {
    install_moto
    local log pid i
    log="$ROOT/target/ci-moto.log"
    if port_open "$MOTO_PORT"; then
        fail "something already answers on 127.0.0.1:$MOTO_PORT: stop it or set AURA_CI_MOTO_PORT"
    fi
    "$ROOT/target/ci-venv-moto/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    # Bounded: 30 s for the port to open (it takes 1 to 3 s: the import of moto's services).
    for ((i = 0; i < 60; i++)); do
        if port_open "$MOTO_PORT"; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "moto_server exited while starting (log above)"
        fi
        sleep 0.5
    done
    if ! port_open "$MOTO_PORT"; then
        tail -n 30 "$log" >&2
        fail "moto_server did not answer on 127.0.0.1:$MOTO_PORT within 30 s (log above)"
    fi
    export AURA_TEST_MOTO_URL="http://127.0.0.1:${MOTO_PORT}"
    printf '    moto %s on 127.0.0.1:%s (pid %s)\n' "$MOTO_VERSION" "$MOTO_PORT" "$pid"
}

CONNECTOR_SERVERS+=(start_moto)
