//! The [`ExecutionStore`] behaviour suite: what every execution store (memory, SQLite,
//! PostgreSQL …) must do, as [`MemoryStore`](aura_core::store::MemoryStore) does it.
//!
//! Each check is an async function over a fresh [`StoreFixture`] and panics with a message
//! naming what failed. [`store_behavior!`](crate::store_behavior) writes one `#[tokio::test]`
//! per check (on a two-thread runtime: the concurrency check is real). The pruning checks live
//! in `store/prune.rs` and are re-exported here with the others.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::store::{
    ConcurrencyLimits, Cursor, ErrorRecord, ExecutionRecord, ExecutionStatus, ExecutionStore, NodeResult, NodeStatus,
    PageRequest, PayloadKey, Prune,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

mod prune;
mod queue;

pub use self::prune::{
    prune_goes_on_past_one_batch, prune_keep_newest_keeps_the_newest_finished,
    prune_keep_per_scenario_keeps_the_newest_of_each_scenario, prune_never_deletes_unfinished_executions,
    prune_older_than_deletes_only_old_finished_executions, prune_rules_delete_their_union,
};
pub use self::queue::{
    a_parked_execution_is_nobodys_until_it_wakes, a_waiting_node_round_trips, claim_next_honours_concurrency_limits,
    claim_next_takes_free_work_oldest_first_once, create_leased_holds_the_execution_until_finish_leased,
};

/// A fresh, empty store under test and what it supports.
pub struct StoreFixture {
    store: Arc<dyn ExecutionStore>,
    keeps_exact: bool,
    parks: bool,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for StoreFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFixture")
            .field("keeps_exact", &self.keeps_exact)
            .field("parks", &self.parks)
            .finish_non_exhaustive()
    }
}

impl StoreFixture {
    /// A fixture over `store`, which keeps no exact payloads and does not park (say so with
    /// [`keeps_exact`](Self::keeps_exact) and [`parks`](Self::parks) if it does).
    pub fn new(store: Arc<dyn ExecutionStore>) -> Self {
        Self {
            store,
            keeps_exact: false,
            parks: false,
            _guard: None,
        }
    }

    /// Whether the store parks executions ([`ExecutionStore::park_leased`] answers `true`).
    #[must_use]
    pub fn parks(mut self, parks: bool) -> Self {
        self.parks = parks;
        self
    }

