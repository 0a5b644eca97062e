//! Long waits parked in the store ([`EngineBuilder::park_in_store_after`]): the waiting node is
//! saved as waiting with the time its wait ends, the execution leaves memory, and it goes on
//! from that node (not called again) when it wakes: in the engine whose handle follows it, in a
//! worker of another engine, or after a restart, waiting out only what was left of its wait.
//! A retry due after a long back-off parks alike.

#![cfg(any(feature = "store-sqlite", feature = "store-postgres"))]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::clock::{Clock as _, ManualClock};
use aura_core::engine::{Engine, EngineBuilder};
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus, ExecutionStore, NodeResult, NodeStatus};
use chrono::Utc;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[cfg(feature = "store-postgres")]
mod postgres_schema;
mod queue_app;

use queue_app::Calls;

/// `trigger → a → wait → b`: `a` and `b` are `queue.step` (each call counted by idempotency
/// key and worker), `wait` a delay of `wait`.
fn waiting(wait: Duration) -> Scenario {
    Scenario::builder("waits", "Waits")
        .node(NodeBuilder::trigger("t").next(["a"]))
        .node(
            NodeBuilder::action("a", "queue.step")
                .input(json!({ "n": "{{ trigger.n }}" }))
                .next(["wait"]),
        )
        .node(NodeBuilder::delay("wait", wait).next(["b"]))
        .node(NodeBuilder::action("b", "queue.step").input(json!({ "n": "{{ steps.a.output.n }}" })))
        .build()
}

type Store = Arc<dyn ExecutionStore>;

async fn engine(
    store: &Store,
    owner: &str,
    calls: &Calls,
    wait: Duration,
    tune: impl FnOnce(EngineBuilder) -> EngineBuilder,
) -> Engine {
    let engine = queue_app::engine(store.clone(), owner, calls, Duration::ZERO, tune).await;
    engine.deploy(waiting(wait)).await.unwrap();
    engine
}

