//! Selection: weighted random follows the weights, weight 0 gets nothing, the score follows
//! its coefficients, the other strategies pick what they say, hard constraints filter first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use aura_router::select::{Candidate, LowestCost, LowestLatency, PowerOfTwo, Priority, ScoreWeights, Scored, Strategy};
use aura_router::testing::Latency;
use aura_router::{CostModel, Exclusion, ManualClock, Operation, Provider, Request, Router};
use common::{chat, request, who};
use serde_json::{Value, json};

fn noop(id: &str, weight: u32) -> Provider {
    Provider::builder(id)
        .weight(weight)
        .operation(Operation::new("chat", "complete", |_cx, _input: Value| async {
            Ok(Value::Null)
        }))
        .build()
        .unwrap()
}

#[test]
fn weighted_random_follows_the_weights_chi_square() {
    let weights = [("a", 5u32), ("b", 3), ("c", 1), ("d", 1)];
    let mut builder = Router::builder().seed(42).clock(ManualClock::new());
    for (id, w) in weights {
        builder = builder.provider(noop(id, w));
    }
    let router = builder.build().unwrap();
    let request = request();

    const PICKS: usize = 100_000;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..PICKS {
        let decision = router.select(&request);
        *counts.entry(decision.picked().unwrap().to_string()).or_default() += 1;
    }
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let chi_square: f64 = weights
        .iter()
        .map(|(id, w)| {
            let expected = PICKS as f64 * f64::from(*w) / f64::from(total);
            let observed = counts.get(*id).copied().unwrap_or(0) as f64;
            (observed - expected).powi(2) / expected
        })
        .sum();
    // 3 degrees of freedom: the 99.9th percentile of chi-square is 16.27.
    assert!(chi_square < 16.27, "chi-square {chi_square} for {counts:?}");
}

#[tokio::test]
async fn weight_zero_gets_no_traffic_until_reweighted() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let router = Router::builder()
        .seed(1)
        .clock(clock.clone())
        .provider(a.provider("chat", "complete").weight(1).build().unwrap())
        .provider(b.provider("chat", "complete").weight(0).build().unwrap())
        .build()
        .unwrap();
    for _ in 0..200 {
        let routed = router.execute(request()).await.unwrap();
        assert_eq!(routed.provider, "a");
        assert_eq!(
            routed.decision.candidate("b").unwrap().exclusion,
            Some(&Exclusion::ZeroWeight)
        );
    }
    assert_eq!(b.call_count(), 0);

    // Re-weighted at run time, without rebuilding anything.
    router.set_weight("b", 1).unwrap();
    router.set_weight("a", 0).unwrap();
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(routed.provider, "b");
}

