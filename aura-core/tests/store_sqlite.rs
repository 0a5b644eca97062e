//! The SQLite store: the behaviour suites (aura-testkit), durability across a reopen, many
//! writers on one file, and what it refuses to open.

#![cfg(feature = "store-sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::secrecy::SecretBox;
use aura_core::store::{ExecutionStatus, ExecutionStore, PageRequest, SqliteStore};
use aura_testkit::behavior::sealed::SealedFixture;
use aura_testkit::behavior::store::{StoreFixture, node, record};
use serde_json::json;
use tempfile::TempDir;

fn key() -> SecretBox<[u8; 32]> {
    SecretBox::new(Box::new([7u8; 32]))
}

async fn open_in(dir: &TempDir) -> SqliteStore {
    SqliteStore::builder(dir.path().join("aura.db"))
        .exact_payload_key(key())
        .open()
        .await
        .unwrap()
}

mod with_a_key {
    use super::*;

    aura_testkit::store_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        let store = open_in(&dir).await;
        assert!(store.keeps_exact_payloads());
        StoreFixture::new(Arc::new(store))
            .keeps_exact(true)
            .parks(true)
            .guard(dir)
    });
}

mod without_a_key {
    use super::*;

    aura_testkit::store_behavior!(@each async {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("aura.db")).await.unwrap();
        assert!(!store.keeps_exact_payloads());
        StoreFixture::new(Arc::new(store)).guard(dir)
    }; exact_payloads_are_kept_or_not_as_declared, create_then_get_round_trips);
}

mod sealed {
    use super::*;

    aura_testkit::sealed_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        SealedFixture::new(Arc::new(open_in(&dir).await)).guard(dir)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut r = record("durable");
            store.create(&r).await.unwrap();
            for n in 0..3 {
                store
                    .save_node(r.id, &node(&format!("n{n}"), None, json!(i)))
                    .await
                    .unwrap();
            }
            if i % 2 == 0 {
                r.status = ExecutionStatus::Completed;
                r.ended_at = Some(chrono::Utc::now());
                r.output = Some(json!(i));
                store.finish(&r).await.unwrap();
            }
            r.id
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    // Dropped without a close: as a crashed process would leave it.
    drop(store);

    let again = open_in(&dir).await;
    for id in &ids {
        let r = again.get(*id).await.unwrap().expect("an acknowledged create is there");
        assert_eq!(r.nodes.len(), 3, "every acknowledged node result is there");
    }
    assert_eq!(again.unfinished().await.unwrap().len(), 100);
    let all = again.list("durable", PageRequest::first(1000)).await.unwrap();
    assert_eq!(all.items.len(), 200);
    again.close().await;
    let err = again.create(&record("late")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "a closed store says so: {err}");
}

/// Two stores (as two processes would) writing one file at once: SQLite's lock is waited
/// for, never reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_never_report_database_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_in(&dir).await;
    let b = SqliteStore::builder(dir.path().join("aura.db"))
        .busy_timeout(Duration::from_millis(50))
        .max_batch(4)
        .open()
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400 {
        let store: Arc<dyn ExecutionStore> = if i % 2 == 0 {
            Arc::new(a.clone())
        } else {
            Arc::new(b.clone())
        };
        tasks.spawn(async move {
            let r = record("shared");
            store.create(&r).await?;
            store.save_node(r.id, &node("n", None, json!(i))).await?;
            Ok::<_, aura_core::Error>(r.id)
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(id) => ids.push(id),
            Err(e) => panic!("a write failed: {e} ({:?})", e.kind()),
        }
    }
    for id in ids {
        let seen_by_b = b.get(id).await.unwrap().expect("each store reads the other's writes");
        assert_eq!(seen_by_b.nodes.len(), 1);
    }
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the file is untouched");
}

mod engine {
    use aura_core::Registry;
    use aura_core::engine::Engine;
    use aura_core::scenario::{NodeBuilder, Scenario};
    use aura_core::store::ExecutionRecord;
    use aura_testkit::{MockAction, MockApp};

    use super::*;

    fn scenario() -> Scenario {
        Scenario::builder("pair", "Pair")
            .node(NodeBuilder::trigger("t").next(["first"]))
            .node(NodeBuilder::action("first", "svc.first").next(["second"]))
            .node(NodeBuilder::action("second", "svc.second"))
            .build()
    }

    fn engine(store: SqliteStore, first: &MockAction, second: &MockAction) -> Engine {
        let registry = Arc::new(Registry::new());
        registry
            .register(MockApp::new("svc").action(first.clone()).action(second.clone()))
            .unwrap();
        Engine::builder(registry).store(Arc::new(store)).build()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_execution_reads_back_from_the_file_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (
            MockAction::new("first").returns(json!({"a": 1})),
            MockAction::new("second"),
        );
        let store = open_in(&dir).await;
        let engine = engine(store.clone(), &first, &second);
        let plan = engine.compile(scenario()).await.unwrap();
        let done = engine.execute(&plan, json!({"x": 1})).await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.error);
        store.close().await;
        drop(engine);

