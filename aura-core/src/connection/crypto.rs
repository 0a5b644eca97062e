//! Encryption at rest for connection records.
//!
//! [`EncryptedStore`] is a [`CredentialStore`] that seals every record with AES-256-GCM before
//! it reaches a [`SealedStore`], the byte-level backend durable stores (SQLite, PostgreSQL …)
//! implement. Each record is encrypted whole (credentials exposed, then sealed) with a fresh
//! random 96-bit nonce; the id of the key that sealed it is stored next to the ciphertext, and
//! the associated data binds the ciphertext to its connection id, app, version and key id, so a
//! ciphertext copied onto another record does not open.
//!
//! Keys come from the host through a [`KeyProvider`]: [`KeyRing`] keeps them in memory,
//! [`EnvKeyProvider`] reads them from environment variables. [`EncryptedStore`] documents the
//! key rotation procedure.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use parking_lot::RwLock;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{conflict, duplicate, not_found};
use super::{ConnectionId, ConnectionRecord, CredentialStore};
use crate::error::{Error, Result};

/// The length of an AES-256-GCM nonce.
const NONCE_LEN: usize = 12;
/// The length of an AES-GCM authentication tag, appended to every ciphertext.
const TAG_LEN: usize = 16;
/// How many times an update retries after losing a compare-and-swap to a key rotation.
const CAS_ATTEMPTS: usize = 32;
/// Prefixes the associated data: changes if the sealed format ever does.
const AAD_DOMAIN: &[u8] = b"aura.connection.v1";

/// A 256-bit AES key. Zeroized on drop; `Debug` shows only its [fingerprint](Self::fingerprint).
pub struct EncryptionKey(SecretBox<[u8; 32]>);

