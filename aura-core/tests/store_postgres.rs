//! The PostgreSQL store: the behaviour suites (aura-testkit), durability across a reopen, two
//! stores (as two processes would be) racing for leases on one database, the schema checks,
//! and that the URL's password never shows.
//!
//! The tests that need a server are `#[ignore = "needs postgres: see .ci/run"]`: `.ci/run`
//! starts one and sets `AURA_TEST_POSTGRES_URL`; run them by hand with
//!
//! ```text
//! AURA_TEST_POSTGRES_URL=postgres://user:password@127.0.0.1:5432/db \
//!   cargo test -p aura-core --features store-postgres --test store_postgres -- --include-ignored
//! ```
//!
//! Without the variable they fail, saying so. Each test works in a schema of its own
//! (`aura_t_<uuid>`, dropped at its end), so they run in parallel on one database.

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::store::{ExecutionStatus, ExecutionStore, PageRequest, PostgresStore};
use aura_testkit::behavior::sealed::SealedFixture;
use aura_testkit::behavior::store::{StoreFixture, node, record};
use serde_json::json;
use sqlx::Connection;

mod postgres_schema;

use postgres_schema::Schema;

mod with_a_key {
    use super::*;

    aura_testkit::store_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            let store = schema.open().await;
            assert!(store.keeps_exact_payloads());
            StoreFixture::new(Arc::new(store))
                .keeps_exact(true)
                .parks(true)
                .guard(schema)
        }
    );
}

mod without_a_key {
    use super::*;

    aura_testkit::store_behavior!(#[ignore = "needs postgres: see .ci/run"] @each async {
        let schema = Schema::new();
        let store = schema.builder().open().await.unwrap();
        assert!(!store.keeps_exact_payloads());
        StoreFixture::new(Arc::new(store)).guard(schema)
    }; exact_payloads_are_kept_or_not_as_declared, create_then_get_round_trips);
}

mod sealed {
    use super::*;

    aura_testkit::sealed_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            SealedFixture::new(Arc::new(schema.open().await)).guard(schema)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn every_acknowledged_write_is_there_after_a_reopen() {
    let schema = Schema::new();
    let store = schema.open().await;
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
    store.close().await;
    let err = store.create(&record("late")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "a closed store says so: {err}");

    let again = schema.open().await;
    for id in &ids {
        let r = again.get(*id).await.unwrap().expect("an acknowledged create is there");
        assert_eq!(r.nodes.len(), 3, "every acknowledged node result is there");
    }
    assert_eq!(again.unfinished().await.unwrap().len(), 100);
    let all = again.list("durable", PageRequest::first(1000)).await.unwrap();
    assert_eq!(all.items.len(), 200);
}

/// Two stores on one database (as two engine processes would be) claiming the same execution
/// at the same moment, 50 times: exactly one wins each time, and the loser cannot renew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn two_stores_racing_for_a_claim_never_both_win() {
    let schema = Schema::new();
    let a = schema.open().await;
    let b = schema.open().await;
    let minute = Duration::from_secs(60);
    for round in 0..50 {
        let r = record("race");
        a.create(&r).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let (sa, sb) = (start.clone(), start);
        let (ca, cb) = (a.clone(), b.clone());
        let claim_a = tokio::spawn(async move {
            sa.wait().await;
            ca.claim(r.id, "process-a", minute).await
        });
        let claim_b = tokio::spawn(async move {
            sb.wait().await;
            cb.claim(r.id, "process-b", minute).await
        });
        let (got_a, got_b) = (claim_a.await.unwrap().unwrap(), claim_b.await.unwrap().unwrap());
        let winners: Vec<_> = [got_a, got_b].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one claim wins: {winners:?}");
        let winner = &winners[0];
        let mut loser = winner.clone();
        loser.owner = if winner.owner == "process-a" {
            "process-b"
        } else {
            "process-a"
        }
        .to_owned();
        assert_eq!(
            a.renew(&loser, minute).await.unwrap(),
            None,
            "round {round}: the loser holds nothing"
        );
        assert!(
            b.renew(winner, minute).await.unwrap().is_some(),
            "round {round}: the winner holds it"
        );
    }
}

