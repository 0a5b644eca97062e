//! The [`TriggerStateStore`] behaviour suite: cursors, dedupe keys with an expiry, and the
//! atomic commit of a poll (or a webhook delivery), as every store must do them.
//!
//! The fixture's store is also an [`ExecutionStore`]: the suite checks that a commit creates
//! exactly the new items' executions, and that a commit which fails keeps nothing.
//! [`trigger_state_behavior!`](crate::trigger_state_behavior) writes one `#[tokio::test]` per
//! check.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use aura_core::ErrorKind;
use aura_core::store::{Arrival, ExecutionStore, PollCommit, TriggerKey, TriggerStateStore};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::store::record;

/// A fresh, empty store under test, seen as both its traits.
pub struct TriggerFixture {
    triggers: Arc<dyn TriggerStateStore>,
    executions: Arc<dyn ExecutionStore>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for TriggerFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerFixture").finish_non_exhaustive()
    }
}

impl TriggerFixture {
    /// A fixture over `store`, which keeps trigger state and executions.
    pub fn new<S: TriggerStateStore + ExecutionStore>(store: Arc<S>) -> Self {
        Self {
            triggers: store.clone(),
            executions: store,
            _guard: None,
        }
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::triggers`](crate::behavior::triggers),
/// each on the fixture the expression (a future of a
/// [`TriggerFixture`](crate::behavior::triggers::TriggerFixture)) makes afresh; attributes in
/// front go on every test, as for [`store_behavior!`](crate::store_behavior).
#[macro_export]
macro_rules! trigger_state_behavior {
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::triggers::TriggerFixture = $fixture.await;
            $crate::behavior::triggers::$check(&fixture).await;
        }
        $crate::trigger_state_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::trigger_state_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::trigger_state_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::trigger_state_behavior!(@run [$($attrs)*] $fixture;
            cursor_round_trips_per_trigger,
            remember_says_which_keys_are_new,
            an_expired_key_counts_as_new,
            prune_dedupe_deletes_expired_keys_in_batches,
            commit_poll_creates_the_new_items_executions_and_advances_the_cursor,
            a_repeated_key_in_one_poll_counts_once,
            a_commit_that_fails_keeps_nothing,
            a_commit_without_a_cursor_leaves_the_cursor,
            a_delivery_creates_its_execution_once,
            an_arrivals_exact_trigger_is_kept_with_its_execution,
            concurrent_commits_of_one_item_create_one_execution,
        );
    };
    ($($input:tt)*) => {
        $crate::trigger_state_behavior!(@attrs [] $($input)*);
    };
}

/// A time all checks start from (whole microseconds: exact in every store).
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid time")
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

fn poll(key: &TriggerKey, items: &[&str], cursor: Option<serde_json::Value>, now: DateTime<Utc>) -> PollCommit {
    PollCommit {
        key: key.clone(),
        cursor,
        items: items
            .iter()
            .map(|k| Arrival::new(*k, record(&key.scenario_id)))
            .collect(),
        expires_at: now + Duration::hours(1),
        now,
    }
}

/// A cursor is kept per trigger, replaced by the next one, and absent until set.
pub async fn cursor_round_trips_per_trigger(f: &TriggerFixture) {
    let (a, b) = (TriggerKey::new("s", "poll"), TriggerKey::new("s", "other"));
    assert_eq!(
        f.triggers.cursor(&a).await.unwrap(),
        None,
        "no cursor before one is set"
    );
    let cursor = json!({ "since": "2026-01-01T00:00:00Z", "page": [1, 2.5, null], "ü": "\"quoted\"" });
    f.triggers.set_cursor(&a, &cursor).await.unwrap();
    assert_eq!(f.triggers.cursor(&a).await.unwrap(), Some(cursor));
    assert_eq!(
        f.triggers.cursor(&b).await.unwrap(),
        None,
        "another trigger has its own"
    );
    f.triggers.set_cursor(&a, &json!(42)).await.unwrap();
    assert_eq!(f.triggers.cursor(&a).await.unwrap(), Some(json!(42)), "replaced");
}

/// `remember` answers per key whether it was new, per trigger; a key given twice is new once.
pub async fn remember_says_which_keys_are_new(f: &TriggerFixture) {
    let (a, b) = (TriggerKey::new("s", "poll"), TriggerKey::new("t", "poll"));
    let (until, now) = (t0() + Duration::hours(1), t0());
    let first = f
        .triggers
        .remember(&a, &keys(&["x", "y", "x"]), until, now)
        .await
        .unwrap();
    assert_eq!(first, [true, true, false]);
    let again = f.triggers.remember(&a, &keys(&["x", "z"]), until, now).await.unwrap();
    assert_eq!(again, [false, true], "x was seen, z is new");
    let other = f.triggers.remember(&b, &keys(&["x"]), until, now).await.unwrap();
    assert_eq!(other, [true], "another trigger's keys are its own");
    assert!(f.triggers.remember(&a, &[], until, now).await.unwrap().is_empty());
}

/// A key is remembered until its expiry; at it and after, it counts as new again.
pub async fn an_expired_key_counts_as_new(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    let until = t0() + Duration::seconds(10);
    assert_eq!(
        f.triggers.remember(&key, &keys(&["k"]), until, t0()).await.unwrap(),
        [true]
    );
    let before = t0() + Duration::seconds(5);
    assert_eq!(
        f.triggers.remember(&key, &keys(&["k"]), until, before).await.unwrap(),
        [false],
        "still remembered before its expiry"
    );
    let later = t0() + Duration::seconds(60);
    assert_eq!(
        f.triggers.remember(&key, &keys(&["k"]), until, until).await.unwrap(),
        [true],
        "expired at its expiry"
    );
    // Remembered again by that answer, until the new expiry given.
    let renewed = f
        .triggers
        .remember(&key, &keys(&["k"]), later + Duration::seconds(1), later)
        .await
        .unwrap();
    assert_eq!(renewed, [true], "expired again: the key counts as new");
    assert_eq!(
        f.triggers.remember(&key, &keys(&["k"]), later, later).await.unwrap(),
        [false],
        "remembered until the expiry it was given last"
    );
}

/// Pruning deletes expired keys only, at most a batch at a time.
pub async fn prune_dedupe_deletes_expired_keys_in_batches(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    let short = keys(&["a", "b", "c", "d", "e"]);
    let long = keys(&["l1", "l2"]);
    f.triggers
        .remember(&key, &short, t0() + Duration::seconds(1), t0())
        .await
        .unwrap();
    f.triggers
        .remember(&key, &long, t0() + Duration::hours(1), t0())
        .await
        .unwrap();
    let now = t0() + Duration::minutes(1);
    let mut batches = Vec::new();
    loop {
        let gone = f.triggers.prune_dedupe(now, 2).await.unwrap();
        batches.push(gone);
        if gone < 2 {
            break;
        }
    }
    assert_eq!(batches, [2, 2, 1], "five expired keys, two per batch");
    assert_eq!(
        f.triggers
            .remember(&key, &long, t0() + Duration::hours(1), now)
            .await
            .unwrap(),
        [false, false],
        "keys that had not expired are kept"
    );
}

/// A poll's commit creates the executions of the new items only, exactly as given, and moves
/// the cursor.
pub async fn commit_poll_creates_the_new_items_executions_and_advances_the_cursor(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    let first = poll(&key, &["k1", "k2"], Some(json!({ "after": 2 })), t0());
    let outcome = f.triggers.commit_poll(&first).await.unwrap();
    assert_eq!(outcome.new, [true, true]);
    assert_eq!(outcome.created(&first).count(), 2);
    for item in &first.items {
        let stored = f.executions.get(item.execution.id).await.unwrap();
        assert_eq!(stored.as_ref(), Some(&item.execution), "created as `create` would");
    }
    assert_eq!(f.triggers.cursor(&key).await.unwrap(), Some(json!({ "after": 2 })));

    let second = poll(&key, &["k2", "k3"], Some(json!({ "after": 3 })), t0());
    let outcome = f.triggers.commit_poll(&second).await.unwrap();
    assert_eq!(outcome.new, [false, true], "k2 was seen");
    assert_eq!(
        outcome.created(&second).collect::<Vec<_>>(),
        [second.items[1].execution.id]
    );
    assert!(
        f.executions.get(second.items[0].execution.id).await.unwrap().is_none(),
        "no execution for an item seen before"
    );
    assert!(f.executions.get(second.items[1].execution.id).await.unwrap().is_some());
    assert_eq!(f.triggers.cursor(&key).await.unwrap(), Some(json!({ "after": 3 })));
    let unfinished = f.executions.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 3, "three executions in all, to start");
}

/// Two items of one poll with one key: the first counts, the second creates nothing.
pub async fn a_repeated_key_in_one_poll_counts_once(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    let commit = poll(&key, &["k", "k"], None, t0());
    assert_eq!(f.triggers.commit_poll(&commit).await.unwrap().new, [true, false]);
    assert!(f.executions.get(commit.items[0].execution.id).await.unwrap().is_some());
    assert!(f.executions.get(commit.items[1].execution.id).await.unwrap().is_none());
}

/// A commit that cannot be done whole (an execution id that exists already) keeps nothing:
/// not the cursor, not a dedupe key, not another item's execution.
pub async fn a_commit_that_fails_keeps_nothing(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    f.triggers.set_cursor(&key, &json!("before")).await.unwrap();
    let existing = record("s");
    f.executions.create(&existing).await.unwrap();
    let mut commit = poll(&key, &["k1", "k2"], Some(json!("after")), t0());
    commit.items[1].execution = existing.clone();
    let err = f.triggers.commit_poll(&commit).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(
        f.triggers.cursor(&key).await.unwrap(),
        Some(json!("before")),
        "cursor kept"
    );
    assert!(
        f.executions.get(commit.items[0].execution.id).await.unwrap().is_none(),
        "the other item's execution was not kept"
    );
    assert_eq!(
        f.triggers
            .remember(&key, &keys(&["k1", "k2"]), t0() + Duration::hours(1), t0())
            .await
            .unwrap(),
        [true, true],
        "no dedupe key was kept"
    );
    assert_eq!(
        f.executions.get(existing.id).await.unwrap(),
        Some(existing),
        "untouched"
    );
    // Two items with one execution id: refused alike.
    let mut twice = poll(&key, &["k3", "k4"], None, t0());
    twice.items[1].execution.id = twice.items[0].execution.id;
    let err = f.triggers.commit_poll(&twice).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(f.executions.get(twice.items[0].execution.id).await.unwrap().is_none());
}

/// A commit without a cursor (a webhook delivery) leaves the cursor as it was.
pub async fn a_commit_without_a_cursor_leaves_the_cursor(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    f.triggers.set_cursor(&key, &json!({ "page": 7 })).await.unwrap();
    let commit = poll(&key, &["k"], None, t0());
    assert_eq!(f.triggers.commit_poll(&commit).await.unwrap().new, [true]);
    assert_eq!(f.triggers.cursor(&key).await.unwrap(), Some(json!({ "page": 7 })));
}

/// A webhook delivered twice (the same delivery id) creates one execution.
pub async fn a_delivery_creates_its_execution_once(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "hook");
    let (first, second) = (record("s"), record("s"));
    let until = t0() + Duration::days(1);
    assert!(
        f.triggers
            .commit_delivery(&key, Arrival::new("dlv_1", first.clone()), until, t0())
            .await
            .unwrap()
    );
    assert!(
        !f.triggers
            .commit_delivery(&key, Arrival::new("dlv_1", second.clone()), until, t0())
            .await
            .unwrap(),
        "a redelivery is a duplicate"
    );
    assert!(f.executions.get(first.id).await.unwrap().is_some());
    assert!(f.executions.get(second.id).await.unwrap().is_none());
    assert_eq!(
        f.triggers.cursor(&key).await.unwrap(),
        None,
        "a delivery sets no cursor"
    );
}

/// An arrival whose record holds a redacted copy of its trigger keeps the exact one with its
/// execution (in a store that keeps exact payloads at all), and a duplicate's is not kept.
pub async fn an_arrivals_exact_trigger_is_kept_with_its_execution(f: &TriggerFixture) {
    use aura_core::store::PayloadKey;
    // Does this store keep exact payloads at all?
    let probe = record("s");
    f.executions.create(&probe).await.unwrap();
    let value = std::sync::Arc::new(json!({ "probe": true }));
    f.executions
        .save_exact(probe.id, &PayloadKey::Trigger, &value)
        .await
        .unwrap();
    let keeps = f
        .executions
        .exact(probe.id, &PayloadKey::Trigger)
        .await
        .unwrap()
        .is_some();

    let key = TriggerKey::new("s", "hook");
    let exact = std::sync::Arc::new(json!({ "token": "tok-exact", "n": 1 }));
    let cleaned = |mut r: aura_core::store::ExecutionRecord| {
        r.trigger = std::sync::Arc::new(json!({ "token": "[redacted]", "n": 1 }));
        r.trigger_cleaned = true;
        r
    };
    let (first, second) = (cleaned(record("s")), cleaned(record("s")));
    let arrival = |r: &aura_core::store::ExecutionRecord| Arrival {
        dedupe_key: "dlv_exact".to_owned(),
        execution: r.clone(),
        exact_trigger: Some(exact.clone()),
    };
    let until = t0() + Duration::days(1);
    assert!(
        f.triggers
            .commit_delivery(&key, arrival(&first), until, t0())
            .await
            .unwrap()
    );
    assert!(
        !f.triggers
            .commit_delivery(&key, arrival(&second), until, t0())
            .await
            .unwrap()
    );
    let kept = f.executions.exact(first.id, &PayloadKey::Trigger).await.unwrap();
    if keeps {
        assert_eq!(kept, Some(exact), "the exact trigger is kept with the execution");
    } else {
        assert_eq!(kept, None);
    }
    assert_eq!(f.executions.exact(second.id, &PayloadKey::Trigger).await.unwrap(), None);
}

/// Several commits of one item at once (workers racing, a redelivery storm): one wins.
pub async fn concurrent_commits_of_one_item_create_one_execution(f: &TriggerFixture) {
    let key = TriggerKey::new("s", "poll");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (triggers, commit) = (f.triggers.clone(), poll(&key, &["same"], None, t0()));
        tasks.spawn(async move {
            let outcome = triggers.commit_poll(&commit).await.unwrap();
            (outcome.new[0], commit.items[0].execution.id)
        });
    }
    let mut winners = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (new, id) = done.unwrap();
        if new {
            winners.push(id);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one commit found the item new");
    assert_eq!(
        f.executions.unfinished().await.unwrap().len(),
        1,
        "one execution created"
    );
}
