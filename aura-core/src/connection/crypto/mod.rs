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
//!
//! | file | idea |
//! | --- | --- |
//! | `key.rs` | [`EncryptionKey`] and [`KeyId`] |
//! | `provider.rs` | [`KeyProvider`] and the in-memory [`KeyRing`] |
//! | `env.rs` | [`EnvKeyProvider`]: keys from environment variables |
//! | `sealed.rs` | [`SealedStore`], [`SealedRecord`], [`MemorySealedStore`] |
//! | `cipher.rs` | sealing and opening one record |
//! | `encrypted.rs` | [`EncryptedStore`] and [`RotationReport`] |

mod cipher;
mod encrypted;
mod env;
mod key;
mod provider;
mod sealed;
#[cfg(test)]
mod tests;

pub use self::encrypted::{EncryptedStore, RotationReport};
pub use self::env::EnvKeyProvider;
use self::key::hex;
pub use self::key::{EncryptionKey, KeyId};
pub use self::provider::{KeyProvider, KeyRing};
pub use self::sealed::{MemorySealedStore, SealedRecord, SealedStore};
