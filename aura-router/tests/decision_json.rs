//! The decision record as JSON: one key per name, durations in milliseconds, attempts that
//! read back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aura_core::ErrorKind;
use aura_router::select::Priority;
use aura_router::testing::Latency;
use aura_router::{AttemptRecord, HealthPolicy, ManualClock, Router};
use common::{chat, request};
use serde_json::Value;

/// A decision with a failed attempt (800 ms, `unavailable`) and a successful one (250 ms).
async fn failed_then_ok() -> aura_router::Decision {
    let clock = ManualClock::new();
    let a = chat("a", &clock)
        .latency(Latency::ms(800))
        .then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock).latency(Latency::ms(250));
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .health(HealthPolicy::never_eject())
        .provider(a.provider("chat", "complete").build().unwrap())
        .provider(b.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap();
    router.execute(request()).await.unwrap().decision
}

#[tokio::test]
async fn a_failed_attempt_serialises_with_one_kind_key_and_reads_back() {
    let decision = failed_then_ok().await;
    let failed = &decision.attempts()[0];
    let text = serde_json::to_string(failed).unwrap();
    assert_eq!(text.matches("\"kind\"").count(), 1, "{text}");
    let map: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(map["kind"], "first");
    assert_eq!(map["outcome"], "failed");
    assert_eq!(map["error_kind"], "unavailable");
    assert_eq!(map["then"], "failover");
    let back: AttemptRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, failed);

    let whole = serde_json::to_string(&decision).unwrap();
    let attempts: Vec<AttemptRecord> =
        serde_json::from_value(serde_json::from_str::<Value>(&whole).unwrap()["attempts"].clone()).unwrap();
    assert_eq!(attempts, decision.attempts());
}

#[tokio::test]
async fn decision_durations_are_milliseconds() {
    let decision = failed_then_ok().await;
    let json = serde_json::to_value(&decision).unwrap();
    assert_eq!(json["elapsed_ms"], 1050.0);
    assert_eq!(json["started_ms"], 0.0);
    assert!(json.get("elapsed").is_none());
    assert_eq!(json["attempts"][0]["latency_ms"], 800.0);
    assert_eq!(json["attempts"][1]["started_ms"], 800.0);
    assert_eq!(json["attempts"][1]["latency_ms"], 250.0);
    let text = json.to_string();
    assert!(!text.contains("secs") && !text.contains("nanos"), "{text}");
}
