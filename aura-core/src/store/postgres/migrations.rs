//! The schema: embedded migrations, the `aura_schema` version table, and the checks that the
//! schema is Aura's and not newer than this build.
//!
//! Everything runs in one transaction holding a transaction-level advisory lock, so that
//! processes starting at once migrate one after the other (the later ones find the work
//! done), and a failure (or a crash) leaves no migration half-applied: PostgreSQL's DDL is
//! transactional.

use sqlx::{PgConnection, Row};

use super::error::from_sqlx;
use crate::error::{Error, Result};

/// The advisory lock migrations hold: `AURASCHE` in ASCII.
const MIGRATION_LOCK: i64 = 0x4155_5241_5343_4845;

/// Every migration, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "executions and connections",
        include_str!("../../../migrations/postgres/0001_executions_and_connections.sql"),
    ),
    (
        "trigger state, audit trail, deployed scenarios",
        include_str!("../../../migrations/postgres/0002_trigger_state_audit_scenarios.sql"),
    ),
    (
        "the shared queue: fencing tokens on leases",
        include_str!("../../../migrations/postgres/0003_queue.sql"),
    ),
    (
        "limits across processes: live leases indexed, shared rate limits",
        include_str!("../../../migrations/postgres/0004_limits.sql"),
    ),
    (
        "the webhook outbox",
        include_str!("../../../migrations/postgres/0005_webhook_outbox.sql"),
    ),
];

/// The tables of the schema: a schema holding one of them but no `aura_schema` is another
/// program's.
const TABLES: &[&str] = &[
    "executions",
    "node_results",
    "exact_payloads",
    "leases",
    "connections",
    "trigger_cursors",
    "dedupe_keys",
    "audit_log",
    "scenarios",
    "rate_limits",
    "webhook_outbox",
];

/// The newest schema version this build knows.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Creates `schema` (when given) and brings the store's schema up to [`latest`]. `target`
/// names the database in errors (host, port, database: never the password).
pub(super) async fn prepare(conn: &mut PgConnection, schema: Option<&str>, target: &str) -> Result<()> {
    let fail = |e: sqlx::Error| from_sqlx(e, "migrating the store", "aura_schema").with_context("database", target);
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(fail)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
    if let Some(schema) = schema {
        // The name was checked (lowercase letters, digits, `_`): quoting it is safe.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    let row = sqlx::query(
        "SELECT current_schema() AS schema, to_regclass('aura_schema') IS NOT NULL AS versioned, \
         (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1)) AS ours",
    )
    .bind(TABLES)
    .fetch_one(&mut *tx)
    .await
    .map_err(fail)?;
    let in_schema: Option<String> = row.try_get("schema").map_err(fail)?;
    let Some(in_schema) = in_schema else {
        return Err(Error::invalid_definition(
            "the PostgreSQL connection's search_path names no schema that exists: \
             give the store a schema (PostgresStoreBuilder::schema) or fix the role's search_path",
        )
        .with_context("database", target));
    };
    let versioned: bool = row.try_get("versioned").map_err(fail)?;
    let ours: i64 = row.try_get("ours").map_err(fail)?;
    if !versioned && ours > 0 {
        return Err(Error::invalid_definition(format!(
            "schema {in_schema} of {target} holds tables named like Aura's but no aura_schema table: \
             it belongs to another program; give the store another schema"
        ))
        .with_context("database", target)
        .with_context("schema", in_schema));
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS aura_schema (version bigint PRIMARY KEY, description text NOT NULL, \
         applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await
    .map_err(fail)?;
    let current: i64 = sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM aura_schema")
        .fetch_one(&mut *tx)
        .await
        .map_err(fail)?;
    if current > latest() {
        return Err(Error::conflict(format!(
            "schema {in_schema} of {target} has schema version {current}, newer than this build of Aura \
             knows (version {}): it was written by a newer Aura; upgrade Aura to open it",
            latest()
        ))
        .with_context("database", target)
        .with_context("schema", in_schema));
    }
    for (i, (description, sql)) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i as i64 + 1;
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query("INSERT INTO aura_schema (version, description) VALUES ($1, $2)")
            .bind(version)
            .bind(*description)
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)?;
    Ok(())
}