/// Polls the store until `node` of execution `id` stands as `status`.
async fn until_node(store: &Store, id: Uuid, node: &str, status: NodeStatus) -> NodeResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let record = store.get(id).await.unwrap().unwrap();
        if let Some(n) = record.node(node)
            && n.status == status
        {
            return n.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {node} never stood as {status:?}: {:?}",
            record.nodes
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many times each of `a` and `b` ran, whoever ran them.
fn runs(calls: &Calls, id: Uuid) -> (usize, usize) {
    let by_key = calls.by_key();
    let count = |node: &str| {
        by_key
            .iter()
            .filter(|(key, _)| key.as_str() == format!("{id}/{node}"))
            .map(|(_, owners)| owners.len())
            .sum()
    };
    (count("a"), count("b"))
}

/// The execution parks in the store, nobody's until it wakes; the handle that started it
/// follows it to its end, and no node runs twice.
async fn a_long_wait_leaves_memory_for_the_store(store: Store) {
    let calls = Calls::default();
    let wait = Duration::from_millis(1500);
    let engine = engine(&store, "one", &calls, wait, |b| {
        b.park_after(Duration::from_millis(100))
            .park_in_store_after(Duration::from_millis(500))
            .poll_interval(Duration::from_millis(20))
    })
    .await;
    let handle = engine
        .start(&engine.plan("waits").unwrap(), json!({ "n": 1 }))
        .await
        .unwrap();
    let id = handle.id();

    let waiting = until_node(&store, id, "wait", NodeStatus::Waiting).await;
    assert_eq!(
        waiting.output.as_deref(),
        Some(&json!({ "n": 2 })),
        "its output is kept"
    );
    let wakes = waiting.ended_at.expect("a waiting node records when its wait ends");
    assert!(wakes > Utc::now(), "its wait has not ended yet");
    // The node's record is written before the park lets the lease go: give the park its write
    // (bounded), as the other tests here do. After it, the engine's heartbeat does not hold it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.renew_owned("one", Duration::from_secs(30)).await.unwrap() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a parked execution is not leased to its engine"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nobody's: no claim takes it before it wakes.
    assert!(
        store
            .claim(id, "another", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "a parked execution is not claimed before it wakes"
    );
    assert_eq!(
        store.renew_owned("one", Duration::from_secs(30)).await.unwrap(),
        0,
        "a parked execution stays out of its engine's leases"
    );

    let record = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the parked execution went on when it woke")
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(record.output, Some(json!({ "n": 3 })));
    assert_eq!(record.node("wait").unwrap().status, NodeStatus::Completed);
    assert_eq!(runs(&calls, id), (1, 1), "no node ran twice: {:?}", calls.by_key());
    let kept = store.get(id).await.unwrap().unwrap();
    assert_eq!(kept.status, ExecutionStatus::Completed);
}

/// The engine that parked the execution goes; a worker of another engine (`later`: its store,
/// on the same file or database) takes it up when it wakes.
async fn a_worker_takes_up_a_parked_execution(store: Store, later: Store) {
    let calls = Calls::default();
    let wait = Duration::from_millis(1200);
    let tune = |b: EngineBuilder| {
        b.park_after(Duration::from_millis(100))
            .park_in_store_after(Duration::from_millis(500))
            .poll_interval(Duration::from_millis(20))
    };
    let first = engine(&store, "first", &calls, wait, tune).await;
    let handle = first
        .start(&first.plan("waits").unwrap(), json!({ "n": 5 }))
        .await
        .unwrap();
    let id = handle.id();
    until_node(&store, id, "wait", NodeStatus::Waiting).await;
    // Give the park its write, then let the first engine go: only the store holds it now.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.renew_owned("first", Duration::from_secs(30)).await.unwrap() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution never parked in the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(first);
    let orphaned = handle.wait().await.unwrap_err();
    assert_eq!(orphaned.kind(), aura_core::ErrorKind::Unavailable, "{orphaned}");

    let second = engine(&later, "second", &calls, wait, tune).await;
    let shutdown = CancellationToken::new();
    let working = tokio::spawn({
        let (second, shutdown) = (second.clone(), shutdown.clone());
        async move { second.work(shutdown).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let record = loop {
        let record = store.get(id).await.unwrap().unwrap();
        if record.status.is_finished() {
            break record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no worker took the execution up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    let report = working.await.unwrap().unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(report.ran, 1, "the worker ran the woken execution");
    assert_eq!(runs(&calls, id), (1, 1), "no node ran twice: {:?}", calls.by_key());
    let b_owners: Vec<String> = calls
        .by_key()
        .into_iter()
        .filter(|(key, _)| key.ends_with("/b"))
        .flat_map(|(_, owners)| owners)
        .collect();
    assert_eq!(b_owners, ["second"], "the node after the wait ran in the worker");
}

/// A cancel through the handle takes the parked execution up before it wakes, to end it.
async fn cancelling_a_parked_execution_ends_it_at_once(store: Store) {
    let calls = Calls::default();
    let engine = engine(&store, "one", &calls, Duration::from_secs(600), |b| {
        b.park_in_store_after(Duration::from_secs(1))
    })
    .await;
    let handle = engine
        .start(&engine.plan("waits").unwrap(), json!({ "n": 1 }))
        .await
        .unwrap();
    let id = handle.id();
    let waiting = until_node(&store, id, "wait", NodeStatus::Waiting).await;
    assert!(
        waiting.ended_at.unwrap() > Utc::now() + chrono::Duration::minutes(9),
        "the wait ends in ten minutes"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.renew_owned("one", Duration::from_secs(30)).await.unwrap() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the execution never parked in the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    handle.cancel();
    let record = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("a cancel does not wait for the wake")
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    assert_eq!(record.node("wait").unwrap().status, NodeStatus::Cancelled);
    assert!(record.node("b").is_none(), "nothing after the wait ran");
    assert_eq!(runs(&calls, id), (1, 0));
}

/// A process stopped while a node waited: the restarted engine waits out what was left.
async fn a_resumed_waiting_node_waits_out_only_what_was_left(store: Store) {
    let calls = Calls::default();
    let clock = ManualClock::new();
    // A delay of an hour, which a process stopped in after 59 minutes and 58 seconds.
    let engine = engine(&store, "restarted", &calls, Duration::from_secs(3600), |b| {
        b.clock(clock.shared())
    })
    .await;
    let id = Uuid::now_v7();
    let started = Utc::now() - chrono::Duration::minutes(60);
    let done = |node: &str, status: NodeStatus, output: serde_json::Value, ended| NodeResult {
        node_id: node.into(),
        item: None,
        status,
        input: Arc::new(json!({})),
        output: Some(Arc::new(output)),
        error: None,
        output_cleaned: false,
        attempts: 1,
        route: None,
        pinned: false,
        started_at: Some(started),
        ended_at: Some(ended),
    };
    let record = ExecutionRecord {
        id,
        scenario_id: "waits".into(),
        scenario_version: engine.plan("waits").unwrap().version(),
        trigger: Arc::new(json!({ "n": 7 })),
        trigger_cleaned: false,
        status: ExecutionStatus::Running,
        started_at: started,
        ended_at: None,
        nodes: Vec::new(),
        output: None,
        error: None,
        rerun_of: None,
    };
    store.create(&record).await.unwrap();
    store
        .save_node(id, &done("t", NodeStatus::Completed, json!({ "n": 7 }), started))
        .await
        .unwrap();
    store
        .save_node(id, &done("a", NodeStatus::Completed, json!({ "n": 8 }), started))
        .await
        .unwrap();
    let wakes = Utc::now() + chrono::Duration::seconds(2);
    store
        .save_node(id, &done("wait", NodeStatus::Waiting, json!({ "n": 8 }), wakes))
        .await
        .unwrap();

    let mut handles = engine.recover_all().await.unwrap();
    assert_eq!(handles.len(), 1);
    let handle = handles.pop().unwrap();
    // Two seconds were left: the engine's clock moves a second at a time, far less than the
    // hour a delay called again would wait.
    let ticking = tokio::spawn(async move {
        for _ in 0..600 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            clock.advance(Duration::from_secs(1));
        }
    });
    let record = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the resumed wait ended")
        .unwrap();
    ticking.abort();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    assert_eq!(record.output, Some(json!({ "n": 9 })), "b ran on a's recorded output");
    let wait = record.node("wait").unwrap();
    assert_eq!(wait.status, NodeStatus::Completed);
    assert_eq!(wait.started_at, Some(started), "the waiting node keeps its start");
    assert_eq!(
        runs(&calls, id),
        (0, 1),
        "only the node after the wait ran: {:?}",
        calls.by_key()
    );
}

/// `flaky.call`: its first `fails` calls answer 429 with `Retry-After: 1.5 s`, then it
/// returns `{ "ok": attempt }`; every call is counted.
#[derive(Clone)]
struct Flaky {
    fails: u32,
    calls: Arc<std::sync::atomic::AtomicU32>,
}

#[aura_core::async_trait]
impl aura_core::App for Flaky {
    fn manifest(&self) -> aura_core::AppManifest {
        aura_core::AppManifest::new("flaky", "Flaky", aura_core::semver::Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<aura_core::ActionDef> {
        let this = self.clone();
        vec![
            aura_core::ActionDef::from_json("call", json!(true), json!(true), move |cx, _v: serde_json::Value| {
                let this = this.clone();
                async move {
                    let n = this.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if n <= this.fails {
                        return Err(aura_core::Error::rate_limited(
                            "slow down",
                            Some(Duration::from_millis(1500)),
                        ));
                    }
                    Ok(json!({ "ok": cx.attempt() }))
                }
            })
            .idempotent(true),
        ]
    }
}

/// `trigger → call` (`flaky.call`, 3 retries).
fn retrying() -> Scenario {
    Scenario::builder("retries", "Retries")
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::action("call", "flaky.call").retry(aura_core::scenario::RetryPolicy::new(3)))
        .build()
}

async fn flaky_engine(store: &Store, fails: u32, tune: impl FnOnce(EngineBuilder) -> EngineBuilder) -> (Engine, Flaky) {
    let flaky = Flaky {
        fails,
        calls: Arc::default(),
    };
    let registry = Arc::new(aura_core::Registry::new());
    registry.register(flaky.clone()).unwrap();
    let engine = tune(Engine::builder(registry).store(store.clone()).owner("flaky")).build();
    engine.deploy(retrying()).await.unwrap();
    (engine, flaky)
}

/// A retry due after a long back-off (`Retry-After`) parks the execution in the store: the
/// node waits with its last error and attempts, and is called again when the retry is due.
async fn a_long_retry_back_off_parks_in_the_store(store: Store) {
    let (engine, flaky) = flaky_engine(&store, 1, |b| {
        b.park_after(Duration::from_millis(100))
            .park_in_store_after(Duration::from_millis(500))
            .poll_interval(Duration::from_millis(20))
    })
    .await;
    let handle = engine.start(&engine.plan("retries").unwrap(), json!({})).await.unwrap();
    let id = handle.id();
    let waiting = until_node(&store, id, "call", NodeStatus::Waiting).await;
    assert_eq!(waiting.attempts, 1);
    assert!(waiting.output.is_none(), "a parked retry has no output");
    assert_eq!(waiting.error.as_ref().map(|e| e.kind.as_str()), Some("rate_limited"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.renew_owned("flaky", Duration::from_secs(30)).await.unwrap() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry never parked in the store"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let record = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the retry ran when due")
        .unwrap();
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let call = record.node("call").unwrap();
    assert_eq!(call.attempts, 2, "the attempt before the park counts");
    assert!(call.error.is_none(), "the parked attempt's error is not the node's end");
    assert_eq!(call.output.as_deref(), Some(&json!({ "ok": 2 })));
    assert_eq!(flaky.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A process stopped while a retry was parked: the restarted engine calls the node again when
/// the retry is due, counting the attempts made before.
async fn a_resumed_parked_retry_runs_when_due(store: Store) {
    let clock = ManualClock::new();
    // In memory, on the engine's clock (a park in the store would wait real time).
    let (engine, flaky) = flaky_engine(&store, 0, |b| {
        b.clock(clock.shared()).park_in_store_after(Duration::MAX)
    })
    .await;
    let id = Uuid::now_v7();
    let started = Utc::now() - chrono::Duration::minutes(5);
    let record = ExecutionRecord {
        id,
        scenario_id: "retries".into(),
        scenario_version: engine.plan("retries").unwrap().version(),
        trigger: Arc::new(json!({})),
        trigger_cleaned: false,
        status: ExecutionStatus::Running,
        started_at: started,
        ended_at: None,
        nodes: Vec::new(),
        output: None,
        error: None,
        rerun_of: None,
    };
    store.create(&record).await.unwrap();
    let result = |node: &str, status, output: Option<serde_json::Value>, attempts, ended| NodeResult {
        node_id: node.into(),
        item: None,
        status,
        input: Arc::new(json!({})),
        output: output.map(Arc::new),
        error: None,
        output_cleaned: false,
        attempts,
        route: None,
        pinned: false,
        started_at: Some(started),
        ended_at: Some(ended),
    };
    store
        .save_node(id, &result("t", NodeStatus::Completed, Some(json!({})), 1, started))
        .await
        .unwrap();
    // Due in four minutes (within the max duration; far enough that a loaded machine does not
    // reach it in real time before the engine's clock does).
    let due = Utc::now() + chrono::Duration::minutes(4);
    store
        .save_node(id, &result("call", NodeStatus::Waiting, None, 2, due))
        .await
        .unwrap();

    let handle = engine.recover_all().await.unwrap().pop().expect("recovered");
    let record = tokio::time::timeout(Duration::from_secs(20), handle.wait())
        .await
        .expect("the retry ran")
        .unwrap();
    // The wait went on the engine's clock (a manual clock's sleep moves it to its end): the
    // call came after what was left of the back-off, about four minutes, had passed there.
    assert!(
        clock.now() >= Duration::from_secs(200),
        "the call did not wait for the retry to be due: the clock stands at {:?}",
        clock.now()
    );
    assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
    let call = record.node("call").unwrap();
    assert_eq!(call.attempts, 3, "two attempts before the stop, the third now");
    assert_eq!(call.output.as_deref(), Some(&json!({ "ok": 3 })));
    assert_eq!(
        flaky.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "called once, when due"
    );
}

#[cfg(feature = "store-sqlite")]
mod sqlite {
    use super::*;
    use aura_core::store::SqliteStore;

    async fn open(dir: &tempfile::TempDir) -> Store {
        Arc::new(SqliteStore::open(dir.path().join("aura.db")).await.unwrap())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_wait_leaves_memory_for_the_store_and_the_handle_follows_it_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        a_long_wait_leaves_memory_for_the_store(open(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_worker_of_another_engine_takes_up_a_parked_execution_when_it_wakes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir).await;
        a_worker_takes_up_a_parked_execution(store.clone(), store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cancelling_a_parked_execution_ends_it_without_waiting_for_its_wake() {
        let dir = tempfile::tempdir().unwrap();
        cancelling_a_parked_execution_ends_it_at_once(open(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resumed_waiting_node_waits_out_only_what_was_left_of_its_wait() {
        let dir = tempfile::tempdir().unwrap();
        a_resumed_waiting_node_waits_out_only_what_was_left(open(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_retry_back_off_parks_in_the_store_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        a_long_retry_back_off_parks_in_the_store(open(&dir).await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_resumed_parked_retry_runs_when_due_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        a_resumed_parked_retry_runs_when_due(open(&dir).await).await;
    }

    /// A restart of the process (the file opened again) ends every lease but not a park.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_parked_execution_stays_parked_when_the_file_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Calls::default();
        {
            let store = open(&dir).await;
            let engine = engine(&store, "one", &calls, Duration::from_secs(600), |b| {
                b.park_in_store_after(Duration::from_secs(1))
            })
            .await;
            let handle = engine
                .start(&engine.plan("waits").unwrap(), json!({ "n": 1 }))
                .await
                .unwrap();
            until_node(&store, handle.id(), "wait", NodeStatus::Waiting).await;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while store.renew_owned("one", Duration::from_secs(30)).await.unwrap() != 0 {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the execution never parked in the store"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(engine);
            assert_eq!(
                handle.wait().await.unwrap_err().kind(),
                aura_core::ErrorKind::Unavailable
            );
        }
        let store = open(&dir).await;
        let [record] = store.unfinished().await.unwrap().try_into().unwrap();
        assert!(
            store
                .claim(record.id, "restarted", Duration::from_secs(30))
                .await
                .unwrap()
                .is_none(),
            "still parked after the restart"
        );
        let engine = engine(&store, "restarted", &calls, Duration::from_secs(600), |b| b).await;
        assert!(
            engine.recover_all().await.unwrap().is_empty(),
            "recover_all leaves it parked"
        );
    }
}

#[cfg(feature = "store-postgres")]
mod postgres {
    use super::*;
    use postgres_schema::Schema;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_long_wait_leaves_memory_for_the_store_on_postgres() {
        let schema = Schema::new();
        a_long_wait_leaves_memory_for_the_store(Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_worker_of_another_process_takes_up_a_parked_execution_on_postgres() {
        let schema = Schema::new();
        a_worker_takes_up_a_parked_execution(Arc::new(schema.open().await), Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn cancelling_a_parked_execution_ends_it_at_once_on_postgres() {
        let schema = Schema::new();
        cancelling_a_parked_execution_ends_it_at_once(Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_long_retry_back_off_parks_in_the_store_on_postgres() {
        let schema = Schema::new();
        a_long_retry_back_off_parks_in_the_store(Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_resumed_parked_retry_runs_when_due_on_postgres() {
        let schema = Schema::new();
        a_resumed_parked_retry_runs_when_due(Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_resumed_waiting_node_waits_out_only_what_was_left_on_postgres() {
        let schema = Schema::new();
        a_resumed_waiting_node_waits_out_only_what_was_left(Arc::new(schema.open().await)).await;
    }
}
