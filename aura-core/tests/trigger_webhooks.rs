//! The trigger runtime's webhook receiver, through its framework-agnostic handler: routes,
//! methods, limits, verification through a connection, dedupe of retried deliveries, response
//! modes, overload, atomic replacement, status, shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use aura_core::connection::{ConnectionRecord, Connections, Credentials};
use aura_core::engine::Engine;
use aura_core::runtime::TriggerRuntime;
use aura_core::runtime::{Activation, TriggerEventKind};
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, MemoryStore, PageRequest};
use aura_core::trigger::WebhookRequest;
use aura_core::{ErrorKind, Registry};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "CANARY-webhook-secret-7f3a";

fn engine_with(store: Arc<MemoryStore>) -> Engine {
    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new("github", "hooks", Credentials::custom([("secret", SECRET)])).with_id("gh-hooks"),
    );
    connections
        .insert_record(ConnectionRecord::new("ops", "basic", Credentials::basic("ops", SECRET)).with_id("ops-basic"));
    Engine::builder(Arc::new(Registry::new()))
        .connections(connections)
        .store(store)
        .build()
}

fn engine() -> (Engine, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (engine_with(store.clone()), store)
}

/// The flow of the benchmarks: `webhook → set → if → respond`.
const SCORE: &str = r#"
id: score
name: Score
nodes:
  - { id: hook, kind: trigger, config: { webhook: { path: /score/ } }, next: [score] }
  - { id: score, kind: set, input: { score: "{{ trigger.value }}" }, next: [check] }
  - { id: check, kind: if, config: { condition: "steps.score.output.score > 10" }, routes: { "true": [reply] } }
  - { id: reply, kind: respond, input: { ok: true, score: "{{ steps.score.output.score }}" } }
"#;

const GITHUB: &str = r#"
id: pushes
name: Pushes
nodes:
  - id: hook
    kind: trigger
    connection: gh-hooks
    config: { webhook: { path: github/push, verify: github, respond: accepted } }
    next: [note]
  - { id: note, kind: set, input: { repo: "{{ trigger.repository }}" } }
"#;

