# Azurite (Azure Blob Storage) for the `object-store` connector's ignored tests
# (aura-connectors/tests/object_store*.rs): npm's `azurite`, pinned, installed under
# target/ci-npm-azurite, the blob service only on 127.0.0.1:${AURA_CI_AZURITE_PORT:-10010},
# its data in a temporary directory. Azurite checks the shared key signature of every request
# against the well-known development account (devstoreaccount1 and its published key), so a
# wrong key is refused (403). --disableTelemetry: by default azurite sends usage data, and its
# telemetry client probes the cloud metadata address (169.254.169.254) — traffic that must not
# leave the machine, and open connections that keep azurite alive after SIGINT. Exports
# AURA_TEST_AZURITE_URL=http://127.0.0.1:PORT/devstoreaccount1. azurite-blob (a node process
# started directly, no npx: `$!` is the server itself) exits on SIGINT.
# Sourced by .ci/run (which defines fail, port_open and SERVER_PIDS): defines functions only.

AZURITE_PORT="${AURA_CI_AZURITE_PORT:-10010}"
AZURITE_VERSION="3.37.0"

azurite_bin() {
    printf '%s' "$ROOT/target/ci-npm-azurite/node_modules/.bin/azurite-blob"
}

install_azurite() {
    local prefix="$ROOT/target/ci-npm-azurite" installed
    installed="$(sed -nE 's/^ *"version": *"([^"]+)".*/\1/p' \
        "$prefix/node_modules/azurite/package.json" 2>/dev/null | head -n 1 || true)"
    if [[ -x "$(azurite_bin)" && "$installed" == "$AZURITE_VERSION" ]]; then
        return 0
    fi
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        printf '    installing Node.js (apt-get install nodejs npm)\n'
        apt-get update -qq || fail "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null ||
            fail "apt-get install nodejs npm failed"
    fi
    printf '    installing azurite@%s (npm, in %s)\n' "$AZURITE_VERSION" "$prefix"
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent "azurite@$AZURITE_VERSION" ||
        fail "npm install azurite@$AZURITE_VERSION failed"
    [[ -x "$(azurite_bin)" ]] || fail "azurite was installed but $(azurite_bin) is missing"
}

start_azurite() {
    install_azurite
    local dir log pid i
    log="$ROOT/target/ci-azurite.log"
    if port_open "$AZURITE_PORT"; then
        fail "something already answers on 127.0.0.1:$AZURITE_PORT: stop it or set AURA_CI_AZURITE_PORT"
    fi
    dir="$(mktemp -d /tmp/aura-ci-azurite.XXXXXX)" || fail "no temporary directory for azurite"
    "$(azurite_bin)" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" --location "$dir" \
        --skipApiVersionCheck --loose --disableTelemetry >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    # Bounded: 30 s for the port to open (it takes about a second).
    for ((i = 0; i < 60; i++)); do
        if port_open "$AZURITE_PORT"; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "azurite-blob exited while starting (log above)"
        fi
        sleep 0.5
    done
    if ! port_open "$AZURITE_PORT"; then
        tail -n 30 "$log" >&2
        fail "azurite-blob did not answer on 127.0.0.1:$AZURITE_PORT within 30 s (log above)"
    fi
    export AURA_TEST_AZURITE_URL="http://127.0.0.1:${AZURITE_PORT}/devstoreaccount1"
    printf '    azurite %s (blob) on 127.0.0.1:%s (pid %s, dir %s)\n' "$AZURITE_VERSION" "$AZURITE_PORT" "$pid" "$dir"
}

CONNECTOR_SERVERS+=(start_azurite)