/// A lease that expired (its holder died) is taken by another process; the old holder then
/// cannot renew it. Both processes see the execution as unfinished meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn another_process_takes_over_an_expired_lease() {
    let schema = Schema::new();
    let a = schema.open().await;
    let b = schema.open().await;
    let r = record("takeover");
    a.create(&r).await.unwrap();
    a.save_node(r.id, &node("first", None, json!(1))).await.unwrap();
    let seen_by_b = b.unfinished().await.unwrap();
    assert_eq!(seen_by_b.iter().map(|u| u.id).collect::<Vec<_>>(), [r.id]);
    assert_eq!(seen_by_b[0].nodes.len(), 1, "with its checkpoint");

    let held = a
        .claim(r.id, "process-a", Duration::from_millis(200))
        .await
        .unwrap()
        .expect("a claims");
    assert_eq!(b.claim(r.id, "process-b", Duration::from_secs(60)).await.unwrap(), None);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = b
        .claim(r.id, "process-b", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("b takes the expired lease");
    assert_eq!(taken.owner, "process-b");
    assert!(taken.until > held.until);
    assert_eq!(
        a.renew(&held, Duration::from_secs(60)).await.unwrap(),
        None,
        "a lost it"
    );
    assert_eq!(
        a.claim(r.id, "process-a", Duration::from_secs(60)).await.unwrap(),
        None,
        "b's lease lives"
    );
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn a_schema_newer_than_this_build_is_refused_naming_both_versions() {
    let schema = Schema::new();
    schema.open().await.close().await;
    let mut conn = schema.raw().await;
    sqlx::query("INSERT INTO aura_schema (version, description) VALUES (99, 'from the future')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = schema.open_err().await;
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let message = err.to_string();
    assert!(message.contains("version 99"), "{message}");
    assert!(
        message.contains(&format!("version {}", PostgresStore::schema_version())),
        "{message}"
    );
}

impl Schema {
    async fn open_err(&self) -> aura_core::Error {
        self.builder().open().await.expect_err("the store refuses to open")
    }
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn opening_again_applies_nothing_twice() {
    let schema = Schema::new();
    // Two at once, as two processes starting together: the migration lock orders them.
    let (one, two) = tokio::join!(schema.open(), schema.open());
    one.close().await;
    two.close().await;
    schema.open().await.close().await;
    let mut conn = schema.raw().await;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM aura_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, (1..=PostgresStore::schema_version()).collect::<Vec<_>>());
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn another_programs_tables_are_refused_and_left_alone() {
    let schema = Schema::new();
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA {0}; CREATE TABLE {0}.executions (id int PRIMARY KEY, total real)",
        schema.name
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    let err = schema.open_err().await;
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
    let tables: Vec<String> = sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = $1")
        .bind(&schema.name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, ["executions"], "nothing was added");
}

// ---------------------------------------------------------------------------------------------
// The password never shows
// ---------------------------------------------------------------------------------------------

/// `url` with its password replaced by `password`.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (userinfo, host) = rest.rsplit_once('@').unwrap_or(("aura", rest));
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    format!("{scheme}://{user}:{password}@{host}")
}

fn canary() -> String {
    format!("canary-pw-{}", uuid::Uuid::new_v4().simple())
}

fn assert_hidden(what: &str, shown: &str, canary: &str) {
    assert!(!shown.contains(canary), "{what} shows the password: {shown}");
    assert!(!shown.contains("canary-pw"), "{what} shows the password: {shown}");
}

/// No server needed: a refused connection, a URL that does not parse, and `Debug`.
#[tokio::test]
async fn the_password_never_shows_in_debug_or_a_failed_connect() {
    let canary = canary();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let url = format!("postgres://aura:{canary}@127.0.0.1:1/aura_db");
    let builder = PostgresStore::builder(url.clone()).schema("aura");
    let shown = format!("{builder:?}");
    assert_hidden("the builder's Debug", &shown, &canary);
    assert!(
        shown.contains("127.0.0.1") && shown.contains("aura_db"),
        "Debug names host and database: {shown}"
    );

    let err = builder
        .acquire_timeout(Duration::from_secs(5))
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable(), "a refused connection may succeed later: {err}");
    assert_hidden("the error", &err.to_string(), &canary);
    assert_hidden("the error's Debug", &format!("{err:?}"), &canary);
    assert!(
        err.to_string().contains("127.0.0.1:1/aura_db"),
        "names the database: {err}"
    );

    let bad = format!("postgres://aura:{canary}@[not a host/db");
    let err = PostgresStore::builder(bad).open().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{err}");
    assert_hidden("the parse error", &format!("{err} {err:?}"), &canary);
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn the_password_never_shows_in_a_refused_login_or_the_store() {
    let schema = Schema::new();
    let canary = canary();
    let err = PostgresStore::builder(with_password(&schema.url, &canary))
        .open()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(!err.is_retryable(), "{err}");
    assert_hidden("the error", &format!("{err} {err:?}"), &canary);

    let store = schema.open().await;
    let password = schema
        .url
        .rsplit_once('@')
        .and_then(|(userinfo, _)| userinfo.rsplit_once(':'))
        .map(|(_, password)| password.to_owned())
        .expect("the test URL has a password");
    let shown = format!("{store:?}");
    assert!(
        !shown.contains(&password),
        "the store's Debug shows the password: {shown}"
    );
    assert!(shown.contains(&schema.name), "{shown}");
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

    fn engine(store: PostgresStore, owner: &str, first: &MockAction, second: &MockAction) -> Engine {
        let registry = Arc::new(Registry::new());
        registry
            .register(MockApp::new("svc").action(first.clone()).action(second.clone()))
            .unwrap();
        Engine::builder(registry).store(Arc::new(store)).owner(owner).build()
    }

    /// What the database holds after a crash: the execution running, `t` and `first` done.
    fn interrupted() -> ExecutionRecord {
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
        record
    }

    /// Two engine processes starting at once on one database, each recovering what it can:
    /// every interrupted execution is resumed exactly once, from its checkpoint.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn two_engines_recovering_at_once_resume_each_execution_once() {
        let schema = Schema::new();
        let seed = schema.open().await;
        let mut ids = Vec::new();
        for _ in 0..10 {
            let record = interrupted();
            seed.create(&record).await.unwrap();
            ids.push(record.id);
        }
        let (first, second) = (
            MockAction::new("first").returns(json!({"a": 1})),
            MockAction::new("second"),
        );
        let a = engine(schema.open().await, "process-a", &first, &second);
        let b = engine(schema.open().await, "process-b", &first, &second);
        a.deploy(scenario()).await.unwrap();
        b.deploy(scenario()).await.unwrap();
        let (from_a, from_b) = tokio::join!(a.recover_all(), b.recover_all());
        let handles: Vec<_> = from_a.unwrap().into_iter().chain(from_b.unwrap()).collect();
        assert_eq!(handles.len(), ids.len(), "each execution is recovered by one engine");
        for handle in handles {
            let done = handle.wait().await.unwrap();
            assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.error);
        }
        assert_eq!(first.call_count(), 0, "the checkpointed node did not run again");
        assert_eq!(
            second.call_count() as usize,
            ids.len(),
            "the rest ran once per execution"
        );
        assert!(seed.unfinished().await.unwrap().is_empty());
        for id in ids {
            assert_eq!(seed.get(id).await.unwrap().unwrap().status, ExecutionStatus::Completed);
        }
    }
}

