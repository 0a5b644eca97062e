#!/usr/bin/env bash
# The connector generator's proof: what `cargo run --example new_connector` writes builds,
# passes clippy (-D warnings) and rustfmt, and its tests run and pass, as written.
#
#   bash .ci/generated.sh
#
# Generates into a temporary directory (removed at exit):
#   1. module mode, the default skeleton             -> fmt, clippy, test (tests counted)
#   2. module mode from examples/new_connector/petstore.yaml (the importer's first GET)
#                                                    -> fmt, clippy, test (tests counted)
#   3. manifest mode, the skeleton, and an OpenAPI import filtered by tag
#                                                    -> loaded and registered (--check)
# The generated crates build into this repository's target/ (CARGO_TARGET_DIR), sharing its
# dependencies' artifacts. .ci/run calls this as its "generated connector" step.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d /tmp/aura-generated.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

GENERATOR="$CARGO_TARGET_DIR/debug/examples/new_connector"
SPEC="$ROOT/examples/new_connector/petstore.yaml"

say() {
    printf '    %s\n' "$*"
}

# The sum of N over libtest's `test result: ok. N passed; …` lines in the log $1.
count_passed() {
    sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed;.*/\1/p' "$1" | awk '{ n += $1 } END { print n + 0 }'
}

# check_crate DIR: rustfmt, clippy and the tests in a generated crate; fails when no test ran.
check_crate() {
    local dir=$1 log
    log="$WORK/$(basename "$dir")-test.log"
    say "crate $(basename "$dir"): cargo fmt --check"
    (cd "$dir" && cargo fmt --check)
    say "crate $(basename "$dir"): cargo clippy --all-targets -- -D warnings"
    (cd "$dir" && cargo clippy --quiet --all-targets -- -D warnings)
    say "crate $(basename "$dir"): cargo test"
    (cd "$dir" && cargo test 2>&1) | tee "$log" | grep -E '^(test result|test .* FAILED)' || true
    if ! grep -q '^test result: ok\.' "$log" || grep -q '^test result: FAILED' "$log" ||
        grep -qE '^error(\[|:)' "$log"; then
        tail -n 40 "$log" >&2
        say "FAILED: the tests of $(basename "$dir") did not pass (log above)" >&2
        return 1
    fi
    local passed
    passed="$(count_passed "$log")"
    say "crate $(basename "$dir"): $passed tests passed"
    if ((passed == 0)); then
        say "FAILED: no test ran in $(basename "$dir")" >&2
        return 1
    fi
}

main() {
    local start=$SECONDS
    cd "$ROOT"
    say "building the generator"
    cargo build --quiet --example new_connector

    say "module mode: acme_tasks"
    "$GENERATOR" acme_tasks --out "$WORK/acme" >/dev/null
    check_crate "$WORK/acme"

    say "module mode from OpenAPI: petstore ($SPEC)"
    "$GENERATOR" petstore --from-openapi "$SPEC" --out "$WORK/petstore" | grep '^note' || true
    check_crate "$WORK/petstore"

    say "manifest mode: acme_tasks.yaml and an OpenAPI import (tag pets)"
    "$GENERATOR" acme_tasks --manifest --out "$WORK/manifests" >/dev/null
    "$GENERATOR" petstore --manifest --from-openapi "$SPEC" --tag pets --out "$WORK/manifests" >/dev/null
    "$GENERATOR" --check "$WORK/manifests/acme_tasks.yaml"
    "$GENERATOR" --check "$WORK/manifests/petstore.yaml"

    say "generated connectors: ok ($((SECONDS - start))s)"
}

main "$@"
