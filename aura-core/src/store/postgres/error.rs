//! sqlx errors as Aura's [`Error`], in one place, and the bounded retry of the failures that
//! only mean "try again" (serialization failures, deadlocks).
//!
//! A message names what failed (the operation, the table) and never quotes a bound value nor
//! the connection URL: PostgreSQL's own message is kept only for the classes whose messages
//! name objects, not values (connection, authentication, constraints, resources), and never
//! its `DETAIL` (which quotes the key of a violated constraint). sqlx's configuration and
//! decode errors are reduced to what failed.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// How many times a statement is tried when PostgreSQL answers a serialization failure or a
/// deadlock (both roll the transaction back and ask for it to be run again).
const TRIES: u32 = 5;

/// SQLSTATE codes this module tells apart.
mod sqlstate {
    pub(super) const SERIALIZATION_FAILURE: &str = "40001";
    pub(super) const DEADLOCK_DETECTED: &str = "40P01";
    pub(super) const FOREIGN_KEY_VIOLATION: &str = "23503";
    pub(super) const UNIQUE_VIOLATION: &str = "23505";
    pub(super) const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub(super) const DISK_FULL: &str = "53100";
    pub(super) const READ_ONLY_TRANSACTION: &str = "25006";
}

/// The SQLSTATE of an error, if PostgreSQL sent one.
pub(super) fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether PostgreSQL asks for the transaction to be run again.
fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        sqlstate(e).as_deref(),
        Some(sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED)
    )
}

/// Whether the server could not be reached (no connection, a connection that broke, a server
/// shutting down or starting): a transaction that failed so before its `COMMIT` changed
/// nothing and can be run again once the server is back.
pub(super) fn is_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(_) => matches!(
            sqlstate(e).as_deref(),
            Some(code) if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
        ),
        _ => false,
    }
}

/// Runs `attempt` again (with a short back-off) while PostgreSQL answers a serialization
/// failure or a deadlock, up to [`TRIES`] times in all; any other outcome is returned as is.
/// `attempt` must be a whole transaction (or one statement): each try starts afresh.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let mut pause = Duration::from_millis(5);
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(e) if is_transient(&e) && tried < TRIES => {
                tracing::debug!(sqlstate = ?sqlstate(&e), tried, "PostgreSQL asked for a retry");
                tokio::time::sleep(pause).await;
                pause = pause.saturating_mul(2);
                tried += 1;
            }
            other => return other,
        }
    }
}

/// `e`, which happened while doing `what` ("saving a node result") on `table`, as an [`Error`].
pub(super) fn from_sqlx(e: sqlx::Error, what: &'static str, table: &'static str) -> Error {
    let (kind, message, keep_message): (ErrorKind, String, bool) = match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match (code.as_str(), code.get(..2)) {
                (sqlstate::SERIALIZATION_FAILURE | sqlstate::DEADLOCK_DETECTED, _) => (
                    ErrorKind::Unavailable,
                    format!(
                        "{what}: PostgreSQL kept aborting the transaction for concurrent writes (tried {TRIES} times)"
                    ),
                    true,
                ),
                (sqlstate::UNIQUE_VIOLATION, _) => (
                    ErrorKind::Conflict,
                    format!("{what}: a row with this key exists already"),
                    true,
                ),
                (sqlstate::FOREIGN_KEY_VIOLATION, _) => (
                    ErrorKind::NotFound,
                    format!("{what}: the row it refers to is not there"),
                    true,
                ),
                (_, Some("23")) => (
                    ErrorKind::Conflict,
                    format!("{what}: a constraint of the store failed"),
                    true,
                ),
                (sqlstate::DISK_FULL, _) => (
                    ErrorKind::Unavailable,
                    format!("{what}: the PostgreSQL server's disk is full; nothing of this write was kept"),
                    true,
                ),
                (sqlstate::READ_ONLY_TRANSACTION, _) => (
                    ErrorKind::Unavailable,
                    format!("{what}: the PostgreSQL server is read-only (a standby?)"),
                    true,
                ),
                (sqlstate::INSUFFICIENT_PRIVILEGE, _) => (
                    ErrorKind::Forbidden,
                    format!("{what}: the PostgreSQL role lacks a privilege the store needs"),
                    true,
                ),
                // Connection exceptions, resources, operator intervention (shutdown …), system errors.
                (_, Some("08" | "53" | "57" | "58")) => (
                    ErrorKind::Unavailable,
                    format!("{what}: the PostgreSQL server is unavailable"),
                    true,
                ),
                // Invalid authorization (a wrong password …), an unknown database.
                (_, Some("28")) | ("3D000", _) => (
                    ErrorKind::Unauthorized,
                    format!("{what}: PostgreSQL refused the connection's role or database"),
                    true,
                ),
                // Anything else may quote a value in its message: only the code is kept.
                _ => (ErrorKind::Internal, format!("{what}: PostgreSQL failed"), false),
            }
        }
        sqlx::Error::Io(_) => (
            ErrorKind::Unavailable,
            format!("{what}: the PostgreSQL server could not be reached"),
            false,
        ),
        sqlx::Error::Tls(_) => (
            ErrorKind::Unavailable,
            format!("{what}: the TLS connection to the PostgreSQL server failed"),
            false,
        ),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => (
            ErrorKind::Unavailable,
            format!("{what}: no PostgreSQL connection was available"),
            false,
        ),
        sqlx::Error::Protocol(_) => (
            ErrorKind::Unavailable,
            format!("{what}: the PostgreSQL connection broke (protocol error)"),
            false,
        ),
        sqlx::Error::Configuration(_) => (
            ErrorKind::InvalidDefinition,
            format!("{what}: the PostgreSQL connection settings are invalid"),
            false,
        ),
        sqlx::Error::ColumnDecode { index, .. } => (
            ErrorKind::Internal,
            format!("{what}: column {index} holds a value this version cannot read"),
            false,
        ),
        _ => (ErrorKind::Internal, format!("{what}: PostgreSQL failed"), false),
    };
    let mut err = Error::new(kind, message).with_context("table", table);
    if let Some(code) = sqlstate(&e) {
        err = err.with_context("sqlstate", code);
    }
    match e {
        // Kept only for the classes above whose messages name objects, not values.
        sqlx::Error::Database(db) if keep_message => err.with_context("postgres", db.message().to_owned()),
        // "connection refused" and the like: no URL, no value.
        sqlx::Error::Io(io) => err.with_source(io),
        _ => err,
    }
}

/// A stored value that does not read back (a row written by something else, or damaged).
pub(super) fn unreadable(table: &'static str, column: &'static str) -> Error {
    Error::internal(format!(
        "the PostgreSQL store holds a value in {table}.{column} that this version cannot read"
    ))
    .with_context("table", table)
}
