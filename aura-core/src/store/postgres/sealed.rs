//! Connection records: [`PostgresStore`] as the byte-level [`SealedStore`] under an
//! [`EncryptedStore`](crate::connection::EncryptedStore). The store sees ids, versions, key ids
//! and ciphertext, never a key or a credential.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PostgresStore;
use super::error::{from_sqlx, retrying, unreadable};
use crate::connection::{ConnectionId, KeyId, SealedRecord, SealedStore};
use crate::error::{Error, Result};

const TABLE: &str = "connections";

const COLUMNS: &str = "id, app_id, version, key_id, nonce, ciphertext";

fn version(record: &SealedRecord) -> Result<i64> {
    i64::try_from(record.version).map_err(|_| {
        Error::invalid_input("a connection version too large to store", Vec::new())
            .with_context("connection", record.id.to_string())
    })
}

fn record(row: &PgRow) -> Result<SealedRecord> {
    let get_err = |column: &'static str| move |_| unreadable(TABLE, column);
    let id: String = row.try_get("id").map_err(get_err("id"))?;
    let version: i64 = row.try_get("version").map_err(get_err("version"))?;
    let key_id: String = row.try_get("key_id").map_err(get_err("key_id"))?;
    let nonce: Vec<u8> = row.try_get("nonce").map_err(get_err("nonce"))?;
    Ok(SealedRecord {
        id: ConnectionId::from(id),
        app_id: row.try_get("app_id").map_err(get_err("app_id"))?,
        version: u64::try_from(version).map_err(|_| unreadable(TABLE, "version"))?,
        key_id: KeyId::from(key_id),
        nonce: nonce.try_into().map_err(|_| unreadable(TABLE, "nonce"))?,
        ciphertext: row.try_get("ciphertext").map_err(get_err("ciphertext"))?,
    })
}

#[async_trait]
impl SealedStore for PostgresStore {
    async fn insert(&self, record: SealedRecord) -> Result<()> {
        let version = version(&record)?;
        let done = retrying(|| {
            sqlx::query(
                "INSERT INTO connections (id, app_id, version, key_id, nonce, ciphertext) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(record.id.as_str())
            .bind(record.app_id.as_str())
            .bind(version)
            .bind(record.key_id.as_str())
            .bind(&record.nonce[..])
            .bind(record.ciphertext.as_slice())
            .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| from_sqlx(e, "adding a connection", TABLE).with_context("connection", record.id.to_string()))?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(Error::conflict("a connection with this id already exists")
                .with_context("connection", record.id.to_string()))
        }
    }

    async fn get(&self, id: &ConnectionId) -> Result<Option<SealedRecord>> {
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM connections WHERE id = $1"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(|e| from_sqlx(e, "reading a connection", TABLE).with_context("connection", id.to_string()))?;
        found.as_ref().map(record).transpose()
    }

    async fn list(&self) -> Result<Vec<SealedRecord>> {
        // `id` is COLLATE "C": byte order, as the other stores list.
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM connections ORDER BY id"
        )))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(|e| from_sqlx(e, "listing connections", TABLE))?;
        found.iter().map(record).collect()
    }

    /// `UPDATE … WHERE id = $ AND nonce = $`: the nonce identifies the write that was read.
    async fn compare_and_swap(&self, id: &ConnectionId, expected_nonce: &[u8; 12], new: SealedRecord) -> Result<bool> {
        if &new.id != id {
            return Err(Error::internal("compare-and-swap of a record under another id")
                .with_context("connection", id.to_string()));
        }
        let version = version(&new)?;
        let done = retrying(|| {
            sqlx::query(
                "UPDATE connections SET app_id = $1, version = $2, key_id = $3, nonce = $4, ciphertext = $5 \
                 WHERE id = $6 AND nonce = $7",
            )
            .bind(new.app_id.as_str())
            .bind(version)
            .bind(new.key_id.as_str())
            .bind(&new.nonce[..])
            .bind(new.ciphertext.as_slice())
            .bind(id.as_str())
            .bind(&expected_nonce[..])
            .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| from_sqlx(e, "replacing a connection", TABLE).with_context("connection", id.to_string()))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        let done = retrying(|| {
            sqlx::query("DELETE FROM connections WHERE id = $1")
                .bind(id.as_str())
                .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| from_sqlx(e, "deleting a connection", TABLE).with_context("connection", id.to_string()))?;
        Ok(done.rows_affected() == 1)
    }
}
