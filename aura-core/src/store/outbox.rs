//! The webhook outbox: every outbound delivery a
//! [`WebhookDispatcher`](crate::delivery::WebhookDispatcher) has accepted and not yet
//! finished, so that a restart loses none of them.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Result;

/// Where an [`OutboxEntry`] stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxStage {
    /// A message waiting for its endpoint's next batch; `body` is the message shaped for the
    /// endpoint (one element of the batch).
    Batching,
    /// A delivery being tried; `body` is what is sent.
    Sending,
}

/// One delivery (or one message waiting for a batch) to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry's own id (UUID v7: ids sort by creation).
    pub id: Uuid,
    /// The endpoint it goes to.
    pub endpoint: String,
    /// Its `webhook-id`: the message's id, or a batch's.
    pub delivery_id: String,
    /// The ids of the messages it carries (`msg_…`).
    pub messages: Vec<String>,
    /// The body, shaped for the endpoint (never the endpoint's secret: signatures are made
    /// per attempt).
    pub body: Bytes,
    /// The attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (wall time).
    pub due_at: DateTime<Utc>,
    /// Where it stands.
    pub stage: OutboxStage,
}

impl OutboxEntry {
    /// A delivery to `endpoint` due now, with no attempt made yet.
    pub fn new(
        endpoint: impl Into<String>,
        delivery_id: impl Into<String>,
        messages: Vec<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            endpoint: endpoint.into(),
            delivery_id: delivery_id.into(),
            messages,
            body: body.into(),
            attempts: 0,
            due_at: Utc::now(),
            stage: OutboxStage::Sending,
        }
    }

    /// The same entry at `stage`.
    #[must_use]
    pub fn stage(mut self, stage: OutboxStage) -> Self {
        self.stage = stage;
        self
    }
}

/// Keeps the outbound deliveries not yet finished.
///
/// # How the dispatcher uses it
///
/// [`send`](crate::delivery::WebhookDispatcher::send) writes one [`OutboxEntry`] per endpoint
/// the message goes to before it returns the message's id. Each attempt's outcome is written
/// before the next: a retry puts the entry again with its attempt count and due time, a
/// delivered or failed delivery removes it. A batching endpoint's messages wait as
/// [`OutboxStage::Batching`] entries; the batch that takes them replaces them with one
/// [`OutboxStage::Sending`] entry in one [`write_outbox`](OutboxStore::write_outbox), so that a
/// crash between the two neither loses nor doubles a message. When an endpoint is added (on
/// the next start), the dispatcher reads its entries back with
/// [`outbox`](OutboxStore::outbox) and carries on where they stood.
///
/// Deliveries are at least once: a crash after a receiver answered and before the entry went
/// sends it again, with the same `webhook-id`, which receivers dedupe on.
///
/// Entries are not leased: one dispatcher carries on an endpoint's entries. Processes that
/// share a PostgreSQL store should each keep their own endpoints (or send from one of them);
/// two dispatchers adding the same endpoint on one store would both carry on its entries.
///
/// ```
/// use aura_core::store::{MemoryStore, OutboxEntry, OutboxStage, OutboxStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let store = MemoryStore::new(); // or a SqliteStore / PostgresStore: the same calls
/// let entry = OutboxEntry::new("ops", "msg_1", vec!["msg_1".to_owned()], br#"{"type":"a"}"#.to_vec());
/// store.write_outbox(&[entry.clone()], &[]).await?;
/// assert_eq!(store.outbox("ops").await?, [entry.clone()]);
///
/// // The first attempt failed: due again in five seconds.
/// let retry = OutboxEntry { attempts: 1, due_at: entry.due_at + chrono::Duration::seconds(5), ..entry.clone() };
/// store.write_outbox(&[retry.clone()], &[]).await?;
/// assert_eq!(store.outbox("ops").await?, [retry]);
///
/// // Delivered: gone.
/// store.write_outbox(&[], &[entry.id]).await?;
/// assert!(store.outbox("ops").await?.is_empty());
/// # Ok(()) }
/// ```
///
/// [`MemoryStore`](super::MemoryStore) keeps them in memory (the dispatcher's default: a
/// restart loses them); `SqliteStore` and `PostgresStore` keep them durably.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Removes the entries `remove` names (an unknown id is no error) and keeps every entry of
    /// `put` (replacing an entry of the same id; of two in `put` with one id, the later), all
    /// in one transaction: either all of it is kept or none of it.
    async fn write_outbox(&self, put: &[OutboxEntry], remove: &[Uuid]) -> Result<()>;

    /// Every entry of `endpoint`, oldest first.
    async fn outbox(&self, endpoint: &str) -> Result<Vec<OutboxEntry>>;

    /// Removes every entry of `endpoint`; answers how many went.
    async fn clear_outbox(&self, endpoint: &str) -> Result<u64>;
}
