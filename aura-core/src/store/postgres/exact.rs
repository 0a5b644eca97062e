//! Exact payloads: sealed with the store's key ([`ExactCipher`](crate::store::exact)) before
//! they are written, opened after they are read. Without a key nothing is written or read.

use std::sync::Arc;

use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use super::PostgresStore;
use super::error::{from_sqlx, unreadable};
use super::executions::ExactRow;
use super::writer::{Fence, Op};
use crate::error::Result;
use crate::store::PayloadKey;
use crate::store::exact::{SealedPayload, payload_name};

const TABLE: &str = "exact_payloads";

impl PostgresStore {
    /// Seals and writes an exact payload (under `fence`'s lease, if given).
    pub(super) async fn save_exact_payload(
        &self,
        execution_id: Uuid,
        key: &PayloadKey,
        value: &Value,
        fence: Option<Fence>,
    ) -> Result<()> {
        let Some(cipher) = &self.inner.exact else {
            // No key: the exact payload is not kept at all (never in plain text).
            return Ok(());
        };
        let payload = payload_name(key)?;
        let sealed = cipher.seal_stored(execution_id, &payload, value).await?;
        let row = ExactRow {
            execution_id,
            payload,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        };
        self.inner
            .writer
            .write(Op::SaveExact(Box::new(row), fence))
            .await
            .map(drop)
    }

    pub(super) async fn read_exact_payload(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        let Some(cipher) = &self.inner.exact else {
            return Ok(None);
        };
        let payload = payload_name(key)?;
        let found =
            sqlx::query("SELECT nonce, ciphertext FROM exact_payloads WHERE execution_id = $1 AND payload = $2")
                .bind(execution_id)
                .bind(payload.as_str())
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(|e| {
                    from_sqlx(e, "reading an exact payload", TABLE).with_context("execution", execution_id.to_string())
                })?;
        let Some(row) = found else { return Ok(None) };
        let nonce: Vec<u8> = row.try_get("nonce").map_err(|_| unreadable(TABLE, "nonce"))?;
        let sealed = SealedPayload {
            nonce: nonce.try_into().map_err(|_| unreadable(TABLE, "nonce"))?,
            ciphertext: row.try_get("ciphertext").map_err(|_| unreadable(TABLE, "ciphertext"))?,
        };
        cipher
            .open_stored(execution_id, &payload, sealed)
            .await
            .map(|v| Some(Arc::new(v)))
    }
}
