#!/usr/bin/env bash
# Real vendor OpenAPI documents from npm, pinned, and Prism to serve them: installed into
# target/ci-npm (never the system's node_modules).
#
#   bash .ci/specs.sh      # installs (once) and prints the spec paths as `export` lines
#   eval "$(bash .ci/specs.sh)"   # ... and sets them in this shell
#
# .ci/run sources this file for the same names. Plain tests never need it: only the tests marked
# `#[ignore = "needs prism: see .ci/run"]` read AURA_TEST_<VENDOR>_SPEC.

SPECS_ROOT="${SPECS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
SPECS_NPM_DIR="$SPECS_ROOT/target/ci-npm"

# Pinned: a new version of a spec is a change to review (its operations and examples move).
# prism-cli 5.14.2 is the last release that runs on Node 18/20 (5.15 wants Node 24).
SPECS_NPM_PACKAGES=(
    "@stoplight/prism-cli@5.14.2"
    # GitHub's official REST description (OpenAPI 3.0.3), with Octokit's x-octokit extension.
    "@octokit/openapi@23.0.2"
    # ShipEngine's official OpenAPI 3.0.0 definitions (API-Key header auth, JSON bodies).
    "shipengine-openapi@1.4.0"
    # Directus' OpenAPI 3.0.1 document (no servers: paths from the root; nullable fields).
    "@directus/specs@15.2.0"
)

# The spec file of each vendor inside target/ci-npm/node_modules.
spec_path() {
    local m="$SPECS_NPM_DIR/node_modules"
    case "$1" in
        GITHUB) printf '%s\n' "$m/@octokit/openapi/generated/api.github.com.json" ;;
        SHIPENGINE) printf '%s\n' "$m/shipengine-openapi/openapi.json" ;;
        DIRECTUS) printf '%s\n' "$m/@directus/specs/dist/openapi.json" ;;
        *) return 1 ;;
    esac
}

SPECS_VENDORS=(GITHUB SHIPENGINE DIRECTUS)

prism_bin() {
    printf '%s\n' "$SPECS_NPM_DIR/node_modules/.bin/prism"
}

# Installs the pinned packages, unless every one is already there at its version (a stamp file
# holds the list that was installed last).
install_spec_packages() {
    local stamp="$SPECS_NPM_DIR/.aura-packages" wanted
    wanted="$(printf '%s\n' "${SPECS_NPM_PACKAGES[@]}")"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -x "$(prism_bin)" ]]; then
        return 0
    fi
    command -v npm >/dev/null || {
        printf 'specs: npm is missing (Debian: apt-get install nodejs npm)\n' >&2
        return 1
    }
    mkdir -p "$SPECS_NPM_DIR"
    printf '    npm install --prefix %s %s\n' "$SPECS_NPM_DIR" "${SPECS_NPM_PACKAGES[*]}" >&2
    # Output to stderr: stdout of this script is the `export` lines.
    npm install --prefix "$SPECS_NPM_DIR" --no-audit --no-fund --save-exact --loglevel=error \
        "${SPECS_NPM_PACKAGES[@]}" >&2 || return 1
    printf '%s\n' "$wanted" >"$stamp"
}

# Exports AURA_TEST_<VENDOR>_SPEC for every vendor (absolute paths).
export_spec_paths() {
    local vendor path
    for vendor in "${SPECS_VENDORS[@]}"; do
        path="$(spec_path "$vendor")"
        [[ -f "$path" ]] || {
            printf 'specs: %s is missing: run bash .ci/specs.sh\n' "$path" >&2
            return 1
        }
        export "AURA_TEST_${vendor}_SPEC=$path"
    done
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    install_spec_packages
    export_spec_paths
    for vendor in "${SPECS_VENDORS[@]}"; do
        printf 'export AURA_TEST_%s_SPEC=%q\n' "$vendor" "$(spec_path "$vendor")"
    done
fi
