//! [`EnvKeyProvider`]: keys from environment variables.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::zeroize::Zeroizing;

use super::{EncryptionKey, KeyId, KeyProvider, KeyRing};
use crate::error::{Error, Result};

/// Keys from environment variables, read once when built.
///
/// - `<VARIABLE>` (say `AURA_CREDENTIALS_KEY`): the current key, 32 bytes in standard base64
///   (`openssl rand -base64 32`);
/// - `<VARIABLE>_ID` (optional): its id; by default its [fingerprint](EncryptionKey::fingerprint);
/// - `<VARIABLE>_PREVIOUS` (optional): older keys still accepted for reading, comma-separated,
///   each `base64` (its id is its fingerprint) or `id:base64`.
///
/// To rotate: move the current key to `<VARIABLE>_PREVIOUS` (as `id:base64` if it had an
/// `_ID`), put the new key in `<VARIABLE>`, restart, call [`EncryptedStore::rotate_key`](super::EncryptedStore::rotate_key), then
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
