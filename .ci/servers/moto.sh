# moto (S3) for the `object-store` connector's ignored tests
# (aura-connectors/tests/object_store*.rs): `moto[server]` from PyPI, pinned, in a venv under
# target/ci-venv-moto, started as `moto_server` twice, state in memory (nothing on disk):
#
# - on 127.0.0.1:${AURA_CI_MOTO_PORT:-5010}, open: any access key is accepted, the tests make
#   their buckets by plain HTTP. Exports AURA_TEST_MOTO_URL=http://127.0.0.1:PORT.
# - on 127.0.0.1:${AURA_CI_MOTO_IAM_PORT:-5020}, with IAM enforced: an IAM user with an access
#   key and an `s3:*` policy, and a bucket `aura`, are made while moto still lets requests in
#   unsigned, then `/moto-api/reset-auth 0` makes it check every request's SigV4 signature
#   against that user's secret (a wrong secret is refused: 403 SignatureDoesNotMatch). moto
#   cannot serve presigned URLs in this mode, hence the open instance. Exports
#   AURA_TEST_MOTO_IAM_URL, AURA_TEST_MOTO_IAM_ACCESS_KEY_ID, AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY.
#
# moto_server (a Python process started directly, so `$!` is the server itself) exits on SIGINT.
# Sourced by .ci/run (which defines fail, port_open and SERVER_PIDS): defines functions only.

MOTO_PORT="${AURA_CI_MOTO_PORT:-5010}"
MOTO_IAM_PORT="${AURA_CI_MOTO_IAM_PORT:-5020}"
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

# run_moto NAME PORT PORT_VARIABLE: starts moto_server on 127.0.0.1:PORT, waits for it (bounded: 30 s; it
# takes 1 to 3 s, the import of moto's services) and records its PID.
run_moto() {
    local name=$1 port=$2 variable=$3 log pid i
    log="$ROOT/target/ci-moto-$name.log"
    if port_open "$port"; then
        fail "something already answers on 127.0.0.1:$port: stop it or set $variable"
    fi
    "$ROOT/target/ci-venv-moto/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for ((i = 0; i < 60; i++)); do
        if port_open "$port"; then
            break
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$log" >&2
            fail "moto_server ($name) exited while starting (log above)"
        fi
        sleep 0.5
    done
    if ! port_open "$port"; then
        tail -n 30 "$log" >&2
        fail "moto_server ($name) did not answer on 127.0.0.1:$port within 30 s (log above)"
    fi
    printf '    moto %s (%s) on 127.0.0.1:%s (pid %s)\n' "$MOTO_VERSION" "$name" "$port" "$pid"
}

# The IAM user, its key and policy, and the bucket, then authentication on: prints
# `KEY_ID SECRET`. The requests name the IAM service in an (unchecked) Authorization header, as
# moto routes by it; they pass unsigned because authentication is not on yet.
setup_moto_iam() {
    "$ROOT/target/ci-venv-moto/bin/python" - "http://127.0.0.1:$1" <<'PY'
import json, re, sys, urllib.parse, urllib.request

url = sys.argv[1]
scope = "AWS4-HMAC-SHA256 Credential=setup/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"

def call(method, path, data=b"", headers=None):
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.read().decode()

def iam(**params):
    params["Version"] = "2010-05-08"
    return call("POST", "/", urllib.parse.urlencode(params).encode(), {"Authorization": scope})

iam(Action="CreateUser", UserName="aura")
key = iam(Action="CreateAccessKey", UserName="aura")
policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
iam(Action="PutUserPolicy", UserName="aura", PolicyName="s3", PolicyDocument=json.dumps(policy))
call("PUT", "/aura")
call("POST", "/moto-api/reset-auth", b"0", {"Content-Type": "text/plain"})
print(re.search("<AccessKeyId>([^<]+)<", key).group(1), re.search("<SecretAccessKey>([^<]+)<", key).group(1))
PY
}

start_moto() {
    install_moto
    local keys
    run_moto open "$MOTO_PORT" AURA_CI_MOTO_PORT
    export AURA_TEST_MOTO_URL="http://127.0.0.1:${MOTO_PORT}"
    run_moto iam "$MOTO_IAM_PORT" AURA_CI_MOTO_IAM_PORT
    keys="$(setup_moto_iam "$MOTO_IAM_PORT")" || fail "setting up moto's IAM user (port $MOTO_IAM_PORT) failed"
    read -r AURA_TEST_MOTO_IAM_ACCESS_KEY_ID AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY <<<"$keys"
    [[ -n "$AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY" ]] || fail "moto gave no access key"
    export AURA_TEST_MOTO_IAM_URL="http://127.0.0.1:${MOTO_IAM_PORT}"
    export AURA_TEST_MOTO_IAM_ACCESS_KEY_ID AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY
}

CONNECTOR_SERVERS+=(start_moto)
