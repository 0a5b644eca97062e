//! The mocks behave as documented: scripts, closures, recorded calls, latency, failures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::app::{AppConfig, Category};
use aura_core::connection::{ConnectionRecord, Credentials, StaticConnection};
use aura_core::{Context, ErrorKind, Registry};
use aura_testkit::{Failure, MockAction, MockApp, MockPolling};
use serde_json::json;

async fn call(registry: &Registry, reference: &str, input: serde_json::Value) -> aura_core::Result<serde_json::Value> {
    registry.action(reference).await?.call(Context::new(), input).await
}

#[tokio::test]
async fn scripted_steps_then_the_default() {
    let a = MockAction::new("next")
        .then_return(json!(1))
        .then_fail(ErrorKind::Timeout)
        .then_return(json!(3))
        .returns(json!("default"));
    let r = Registry::new();
    r.register(MockApp::new("m").action(a.clone())).unwrap();
    assert_eq!(call(&r, "m.next", json!(null)).await.unwrap(), json!(1));
    assert_eq!(
        call(&r, "m.next", json!(null)).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
    assert_eq!(call(&r, "m.next", json!(null)).await.unwrap(), json!(3));
    assert_eq!(call(&r, "m.next", json!(null)).await.unwrap(), json!("default"));
    assert_eq!(a.call_count(), 4);
}

#[tokio::test]
async fn closures_see_the_input_and_the_call_number() {
    let a = MockAction::new("double")
        .respond_with(|input, n| Ok(json!({ "value": input["x"].as_i64().unwrap_or(0) * 2, "call": n })));
    let r = Registry::new();
    r.register(MockApp::new("m").action(a)).unwrap();
    assert_eq!(
        call(&r, "m.double", json!({ "x": 21 })).await.unwrap(),
        json!({ "value": 42, "call": 1 })
    );
    assert_eq!(
        call(&r, "m.double", json!({ "x": 1 })).await.unwrap(),
        json!({ "value": 2, "call": 2 })
    );
}

#[tokio::test]
async fn the_default_mock_echoes() {
    let r = Registry::new();
    r.register(MockApp::new("m").action(MockAction::new("echo"))).unwrap();
    assert_eq!(
        call(&r, "m.echo", json!({ "a": [1] })).await.unwrap(),
        json!({ "a": [1] })
    );
}

#[tokio::test]
async fn calls_are_recorded_with_input_attempt_key_and_connection() {
    let a = MockAction::new("send").returns(json!({ "ok": true }));
    let r = Registry::new();
    r.register(MockApp::new("m").action(a.clone())).unwrap();
    let conn = StaticConnection::new(ConnectionRecord::new("m", "main", Credentials::bearer("t")).with_id("conn-1"));
    let cx = Context::builder()
        .connection(Arc::new(conn))
        .attempt(2)
        .idempotency_key("e1/n1")
        .build();
    r.action("m.send")
        .await
        .unwrap()
        .call(cx, json!({ "text": "hi" }))
        .await
        .unwrap();

    let calls = a.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].number, 1);
    assert_eq!(calls[0].input, json!({ "text": "hi" }));
    assert_eq!(calls[0].attempt, 2);
    assert_eq!(calls[0].idempotency_key.as_deref(), Some("e1/n1"));
    assert_eq!(calls[0].connection_id.as_deref(), Some("conn-1"));
}

#[tokio::test]
async fn failures_by_call_number_and_kind() {
    let a = MockAction::new("flaky")
        .returns(json!("ok"))
        .fail_times(2, Failure::rate_limited(Some(Duration::from_secs(3))))
        .fail_on_call(4, Failure::upstream(502));
    let r = Registry::new();
    r.register(MockApp::new("m").action(a.clone())).unwrap();

    for _ in 0..2 {
        let err = call(&r, "m.flaky", json!(null)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(err.is_retryable());
    }
    assert_eq!(call(&r, "m.flaky", json!(null)).await.unwrap(), json!("ok"));
    let err = call(&r, "m.flaky", json!(null)).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.status(), err.is_retryable()),
        (ErrorKind::Upstream, Some(502), true)
    );
    assert_eq!(err.context_value("call"), Some("4"));
    assert_eq!(call(&r, "m.flaky", json!(null)).await.unwrap(), json!("ok"));
    assert_eq!(a.call_count(), 5, "failed calls are recorded too");
}

