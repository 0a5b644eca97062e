//! Imported OpenAPI apps called end to end: each vendor's real spec imported, its actions
//! called through a recording proxy in front of Prism serving that spec, and every request
//! Aura sent checked against the spec by the testkit's [`SpecChecker`] (stricter than Prism's
//! own validation). Prism and the specs come from `.ci/run` (`start_prisms`).
#![cfg(feature = "openapi")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use aura_connectors::openapi::{ImportOptions, import};
use aura_core::connection::{ApiKeyPlacement, ConnectionRecord, Credentials, StaticConnection};
use aura_core::declarative::DeclarativeApp;
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{Context, Registry};
use aura_testkit::openapi::{RecordingProxy, SpecChecker};
use serde_json::{Value, json};

struct Vendor {
    spec: Value,
    checker: SpecChecker,
    proxy: RecordingProxy,
}

/// The vendor's spec, its checker and a proxy in front of its Prism. Fails (never skips) when
/// the environment does not name them.
async fn vendor(name: &str) -> Vendor {
    let how = "start Prism as CI does: `source .ci/run && start_prisms` (or run `bash .ci/run`)";
    let spec_var = format!("AURA_TEST_{name}_SPEC");
    let url_var = format!("AURA_TEST_PRISM_{name}_URL");
    let spec_path = std::env::var(&spec_var).unwrap_or_else(|_| panic!("{spec_var} is not set: {how}"));
    let url = std::env::var(&url_var).unwrap_or_else(|_| panic!("{url_var} is not set: {how}"));
    let spec: Value = serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
    let checker = SpecChecker::new(&spec).unwrap();
    Vendor {
        spec,
        checker,
        proxy: RecordingProxy::start(&url).await.unwrap(),
    }
}

impl Vendor {
    /// The spec imported (only `operations` when given), registered, sending to the proxy.
    fn registry(&self, operations: &[&str]) -> Registry {
        let mut options = ImportOptions::new();
        for op in operations {
            options = options.operation(*op);
        }
        let imported = import(&self.spec, &options).unwrap();
        let guard = SsrfGuard::new().allow_network("127.0.0.0/8").unwrap();
        let app = DeclarativeApp::new(imported.manifest)
            .unwrap()
            .policy(HttpPolicy::builder().guard(guard).build())
            .base_url(&self.proxy.url())
            .unwrap();
        let registry = Registry::new();
        registry.register(app).unwrap();
        registry
    }

    /// Every request the proxy saw, accepted by the spec checker; their operation ids.
    fn accepted(&self) -> Vec<String> {
        self.proxy
            .requests()
            .iter()
            .map(|r| match self.checker.check(r) {
                Ok(m) => m.operation_id.unwrap_or(m.path_template),
                Err(problems) => panic!("{} {} does not fit the spec: {problems:#?}", r.method, r.path),
            })
            .collect()
    }
}

fn connection(credentials: Credentials) -> Context {
    let record = ConnectionRecord::new("vendor", "test", credentials);
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build()
}

async fn call(registry: &Registry, app: &str, action: &str, cx: &Context, input: Value) -> Value {
    let reference = format!("{app}.{action}");
    registry
        .action(&reference)
        .await
        .unwrap()
        .call(cx.clone(), input)
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e:?}"))
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn githubs_whole_spec_registers_and_its_actions_send_what_the_spec_says() {
    let github = vendor("GITHUB").await;
    let start = Instant::now();
    let whole = github.registry(&[]);
    let app = whole.manifests()[0].id.clone();
    eprintln!("GitHub: whole spec imported and registered in {:?}", start.elapsed());
    let handle = whole.app(&app).await.unwrap();
    assert!(handle.actions().count() >= 900);

    let cx = connection(Credentials::bearer("ghp_test"));
    let repo = call(
        &whole,
        &app,
        "repos_get",
        &cx,
        json!({ "owner": "octocat", "repo": "hello-world" }),
    )
    .await;
    assert!(repo.get("full_name").is_some(), "{repo}");
    let issues = call(
        &whole,
        &app,
        "issues_list_for_repo",
        &cx,
        json!({ "owner": "octocat", "repo": "hello-world", "state": "open", "per_page": 5 }),
    )
    .await;
    assert!(issues.is_array(), "{issues}");
    let created = call(
        &whole,
        &app,
        "issues_create",
        &cx,
        json!({ "owner": "octocat", "repo": "hello-world", "body": { "title": "Found a bug", "labels": ["bug"] } }),
    )
    .await;
    assert!(created.get("number").is_some(), "{created}");
    assert_eq!(
        github.accepted(),
        ["repos/get", "issues/list-for-repo", "issues/create"]
    );
    let sent = &github.proxy.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer ghp_test"));

    // Bad input never leaves: the imported schema refuses it first.
    github.proxy.clear();
    let err = whole
        .action(&format!("{app}.issues_list_for_repo"))
        .await
        .unwrap()
        .call(
            cx,
            json!({ "owner": "octocat", "repo": "hello-world", "state": "lost" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].path, "/state");
    assert!(github.proxy.requests().is_empty());
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn shipengine_actions_carry_the_api_key_header_the_spec_declares() {
    let shipengine = vendor("SHIPENGINE").await;
    let registry = shipengine.registry(&["list_carriers", "list_labels", "create_tag"]);
    let app = registry.manifests()[0].id.clone();
    // The connection gives a key; the imported app puts it where the spec's scheme says.
    let cx = connection(Credentials::api_key("TEST_key", ApiKeyPlacement::query("unused")));
    call(&registry, &app, "list_carriers", &cx, json!({})).await;
    call(
        &registry,
        &app,
        "list_labels",
        &cx,
        json!({ "label_status": "completed", "page": 1, "page_size": 5, "sort_dir": "desc" }),
    )
    .await;
    call(&registry, &app, "create_tag", &cx, json!({ "tag_name": "Fragile" })).await;
    assert_eq!(shipengine.accepted(), ["list_carriers", "list_labels", "create_tag"]);
    for request in shipengine.proxy.requests() {
        assert_eq!(request.header("api-key"), Some("TEST_key"));
    }
}

#[tokio::test]
#[ignore = "needs prism: see .ci/run"]
async fn directus_actions_send_queries_and_json_bodies_that_fit_the_spec() {
    let directus = vendor("DIRECTUS").await;
    let registry = directus.registry(&["ping", "getUsers", "createCollection"]);
    let app = registry.manifests()[0].id.clone();
    let cx = connection(Credentials::bearer("directus-token"));
    call(&registry, &app, "ping", &cx, json!({})).await;
    call(
        &registry,
        &app,
        "get_users",
        &cx,
        json!({ "limit": 5, "offset": 10, "sort": ["-email"] }),
    )
    .await;
    call(
        &registry,
        &app,
        "create_collection",
        &cx,
        json!({ "body": { "collection": "articles", "fields": [{ "field": "id", "type": "integer" }] } }),
    )
    .await;
    assert_eq!(directus.accepted(), ["ping", "getUsers", "createCollection"]);
}