/// Two providers with a second of latency between them and a hundredfold price difference.
async fn fast_dear_and_slow_cheap(clock: &ManualClock) -> Router {
    let fast = chat("fast", clock).latency(Latency::ms(50));
    let slow = chat("slow", clock).latency(Latency::ms(1_000));
    let router = Router::builder()
        .seed(3)
        .clock(clock.clone())
        .provider(
            fast.provider("chat", "complete")
                .cost(CostModel::per_call(0.01))
                .build()
                .unwrap(),
        )
        .provider(
            slow.provider("chat", "complete")
                .cost(CostModel::per_call(0.0001))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // One call each, so that both have a latency.
    router.execute(request().allow(["fast"])).await.unwrap();
    router.execute(request().allow(["slow"])).await.unwrap();
    router
}

#[tokio::test]
async fn the_score_prefers_the_faster_or_the_cheaper_as_the_coefficients_say() {
    let clock = ManualClock::new();
    let router = fast_dear_and_slow_cheap(&clock).await;

    let latency_first = Scored::new(ScoreWeights {
        latency: 10.0,
        cost: 0.0,
        ..ScoreWeights::zero()
    });
    let decision = router.select(&request().strategy(latency_first));
    assert_eq!(decision.picked().unwrap(), "fast", "{decision}");
    let (fast, slow) = (decision.candidate("fast").unwrap(), decision.candidate("slow").unwrap());
    assert!(fast.score.unwrap() > slow.score.unwrap());

    let cost_first = Scored::new(ScoreWeights {
        latency: 0.0,
        cost: 1_000.0,
        ..ScoreWeights::zero()
    });
    let decision = router.select(&request().strategy(cost_first));
    assert_eq!(decision.picked().unwrap(), "slow", "{decision}");

    // Both at once: at 100 per unit of cost the extra cent is worth 1 point, less than the
    // 9.5 points of extra latency; at 10,000 it is worth 100, and the cheap one wins.
    let both = |cost| ScoreWeights {
        latency: 10.0,
        cost,
        ..ScoreWeights::zero()
    };
    assert_eq!(
        router
            .select(&request().strategy(Scored::new(both(100.0))))
            .picked()
            .unwrap(),
        "fast"
    );
    assert_eq!(
        router
            .select(&request().strategy(Scored::new(both(10_000.0))))
            .picked()
            .unwrap(),
        "slow"
    );
}

#[tokio::test]
async fn lowest_latency_and_lowest_cost_pick_what_they_say() {
    let clock = ManualClock::new();
    let router = fast_dear_and_slow_cheap(&clock).await;
    assert_eq!(
        router
            .select(&request().strategy(LowestLatency::new()))
            .picked()
            .unwrap(),
        "fast"
    );
    assert_eq!(router.select(&request().strategy(LowestCost)).picked().unwrap(), "slow");
    // Power of two choices over two candidates compares both: the lower load wins.
    assert_eq!(router.select(&request().strategy(PowerOfTwo)).picked().unwrap(), "fast");
}

#[tokio::test]
async fn expected_cost_uses_the_request_units_or_the_observed_average() {
    let clock = ManualClock::new();
    let flat = chat("flat", &clock);
    let metered = chat("metered", &clock);
    let router = Router::builder()
        .clock(clock.clone())
        .provider(
            flat.provider("chat", "complete")
                .cost(CostModel::per_call(0.05))
                .build()
                .unwrap(),
        )
        .provider(
            metered
                .provider("chat", "complete")
                .cost(CostModel::per_call(0.0).per_unit("/usage/total_tokens", 0.001))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    // 10 tokens expected: metered costs 0.01, flat 0.05.
    let small = request().expected_units(10.0).strategy(LowestCost);
    assert_eq!(router.select(&small).picked().unwrap(), "metered");
    // 1000 tokens expected: metered costs 1.0.
    let large = request().expected_units(1000.0).strategy(LowestCost);
    assert_eq!(router.select(&large).picked().unwrap(), "flat");
    // Without a hint, the running average of what it cost (100 tokens a call: 0.1).
    router.execute(request().allow(["metered"])).await.unwrap();
    assert_eq!(router.select(&request().strategy(LowestCost)).picked().unwrap(), "flat");
}

#[tokio::test]
async fn priority_goes_tier_by_tier() {
    let clock = ManualClock::new();
    let mut builder = Router::builder().seed(5).clock(clock.clone()).strategy(Priority::new());
    for (id, tier) in [("backup", 1), ("primary-a", 0), ("primary-b", 0), ("last", 2)] {
        builder = builder.provider(
            chat(id, &clock)
                .provider("chat", "complete")
                .priority(tier)
                .build()
                .unwrap(),
        );
    }
    let router = builder.build().unwrap();
    let mut seen = HashMap::new();
    for _ in 0..200 {
        *seen
            .entry(router.select(&request()).picked().unwrap().to_string())
            .or_insert(0) += 1;
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen["primary-a"] > 50 && seen["primary-b"] > 50, "{seen:?}");
}

#[tokio::test]
async fn a_user_strategy_decides() {
    #[derive(Debug)]
    struct ByTag;
    impl Strategy for ByTag {
        fn name(&self) -> &'static str {
            "by_tag"
        }
        fn score(&self, c: &Candidate<'_>) -> f64 {
            if c.tag("tier") == Some("gold") { 1.0 } else { 0.0 }
        }
    }
    let clock = ManualClock::new();
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(ByTag)
        .provider(
            chat("bronze", &clock)
                .provider("chat", "complete")
                .tag("tier", "bronze")
                .build()
                .unwrap(),
        )
        .provider(
            chat("gold", &clock)
                .provider("chat", "complete")
                .tag("tier", "gold")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "gold");
    assert_eq!(routed.decision.strategy(), "by_tag");
    assert_eq!(routed.decision.candidate("gold").unwrap().score, Some(1.0));
}

#[tokio::test]
async fn hard_constraints_filter_before_the_strategy() {
    let clock = ManualClock::new();
    let router = Router::builder()
        .clock(clock.clone())
        .provider(
            chat("us", &clock)
                .provider("chat", "complete")
                .tag("region", "us")
                .build()
                .unwrap(),
        )
        .provider(
            chat("eu", &clock)
                .provider("chat", "complete")
                .tag("region", "eu")
                .build()
                .unwrap(),
        )
        .provider(
            chat("eu-dear", &clock)
                .provider("chat", "complete")
                .tag("region", "eu")
                .cost(CostModel::per_call(1.0))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    for _ in 0..20 {
        let routed = router
            .execute(request().require_tag("region", "eu").max_price(0.5))
            .await
            .unwrap();
        assert_eq!(routed.provider, "eu");
        let decision = &routed.decision;
        assert!(matches!(
            decision.candidate("us").unwrap().exclusion,
            Some(Exclusion::MissingTag { .. })
        ));
        assert!(matches!(
            decision.candidate("eu-dear").unwrap().exclusion,
            Some(Exclusion::OverMaxPrice { .. })
        ));
    }
    let routed = router.execute(request().allow(["us"])).await.unwrap();
    assert_eq!(routed.provider, "us");
    let routed = router.execute(request().deny(["us", "eu"])).await.unwrap();
    assert_eq!(routed.provider, "eu-dear");
    let routed = router.execute(request().prefer(["eu-dear", "us"])).await.unwrap();
    assert_eq!(routed.provider, "eu-dear");

    // No provider meets the constraints: NotFound, and nothing was called.
    let err = router.execute(request().allow(["nobody"])).await.unwrap_err();
    assert_eq!(err.kind(), aura_core::ErrorKind::NotFound);
    assert_eq!(err.decision().excluded().count(), 3);
    // No provider serves the route at all.
    let err = router
        .execute(Request::new("video", "upload", json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), aura_core::ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_come_and_go_without_pausing_traffic() {
    let router = std::sync::Arc::new(Router::builder().provider(noop("stable", 1)).build().unwrap());
    let calls = {
        let router = router.clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                router.execute(request()).await.unwrap();
            }
        })
    };
    for i in 0..200 {
        let id = format!("temp-{}", i % 5);
        if !router.remove(&id) {
            router.add(noop(&id, 1)).unwrap();
        }
        router.set_weight("stable", 1 + i % 3).unwrap();
        tokio::task::yield_now().await;
    }
    calls.await.unwrap();
    assert!(router.add(noop("stable", 1)).is_err(), "ids are unique");
    assert!(router.upsert(noop("stable", 2)));
}

#[tokio::test]
async fn operations_can_be_backed_by_an_aura_core_action() {
    use aura_core::{ActionDef, App, AppManifest, Context, Registry};

    struct Echo;
    #[async_trait::async_trait]
    impl App for Echo {
        fn manifest(&self) -> AppManifest {
            AppManifest::new("echo", "Echo", aura_core::semver::Version::new(1, 0, 0))
        }
        fn actions(&self) -> Vec<ActionDef> {
            vec![
                ActionDef::new("say", |_cx: Context, s: String| async move { Ok(format!("said {s}")) })
                    .idempotent(true),
            ]
        }
    }
    let registry = Registry::new();
    registry.register(Echo).unwrap();
    let action = registry.action("echo.say").await.unwrap();
    let router = Router::builder()
        .provider(
            Provider::builder("echo")
                .action("speech", "say", action)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let routed = router
        .execute(Request::new("speech", "say", json!("hi")))
        .await
        .unwrap();
    assert_eq!(routed.value, json!("said hi"));
    assert!(router.snapshot().providers[0].operations[0].idempotent);
    // The action's schema still guards the input; invalid input does not fail over.
    let err = router
        .execute(Request::new("speech", "say", json!(42)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), aura_core::ErrorKind::InvalidInput);
}
