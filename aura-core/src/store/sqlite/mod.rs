//! [`SqliteStore`]: executions and connection records in one SQLite file (feature
//! `store-sqlite`).
//!
//! [`SqliteStore`]'s docs say what is durable when, why WAL and `synchronous = FULL`, how
//! group commit works and what happens to exact payloads (`docs.md`).
//!
//! | file | idea |
//! | --- | --- |
//! | `options.rs` | [`SqliteStoreBuilder`] and the connection options |
//! | `migrations.rs` | the embedded migrations, the version table, the file checks |
//! | `writer.rs` | the group-commit writer |
//! | `rows.rs` | records as rows and back |
//! | `executions.rs` | executions and node results; the [`ExecutionStore`] impl |
//! | `leases.rs` | leases |
//! | `sealed.rs` | connection records: the [`SealedStore`](crate::connection::SealedStore) impl |
//! | `triggers.rs` | cursors, dedupe keys, a poll's commit: the [`TriggerStateStore`](crate::store::TriggerStateStore) impl |
//! | `audit.rs` | the audit trail: the [`AuditLog`](crate::store::AuditLog) impl |
//! | `scenarios.rs` | deployed scenarios, versioned: the [`ScenarioStore`](crate::store::ScenarioStore) impl |
//! | `error.rs` | sqlx errors as Aura's |
//! | `docs.md` | the user's guide, on [`SqliteStore`] |

mod audit;
mod error;
mod executions;
mod leases;
mod migrations;
mod options;
mod outbox;
mod rows;
mod scenarios;
mod sealed;
#[cfg(test)]
mod tests;
mod triggers;
mod writer;
mod writes;

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
/// Implements [`ExecutionStore`] and [`SealedStore`](crate::connection::SealedStore). Cheap to
/// clone: clones share the file's connections and writer.
///
#[doc = include_str!("docs.md")]
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: String,
    writer: Writer,
    readers: SqlitePool,
    exact: Option<crate::store::exact::ExactCipher>,
    /// Woken when an execution is created without a lease: work for the workers.
    work: Arc<tokio::sync::Notify>,
    /// Rate limits shared by the engines using the store (in memory: one process per file).
    rates: crate::store::LocalRates,
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

    async fn open_with(mut builder: SqliteStoreBuilder) -> Result<Self> {
        let path = builder.path.display().to_string();
        let options = builder.connect_options();
        let mut conn: SqliteConnection =
            options.clone().create_if_missing(true).connect().await.map_err(|e| {
                error::from_sqlx(e, "opening the store", "aura_schema").with_context("path", path.clone())
            })?;
        migrations::prepare(&mut conn, &path).await?;
        let mut room_for_new = None;
        if let Some(bytes) = builder.max_size {
            // Per connection: only the writer's writes grow the file.
            let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&mut conn)
                .await
                .map_err(|e| {
                    error::from_sqlx(e, "opening the store", "executions").with_context("path", path.clone())
                })?;
            let pages = (i64::try_from(bytes).unwrap_or(i64::MAX) / page.max(1)).max(1);
            // A tenth of the cap (at least 16 pages) is kept for the executions running.
            room_for_new = Some(pages - (pages / 10).max(16));
            sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
                .execute(&mut conn)
                .await
                .map_err(|e| {
                    error::from_sqlx(e, "opening the store", "executions").with_context("path", path.clone())
                })?;
        }
        // A SQLite file serves one process at a time: a lease in it now was held by a process
        // that is gone, so it ends here and a restarted process recovers at once, whatever its
        // owner id. A parked execution (nobody's lease, until it wakes) stays parked.
        sqlx::query("UPDATE leases SET until = 0 WHERE owner <> ''")
            .execute(&mut conn)
            .await
            .map_err(|e| error::from_sqlx(e, "opening the store", "leases").with_context("path", path.clone()))?;
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
                room_for_new,
            },
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                writer,
                readers,
                exact: builder.cipher(),
                work: Arc::default(),
                rates: crate::store::LocalRates::default(),
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

#[async_trait::async_trait]
impl crate::store::RateLimitStore for SqliteStore {
    async fn take_rate(
        &self,
        key: &str,
        limit: crate::rate_limit::RateLimit,
    ) -> Result<std::result::Result<(), std::time::Duration>> {
        Ok(self.inner.rates.take(key, limit))
    }
}
