//! The trigger runtime's axum router on a real loopback server: mounted under a prefix, the
//! body limit enforced while reading, the peer address reaching the allowlist.

#![cfg(feature = "webhook-axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use aura_core::Registry;
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use serde_json::{Value, json};

const FLOW: &str = r#"
id: score
name: Score
nodes:
  - { id: hook, kind: trigger, config: { webhook: { path: score } }, next: [score] }
  - { id: score, kind: set, input: { score: "{{ trigger.value }}" }, next: [check] }
  - { id: check, kind: if, config: { condition: "steps.score.output.score > 10" }, routes: { "true": [reply] } }
  - { id: reply, kind: respond, input: { ok: true, score: "{{ steps.score.output.score }}" } }
"#;

const LISTED: &str = r#"
id: listed
name: Listed
nodes:
  - { id: hook, kind: trigger, config: { webhook: { path: listed, allow_ips: [10.0.0.0/8], respond: accepted } } }
"#;

async fn serve(triggers: &TriggerRuntime) -> SocketAddr {
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .nest("/hooks", triggers.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });
    addr
}

#[tokio::test]
async fn the_router_serves_webhooks_under_the_hosts_prefix() {
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let triggers = TriggerRuntime::builder(engine).body_limit(1024).build();
    triggers.deploy(Scenario::from_yaml(FLOW).unwrap()).await.unwrap();
    triggers.deploy(Scenario::from_yaml(LISTED).unwrap()).await.unwrap();
    let addr = serve(&triggers).await;
    let http = reqwest::Client::new();

    let answer = http
        .post(format!("http://{addr}/hooks/score"))
        .json(&json!({ "value": 42 }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({ "ok": true, "score": 42 })
    );

    // The host's own routes are untouched.
    let health = http.get(format!("http://{addr}/health")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    // Over the limit: 413, whatever the body holds.
    let big = http
        .post(format!("http://{addr}/hooks/score"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    // The peer (127.0.0.1) is not in 10.0.0.0/8.
    let refused = http
        .post(format!("http://{addr}/hooks/listed"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);

    let missing = http.post(format!("http://{addr}/hooks/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    triggers.shutdown().await;
}