/// The group-commit writer: many executions' writes share transactions, every answered write
/// is committed, and a bad write in a batch fails only its own caller.
mod group_commit {
    use aura_core::Registry;
    use aura_core::engine::Engine;
    use aura_core::scenario::{NodeBuilder, Scenario};
    use aura_testkit::{MockAction, MockApp};

    use super::*;

    fn scenario() -> Scenario {
        Scenario::builder("chain", "Chain")
            .node(NodeBuilder::trigger("t").next(["a"]))
            .node(NodeBuilder::action("a", "svc.a").next(["b"]))
            .node(NodeBuilder::action("b", "svc.b").next(["c"]))
            .node(NodeBuilder::action("c", "svc.c"))
            .build()
    }

    /// A store whose one writer waits a little for more writes: writes sent together share a
    /// batch (the outcome asserted does not depend on whether they did).
    async fn batching(schema: &Schema) -> PostgresStore {
        schema
            .builder()
            .writers(1)
            .max_batch(512)
            .commit_window(Duration::from_millis(20))
            .open()
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn many_concurrent_executions_are_all_durable_and_complete() {
        let schema = Schema::new();
        let store = schema.builder().max_batch(64).open().await.unwrap();
        let registry = Arc::new(Registry::new());
        let (a, b, c) = (MockAction::new("a"), MockAction::new("b"), MockAction::new("c"));
        registry
            .register(
                MockApp::new("svc")
                    .action(a.clone())
                    .action(b.clone())
                    .action(c.clone()),
            )
            .unwrap();
        let engine = Engine::builder(registry).store(Arc::new(store.clone())).build();
        let plan = engine.deploy(scenario()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..400 {
            let (engine, plan) = (engine.clone(), plan.clone());
            tasks.spawn(async move {
                let handle = engine.start(&plan, json!({ "i": i })).await.unwrap();
                handle.wait().await.unwrap()
            });
        }
        let mut ids = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let record = done.unwrap();
            assert_eq!(record.status, ExecutionStatus::Completed, "{:?}", record.error);
            ids.push(record.id);
        }
        assert_eq!(a.call_count(), 400);
        store.close().await;

        let again = schema.open().await;
        for id in &ids {
            let record = again.get(*id).await.unwrap().expect("an accepted execution is stored");
            assert_eq!(record.status, ExecutionStatus::Completed);
            let nodes: Vec<&str> = record.nodes.iter().map(|n| &*n.node_id).collect();
            assert_eq!(
                nodes,
                ["t", "a", "b", "c"],
                "every checkpoint, in the order the nodes ran"
            );
        }
        assert!(again.unfinished().await.unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn an_unknown_execution_or_a_duplicate_id_in_a_batch_fails_only_its_caller() {
        let schema = Schema::new();
        let store = batching(&schema).await;
        let existing = record("batch");
        store.create(&existing).await.unwrap();
        let good: Vec<_> = (0..20).map(|_| record("batch")).collect();
        let unknown = uuid::Uuid::now_v7();

        let (early, first, second) = (
            node("early", None, json!(1)),
            node("n", None, json!(1)),
            node("n", None, json!(2)),
        );
        let creates = futures::future::join_all(good.iter().map(|r| store.create(r)));
        // Sent with the creates: each may find its execution created or not yet, never fails
        // any other write.
        let saves = futures::future::join_all(good.iter().map(|r| store.save_node(r.id, &early)));
        let mut finished_unknown = record("batch");
        finished_unknown.id = unknown;
        finished_unknown.status = ExecutionStatus::Completed;
        let (created, _, duplicate, orphan, finish_unknown, existing_node) = tokio::join!(
            creates,
            saves,
            store.create(&existing),
            store.save_node(unknown, &first),
            store.finish(&finished_unknown),
            store.save_node(existing.id, &second),
        );
        assert!(created.iter().all(Result::is_ok), "the good creates: {created:?}");
        assert_eq!(duplicate.unwrap_err().kind(), ErrorKind::Conflict, "the duplicate id");
        let orphan = orphan.unwrap_err();
        assert_eq!(orphan.kind(), ErrorKind::NotFound, "{orphan}");
        assert_eq!(orphan.context_value("execution"), Some(unknown.to_string().as_str()));
        assert_eq!(finish_unknown.unwrap_err().kind(), ErrorKind::NotFound);
        existing_node.unwrap();

        for r in &good {
            let stored = store.get(r.id).await.unwrap().expect("a good create is committed");
            assert_eq!(stored.status, ExecutionStatus::Running);
            assert!(stored.nodes.len() <= 1);
        }
        let stored = store.get(existing.id).await.unwrap().unwrap();
        assert_eq!(
            stored.nodes.len(),
            1,
            "the good node result beside the bad ones is committed"
        );
        assert!(
            store.get(unknown).await.unwrap().is_none(),
            "nothing of the bad writes is kept"
        );
    }

    /// A write that passes the checks but that PostgreSQL refuses (a node id with a NUL byte,
    /// which `text` cannot hold) fails the batch's transaction: the batch is tried again write
    /// by write, so only that write fails and every other is committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_write_the_server_refuses_fails_only_its_caller() {
        let schema = Schema::new();
        let store = batching(&schema).await;
        let records: Vec<_> = (0..10).map(|_| record("refused")).collect();
        for r in &records {
            store.create(r).await.unwrap();
        }
        let (fine, refused) = (node("fine", None, json!(1)), node("bad\0id", None, json!(1)));
        let good = futures::future::join_all(records.iter().map(|r| store.save_node(r.id, &fine)));
        let bad = store.save_node(records[0].id, &refused);
        let (good, bad) = tokio::join!(good, bad);
        assert!(good.iter().all(Result::is_ok), "the good writes: {good:?}");
        let bad = bad.unwrap_err();
        assert_eq!(bad.context_value("table"), Some("node_results"), "{bad}");
        for r in &records {
            let stored = store.get(r.id).await.unwrap().unwrap();
            let nodes: Vec<&str> = stored.nodes.iter().map(|n| &*n.node_id).collect();
            assert_eq!(nodes, ["fine"]);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn leases_go_through_the_writer_with_the_same_answers() {
        let schema = Schema::new();
        let (one, two) = (batching(&schema).await, batching(&schema).await);
        let r = record("leased");
        one.create(&r).await.unwrap();
        let (a, b) = tokio::join!(
            one.claim(r.id, "one", Duration::from_secs(60)),
            two.claim(r.id, "two", Duration::from_secs(60)),
        );
        let (won, lost) = match (a.unwrap(), b.unwrap()) {
            (Some(lease), None) => (lease, &two),
            (None, Some(lease)) => (lease, &one),
            other => panic!("exactly one claim wins: {other:?}"),
        };
        let winner = if won.owner == "one" { &one } else { &two };
        let renewed = winner.renew(&won, Duration::from_secs(120)).await.unwrap();
        assert!(renewed.is_some_and(|l| l.until > won.until));
        winner.release(&won).await.unwrap();
        let owner = if won.owner == "one" { "two" } else { "one" };
        assert!(
            lost.claim(r.id, owner, Duration::from_secs(60))
                .await
                .unwrap()
                .is_some()
        );
        let missing = one
            .claim(uuid::Uuid::now_v7(), "one", Duration::from_secs(1))
            .await
            .unwrap();
        assert!(missing.is_none(), "an unknown execution is not claimed");
    }
}

mod rates {
    use super::*;
    use aura_testkit::behavior::rates;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn rate_limits_space_calls_per_key() {
        let schema = Schema::new();
        rates::rate_limits_space_calls_per_key(Arc::new(schema.open().await)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn concurrent_takes_never_exceed_the_limit() {
        let schema = Schema::new();
        rates::concurrent_takes_never_exceed_the_limit(Arc::new(schema.open().await)).await;
    }
}
