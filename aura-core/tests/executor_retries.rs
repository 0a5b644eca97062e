//! Retries of actions that are not idempotent: tried again only when the failed request cannot
//! have reached the service.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aura_core::clock::{Clock, ManualClock};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, RetryPolicy, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::{ActionDef, App, AppManifest, Registry};
use serde_json::json;
use tokio::io::AsyncReadExt;

/// An app with one action that POSTs its input to `input.url`; not idempotent.
struct Poster;

impl App for Poster {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("poster", "Poster", aura_core::semver::Version::new(1, 0, 0))
    }
    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::from_json("send", json!(true), json!(true), |cx, v| async move {
                let url = v["url"].as_str().unwrap_or_default().to_owned();
                cx.http().post(url).json(&v).send().await?;
                Ok(json!({ "sent": true }))
            })
            .idempotent(false),
        ]
    }
}

async fn engine() -> (Engine, Arc<aura_core::compile::Plan>) {
    let registry = Arc::new(Registry::new());
    registry.register(Poster).unwrap();
    // Back-off sleeps on a manual clock take no real time.
    let engine = Engine::builder(registry).clock(ManualClock::new().shared()).build();
    let scenario = Scenario::builder("post", "Post")
        .node(NodeBuilder::trigger("t").next(["send"]))
        .node(
            NodeBuilder::action("send", "poster.send")
                .input(json!({ "url": "{{ trigger.url }}", "n": 1 }))
                .retry(RetryPolicy::new(3)),
        )
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    (engine, plan)
}

/// A server that reads each request whole (headers and body), then drops the connection
/// without answering: the request reached it.
async fn dropping_server() -> (String, Arc<AtomicU32>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let received = Arc::new(AtomicU32::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = socket.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            count.fetch_add(1, Ordering::SeqCst);
                            drop(socket);
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, received)
}

#[tokio::test]
async fn a_write_whose_connection_dropped_after_the_body_is_sent_once() {
    let (engine, plan) = engine().await;
    let (url, received) = dropping_server().await;
    let record = engine.execute(&plan, json!({ "url": url })).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(
        received.load(Ordering::SeqCst),
        1,
        "the server got the request: no blind retry"
    );
    assert_eq!(record.node("send").unwrap().attempts, 1);
}

#[tokio::test]
async fn a_write_refused_before_connecting_is_retried() {
    let (engine, plan) = engine().await;
    // A port nothing listens on: every connect is refused, nothing was sent.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let record = engine
        .execute(&plan, json!({ "url": format!("http://127.0.0.1:{port}/") }))
        .await
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(
        record.node("send").unwrap().attempts,
        4,
        "the first try and three retries"
    );
}

/// An app whose one idempotent action always fails with a retryable error.
struct Flaky;

impl App for Flaky {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("flaky", "Flaky", aura_core::semver::Version::new(1, 0, 0))
    }
    fn actions(&self) -> Vec<ActionDef> {
        vec![
            ActionDef::from_json("call", json!(true), json!(true), |_cx, _v| async move {
                Err::<serde_json::Value, _>(aura_core::Error::unavailable("down"))
            })
            .idempotent(true),
        ]
    }
}

#[tokio::test]
async fn jitter_never_takes_a_back_off_past_max_delay() {
    use std::time::Duration;
    let registry = Arc::new(Registry::new());
    registry.register(Flaky).unwrap();
    let clock = ManualClock::new();
    let engine = Engine::builder(registry).clock(clock.shared()).build();
    let retry = RetryPolicy::builder(3)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(1))
        .build();
    let scenario = Scenario::builder("flaky", "Flaky")
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::action("call", "flaky.call").retry(retry))
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    let record = engine.execute(&plan, json!({})).await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    let call = record.nodes.iter().find(|n| &*n.node_id == "call").unwrap();
    assert_eq!(call.attempts, 4);
    // Three waits of at most `max_delay` each, jitter included.
    assert!(clock.now() <= Duration::from_secs(3), "waited {:?}", clock.now());
    assert!(clock.now() >= Duration::from_millis(500), "waited {:?}", clock.now());
}