impl EncryptionKey {
    /// The length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from its bytes. The copy passed in is zeroized.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let bytes = Zeroizing::new(bytes);
        Self(SecretBox::init_with_mut(|k: &mut [u8; 32]| k.copy_from_slice(&*bytes)))
    }

    /// A key from 32 bytes in standard base64 (surrounding whitespace ignored). The error never
    /// repeats the input.
    pub fn from_base64(encoded: &str) -> Result<Self> {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| Error::invalid_definition("expected 32 bytes of base64, got text that is not base64"))?,
        );
        if decoded.len() != Self::LEN {
            return Err(Error::invalid_definition(format!(
                "expected 32 bytes of base64, got {} bytes",
                decoded.len()
            )));
        }
        Ok(Self(SecretBox::init_with_mut(|k: &mut [u8; 32]| {
            k.copy_from_slice(&decoded)
        })))
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut filled = Ok(());
        let key = SecretBox::init_with_mut(|k: &mut [u8; 32]| filled = getrandom::fill(k));
        filled.map_err(|e| Error::internal("the system random number generator failed").with_source(e))?;
        Ok(Self(key))
    }

    /// A short public name for the key: `k-` and the first 8 bytes of its SHA-256 in hex
    /// (`k-3f9a…`). Says nothing usable about the key; serves as a default [`KeyId`].
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.expose_secret());
        format!("k-{}", hex(&digest[..8]))
    }

    /// The fingerprint as a key id.
    pub fn default_id(&self) -> KeyId {
        KeyId::from(self.fingerprint())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }

    /// Compares two keys in constant time.
    fn same_as(&self, other: &Self) -> bool {
        let (a, b) = (self.0.expose_secret(), other.0.expose_secret());
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

/// The name of an [`EncryptionKey`], stored with every record it sealed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(Arc<str>);

impl KeyId {
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for KeyId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for KeyId {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an [`EncryptedStore`] gets its keys: the host's key management.
#[async_trait]
pub trait KeyProvider: Send + Sync + fmt::Debug {
    /// The key new records are sealed with, and its id.
    async fn current(&self) -> Result<(KeyId, Arc<EncryptionKey>)>;

    /// Any key records may still be sealed with (the current one, and old ones during and after
    /// a rotation); `None` when the id is unknown.
    async fn key(&self, id: &KeyId) -> Result<Option<Arc<EncryptionKey>>>;
}

/// Keys in memory: a current key and any number of older ones still readable.
///
/// Cloning is cheap and clones share the keys, so a host (or a test) can keep a handle and
/// switch the current key while a store uses the ring.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<RwLock<Ring>>,
}

struct Ring {
    current: KeyId,
    keys: BTreeMap<KeyId, Arc<EncryptionKey>>,
}

impl KeyRing {
    /// A ring holding one key, the current one.
    pub fn new(id: impl Into<KeyId>, key: EncryptionKey) -> Self {
        let id = id.into();
        let keys = BTreeMap::from([(id.clone(), Arc::new(key))]);
        Self {
            inner: Arc::new(RwLock::new(Ring { current: id, keys })),
        }
    }

    /// Adds a key records can be opened with; it becomes current only through
    /// [`set_current`](Self::set_current). Adding a key again under its own id does nothing; an
    /// id already taken by a different key is a conflict (replacing it would make the records
    /// it sealed unreadable).
    pub fn add(&self, id: impl Into<KeyId>, key: EncryptionKey) -> Result<()> {
        let id = id.into();
        let mut ring = self.inner.write();
        match ring.keys.get(&id) {
            Some(existing) if existing.same_as(&key) => Ok(()),
            Some(_) => {
                Err(Error::conflict("this key id is already taken by a different key").with_context("key", id.as_str()))
            }
            None => {
                ring.keys.insert(id, Arc::new(key));
                Ok(())
            }
        }
    }

    /// Makes a known key the one new records are sealed with; an unknown id is not found.
    pub fn set_current(&self, id: impl AsRef<str>) -> Result<()> {
        let id = id.as_ref();
        let mut ring = self.inner.write();
        let Some((known, _)) = ring.keys.get_key_value(id) else {
            return Err(Error::not_found("no key with this id in the key ring").with_context("key", id));
        };
        ring.current = known.clone();
        Ok(())
    }

    /// Forgets a key, once no record is sealed with it any more; `false` when it was unknown.
    /// Removing the current key is a conflict: make another key current first.
    pub fn remove(&self, id: impl AsRef<str>) -> Result<bool> {
        let id = id.as_ref();
        let mut ring = self.inner.write();
        if ring.current.as_str() == id {
            return Err(
                Error::conflict("cannot remove the current key; make another key current first")
                    .with_context("key", id),
            );
        }
        Ok(ring.keys.remove(id).is_some())
    }

    /// The id of the current key.
    pub fn current_id(&self) -> KeyId {
        self.inner.read().current.clone()
    }

    /// The ids of every key, in order.
    pub fn ids(&self) -> Vec<KeyId> {
        self.inner.read().keys.keys().cloned().collect()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ring = self.inner.read();
        f.debug_struct("KeyRing")
            .field("current", &ring.current.as_str())
            .field("keys", &ring.keys.keys().map(KeyId::as_str).collect::<Vec<_>>())
            .finish()
    }
}

#[async_trait]
impl KeyProvider for KeyRing {
    async fn current(&self) -> Result<(KeyId, Arc<EncryptionKey>)> {
        let ring = self.inner.read();
        let key = ring.keys.get(&ring.current).cloned().ok_or_else(|| {
            Error::internal("the current key is missing from the key ring").with_context("key", ring.current.as_str())
        })?;
        Ok((ring.current.clone(), key))
    }

    async fn key(&self, id: &KeyId) -> Result<Option<Arc<EncryptionKey>>> {
        Ok(self.inner.read().keys.get(id).cloned())
    }
}

/// Keys from environment variables, read once when built.
///
/// - `<VARIABLE>` (say `AURA_CREDENTIALS_KEY`): the current key, 32 bytes in standard base64
///   (`openssl rand -base64 32`);
/// - `<VARIABLE>_ID` (optional): its id; by default its [fingerprint](EncryptionKey::fingerprint);
/// - `<VARIABLE>_PREVIOUS` (optional): older keys still accepted for reading, comma-separated,
///   each `base64` (its id is its fingerprint) or `id:base64`.
///
/// To rotate: move the current key to `<VARIABLE>_PREVIOUS` (as `id:base64` if it had an
/// `_ID`), put the new key in `<VARIABLE>`, restart, call [`EncryptedStore::rotate_key`], then
/// drop `<VARIABLE>_PREVIOUS`. Errors name the variable, never its value.
#[derive(Clone)]
pub struct EnvKeyProvider {
    variable: String,
    ring: KeyRing,
}

impl EnvKeyProvider {
    /// The variable hosts use by default.
    pub const DEFAULT_VARIABLE: &'static str = "AURA_CREDENTIALS_KEY";

    /// Reads the keys from the process environment.
    pub fn from_env(variable: &str) -> Result<Self> {
        Self::from_lookup(variable, |name| std::env::var(name).ok())
    }

    /// Reads the keys through `lookup` (a variable's value, or `None` when unset): for tests and
    /// hosts with their own configuration source.
    pub fn from_lookup(variable: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let read = |name: &str| Zeroizing::new(lookup(name).unwrap_or_default());

        let raw = read(variable);
        if raw.trim().is_empty() {
            return Err(Error::invalid_definition(format!(
                "environment variable {variable} is not set: it must hold the credentials encryption key, \
                 32 bytes of standard base64"
            ))
            .with_context("variable", variable));
        }
        let key = EncryptionKey::from_base64(&raw).map_err(|e| {
            Error::invalid_definition(format!(
                "environment variable {variable} does not hold a valid key: {}",
                e.message()
            ))
            .with_context("variable", variable)
        })?;
        let id_var = format!("{variable}_ID");
        let id = read(&id_var);
        let id = match id.trim() {
            "" => key.default_id(),
            id => KeyId::from(id),
        };
        let ring = KeyRing::new(id, key);

        let previous_var = format!("{variable}_PREVIOUS");
        let previous = read(&previous_var);
        for (n, entry) in previous.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (id, encoded) = match entry.split_once(':') {
                Some((id, encoded)) => (Some(id.trim()), encoded),
                None => (None, entry),
            };
            let key = EncryptionKey::from_base64(encoded).map_err(|e| {
                Error::invalid_definition(format!(
                    "entry {} of environment variable {previous_var} is not a valid key: {}",
                    n + 1,
                    e.message()
                ))
                .with_context("variable", previous_var.as_str())
            })?;
            let id = id
                .filter(|id| !id.is_empty())
                .map_or_else(|| key.default_id(), KeyId::from);
            ring.add(id, key)
                .map_err(|e| e.with_context("variable", previous_var.as_str()))?;
        }
        Ok(Self {
            variable: variable.to_owned(),
            ring,
        })
    }

    /// The variable the current key came from.
    pub fn variable(&self) -> &str {
        &self.variable
    }

    /// The id of the current key.
    pub fn current_id(&self) -> KeyId {
        self.ring.current_id()
    }

    /// The ids of every key read, in order.
    pub fn ids(&self) -> Vec<KeyId> {
        self.ring.ids()
    }
}

impl fmt::Debug for EnvKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvKeyProvider")
            .field("variable", &self.variable)
            .field("ring", &self.ring)
            .finish()
    }
}

