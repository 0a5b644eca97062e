//! Health: ejection after failures, a single half-open probe, recovery, escalating ejections,
//! the panic rule and active health checks, all under the fake clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use aura_core::ErrorKind;
use aura_router::select::Priority;
use aura_router::testing::{Fault, ScriptedProvider};
use aura_router::{
    AttemptOutcome, Exclusion, FailoverPolicy, HealthChecks, HealthPolicy, HealthStatus, ManualClock, Note, Router,
};
use common::{chat, request, who};

const S: Duration = Duration::from_secs(1);

fn policy() -> HealthPolicy {
    HealthPolicy::default()
        .consecutive_failures(3)
        .failure_rate(None)
        .ejection(10 * S, 60 * S)
}

/// `a` first, then `b`.
fn router(clock: &ManualClock, a: &ScriptedProvider, b: &ScriptedProvider) -> Router {
    Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .health(policy())
        .failover(FailoverPolicy::default().max_attempts(2))
        .provider(a.provider("chat", "complete").priority(0).build().unwrap())
        .provider(b.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn ejection_half_open_probe_and_recovery_under_the_fake_clock() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let router = router(&clock, &a, &b);
    a.fail_from_now(ErrorKind::Unavailable);

    // Three failures in a row eject a; every call still gets its answer from b.
    for _ in 0..3 {
        assert_eq!(who(&router.execute(request()).await.unwrap().value), "b");
    }
    assert_eq!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { until: 10 * S })
    );

    // While ejected, a gets nothing, and the record says why.
    clock.advance(9 * S);
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(routed.decision.attempts().len(), 1);
    assert_eq!(
        routed.decision.candidate("a").unwrap().exclusion,
        Some(&Exclusion::Ejected { until: 10 * S })
    );
    assert_eq!(a.call_count(), 3);

    // Half-open: the next call to a is the probe. It fails: ejected again, twice as long.
    clock.advance(S);
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::HalfOpen));
    let routed = router.execute(request()).await.unwrap();
    assert!(routed.decision.attempts()[0].probe);
    assert_eq!(routed.decision.attempts()[0].provider, "a");
    assert_eq!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { until: 30 * S })
    );

    // a recovers; the next probe succeeds and a is back.
    a.recover();
    clock.set(30 * S);
    let routed = router.execute(request()).await.unwrap();
    assert_eq!(who(&routed.value), "a");
    assert!(routed.decision.attempts()[0].probe);
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Healthy));
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "a");
}

#[tokio::test]
async fn half_open_admits_a_single_probe() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let router = router(&clock, &a, &b);
    a.fail_from_now(ErrorKind::Unavailable);
    for _ in 0..3 {
        router.execute(request()).await.unwrap();
    }
    clock.advance(10 * S);
    a.fail_from_now(Fault::Hang);

    // The probe hangs; while it is in flight, other calls skip a.
    let mut probe = Box::pin(router.execute(request()));
    assert!(futures::poll!(&mut probe).is_pending());
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Probing));
    for _ in 0..3 {
        let routed = router.execute(request()).await.unwrap();
        assert_eq!(who(&routed.value), "b");
        assert_eq!(
            routed.decision.candidate("a").unwrap().exclusion,
            Some(&Exclusion::ProbeInFlight)
        );
    }
    // The caller gives up on the probing call: the probe is given back, a is half-open again.
    drop(probe);
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::HalfOpen));
}

#[tokio::test]
async fn the_failure_rate_ejects_a_flapping_provider() {
    let clock = ManualClock::new();
    // Fails every other call: never three in a row.
    let a = (1..=40)
        .step_by(2)
        .fold(chat("a", &clock), |a, n| a.fail_on_call(n, ErrorKind::Unavailable));
    let b = chat("b", &clock);
    let router = Router::builder()
        .clock(clock.clone())
        .strategy(Priority::in_order())
        .health(policy().failure_rate(Some(aura_router::FailureRate {
            threshold: 0.5,
            window: 10,
            min_calls: 10,
        })))
        .provider(a.provider("chat", "complete").priority(0).build().unwrap())
        .provider(b.provider("chat", "complete").priority(1).build().unwrap())
        .build()
        .unwrap();
    // Calls 1 … 11 to a: the eleventh is the fifth failure of the last ten.
    for _ in 0..10 {
        router.execute(request()).await.unwrap();
    }
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Healthy));
    router.execute(request()).await.unwrap();
    assert!(matches!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { .. })
    ));
}

