//! Tracking: budgets stop traffic, the snapshot counts everything, and the decision record
//! explains every exclusion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aura_core::ErrorKind;
use aura_router::select::Priority;
use aura_router::testing::{Fault, Latency};
use aura_router::{Budget, CostModel, Exclusion, HealthPolicy, ManualClock, RateLimit, Router};
use common::{chat, request, who};
use serde_json::json;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_spent_provider_budget_stops_its_traffic_until_the_window_ends() {
    let clock = ManualClock::new();
    let dear = chat("dear", &clock);
    let other = chat("other", &clock);
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .provider(
            dear.provider("chat", "complete")
                .cost(CostModel::per_call(0.02))
                .budget(Budget::new(0.05, HOUR))
                .build()
                .unwrap(),
        )
        .provider(other.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap();
    // 0.02 a call: two fit in 0.05, a third would overrun it.
    for _ in 0..2 {
        assert_eq!(who(&router.execute(request()).await.unwrap().value), "dear");
    }
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "other");
    assert_eq!(
        routed.decision.candidate("dear").unwrap().exclusion,
        Some(&Exclusion::ProviderBudgetSpent { until: HOUR })
    );
    let snapshot = router.snapshot();
    let budget = snapshot.provider("dear").unwrap().budget.unwrap();
    assert!((budget.spent - 0.04).abs() < 1e-12);

    clock.advance(HOUR);
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "dear");
}

#[tokio::test]
async fn a_spent_capability_budget_stops_every_provider() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let metered = CostModel::per_call(0.0).per_unit("/usage/total_tokens", 0.001);
    let router = Router::builder()
        .clock(clock.clone())
        .capability_budget("chat", Budget::new(0.25, HOUR))
        .provider(a.provider("chat", "complete").cost(metered.clone()).build().unwrap())
        .provider(b.provider("chat", "complete").cost(metered).build().unwrap())
        .build()
        .unwrap();
    // 100 tokens at 0.001: 0.1 a call, two calls fit. (The request says how many tokens it
    // expects; without that, a provider's running average is the estimate.)
    let request = || request().expected_units(100.0);
    router.execute(request()).await.unwrap();
    router.execute(request()).await.unwrap();
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.error().retry_after(), Some(HOUR));
    assert!(err.decision().attempts().is_empty());
    assert!(
        err.decision()
            .excluded()
            .all(|(_, why)| matches!(why, Exclusion::CapabilityBudgetSpent { .. }))
    );
    assert_eq!(a.call_count() + b.call_count(), 2);
    let capability = router.snapshot().capability("chat").cloned().unwrap();
    assert!((capability.budget.unwrap().spent - 0.2).abs() < 1e-12);
}

