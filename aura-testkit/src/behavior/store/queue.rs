//! The queue checks of the store behaviour suite: executions leased from their creation, free
//! work claimed once, one heartbeat renewing an owner's leases, and parks (an execution given
//! to nobody until it wakes).

use super::*;

/// An execution created leased is nobody else's: `claim_next` and other owners' claims skip it
/// until it ends; `renew_owned` renews it; `finish_leased` ends it and its lease.
pub async fn create_leased_holds_the_execution_until_finish_leased(f: &StoreFixture) {
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let mut r = record("s");
    let lease = s.create_leased(&r, "a", minute).await.expect("create_leased");
    assert_eq!((lease.execution_id, lease.owner.as_str()), (r.id, "a"));
    assert!(lease.is_live(Utc::now()));
    assert_eq!(s.claim(r.id, "b", minute).await.expect("claim"), None, "b is refused");
    assert!(
        s.claim_next("b", minute, 10, &ConcurrencyLimits::new())
            .await
            .expect("claim_next")
            .is_empty(),
        "a leased execution is not free work"
    );
    assert_eq!(
        s.renew_owned("a", minute).await.expect("renew_owned"),
        1,
        "a's one lease"
    );
    assert_eq!(
        s.renew_owned("b", minute).await.expect("renew_owned"),
        0,
        "b holds none"
    );
    s.save_node_leased(&lease, &node("n", None, json!(1)))
        .await
        .expect("a writes under its lease");
    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(Utc::now());
    s.finish_leased(&lease, &r).await.expect("finish_leased");
    assert_eq!(get(f, r.id).await.status, ExecutionStatus::Completed);
    assert_eq!(
        s.renew_owned("a", minute).await.expect("renew_owned"),
        0,
        "the lease ended with it"
    );
}

/// `claim_next` takes free work (unleased, or whose lease ran out) oldest first, up to its
/// limit, and never the same execution twice.
pub async fn claim_next_takes_free_work_oldest_first_once(f: &StoreFixture) {
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let first = created(f, "s").await;
    let second = created(f, "s").await;
    let third = created(f, "s").await;
    let done = finished(f, "s").await;
    let taken = s
        .claim_next("a", minute, 2, &ConcurrencyLimits::new())
        .await
        .expect("claim_next");
    let ids: Vec<Uuid> = taken.iter().map(|l| l.execution_id).collect();
    assert_eq!(ids, [first.id, second.id], "the oldest two");
    assert!(taken.iter().all(|l| l.owner == "a" && l.is_live(Utc::now())));
    let rest = s
        .claim_next("b", minute, 10, &ConcurrencyLimits::new())
        .await
        .expect("claim_next");
    let ids: Vec<Uuid> = rest.iter().map(|l| l.execution_id).collect();
    assert_eq!(ids, [third.id], "what is left, and never a finished one ({})", done.id);
    assert!(
        s.claim_next("c", minute, 10, &ConcurrencyLimits::new())
            .await
            .expect("claim_next")
            .is_empty()
    );
}

/// A node result waiting ([`NodeStatus::Waiting`]) reads back as saved, with the end of its
/// wait as its `ended_at`.
pub async fn a_waiting_node_round_trips(f: &StoreFixture) {
    let r = created(f, "s").await;
    let mut waiting = node("wait", None, json!({ "kept": true }));
    waiting.status = NodeStatus::Waiting;
    waiting.ended_at = Some(Utc::now() + chrono::Duration::hours(3));
    f.store.save_node(r.id, &waiting).await.expect("save_node");
    assert_eq!(get(f, r.id).await.nodes, [waiting]);
}