#[tokio::test]
async fn the_panic_rule_tries_the_least_bad_when_all_are_ejected() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let router = router(&clock, &a, &b);
    a.fail_from_now(ErrorKind::Unavailable);
    b.fail_from_now(ErrorKind::Unavailable);
    // b is ejected first (its ejection ends first), then a.
    let _ = router.execute(request().allow(["b"]).max_attempts(1)).await;
    let _ = router.execute(request().allow(["b"]).max_attempts(1)).await;
    let _ = router.execute(request().allow(["b"]).max_attempts(1)).await;
    clock.advance(S);
    for _ in 0..3 {
        let _ = router.execute(request().allow(["a"]).max_attempts(1)).await;
    }
    assert!(matches!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { .. })
    ));
    assert!(matches!(
        router.health("b", "chat", "complete"),
        Some(HealthStatus::Ejected { .. })
    ));

    // Everyone ejected: rather than failing blind, the router tries b (back soonest).
    b.recover();
    let routed = router.execute(request()).await.unwrap();
    assert!(routed.decision.panic());
    assert!(routed.decision.notes().contains(&Note::Panic));
    assert_eq!(who(&routed.value), "b");
    assert!(routed.decision.attempts()[0].panic);
    assert!(routed.decision.candidate("b").unwrap().panic);
    // A success under the panic rule brings it back at once.
    assert_eq!(router.health("b", "chat", "complete"), Some(HealthStatus::Healthy));

    // Still failing under panic: the call fails with the provider's error, not "no provider".
    b.fail_from_now(ErrorKind::Unavailable);
    for _ in 0..3 {
        let _ = router.execute(request().allow(["b"]).max_attempts(1)).await;
    }
    let err = router.execute(request().max_attempts(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.decision().panic());
    assert!(matches!(
        err.decision().attempts()[0].outcome,
        AttemptOutcome::Failed { .. }
    ));
}

#[tokio::test]
async fn active_health_checks_eject_and_restore() {
    let clock = ManualClock::new();
    let a = chat("a", &clock);
    let b = chat("b", &clock);
    let router = router(&clock, &a, &b);
    let checks = HealthChecks {
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        ..HealthChecks::default()
    };

    a.fail_from_now(ErrorKind::Unavailable);
    let round = router.check_health(&checks).await;
    assert!(round.contains(&(aura_router::ProviderId::new("a"), false)));
    assert_eq!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Healthy),
        "one failure is not enough"
    );
    router.check_health(&checks).await;
    assert!(matches!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { .. })
    ));
    assert_eq!(a.call_count(), 0, "probes are not calls");

    a.recover();
    router.check_health(&checks).await;
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Healthy));
    assert_eq!(who(&router.execute(request()).await.unwrap().value), "a");

    // The snapshot shows health too.
    let snapshot = router.snapshot();
    let op = snapshot.provider("a").unwrap().operation("chat", "complete").unwrap();
    assert_eq!(op.health, HealthStatus::Healthy);
}

#[tokio::test(start_paused = true)]
async fn spawned_health_checks_run_on_the_interval() {
    let a = ScriptedProvider::new("a");
    let router = std::sync::Arc::new(
        Router::builder()
            .provider(a.provider("chat", "complete").build().unwrap())
            .build()
            .unwrap(),
    );
    a.fail_from_now(ErrorKind::Unavailable);
    let task = router.spawn_health_checks(HealthChecks {
        interval: Duration::from_secs(10),
        unhealthy_threshold: 1,
        ..HealthChecks::default()
    });
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(matches!(
        router.health("a", "chat", "complete"),
        Some(HealthStatus::Ejected { .. })
    ));
    a.recover();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(router.health("a", "chat", "complete"), Some(HealthStatus::Healthy));
    task.stop();
}
