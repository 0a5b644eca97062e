//! [`PostgresStore`]: executions and connection records in a PostgreSQL database that many
//! engine processes share (feature `store-postgres`).
//!
//! [`PostgresStore`]'s docs say what is durable when, how leases work across processes, how
//! many connections it opens and how to connect with TLS (`docs.md`).
//!
//! | file | idea |
//! | --- | --- |
//! | `options.rs` | [`PostgresStoreBuilder`], the connection options, what `Debug` shows |
//! | `migrations.rs` | the embedded migrations, the version table, the schema checks |
//! | `rows.rs` | records as rows and back |
//! | `writer.rs` | the group-commit writer |
//! | `executions.rs` | executions and node results; the [`ExecutionStore`] impl |
//! | `leases.rs` | leases, on the database's clock |
//! | `exact.rs` | exact payloads, sealed |
//! | `sealed.rs` | connection records: the [`SealedStore`](crate::connection::SealedStore) impl |
//! | `triggers.rs` | cursors, dedupe keys, a poll's commit: the [`TriggerStateStore`](crate::store::TriggerStateStore) impl |
//! | `audit.rs` | the audit trail: the [`AuditLog`](crate::store::AuditLog) impl |
//! | `scenarios.rs` | deployed scenarios, versioned: the [`ScenarioStore`](crate::store::ScenarioStore) impl |
//! | `error.rs` | sqlx errors as Aura's; the bounded retry of serialization failures |
//! | `docs.md` | the user's guide, on [`PostgresStore`] |

mod audit;
mod error;
mod exact;
mod executions;
mod leases;
mod migrations;
mod options;
mod rows;
mod scenarios;
mod sealed;
#[cfg(test)]
mod tests;
mod triggers;
mod writer;

use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

pub use self::options::PostgresStoreBuilder;
use self::options::Target;
use self::writer::Writer;
use crate::error::{Error, Result};
use crate::store::ExecutionStore;
use crate::store::exact::ExactCipher;

/// Executions and connection records in a PostgreSQL database: the store for scale-out, which
/// any number of engine processes on any number of machines share.
///
/// Implements [`ExecutionStore`] and [`SealedStore`](crate::connection::SealedStore). Cheap to
/// clone: clones share one connection pool. `Debug` shows the host, port, database and schema,
/// never the password.
///
#[doc = include_str!("docs.md")]
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    schema: Option<String>,
    pool: PgPool,
    writer: Writer,
    exact: Option<ExactCipher>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.inner.target)
            .field("schema", &self.inner.schema)
            .field("keeps_exact_payloads", &self.inner.exact.is_some())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, with
    /// `?sslmode=…` for TLS) with the default settings, migrating it if needed.
    pub async fn open(url: impl Into<SecretString>) -> Result<Self> {
        Self::builder(url).open().await
    }

    /// A builder for the store in the database at `url`. The URL (and its password) is kept
    /// only as connect options: never in `Debug`, an error or a log.
    pub fn builder(url: impl Into<SecretString>) -> PostgresStoreBuilder {
        PostgresStoreBuilder::new(url.into())
    }

    /// Whether this store keeps exact payloads (it was given a key for them).
    pub fn keeps_exact_payloads(&self) -> bool {
        self.inner.exact.is_some()
    }

    /// The newest schema version this build knows.
    pub fn schema_version() -> i64 {
        migrations::latest()
    }

    async fn open_with(builder: PostgresStoreBuilder) -> Result<Self> {
        let options = builder.connect_options()?;
        let target = Target::of(&options);
        let shown = target.to_string();
        // One connection first: it reports why the server cannot be reached or refuses us
        // (a pool would only time out), and it runs the migrations.
        let connecting = tokio::time::timeout(builder.acquire_timeout, options.connect()).await;
        let mut conn = match connecting {
            Ok(connected) => connected.map_err(|e| {
                error::from_sqlx(e, "connecting to PostgreSQL", "aura_schema").with_context("database", shown.clone())
            })?,
            Err(_) => {
                return Err(Error::unavailable(format!(
                    "connecting to PostgreSQL: {shown} did not answer within {:?}",
                    builder.acquire_timeout
                ))
                .with_context("database", shown));
            }
        };
        let migrated = migrations::prepare(&mut conn, builder.schema.as_deref(), &shown).await;
        // A close that fails only drops a connection the server will drop too.
        let _ = conn.close().await;
        migrated?;
        let writer = Writer::start(
            options.clone(),
            writer::Settings {
                max_batch: builder.max_batch,
                commit_window: builder.commit_window,
                writers: builder.writers,
                acquire_timeout: builder.acquire_timeout,
            },
        )?;
        let pool = PgPoolOptions::new()
            .max_connections(builder.max_connections)
            .min_connections(0)
            .acquire_timeout(builder.acquire_timeout)
            .connect_lazy_with(options);
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                schema: builder.schema,
                pool,
                writer,
                exact: builder.exact,
            }),
        })
    }

    /// Closes the store: the writes sent before are committed, calls in progress finish, every
    /// later call (on this store or a clone) fails with
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable).
    pub async fn close(&self) {
        let _ = self.inner.writer.write(writer::Op::Close).await;
        self.inner.pool.close().await;
    }
}

/// Asserts at compile time that the store can serve as the engine's store.
const _: fn() = || {
    fn is_store<T: ExecutionStore>() {}
    is_store::<PostgresStore>();
};
