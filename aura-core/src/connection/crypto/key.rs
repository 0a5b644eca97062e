//! [`EncryptionKey`] and its name, [`KeyId`].

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::KeyInit;
use base64::Engine as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

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

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }

    /// Compares two keys in constant time.
    pub(super) fn same_as(&self, other: &Self) -> bool {
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

/// Bytes as lowercase hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
