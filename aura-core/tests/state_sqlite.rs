//! Trigger state, the audit trail and deployed scenarios in the SQLite store: the behaviour
//! suites (aura-testkit), the secret never in the file, deployed scenarios across a restart,
//! and the upgrade of a version-1 file.

#![cfg(feature = "store-sqlite")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "state_common/mod.rs"]
mod common;

use std::sync::Arc;

use aura_core::store::{
    Arrival, AuditLog, ExecutionStatus, ExecutionStore, PollCommit, SqliteStore, TriggerKey, TriggerStateStore,
};
use aura_testkit::behavior::audit::AuditFixture;
use aura_testkit::behavior::scenarios::ScenarioFixture;
use aura_testkit::behavior::store::record;
use aura_testkit::behavior::triggers::TriggerFixture;
use serde_json::json;
use tempfile::TempDir;

async fn open_in(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("aura.db")).await.unwrap()
}

mod triggers {
    use super::*;

    aura_testkit::trigger_state_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        TriggerFixture::new(Arc::new(open_in(&dir).await)).guard(dir)
    });
}

mod outbox {
    use super::*;
    use aura_testkit::behavior::outbox::OutboxFixture;

    aura_testkit::outbox_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        OutboxFixture::new(Arc::new(open_in(&dir).await)).guard(dir)
    });
}

mod audit {
    use super::*;

    aura_testkit::audit_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        AuditFixture::new(Arc::new(open_in(&dir).await)).guard(dir)
    });
}

mod scenarios {
    use super::*;

    aura_testkit::scenario_store_behavior!(async {
        let dir = tempfile::tempdir().unwrap();
        ScenarioFixture::new(Arc::new(open_in(&dir).await)).guard(dir)
    });
}

/// The file's bytes (and its write-ahead log's): what anyone with the disk could read.
fn file_bytes(dir: &TempDir) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["aura.db", "aura.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            bytes.extend(b);
        }
    }
    bytes
}

/// One file holds the sealed connections and the audit trail of their life: the secret is in
/// neither, in no encoding, read back through the store or from the raw file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_a_connections_life_and_never_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    let trail = common::audited_lifecycle(store.clone(), Arc::new(store.clone()) as Arc<dyn AuditLog>).await;
    assert_eq!(trail.len(), 6);
    store.close().await;
    let bytes = file_bytes(&dir);
    assert!(
        bytes
            .windows(b"credentials_replaced".len())
            .any(|w| w == b"credentials_replaced"),
        "the trail is in the file (so the search below looks at the right bytes)"
    );
    common::assert_no_canary(&bytes, "the SQLite file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_run_the_recorded_version() {
    let dir = tempfile::tempdir().unwrap();
    common::reruns_run_the_recorded_version(Arc::new(open_in(&dir).await)).await;
}

/// A process stops after deploying and while an execution runs; a new one on the same file
/// deploys the scenarios again (`load_deployed`) and recovers the execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_engine_loads_its_scenarios_and_recovers() {
    use aura_core::scenario::{NodeBuilder, Scenario};
    use aura_testkit::MockAction;

    let dir = tempfile::tempdir().unwrap();
    let call = MockAction::new("call").returns(json!({ "ok": true }));
    let store = Arc::new(open_in(&dir).await);
    let engine = common::engine(store.clone(), &call);
    let scenario = Scenario::builder("pair", "Pair")
        .version(5)
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::action("call", "svc.call"))
        .build();
    engine.deploy(scenario).await.unwrap();
    // What the file holds after a crash: an execution of version 5, running, nothing done.
    let mut interrupted = record("pair");
    interrupted.scenario_version = 5;
    interrupted.trigger = Arc::new(json!({ "x": 1 }));
    store.create(&interrupted).await.unwrap();
    drop(engine);
    store.close().await;

    let store = Arc::new(open_in(&dir).await);
    let engine = common::engine(store.clone(), &call);
    assert_eq!(engine.load_deployed().await.unwrap().len(), 1);
    let mut handles = engine.recover_all().await.unwrap();
    assert_eq!(handles.len(), 1);
    let done = handles.pop().unwrap().wait().await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Completed, "{:?}", done.error);
    assert_eq!(done.scenario_version, 5);
    assert_eq!(call.call_count(), 1);
}

/// A poll committed, then the process stops: after a reopen the cursor, the dedupe keys and
/// the executions are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_poll_is_there_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_in(&dir).await;
    let key = TriggerKey::new("s", "poll");
    let now = chrono::Utc::now();
    let commit = PollCommit {
        key: key.clone(),
        cursor: Some(json!({ "after": "k2" })),
        items: ["k1", "k2"].into_iter().map(|k| Arrival::new(k, record("s"))).collect(),
        expires_at: now + chrono::Duration::hours(1),
        now,
    };
    assert_eq!(store.commit_poll(&commit).await.unwrap().new, [true, true]);
    drop(store); // as a crashed process leaves it

    let again = open_in(&dir).await;
    assert_eq!(again.cursor(&key).await.unwrap(), Some(json!({ "after": "k2" })));
    for item in &commit.items {
        assert!(again.get(item.execution.id).await.unwrap().is_some());
    }
    let seen = again
        .remember(
            &key,
            &["k1".to_owned(), "k2".to_owned()],
            now + chrono::Duration::hours(1),
            now,
        )
        .await
        .unwrap();
    assert_eq!(seen, [false, false], "the dedupe keys were kept with the executions");
}

/// A file Aura wrote at schema version 1 opens, is upgraded to the latest version in place
/// (its data kept), and holds trigger state afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_is_upgraded_to_the_latest_version() {
    use sqlx::{ConnectOptions, Connection};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aura.db");
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0001_executions_and_connections.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE aura_schema (version INTEGER PRIMARY KEY NOT NULL, description TEXT NOT NULL, \
         applied_at TEXT NOT NULL) STRICT; \
         INSERT INTO aura_schema VALUES (1, 'executions and connections', datetime('now')); \
         INSERT INTO executions (id, scenario_id, scenario_version, status, trigger, trigger_cleaned, started_at) \
         VALUES ('0190a0e0-0000-7000-8000-000000000001', 'old', 1, 'running', '{}', 0, 1);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // `AURA`, as Aura marks its files.
    sqlx::query("PRAGMA application_id = 1096110657")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    assert_eq!(SqliteStore::schema_version(), 3);
    let store = SqliteStore::open(&path).await.unwrap();
    let old = uuid::Uuid::parse_str("0190a0e0-0000-7000-8000-000000000001").unwrap();
    assert!(store.get(old).await.unwrap().is_some(), "version 1's data is kept");
    let key = TriggerKey::new("s", "poll");
    store.set_cursor(&key, &json!(1)).await.unwrap();
    assert_eq!(store.cursor(&key).await.unwrap(), Some(json!(1)));
    store.close().await;

    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM aura_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, [1, 2, 3], "each later version recorded once, in order");
}
