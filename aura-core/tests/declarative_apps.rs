//! Declarative apps end to end: a manifest loaded into the registry, its actions and trigger
//! called against a local server, bad manifests refused with every problem, and hot reload.

#![allow(clippy::unwrap_used)] // Test helpers: a failure ends the test loudly.

use std::sync::Arc;

use aura_core::connection::{ApiKeyPlacement, ConnectionRecord, Credentials, StaticConnection};
use aura_core::declarative::{DeclarativeApp, Manifest, ManifestWatcher};
use aura_core::http::HttpPolicy;
use aura_core::net::SsrfGuard;
use aura_core::{Context, ErrorKind, Registry};
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TODO: &str = include_str!("../../examples/manifests/todo.yaml");

fn loopback() -> HttpPolicy {
    let guard = SsrfGuard::new().allow_network("127.0.0.0/8");
    HttpPolicy::builder()
        .guard(guard.unwrap_or_else(|e| panic!("{e}")))
        .build()
}

fn todo_against(server: &MockServer) -> DeclarativeApp {
    DeclarativeApp::from_yaml(TODO)
        .unwrap()
        .policy(loopback())
        .base_url(&server.uri())
        .unwrap()
}

fn with_key(key: &str) -> Context {
    // The connection gives the key for a query parameter; the manifest puts it in its header.
    let creds = Credentials::api_key(key, ApiKeyPlacement::query("key"));
    let record = ConnectionRecord::new("todo", "test", creds);
    Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .idempotency_key("exec-1/create")
        .build()
}

#[test]
fn the_todo_manifest_is_a_rest_app_with_five_actions_and_a_trigger_in_fifty_lines() {
    assert!(TODO.lines().count() <= 50, "{} lines", TODO.lines().count());
    let registry = Registry::new();
    registry.register(DeclarativeApp::from_yaml(TODO).unwrap()).unwrap();
    let catalogue = futures_lite(registry.catalogue()).unwrap();
    let app = &catalogue["apps"][0];
    assert_eq!(app["actions"].as_array().unwrap().len(), 5, "{app:#}");
    assert_eq!(app["triggers"].as_array().unwrap().len(), 1, "{app:#}");
}

fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[tokio::test]
async fn each_operation_sends_what_its_manifest_says() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/tasks/t1"))
        .and(header("x-api-key", "k-123"))
        .and(query_param_is_missing("key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "t1", "title": "Write" })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/tasks"))
        .and(header("idempotency-key", "exec-1/create"))
        .and(body_json(json!({ "title": "Ship", "done": false })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": "t2" })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/tasks/t2"))
        .and(body_json(json!({ "done": true })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "t2", "done": true })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/tasks/t2"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let registry = Registry::new();
    registry.register(todo_against(&server)).unwrap();
    let cx = with_key("k-123");

    let get = registry.action("todo.get_task").await.unwrap();
    assert!(get.is_idempotent());
    assert_eq!(
        get.call(cx.clone(), json!({ "id": "t1" })).await.unwrap()["title"],
        "Write"
    );

    let create = registry.action("todo.create_task").await.unwrap();
    assert!(
        create.is_idempotent(),
        "an idempotency-key header makes a POST safe to retry"
    );
    let out = create
        .call(cx.clone(), json!({ "title": "Ship", "done": false }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "id": "t2" }));

    let update = registry.action("todo.update_task").await.unwrap();
    assert!(!update.is_idempotent());
    update
        .call(cx.clone(), json!({ "id": "t2", "done": true }))
        .await
        .unwrap();

    let delete = registry.action("todo.delete_task").await.unwrap();
    assert_eq!(delete.call(cx, json!({ "id": "t2" })).await.unwrap(), Value::Null);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let server = MockServer::start().await;
    let registry = Registry::new();
    registry.register(todo_against(&server)).unwrap();
    let create = registry.action("todo.create_task").await.unwrap();
    let err = create
        .call(with_key("k"), json!({ "titel": "typo", "done": "yes" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let paths: Vec<_> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert!(paths.contains(&"/done"), "{paths:?}");
    assert!(
        err.violations()
            .iter()
            .any(|v| v.message.contains("title") || v.path == "/title"),
        "{err:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_listing_reads_every_page_and_a_success_that_says_error_fails() {
    let server = MockServer::start().await;
    Mock::given(path("/tasks"))
        .and(query_param("status", "open"))
        .respond_with(|req: &Request| {
            let cursor = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.into_owned());
            let body = match cursor.as_deref() {
                None => json!({ "data": [{ "id": 1 }, { "id": 2 }], "next": "p2" }),
                Some("p2") => json!({ "data": [{ "id": 3 }], "next": null }),
                _ => json!({ "ok": false, "error": "bad_cursor" }),
            };
            ResponseTemplate::new(200).set_body_json(body)
        })
        .mount(&server)
        .await;
    Mock::given(path("/tasks"))
        .and(query_param("status", "broken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": false, "error": "invalid_status" })))
        .mount(&server)
        .await;
    let registry = Registry::new();
    registry.register(todo_against(&server)).unwrap();
    let list = registry.action("todo.list_tasks").await.unwrap();
    let out = list.call(with_key("k"), json!({ "status": "open" })).await.unwrap();
    assert_eq!(out, json!([{ "id": 1 }, { "id": 2 }, { "id": 3 }]));
    let err = list
        .call(with_key("k"), json!({ "status": "broken" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.context_value("code"), Some("invalid_status"));
}

#[tokio::test]
async fn the_poll_trigger_moves_its_cursor_to_the_newest_item() {
    let server = MockServer::start().await;
    Mock::given(path("/tasks"))
        .and(query_param("sort", "created_at"))
        .respond_with(|req: &Request| {
            let since = req.url.query_pairs().find(|(k, _)| k == "since").map(|(_, v)| v.into_owned());
            let data = match since.as_deref() {
                None => json!([{ "id": "a", "created_at": "2026-01-02T00:00:00Z" }, { "id": "b", "created_at": "2026-01-03T00:00:00Z" }]),
                Some("2026-01-03T00:00:00Z") => json!([]),
                Some(other) => panic!("unexpected cursor {other}"),
            };
            ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
        })
        .mount(&server)
        .await;
    let registry = Registry::new();
    registry.register(todo_against(&server)).unwrap();
    let trigger = registry.trigger("todo.new_task").await.unwrap();
    let first = trigger.poll(&with_key("k"), None).await.unwrap();
    let keys: Vec<_> = first.items.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(first.cursor, json!("2026-01-03T00:00:00Z"));
    let second = trigger.poll(&with_key("k"), Some(first.cursor)).await.unwrap();
    assert!(second.items.is_empty());
    assert_eq!(
        second.cursor,
        json!("2026-01-03T00:00:00Z"),
        "an empty poll keeps the cursor"
    );
}

#[tokio::test]
async fn a_base_url_variable_comes_from_the_connection_and_cannot_change_the_host() {
    let registry = Registry::new();
    let app = DeclarativeApp::from_yaml(TODO).unwrap();
    registry.register(app).unwrap();
    let get = registry.action("todo.get_task").await.unwrap();
    for workspace in ["evil.test/x?", "a@b"] {
        let creds = Credentials::custom([("workspace", workspace), ("api_key", "k")]);
        let cx = Context::builder()
            .connection(Arc::new(StaticConnection::new(ConnectionRecord::new(
                "todo", "t", creds,
            ))))
            .build();
        let err = get.call(cx, json!({ "id": "1" })).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{workspace}");
        assert_eq!(err.violations()[0].path, "/variables/workspace");
    }
}

#[test]
fn a_bad_manifest_is_refused_with_every_problem_its_path_and_its_line() {
    let text = "id: Bad App\nname: Bad\nversion: one\nbase_url: https://x.test\noperations:\n  get:\n    method: GTE\n    path: /a\n  put_it:\n    method: PUT\n    path: /b/{id}\n    params:\n      id: { in: query }\n    required: [nope]\n";
    let err = DeclarativeApp::from_yaml(text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    let found: Vec<String> = err
        .violations()
        .iter()
        .map(|v| format!("{} {}", v.path, v.message))
        .collect();
    // The format's schema finds the bad method first (with its line) …
    assert!(
        found.iter().any(|f| f.starts_with("/operations/get/method line 7:")),
        "{found:#?}"
    );

    let text = text.replace("GTE", "GET");
    let err = DeclarativeApp::from_yaml(&text).unwrap_err();
    let found: Vec<String> = err
        .violations()
        .iter()
        .map(|v| format!("{} {}", v.path, v.message))
        .collect();
    // … and then the app's own checks, all at once.
    for expected in [
        "/id line 1:",
        "/version line 3:",
        "/operations/put_it/path line 11:",
        "/operations/put_it/required line 14:",
    ] {
        assert!(
            found.iter().any(|f| f.starts_with(expected)),
            "{expected} in {found:#?}"
        );
    }
}

#[test]
fn unreadable_yaml_names_its_line() {
    let err = DeclarativeApp::from_yaml("id: x\nname: [unclosed\n").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(err.context_value("line").is_some(), "{err:?}");
}

#[test]
fn the_published_manifest_schema_is_current() {
    let generated = serde_json::to_string_pretty(&Manifest::json_schema()).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/manifest.schema.json");
    if std::env::var_os("AURA_UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let published = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        published == generated,
        "aura-core/manifest.schema.json is stale: run `AURA_UPDATE_SCHEMA=1 cargo test -p aura-core --test declarative_apps`"
    );
}

#[tokio::test]
async fn a_changed_manifest_replaces_its_app_and_a_bad_one_leaves_it_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("todo.yaml");
    let registry = Arc::new(Registry::new());
    let watcher = ManifestWatcher::new(registry.clone(), dir.path()).policy(loopback());

    std::fs::write(&file, TODO).unwrap();
    let report = watcher.scan().unwrap();
    assert_eq!(report.loaded.len(), 1);
    let before = registry.action("todo.get_task").await.unwrap();
    assert!(registry.action("todo.archive_task").await.is_err());
    assert!(watcher.scan().unwrap().is_quiet(), "an unchanged file is not reloaded");

    // A new operation appears; an action handed out before keeps working as it was.
    let changed = TODO.replace(
        "  delete_task:",
        "  archive_task: { method: POST, path: \"/tasks/{id}/archive\" }\n  delete_task:",
    );
    std::fs::write(&file, &changed).unwrap();
    let report = watcher.scan().unwrap();
    assert_eq!(report.loaded.len(), 1, "{report:?}");
    registry.action("todo.archive_task").await.unwrap();
    assert_eq!(before.reference(), "todo.get_task");

    // A bad file is refused with its problems; the app stays.
    std::fs::write(&file, changed.replace("method: PATCH", "method: PATCHY")).unwrap();
    let report = watcher.scan().unwrap();
    assert_eq!(report.rejected.len(), 1);
    let err = &report.rejected[0].1;
    assert_eq!(err.context_value("file"), Some(file.display().to_string().as_str()));
    assert!(
        err.violations()
            .iter()
            .any(|v| v.path == "/operations/update_task/method"),
        "{err:?}"
    );
    registry.action("todo.archive_task").await.unwrap();

    // A removed file takes its app away.
    std::fs::remove_file(&file).unwrap();
    let report = watcher.scan().unwrap();
    assert_eq!(report.removed.len(), 1);
    assert!(registry.action("todo.get_task").await.is_err());
}

#[tokio::test]
async fn registry_load_manifest_reads_a_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("todo.json");
    let value: Value = serde_norway::from_str(TODO).unwrap();
    std::fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    let registry = Registry::new();
    let manifest = registry.load_manifest(&file).unwrap();
    assert_eq!(manifest.id, "todo");
    registry.action("todo.list_tasks").await.unwrap();
}
