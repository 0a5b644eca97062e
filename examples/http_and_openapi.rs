//! GitHub's real OpenAPI document imported as an app, and three of its operations called
//! through Prism serving that document; then a 43-line manifest loaded as another app.
//!
//! ```text
//! eval "$(bash .ci/specs.sh)"      # installs Prism and the specs under target/ci-npm (once)
//! target/ci-npm/node_modules/.bin/prism mock -h 127.0.0.1 -p 4710 --dynamic=false "$AURA_TEST_GITHUB_SPEC" &
//! cargo run --example http_and_openapi
//! ```
//!
//! `--spec FILE` and `--base-url URL` choose another document and server (defaults:
//! `AURA_TEST_GITHUB_SPEC` and `AURA_TEST_PRISM_GITHUB_URL`, else `http://127.0.0.1:4710`).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use aura_connectors::openapi::{ImportOptions, import};
use aura_core::connection::{ConnectionRecord, Credentials, StaticConnection};
use aura_core::declarative::DeclarativeApp;
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{Context, Registry};
use serde_json::{Value, json};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec_path = arg("--spec")
        .or_else(|| std::env::var("AURA_TEST_GITHUB_SPEC").ok())
        .unwrap_or_else(|| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/ci-npm/node_modules/@octokit/openapi/generated/api.github.com.json"
            )
            .to_owned()
        });
    let base_url = arg("--base-url")
        .or_else(|| std::env::var("AURA_TEST_PRISM_GITHUB_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:4710".to_owned());
    let text = std::fs::read(&spec_path)
        .map_err(|e| format!("cannot read the spec {spec_path}: {e}\n(run `eval \"$(bash .ci/specs.sh)\"` first)"))?;

    // 1. The whole document imported.
    let start = Instant::now();
    let spec: Value = serde_json::from_slice(&text)?;
    let imported = import(&spec, &ImportOptions::new().app_id("github"))?;
    println!(
        "imported {} operations of {} ({} skipped, {} warnings) in {:?}",
        imported.operations,
        spec["info"]["title"].as_str().unwrap_or("the spec"),
        imported.skipped,
        imported.warnings.len(),
        start.elapsed()
    );
    for warning in imported.warnings.iter().take(5) {
        println!("  warning: {warning}");
    }

    // 2. Registered as an app that sends to Prism (a loopback server: allowed explicitly).
    let start = Instant::now();
    let guard = SsrfGuard::new().allow_network("127.0.0.0/8")?;
    let app = DeclarativeApp::new(imported.manifest)?
        .policy(HttpPolicy::builder().guard(guard).build())
        .base_url(&base_url)?;
    let registry = Registry::new();
    registry.register(app)?;
    println!("registered as `github` in {:?}", start.elapsed());

    // 3. Three operations called, with a bearer-token connection.
    let record = ConnectionRecord::new("github", "example", Credentials::bearer("ghp_example"));
    let cx = Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build();
    let calls = [
        ("github.repos_get", json!({ "owner": "octocat", "repo": "hello-world" })),
        (
            "github.issues_list_for_repo",
            json!({ "owner": "octocat", "repo": "hello-world", "state": "open", "per_page": 5 }),
        ),
        (
            "github.issues_create",
            json!({ "owner": "octocat", "repo": "hello-world", "body": { "title": "Found a bug" } }),
        ),
    ];
    for (action, input) in calls {
        let out = registry
            .action(action)
            .await?
            .call(cx.clone(), input)
            .await
            .map_err(|e| {
                format!("{action}: {e}\n(is Prism serving {spec_path} on {base_url}? see this example's docs)")
            })?;
        let summary = match &out {
            Value::Array(items) => format!("{} items", items.len()),
            Value::Object(o) => {
                let pick = ["full_name", "number", "title"]
                    .iter()
                    .find_map(|k| o.get(*k).map(|v| format!("{k} = {v}")));
                pick.unwrap_or_else(|| format!("{} fields", o.len()))
            }
            other => other.to_string(),
        };
        println!("{action}: {summary}");
    }
    // Bad input is refused before any request, naming the field.
    let err = registry
        .action("github.issues_list_for_repo")
        .await?
        .call(
            cx,
            json!({ "owner": "octocat", "repo": "hello-world", "state": "lost" }),
        )
        .await
        .err()
        .ok_or("`lost` is not a state, yet the call went through")?;
    println!("refused before sending: {err}");

    // 4. A declarative manifest: a REST app with five actions and a trigger.
    let manifest = registry.load_manifest(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/manifests/todo.yaml"))?;
    let todo = registry.app("todo").await?;
    let actions: Vec<_> = todo.actions().map(|a| a.key().to_owned()).collect();
    let triggers: Vec<_> = todo.triggers().map(|t| t.manifest().key.clone()).collect();
    println!(
        "loaded manifest `{}` {}: actions {actions:?}, triggers {triggers:?}",
        manifest.id, manifest.version
    );
    Ok(())
}
