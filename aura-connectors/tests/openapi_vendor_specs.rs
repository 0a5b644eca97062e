//! The importer on real vendor specs (GitHub, ShipEngine, Directus), installed by
//! `.ci/specs.sh` (npm, pinned). Each test reads its spec's path from an environment variable
//! and fails when it is missing:
//!
//! ```text
//! eval "$(bash .ci/specs.sh)"   # sets AURA_TEST_GITHUB_SPEC, AURA_TEST_SHIPENGINE_SPEC, AURA_TEST_DIRECTUS_SPEC
//! cargo test -p aura-connectors --features openapi --test openapi_vendor_specs -- --ignored --nocapture
//! ```
#![cfg(feature = "openapi")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // Tests fail loudly and report figures.

use std::collections::BTreeSet;
use std::time::Instant;

use aura_connectors::openapi::{Import, ImportOptions, import, import_str};
use aura_core::declarative::{BodyEncoding, HttpMethod, Operation, Param, ParamFull, ParamLocation};
use serde_json::{Value, json};

/// The spec named by `var`, parsed; panics with instructions when the variable is missing.
fn spec(var: &str) -> Value {
    let path = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run `eval \"$(bash .ci/specs.sh)\"` (or point it at the spec file) first")
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {var}={path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

fn timed_import(name: &str, spec: &Value, options: &ImportOptions) -> Import {
    let start = Instant::now();
    let imported = import(spec, options).unwrap();
    let elapsed = start.elapsed();
    println!(
        "{name}: {} operations imported, {} skipped, {} warnings, {} shared schemas, in {elapsed:?}",
        imported.operations,
        imported.skipped,
        imported.warnings.len(),
        imported.manifest.schemas.len()
    );
    for warning in imported.warnings.iter().take(10) {
        println!("  warning {warning}");
    }
    imported
}

fn full<'a>(op: &'a Operation, name: &str) -> &'a ParamFull {
    match op.params.get(name) {
        Some(Param::Full(full)) => full,
        other => panic!("param {name}: {other:?}"),
    }
}

/// Every `#/$defs/X` named anywhere in `value`.
fn defs_named(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    let token = name.split('/').next().unwrap_or_default();
                    out.insert(token.replace("~1", "/").replace("~0", "~"));
                }
                defs_named(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| defs_named(v, out)),
        _ => {}
    }
}

/// The manifest's schemas are exactly those its operations reach, and every ref resolves.
fn assert_schemas_closed(imported: &Import) {
    let m = &imported.manifest;
    let mut named = BTreeSet::new();
    defs_named(&serde_json::to_value(&m.operations).unwrap(), &mut named);
    let mut queue: Vec<String> = named.iter().cloned().collect();
    let mut reached = BTreeSet::new();
    while let Some(name) = queue.pop() {
        if reached.insert(name.clone()) {
            let schema = m
                .schemas
                .get(&name)
                .unwrap_or_else(|| panic!("#/$defs/{name} is not in the schemas"));
            let mut more = BTreeSet::new();
            defs_named(schema, &mut more);
            queue.extend(more);
        }
    }
    let have: BTreeSet<String> = m.schemas.keys().cloned().collect();
    assert_eq!(have, reached, "schemas beyond those reached");
}

