//! Exact payloads, sealed (shared by the durable stores): AES-256-GCM over the payload's JSON,
//! bound to its execution and payload key by the associated data, so that a ciphertext copied
//! onto another row does not open.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::{ExposeSecret, SecretBox};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::store::PayloadKey;

/// Prefixes the associated data: changes if the sealed format ever does.
const AAD_DOMAIN: &[u8] = b"aura.exact-payload.v1";

/// Seals and opens exact payloads with one key.
#[derive(Clone)]
pub(crate) struct ExactCipher(Arc<Aes256Gcm>);

impl fmt::Debug for ExactCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExactCipher(..)")
    }
}

/// A sealed payload as stored.
pub(crate) struct SealedPayload {
    pub(crate) nonce: [u8; 12],
    pub(crate) ciphertext: Vec<u8>,
}

/// The payload key's stored text: its JSON (stable: an enum of plain fields).
pub(crate) fn payload_name(key: &PayloadKey) -> Result<String> {
    serde_json::to_string(key).map_err(|_| Error::internal("a payload key could not be serialized"))
}

impl ExactCipher {
    pub(crate) fn new(key: &SecretBox<[u8; 32]>) -> Self {
        Self(Arc::new(Aes256Gcm::new(key.expose_secret().into())))
    }

    pub(crate) fn seal(&self, execution_id: Uuid, payload: &str, value: &Value) -> Result<SealedPayload> {
        // The plaintext is zeroized once sealed: it may hold the secrets the record redacts.
        let plaintext = secrecy::zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|_| Error::internal("an exact payload could not be serialized"))?,
        );
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::internal("the system random number generator failed").with_source(e))?;
        let aad = associated_data(execution_id, payload);
        let ciphertext = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                Error::internal("an exact payload could not be encrypted")
                    .with_context("execution", execution_id.to_string())
            })?;
        Ok(SealedPayload { nonce, ciphertext })
    }

    pub(crate) fn open(&self, execution_id: Uuid, payload: &str, sealed: &SealedPayload) -> Result<Value> {
        let failed = |why: &str| {
            Error::internal(format!("the exact payload {payload} of execution {execution_id} {why}"))
                .with_context("execution", execution_id.to_string())
        };
        let aad = associated_data(execution_id, payload);
        let plaintext = secrecy::zeroize::Zeroizing::new(
            self.0
                .decrypt(
                    Nonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| failed("could not be decrypted: the key is wrong or the row was altered"))?,
        );
        // The parser's error could quote the plaintext: it is dropped.
        serde_json::from_slice(&plaintext).map_err(|_| failed("decrypted to something that is not JSON"))
    }
}

fn associated_data(execution_id: Uuid, payload: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_DOMAIN.len() + 18 + payload.len());
    aad.extend_from_slice(AAD_DOMAIN);
    aad.push(0);
    aad.extend_from_slice(execution_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(payload.as_bytes());
    aad
}
