//! sqlx errors as Aura's [`Error`], in one place.
//!
//! A message names what failed (the operation, the table) and never quotes a bound parameter:
//! SQLite's own messages name tables and columns, not values, and sqlx's decode errors (which
//! could quote a value) are reduced to the column's name.

use crate::error::{Error, ErrorKind};

/// SQLite's primary result codes this module tells apart (the low byte of an extended code).
mod code {
    pub(super) const BUSY: i32 = 5;
    pub(super) const LOCKED: i32 = 6;
    pub(super) const NOMEM: i32 = 7;
    pub(super) const READONLY: i32 = 8;
    pub(super) const IOERR: i32 = 10;
    pub(super) const CORRUPT: i32 = 11;
    pub(super) const FULL: i32 = 13;
    pub(super) const CANTOPEN: i32 = 14;
    pub(super) const CONSTRAINT: i32 = 19;
    pub(super) const NOTADB: i32 = 26;
}

/// The primary SQLite result code of an error, if it came from SQLite.
pub(super) fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(db) => db.code()?.parse::<i32>().ok().map(|c| c & 0xff),
        _ => None,
    }
}

/// Whether the error is SQLite's "database is locked" (another connection holds the lock):
/// worth waiting for and trying again.
pub(super) fn is_busy(e: &sqlx::Error) -> bool {
    matches!(sqlite_code(e), Some(code::BUSY | code::LOCKED))
}

/// `e`, which happened while doing `what` (“saving a node result”) on `table`, as an [`Error`].
pub(super) fn from_sqlx(e: sqlx::Error, what: &'static str, table: &'static str) -> Error {
    let (kind, message): (ErrorKind, String) = match sqlite_code(&e) {
        Some(code::BUSY | code::LOCKED) => (
            ErrorKind::Unavailable,
            format!("{what}: the SQLite database stayed locked by another connection"),
        ),
        Some(code::FULL) => (
            ErrorKind::Unavailable,
            format!("{what}: the disk or the SQLite database is full; nothing of this write was kept"),
        ),
        Some(code::IOERR) => (
            ErrorKind::Unavailable,
            format!("{what}: SQLite could not read or write its file"),
        ),
        Some(code::NOMEM) => (ErrorKind::Unavailable, format!("{what}: SQLite ran out of memory")),
        Some(code::READONLY) => (
            ErrorKind::Unavailable,
            format!("{what}: the SQLite database is read-only"),
        ),
        Some(code::CANTOPEN) => (
            ErrorKind::Unavailable,
            format!("{what}: SQLite could not open its file"),
        ),
        Some(code::CORRUPT) => (
            ErrorKind::Internal,
            format!("{what}: the SQLite database file is corrupt"),
        ),
        Some(code::NOTADB) => (
            ErrorKind::InvalidDefinition,
            format!("{what}: the file is not an SQLite database"),
        ),
        Some(code::CONSTRAINT) => (ErrorKind::Conflict, format!("{what}: a constraint of the store failed")),
        _ => match &e {
            sqlx::Error::Io(_) => (
                ErrorKind::Unavailable,
                format!("{what}: SQLite could not read or write its file"),
            ),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => (
                ErrorKind::Unavailable,
                format!("{what}: no SQLite connection was available"),
            ),
            sqlx::Error::ColumnDecode { index, .. } => (
                ErrorKind::Internal,
                format!("{what}: column {index} holds a value this version cannot read"),
            ),
            _ => (ErrorKind::Internal, format!("{what}: SQLite failed")),
        },
    };
    let err = Error::new(kind, message).with_context("table", table);
    match e {
        // The database's message names the table and constraint, never a value: kept as the
        // source. Others (decode errors …) could quote a value: dropped.
        sqlx::Error::Database(db) => err.with_context("sqlite", db.message().to_owned()),
        sqlx::Error::Io(io) => err.with_source(io),
        _ => err,
    }
}

/// The writer task is gone (the store was closed): no write can be made durable any more.
pub(super) fn closed() -> Error {
    Error::unavailable("the SQLite store is closed")
}

/// A stored value that does not read back (a file written by something else, or damaged).
pub(super) fn unreadable(table: &'static str, column: &'static str) -> Error {
    Error::internal(format!(
        "the SQLite store holds a value in {table}.{column} that this version cannot read"
    ))
    .with_context("table", table)
}
