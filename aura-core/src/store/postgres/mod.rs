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
mod outbox;
mod rates;
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
    /// Whether the server can be reached, as the writer last found.
    availability: Arc<tokio::sync::watch::Sender<crate::store::StoreAvailability>>,
    /// Where enqueued work is announced (`NOTIFY`), per schema.
    channel: String,
    /// Woken by each announcement, once something listens (`work_notify`).
    work: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
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

    async fn open_with(mut builder: PostgresStoreBuilder) -> Result<Self> {
        let exact = builder.cipher();
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
        let channel = work_channel(builder.schema.as_deref());
        let availability = Arc::new(tokio::sync::watch::Sender::new(
            crate::store::StoreAvailability::Available,
        ));
        let writer = Writer::start(
            options.clone(),
            writer::Settings {
                max_batch: builder.max_batch,
                commit_window: builder.commit_window,
                writers: builder.writers,
                acquire_timeout: builder.acquire_timeout,
                outage: builder.outage,
                channel: channel.clone(),
                availability: availability.clone(),
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
                exact,
                availability,
                channel,
                work: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The signal of enqueued work: on first use, a task `LISTEN`s on the store's channel (one
    /// connection of the pool, given back when the store closes) and wakes every waiting
    /// worker at each `NOTIFY`. A lost connection is reopened; notifications sent meanwhile
    /// are missed, which the workers' polling makes up for.
    fn work_notify(&self) -> Arc<tokio::sync::Notify> {
        self.inner
            .work
            .get_or_init(|| {
                let notify = Arc::new(tokio::sync::Notify::new());
                let woken = Arc::downgrade(&notify);
                let pool = self.inner.pool.clone();
                let channel = self.inner.channel.clone();
                tokio::spawn(listen(pool, channel, woken));
                notify
            })
            .clone()
    }

    /// Closes the store: the writes sent before are committed, calls in progress finish, every
    /// later call (on this store or a clone) fails with
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable).
    pub async fn close(&self) {
        let _ = self.inner.writer.write(writer::Op::Close).await;
        self.inner.pool.close().await;
    }
}

/// The notification channel of a schema's queue (an identifier of at most 63 bytes: schema
/// names are ASCII, checked by the builder).
fn work_channel(schema: Option<&str>) -> String {
    let mut channel = format!("aura_work_{}", schema.unwrap_or("default"));
    channel.truncate(63);
    channel
}

/// Wakes `woken`'s waiters at each notification on `channel`, until the pool closes or
/// nobody holds the signal any more.
async fn listen(pool: PgPool, channel: String, woken: std::sync::Weak<tokio::sync::Notify>) {
    let mut listener = loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(&channel).await {
                Ok(()) => break listener,
                Err(e) => tracing::warn!(error = %e, "the PostgreSQL store could not listen for work; retrying"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, "the PostgreSQL store could not listen for work; retrying"),
        }
        if woken.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    };
    loop {
        match listener.recv().await {
            Ok(_) => match woken.upgrade() {
                Some(notify) => notify.notify_waiters(),
                None => return,
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                // `recv` reconnects on its next call; wait a little so that a server that is
                // gone is not hammered.
                tracing::warn!(error = %e, "the PostgreSQL store's work listener lost its connection");
                if woken.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Asserts at compile time that the store can serve as the engine's store.
const _: fn() = || {
    fn is_store<T: ExecutionStore>() {}
    is_store::<PostgresStore>();
};
