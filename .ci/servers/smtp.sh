# The smtp connector's server: an SMTP catcher (aiosmtpd, from PyPI, pinned) on loopback, run by
# smtp_sink.py beside this file. See that script for what it does: it stores each message it
# accepts (raw DATA bytes + envelope) as files, takes AUTH PLAIN/LOGIN with one user, offers
# STARTTLS on its port and implicit TLS on a second one, with a throw-away CA made at start.
#
# Exports, for the tests:
#   AURA_TEST_SMTP_URL      smtp://USER:PASSWORD@127.0.0.1:PORT   (STARTTLS offered)
#   AURA_TEST_SMTP_TLS_URL  smtps://USER:PASSWORD@127.0.0.1:PORT  (implicit TLS)
#   AURA_TEST_SMTP_DIR      where the received messages land
#   AURA_TEST_SMTP_CA       the CA certificate (PEM) the tests trust
# Ports: AURA_CI_SMTP_PORT (default 2525), AURA_CI_SMTP_TLS_PORT (default 2465).

SMTP_AIOSMTPD_VERSION=1.4.6
SMTP_ATPUBLIC_VERSION=9.0.0
SMTP_ATTRS_VERSION=26.1.0
SMTP_CRYPTOGRAPHY_VERSION=50.0.2

# A venv under target/ with the pinned aiosmtpd (and `cryptography` only when there is no
# `openssl` command to make the certificate with). Prints the venv's python.
install_smtp_sink() {
    local venv="$ROOT/target/ci-venv-smtp" python
    python="$(command -v python3 || true)"
    if [[ -z "$python" ]]; then
        printf '    installing Python (apt-get install python3 python3-venv)\n' >&2
        apt-get update -qq >&2 && apt-get install -y -qq python3 python3-venv >&2 || return 1
        python="$(command -v python3)"
    fi
    if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$SMTP_AIOSMTPD_VERSION')" 2>/dev/null; then
        printf '    installing aiosmtpd %s in %s\n' "$SMTP_AIOSMTPD_VERSION" "$venv" >&2
        rm -rf "$venv"
        if ! "$python" -m venv "$venv" >&2; then
            # Debian's python3 comes without ensurepip: python3-venv adds it.
            rm -rf "$venv"
            apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2 || return 1
            "$python" -m venv "$venv" >&2 || return 1
        fi
        "$venv/bin/pip" install -q "aiosmtpd==$SMTP_AIOSMTPD_VERSION" \
            "atpublic==$SMTP_ATPUBLIC_VERSION" "attrs==$SMTP_ATTRS_VERSION" >&2 || return 1
    fi
    if ! command -v openssl >/dev/null && ! "$venv/bin/python" -c "import cryptography" 2>/dev/null; then
        "$venv/bin/pip" install -q "cryptography==$SMTP_CRYPTOGRAPHY_VERSION" >&2 || return 1
    fi
    printf '%s\n' "$venv/bin/python"
}

start_smtp() {
    local port="${AURA_CI_SMTP_PORT:-2525}" tls_port="${AURA_CI_SMTP_TLS_PORT:-2465}"
    local python dir log pid i user=aura password
    python="$(install_smtp_sink)" || fail "installing the SMTP sink (aiosmtpd) failed"
    for p in "$port" "$tls_port"; do
        if port_open "$p"; then
            fail "something already answers on 127.0.0.1:$p: stop it or set AURA_CI_SMTP_PORT / AURA_CI_SMTP_TLS_PORT"
        fi
    done
    dir="$(mktemp -d /tmp/aura-ci-smtp.XXXXXX)" || fail "no temporary directory for the SMTP sink"
    SERVER_DIRS+=("$dir")
    mkdir -p "$ROOT/target"
    log="$ROOT/target/ci-smtp.log"
    # A fresh password per run (letters and digits: it goes in a URL as it is).
    password="sink$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    AURA_SMTP_SINK_USER="$user" AURA_SMTP_SINK_PASSWORD="$password" \
        "$python" "$ROOT/.ci/servers/smtp_sink.py" --dir "$dir/messages" --port "$port" \
        --tls-port "$tls_port" --ready-file "$dir/ready" >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for ((i = 0; i < 60; i++)); do
        [[ -s "$dir/ready" ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "the SMTP sink exited while starting (log above)"
        fi
        sleep 0.5
    done
    if [[ ! -s "$dir/ready" ]] || ! port_open "$port"; then
        tail -n 30 "$log" >&2
        fail "the SMTP sink did not answer on 127.0.0.1:$port within 30 s (log above)"
    fi
    export AURA_TEST_SMTP_URL="smtp://$user:$password@127.0.0.1:$port"
    export AURA_TEST_SMTP_TLS_URL="smtps://$user:$password@127.0.0.1:$tls_port"
    export AURA_TEST_SMTP_DIR="$dir/messages"
    AURA_TEST_SMTP_CA="$(cat "$dir/ready")"
    export AURA_TEST_SMTP_CA
    printf '    SMTP sink on 127.0.0.1:%s (STARTTLS) and :%s (TLS), pid %s, messages in %s\n' \
        "$port" "$tls_port" "$pid" "$AURA_TEST_SMTP_DIR"
}

CONNECTOR_SERVERS+=(start_smtp)
