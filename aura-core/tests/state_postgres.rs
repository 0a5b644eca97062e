//! Trigger state, the audit trail and deployed scenarios in the PostgreSQL store: the
//! behaviour suites (aura-testkit), the audit trail of a connection's life, versioned re-runs,
//! and the upgrade of a version-1 schema.
//!
//! Every test needs a server (`AURA_TEST_POSTGRES_URL`, which `.ci/run` sets) and is
//! `#[ignore = "needs postgres: see .ci/run"]`; each works in a schema of its own, dropped at
//! its end. Run them with
//!
//! ```text
//! AURA_TEST_POSTGRES_URL=postgres://user:password@127.0.0.1:5432/db \
//!   cargo test -p aura-core --features store-postgres --test state_postgres -- --include-ignored
//! ```

#![cfg(feature = "store-postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "state_common/mod.rs"]
mod common;

use std::sync::Arc;

use aura_core::store::{AuditLog, PostgresStore, TriggerKey, TriggerStateStore};
use aura_testkit::behavior::audit::AuditFixture;
use aura_testkit::behavior::scenarios::ScenarioFixture;
use aura_testkit::behavior::triggers::TriggerFixture;
use serde_json::json;

mod postgres_schema;

use postgres_schema::Schema;

mod triggers {
    use super::*;

    aura_testkit::trigger_state_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            TriggerFixture::new(Arc::new(schema.open().await)).guard(schema)
        }
    );
}

mod outbox {
    use super::*;
    use aura_testkit::behavior::outbox::OutboxFixture;

    aura_testkit::outbox_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            OutboxFixture::new(Arc::new(schema.open().await)).guard(schema)
        }
    );
}

mod audit {
    use super::*;

    aura_testkit::audit_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            AuditFixture::new(Arc::new(schema.open().await)).guard(schema)
        }
    );
}

mod scenarios {
    use super::*;

    aura_testkit::scenario_store_behavior!(
        #[ignore = "needs postgres: see .ci/run"]
        async {
            let schema = Schema::new();
            ScenarioFixture::new(Arc::new(schema.open().await)).guard(schema)
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn the_audit_trail_records_a_connections_life_and_never_its_secret() {
    let schema = Schema::new();
    let store = schema.open().await;
    common::audited_lifecycle(store.clone(), Arc::new(store.clone()) as Arc<dyn AuditLog>).await;
    // What the database holds, as text: every row of the trail (the connection is deleted).
    let mut conn = schema.raw().await;
    for table in ["audit_log"] {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT t::text FROM {table} AS t")))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(!rows.is_empty(), "{table} has rows");
        common::assert_no_canary(rows.concat().as_bytes(), table);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn reruns_run_the_recorded_version() {
    let schema = Schema::new();
    common::reruns_run_the_recorded_version(Arc::new(schema.open().await)).await;
}

/// A schema Aura migrated to version 1 is upgraded to the latest version in place, its data
/// kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs postgres: see .ci/run"]
async fn a_version_1_schema_is_upgraded_to_the_latest_version() {
    let schema = Schema::new();
    let mut conn = schema.raw().await;
    sqlx::raw_sql(include_str!(
        "../migrations/postgres/0001_executions_and_connections.sql"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE aura_schema (version bigint PRIMARY KEY, description text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now()); \
         INSERT INTO aura_schema (version, description) VALUES (1, 'executions and connections'); \
         INSERT INTO executions (id, scenario_id, scenario_version, status, trigger, trigger_cleaned, started_at) \
         VALUES ('0190a0e0-0000-7000-8000-000000000001', 'old', 1, 'running', '{}', false, 1);",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    assert_eq!(PostgresStore::schema_version(), 5);
    let store = schema.open().await;
    let old = uuid::Uuid::parse_str("0190a0e0-0000-7000-8000-000000000001").unwrap();
    use aura_core::store::ExecutionStore;
    assert!(store.get(old).await.unwrap().is_some(), "version 1's data is kept");
    let key = TriggerKey::new("s", "poll");
    store.set_cursor(&key, &json!(1)).await.unwrap();
    assert_eq!(store.cursor(&key).await.unwrap(), Some(json!(1)));
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM aura_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, [1, 2, 3, 4, 5], "each later version recorded once, in order");
}
