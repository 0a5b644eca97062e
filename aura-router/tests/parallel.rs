//! Parallel calls: first success wins and the losers are cancelled (and paid for), broadcasts
//! collect every answer within the deadline, hedging sends a second request when the first is
//! slow, and none of it happens to a non-idempotent operation without an idempotency key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aura_core::ErrorKind;
use aura_router::select::Priority;
use aura_router::testing::{Fault, Latency, ScriptedProvider};
use aura_router::{
    AttemptKind, AttemptOutcome, CostModel, FailoverPolicy, Hedging, ManualClock, Note, Provider, Router,
};
use common::{chat, request, who};

/// `providers` in order of tier, each costing `0.01` a call.
fn build(clock: &ManualClock, providers: &[&ScriptedProvider], idempotent: bool) -> Router {
    build_honouring_keys(clock, providers, idempotent, false)
}

/// Like [`build`], with operations that deduplicate by idempotency key when `honour`.
fn build_honouring_keys(
    clock: &ManualClock,
    providers: &[&ScriptedProvider],
    idempotent: bool,
    honour: bool,
) -> Router {
    let mut builder = Router::builder().clock(clock.clone()).strategy(Priority::in_order());
    for (tier, p) in providers.iter().enumerate() {
        builder = builder.provider(
            Provider::builder(p.id())
                .priority(tier as u32)
                .cost(CostModel::per_call(0.01))
                .operation(
                    p.operation("chat", "complete")
                        .idempotent(idempotent)
                        .honours_idempotency_key(honour),
                )
                .build()
                .unwrap(),
        );
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn the_first_success_wins_and_the_losers_are_cancelled_and_paid_for() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock).latency(Latency::ms(30));
    let c = chat("c", &clock).then_hang();
    let router = build(&clock, &[&a, &b, &c], true);

    let routed = router.execute_parallel(request(), 3).await.unwrap();
    assert_eq!(who(&routed.value), "b");
    assert_eq!((a.cancelled_count(), c.cancelled_count()), (1, 1));
    let attempts = routed.decision.attempts();
    assert_eq!(attempts.len(), 3);
    assert!(attempts.iter().all(|a| a.kind == AttemptKind::Parallel));
    for attempt in attempts {
        let expected = if attempt.provider == "b" {
            AttemptOutcome::Success
        } else {
            AttemptOutcome::Cancelled
        };
        assert_eq!(attempt.outcome, expected);
        assert_eq!(attempt.cost, 0.01, "every attempt's cost counts");
    }
    assert!((routed.decision.cost() - 0.03).abs() < 1e-12);
    let snapshot = router.snapshot();
    let total: f64 = snapshot.providers.iter().map(|p| p.cost_total).sum();
    assert!((total - 0.03).abs() < 1e-12);
    assert_eq!(snapshot.provider("a").unwrap().operations[0].cancelled, 1);
    assert_eq!(snapshot.provider("a").unwrap().in_flight, 0);
}

#[tokio::test]
async fn a_failed_parallel_attempt_is_replaced_by_the_next_candidate() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock).then_hang();
    let c = chat("c", &clock);
    let router = build(&clock, &[&a, &b, &c], true);
    let routed = router.execute_parallel(request(), 2).await.unwrap();
    assert_eq!(who(&routed.value), "c");
    let kinds: Vec<AttemptKind> = routed.decision.attempts().iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [AttemptKind::Parallel, AttemptKind::Parallel, AttemptKind::Failover]
    );
    assert_eq!(b.cancelled_count(), 1);
}

#[tokio::test]
async fn a_broadcast_returns_every_answer_within_the_deadline() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).latency(Latency::ms(20));
    let b = chat("b", &clock).then_fail(ErrorKind::Unavailable);
    let c = chat("c", &clock).then_hang();
    let router = build(&clock, &[&a, &b, &c], false);

    let all = router
        .execute_all(request().deadline(Duration::from_secs(2)))
        .await
        .unwrap();
    assert_eq!(all.results.len(), 3);
    let result = |id: &str| &all.results.iter().find(|(p, _)| p == id).unwrap().1;
    assert_eq!(who(result("a").as_ref().unwrap()), "a");
    assert_eq!(result("b").as_ref().unwrap_err().kind(), ErrorKind::Unavailable);
    assert_eq!(result("c").as_ref().unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(c.cancelled_count(), 1);
    assert!(all.decision.notes().contains(&Note::DeadlinePassed {
        deadline: Duration::from_secs(2)
    }));
}

#[tokio::test]
async fn hedging_sends_a_second_request_when_the_first_is_slower_than_its_p95() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).latency(Latency::ms(100));
    let b = chat("b", &clock).latency(Latency::ms(10));
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .hedging(Hedging {
            percentile: 0.95,
            min_samples: 20,
        })
        .provider(a.provider("chat", "complete").priority(0).build().unwrap())
        .provider(b.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap();
    // Twenty calls at 100 ms teach the router a's p95; none is hedged.
    for _ in 0..20 {
        let routed = router.execute(request()).await.unwrap();
        assert_eq!(routed.decision.attempts().len(), 1);
    }
    // Then a stalls: after its p95, a hedge goes to b, which answers; a is cancelled.
    a.fail_from_now(Fault::Hang);
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "b");
    let attempts = routed.decision.attempts();
    assert_eq!(attempts[1].kind, AttemptKind::Hedge);
    assert_eq!(attempts[1].started - attempts[0].started, Duration::from_millis(100));
    assert_eq!(attempts[0].outcome, AttemptOutcome::Cancelled);
    assert!(routed.decision.notes().contains(&Note::Hedged {
        after: Duration::from_millis(100)
    }));
    assert_eq!(a.cancelled_count(), 1);

    // A request can turn hedging off: the stalled call runs into its deadline.
    let err = router
        .execute(request().hedge(false).deadline(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.decision().attempts().len(), 1);
}

