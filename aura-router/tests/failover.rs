//! Failover: the order follows the strategy, non-retryable errors stop at once, rate limits
//! cool a provider down, the retry budget caps retries in an outage, deadlines hold, and
//! operations that are not idempotent are never run twice without an idempotency key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aura_core::ErrorKind;
use aura_router::select::Priority;
use aura_router::testing::{Fault, ScriptedProvider};
use aura_router::{
    AttemptKind, AttemptOutcome, Exclusion, FailoverAction, FailoverPolicy, HealthPolicy, HealthStatus, ManualClock,
    Note, Provider, RetryBudget, Router,
};
use common::{chat, request, who};

/// A router over `providers` tried in the given order (tiers 0, 1, 2 …).
fn in_order(clock: &ManualClock, providers: &[&ScriptedProvider], policy: FailoverPolicy) -> Router {
    let mut builder = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .failover(policy)
        .health(HealthPolicy::never_eject());
    for (tier, p) in providers.iter().enumerate() {
        builder = builder.provider(p.provider("chat", "complete").priority(tier as u32).build().unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn fails_over_in_the_strategys_order_without_waiting() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock).then_fail(Fault::Status(503));
    let c = chat("c", &clock);
    let router = in_order(&clock, &[&a, &b, &c], FailoverPolicy::default());

    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "c");
    let attempts = routed.decision.attempts();
    let order: Vec<&str> = attempts.iter().map(|a| a.provider.as_str()).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(
        attempts.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AttemptKind::First, AttemptKind::Failover, AttemptKind::Failover]
    );
    assert!(matches!(
        attempts[0].outcome,
        AttemptOutcome::Failed {
            kind: ErrorKind::Unavailable,
            then: FailoverAction::Failover,
            ..
        }
    ));
    assert_eq!(attempts[2].outcome, AttemptOutcome::Success);
    // No time passed: failover to another provider never sleeps.
    assert_eq!(aura_router::Clock::now(&clock), Duration::ZERO);
}

#[tokio::test]
async fn non_retryable_errors_do_not_fail_over() {
    let clock = ManualClock::new();
    let a = chat("a", &clock)
        .then_fail(ErrorKind::InvalidInput)
        .then_fail(Fault::Status(400))
        .then_fail(ErrorKind::Unauthorized);
    let b = chat("b", &clock);
    let router = in_order(&clock, &[&a, &b], FailoverPolicy::default());

    for expected in [ErrorKind::InvalidInput, ErrorKind::Upstream, ErrorKind::Unauthorized] {
        let err = router.execute(request()).await.unwrap_err();
        assert_eq!(err.kind(), expected);
        assert_eq!(err.decision().attempts().len(), 1);
        assert_eq!(err.error().context_value("provider"), Some("a"));
    }
    assert_eq!(b.call_count(), 0);

    // A policy can say otherwise for a kind: one key per provider, so try the next.
    let a = chat("a", &clock).then_fail(ErrorKind::Unauthorized);
    let b = chat("b", &clock);
    let policy = FailoverPolicy::default().on(ErrorKind::Unauthorized, FailoverAction::Failover);
    let router = in_order(&clock, &[&a, &b], policy);
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "b");
}

#[tokio::test]
async fn a_rate_limited_provider_cools_down_for_its_retry_after() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_rate_limit(Duration::from_secs(2));
    let b = chat("b", &clock);
    let router = in_order(&clock, &[&a, &b], FailoverPolicy::default());

    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "b");
    assert!(matches!(
        routed.decision.attempts()[0].outcome,
        AttemptOutcome::Failed {
            kind: ErrorKind::RateLimited,
            ..
        }
    ));

    // Until the retry-after has passed, a is skipped.
    clock.advance(Duration::from_millis(1_999));
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(routed.decision.attempts().len(), 1);
    assert_eq!(
        routed.decision.candidate("a").unwrap().exclusion,
        Some(&Exclusion::CoolingDown {
            until: Duration::from_secs(2)
        })
    );
    // A rate limit is not a health problem.
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Healthy));

    clock.advance(Duration::from_millis(1));
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "a");

    // Everyone cooling down: a rate-limit error that says how long to wait.
    let a = chat("a", &clock).then_rate_limit(Duration::from_secs(7));
    let router = in_order(&clock, &[&a], FailoverPolicy::default());
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.error().retry_after(), Some(Duration::from_secs(7)));
    assert!(err.decision().attempts().is_empty());
}