fn body_json(response: &http::Response<bytes::Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn a_webhook_flow_answers_with_its_respond_node() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    let plan = triggers.deploy(Scenario::from_yaml(SCORE).unwrap()).await.unwrap();
    assert_eq!(
        triggers.activate(&plan).await.unwrap(),
        Activation::Webhook { path: "score".into() }
    );
    let response = triggers
        .handle(WebhookRequest::post("/score", r#"{"value":42}"#).build().unwrap(), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response), json!({ "ok": true, "score": 42 }));
    assert_eq!(response.headers()["content-type"], "application/json");

    // The condition does not hold: no respond node runs, the execution completed.
    let response = triggers
        .handle(WebhookRequest::post("score/", r#"{"value":3}"#).build().unwrap(), None)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(body_json(&response)["status"], "completed");
}

#[tokio::test]
async fn bad_requests_get_short_answers_that_never_echo_the_body() {
    let (engine, store) = engine();
    let triggers = TriggerRuntime::builder(engine).body_limit(64).build();
    triggers.deploy(Scenario::from_yaml(SCORE).unwrap()).await.unwrap();
    let send = |request: WebhookRequest| {
        let triggers = triggers.clone();
        async move { triggers.handle(request, None).await }
    };

    let missing = send(WebhookRequest::post("/nowhere", "{}").build().unwrap()).await;
    assert_eq!(missing.status(), 404);

    let get = send(WebhookRequest::builder(http::Method::GET, "/score").build().unwrap()).await;
    assert_eq!(get.status(), 405);
    assert_eq!(get.headers()["allow"], "POST");

    let big = format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(100));
    assert_eq!(
        send(WebhookRequest::post("/score", big).build().unwrap())
            .await
            .status(),
        413
    );

    let malformed = send(
        WebhookRequest::post("/score", r#"{"value": SECRET-BODY"#)
            .header("content-type", "application/json")
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(malformed.status(), 400);
    let text = String::from_utf8(malformed.body().to_vec()).unwrap();
    assert!(text.contains("not valid JSON (line 1, column 11)"), "{text}");
    assert!(!text.contains("SECRET-BODY"), "{text}");

    let binary = send(
        WebhookRequest::post("/score", "\u{0}\u{1}")
            .header("content-type", "application/octet-stream")
            .build()
            .unwrap(),
    )
    .await;
    assert_eq!(binary.status(), 415);

    // None of them started anything.
    let page = store.list("score", PageRequest::first(100)).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn github_deliveries_are_verified_and_a_retried_one_runs_once() {
    let (engine, store) = engine();
    let triggers = TriggerRuntime::new(engine);
    triggers.deploy(Scenario::from_yaml(GITHUB).unwrap()).await.unwrap();
    let body = r#"{"repository":"aura"}"#;
    let delivery = |signature: &str, body: &'static str| {
        WebhookRequest::post("/github/push", body)
            .header("content-type", "application/json")
            .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
            .header("x-hub-signature-256", signature)
            .build()
            .unwrap()
    };

    let first = triggers.handle(delivery(&signed(body), body), None).await;
    assert_eq!(first.status(), 202);
    let id = body_json(&first)["execution_id"].as_str().unwrap().to_owned();

    // GitHub retries the same delivery: taken, nothing new started.
    let again = triggers.handle(delivery(&signed(body), body), None).await;
    assert_eq!(again.status(), 200);
    assert_eq!(body_json(&again), json!({ "duplicate": true }));

    // Forged: a changed body, or a wrong signature.
    let forged = triggers
        .handle(delivery(&signed(body), r#"{"repository":"evil"}"#), None)
        .await;
    assert_eq!(forged.status(), 401);
    let unsigned = triggers
        .handle(WebhookRequest::post("/github/push", body).build().unwrap(), None)
        .await;
    assert_eq!(unsigned.status(), 401);
    for response in [&first, &again, &forged, &unsigned] {
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains(SECRET), "{text}");
    }

    // One execution, which ran.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let page = store.list("pushes", PageRequest::first(100)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let record = store.get(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(record.output, Some(json!({ "repo": "aura" })));
}

#[tokio::test]
async fn a_verifier_without_a_secret_is_refused_at_activation() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    let yaml = GITHUB.replace("    connection: gh-hooks\n", "");
    let err = triggers.deploy(Scenario::from_yaml(&yaml).unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("scenario"), Some("pushes"));
    assert_eq!(err.context_value("node"), Some("hook"));
    assert_eq!(err.context_value("field"), Some("/connection"));
}

#[tokio::test]
async fn basic_auth_and_allowlists_are_checked_first() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    let yaml = r#"
id: ops
name: Ops
nodes:
  - id: hook
    kind: trigger
    connection: ops-basic
    config: { webhook: { verify: basic, allow_ips: [10.0.0.0/8], respond: accepted } }
"#;
    triggers.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
    use base64::Engine as _;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("ops:{SECRET}"))
    );
    let request = || {
        WebhookRequest::post("/ops/hook", "{}")
            .header("authorization", &auth)
            .build()
            .unwrap()
    };
    let inside = Some("10.1.2.3".parse().unwrap());
    let outside = Some("203.0.113.9".parse().unwrap());
    assert_eq!(triggers.handle(request(), inside).await.status(), 202);
    assert_eq!(triggers.handle(request(), outside).await.status(), 403);
    assert_eq!(triggers.handle(request(), None).await.status(), 403);
    let wrong = WebhookRequest::post("/ops/hook", "{}")
        .header("authorization", "Basic b3BzOndyb25n")
        .build()
        .unwrap();
    assert_eq!(triggers.handle(wrong, inside).await.status(), 401);
}

#[tokio::test]
async fn two_scenarios_cannot_share_a_path_and_a_redeploy_moves_its_route() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    triggers.deploy(Scenario::from_yaml(SCORE).unwrap()).await.unwrap();
    let other = SCORE.replace("id: score\nname: Score", "id: other\nname: Other");
    let err = triggers.deploy(Scenario::from_yaml(&other).unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.context_value("path"), Some("score"));
    assert_eq!(err.context_value("served_by"), Some("score"));
    // The first one still serves.
    let ok = WebhookRequest::post("/score", r#"{"value":42}"#).build().unwrap();
    assert_eq!(triggers.handle(ok, None).await.status(), 200);

    // Version 2 moves to another path: the old one is gone at once.
    let moved = SCORE
        .replace("path: /score/", "path: v2/score")
        .replace("name: Score", "name: Score\nversion: 2");
    triggers.deploy(Scenario::from_yaml(&moved).unwrap()).await.unwrap();
    let old = WebhookRequest::post("/score", r#"{"value":42}"#).build().unwrap();
    assert_eq!(triggers.handle(old, None).await.status(), 404);
    let new = WebhookRequest::post("/v2/score", r#"{"value":42}"#).build().unwrap();
    assert_eq!(triggers.handle(new, None).await.status(), 200);
}

#[tokio::test]
async fn a_paused_scenario_serves_nothing_and_deactivation_removes_the_route() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    triggers.deploy(Scenario::from_yaml(SCORE).unwrap()).await.unwrap();
    let paused = SCORE.replace("name: Score", "name: Score\nversion: 2\nstatus: paused");
    let plan = triggers
        .engine()
        .deploy(Scenario::from_yaml(&paused).unwrap())
        .await
        .unwrap();
    assert_eq!(
        triggers.activate(&plan).await.unwrap(),
        Activation::Inactive(aura_core::scenario::ScenarioStatus::Paused)
    );
    let request = || WebhookRequest::post("/score", r#"{"value":42}"#).build().unwrap();
    assert_eq!(triggers.handle(request(), None).await.status(), 404);
    let err = triggers.fire("score", json!({ "value": 1 })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    // Active again: served again.
    let active = SCORE.replace("name: Score", "name: Score\nversion: 3");
    triggers.deploy(Scenario::from_yaml(&active).unwrap()).await.unwrap();
    assert_eq!(triggers.handle(request(), None).await.status(), 200);
}

#[tokio::test]
async fn under_overload_requests_get_503_with_retry_after_and_memory_stays_bounded() {
    let (engine, store) = engine();
    let triggers = TriggerRuntime::builder(engine).max_in_flight(2).build();
    let slow = r#"
id: slow
name: Slow
nodes:
  - { id: hook, kind: trigger, config: { webhook: { respond: accepted } }, next: [wait] }
  - { id: wait, kind: delay, config: { seconds: 1 } }
"#;
    triggers.deploy(Scenario::from_yaml(slow).unwrap()).await.unwrap();
    let send = || triggers.handle(WebhookRequest::post("/slow/hook", "{}").build().unwrap(), None);
    assert_eq!(send().await.status(), 202);
    assert_eq!(send().await.status(), 202);
    let busy = send().await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(
        store.list("slow", PageRequest::first(100)).await.unwrap().items.len(),
        2
    );

    // Shutdown waits for the two in flight, then everything gets 503.
    triggers.shutdown().await;
    let page = store.list("slow", PageRequest::first(100)).await.unwrap();
    assert!(page.items.iter().all(|e| e.status.is_finished()), "{page:?}");
    assert_eq!(send().await.status(), 503);
}

#[tokio::test]
async fn a_slack_handshake_is_answered_without_starting_anything() {
    let store = Arc::new(MemoryStore::new());
    let connections = Arc::new(Connections::new());
    connections.insert_record(
        ConnectionRecord::new("slack", "events", Credentials::custom([("signing_secret", SECRET)])).with_id("slack"),
    );
    let engine = Engine::builder(Arc::new(Registry::new()))
        .connections(connections)
        .store(store.clone())
        .build();
    let triggers = TriggerRuntime::new(engine.clone());
    let yaml = r#"
id: slack
name: Slack events
nodes:
  - { id: events, kind: trigger, connection: slack, config: { webhook: { verify: slack } } }
"#;
    triggers.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap();
    let body = r#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let ts = triggers.now().timestamp().to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let signature = format!("v0={}", hex::encode(mac.finalize().into_bytes()));
    let request = WebhookRequest::post("/slack/events", body)
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", &signature)
        .build()
        .unwrap();
    let response = triggers.handle(request, None).await;
    assert_eq!(response.status(), 200);
    assert!(
        String::from_utf8(response.body().to_vec())
            .unwrap()
            .contains("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    );
    assert!(
        store
            .list("slack", PageRequest::first(100))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_scenario_without_a_webhook_is_fired_by_hand() {
    let (engine, _) = engine();
    let triggers = TriggerRuntime::new(engine);
    let yaml = r#"
id: hand
name: By hand
nodes:
  - { id: start, kind: trigger, next: [echo] }
  - { id: echo, kind: set, input: { got: "{{ trigger.n }}" } }
"#;
    let plan = triggers
        .engine()
        .deploy(Scenario::from_yaml(yaml).unwrap())
        .await
        .unwrap();
    assert_eq!(triggers.activate(&plan).await.unwrap(), Activation::Manual);
    let record = triggers
        .fire("hand", json!({ "n": 5 }))
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(record.output, Some(json!({ "got": 5 })));
    let mut events = triggers.subscribe();
    assert!(triggers.deactivate("hand").await);
    assert_eq!(events.recv().await.unwrap().kind, TriggerEventKind::Deactivated);
}

/// A forge whose API registers hooks: it records every (un)subscription.
#[derive(Clone, Default)]
struct Forge(Arc<std::sync::Mutex<Vec<String>>>);

impl Forge {
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

#[aura_core::async_trait]
impl aura_core::trigger::WebhookTrigger for Forge {
    type Item = Value;

    fn parse(&self, request: &WebhookRequest) -> aura_core::Result<Vec<aura_core::TriggerItem<Value>>> {
        let body: Value = request.json()?;
        Ok(vec![aura_core::TriggerItem::new(body["id"].to_string(), body)])
    }

    async fn subscribe(&self, _cx: &aura_core::Context, url: &str) -> aura_core::Result<Option<Value>> {
        let mut calls = self.0.lock().unwrap();
        calls.push(format!("subscribe {url}"));
        Ok(Some(json!({ "hook_id": calls.len() })))
    }

    async fn unsubscribe(&self, _cx: &aura_core::Context, subscription: &Value) -> aura_core::Result<()> {
        self.0.lock().unwrap().push(format!("unsubscribe {subscription}"));
        Ok(())
    }
}

#[aura_core::async_trait]
impl aura_core::App for Forge {
    fn manifest(&self) -> aura_core::AppManifest {
        aura_core::AppManifest::new("forge", "Forge", aura_core::semver::Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<aura_core::ActionDef> {
        Vec::new()
    }

    fn triggers(&self) -> Vec<aura_core::TriggerDef> {
        vec![aura_core::TriggerDef::webhook("push", self.clone())]
    }
}

#[tokio::test]
async fn a_webhook_whose_app_registers_hooks_is_subscribed_at_its_public_url() {
    let forge = Forge::default();
    let registry = Registry::new();
    registry.register(forge.clone()).unwrap();
    let engine = Engine::builder(Arc::new(registry)).build();
    let triggers = TriggerRuntime::builder(engine)
        .public_url("https://hooks.example.com/hooks/")
        .build();
    let scenario = |version: u32, path: &str| {
        Scenario::from_yaml(&format!(
            "id: pushes\nname: Pushes\nversion: {version}\nnodes:\n  - {{ id: push, kind: trigger, config: {{ trigger: forge.push, webhook: {{ path: {path}, respond: accepted }} }} }}\n"
        ))
        .unwrap()
    };
    triggers.deploy(scenario(1, "forge/push")).await.unwrap();
    assert_eq!(forge.calls(), ["subscribe https://hooks.example.com/hooks/forge/push"]);

    // The app parses what the forge sends.
    let delivery = WebhookRequest::post("/forge/push", r#"{"id": 9, "ref": "main"}"#)
        .build()
        .unwrap();
    let answer = triggers.handle(delivery, None).await;
    assert_eq!(answer.status(), 202);

    // The same URL again: nothing to register. Another URL: the old hook goes first.
    triggers.deploy(scenario(2, "forge/push")).await.unwrap();
    assert_eq!(forge.calls().len(), 1);
    triggers.deploy(scenario(3, "forge/v2/push")).await.unwrap();
    assert_eq!(
        forge.calls()[1..],
        [
            r#"unsubscribe {"hook_id":1}"#.to_owned(),
            "subscribe https://hooks.example.com/hooks/forge/v2/push".to_owned()
        ]
    );
    // A shutdown keeps the hook (the next process serves it); a deactivation removes it.
    assert!(triggers.deactivate("pushes").await);
    assert_eq!(forge.calls()[3], r#"unsubscribe {"hook_id":3}"#);
}