/// A store that parks ([`StoreFixture::parks`]): a parked execution is nobody's until it wakes
/// (no claim, no `claim_next`, no heartbeat of its former owner), `wake` takes it early, and
/// once it wakes any claim does. A store that does not park answers `false` and leaves the
/// lease as it was.
pub async fn a_parked_execution_is_nobodys_until_it_wakes(f: &StoreFixture) {
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let soon = s.create_leased(&record("s"), "a", minute).await.expect("create_leased");
    let later = s.create_leased(&record("s"), "a", minute).await.expect("create_leased");
    let parked = s.park_leased(&soon, Duration::from_millis(300)).await.expect("park");
    if !f.parks {
        assert!(!parked, "the fixture says this store does not park");
        assert_eq!(
            s.renew_owned("a", minute).await.expect("renew_owned"),
            2,
            "leases unchanged"
        );
        return;
    }
    assert!(parked, "the fixture says this store parks");
    assert!(s.park_leased(&later, Duration::from_secs(3600)).await.expect("park"));
    assert!(
        !s.park_leased(&later, Duration::from_secs(1)).await.expect("park"),
        "a lease parked already is not a's to park again"
    );
    assert_eq!(
        s.renew_owned("a", minute).await.expect("renew_owned"),
        0,
        "a holds none"
    );
    assert_eq!(s.claim(soon.execution_id, "b", minute).await.expect("claim"), None);
    assert_eq!(
        s.claim(later.execution_id, "a", minute).await.expect("claim"),
        None,
        "not even a"
    );
    assert!(
        s.claim_next("b", minute, 10, &ConcurrencyLimits::new())
            .await
            .expect("claim_next")
            .is_empty()
    );

    let woken = s.wake(later.execution_id, "c", minute).await.expect("wake");
    assert_eq!(woken.map(|l| l.owner), Some("c".to_owned()), "wake takes it early");
    assert_eq!(
        s.wake(later.execution_id, "d", minute).await.expect("wake"),
        None,
        "a woken execution is c's, not parked"
    );

    tokio::time::sleep(Duration::from_millis(400)).await;
    let due = s
        .claim_next("b", minute, 10, &ConcurrencyLimits::new())
        .await
        .expect("claim_next");
    let ids: Vec<Uuid> = due.iter().map(|l| l.execution_id).collect();
    assert_eq!(ids, [soon.execution_id], "once it wakes, it is free work");
}

/// `claim_next` takes executions of a limited scenario only while fewer than its max hold a
/// live lease (whoever holds it; a parked one does not count), oldest first, and never limits
/// the others.
pub async fn claim_next_honours_concurrency_limits(f: &StoreFixture) {
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let limits = ConcurrencyLimits::new().with("limited", 2);
    let running = s
        .create_leased(&record("limited"), "elsewhere", minute)
        .await
        .expect("create_leased");
    let queued: Vec<Uuid> = {
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(created(f, "limited").await.id);
        }
        ids
    };
    let free: Vec<Uuid> = vec![created(f, "free").await.id, created(f, "free").await.id];

    let taken = s.claim_next("a", minute, 10, &limits).await.expect("claim_next");
    let mut ids: Vec<Uuid> = taken.iter().map(|l| l.execution_id).collect();
    ids.sort();
    let mut expected = vec![queued[0], free[0], free[1]];
    expected.sort();
    assert_eq!(
        ids, expected,
        "one more of the limited scenario (one runs), every other"
    );
    assert!(
        s.claim_next("b", minute, 10, &limits)
            .await
            .expect("claim_next")
            .is_empty(),
        "the limited scenario runs its max"
    );
    assert_eq!(
        s.claim_next("b", minute, 10, &ConcurrencyLimits::new())
            .await
            .expect("claim_next")
            .len(),
        2,
        "without limits, the rest is free work"
    );

    // The one running elsewhere ends, and the ones just taken without limits are given back.
    let mut ended = record("limited");
    ended.id = running.execution_id;
    ended.status = ExecutionStatus::Completed;
    ended.ended_at = Some(Utc::now());
    s.finish_leased(&running, &ended).await.expect("finish_leased");
    for id in &queued[1..] {
        let lease = s.claim(*id, "b", minute).await.expect("claim").expect("b holds it");
        s.release(&lease).await.expect("release");
    }
    let taken = s.claim_next("c", minute, 10, &limits).await.expect("claim_next");
    let ids: Vec<Uuid> = taken.iter().map(|l| l.execution_id).collect();
    assert_eq!(ids, [queued[1]], "room for one: the oldest waiting");

    if f.parks {
        // A parked execution holds no room: parking one of the two running makes room.
        let lease = taken.into_iter().next().expect("one taken");
        assert!(s.park_leased(&lease, Duration::from_secs(3600)).await.expect("park"));
        let taken = s.claim_next("d", minute, 10, &limits).await.expect("claim_next");
        let ids: Vec<Uuid> = taken.iter().map(|l| l.execution_id).collect();
        assert_eq!(ids, [queued[2]], "the parked one left its room");
    }
}
