//! [`CredentialStore`]: where connection records (credentials included) are kept.
//!
//! The [`ConnectionManager`](super::ConnectionManager) reads and writes records through this
//! trait. [`MemoryCredentialStore`] keeps them in memory (tests, embedded hosts);
//! [`EncryptedStore`](super::EncryptedStore) seals each record with AES-256-GCM before it
//! reaches a [`SealedStore`](super::SealedStore), the byte-level backend durable stores
//! implement.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use parking_lot::RwLock;

use super::{ConnectionId, ConnectionRecord, KeyId};
use crate::error::{Error, ErrorKind, Result};

/// Keeps connection records, credentials included.
///
/// Every write that changes a record is a compare-and-swap on its
/// [`version`](ConnectionRecord::version), so two writers never silently overwrite each other:
/// the loser gets an [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) error, reads again
/// and retries ([`ConnectionManager`](super::ConnectionManager) does that for you).
#[async_trait]
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// Adds a new record; a record with the same id is a conflict.
    async fn insert(&self, record: &ConnectionRecord) -> Result<()>;

    /// One record, or `None`.
    async fn get(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>>;

    /// Every record, ordered by id. A record that cannot be read (a corrupted ciphertext, a key
    /// the provider no longer has) does not hide the others: it is reported in
    /// [`Listing::unreadable`]. An error means the store itself could not be read.
    async fn list(&self) -> Result<Listing>;

    /// Replaces the record with `record.id` if the stored one still has version `expected`;
    /// otherwise fails with a conflict (or not-found) and changes nothing. The caller sets the
    /// new record's version (the manager uses `expected + 1`).
    async fn update(&self, record: &ConnectionRecord, expected: u64) -> Result<()>;

    /// Removes a record; `false` when there was none.
    async fn delete(&self, id: &ConnectionId) -> Result<bool>;
}

/// What [`CredentialStore::list`] read.
#[derive(Debug, Default)]
pub struct Listing {
    /// The records that could be read, ordered by id.
    pub records: Vec<ConnectionRecord>,
    /// The records that could not, ordered by id.
    pub unreadable: Vec<UnreadableRecord>,
}

/// A stored record that could not be read. Says which and why, never its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableRecord {
    /// The connection.
    pub id: ConnectionId,
    /// The key that sealed it, for encrypted stores.
    pub key_id: Option<KeyId>,
    /// The kind of the error that stopped it.
    pub kind: ErrorKind,
    /// The error, as text (it names the connection and key, never a secret or the bytes).
    pub reason: String,
}

impl UnreadableRecord {
    /// The record `id` (sealed under `key_id`, if any) that failed with `err`.
    pub fn new(id: ConnectionId, key_id: Option<KeyId>, err: &Error) -> Self {
        Self {
            id,
            key_id,
            kind: err.kind(),
            reason: err.to_string(),
        }
    }
}

/// The errors every store reports the same way.
pub(crate) fn conflict(id: &ConnectionId, expected: u64, found: u64) -> Error {
    Error::conflict(format!(
        "connection changed meanwhile: expected version {expected}, found {found}"
    ))
    .with_context("connection", id.to_string())
}

pub(crate) fn not_found(id: &ConnectionId) -> Error {
    Error::not_found("no such connection").with_context("connection", id.to_string())
}

pub(crate) fn duplicate(id: &ConnectionId) -> Error {
    Error::conflict("a connection with this id already exists").with_context("connection", id.to_string())
}

/// Records in memory, lost at exit. Secrets stay in [`secrecy`] types the whole time.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    records: RwLock<HashMap<ConnectionId, ConnectionRecord>>,
}

impl MemoryCredentialStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn insert(&self, record: &ConnectionRecord) -> Result<()> {
        let mut map = self.records.write();
        if map.contains_key(&record.id) {
            return Err(duplicate(&record.id));
        }
        map.insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>> {
        Ok(self.records.read().get(id).cloned())
    }

    async fn list(&self) -> Result<Listing> {
        let mut records: Vec<_> = self.records.read().values().cloned().collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Listing {
            records,
            unreadable: Vec::new(),
        })
    }

    async fn update(&self, record: &ConnectionRecord, expected: u64) -> Result<()> {
        let mut map = self.records.write();
        let stored = map.get_mut(&record.id).ok_or_else(|| not_found(&record.id))?;
        if stored.version != expected {
            return Err(conflict(&record.id, expected, stored.version));
        }
        *stored = record.clone();
        Ok(())
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        Ok(self.records.write().remove(id).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Credentials;

    #[tokio::test]
    async fn updates_are_compare_and_swap() {
        let store = MemoryCredentialStore::new();
        let mut rec = ConnectionRecord::new("crm", "Sales", Credentials::bearer("t1"));
        store.insert(&rec).await.unwrap();
        assert_eq!(store.insert(&rec).await.unwrap_err().kind(), ErrorKind::Conflict);

        rec.version = 2;
        store.update(&rec, 1).await.unwrap();
        let err = store.update(&rec, 1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.context_value("connection"), Some(rec.id.as_str()));

        assert_eq!(store.list().await.unwrap().records.len(), 1);
        assert!(store.delete(&rec.id).await.unwrap());
        assert!(store.get(&rec.id).await.unwrap().is_none());
        assert_eq!(store.update(&rec, 2).await.unwrap_err().kind(), ErrorKind::NotFound);
    }
}
