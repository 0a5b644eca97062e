//! The webhook outbox: one row per entry; the [`OutboxStore`] impl. A write's entries go in
//! one transaction, as arrays (`unnest`), so that one statement serves any number of them.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PostgresStore;
use super::error::{from_sqlx, retrying, unreadable};
use crate::error::Result;
use crate::store::columns::OutboxColumns;
use crate::store::{OutboxEntry, OutboxStore};

const TABLE: &str = "webhook_outbox";

fn entry(row: &PgRow) -> Result<OutboxEntry> {
    let get = |column: &'static str| move |_| unreadable(TABLE, column);
    let columns = OutboxColumns {
        id: row.try_get("id").map_err(get("id"))?,
        endpoint: row.try_get("endpoint").map_err(get("endpoint"))?,
        delivery_id: row.try_get("delivery_id").map_err(get("delivery_id"))?,
        messages: row.try_get("messages").map_err(get("messages"))?,
        body: row.try_get("body").map_err(get("body"))?,
        attempts: row.try_get("attempts").map_err(get("attempts"))?,
        due_at: row.try_get("due_at").map_err(get("due_at"))?,
        stage: row.try_get("stage").map_err(get("stage"))?,
    };
    columns.entry().map_err(|column| unreadable(TABLE, column))
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn write_outbox(&self, put: &[OutboxEntry], remove: &[Uuid]) -> Result<()> {
        if put.is_empty() && remove.is_empty() {
            return Ok(());
        }
        // One statement may not change a row twice: of two entries with one id, the later.
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::with_capacity(put.len());
        for e in put.iter().rev().filter(|e| seen.insert(e.id)) {
            rows.push(OutboxColumns::new(e)?);
        }
        rows.reverse();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let endpoints: Vec<&str> = rows.iter().map(|r| r.endpoint.as_str()).collect();
        let deliveries: Vec<&str> = rows.iter().map(|r| r.delivery_id.as_str()).collect();
        let messages: Vec<&str> = rows.iter().map(|r| r.messages.as_str()).collect();
        let bodies: Vec<&[u8]> = rows.iter().map(|r| r.body.as_slice()).collect();
        let attempts: Vec<i64> = rows.iter().map(|r| r.attempts).collect();
        let due: Vec<i64> = rows.iter().map(|r| r.due_at).collect();
        let stages: Vec<&str> = rows.iter().map(|r| r.stage.as_str()).collect();
        retrying(|| async {
            let mut tx = self.inner.pool.begin().await?;
            if !remove.is_empty() {
                sqlx::query("DELETE FROM webhook_outbox WHERE id = ANY($1)")
                    .bind(remove)
                    .execute(&mut *tx)
                    .await?;
            }
            if !rows.is_empty() {
                sqlx::query(
                    "INSERT INTO webhook_outbox (id, endpoint, delivery_id, messages, body, attempts, due_at, stage) \
                     SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], \
                     $6::bigint[], $7::bigint[], $8::text[]) \
                     ON CONFLICT (id) DO UPDATE SET endpoint = excluded.endpoint, \
                     delivery_id = excluded.delivery_id, messages = excluded.messages, body = excluded.body, \
                     attempts = excluded.attempts, due_at = excluded.due_at, stage = excluded.stage",
                )
                .bind(&ids)
                .bind(&endpoints)
                .bind(&deliveries)
                .bind(&messages)
                .bind(&bodies)
                .bind(&attempts)
                .bind(&due)
                .bind(&stages)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })
        .await
        .map_err(|e| from_sqlx(e, "writing the webhook outbox", TABLE))
    }

    async fn outbox(&self, endpoint: &str) -> Result<Vec<OutboxEntry>> {
        let found = sqlx::query(
            "SELECT id, endpoint, delivery_id, messages, body, attempts, due_at, stage FROM webhook_outbox \
             WHERE endpoint = $1 ORDER BY id",
        )
        .bind(endpoint)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(|e| from_sqlx(e, "reading an endpoint's outbox", TABLE))?;
        found.iter().map(entry).collect()
    }

    async fn clear_outbox(&self, endpoint: &str) -> Result<u64> {
        let done = retrying(|| {
            sqlx::query("DELETE FROM webhook_outbox WHERE endpoint = $1")
                .bind(endpoint)
                .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| from_sqlx(e, "clearing an endpoint's outbox", TABLE))?;
        Ok(done.rows_affected())
    }
}