#[tokio::test]
async fn the_retry_budget_caps_retries_in_an_outage() {
    let clock = ManualClock::new();
    let providers: Vec<ScriptedProvider> = ["a", "b", "c"].iter().map(|id| chat(id, &clock)).collect();
    for p in &providers {
        p.fail_from_now(ErrorKind::Unavailable);
    }
    let budget = RetryBudget {
        ratio: 0.2,
        min_retries: 5,
        window: Duration::from_secs(10),
    };
    let refs: Vec<&ScriptedProvider> = providers.iter().collect();
    let router = in_order(
        &clock,
        &refs,
        FailoverPolicy::default().max_attempts(3).retry_budget(budget),
    );

    let mut refused = 0;
    for _ in 0..100 {
        let err = router.execute(request()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        if err.decision().notes().contains(&Note::RetryBudgetExhausted) {
            refused += 1;
        }
    }
    let calls: u64 = providers.iter().map(ScriptedProvider::call_count).sum();
    let retries = calls - 100;
    // Without a budget: 200 retries. With it: at most 5 + 20 % of 100.
    assert!(retries <= 25, "{retries} retries");
    assert!(retries >= 20, "{retries} retries");
    assert!(refused >= 70, "{refused} refusals");
    let snapshot = router.snapshot();
    assert_eq!(snapshot.capability("chat").unwrap().retries, retries);
}

#[tokio::test]
async fn attempts_are_capped_and_a_lone_provider_is_retried_after_a_back_off() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_fail_times(2, ErrorKind::Unavailable);
    let router = in_order(&clock, &[&a], FailoverPolicy::default().max_attempts(3));
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(routed.decision.attempts().len(), 3);
    assert!(
        routed
            .decision
            .notes()
            .iter()
            .any(|n| matches!(n, Note::Backoff { .. }))
    );

    let a = chat("a", &clock);
    a.fail_from_now(ErrorKind::Timeout);
    let router = in_order(&clock, &[&a], FailoverPolicy::default().max_attempts(2));
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(err.decision().attempts().len(), 2);
    assert!(
        err.decision()
            .notes()
            .contains(&Note::MaxAttemptsReached { attempts: 2 })
    );
    // A request can ask for fewer.
    let err = router.execute(request().max_attempts(1)).await.unwrap_err();
    assert_eq!(err.decision().attempts().len(), 1);
}

#[tokio::test]
async fn the_deadline_stops_a_hung_call() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_hang();
    let b = chat("b", &clock);
    let router = in_order(
        &clock,
        &[&a, &b],
        FailoverPolicy::default().deadline(Duration::from_secs(5)),
    );
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.decision().notes().contains(&Note::DeadlinePassed {
        deadline: Duration::from_secs(5)
    }));
    assert_eq!(err.decision().attempts()[0].outcome, AttemptOutcome::Cancelled);
    assert_eq!(a.cancelled_count(), 1);
    assert_eq!(b.call_count(), 0);

    // A per-attempt timeout turns a hang into a timeout, and idempotent calls fail over.
    let a = chat("a", &clock).then_hang();
    let router = in_order(
        &clock,
        &[&a, &b],
        FailoverPolicy::default().attempt_timeout(Duration::from_secs(1)),
    );
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "b");
    assert!(matches!(
        routed.decision.attempts()[0].outcome,
        AttemptOutcome::Failed {
            kind: ErrorKind::Timeout,
            ..
        }
    ));
}

/// Two providers serving a non-idempotent operation (`payments.charge`).
fn charges(clock: &ManualClock, a: &ScriptedProvider, b: &ScriptedProvider) -> Router {
    charges_honouring_keys(clock, a, b, false)
}