#[tokio::test(start_paused = true)]
async fn latency_follows_tokio_time() {
    let a = MockAction::new("slow")
        .latency(Duration::from_secs(30))
        .returns(json!(1));
    let r = Registry::new();
    r.register(MockApp::new("m").action(a)).unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(call(&r, "m.slow", json!(null)).await.unwrap(), json!(1));
    assert!(started.elapsed() >= Duration::from_secs(30));

    // And a timeout around it fires.
    let action = r.action("m.slow").await.unwrap();
    let timed = tokio::time::timeout(Duration::from_secs(1), action.call(Context::new(), json!(null))).await;
    assert!(timed.is_err());
}

#[tokio::test]
async fn input_schemas_are_enforced_before_the_mock_runs() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Contact {
        email: String,
    }
    let a = MockAction::new("create").input::<Contact>();
    let r = Registry::new();
    r.register(MockApp::new("crm").action(a.clone())).unwrap();
    let err = call(&r, "crm.create", json!({ "email": 5 })).await.unwrap_err();
    assert_eq!(err.violations()[0].path, "/email");
    assert_eq!(a.call_count(), 0);
}

#[tokio::test]
async fn mock_apps_register_list_and_count_their_lifecycle() {
    let app = MockApp::new("crm")
        .category(Category::Crm)
        .tags(["contacts"])
        .action(MockAction::new("x"));
    let r = Registry::new();
    r.register_with_config(Arc::new(app.clone()), AppConfig::new(json!({ "region": "eu" })))
        .unwrap();
    assert_eq!(r.list_by_category(&Category::Crm).len(), 1);
    assert_eq!(r.list_by_tag("contacts").len(), 1);
    assert_eq!(r.search("crm")[0].id, "crm");

    r.app("crm").await.unwrap();
    assert_eq!(app.inits(), 1);
    assert_eq!(app.config().unwrap().as_json()["region"], "eu");

    let conn = StaticConnection::new(ConnectionRecord::new("crm", "main", Credentials::bearer("t")));
    let cx = Context::builder().connection(Arc::new(conn)).build();
    r.test_connection(&cx).await.unwrap();
    app.fail_connection_tests(Some(Failure::kind(ErrorKind::Unauthorized)));
    assert_eq!(
        r.test_connection(&cx).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert_eq!(app.connection_tests(), 2);

    r.cleanup().await.unwrap();
    assert_eq!(app.cleanups(), 1);
}

#[tokio::test]
async fn mock_polling_serves_pages_and_failures() {
    let leads = MockPolling::new("new_leads")
        .output_schema(json!({ "type": "object", "required": ["email"] }))
        .page([
            ("l1", json!({ "email": "a@x.test" })),
            ("l2", json!({ "email": "b@x.test" })),
        ])
        .page([("l3", json!({ "email": "c@x.test" }))]);
    let r = Registry::new();
    r.register(MockApp::new("forms").polling(leads.clone())).unwrap();
    let t = r.trigger("forms.new_leads").await.unwrap();
    let cx = Context::new();

    let p1 = t.poll(&cx, None).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    assert!(p1.more);
    leads.fail_next(ErrorKind::Unavailable);
    assert_eq!(
        t.poll(&cx, Some(p1.cursor.clone())).await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    let p2 = t.poll(&cx, Some(p1.cursor)).await.unwrap();
    assert_eq!(p2.items[0].dedupe_key, "l3");
    assert!(!p2.more);
    let p3 = t.poll(&cx, Some(p2.cursor.clone())).await.unwrap();
    assert!(p3.items.is_empty());
    assert_eq!(p3.cursor, p2.cursor);
    assert_eq!(leads.cursors(), [None, Some(1), Some(1), Some(2)]);
}

#[tokio::test]
async fn mock_polling_items_are_checked_against_the_schema() {
    let bad = MockPolling::new("bad")
        .output_schema(json!({ "type": "object", "required": ["email"] }))
        .page([("k", json!({}))]);
    let r = Registry::new();
    r.register(MockApp::new("forms").polling(bad)).unwrap();
    let err = r
        .trigger("forms.bad")
        .await
        .unwrap()
        .poll(&Context::new(), None)
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].path, "/0/data/email");
}
