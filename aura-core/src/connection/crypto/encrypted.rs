//! [`EncryptedStore`]: a [`CredentialStore`] that seals every record before it reaches a
//! [`SealedStore`], and its key rotation.

use std::sync::Arc;

use async_trait::async_trait;

use super::cipher::{open, seal};
use super::{KeyId, KeyProvider, MemorySealedStore, SealedRecord, SealedStore};
use crate::audit::{AuditAction, Auditor};
use crate::connection::store::{conflict, not_found};
use crate::connection::{ConnectionId, ConnectionRecord, CredentialStore, Listing, UnreadableRecord};
use crate::error::{Error, Result};

/// How many times an update retries after losing a compare-and-swap to a key rotation.
const CAS_ATTEMPTS: usize = 32;

/// What [`EncryptedStore::rotate_key`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The key every record is now sealed with.
    pub key_id: KeyId,
    /// Records re-sealed under it by this run.
    pub rotated: usize,
    /// Records that were sealed under it already.
    pub already_current: usize,
    /// Records that could not be opened, so were left as they are: by connection and key id.
    pub unreadable: Vec<UnreadableRecord>,
}

/// A [`CredentialStore`] that encrypts every record with AES-256-GCM before handing it to a
/// [`SealedStore`].
///
/// Each record is encrypted whole (the JSON of the record with its credentials exposed) with a
/// fresh random 96-bit nonce, under the [`KeyProvider`]'s current key. The id of that key is
/// stored with the ciphertext, and the associated data binds the ciphertext to its connection
/// id, app, version and key id, so a ciphertext copied onto another record does not open.
/// Reads open each record with the key its key id names.
///
/// Updates are compare-and-swap on the record's version (and, underneath, on the nonce of the
/// write that was read), so replacing credentials is atomic and never loses a concurrent
/// rotation or update. Errors and `Debug` output never contain a key or a plaintext.
///
/// ```
/// use std::sync::Arc;
///
/// use aura_core::connection::{
///     ConnectionRecord, CredentialStore, Credentials, EncryptedStore, EncryptionKey, KeyRing, MemorySealedStore,
///     SealedStore,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let ring = KeyRing::new("2025-01", EncryptionKey::generate()?);
/// let store = EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone()));
///
/// let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer("sk_live_123"));
/// store.insert(&record).await?;
/// let back = store.get(&record.id).await?.expect("stored");
/// assert_eq!(back.credentials.kind(), "bearer");
///
/// // Rotation: a new current key, the old one kept readable until every record moved.
/// ring.add("2025-07", EncryptionKey::generate()?)?;
/// ring.set_current("2025-07")?;
/// assert_eq!(store.rotate_key().await?.rotated, 1);
/// ring.remove("2025-01")?;
/// let sealed = store.backend().get(&record.id).await?.expect("stored");
/// assert_eq!(sealed.key_id.as_str(), "2025-07");
/// # Ok(())
/// # }
/// ```
///
/// # Rotating the key
///
/// Every record stays readable under its old key or its new one at every moment:
///
/// 1. add the new key to the provider and make it the current one, keeping the old one readable
///    ([`KeyRing::add`](super::KeyRing::add) then [`KeyRing::set_current`](super::KeyRing::set_current); with [`EnvKeyProvider`](super::EnvKeyProvider), put the new key
///    in the variable and the old one in `<VARIABLE>_PREVIOUS`, then restart);
/// 2. call [`EncryptedStore::rotate_key`]: it re-seals the records one at a time, each with an
///    atomic compare-and-swap, so an interruption leaves some records under the old key and the
///    rest under the new one, all readable; call it again to finish;
/// 3. once a run reports `rotated == 0`, remove the old key ([`KeyRing::remove`](super::KeyRing::remove), or drop
///    `<VARIABLE>_PREVIOUS`).
#[derive(Debug)]
pub struct EncryptedStore<B: SealedStore = MemorySealedStore> {
    backend: B,
    keys: Arc<dyn KeyProvider>,
    audit: Option<Auditor>,
}

impl<B: SealedStore> EncryptedStore<B> {
    /// A store sealing records into `backend` with keys from `keys`.
    pub fn new(backend: B, keys: Arc<dyn KeyProvider>) -> Self {
        Self {
            backend,
            keys,
            audit: None,
        }
    }

    /// Appends a [`KeyRotated`](AuditAction::KeyRotated) entry to `auditor`'s log after each
    /// [`rotate_key`](Self::rotate_key) run that succeeded (the key id and the counts; never a
    /// key). Record-level operations are audited by the
    /// [`ConnectionManager`](crate::connection::ConnectionManager) above the store.
    #[must_use]
    pub fn with_audit(mut self, auditor: Auditor) -> Self {
        self.audit = Some(auditor);
        self
    }

