//! [`KeyProvider`]: where an [`EncryptedStore`](super::EncryptedStore) gets its keys, and
//! [`KeyRing`], the in-memory one.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::RwLock;

use super::{EncryptionKey, KeyId};
use crate::error::{Error, Result};

/// Where an [`EncryptedStore`](super::EncryptedStore) gets its keys: the host's key management.
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
