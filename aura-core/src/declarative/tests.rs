//! Requests built from inputs, without a server; webhook triggers from a manifest.

use std::sync::Arc;

use serde_json::{Value, json};

use super::base::BaseUrl;
use super::model::Operation;
use super::operation::compile;
use super::*;
use crate::context::Context;
use crate::http::Body;

fn operation(yaml: &str) -> super::operation::CompiledOperation {
    let op: Operation = serde_norway::from_str(yaml).unwrap();
    let base = Arc::new(BaseUrl::new("https://api.test/v1", &Default::default()).unwrap());
    compile(
        "op",
        &op,
        base,
        &[("Accept".into(), "application/json".into())],
        &Default::default(),
    )
    .unwrap_or_else(|v| panic!("{v:?}"))
    .0
}

#[test]
fn params_go_to_the_path_query_headers_and_body_by_default_or_as_told() {
    let op = operation(
        "method: POST\npath: /teams/{team}/items\nparams:\n  team: string\n  tags: { in: query, type: array }\n  trace: { in: header, name: X-Trace }\n  title: string\n",
    );
    let input = json!({ "team": "a b", "tags": ["x", "y"], "trace": "t-1", "title": "Hi" });
    let request = op.request(&Context::new(), &input).unwrap();
    assert_eq!(request.url, "https://api.test/v1/teams/a%20b/items");
    assert_eq!(
        request.query,
        [("tags".to_owned(), "x".to_owned()), ("tags".to_owned(), "y".to_owned())]
    );
    assert_eq!(request.header_value("x-trace"), Some("t-1"));
    assert_eq!(request.header_value("accept"), Some("application/json"));
    assert_eq!(request.body, Body::Json(json!({ "title": "Hi" })));
}

#[test]
fn a_get_sends_its_params_in_the_query() {
    let op = operation("method: GET\npath: /search\nparams: { q: string, limit: integer }\n");
    let request = op
        .request(&Context::new(), &json!({ "q": "rust", "limit": 5 }))
        .unwrap();
    assert_eq!(
        request.query,
        [
            ("limit".to_owned(), "5".to_owned()),
            ("q".to_owned(), "rust".to_owned())
        ]
    );
    assert_eq!(request.body, Body::Empty);
}

#[test]
fn a_body_template_reads_the_input() {
    let op = operation(
        "method: POST\npath: /issues\nparams: { title: string }\nbody:\n  template: { data: { attributes: { title: \"{{ input.title }}\" } } }\n",
    );
    let request = op.request(&Context::new(), &json!({ "title": "Bug" })).unwrap();
    assert_eq!(
        request.body,
        Body::Json(json!({ "data": { "attributes": { "title": "Bug" } } }))
    );
}

#[test]
fn a_form_body_is_encoded_from_the_body_field() {
    let op = operation("method: POST\npath: /token\nbody: { encoding: form, schema: { type: object } }\n");
    let request = op
        .request(
            &Context::new(),
            &json!({ "body": { "grant_type": "client_credentials", "n": 2 } }),
        )
        .unwrap();
    assert_eq!(
        request.body,
        Body::Form(vec![
            ("grant_type".into(), "client_credentials".into()),
            ("n".into(), "2".into())
        ])
    );
}

#[test]
fn a_template_reading_anything_but_input_is_refused() {
    let op: Operation =
        serde_norway::from_str("method: POST\npath: /x\nbody: { template: { a: \"{{ steps.other.id }}\" } }\n")
            .unwrap();
    let base = Arc::new(BaseUrl::new("https://api.test", &Default::default()).unwrap());
    let problems = compile("op", &op, base, &[], &Default::default()).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.path.starts_with("/operations/op/body/template")),
        "{problems:?}"
    );
}

const HOOKS: &str = r#"
id: hooks
name: Hooks
version: 1.0.0
base_url: https://api.test
triggers:
  pushed:
    webhook:
      verify: github
      events: { header: X-GitHub-Event, any_of: [push] }
      key: /after
"#;

fn signed(event: &str, body: &str, secret: &str) -> crate::trigger::WebhookRequest {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    crate::trigger::WebhookRequest::post("/hooks", body.to_owned())
        .header("X-GitHub-Event", event)
        .header("X-Hub-Signature-256", &sig)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_manifest_webhook_verifies_filters_and_keys_its_items() {
    let registry = crate::Registry::new();
    registry.register(DeclarativeApp::from_yaml(HOOKS).unwrap()).unwrap();
    let trigger = registry.trigger("hooks.pushed").await.unwrap();
    let creds = crate::connection::Credentials::custom([("secret", "s3cret")]);
    let record = crate::connection::ConnectionRecord::new("hooks", "t", creds);
    let cx = Context::builder()
        .connection(Arc::new(crate::connection::StaticConnection::new(record)))
        .build();
    let body = r#"{"after":"abc123","ref":"refs/heads/main"}"#;

    let outcome = trigger
        .handle_webhook(&cx, &signed("push", body, "s3cret"))
        .await
        .unwrap();
    let crate::trigger::WebhookOutcome::Items(items) = outcome else {
        panic!("no items")
    };
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].dedupe_key, "abc123");
    assert_eq!(items[0].data["ref"], Value::from("refs/heads/main"));

    let outcome = trigger
        .handle_webhook(&cx, &signed("issues", body, "s3cret"))
        .await
        .unwrap();
    let crate::trigger::WebhookOutcome::Items(items) = outcome else {
        panic!("no items")
    };
    assert!(items.is_empty(), "another event type starts nothing");

    let err = trigger
        .handle_webhook(&cx, &signed("push", body, "forged"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::Unauthorized);
}
