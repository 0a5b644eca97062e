//! Unit tests of the SQLite store: the file checks and the migrations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use super::SqliteStore;
use crate::ErrorKind;

async fn raw(path: &std::path::Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_schema_newer_than_this_build_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aura.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    sqlx::query("INSERT INTO aura_schema (version, description, applied_at) VALUES (99, 'future', 'now')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let message = err.to_string();
    assert!(message.contains("99"), "{message}");
    assert!(
        message.contains(&format!("version {}", SqliteStore::schema_version())),
        "{message}"
    );
}

#[tokio::test]
async fn another_programs_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.db");
    let mut conn = raw(&path).await;
    sqlx::query("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition, "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
    let mut conn = raw(&path).await;
    let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(tables, ["invoices"], "nothing was added to it");
}

#[tokio::test]
async fn opening_again_applies_nothing_twice_and_keeps_durable_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aura.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw(&path).await;
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM aura_schema ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(versions, (1..=SqliteStore::schema_version()).collect::<Vec<_>>());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let vacuum: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(vacuum, 2, "incremental");
}

#[test]
fn the_writer_errors_never_quote_values() {
    let e = super::error::from_sqlx(sqlx::Error::Protocol("secret-value".into()), "saving", "node_results");
    assert!(!e.to_string().contains("secret-value"), "{e}");
    assert_eq!(e.context_value("table"), Some("node_results"));
}