#[test]
#[ignore = "needs the vendor specs: see .ci/run"]
fn github_spec_imports_whole_with_known_operations_intact() {
    let spec = spec("AURA_TEST_GITHUB_SPEC");
    let imported = timed_import("github", &spec, &ImportOptions::new().app_id("github"));
    let m = &imported.manifest;
    assert!(imported.operations >= 900, "{} operations", imported.operations);
    assert_eq!(imported.operations, m.operations.len());
    assert_eq!(m.id, "github");
    assert_eq!(m.base_url, "https://api.github.com");
    semver::Version::parse(&m.version).unwrap();
    assert_schemas_closed(&imported);

    let get = &m.operations["repos_get"];
    assert_eq!(
        (get.method, get.path.as_str()),
        (HttpMethod::GET, "/repos/{owner}/{repo}")
    );
    for name in ["owner", "repo"] {
        let p = full(get, name);
        assert_eq!(p.location, Some(ParamLocation::Path));
        assert!(p.required);
        assert_eq!(p.schema, Some(json!({"type": "string"})));
    }
    assert!(get.output_schema.is_some());

    let list = &m.operations["issues_list_for_repo"];
    assert_eq!(
        (list.method, list.path.as_str()),
        (HttpMethod::GET, "/repos/{owner}/{repo}/issues")
    );
    let state = full(list, "state");
    assert_eq!(state.location, Some(ParamLocation::Query));
    assert!(!state.required);
    assert_eq!(state.schema.as_ref().unwrap()["enum"], json!(["open", "closed", "all"]));
    assert_eq!(full(list, "per_page").location, Some(ParamLocation::Query));

    let create = &m.operations["issues_create"];
    assert_eq!(
        (create.method, create.path.as_str()),
        (HttpMethod::POST, "/repos/{owner}/{repo}/issues")
    );
    let body = create.body.as_ref().unwrap();
    assert_eq!(body.encoding, BodyEncoding::Json);
    assert!(body.required);
    let schema = body.schema.as_ref().unwrap();
    assert_eq!(schema["required"], json!(["title"]));
    assert!(schema["properties"]["title"].is_object());
    assert!(schema["properties"]["labels"].is_object());
    assert_eq!(create.output_schema, Some(json!({"$ref": "#/$defs/issue"})));
    assert!(m.schemas.contains_key("issue"));
}

#[test]
#[ignore = "needs the vendor specs: see .ci/run"]
fn github_spec_filtered_by_tag_keeps_only_reachable_schemas() {
    let spec = spec("AURA_TEST_GITHUB_SPEC");
    let whole = import(&spec, &ImportOptions::new()).unwrap();
    let issues = timed_import("github issues", &spec, &ImportOptions::new().tag("issues"));
    assert!(
        issues.operations >= 30 && issues.operations < 100,
        "{}",
        issues.operations
    );
    assert!(
        issues.manifest.operations.keys().all(|k| k.starts_with("issues_")),
        "{:?}",
        issues.manifest.operations.keys()
    );
    assert!(issues.manifest.schemas.len() < whole.manifest.schemas.len());
    assert!(!issues.manifest.schemas.contains_key("repository-ruleset"));
    assert_schemas_closed(&issues);
}

#[test]
#[ignore = "needs the vendor specs: see .ci/run"]
fn github_spec_filtered_by_ten_operation_ids_yields_those_ten() {
    let spec = spec("AURA_TEST_GITHUB_SPEC");
    let ids = [
        "repos/get",
        "issues/create",
        "issues/list-for-repo",
        "issues/get",
        "issues/update",
        "pulls/list",
        "pulls/create",
        "users/get-authenticated",
        "repos/list-for-org",
        "git/get-ref",
    ];
    let options = ids.iter().fold(ImportOptions::new(), |o, id| o.operation(*id));
    let imported = timed_import("github ten", &spec, &options);
    let keys: Vec<&str> = imported.manifest.operations.keys().map(String::as_str).collect();
    let mut expected: Vec<String> = ids.iter().map(|id| id.replace(['/', '-'], "_")).collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert_schemas_closed(&imported);
    assert!(
        imported.manifest.schemas.len() < 60,
        "{}",
        imported.manifest.schemas.len()
    );
}

#[test]
#[ignore = "needs the vendor specs: see .ci/run"]
fn shipengine_spec_imports_with_its_api_key_header() {
    let spec = spec("AURA_TEST_SHIPENGINE_SPEC");
    let imported = timed_import("shipengine", &spec, &ImportOptions::new());
    assert!(imported.operations >= 50, "{}", imported.operations);
    assert!(
        imported
            .manifest
            .auth
            .iter()
            .any(|a| matches!(a, aura_core::declarative::AuthSpec::ApiKey { .. })),
        "{:?}",
        imported.manifest.auth
    );
    assert_schemas_closed(&imported);
}

#[test]
#[ignore = "needs the vendor specs: see .ci/run"]
fn directus_spec_imports_without_servers_from_the_root() {
    let spec = spec("AURA_TEST_DIRECTUS_SPEC");
    let text = serde_json::to_string(&spec).unwrap();
    let imported = import_str(&text, &ImportOptions::new()).unwrap();
    println!(
        "directus: {} operations, {} skipped, {} warnings",
        imported.operations,
        imported.skipped,
        imported.warnings.len()
    );
    for warning in &imported.warnings {
        println!("  warning {warning}");
    }
    assert!(imported.operations >= 50, "{}", imported.operations);
    assert_schemas_closed(&imported);
}