#[async_trait]
impl KeyProvider for EnvKeyProvider {
    async fn current(&self) -> Result<(KeyId, Arc<EncryptionKey>)> {
        self.ring.current().await
    }

    async fn key(&self, id: &KeyId) -> Result<Option<Arc<EncryptionKey>>> {
        self.ring.key(id).await
    }
}

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

/// Keeps [`SealedRecord`]s: the byte-level backend of an [`EncryptedStore`], which durable
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

/// What [`EncryptedStore::rotate_key`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The key every record is now sealed with.
    pub key_id: KeyId,
    /// Records re-sealed under it by this run.
    pub rotated: usize,
    /// Records that were sealed under it already.
    pub already_current: usize,
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
///    ([`KeyRing::add`] then [`KeyRing::set_current`]; with [`EnvKeyProvider`], put the new key
///    in the variable and the old one in `<VARIABLE>_PREVIOUS`, then restart);
/// 2. call [`EncryptedStore::rotate_key`]: it re-seals the records one at a time, each with an
///    atomic compare-and-swap, so an interruption leaves some records under the old key and the
///    rest under the new one, all readable; call it again to finish;
/// 3. once a run reports `rotated == 0`, remove the old key ([`KeyRing::remove`], or drop
///    `<VARIABLE>_PREVIOUS`).
#[derive(Debug)]
pub struct EncryptedStore<B: SealedStore = MemorySealedStore> {
    backend: B,
    keys: Arc<dyn KeyProvider>,
}

