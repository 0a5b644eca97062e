//! [`PostgresStoreBuilder`]: which database, which schema, how many connections, and the key
//! for exact payloads. The URL's password is kept only inside sqlx's connect options and never
//! shown: `Debug` names the host, port, database and schema.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};
use sqlx::postgres::PgConnectOptions;

use super::PostgresStore;
use crate::error::{Error, Result};
use crate::store::exact::ExactCipher;

/// How a [`PostgresStore`] connects. [`PostgresStore::builder`] starts one from a connection
/// URL (`postgres://user:password@host:5432/database?sslmode=verify-full`).
///
/// ```no_run
/// # async fn run() -> aura_core::Result<()> {
/// use std::time::Duration;
/// use aura_core::store::PostgresStore;
///
/// let url = std::env::var("DATABASE_URL").unwrap_or_default();
/// let store = PostgresStore::builder(url)
///     .schema("aura")
///     .max_connections(16)
///     .acquire_timeout(Duration::from_secs(10))
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
pub struct PostgresStoreBuilder {
    /// The parsed URL; `None` when it did not parse (reported by `open`, without the URL).
    pub(super) connect: Option<PgConnectOptions>,
    pub(super) schema: Option<String>,
    pub(super) max_connections: u32,
    pub(super) acquire_timeout: Duration,
    pub(super) max_batch: usize,
    pub(super) commit_window: Duration,
    pub(super) writers: u32,
    pub(super) outage: Duration,
    pub(super) exact: Option<ExactCipher>,
    pub(super) payload_store: Option<std::sync::Arc<dyn crate::store::PayloadStore>>,
    pub(super) out_of_line_above: usize,
}

impl fmt::Debug for PostgresStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the options themselves: their `Debug` shows the password.
        let target = self.connect.as_ref().map(Target::of);
        f.debug_struct("PostgresStoreBuilder")
            .field("target", &target)
            .field("schema", &self.schema)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("max_batch", &self.max_batch)
            .field("commit_window", &self.commit_window)
            .field("writers", &self.writers)
            .field("outage", &self.outage)
            .field("keeps_exact_payloads", &self.exact.is_some())
            .field("payload_store", &self.payload_store)
            .field("out_of_line_above", &self.out_of_line_above)
            .finish()
    }
}

/// Where a store connects, as shown in `Debug` and errors: host, port and database only.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) database: Option<String>,
}

impl Target {
    pub(super) fn of(options: &PgConnectOptions) -> Self {
        Self {
            host: options.get_host().to_owned(),
            port: options.get_port(),
            database: options.get_database().map(str::to_owned),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.host,
            self.port,
            self.database.as_deref().unwrap_or("")
        )
    }
}

impl PostgresStoreBuilder {
    pub(super) fn new(url: SecretString) -> Self {
        Self {
            // sqlx's parse error is dropped: it could quote the URL. `open` says it did not parse.
            connect: PgConnectOptions::from_str(url.expose_secret()).ok(),
            schema: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            max_batch: 1024,
            commit_window: Duration::ZERO,
            writers: 2,
            outage: Duration::from_secs(30),
            exact: None,
            payload_store: None,
            out_of_line_above: 64 * 1024,
        }
    }

    /// Keeps the store's tables in this schema (created if missing) rather than in the
    /// connection's default (normally `public`): several stores, or Aura beside a host's own
    /// tables, in one database. Lowercase letters, digits and `_` only, not starting with a
    /// digit, at most 63 bytes.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// At most this many connections to the server for reads, prunes and connection records
    /// (10 by default; at least 1; the writes of executions have [`writers`](Self::writers) of
    /// their own). Every such call takes one for the length of its statement or transaction; more engine tasks than
    /// connections wait (see [`acquire_timeout`](Self::acquire_timeout)). Sum this over every
    /// process sharing the database and keep it below the server's `max_connections`.
    #[must_use]
    pub fn max_connections(mut self, connections: u32) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a call waits for a free connection (or for the server to accept a new one)
    /// before failing with [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) (30 s by
    /// default).
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// At most this many writes share one transaction (1,024 by default; at least 1). Every
    /// write (a create, a node result, a finish, an exact payload, a lease operation) goes
    /// through the store's group-commit writer, which commits many callers' writes at once and
    /// answers each after the commit.
    #[must_use]
    pub fn max_batch(mut self, writes: usize) -> Self {
        self.max_batch = writes.max(1);
        self
    }

    /// How long a writer waits for more writes before it commits a batch that is not full
    /// (zero by default: it takes what is queued, and writes arriving during a commit form the
    /// next batch, which groups them well under load without delaying a lone write).
    #[must_use]
    pub fn commit_window(mut self, window: Duration) -> Self {
        self.commit_window = window;
        self
    }

