//! [`SqliteStoreBuilder`]: where the file is and how the store writes it, and the connections
//! it opens.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretBox;
use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};

use super::SqliteStore;
use crate::error::Result;
use crate::store::exact::ExactCipher;

/// How a [`SqliteStore`] is opened. [`SqliteStore::builder`] starts one with durable defaults.
///
/// ```no_run
/// # async fn run() -> aura_core::Result<()> {
/// use std::time::Duration;
/// use aura_core::store::SqliteStore;
///
/// let store = SqliteStore::builder("aura.db")
///     .busy_timeout(Duration::from_secs(10))
///     .max_batch(1024)
///     .open()
///     .await?;
/// # Ok(()) }
/// ```
pub struct SqliteStoreBuilder {
    pub(super) path: PathBuf,
    pub(super) busy_timeout: Duration,
    pub(super) max_batch: usize,
    pub(super) commit_window: Duration,
    pub(super) readers: u32,
    pub(super) max_size: Option<u64>,
    pub(super) exact: Option<ExactCipher>,
    pub(super) payload_store: Option<std::sync::Arc<dyn crate::store::PayloadStore>>,
    pub(super) out_of_line_above: usize,
}

impl fmt::Debug for SqliteStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStoreBuilder")
            .field("path", &self.path)
            .field("busy_timeout", &self.busy_timeout)
            .field("max_batch", &self.max_batch)
            .field("commit_window", &self.commit_window)
            .field("readers", &self.readers)
            .field("max_size", &self.max_size)
            .field("keeps_exact_payloads", &self.exact.is_some())
            .field("payload_store", &self.payload_store)
            .field("out_of_line_above", &self.out_of_line_above)
            .finish()
    }
}

impl SqliteStoreBuilder {
    pub(super) fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            busy_timeout: Duration::from_secs(5),
            max_batch: 2048,
            commit_window: Duration::ZERO,
            readers: 4,
            max_size: None,
            exact: None,
            payload_store: None,
            out_of_line_above: 64 * 1024,
        }
    }

    /// How long one attempt waits for another process's lock on the file before trying again
    /// (5 s by default). Writes try again with back-off for up to 6 times this long in all, then
    /// fail with [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable): SQLite's
    /// `database is locked` never reaches the caller as such.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// At most this many writes share one transaction (2,048 by default; at least 1).
    #[must_use]
    pub fn max_batch(mut self, writes: usize) -> Self {
        self.max_batch = writes.max(1);
        self
    }

    /// How long the writer waits for more writes before it commits a batch that is not full
    /// (zero by default: it takes what is queued, and writes arriving during a commit form the
    /// next batch, which groups them well under load without delaying a lone write).
    #[must_use]
    pub fn commit_window(mut self, window: Duration) -> Self {
        self.commit_window = window;
        self
    }

    /// How many read connections the store keeps (4 by default; at least 1). Reads never
    /// wait for the writer: WAL lets readers and one writer work at once.
    #[must_use]
    pub fn readers(mut self, connections: u32) -> Self {
        self.readers = connections.max(1);
        self
    }

    /// Caps the database file at about `bytes` (no cap by default), a guard against a store
    /// that grows until it fills the disk. Once nine tenths of the cap are in use, new
    /// executions are refused with an [`Unavailable`](crate::ErrorKind::Unavailable) error
    /// saying the database is full, and nothing of them is kept; the last tenth is left to the
    /// executions already running, so that they checkpoint and finish (nothing accepted is
    /// lost). A write that would still pass the cap fails alike and is rolled back whole.
    /// What was written stays intact and readable, and a prune makes room again (freed pages
    /// are reused). The WAL beside the file is bounded apart (truncated to 64 MB after each
    /// checkpoint). A file already larger than the cap keeps its size as the cap.
    #[must_use]
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Keeps the exact payloads behind redacted or truncated records (for re-runs), sealed
    /// with AES-256-GCM under this 256-bit key (the same kind of key
    /// [`EncryptionKey::from_bytes`](crate::connection::EncryptionKey::from_bytes) takes).
    /// Without a key the store does not keep them at all: never in plain text.
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

    /// Opens (or creates) the database, checks it is Aura's and not newer than this build,
    /// applies the migrations it lacks and starts the writer.
    pub async fn open(self) -> Result<SqliteStore> {
        SqliteStore::open_with(self).await
    }

    /// The options every connection shares: durable, foreign keys on, a busy timeout.
    pub(super) fn connect_options(&self) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(&self.path)
            .foreign_keys(true)
            // FULL: a commit is on disk (the WAL fsynced) before it returns, so an acknowledged
            // write survives a power cut, not only a crash of the process. NORMAL in WAL mode
            // could lose the last commits on power loss; group commit pays the fsync once per
            // batch, so FULL costs little.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(self.busy_timeout)
            // Batches of different sizes prepare different statements: keep them all.
            .statement_cache_capacity(1024)
            // Checkpoint every ~40 MB of WAL rather than every 4 MB: the pages hot under load
            // (recent index leaves) are copied to the database once per checkpoint, so rarer
            // checkpoints write much less; the WAL is truncated back to 64 MB after each.
            .pragma("wal_autocheckpoint", "10000")
            .pragma("journal_size_limit", "67108864")
    }
}
