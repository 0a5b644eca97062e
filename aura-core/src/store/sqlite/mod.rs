//! [`SqliteStore`]: executions and connection records in one SQLite file (feature
//! `store-sqlite`).
//!
//! # What is durable when
//!
//! Every write — [`create`](ExecutionStore::create), [`save_node`](ExecutionStore::save_node),
//! [`finish`](ExecutionStore::finish), a lease, a connection record — is committed to the file
//! and fsynced before the call returns. So an execution the engine accepted is on disk before
//! `start` returns, and a node's result is on disk before any successor starts. A write that
//! returned an error left nothing behind.
//!
//! # WAL and `synchronous = FULL`
//!
//! The file is in WAL mode: readers (a small pool, 4 connections by default) never wait for
//! the writer, nor the writer for them. `synchronous = FULL` makes SQLite fsync the WAL at
//! every commit, so an acknowledged write survives a power cut, not only a crash of the
//! process (with `NORMAL`, the last commits before a power cut can be lost). Foreign keys are
//! on: an execution's node results, exact payloads and lease go with it. The file has
//! incremental auto-vacuum: [`prune`](ExecutionStore::prune) deletes in batches of 500
//! executions (short transactions) and gives the freed pages back.
//!
//! Another process holding the file's lock makes a write wait (the busy timeout, 5 s by
//! default) and try again with back-off; SQLite's `database is locked` never reaches the
//! caller: after six busy timeouts the write fails with
//! [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable). A full disk fails the write with
//! [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) and keeps nothing of it.
//!
//! # Group commit
//!
//! One fsync costs about 0.2–0.3 ms, so one commit per write would cap the store at a few
//! thousand writes a second. A writer (a thread of its own) owns the only write connection: each write is sent
//! to it and waits; the task takes everything queued (up to
//! [`max_batch`](SqliteStoreBuilder::max_batch), optionally waiting a
//! [`commit_window`](SqliteStoreBuilder::commit_window)), runs it in one transaction with
//! multi-row statements, commits once, then answers each caller. Writes arriving during a
//! commit form the next batch, so the batch grows with the load and a lone write is not
//! delayed. A write that cannot apply (an unknown execution, a duplicate id) fails only its
//! caller; a statement that fails (a full disk) rolls the batch back and each write is tried
//! again alone, so that the error reaches only the callers it concerns.
//!
//! # Exact payloads
//!
//! Records hold redacted, possibly truncated payloads. The exact ones (for re-runs, see
//! [`ExecutionStore::save_exact`]) are kept only when the builder has a key
//! ([`SqliteStoreBuilder::exact_payload_key`]): then each is sealed with AES-256-GCM, bound to
//! its execution and payload. Without a key they are not kept at all, never in plain text, and
//! a re-run that needs one fails with a clear error.
//!
//! # Schema
//!
//! Migrations are embedded (`aura-core/migrations/sqlite/`) and run on open; the
//! `aura_schema` table records the version. A file written by a newer Aura is refused
//! ([`ErrorKind::Conflict`](crate::ErrorKind::Conflict), naming both versions); a file that
//! is not SQLite, or is another program's database, is refused
//! ([`ErrorKind::InvalidDefinition`](crate::ErrorKind::InvalidDefinition)) and left as it was.
//!
//! ```no_run
//! # async fn run() -> aura_core::Result<()> {
//! use std::sync::Arc;
//! use aura_core::store::{ExecutionStore, SqliteStore};
//!
//! let store = SqliteStore::open("aura.db").await?;
//! let store: Arc<dyn ExecutionStore> = Arc::new(store);
//! // Engine::builder(registry).store(store).build()
//! # Ok(()) }
//! ```
//!
//! | file | idea |
//! | --- | --- |
//! | `options.rs` | [`SqliteStoreBuilder`] and the connection options |
//! | `migrations.rs` | the embedded migrations, the version table, the file checks |
//! | `writer.rs` | the group-commit writer |
//! | `rows.rs` | records as rows and back |
//! | `executions.rs` | executions and node results; the [`ExecutionStore`] impl |
//! | `leases.rs` | leases |
//! | `exact.rs` | sealing exact payloads |
//! | `sealed.rs` | connection records: the [`SealedStore`](crate::connection::SealedStore) impl |
//! | `error.rs` | sqlx errors as Aura's |

mod error;
mod exact;
mod executions;
mod leases;
mod migrations;
mod options;
mod rows;
mod sealed;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, SqliteConnection};

pub use self::options::SqliteStoreBuilder;
use self::writer::Writer;
use crate::error::Result;
use crate::store::ExecutionStore;

/// Executions and connection records in an SQLite file: the embedded durable store.
///
/// Implements [`ExecutionStore`] and [`SealedStore`](crate::connection::SealedStore); see the
/// [module docs](self) for what is durable when. Cheap to clone: clones share the file's
/// connections and writer.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: String,
    writer: Writer,
    readers: SqlitePool,
    exact: Option<exact::ExactCipher>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("keeps_exact_payloads", &self.inner.exact.is_some())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (or creates) the store in the file at `path`, with durable defaults.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(path).open().await
    }

    /// A builder for the store in the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteStoreBuilder {
        SqliteStoreBuilder::new(path)
    }

    /// Whether this store keeps exact payloads (it was given a key for them).
    pub fn keeps_exact_payloads(&self) -> bool {
        self.inner.exact.is_some()
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i64 {
        migrations::latest()
    }

    async fn open_with(builder: SqliteStoreBuilder) -> Result<Self> {
        let path = builder.path.display().to_string();
        let options = builder.connect_options();
        let mut conn: SqliteConnection =
            options.clone().create_if_missing(true).connect().await.map_err(|e| {
                error::from_sqlx(e, "opening the store", "aura_schema").with_context("path", path.clone())
            })?;
        migrations::prepare(&mut conn, &path).await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(builder.readers)
            .min_connections(1)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(|e| error::from_sqlx(e, "opening the store", "executions").with_context("path", path.clone()))?;
        let writer = Writer::start(
            conn,
            writer::Settings {
                max_batch: builder.max_batch,
                commit_window: builder.commit_window,
                busy_timeout: builder.busy_timeout,
            },
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer,
                readers,
                exact: builder.exact,
            }),
        })
    }

    /// Closes the store: the writes sent before are done (durable) and the writer and the
    /// read connections close. Every later call, on this store or a clone, fails with
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable). Dropping the last clone
    /// closes it too.
    pub async fn close(&self) {
        let _ = self.inner.writer.write(writer::Op::Close).await;
        self.inner.readers.close().await;
    }
}

/// Asserts at compile time that the store can serve as the engine's store.
const _: fn() = || {
    fn is_store<T: ExecutionStore>() {}
    is_store::<SqliteStore>();
};