impl<B: SealedStore> EncryptedStore<B> {
    /// A store sealing records into `backend` with keys from `keys`.
    pub fn new(backend: B, keys: Arc<dyn KeyProvider>) -> Self {
        Self { backend, keys }
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
    /// An error stops the run and is returned: records already re-sealed stay so, the others
    /// stay under their old key, and all remain readable as long as the provider knows both
    /// keys. Running it again finishes the job. Remove the old key only after a run reports
    /// `rotated == 0` (a writer that fetched the current key before the switch may still have
    /// sealed a record under the old one meanwhile).
    pub async fn rotate_key(&self) -> Result<RotationReport> {
        let (key_id, key) = self.keys.current().await?;
        let mut report = RotationReport {
            key_id: key_id.clone(),
            rotated: 0,
            already_current: 0,
        };
        for listed in self.backend.list().await? {
            let mut sealed = listed;
            loop {
                if sealed.key_id == key_id {
                    report.already_current += 1;
                    break;
                }
                let record = self.open(&sealed).await?;
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
        Ok(report)
    }

    async fn open(&self, sealed: &SealedRecord) -> Result<ConnectionRecord> {
        let key = self.keys.key(&sealed.key_id).await?.ok_or_else(|| {
            Error::invalid_definition(format!(
                "the credentials of connection {} are sealed under key {}, which the key provider does not know; \
                 give the provider that key again (as a previous key) to read them",
                sealed.id, sealed.key_id
            ))
            .with_context("connection", sealed.id.to_string())
            .with_context("key", sealed.key_id.as_str())
        })?;
        open(sealed, &key)
    }
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

    async fn list(&self) -> Result<Vec<ConnectionRecord>> {
        let mut out = Vec::new();
        for sealed in self.backend.list().await? {
            out.push(self.open(&sealed).await?);
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

/// Seals `record` under `key` with a fresh nonce.
fn seal(record: &ConnectionRecord, key_id: &KeyId, key: &EncryptionKey) -> Result<SealedRecord> {
    let mut buffer = plaintext(record)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::internal("the system random number generator failed").with_source(e))?;
    let aad = associated_data(&record.id, &record.app_id, record.version, key_id);
    key.cipher()
        .encrypt_in_place(Nonce::from_slice(&nonce), &aad, &mut *buffer)
        .map_err(|_| {
            Error::internal(format!(
                "the credentials of connection {} could not be encrypted",
                record.id
            ))
            .with_context("connection", record.id.to_string())
            .with_context("key", key_id.as_str())
        })?;
    Ok(SealedRecord {
        id: record.id.clone(),
        app_id: record.app_id.clone(),
        version: record.version,
        key_id: key_id.clone(),
        nonce,
        // The buffer holds the ciphertext now; the emptied plaintext buffer is zeroized.
        ciphertext: std::mem::take(&mut *buffer),
    })
}

/// Opens `sealed` with `key`, checking that it is the record it claims to be.
fn open(sealed: &SealedRecord, key: &EncryptionKey) -> Result<ConnectionRecord> {
    let context = |e: Error| {
        e.with_context("connection", sealed.id.to_string())
            .with_context("key", sealed.key_id.as_str())
    };
    let aad = associated_data(&sealed.id, &sealed.app_id, sealed.version, &sealed.key_id);
    let mut buffer = Zeroizing::new(sealed.ciphertext.clone());
    key.cipher()
        .decrypt_in_place(Nonce::from_slice(&sealed.nonce), &aad, &mut *buffer)
        .map_err(|_| {
            context(Error::internal(format!(
                "the credentials of connection {} could not be decrypted under key {}: \
                 the ciphertext was altered or the key is wrong",
                sealed.id, sealed.key_id
            )))
        })?;
    // The parser's error could quote the plaintext: it is dropped.
    let record: ConnectionRecord = serde_json::from_slice(&buffer).map_err(|_| {
        context(Error::internal(format!(
            "the credentials of connection {} decrypted to something that is not a connection record",
            sealed.id
        )))
    })?;
    if record.id != sealed.id || record.app_id != sealed.app_id || record.version != sealed.version {
        return Err(context(Error::internal(format!(
            "the sealed record of connection {} does not match its id, app or version",
            sealed.id
        ))));
    }
    Ok(record)
}

/// The record as JSON with its credentials exposed, in a buffer that is zeroized on drop and
/// sized so that neither writing it nor appending the tag reallocates (which would leave a copy
/// behind).
fn plaintext(record: &ConnectionRecord) -> Result<Zeroizing<Vec<u8>>> {
    let failed = || {
        Error::internal(format!("connection {} could not be serialized", record.id))
            .with_context("connection", record.id.to_string())
    };
    // Everything but the credentials, which serialize redacted here anyway.
    let mut rest = serde_json::to_value(record).map_err(|_| failed())?;
    rest.as_object_mut().ok_or_else(failed)?.remove("credentials");
    let rest = serde_json::to_vec(&rest).map_err(|_| failed())?;

    const HEAD: &[u8] = b"{\"credentials\":";
    let exposed = record.credentials.exposed();
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, &exposed).map_err(|_| failed())?;
    let mut buffer = Zeroizing::new(Vec::with_capacity(HEAD.len() + counter.0 + rest.len() + TAG_LEN));
    buffer.extend_from_slice(HEAD);
    serde_json::to_writer(&mut *buffer, &exposed).map_err(|_| failed())?;
    match rest.get(1..) {
        // `rest` is `{…}`: append its fields after the credentials.
        Some(fields) if fields.len() > 1 => {
            buffer.push(b',');
            buffer.extend_from_slice(fields);
        }
        _ => buffer.push(b'}'),
    }
    Ok(buffer)
}

/// Counts the bytes written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the ciphertext is bound to: opening it under another id, app, version or key id fails.
fn associated_data(id: &ConnectionId, app_id: &str, version: u64, key_id: &KeyId) -> Vec<u8> {
    let parts = [id.as_str().as_bytes(), app_id.as_bytes(), key_id.as_str().as_bytes()];
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 8 * 4 + parts.iter().map(|p| p.len()).sum::<usize>());
    aad.extend_from_slice(AAD_DOMAIN);
    for part in parts {
        aad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use parking_lot::Mutex;
    use secrecy::SecretString;

    use super::*;
    use crate::ErrorKind;
    use crate::connection::{ApiKeyPlacement, Credentials, OAuth2Token};

    const CANARY: &str = "CANARY-5e2b8d";

    fn key(n: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([n; 32])
    }

    fn b64(n: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    }

    fn store_with(ring: &KeyRing) -> EncryptedStore {
        EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone()))
    }

    fn every_kind() -> Vec<Credentials> {
        vec![
            Credentials::api_key(CANARY, ApiKeyPlacement::header("X-Api-Key")),
            Credentials::api_key(CANARY, ApiKeyPlacement::query("api_key")),
            Credentials::bearer(CANARY),
            Credentials::basic("alice", CANARY),
            Credentials::OAuth2(OAuth2Token {
                refresh_token: Some(SecretString::from(format!("{CANARY}-refresh"))),
                expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(30)),
                scopes: vec!["read".into(), "write".into()],
                ..OAuth2Token::bearer(CANARY)
            }),
            Credentials::custom([("signing_secret", CANARY), ("account", "acct-1")]),
        ]
    }

    fn exposed(c: &Credentials) -> serde_json::Value {
        serde_json::to_value(c.exposed()).unwrap()
    }

    fn assert_same(a: &ConnectionRecord, b: &ConnectionRecord) {
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
        assert_eq!(exposed(&a.credentials), exposed(&b.credentials));
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn round_trips_every_credential_kind() {
        let ring = KeyRing::new("a", key(1));
        let store = store_with(&ring);
        let mut records = Vec::new();
        for (i, creds) in every_kind().into_iter().enumerate() {
            let mut record = ConnectionRecord::new("crm", format!("conn {i}"), creds).with_id(format!("c{i}"));
            record.metadata.insert("workspace".into(), serde_json::json!({"id": i}));
            store.insert(&record).await.unwrap();
            records.push(record);
        }
        for record in &records {
            let back = store.get(&record.id).await.unwrap().unwrap();
            assert_same(record, &back);
            let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
            assert_eq!(sealed.key_id, ring.current_id());
            assert_eq!(sealed.version, 1);
            assert!(!contains(&sealed.ciphertext, CANARY.as_bytes()));
            assert!(!contains(&sealed.ciphertext, b"conn "));
        }
        let listed = store.list().await.unwrap();
        assert_eq!(listed.len(), records.len());
        for (a, b) in records.iter().zip(&listed) {
            assert_same(a, b);
        }
        assert!(store.get(&"nope".into()).await.unwrap().is_none());
        assert_eq!(store.insert(&records[0]).await.unwrap_err().kind(), ErrorKind::Conflict);
        assert!(store.delete(&records[0].id).await.unwrap());
        assert!(!store.delete(&records[0].id).await.unwrap());
        assert!(store.get(&records[0].id).await.unwrap().is_none());
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        let k = key(1);
        let id = KeyId::from("a");
        let one = seal(&record, &id, &k).unwrap();
        let two = seal(&record, &id, &k).unwrap();
        assert_ne!(one.nonce, two.nonce);
        assert_ne!(one.ciphertext, two.ciphertext);
        assert_same(&open(&one, &k).unwrap(), &open(&two, &k).unwrap());
    }

    #[tokio::test]
    async fn a_flipped_byte_is_refused_without_leaking() {
        let ring = KeyRing::new("a", key(1));
        let store = store_with(&ring);
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        store.insert(&record).await.unwrap();

        let mut sealed = store.backend().get(&record.id).await.unwrap().unwrap();
        let nonce = sealed.nonce;
        sealed.ciphertext[3] ^= 0x01;
        assert!(
            store
                .backend()
                .compare_and_swap(&record.id, &nonce, sealed)
                .await
                .unwrap()
        );

        let err = store.get(&record.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(err.context_value("connection"), Some(record.id.as_str()));
        assert_eq!(err.context_value("key"), Some("a"));
        assert!(err.message().contains(record.id.as_str()), "{err}");
        assert!(
            err.message().contains("the ciphertext was altered or the key is wrong"),
            "{err}"
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(store.list().await.is_err());
    }

    #[tokio::test]
    async fn a_wrong_key_under_the_right_id_is_refused() {
        let store = store_with(&KeyRing::new("a", key(1)));
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        store.insert(&record).await.unwrap();
        let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
        let err = open(&sealed, &key(2)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.message().contains("the key is wrong"));
    }

    #[tokio::test]
    async fn a_ciphertext_moved_to_another_record_is_refused() {
        let store = store_with(&KeyRing::new("a", key(1)));
        let one = ConnectionRecord::new("crm", "One", Credentials::bearer(CANARY)).with_id("one");
        let two = ConnectionRecord::new("crm", "Two", Credentials::bearer("other")).with_id("two");
        store.insert(&one).await.unwrap();
        store.insert(&two).await.unwrap();

        let sealed_one = store.backend().get(&one.id).await.unwrap().unwrap();
        let sealed_two = store.backend().get(&two.id).await.unwrap().unwrap();
        let moved = SealedRecord {
            nonce: sealed_one.nonce,
            ciphertext: sealed_one.ciphertext.clone(),
            ..sealed_two.clone()
        };
        assert!(
            store
                .backend()
                .compare_and_swap(&two.id, &sealed_two.nonce, moved)
                .await
                .unwrap()
        );
        let err = store.get(&two.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(err.context_value("connection"), Some("two"));
        // The record it came from still opens.
        assert_same(&one, &store.get(&one.id).await.unwrap().unwrap());

        // Relabelling the version is refused too.
        let relabelled = SealedRecord {
            version: 7,
            ..sealed_one.clone()
        };
        assert!(
            store
                .backend()
                .compare_and_swap(&one.id, &sealed_one.nonce, relabelled)
                .await
                .unwrap()
        );
        assert_eq!(store.get(&one.id).await.unwrap_err().kind(), ErrorKind::Internal);
    }

    #[tokio::test]
    async fn an_unknown_key_id_is_a_clear_error() {
        let ring = KeyRing::new("a", key(1));
        let store = store_with(&ring);
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY)).with_id("c1");
        store.insert(&record).await.unwrap();
        ring.add("b", key(2)).unwrap();
        ring.set_current("b").unwrap();
        assert!(ring.remove("a").unwrap());

        let err = store.get(&record.id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.context_value("connection"), Some("c1"));
        assert_eq!(err.context_value("key"), Some("a"));
        assert!(err.message().contains("c1") && err.message().contains("key a"), "{err}");
        assert!(!format!("{err} {err:?}").contains(CANARY));
    }

    #[tokio::test]
    async fn updates_are_compare_and_swap() {
        let ring = KeyRing::new("a", key(1));
        let store = store_with(&ring);
        let mut record = ConnectionRecord::new("crm", "Sales", Credentials::bearer("t1"));
        store.insert(&record).await.unwrap();
        let first_nonce = store.backend().get(&record.id).await.unwrap().unwrap().nonce;

        record.credentials = Credentials::bearer("t2");
        record.version = 2;
        let err = store.update(&record, 5).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(err.context_value("connection"), Some(record.id.as_str()));

        ring.add("b", key(2)).unwrap();
        ring.set_current("b").unwrap();
        store.update(&record, 1).await.unwrap();
        let back = store.get(&record.id).await.unwrap().unwrap();
        assert_eq!(back.version, 2);
        assert_eq!(exposed(&back.credentials), exposed(&Credentials::bearer("t2")));
        let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
        assert_eq!(sealed.key_id.as_str(), "b");
        assert_ne!(sealed.nonce, first_nonce);

        assert_eq!(store.update(&record, 1).await.unwrap_err().kind(), ErrorKind::Conflict);
        assert!(store.delete(&record.id).await.unwrap());
        assert_eq!(store.update(&record, 2).await.unwrap_err().kind(), ErrorKind::NotFound);
    }

    /// Fails every compare-and-swap once `cas_left` reaches zero; `None` never fails.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: MemorySealedStore,
        cas_left: Mutex<Option<usize>>,
    }

    #[async_trait]
    impl SealedStore for Flaky {
        async fn insert(&self, record: SealedRecord) -> Result<()> {
            self.inner.insert(record).await
        }

        async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
            self.inner.get(id).await
        }

        async fn list(&self) -> Result<Vec<SealedRecord>> {
            self.inner.list().await
        }

        async fn compare_and_swap(&self, id: &ConnectionId, expected: &[u8; 12], new: SealedRecord) -> Result<bool> {
            if let Some(left) = self.cas_left.lock().as_mut() {
                if *left == 0 {
                    return Err(Error::unavailable("disk full"));
                }
                *left -= 1;
            }
            self.inner.compare_and_swap(id, expected, new).await
        }

        async fn delete(&self, id: &ConnectionId) -> Result<bool> {
            self.inner.delete(id).await
        }
    }

    #[tokio::test]
    async fn an_interrupted_rotation_loses_nothing() {
        let ring = KeyRing::new("a", key(1));
        let store = EncryptedStore::new(Flaky::default(), Arc::new(ring.clone()));
        let mut records = Vec::new();
        for i in 0..10 {
            let creds = Credentials::custom([("secret", format!("{CANARY}-{i}"))]);
            let record = ConnectionRecord::new("crm", format!("conn {i}"), creds).with_id(format!("c{i:02}"));
            store.insert(&record).await.unwrap();
            records.push(record);
        }
        ring.add("b", key(2)).unwrap();
        ring.set_current("b").unwrap();

        *store.backend().cas_left.lock() = Some(4);
        let err = store.rotate_key().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);

        let key_ids = |sealed: Vec<SealedRecord>| sealed.into_iter().map(|s| s.key_id.to_string()).collect::<Vec<_>>();
        let ids = key_ids(store.backend().list().await.unwrap());
        assert_eq!(ids.iter().filter(|k| *k == "b").count(), 4);
        assert_eq!(ids.iter().filter(|k| *k == "a").count(), 6);
        for record in &records {
            assert_same(record, &store.get(&record.id).await.unwrap().unwrap());
        }

        *store.backend().cas_left.lock() = None;
        let report = store.rotate_key().await.unwrap();
        assert_eq!(
            report,
            RotationReport {
                key_id: "b".into(),
                rotated: 6,
                already_current: 4
            }
        );
        assert!(key_ids(store.backend().list().await.unwrap()).iter().all(|k| k == "b"));

        let again = store.rotate_key().await.unwrap();
        assert_eq!((again.rotated, again.already_current), (0, 10));

        assert!(ring.remove("a").unwrap());
        for (record, back) in records.iter().zip(store.list().await.unwrap()) {
            assert_same(record, &back);
            assert_eq!(back.version, 1);
        }
    }