    /// The backend, holding only sealed records.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// The key provider.
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// Re-seals every record not yet under the provider's current key, one at a time.
    ///
    /// Each record is opened with its old key, sealed under the current key with a fresh nonce
    /// and written with a compare-and-swap on the nonce it was read with; when another write
    /// got there first, the record is read again and handled anew (a concurrent update has
    /// normally sealed it under the current key already). Versions do not change, so concurrent
    /// updates are not disturbed.
    ///
    /// A record that cannot be opened (an altered ciphertext, a key the provider does not know)
    /// is reported in [`RotationReport::unreadable`], by connection and key id, and the run goes
    /// on with the others. Any other error (the backend, the key provider) stops the run and is
    /// returned: records already re-sealed stay so, the others stay under their old key, and
    /// all remain readable as long as the provider knows both keys. Running it again finishes
    /// the job. Remove the old key only after a run reports `rotated == 0` and nothing
    /// unreadable (a writer that fetched the current key before the switch may still have
    /// sealed a record under the old one meanwhile).
    pub async fn rotate_key(&self) -> Result<RotationReport> {
        let (key_id, key) = self.keys.current().await?;
        let mut report = RotationReport {
            key_id: key_id.clone(),
            rotated: 0,
            already_current: 0,
            unreadable: Vec::new(),
        };
        for listed in self.backend.list().await? {
            let mut sealed = listed;
            loop {
                if sealed.key_id == key_id {
                    report.already_current += 1;
                    break;
                }
                let record = match self.try_open(&sealed).await? {
                    Ok(record) => record,
                    Err(err) => {
                        report.unreadable.push(unreadable(&sealed, &err));
                        break;
                    }
                };
                let resealed = seal(&record, &key_id, &key)?;
                if self
                    .backend
                    .compare_and_swap(&sealed.id, &sealed.nonce, resealed)
                    .await?
                {
                    report.rotated += 1;
                    break;
                }
                match self.backend.get(&sealed.id).await? {
                    Some(again) => sealed = again,
                    None => break, // deleted meanwhile
                }
            }
        }
        if let Some(auditor) = &self.audit {
            let detail = serde_json::json!({
                "key_id": report.key_id.as_str(),
                "rotated": report.rotated,
                "already_current": report.already_current,
                "unreadable": report.unreadable.len(),
            });
            auditor
                .record(auditor.entry(AuditAction::KeyRotated).detail(detail))
                .await;
        }
        Ok(report)
    }

    async fn open(&self, sealed: &SealedRecord) -> Result<ConnectionRecord> {
        self.try_open(sealed).await?
    }

    /// Opens `sealed`: the outer error is the key provider's (nothing could be read), the inner
    /// one this record's (a key the provider does not know, an altered ciphertext).
    async fn try_open(&self, sealed: &SealedRecord) -> Result<Result<ConnectionRecord>> {
        let Some(key) = self.keys.key(&sealed.key_id).await? else {
            return Ok(Err(Error::invalid_definition(format!(
                "the credentials of connection {} are sealed under key {}, which the key provider does not know; \
                 give the provider that key again (as a previous key) to read them",
                sealed.id, sealed.key_id
            ))
            .with_context("connection", sealed.id.to_string())
            .with_context("key", sealed.key_id.as_str())));
        };
        Ok(open(sealed, &key))
    }
}

/// The report of a record that could not be opened: which, under which key, and why.
fn unreadable(sealed: &SealedRecord, err: &Error) -> UnreadableRecord {
    tracing::warn!(connection = %sealed.id, key = %sealed.key_id, error = %err, "a sealed connection record cannot be read");
    UnreadableRecord::new(sealed.id.clone(), Some(sealed.key_id.clone()), err)
}

#[async_trait]
impl<B: SealedStore> CredentialStore for EncryptedStore<B> {
    async fn insert(&self, record: &ConnectionRecord) -> Result<()> {
        let (key_id, key) = self.keys.current().await?;
        self.backend.insert(seal(record, &key_id, &key)?).await
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<ConnectionRecord>> {
        match self.backend.get(id).await? {
            Some(sealed) => self.open(&sealed).await.map(Some),
            None => Ok(None),
        }
    }

    async fn list(&self) -> Result<Listing> {
        let mut out = Listing::default();
        for sealed in self.backend.list().await? {
            match self.try_open(&sealed).await? {
                Ok(record) => out.records.push(record),
                Err(err) => out.unreadable.push(unreadable(&sealed, &err)),
            }
        }
        Ok(out)
    }

    async fn update(&self, record: &ConnectionRecord, expected: u64) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let stored = self
                .backend
                .get(&record.id)
                .await?
                .ok_or_else(|| not_found(&record.id))?;
            if stored.version != expected {
                return Err(conflict(&record.id, expected, stored.version));
            }
            let (key_id, key) = self.keys.current().await?;
            let sealed = seal(record, &key_id, &key)?;
            if self.backend.compare_and_swap(&record.id, &stored.nonce, sealed).await? {
                return Ok(());
            }
            // Another write (a rotation re-sealing it, or an update) came first: check again.
        }
        Err(Error::conflict(format!(
            "connection kept changing during the update; gave up after {CAS_ATTEMPTS} attempts"
        ))
        .with_context("connection", record.id.to_string()))
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        self.backend.delete(id).await
    }
}
