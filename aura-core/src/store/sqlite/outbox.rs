//! The webhook outbox: one row per entry, written through the writer; the [`OutboxStore`]
//! impl.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::error::{from_sqlx, unreadable};
use super::writer::{Op, Reply};
use crate::error::{Error, Result};
use crate::store::columns::OutboxColumns;
use crate::store::{OutboxEntry, OutboxStore};

const TABLE: &str = "webhook_outbox";

/// What one [`OutboxStore::write_outbox`] changes.
#[derive(Debug)]
pub(super) struct OutboxRows {
    put: Vec<OutboxColumns>,
    remove: Vec<String>,
}

pub(super) async fn write(conn: &mut SqliteConnection, rows: &OutboxRows) -> Result<Result<Reply>> {
    for id in &rows.remove {
        sqlx::query("DELETE FROM webhook_outbox WHERE id = ?1")
            .bind(id.as_str())
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(e, "removing an outbox entry", TABLE))?;
    }
    for row in &rows.put {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, endpoint, delivery_id, messages, body, attempts, due_at, stage) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE SET \
             endpoint = excluded.endpoint, delivery_id = excluded.delivery_id, messages = excluded.messages, \
             body = excluded.body, attempts = excluded.attempts, due_at = excluded.due_at, stage = excluded.stage",
        )
        .bind(row.id.to_string())
        .bind(row.endpoint.as_str())
        .bind(row.delivery_id.as_str())
        .bind(row.messages.as_str())
        .bind(row.body.as_slice())
        .bind(row.attempts)
        .bind(row.due_at)
        .bind(row.stage.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "keeping an outbox entry", TABLE))?;
    }
    Ok(Ok(Reply::Done))
}

pub(super) async fn clear(conn: &mut SqliteConnection, endpoint: &str) -> Result<Result<Reply>> {
    let done = sqlx::query("DELETE FROM webhook_outbox WHERE endpoint = ?1")
        .bind(endpoint)
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "clearing an endpoint's outbox", TABLE))?;
    Ok(Ok(Reply::Count(done.rows_affected())))
}

fn entry(row: &SqliteRow) -> Result<OutboxEntry> {
    let get = |column: &'static str| move |_| unreadable(TABLE, column);
    let id: String = row.try_get("id").map_err(get("id"))?;
    let columns = OutboxColumns {
        id: Uuid::parse_str(&id).map_err(|_| unreadable(TABLE, "id"))?,
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
impl OutboxStore for SqliteStore {
    async fn write_outbox(&self, put: &[OutboxEntry], remove: &[Uuid]) -> Result<()> {
        if put.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let rows = OutboxRows {
            put: put.iter().map(OutboxColumns::new).collect::<Result<_>>()?,
            remove: remove.iter().map(Uuid::to_string).collect(),
        };
        self.inner.writer.write(Op::Outbox(Box::new(rows))).await.map(drop)
    }

    async fn outbox(&self, endpoint: &str) -> Result<Vec<OutboxEntry>> {
        let found = sqlx::query(
            "SELECT id, endpoint, delivery_id, messages, body, attempts, due_at, stage FROM webhook_outbox \
             WHERE endpoint = ?1 ORDER BY id",
        )
        .bind(endpoint)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(|e| from_sqlx(e, "reading an endpoint's outbox", TABLE))?;
        found.iter().map(entry).collect()
    }

    async fn clear_outbox(&self, endpoint: &str) -> Result<u64> {
        match self.inner.writer.write(Op::ClearOutbox(endpoint.to_owned())).await? {
            Reply::Count(gone) => Ok(gone),
            other => Err(Error::internal("the writer answered a clear with something else")
                .with_context("reply", format!("{other:?}"))),
        }
    }
}