    /// Before the next compare-and-swap, writes `interloper` over the stored record, as a
    /// concurrent writer would.
    #[derive(Debug, Default)]
    struct Racing {
        inner: MemorySealedStore,
        interloper: Mutex<Option<SealedRecord>>,
    }

    #[async_trait]
    impl SealedStore for Racing {
        async fn insert(&self, record: SealedRecord) -> Result<()> {
            self.inner.insert(record).await
        }

        async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
            self.inner.get(id).await
        }

        async fn list(&self) -> Result<Vec<SealedRecord>> {
            self.inner.list().await
        }

        async fn compare_and_swap(&self, id: &ConnectionId, expected: &[u8; 12], new: SealedRecord) -> Result<bool> {
            let interloper = self.interloper.lock().take();
            if let Some(other) = interloper {
                let stored = self.inner.get(&other.id).await?.unwrap();
                assert!(self.inner.compare_and_swap(&stored.id, &stored.nonce, other).await?);
            }
            self.inner.compare_and_swap(id, expected, new).await
        }

        async fn delete(&self, id: &ConnectionId) -> Result<bool> {
            self.inner.delete(id).await
        }
    }

    /// `record` sealed the way `ring` would seal it now.
    async fn sealed_now(ring: &KeyRing, record: &ConnectionRecord) -> SealedRecord {
        let (id, key) = ring.current().await.unwrap();
        seal(record, &id, &key).unwrap()
    }

    #[tokio::test]
    async fn an_update_during_a_rotation_wins() {
        let ring = KeyRing::new("a", key(1));
        let store = EncryptedStore::new(Racing::default(), Arc::new(ring.clone()));
        let mut record = ConnectionRecord::new("crm", "Sales", Credentials::bearer("old")).with_id("c1");
        store.insert(&record).await.unwrap();
        ring.add("b", key(2)).unwrap();
        ring.set_current("b").unwrap();

        // An update lands between the rotation's read and its compare-and-swap.
        record.credentials = Credentials::bearer("new");
        record.version = 2;
        *store.backend().interloper.lock() = Some(sealed_now(&ring, &record).await);

        let report = store.rotate_key().await.unwrap();
        assert_eq!((report.rotated, report.already_current), (0, 1));
        let back = store.get(&record.id).await.unwrap().unwrap();
        assert_same(&record, &back);
        assert_eq!(
            store.backend().get(&record.id).await.unwrap().unwrap().key_id.as_str(),
            "b"
        );
    }

    #[tokio::test]
    async fn a_rotation_during_an_update_does_not_lose_it() {
        let ring = KeyRing::new("a", key(1));
        let store = EncryptedStore::new(Racing::default(), Arc::new(ring.clone()));
        let original = ConnectionRecord::new("crm", "Sales", Credentials::bearer("old")).with_id("c1");
        store.insert(&original).await.unwrap();
        ring.add("b", key(2)).unwrap();
        ring.set_current("b").unwrap();

        // A rotation re-seals the record between the update's read and its compare-and-swap.
        *store.backend().interloper.lock() = Some(sealed_now(&ring, &original).await);
        let mut updated = original.clone();
        updated.credentials = Credentials::bearer("new");
        updated.version = 2;
        store.update(&updated, 1).await.unwrap();

        assert_same(&updated, &store.get(&updated.id).await.unwrap().unwrap());
        let report = store.rotate_key().await.unwrap();
        assert_eq!((report.rotated, report.already_current), (0, 1));
    }

    fn lookup(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        move |name| vars.get(name).cloned()
    }

    const VAR: &str = "AURA_CREDENTIALS_KEY";

    #[tokio::test]
    async fn env_provider_reads_current_previous_and_id() {
        let provider = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, format!(" {} ", b64(1)))])).unwrap();
        let (id, current) = provider.current().await.unwrap();
        assert_eq!(id.as_str(), key(1).fingerprint());
        assert!(id.as_str().starts_with("k-") && id.as_str().len() == 18, "{id}");
        assert!(current.same_as(&key(1)));
        assert_eq!(provider.variable(), VAR);

        let provider = EnvKeyProvider::from_lookup(
            VAR,
            lookup(&[
                (VAR, b64(2)),
                ("AURA_CREDENTIALS_KEY_ID", "prod-2".into()),
                (
                    "AURA_CREDENTIALS_KEY_PREVIOUS",
                    format!("{}, prod-0:{},", b64(1), b64(3)),
                ),
            ]),
        )
        .unwrap();
        assert_eq!(provider.current_id().as_str(), "prod-2");
        let old = provider.key(&key(1).default_id()).await.unwrap().unwrap();
        assert!(old.same_as(&key(1)));
        assert!(provider.key(&"prod-0".into()).await.unwrap().unwrap().same_as(&key(3)));
        assert!(provider.key(&"unknown".into()).await.unwrap().is_none());
        assert_eq!(provider.ids().len(), 3);

        // A store sealed under the old key reads through the rotation set-up and rotates.
        let old_ring = KeyRing::new(key(1).default_id(), key(1));
        let backend = MemorySealedStore::new();
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        backend.insert(sealed_now(&old_ring, &record).await).await.unwrap();
        let store = EncryptedStore::new(backend, Arc::new(provider));
        assert_same(&record, &store.get(&record.id).await.unwrap().unwrap());
        assert_eq!(store.rotate_key().await.unwrap().rotated, 1);
        assert_eq!(
            store.backend().get(&record.id).await.unwrap().unwrap().key_id.as_str(),
            "prod-2"
        );
    }

    #[test]
    fn env_provider_errors_name_the_variable_not_the_value() {
        let short = base64::engine::general_purpose::STANDARD.encode(b"CANARYCANARY1234");
        let not_base64 = format!("{CANARY}!!");
        let cases = [
            (vec![], VAR),
            (vec![(VAR, "  ".to_owned())], VAR),
            (vec![(VAR, not_base64.clone())], VAR),
            (vec![(VAR, short.clone())], VAR),
            (
                vec![
                    (VAR, b64(1)),
                    ("AURA_CREDENTIALS_KEY_PREVIOUS", format!("{},{short}", b64(2))),
                ],
                "AURA_CREDENTIALS_KEY_PREVIOUS",
            ),
            (
                vec![
                    (VAR, b64(1)),
                    ("AURA_CREDENTIALS_KEY_PREVIOUS", format!("old:{not_base64}")),
                ],
                "AURA_CREDENTIALS_KEY_PREVIOUS",
            ),
        ];
        for (vars, named) in cases {
            let err = EnvKeyProvider::from_lookup(VAR, lookup(&vars)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
            assert_eq!(err.context_value("variable"), Some(named), "{err}");
            assert!(err.message().contains(named), "{err}");
            let shown = format!("{err} {err:?}");
            for secret in [CANARY, &short, &not_base64, &b64(1), &b64(2)] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        let err = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, short)])).unwrap_err();
        assert!(
            err.message().contains("expected 32 bytes of base64, got 16 bytes"),
            "{err}"
        );
    }

    #[test]
    fn keys_from_base64_and_random() {
        assert!(EncryptionKey::from_base64(&b64(7)).unwrap().same_as(&key(7)));
        let err = EncryptionKey::from_base64("AAAA").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
        assert_eq!(err.message(), "expected 32 bytes of base64, got 3 bytes");
        assert!(EncryptionKey::from_base64("%%%").is_err());
        let (a, b) = (EncryptionKey::generate().unwrap(), EncryptionKey::generate().unwrap());
        assert!(!a.same_as(&b));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(key(1).fingerprint(), key(1).fingerprint());
    }

    #[tokio::test]
    async fn key_ring_guards_its_keys() {
        let ring = KeyRing::new("a", key(1));
        ring.add("a", key(1)).unwrap();
        assert_eq!(ring.add("a", key(2)).unwrap_err().kind(), ErrorKind::Conflict);
        assert_eq!(ring.set_current("b").unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(ring.remove("a").unwrap_err().kind(), ErrorKind::Conflict);
        assert!(!ring.remove("b").unwrap());
        ring.add("b", key(2)).unwrap();
        let handle = ring.clone();
        handle.set_current("b").unwrap();
        assert_eq!(ring.current().await.unwrap().0.as_str(), "b");
        assert_eq!(ring.ids(), vec![KeyId::from("a"), KeyId::from("b")]);
    }

    #[tokio::test]
    async fn debug_never_shows_keys_or_plaintext() {
        let raw = [0xA7u8; 32];
        let ring = KeyRing::new("a", EncryptionKey::from_bytes(raw));
        let env = EnvKeyProvider::from_lookup(VAR, lookup(&[(VAR, b64(0xA7))])).unwrap();
        let store = store_with(&ring);
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        store.insert(&record).await.unwrap();
        let sealed = store.backend().get(&record.id).await.unwrap().unwrap();
        let key_dec = format!("{:?}", raw);
        let outputs = [
            format!("{:?}", EncryptionKey::from_bytes(raw)),
            format!("{ring:?}"),
            format!("{env:?}"),
            format!("{sealed:?}"),
            format!("{store:?}"),
        ];
        for out in &outputs {
            for secret in [CANARY, &b64(0xA7), "a7a7a7a7", "A7A7", &key_dec, "167, 167"] {
                assert!(!out.contains(secret), "{out}");
            }
        }
        assert!(outputs[3].contains("bytes"), "{}", outputs[3]);
    }
}