        let again = open_in(&dir).await;
        let stored = again.get(done.id).await.unwrap().expect("stored");
        assert_eq!(stored, done, "the file holds the record the engine returned");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_interrupted_execution_resumes_from_the_file_after_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (
            MockAction::new("first").returns(json!({"a": 1})),
            MockAction::new("second"),
        );
        // What the file holds after a crash: the execution running, `t` and `first` done.
        let store = open_in(&dir).await;
        let mut record: ExecutionRecord = serde_json::from_value(json!({
            "id": uuid::Uuid::now_v7(),
            "scenario_id": "pair",
            "scenario_version": 1,
            "trigger": {"x": 1},
            "status": "running",
            "started_at": chrono::Utc::now(),
            "ended_at": null,
            "nodes": [],
        }))
        .unwrap();
        let mut t = node("t", None, json!({"x": 1}));
        t.input = Arc::new(json!({"x": 1}));
        record.nodes.push(t);
        record.nodes.push(node("first", None, json!({"a": 1})));
        store.create(&record).await.unwrap();
        drop(store);

        let store = open_in(&dir).await;
        let engine = engine(store.clone(), &first, &second);
        engine.deploy(scenario()).await.unwrap();
        let mut handles = engine.recover_all().await.unwrap();
        assert_eq!(handles.len(), 1);
        let done = handles.pop().unwrap().wait().await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.error);
        assert_eq!(first.call_count(), 0, "the checkpointed node did not run again");
        assert_eq!(second.call_count(), 1);
        assert!(store.unfinished().await.unwrap().is_empty());
        assert_eq!(
            store.get(record.id).await.unwrap().unwrap().status,
            ExecutionStatus::Completed
        );
    }
}

/// On a durable store, an action that is not idempotent is saved as running before it is
/// called (so that a resume knows it may have run); an idempotent one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_that_is_not_idempotent_is_saved_as_running_before_it_is_called() {
    use aura_core::engine::Engine;
    use aura_core::scenario::{NodeBuilder, Scenario};
    use aura_core::store::NodeStatus;
    use aura_testkit::{MockAction, MockApp};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_in(&dir).await);
    assert!(store.is_durable());
    let charge = MockAction::new("charge").latency(Duration::from_secs(3600));
    let lookup = MockAction::new("lookup")
        .idempotent(true)
        .latency(Duration::from_secs(3600));
    let registry = Arc::new(aura_core::Registry::new());
    registry
        .register(MockApp::new("svc").action(charge.clone()).action(lookup.clone()))
        .unwrap();
    let engine = Engine::builder(registry).store(store.clone()).build();
    for (id, action) in [("pay", "svc.charge"), ("find", "svc.lookup")] {
        let scenario = Scenario::builder(id, id)
            .node(NodeBuilder::trigger("t").next(["call"]))
            .node(NodeBuilder::action("call", action).input(json!({ "token": "tok_canary_42" })))
            .build();
        let plan = engine.deploy(scenario).await.unwrap();
        let handle = engine.start(&plan, json!({})).await.unwrap();
        let mock = if id == "pay" { &charge } else { &lookup };
        for _ in 0..500 {
            if mock.in_flight() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(mock.in_flight(), 1, "{id}: the action was called");
        let stored = store.get(handle.id()).await.unwrap().unwrap();
        match id {
            "pay" => {
                let call = stored.node("call").expect("saved before the call");
                assert_eq!(call.status, NodeStatus::Running);
                assert!(!call.input.to_string().contains("tok_canary_42"), "{}", call.input);
            }
            _ => assert!(
                stored.node("call").is_none(),
                "an idempotent action is not saved in flight"
            ),
        }
        handle.cancel();
        let done = handle.wait().await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Cancelled);
    }
}

/// A full store (its size cap reached, as a full disk would be): the write that does not fit
/// fails with a typed error and keeps nothing of it; what was written before stays intact;
/// pruning makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_refuses_what_does_not_fit_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aura.db");
    let store = SqliteStore::builder(&path).max_size(256 * 1024).open().await.unwrap();
    let padding = "x".repeat(4096);
    let mut kept = Vec::new();
    let (refused, err) = loop {
        let mut r = record("full");
        r.trigger = Arc::new(json!({ "padding": padding, "n": kept.len() }));
        match store.create(&r).await {
            Ok(()) => kept.push(r),
            Err(e) => break (r, e),
        }
        assert!(kept.len() < 1_000, "the cap was never reached");
    };
    assert!(!kept.is_empty(), "some fit before the cap");
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.message().contains("full"), "the error says why: {err}");
    assert!(!err.to_string().contains(&padding), "never the payload in the error");
    assert!(
        store.get(refused.id).await.unwrap().is_none(),
        "nothing of the refused write"
    );
    for r in &kept {
        let stored = store.get(r.id).await.unwrap().expect("what fit is kept");
        assert_eq!(stored.trigger, r.trigger);
    }
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, "ok");

    // Finished and pruned, the first half leaves room: a new write fits again.
    for r in &kept[..kept.len() / 2] {
        let mut done = r.clone();
        done.status = ExecutionStatus::Completed;
        done.ended_at = Some(chrono::Utc::now());
        store.finish(&done).await.unwrap();
    }
    let gone = store
        .prune(aura_core::store::Prune::new().keep_newest(0))
        .await
        .unwrap();
    assert_eq!(gone, kept.len() / 2);
    store.create(&refused).await.expect("room again after a prune");
    store.close().await;
}

mod rates {
    use super::*;
    use aura_testkit::behavior::rates;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rate_limits_space_calls_per_key() {
        let dir = tempfile::tempdir().unwrap();
        rates::rate_limits_space_calls_per_key(Arc::new(open_in(&dir).await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_takes_never_exceed_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        rates::concurrent_takes_never_exceed_the_limit(Arc::new(open_in(&dir).await)).await;
    }
}