#[tokio::test]
async fn the_snapshot_counts_calls_latency_and_cost() {
    let clock = ManualClock::new();
    let a = chat("a", &clock)
        .latency(Latency::Cycle((1..=100).map(Duration::from_millis).collect()))
        .fail_on_call(100, Fault::Status(503));
    let router = Router::builder()
        .clock(clock.clone())
        .health(HealthPolicy::never_eject())
        .provider(
            a.provider("chat", "complete")
                .cost(CostModel::per_call(0.001).per_unit("/usage/total_tokens", 0.00001))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for _ in 0..100 {
        let _ = router.execute(request().max_attempts(1)).await;
    }
    let snapshot = router.snapshot();
    let p = snapshot.provider("a").unwrap();
    let op = p.operation("chat", "complete").unwrap();
    assert_eq!((op.successes, op.errors, op.in_flight), (99, 1, 0));
    assert_eq!(op.latency.p50, Some(Duration::from_millis(50)));
    assert_eq!(op.latency.p95, Some(Duration::from_millis(95)));
    assert_eq!(op.latency.p99, Some(Duration::from_millis(99)));
    assert!(op.latency.ewma.is_some());
    // 99 successes × (0.001 + 100 tokens × 0.00001); failures cost nothing.
    assert!((p.cost_total - 99.0 * 0.002).abs() < 1e-9, "{}", p.cost_total);
    assert_eq!(op.units_total, 9_900.0);
    // It serializes for dashboards.
    let json = serde_json::to_value(&snapshot).unwrap();
    assert_eq!(json["providers"][0]["operations"][0]["successes"], 99);
    assert_eq!(json["providers"][0]["operations"][0]["health"]["status"], "healthy");
}

#[tokio::test]
async fn the_snapshot_json_writes_durations_as_milliseconds() {
    let clock = ManualClock::new();
    let paid = chat("paid", &clock).latency(Latency::Cycle(vec![Duration::from_micros(1_500)]));
    let cooling = chat("cooling", &clock).then_rate_limit(Duration::from_secs(30));
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .provider(
            paid.provider("chat", "complete")
                .cost(CostModel::per_call(0.25))
                .budget(Budget::new(1.0, HOUR))
                .build()
                .unwrap(),
        )
        .provider(cooling.provider("chat", "complete").build().unwrap())
        .build()
        .unwrap();
    clock.advance(Duration::from_millis(2_000));
    router.execute(request().allow(["paid"])).await.unwrap();
    let _ = router.execute(request().allow(["cooling"]).max_attempts(1)).await;

    let json = serde_json::to_value(router.snapshot()).unwrap();
    // The paid call took 1.5 ms of virtual time, from 2 000 ms.
    assert_eq!(json["at_ms"], json!(2_001.5));
    let paid = &json["providers"][0];
    assert_eq!(paid["id"], "paid");
    assert_eq!(paid["cooling_down_until_ms"], json!(null));
    assert_eq!(
        paid["budget"],
        json!({ "limit": 1.0, "spent": 0.25, "window_ms": 3_600_000.0, "window_end_ms": 3_600_000.0 })
    );
    let latency = &paid["operations"][0]["latency"];
    for field in ["ewma_ms", "p50_ms", "p95_ms", "p99_ms"] {
        assert!(latency[field].is_f64(), "{field}: {latency}");
    }
    assert_eq!(latency["p95_ms"], json!(1.5));
    let cooling = &json["providers"][1];
    assert_eq!(cooling["cooling_down_until_ms"], json!(32_001.5));
    assert_eq!(cooling["operations"][0]["latency"]["p50_ms"], json!(null));
    // No duration anywhere in its serde default form.
    let text = json.to_string();
    for old in [
        "\"secs\"",
        "\"nanos\"",
        "\"at\"",
        "\"window\"",
        "\"p95\"",
        "\"cooling_down_until\"",
    ] {
        assert!(!text.contains(old), "{old} in {text}");
    }
}

#[tokio::test]
async fn the_decision_record_explains_every_exclusion() {
    let clock = ManualClock::new();
    let ok = chat("ok", &clock);
    let denied = chat("denied", &clock);
    let zero = chat("zero", &clock);
    let untagged = chat("untagged", &clock);
    let pricey = chat("pricey", &clock);
    let broke = chat("broke", &clock);
    let ejected = chat("ejected", &clock);
    let cooling = chat("cooling", &clock).then_rate_limit(Duration::from_secs(30));
    let busy = chat("busy", &clock).then_hang();
    let limited = chat("limited", &clock);
    let eu = |p: &aura_router::testing::ScriptedProvider| p.provider("chat", "complete").tag("region", "eu");
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .health(HealthPolicy::default().consecutive_failures(1))
        .provider(eu(&ok).priority(9).build().unwrap())
        .provider(eu(&denied).build().unwrap())
        .provider(eu(&zero).weight(0).build().unwrap())
        .provider(untagged.provider("chat", "complete").build().unwrap())
        .provider(eu(&pricey).cost(CostModel::per_call(5.0)).build().unwrap())
        .provider(
            eu(&broke)
                .cost(CostModel::per_call(0.5))
                .budget(Budget::new(0.5, HOUR))
                .build()
                .unwrap(),
        )
        .provider(eu(&ejected).build().unwrap())
        .provider(eu(&cooling).build().unwrap())
        .provider(eu(&busy).max_in_flight(1).build().unwrap())
        .provider(eu(&limited).rate_limit(RateLimit::per_minute(1)).build().unwrap())
        .build()
        .unwrap();
    // Set the scene: spend broke's budget, eject `ejected`, rate-limit `cooling`, fill
    // `busy`, use up `limited`'s rate.
    router.execute(request().allow(["broke"])).await.unwrap();
    ejected.fail_from_now(ErrorKind::Unavailable);
    let _ = router.execute(request().allow(["ejected"]).max_attempts(1)).await;
    let _ = router.execute(request().allow(["cooling"]).max_attempts(1)).await;
    let mut hung = Box::pin(router.execute(request().allow(["busy"])));
    assert!(futures::poll!(&mut hung).is_pending());
    router.execute(request().allow(["limited"])).await.unwrap();

    let routed = router
        .execute(request().deny(["denied"]).require_tag("region", "eu").max_price(1.0))
        .await
        .unwrap();
    assert_eq!(routed.provider, "ok");
    let decision = &routed.decision;
    let why = |id: &str| decision.candidate(id).unwrap().exclusion.cloned();
    assert_eq!(why("ok"), None);
    assert_eq!(why("denied"), Some(Exclusion::Denied));
    assert_eq!(why("zero"), Some(Exclusion::ZeroWeight));
    assert_eq!(
        why("untagged"),
        Some(Exclusion::MissingTag {
            key: "region".into(),
            value: "eu".into()
        })
    );
    assert_eq!(
        why("pricey"),
        Some(Exclusion::OverMaxPrice {
            expected: 5.0,
            max: 1.0
        })
    );
    assert_eq!(why("broke"), Some(Exclusion::ProviderBudgetSpent { until: HOUR }));
    assert!(matches!(why("ejected"), Some(Exclusion::Ejected { .. })));
    assert_eq!(
        why("cooling"),
        Some(Exclusion::CoolingDown {
            until: Duration::from_secs(30)
        })
    );
    assert_eq!(why("busy"), Some(Exclusion::AtMaxInFlight { limit: 1 }));
    assert_eq!(
        why("limited"),
        Some(Exclusion::RateLimited {
            next: Duration::from_secs(60)
        })
    );
    assert_eq!(decision.excluded().count(), 9);
    assert_eq!(decision.candidates().len(), 10);
    assert_eq!(decision.picked().unwrap(), "ok");
    assert!(decision.candidate("ok").unwrap().score.is_some());

    // Human and machine readable.
    let text = decision.to_string();
    assert!(
        text.contains("busy: excluded, at its maximum of 1 calls in flight"),
        "{text}"
    );
    assert!(text.contains("picked ok"), "{text}");
    let json = serde_json::to_value(decision).unwrap();
    assert_eq!(json["picked"], "ok");
    assert_eq!(json["candidates"][1]["exclusion"]["reason"], "denied");
    assert_eq!(json["attempts"][0]["outcome"], "success");
    drop(hung);
}

#[tokio::test]
async fn every_decision_reaches_the_hook() {
    let clock = ManualClock::new();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let a = chat("a", &clock).then_fail(ErrorKind::InvalidInput);
    let router = Router::builder()
        .clock(clock.clone())
        .on_decision(move |d| log.lock().unwrap().push(format!("{}", d.attempts().len())))
        .provider(a.provider("chat", "complete").build().unwrap())
        .build()
        .unwrap();
    let _ = router.execute(request()).await;
    router.execute(request()).await.unwrap();
    let _ = router.execute(aura_router::Request::new("none", "x", json!({}))).await;
    assert_eq!(*seen.lock().unwrap(), ["1", "1", "0"]);
}

#[tokio::test]
async fn concurrent_calls_reserve_their_cost_so_a_budget_holds() {
    use aura_router::{Operation, Provider};
    use tokio::sync::Semaphore;

    // Every call waits at a gate until all 100 have been dispatched: with a budget that is only
    // checked, all 100 pass the check (10.0 spent against 1.0); reserved, 10 go.
    let gate = Arc::new(Semaphore::new(0));
    let handler_gate = gate.clone();
    let router = Router::builder()
        .clock(ManualClock::new())
        .provider(
            Provider::builder("paid")
                .cost(CostModel::per_call(0.1))
                .budget(Budget::new(1.0, HOUR))
                .operation(Operation::new(
                    "chat",
                    "complete",
                    move |_cx, _input: serde_json::Value| {
                        let gate = handler_gate.clone();
                        async move {
                            let _pass = gate.acquire().await.map_err(|_| aura_core::Error::internal("gate"))?;
                            Ok(json!({ "provider": "paid" }))
                        }
                    },
                ))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let calls = futures::future::join_all((0..100).map(|_| router.execute(request())));
    let open = async {
        tokio::task::yield_now().await;
        gate.add_permits(1000);
    };
    let (results, ()) = tokio::join!(calls, open);
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let spent = router.snapshot().provider("paid").unwrap().budget.unwrap().spent;
    assert_eq!(ok, 10, "{spent}");
    assert!(spent <= 1.0 + 0.1 + 1e-9, "spent {spent} against a budget of 1.0");
    let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(refused.kind(), ErrorKind::RateLimited);
}

#[tokio::test]
async fn a_provider_rate_limit_is_aura_cores_one_limit_on_the_routers_clock() {
    // The router's RateLimit is aura-core's (the app manifests' too): one type, one limiter.
    let limit: aura_core::rate_limit::RateLimit = RateLimit::per_second(2);
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let router = Router::builder()
        .clock(clock.clone())
        .provider(a.provider("chat", "complete").rate_limit(limit).build().unwrap())
        .build()
        .unwrap();
    router.execute(request()).await.unwrap();
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(
        err.decision().candidate("a").unwrap().exclusion,
        Some(&Exclusion::RateLimited {
            next: Duration::from_millis(500)
        })
    );
    clock.advance(Duration::from_millis(500));
    router.execute(request()).await.unwrap();
}