/// Like [`charges`], with operations that deduplicate by idempotency key when `honour`.
fn charges_honouring_keys(clock: &ManualClock, a: &ScriptedProvider, b: &ScriptedProvider, honour: bool) -> Router {
    let provider = |p: &ScriptedProvider, tier| {
        Provider::builder(p.id())
            .priority(tier)
            .operation(
                p.operation("chat", "complete")
                    .idempotent(false)
                    .honours_idempotency_key(honour),
            )
            .build()
            .unwrap()
    };
    Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .provider(provider(a, 0))
        .provider(provider(b, 1))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_non_idempotent_call_that_may_have_been_accepted_is_not_retried_without_a_key() {
    let clock = ManualClock::new();
    for fault in [Fault::Status(503), Fault::Error(ErrorKind::Timeout)] {
        let a = chat("a", &clock).then_fail(fault.clone());
        let b = chat("b", &clock);
        let router = charges(&clock, &a, &b);
        let err = router.execute(request()).await.unwrap_err();
        assert_eq!(err.decision().attempts().len(), 1, "{fault:?}");
        assert!(
            err.decision()
                .notes()
                .iter()
                .any(|n| matches!(n, Note::NotRetriedMayHaveBeenAccepted { provider } if provider == "a"))
        );
        assert_eq!(b.call_count(), 0);
    }

    // With an idempotency key the operation honours, it is retried, and the key reaches the
    // next provider.
    let a = chat("a", &clock).then_fail(Fault::Status(503));
    let b = chat("b", &clock);
    let router = charges_honouring_keys(&clock, &a, &b, true);
    let routed = router.execute(request().idempotency_key("charge-42")).await.unwrap();
    assert_eq!(who(&routed.value), "b");
    assert_eq!(b.calls()[0].idempotency_key.as_deref(), Some("charge-42"));
    assert_eq!(b.calls()[0].attempt, 2);

    // An error that means the call was never accepted is retried, key or not.
    let a = chat("a", &clock).then_fail(Fault::Unreachable);
    let b = chat("b", &clock);
    let router = charges(&clock, &a, &b);
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "b");
    // A bare `Unavailable` proves nothing about delivery: not retried without a key.
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock);
    let router = charges(&clock, &a, &b);
    assert_eq!(
        router.execute(request()).await.unwrap_err().decision().attempts().len(),
        1
    );
    let a = chat("a", &clock).then_rate_limit(Duration::from_secs(1));
    let b = chat("b", &clock);
    let router = charges(&clock, &a, &b);
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "b");
}

#[tokio::test]
async fn a_5xx_answer_to_a_non_idempotent_write_is_sent_once_whatever_key_it_carries() {
    let clock = ManualClock::new();
    for status in [503, 500, 502] {
        // A key the operation does not honour (the engine gives every node call one) proves
        // nothing: the write may have been done, so it is not sent to the next provider.
        let a = chat("a", &clock).then_fail(Fault::Status(status));
        let b = chat("b", &clock);
        let router = charges(&clock, &a, &b);
        let err = router
            .execute(request().idempotency_key("exec-1/charge"))
            .await
            .unwrap_err();
        assert_eq!(a.call_count() + b.call_count(), 1, "{status}");
        assert_eq!(err.error().status(), Some(status));
        assert!(
            err.decision()
                .notes()
                .iter()
                .any(|n| matches!(n, Note::NotRetriedMayHaveBeenAccepted { provider } if provider == "a"))
        );
    }
    // A request that provably never left fails over.
    let a = chat("a", &clock).then_fail(Fault::Unreachable);
    let b = chat("b", &clock);
    let router = charges(&clock, &a, &b);
    let routed = router
        .execute(request().idempotency_key("exec-1/charge"))
        .await
        .unwrap();
    assert_eq!(who(&routed.value), "b");
    assert_eq!((a.call_count(), b.call_count()), (1, 1));
}

#[tokio::test]
async fn an_error_after_failover_is_persistent_so_no_layer_retries_the_routed_call() {
    let clock = ManualClock::new();
    let a = chat("a", &clock).then_fail(Fault::Status(503));
    let b = chat("b", &clock).then_fail(ErrorKind::Timeout);
    let router = in_order(&clock, &[&a, &b], FailoverPolicy::default().max_attempts(2));
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.decision().attempts().len(), 2);
    // The last error, kind kept, but its retries are spent.
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.error().is_persistent());
    assert!(!err.error().is_retryable());

    // A rate limit after failover keeps its retry_after, and is not retryable either.
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let b = chat("b", &clock).then_rate_limit(Duration::from_secs(4));
    let router = in_order(&clock, &[&a, &b], FailoverPolicy::default().max_attempts(2));
    let err = router.execute(request()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.error().retry_after(), Some(Duration::from_secs(4)));
    assert!(!err.error().is_retryable());

    // One attempt, no failover: the error is the provider's, still retryable by the caller.
    let a = chat("a", &clock).then_fail(ErrorKind::Unavailable);
    let router = in_order(&clock, &[&a], FailoverPolicy::default().max_attempts(1));
    let err = router.execute(request()).await.unwrap_err();
    assert!(err.error().is_retryable());
}