#[tokio::test]
async fn non_idempotent_operations_run_in_parallel_only_with_a_key() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock);
    let router = build(&clock, &[&a, &b], false);
    // Without a key: one at a time (and a hang is not failed over: it may have been accepted).
    let err = router
        .execute_parallel(request().deadline(Duration::from_secs(1)), 2)
        .await
        .unwrap_err();
    assert_eq!(err.decision().attempts().len(), 1);
    assert!(
        err.decision()
            .notes()
            .contains(&Note::ParallelismReduced { asked: 2, allowed: 1 })
    );
    assert_eq!(b.call_count(), 0);

    // With a key the operations do not honour: still one at a time.
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock);
    let router = build(&clock, &[&a, &b], false);
    let err = router
        .execute_parallel(request().idempotency_key("job-7").deadline(Duration::from_secs(1)), 2)
        .await
        .unwrap_err();
    assert_eq!(err.decision().attempts().len(), 1);
    assert_eq!(b.call_count(), 0);

    // With a key they honour: both at once, and both see the key.
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock);
    let router = build_honouring_keys(&clock, &[&a, &b], false, true);
    let routed = router
        .execute_parallel(request().idempotency_key("job-7"), 2)
        .await
        .unwrap();
    assert_eq!(who(&routed.value), "b");
    assert_eq!(a.calls()[0].idempotency_key.as_deref(), Some("job-7"));
    assert_eq!(b.calls()[0].idempotency_key.as_deref(), Some("job-7"));

    // No hedging without a key either.
    let a = chat("a", &clock).latency(Latency::ms(5));
    let router = Router::builder()
        .clock(clock.clone())
        .hedging(Hedging {
            percentile: 0.5,
            min_samples: 1,
        })
        .failover(FailoverPolicy::default().deadline(Duration::from_secs(1)))
        .provider(
            Provider::builder("a")
                .operation(a.operation("chat", "complete"))
                .build()
                .unwrap(),
        )
        .provider(
            Provider::builder("b")
                .operation(b.operation("chat", "complete"))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    router.execute(request().allow(["a"])).await.unwrap();
    a.fail_from_now(Fault::Hang);
    let err = router.execute(request().prefer(["a"])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.decision().attempts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn parallel_calls_race_in_real_virtual_time() {
    // On the system clock under paused tokio time, concurrent latencies race exactly.
    let slow = ScriptedProvider::new("slow").latency(Latency::ms(300));
    let fast = ScriptedProvider::new("fast").latency(Latency::ms(40));
    let router = Router::builder()
        .strategy(Priority::in_order())
        .provider(slow.provider("chat", "complete").priority(0).build().unwrap())
        .provider(fast.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap();
    let routed = router.execute_parallel(request(), 2).await.unwrap();
    assert_eq!(routed.provider, "fast");
    assert_eq!(slow.cancelled_count(), 1);
    let fast_attempt = routed
        .decision
        .attempts()
        .iter()
        .find(|a| a.provider == "fast")
        .unwrap();
    assert_eq!(fast_attempt.latency, Duration::from_millis(40));
}

#[tokio::test]
async fn execute_parallel_runs_as_many_providers_as_asked_beyond_max_attempts() {
    let clock = ManualClock::new();
    let providers: Vec<ScriptedProvider> = (0..5).map(|i| chat(&format!("p{i}"), &clock).then_hang()).collect();
    let all: Vec<&ScriptedProvider> = providers.iter().collect();
    let router = build(&clock, &all, true);
    // The default policy allows 3 attempts; 5 at once were asked for: 5 run.
    let err = router
        .execute_parallel(request().deadline(Duration::from_secs(1)), 5)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let attempts = err.decision().attempts();
    assert_eq!(attempts.len(), 5);
    assert!(attempts.iter().all(|a| a.kind == AttemptKind::Parallel));
    assert!(providers.iter().all(|p| p.call_count() == 1));
}

#[tokio::test]
async fn execute_parallel_says_when_fewer_providers_are_eligible_than_asked() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock).latency(Latency::ms(30));
    let router = build(&clock, &[&a, &b], true);
    let routed = router.execute_parallel(request(), 5).await.unwrap();
    assert_eq!(routed.decision.attempts().len(), 2);
    assert!(
        routed
            .decision
            .notes()
            .contains(&Note::FewerProvidersThanAsked { asked: 5, eligible: 2 }),
        "{}",
        routed.decision
    );
}

#[tokio::test]
async fn execute_parallel_fails_over_after_its_first_wave() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock).then_fail(ErrorKind::Unavailable);
    let c = chat("c", &clock).then_fail(ErrorKind::Unavailable);
    let d = chat("d", &clock);
    let router = build(&clock, &[&a, &b, &c, &d], true);
    // 2 at once, then the policy's 2 failovers: a, b, then c, d.
    let routed = router.execute_parallel(request(), 2).await.unwrap();
    assert_eq!(who(&routed.value), "d");
    let kinds: Vec<AttemptKind> = routed.decision.attempts().iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AttemptKind::Parallel,
            AttemptKind::Parallel,
            AttemptKind::Failover,
            AttemptKind::Failover
        ]
    );
}
