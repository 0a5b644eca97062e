//! Sealing and opening one record: AES-256-GCM over the record's JSON, bound to its id, app,
//! version and key id by the associated data.

use aes_gcm::Nonce;
use aes_gcm::aead::AeadInPlace;
use secrecy::zeroize::Zeroizing;

use super::sealed::NONCE_LEN;
use super::{EncryptionKey, KeyId, SealedRecord};
use crate::connection::{ConnectionId, ConnectionRecord};
use crate::error::{Error, Result};

/// The length of an AES-GCM authentication tag, appended to every ciphertext.
const TAG_LEN: usize = 16;
/// Prefixes the associated data: changes if the sealed format ever does.
const AAD_DOMAIN: &[u8] = b"aura.connection.v1";

/// Seals `record` under `key` with a fresh nonce.
pub(super) fn seal(record: &ConnectionRecord, key_id: &KeyId, key: &EncryptionKey) -> Result<SealedRecord> {
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
pub(super) fn open(sealed: &SealedRecord, key: &EncryptionKey) -> Result<ConnectionRecord> {
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
