//! [`SealedStore`]: the byte-level backend of an [`EncryptedStore`](super::EncryptedStore), its
//! [`SealedRecord`]s and the in-memory [`MemorySealedStore`].

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use parking_lot::RwLock;

use super::{KeyId, hex};
use crate::connection::ConnectionId;
use crate::connection::store::duplicate;
use crate::error::{Error, Result};

/// The length of an AES-256-GCM nonce.
pub(super) const NONCE_LEN: usize = 12;

/// A connection record as a [`SealedStore`] keeps it: a few plain fields to find and
/// compare-and-swap it, and the whole record (credentials included) encrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The connection's id.
    pub id: ConnectionId,
    /// The app it belongs to.
    pub app_id: String,
    /// The record's version.
    pub version: u64,
    /// The key that sealed it.
    pub key_id: KeyId,
    /// The AES-GCM nonce: random and fresh for every write, so it also identifies the write.
    pub nonce: [u8; NONCE_LEN],
    /// The record serialized as JSON with its credentials, encrypted with AES-256-GCM (the
    /// 16-byte authentication tag at the end).
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("version", &self.version)
            .field("key_id", &self.key_id)
            .field("nonce", &hex(&self.nonce))
            .field("ciphertext", &format_args!("{} bytes", self.ciphertext.len()))
            .finish()
    }
}

/// Keeps [`SealedRecord`]s: the byte-level backend of an [`EncryptedStore`](super::EncryptedStore), which durable
/// stores (SQLite, PostgreSQL …) implement. It never sees a key or a plaintext.
#[async_trait]
pub trait SealedStore: Send + Sync + fmt::Debug {
    /// Adds a record; a record with the same id is a conflict.
    async fn insert(&self, record: SealedRecord) -> Result<()>;

    /// One record, or `None`.
    async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>>;

    /// Every record, ordered by id.
    async fn list(&self) -> Result<Vec<SealedRecord>>;

    /// Replaces the record `id` with `new` only if the stored one's nonce is still
    /// `expected_nonce`, atomically; `false` (and nothing written) otherwise, or when there is
    /// no such record. Every write uses a fresh random nonce, so the nonce identifies the write
    /// that was read: an SQL backend runs
    /// `UPDATE … SET … WHERE id = ? AND nonce = ?` and checks that one row changed.
    async fn compare_and_swap(
        &self,
        id: &ConnectionId,
        expected_nonce: &[u8; NONCE_LEN],
        new: SealedRecord,
    ) -> Result<bool>;

    /// Removes a record; `false` when there was none.
    async fn delete(&self, id: &ConnectionId) -> Result<bool>;
}

/// Sealed records in memory, lost at exit: for tests and as a model for durable backends.
#[derive(Default)]
pub struct MemorySealedStore {
    records: RwLock<HashMap<ConnectionId, SealedRecord>>,
}

impl MemorySealedStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemorySealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySealedStore")
            .field("records", &self.records.read().len())
            .finish()
    }
}

#[async_trait]
impl SealedStore for MemorySealedStore {
    async fn insert(&self, record: SealedRecord) -> Result<()> {
        let mut map = self.records.write();
        if map.contains_key(&record.id) {
            return Err(duplicate(&record.id));
        }
        map.insert(record.id.clone(), record);
        Ok(())
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
        Ok(self.records.read().get(id).cloned())
    }

    async fn list(&self) -> Result<Vec<SealedRecord>> {
        let mut all: Vec<_> = self.records.read().values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    async fn compare_and_swap(
        &self,
        id: &ConnectionId,
        expected_nonce: &[u8; NONCE_LEN],
        new: SealedRecord,
    ) -> Result<bool> {
        if &new.id != id {
            return Err(Error::internal("compare-and-swap of a record under another id")
                .with_context("connection", id.to_string()));
        }
        let mut map = self.records.write();
        match map.get_mut(id) {
            Some(stored) if &stored.nonce == expected_nonce => {
                *stored = new;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        Ok(self.records.write().remove(id).is_some())
    }
}