    /// Whether the store keeps the exact payloads given to `save_exact` (then `exact` must
    /// return them; otherwise it must return `None`).
    #[must_use]
    pub fn keeps_exact(mut self, keeps: bool) -> Self {
        self.keeps_exact = keeps;
        self
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ExecutionStore> {
        &self.store
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::store`](crate::behavior::store),
/// each on the fixture the expression (a future of a
/// [`StoreFixture`](crate::behavior::store::StoreFixture)) makes afresh. The calling crate
/// needs `tokio` with `macros` and `rt-multi-thread` (as a dev-dependency).
///
/// Attributes in front go on every test, so that a store which needs a server marks its suite
/// as such; `@each` runs only the checks named after the `;`:
///
/// ```ignore
/// aura_testkit::store_behavior!(#[ignore = "needs postgres: see .ci/run"] async { fixture().await });
/// aura_testkit::store_behavior!(#[ignore = "needs postgres: see .ci/run"] @each async { fixture().await }; create_then_get_round_trips);
/// ```
#[macro_export]
macro_rules! store_behavior {
    // One test per check, each with the attributes gathered, one check at a time so that the
    // attributes repeat for each.
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::store::StoreFixture = $fixture.await;
            $crate::behavior::store::$check(&fixture).await;
        }
        $crate::store_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    // The attributes in front, one by one (an expression may start with `#` too).
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::store_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    // Some checks only.
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::store_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    // Every check.
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::store_behavior!(@run [$($attrs)*] $fixture;
            create_then_get_round_trips,
            get_of_an_unknown_execution_is_none,
            create_twice_is_a_conflict,
            create_finished_keeps_the_whole_record,
            save_node_upserts_by_node_and_item_in_first_save_order,
            save_node_of_an_unknown_execution_is_not_found,
            finish_records_the_end,
            finish_of_an_unknown_execution_is_not_found,
            list_pages_newest_first_by_scenario,
            a_bad_cursor_is_invalid_input,
            unfinished_lists_running_executions_oldest_first_with_nodes,
            prune_older_than_deletes_only_old_finished_executions,
            prune_keep_newest_keeps_the_newest_finished,
            prune_keep_per_scenario_keeps_the_newest_of_each_scenario,
            prune_rules_delete_their_union,
            prune_goes_on_past_one_batch,
            prune_never_deletes_unfinished_executions,
            claim_is_exclusive_while_the_lease_lives,
            renew_and_release_need_the_owner,
            claim_of_a_finished_or_unknown_execution_is_none,
            create_leased_holds_the_execution_until_finish_leased,
            claim_next_takes_free_work_oldest_first_once,
            claim_next_honours_concurrency_limits,
            a_waiting_node_round_trips,
            a_parked_execution_is_nobodys_until_it_wakes,
            exact_payloads_are_kept_or_not_as_declared,
            concurrent_node_saves_are_all_kept,
        );
    };
    ($($input:tt)*) => {
        $crate::store_behavior!(@attrs [] $($input)*);
    };
}

// ---------------------------------------------------------------------------------------------
// Records to store
// ---------------------------------------------------------------------------------------------

/// A running execution of `scenario`, started now, with no nodes.
pub fn record(scenario: &str) -> ExecutionRecord {
    record_at(scenario, Utc::now())
}

/// A running execution of `scenario` started at `started_at`, with no nodes.
pub fn record_at(scenario: &str, started_at: DateTime<Utc>) -> ExecutionRecord {
    ExecutionRecord {
        id: Uuid::now_v7(),
        scenario_id: scenario.to_owned(),
        scenario_version: 3,
        trigger: Arc::new(json!({ "x": 1, "nested": { "list": [1, 2.5, "three", null, true] } })),
        trigger_cleaned: false,
        status: ExecutionStatus::Running,
        started_at,
        ended_at: None,
        nodes: Vec::new(),
        output: None,
        error: None,
        rerun_of: None,
    }
}

/// A completed node result for `node` (and iteration `item`) with `output`.
pub fn node(node: &str, item: Option<usize>, output: Value) -> NodeResult {
    let now = Utc::now();
    NodeResult {
        node_id: Arc::from(node),
        item,
        status: NodeStatus::Completed,
        input: Arc::new(json!({ "in": node })),
        output: Some(Arc::new(output)),
        error: None,
        output_cleaned: false,
        attempts: 1,
        route: None,
        pinned: false,
        started_at: Some(now),
        ended_at: Some(now),
    }
}

fn error_record() -> ErrorRecord {
    ErrorRecord::from(
        &aura_core::Error::upstream(503, "try later")
            .with_context("node", "call")
            .with_retry_after(Some(Duration::from_secs(2))),
    )
}

async fn created(f: &StoreFixture, scenario: &str) -> ExecutionRecord {
    let r = record(scenario);
    f.store.create(&r).await.expect("create");
    r
}

async fn finished(f: &StoreFixture, scenario: &str) -> ExecutionRecord {
    finished_at(f, scenario, Utc::now()).await
}

async fn finished_at(f: &StoreFixture, scenario: &str, started_at: DateTime<Utc>) -> ExecutionRecord {
    let mut r = record_at(scenario, started_at);
    f.store.create(&r).await.expect("create");
    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(Utc::now());
    f.store.finish(&r).await.expect("finish");
    r
}

async fn get(f: &StoreFixture, id: Uuid) -> ExecutionRecord {
    f.store.get(id).await.expect("get").expect("the execution is there")
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// A record reads back exactly as created: its payloads, times to the nanosecond, its node
/// results, a `null` output (`Some(Null)`) distinct from no output, its error and re-run link.
pub async fn create_then_get_round_trips(f: &StoreFixture) {
    let mut r = record("s");
    r.trigger_cleaned = true;
    r.rerun_of = Some(Uuid::now_v7());
    r.output = Some(Value::Null);
    r.error = Some(error_record());
    let mut with_null = node("a", None, Value::Null);
    with_null.route = Some("true".into());
    with_null.pinned = true;
    with_null.output_cleaned = true;
    let mut failed = node("b", Some(2), Value::Null);
    failed.status = NodeStatus::Failed;
    failed.output = None;
    failed.error = Some(Box::new(error_record()));
    failed.attempts = 4;
    failed.started_at = None;
    failed.ended_at = None;
    r.nodes = vec![with_null, failed];
    f.store.create(&r).await.expect("create");
    let back = get(f, r.id).await;
    assert_eq!(back, r, "the record reads back as created");
    assert_eq!(back.output, Some(Value::Null), "a null output is an output");
    assert_eq!(back.nodes[0].output.as_deref(), Some(&Value::Null));
    assert_eq!(back.nodes[1].output, None, "no output stays no output");
}

/// `create_finished` writes an execution that ended before anything of it was written, in one
/// call: it reads back whole (its node results, output and end), lists as finished, is not
/// unfinished work; a second one of the same id is a conflict, and the first stays.
pub async fn create_finished_keeps_the_whole_record(f: &StoreFixture) {
    let mut r = record("s");
    let mut routed = node("check", None, json!({ "score": 42 }));
    routed.route = Some("true".into());
    r.nodes = vec![node("hook", None, json!({ "value": 42 })), routed];
    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(Utc::now());
    r.output = Some(json!({ "ok": true }));
    f.store
        .create_finished(&r, "engine-a", Duration::from_secs(30))
        .await
        .expect("create_finished");
    assert_eq!(get(f, r.id).await, r, "the record reads back whole");
    let listed = f.store.list("s", PageRequest::first(10)).await.expect("list");
    let summary = listed
        .items
        .iter()
        .find(|s| s.id == r.id)
        .expect("the execution is listed");
    assert_eq!(summary.status, ExecutionStatus::Completed);
    let unfinished = f.store.unfinished().await.expect("unfinished");
    assert!(
        unfinished.iter().all(|u| u.id != r.id),
        "a finished execution is no unfinished work"
    );

    let mut again = r.clone();
    again.scenario_id = "other".into();
    let err = f
        .store
        .create_finished(&again, "engine-a", Duration::from_secs(30))
        .await
        .expect_err("a second create_finished fails");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(get(f, r.id).await, r, "the first record stays");
}

/// `get` of an id never created is `None`, not an error.
pub async fn get_of_an_unknown_execution_is_none(f: &StoreFixture) {
    assert_eq!(f.store.get(Uuid::now_v7()).await.expect("get"), None);
}

/// Creating the same id twice is a conflict, and the first record stays.
pub async fn create_twice_is_a_conflict(f: &StoreFixture) {
    let r = created(f, "s").await;
    let mut again = r.clone();
    again.scenario_id = "other".into();
    let err = f.store.create(&again).await.expect_err("a second create fails");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(get(f, r.id).await.scenario_id, "s");
}

/// `save_node` inserts or replaces by (node id, item); results stay in the order they were
/// first saved; an item differs from no item.
pub async fn save_node_upserts_by_node_and_item_in_first_save_order(f: &StoreFixture) {
    let r = created(f, "s").await;
    let s = &f.store;
    s.save_node(r.id, &node("a", None, json!(1))).await.expect("save a");
    s.save_node(r.id, &node("b", None, json!(2))).await.expect("save b");
    s.save_node(r.id, &node("it", Some(0), json!("zero")))
        .await
        .expect("save it[0]");
    s.save_node(r.id, &node("it", Some(1), json!("one")))
        .await
        .expect("save it[1]");
    s.save_node(r.id, &node("it", None, json!("whole")))
        .await
        .expect("save it");
    let mut again = node("a", None, json!(10));
    again.attempts = 3;
    s.save_node(r.id, &again).await.expect("save a again");
    s.save_node(r.id, &node("it", Some(0), json!("ZERO")))
        .await
        .expect("save it[0] again");

    let back = get(f, r.id).await;
    let seen: Vec<(String, Option<usize>, Value)> = back
        .nodes
        .iter()
        .map(|n| {
            (
                n.node_id.to_string(),
                n.item,
                (**n.output.as_ref().expect("output")).clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("a".to_owned(), None, json!(10)),
            ("b".to_owned(), None, json!(2)),
            ("it".to_owned(), Some(0), json!("ZERO")),
            ("it".to_owned(), Some(1), json!("one")),
            ("it".to_owned(), None, json!("whole")),
        ]
    );
    assert_eq!(back.node("a").expect("a").attempts, 3);
    assert_eq!(back.node_runs("it").count(), 3);
}

/// Saving a node of an execution that was never created fails with not found.
pub async fn save_node_of_an_unknown_execution_is_not_found(f: &StoreFixture) {
    let err = f
        .store
        .save_node(Uuid::now_v7(), &node("a", None, json!(1)))
        .await
        .expect_err("no such execution");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `finish` records status, end time, output and error, and keeps the node results.
pub async fn finish_records_the_end(f: &StoreFixture) {
    let mut r = created(f, "s").await;
    f.store.save_node(r.id, &node("a", None, json!(1))).await.expect("save");
    r.status = ExecutionStatus::Failed;
    r.ended_at = Some(Utc::now());
    r.output = Some(Value::Null);
    r.error = Some(error_record());
    f.store.finish(&r).await.expect("finish");
    let back = get(f, r.id).await;
    assert_eq!(back.status, ExecutionStatus::Failed);
    assert_eq!(back.ended_at, r.ended_at);
    assert_eq!(back.output, Some(Value::Null));
    assert_eq!(back.error, r.error);
    assert_eq!(back.nodes.len(), 1, "finish keeps the node results");
}

/// Finishing an execution that was never created fails with not found.
pub async fn finish_of_an_unknown_execution_is_not_found(f: &StoreFixture) {
    let mut r = record("s");
    r.status = ExecutionStatus::Completed;
    let err = f.store.finish(&r).await.expect_err("no such execution");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `list` gives one scenario's executions newest first, a page at a time; the last page has
/// no cursor, also when it is exactly full.
pub async fn list_pages_newest_first_by_scenario(f: &StoreFixture) {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(if i % 2 == 0 {
            finished(f, "s").await.id
        } else {
            created(f, "s").await.id
        });
    }
    finished(f, "other").await;
    let s = &f.store;
    let first = s.list("s", PageRequest::first(2)).await.expect("page 1");
    assert_eq!(first.items.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[4], ids[3]]);
    assert_eq!(first.items[0].scenario_id, "s");
    assert_eq!(first.items[0].status, ExecutionStatus::Completed);
    assert_eq!(first.items[1].status, ExecutionStatus::Running);
    let second = s
        .list(
            "s",
            PageRequest::first(2).after(first.next.clone().expect("a next page")),
        )
        .await
        .expect("page 2");
    assert_eq!(second.items.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    let third = s
        .list(
            "s",
            PageRequest::first(2).after(second.next.clone().expect("a third page")),
        )
        .await
        .expect("page 3");
    assert_eq!(third.items.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(third.next, None, "the last page has no cursor");

    let whole = s.list("s", PageRequest::first(5)).await.expect("one full page");
    assert_eq!(whole.items.len(), 5);
    assert_eq!(whole.next, None, "an exactly full last page has no cursor");
    let none = s.list("nothing", PageRequest::first(5)).await.expect("empty");
    assert!(none.items.is_empty() && none.next.is_none());
}

/// A cursor this store did not write is invalid input, not an empty page or a panic.
pub async fn a_bad_cursor_is_invalid_input(f: &StoreFixture) {
    created(f, "s").await;
    let err = f
        .store
        .list(
            "s",
            PageRequest::first(2).after(Cursor::new("not a cursor ' OR 1=1 --")),
        )
        .await
        .expect_err("a bad cursor fails");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

/// `unfinished` lists the running executions, oldest first, whole (with node results).
pub async fn unfinished_lists_running_executions_oldest_first_with_nodes(f: &StoreFixture) {
    let a = created(f, "s").await;
    finished(f, "s").await;
    let b = created(f, "t").await;
    f.store
        .save_node(b.id, &node("n", None, json!("x")))
        .await
        .expect("save");
    f.store
        .save_node(b.id, &node("m", Some(1), json!("y")))
        .await
        .expect("save");
    let open = f.store.unfinished().await.expect("unfinished");
    assert_eq!(open.iter().map(|r| r.id).collect::<Vec<_>>(), [a.id, b.id]);
    assert!(open[0].nodes.is_empty());
    let names: Vec<&str> = open[1].nodes.iter().map(|n| &*n.node_id).collect();
    assert_eq!(names, ["n", "m"]);
    assert_eq!(open[1], get(f, b.id).await);
}

/// A claim holds against other owners while it lives; the same owner claiming again renews;
/// once it expires another owner can claim.
pub async fn claim_is_exclusive_while_the_lease_lives(f: &StoreFixture) {
    let r = created(f, "s").await;
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let lease = s.claim(r.id, "a", minute).await.expect("claim").expect("a takes it");
    assert_eq!((lease.execution_id, lease.owner.as_str()), (r.id, "a"));
    assert!(lease.is_live(Utc::now()));
    assert_eq!(s.claim(r.id, "b", minute).await.expect("claim"), None, "b is refused");
    let again = s.claim(r.id, "a", minute).await.expect("claim").expect("a again");
    assert!(again.until >= lease.until, "claiming again renews");

    let other = created(f, "s").await;
    let short = s.claim(other.id, "a", Duration::ZERO).await.expect("claim").expect("a");
    assert!(!short.is_live(Utc::now() + chrono::Duration::milliseconds(1)));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let taken = s.claim(other.id, "b", minute).await.expect("claim");
    assert_eq!(
        taken.map(|l| l.owner),
        Some("b".to_owned()),
        "an expired lease can be taken"
    );
}

/// Renewing and releasing work for the owner only; a lease taken over cannot be renewed.
pub async fn renew_and_release_need_the_owner(f: &StoreFixture) {
    let r = created(f, "s").await;
    let s = &f.store;
    let minute = Duration::from_secs(60);
    let lease = s
        .claim(r.id, "a", Duration::from_secs(1))
        .await
        .expect("claim")
        .expect("a");
    let renewed = s.renew(&lease, minute).await.expect("renew").expect("still a's");
    assert!(renewed.until > lease.until);

    let mut forged = renewed.clone();
    forged.owner = "b".into();
    assert_eq!(s.renew(&forged, minute).await.expect("renew"), None, "b holds nothing");
    s.release(&forged).await.expect("a release by b does nothing");
    assert_eq!(s.claim(r.id, "b", minute).await.expect("claim"), None, "still a's");

    s.release(&renewed).await.expect("release");
    let b = s
        .claim(r.id, "b", minute)
        .await
        .expect("claim")
        .expect("free after release");
    assert_eq!(s.renew(&renewed, minute).await.expect("renew"), None, "a lost it");
    s.release(&renewed)
        .await
        .expect("a release of a lost lease does nothing");
    assert_eq!(
        s.claim(r.id, "c", minute).await.expect("claim"),
        None,
        "b still holds it"
    );
    assert!(s.renew(&b, minute).await.expect("renew").is_some());
}

/// Finished and unknown executions cannot be claimed.
pub async fn claim_of_a_finished_or_unknown_execution_is_none(f: &StoreFixture) {
    let done = finished(f, "s").await;
    let minute = Duration::from_secs(60);
    assert_eq!(f.store.claim(done.id, "a", minute).await.expect("claim"), None);
    assert_eq!(f.store.claim(Uuid::now_v7(), "a", minute).await.expect("claim"), None);
}

/// A store that declares it keeps exact payloads gives them back, per execution and payload
/// key, and drops them with their execution; one that does not returns `None`.
pub async fn exact_payloads_are_kept_or_not_as_declared(f: &StoreFixture) {
    let mut r = created(f, "s").await;
    let trigger = Arc::new(json!({ "token": "s3cr3t", "n": 12345678901234567_u64, "f": 0.1 }));
    let output = Arc::new(json!(["a", { "b": null }]));
    let out_key = PayloadKey::Output {
        node: Arc::from("a"),
        item: Some(3),
    };
    let s = &f.store;
    s.save_exact(r.id, &PayloadKey::Trigger, &trigger)
        .await
        .expect("save trigger");
    s.save_exact(r.id, &out_key, &output).await.expect("save output");
    let got_trigger = s.exact(r.id, &PayloadKey::Trigger).await.expect("exact");
    let got_output = s.exact(r.id, &out_key).await.expect("exact");
    let other_item = PayloadKey::Output {
        node: Arc::from("a"),
        item: None,
    };
    assert_eq!(s.exact(r.id, &other_item).await.expect("exact"), None, "another key");
    assert_eq!(
        s.exact(Uuid::now_v7(), &PayloadKey::Trigger).await.expect("exact"),
        None
    );
    if !f.keeps_exact {
        assert_eq!(got_trigger, None, "a store that keeps no exact payloads returns none");
        assert_eq!(got_output, None);
        return;
    }
    assert_eq!(got_trigger, Some(trigger));
    assert_eq!(got_output, Some(output.clone()));
    let replaced = Arc::new(json!("replaced"));
    s.save_exact(r.id, &out_key, &replaced).await.expect("replace");
    assert_eq!(s.exact(r.id, &out_key).await.expect("exact"), Some(replaced));

    r.status = ExecutionStatus::Completed;
    r.ended_at = Some(Utc::now());
    s.finish(&r).await.expect("finish");
    s.prune(Prune::new().keep_newest(0)).await.expect("prune");
    assert_eq!(
        s.exact(r.id, &PayloadKey::Trigger).await.expect("exact"),
        None,
        "pruned with it"
    );
}

/// Many tasks saving node results of a few executions at once: every result is kept, none
/// fails (no lock error reaches a caller).
pub async fn concurrent_node_saves_are_all_kept(f: &StoreFixture) {
    const EXECUTIONS: usize = 8;
    const NODES: usize = 40;
    let mut records = Vec::new();
    for _ in 0..EXECUTIONS {
        records.push(created(f, "s").await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for r in &records {
        for n in 0..NODES {
            let store = f.store.clone();
            let id = r.id;
            tasks.spawn(async move {
                store.save_node(id, &node(&format!("n{n}"), None, json!(n))).await?;
                store.save_node(id, &node("iterate", Some(n), json!(n))).await
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task").expect("every save succeeds");
    }
    for r in &records {
        let back = get(f, r.id).await;
        assert_eq!(back.nodes.len(), NODES * 2, "every result of {}", r.id);
        let keys: HashSet<(String, Option<usize>)> =
            back.nodes.iter().map(|n| (n.node_id.to_string(), n.item)).collect();
        assert_eq!(keys.len(), NODES * 2, "no duplicates");
    }
}
