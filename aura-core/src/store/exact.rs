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
use crate::store::{PayloadKey, PayloadStore};

/// Prefixes the associated data: changes if the sealed format ever does.
const AAD_DOMAIN: &[u8] = b"aura.exact-payload.v1";

/// Seals and opens exact payloads with one key; keeps the big ones out of line, if told where.
#[derive(Clone)]
pub(crate) struct ExactCipher(Arc<Aes256Gcm>, Option<OutOfLine>);

/// Where sealed payloads bigger than `above` bytes go instead of their row.
#[derive(Clone, Debug)]
struct OutOfLine {
    store: Arc<dyn PayloadStore>,
    above: usize,
}

impl fmt::Debug for ExactCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactCipher")
            .field("out_of_line", &self.1)
            .finish_non_exhaustive()
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

/// An arrival's exact trigger, sealed for its execution: what a commit keeps with the
/// execution when it is created.
pub(crate) struct SealedTrigger {
    /// The arrival's dedupe key (its execution is created only when the key is new).
    pub(crate) dedupe_key: String,
    pub(crate) execution_id: Uuid,
    /// The payload key's stored text.
    pub(crate) payload: String,
    pub(crate) sealed: SealedPayload,
}

impl SealedTrigger {
    /// Whether the sealed payload is kept out of line (its row holds no ciphertext).
    pub(crate) fn out_of_line(&self) -> bool {
        self.sealed.ciphertext.is_empty()
    }
}

impl ExactCipher {
    /// The exact triggers of a commit's arrivals (the first of each key), sealed.
    pub(crate) async fn seal_triggers(&self, commit: &crate::store::PollCommit) -> Result<Vec<SealedTrigger>> {
        let payload = payload_name(&PayloadKey::Trigger)?;
        let mut first = std::collections::HashSet::new();
        let mut sealed = Vec::new();
        for item in &commit.items {
            let Some(exact) = item
                .exact_trigger
                .as_ref()
                .filter(|_| first.insert(item.dedupe_key.as_str()))
            else {
                continue;
            };
            let id = item.execution.id;
            sealed.push(SealedTrigger {
                dedupe_key: item.dedupe_key.clone(),
                execution_id: id,
                payload: payload.clone(),
                sealed: self.seal_stored(id, &payload, exact).await?,
            });
        }
        Ok(sealed)
    }

    /// Forgets the out-of-line copies of sealed triggers whose execution was not created
    /// (`created`: the dedupe keys that were new; `None`: the commit failed).
    pub(crate) async fn forget_uncreated(
        &self,
        sealed: &[SealedTrigger],
        created: Option<&std::collections::HashSet<String>>,
    ) {
        let orphans: Vec<(Uuid, [u8; 12])> = sealed
            .iter()
            .filter(|t| t.out_of_line() && created.is_none_or(|c| !c.contains(&t.dedupe_key)))
            .map(|t| (t.execution_id, t.sealed.nonce))
            .collect();
        if !orphans.is_empty() {
            self.forget(&orphans).await;
        }
    }

    pub(crate) fn new(key: &SecretBox<[u8; 32]>) -> Self {
        Self(Arc::new(Aes256Gcm::new(key.expose_secret().into())), None)
    }

    /// The cipher a store builder was given (if any), keeping sealed payloads over `above`
    /// bytes in `payloads` (if given): what both SQL stores keep exact payloads with.
    pub(crate) fn keeping(cipher: Option<Self>, payloads: Option<Arc<dyn PayloadStore>>, above: usize) -> Option<Self> {
        let mut cipher = cipher?;
        cipher.1 = payloads.map(|store| OutOfLine { store, above });
        Some(cipher)
    }

    /// Seals `value` for its row; a big one goes to the payload store first (durably), and the
    /// row then holds only its nonce (an empty ciphertext, which AES-GCM never makes: its tag
    /// alone is 16 bytes).
    pub(crate) async fn seal_stored(&self, execution_id: Uuid, payload: &str, value: &Value) -> Result<SealedPayload> {
        let sealed = self.seal(execution_id, payload, value)?;
        match &self.1 {
            Some(out) if sealed.ciphertext.len() > out.above => {
                out.store
                    .put(&blob_name(execution_id, &sealed.nonce), sealed.ciphertext)
                    .await
                    .map_err(|e| e.with_context("execution", execution_id.to_string()))?;
                Ok(SealedPayload {
                    nonce: sealed.nonce,
                    ciphertext: Vec::new(),
                })
            }
            _ => Ok(sealed),
        }
    }

    /// Opens a payload as its row holds it, fetching it from the payload store when it is out
    /// of line.
    pub(crate) async fn open_stored(&self, execution_id: Uuid, payload: &str, sealed: SealedPayload) -> Result<Value> {
        if !sealed.ciphertext.is_empty() {
            return self.open(execution_id, payload, &sealed);
        }
        let name = blob_name(execution_id, &sealed.nonce);
        let missing = |why: &str| {
            Error::not_found(format!("the exact payload {payload} is kept out of line, {why}"))
                .with_context("execution", execution_id.to_string())
                .with_context("name", name.clone())
        };
        let Some(out) = &self.1 else {
            return Err(missing("but the store has no payload store"));
        };
        let ciphertext = out
            .store
            .get(&name)
            .await?
            .ok_or_else(|| missing("and the payload store lost it"))?;
        self.open(
            execution_id,
            payload,
            &SealedPayload {
                nonce: sealed.nonce,
                ciphertext,
            },
        )
    }

    /// Deletes the out-of-line payloads of pruned executions (`(execution, nonce)` each); a
    /// failure is logged: the executions are gone already, and a payload left behind is
    /// unreadable without its row.
    pub(crate) async fn forget(&self, out_of_line: &[(Uuid, [u8; 12])]) {
        let (Some(out), false) = (&self.1, out_of_line.is_empty()) else {
            return;
        };
        let names: Vec<String> = out_of_line.iter().map(|(id, nonce)| blob_name(*id, nonce)).collect();
        if let Err(e) = out.store.delete(&names).await {
            tracing::warn!(error = %e, count = names.len(), "payloads of pruned executions could not be deleted");
        }
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

/// The name of an out-of-line payload in the payload store: its execution, and its nonce
/// (random: each sealing gets a name of its own, so a write never replaces another's bytes).
fn blob_name(execution_id: Uuid, nonce: &[u8; 12]) -> String {
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}/{hex}", execution_id.simple())
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