    /// How many writer connections take turns at the queue of writes (2 by default; at least
    /// 1): while one commits a batch, the next collects and writes the next batch. They are
    /// connections of their own, besides [`max_connections`](Self::max_connections) (which
    /// serves reads, prunes and connection records): count both against the server's
    /// `max_connections`.
    #[must_use]
    pub fn writers(mut self, connections: u32) -> Self {
        self.writers = connections.max(1);
        self
    }

    /// How long the writer rides out a server that cannot be reached (a restart, a failover,
    /// a network blip) before it fails the writes waiting for it (30 s by default). Meanwhile
    /// a batch that failed for want of the server is tried again with exponential back-off
    /// (from 100 ms to 5 s), each try logged as a `tracing` warning, and its callers (the
    /// engine's executions) just wait: nothing accepted is lost. A batch whose `COMMIT` got no
    /// answer is looked up once the server answers (`txid_status`): if it committed, its
    /// writes are done; if not, it is made again. Past the timeout the writes fail with
    /// [`Unavailable`](crate::ErrorKind::Unavailable). `Duration::ZERO` fails at once.
    #[must_use]
    pub fn outage_timeout(mut self, timeout: Duration) -> Self {
        self.outage = timeout;
        self
    }

    /// Keeps the exact payloads behind redacted or truncated records (for re-runs), sealed
    /// with AES-256-GCM under this 256-bit key (the same kind of key
    /// [`EncryptionKey::from_bytes`](crate::connection::EncryptionKey::from_bytes) takes).
    /// Without a key the store does not keep them at all: never in plain text. Every process
    /// sharing the database needs the same key to read the others' payloads.
    #[must_use]
    pub fn exact_payload_key(mut self, key: SecretBox<[u8; 32]>) -> Self {
        self.exact = Some(ExactCipher::new(&key));
        self
    }

    /// Keeps the big exact payloads out of the database, in `store` (a directory:
    /// [`DirPayloadStore`](crate::store::DirPayloadStore); object storage: an implementation
    /// of [`PayloadStore`](crate::store::PayloadStore)); the database keeps a reference. Only
    /// sealed bytes leave (they are opened with the [exact-payload
    /// key](Self::exact_payload_key), without which nothing is kept anywhere), and only those
    /// over [`out_of_line_above`](Self::out_of_line_above). A payload goes to `store` durably
    /// before its reference is written, and goes from it when its execution is pruned.
    #[must_use]
    pub fn payload_store(mut self, store: std::sync::Arc<dyn crate::store::PayloadStore>) -> Self {
        self.payload_store = Some(store);
        self
    }

    /// The size (of the sealed payload, in bytes) above which a [payload
    /// store](Self::payload_store) keeps an exact payload instead of the database (default
    /// 64 KiB).
    #[must_use]
    pub fn out_of_line_above(mut self, bytes: usize) -> Self {
        self.out_of_line_above = bytes;
        self
    }

    /// The exact-payload cipher as the store uses it: with its payload store, if any.
    pub(super) fn cipher(&mut self) -> Option<ExactCipher> {
        ExactCipher::keeping(self.exact.take(), self.payload_store.take(), self.out_of_line_above)
    }

    /// Connects, creates the schema if it is missing, checks it is not newer than this build,
    /// applies the migrations it lacks and opens the connection pool.
    pub async fn open(self) -> Result<PostgresStore> {
        PostgresStore::open_with(self).await
    }

    /// The connect options with the schema as the search path, or why there are none.
    pub(super) fn connect_options(&self) -> Result<PgConnectOptions> {
        let options = self.connect.clone().ok_or_else(|| {
            Error::invalid_definition(
                "the PostgreSQL connection URL does not parse (expected postgres://user:password@host:port/database)",
            )
        })?;
        let options = options.application_name("aura");
        Ok(match &self.schema {
            Some(schema) => {
                check_schema_name(schema)?;
                options.options([("search_path", schema.as_str())])
            }
            None => options,
        })
    }
}

/// A schema name the store can quote safely and that means the same quoted or not (PostgreSQL
/// folds unquoted names to lowercase): `[a-z_][a-z0-9_]*`, at most 63 bytes.
pub(super) fn check_schema_name(schema: &str) -> Result<()> {
    let mut chars = schema.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if first_ok && schema.len() <= 63 && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        Ok(())
    } else {
        Err(Error::invalid_definition(
            "a PostgreSQL schema name for the store is lowercase letters, digits and `_`, not starting with a digit, \
             at most 63 bytes",
        )
        .with_context("schema", schema.to_owned()))
    }
}
