//! The `http` app: requests built without a server, then sent to a local one.

use std::sync::Arc;

use aura_core::http::{Body, HttpPolicy};
use aura_core::net::SsrfGuard;
use aura_core::trigger::TriggerParams;
use aura_core::{Context, ErrorKind, Registry};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn input(value: Value) -> RequestInput {
    serde_json::from_value(value).unwrap()
}

fn registry() -> Registry {
    let guard = SsrfGuard::new().allow_network("127.0.0.0/8").unwrap();
    let registry = Registry::new();
    registry
        .register(HttpApp::new().policy(HttpPolicy::builder().guard(guard).build()))
        .unwrap();
    registry
}

#[test]
fn the_url_template_query_and_form_body_are_built_without_a_server() {
    let request = input(json!({
        "method": "POST",
        "url": "https://api.test/users/{id}/notes",
        "path": { "id": "a/b" },
        "query": { "tag": ["x", "y"], "n": 3, "skip": null },
        "body": { "form": { "text": "hi there", "pinned": true } }
    }))
    .to_request()
    .unwrap();
    assert_eq!(request.url, "https://api.test/users/a%2Fb/notes");
    assert_eq!(request.query.len(), 3);
    assert_eq!(
        request.body,
        Body::Form(vec![
            ("pinned".into(), "true".into()),
            ("text".into(), "hi there".into())
        ])
    );
}

#[test]
fn a_multipart_file_must_be_base64_and_names_its_field() {
    let err = input(json!({
        "method": "POST", "url": "https://api.test/up",
        "body": { "multipart": [{ "name": "f", "base64": "%%%" }] }
    }))
    .to_request()
    .unwrap_err();
    assert_eq!(err.violations()[0].path, "/body/multipart/0/base64");
}

#[tokio::test]
async fn a_request_carries_the_connections_credentials_and_returns_status_headers_and_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/notes"))
        .and(header("authorization", "Bearer t0k"))
        .and(body_string_contains("\"text\":\"hi\""))
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("x-id", "n1")
                .set_body_json(json!({ "id": "n1" })),
        )
        .mount(&server)
        .await;
    let record =
        aura_core::connection::ConnectionRecord::new("http", "t", aura_core::connection::Credentials::bearer("t0k"));
    let cx = Context::builder()
        .connection(Arc::new(aura_core::connection::StaticConnection::new(record)))
        .build();
    let action = registry().action("http.request").await.unwrap();
    let out = action
        .call(
            cx,
            json!({ "method": "POST", "url": format!("{}/notes", server.uri()), "body": { "json": { "text": "hi" } } }),
        )
        .await
        .unwrap();
    assert_eq!(out["status"], 201);
    assert_eq!(out["headers"]["x-id"], "n1");
    assert_eq!(out["body"], json!({ "id": "n1" }));
    // Built as JSON by hand: it must still fit the `RequestOutput` schema the action declares.
    assert_eq!(
        action.output_schema().as_json(),
        &aura_core::schema::generate::<RequestOutput>()
    );
    action.output_schema().validate(&out, "output").unwrap();
}

#[tokio::test]
async fn fail_on_status_off_returns_a_404_instead_of_failing() {
    let server = MockServer::start().await;
    Mock::given(path("/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such thing"))
        .mount(&server)
        .await;
    let action = registry().action("http.request").await.unwrap();
    let url = format!("{}/missing", server.uri());
    let err = action.call(Context::new(), json!({ "url": url })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let out = action
        .call(Context::new(), json!({ "url": url, "fail_on_status": false }))
        .await
        .unwrap();
    assert_eq!(out["status"], 404);
    assert_eq!(out["body"], "no such thing");
}

#[tokio::test]
async fn a_bad_output_pointer_fails_before_anything_is_sent() {
    let server = MockServer::start().await;
    Mock::given(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "items": [] })))
        .expect(0)
        .mount(&server)
        .await;
    let action = registry().action("http.request").await.unwrap();
    let url = format!("{}/items", server.uri());
    let err = action
        .call(Context::new(), json!({ "url": url, "output": "items" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("pointer"), Some("items"));
    // The mock's `expect(0)` is checked when the server drops.
}

#[tokio::test]
async fn the_default_policy_refuses_loopback() {
    let registry = Registry::new();
    registry.register(HttpApp::new()).unwrap();
    let action = registry.action("http.request").await.unwrap();
    let err = action
        .call(Context::new(), json!({ "url": "http://127.0.0.1:9/x" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn the_poll_trigger_reads_its_params_and_moves_its_cursor() {
    let server = MockServer::start().await;
    Mock::given(path("/orders"))
        .and(query_param("since", "5"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "orders": [] })))
        .mount(&server)
        .await;
    Mock::given(path("/orders"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "orders": [{ "id": 4, "seq": 4 }, { "id": 5, "seq": 5 }] })),
        )
        .mount(&server)
        .await;
    let trigger = registry().trigger("http.poll").await.unwrap();
    let params = json!({ "url": format!("{}/orders", server.uri()), "items": "/orders", "key": "/id", "cursor_param": "since", "cursor_item": "/seq" });
    let cx = Context::builder().extension(TriggerParams(Arc::new(params))).build();
    let first = trigger.poll(&cx, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.cursor, json!(5));
    let second = trigger.poll(&cx, Some(first.cursor)).await.unwrap();
    assert!(second.items.is_empty());
}

#[tokio::test]
async fn a_scenario_with_bad_poll_params_does_not_compile() {
    let registry = Arc::new(registry());
    let engine = aura_core::engine::Engine::builder(registry).build();
    let scenario = aura_core::scenario::Scenario::from_yaml(
        "id: s\nname: S\nnodes:\n  - id: t\n    kind: trigger\n    config: { trigger: http.poll, poll: { params: { url: 42, key: /id } } }\n",
    )
    .unwrap();
    let err = engine.deploy(scenario).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(
        err.violations()
            .iter()
            .any(|v| v.path == "/nodes/t/config/poll/params/url"),
        "{err:?}"
    );
}
