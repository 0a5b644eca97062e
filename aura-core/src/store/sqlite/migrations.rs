//! The schema: embedded migrations, the `aura_schema` version table, and the checks that the
//! file is an SQLite database, is Aura's, and is not newer than this build.
//!
//! A file is Aura's when its header's `application_id` is [`APPLICATION_ID`] (`AURA`) and it
//! has the `aura_schema` table. A new, empty file becomes Aura's; any other file (another
//! program's database, a file that is not SQLite at all) is refused with
//! [`ErrorKind::InvalidDefinition`](crate::ErrorKind::InvalidDefinition) and left untouched.
//! Each migration runs in one transaction with the row that records it, so a crash never
//! leaves one half-applied.

use sqlx::{Row, SqliteConnection};

use super::error::{from_sqlx, sqlite_code};
use crate::error::{Error, Result};

/// `AURA` in ASCII, in the file header: marks a database as Aura's.
pub(super) const APPLICATION_ID: i64 = 0x4155_5241;

/// Every migration, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "executions and connections",
        include_str!("../../../migrations/sqlite/0001_executions_and_connections.sql"),
    ),
    (
        "trigger state, audit trail, deployed scenarios",
        include_str!("../../../migrations/sqlite/0002_trigger_state_audit_scenarios.sql"),
    ),
    (
        "the webhook outbox",
        include_str!("../../../migrations/sqlite/0003_webhook_outbox.sql"),
    ),
];

/// The newest schema version this build knows.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Checks the file and brings its schema up to [`latest`]. `path` names the file in errors.
pub(super) async fn prepare(conn: &mut SqliteConnection, path: &str) -> Result<()> {
    let not_sqlite = |e: sqlx::Error| {
        if sqlite_code(&e) == Some(26) {
            Error::invalid_definition(format!("{path} is not an SQLite database")).with_context("path", path.to_owned())
        } else {
            from_sqlx(e, "opening the store", "aura_schema").with_context("path", path.to_owned())
        }
    };
    let (app_id, tables) = identity(conn).await.map_err(not_sqlite)?;
    let fresh = app_id == 0 && tables == 0;
    if !fresh {
        check_ours(conn, app_id, path).await?;
    } else {
        // Only takes effect before the first table: lets prunes give space back.
        sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
            .execute(&mut *conn)
            .await
            .map_err(not_sqlite)?;
    }
    // Persistent in the file; readers and one writer then work at once.
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&mut *conn)
        .await
        .map_err(not_sqlite)?;

    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "migrating the store", "aura_schema"))?;
    let done = migrate(conn, path).await;
    let end = if done.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = sqlx::query(end).execute(&mut *conn).await;
    done?;
    ended.map_err(|e| from_sqlx(e, "migrating the store", "aura_schema"))?;
    Ok(())
}

/// The header's application id and how many tables the file has.
async fn identity(conn: &mut SqliteConnection) -> std::result::Result<(i64, i64), sqlx::Error> {
    let app_id: i64 = sqlx::query_scalar("PRAGMA application_id")
        .fetch_one(&mut *conn)
        .await?;
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
        .fetch_one(&mut *conn)
        .await?;
    Ok((app_id, tables))
}

async fn check_ours(conn: &mut SqliteConnection, app_id: i64, path: &str) -> Result<()> {
    let has_schema: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'aura_schema'")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| from_sqlx(e, "opening the store", "aura_schema"))?;
    if app_id != APPLICATION_ID || has_schema == 0 {
        return Err(Error::invalid_definition(format!(
            "{path} is an SQLite database of another program, not an Aura store: \
             give Aura a new file or one it created"
        ))
        .with_context("path", path.to_owned()));
    }
    Ok(())
}

/// Inside the migration transaction: re-checks (another process may have migrated since) and
/// applies what is missing.
async fn migrate(conn: &mut SqliteConnection, path: &str) -> Result<()> {
    let fail = |e: sqlx::Error| from_sqlx(e, "migrating the store", "aura_schema");
    let (app_id, tables) = identity(conn).await.map_err(fail)?;
    if !(app_id == 0 && tables == 0) {
        check_ours(conn, app_id, path).await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS aura_schema (version INTEGER PRIMARY KEY NOT NULL, \
         description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT",
    )
    .execute(&mut *conn)
    .await
    .map_err(fail)?;
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA application_id = {APPLICATION_ID}")))
        .execute(&mut *conn)
        .await
        .map_err(fail)?;
    let row = sqlx::query("SELECT coalesce(max(version), 0) AS v FROM aura_schema")
        .fetch_one(&mut *conn)
        .await
        .map_err(fail)?;
    let current: i64 = row.try_get("v").map_err(fail)?;
    if current > latest() {
        return Err(Error::conflict(format!(
            "{path} has schema version {current}, newer than this build of Aura knows (version {}): \
             it was written by a newer Aura; upgrade Aura to open it",
            latest()
        ))
        .with_context("path", path.to_owned()));
    }
    for (i, (description, sql)) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i as i64 + 1;
        sqlx::raw_sql(*sql).execute(&mut *conn).await.map_err(fail)?;
        sqlx::query("INSERT INTO aura_schema (version, description, applied_at) VALUES (?1, ?2, datetime('now'))")
            .bind(version)
            .bind(*description)
            .execute(&mut *conn)
            .await
            .map_err(fail)?;
    }
    Ok(())
}
