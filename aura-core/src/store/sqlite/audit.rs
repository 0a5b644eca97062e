//! The audit trail: one row per entry, appended through the writer; the [`AuditLog`] impl.

use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::SqliteStore;
use super::error::{from_sqlx, unreadable};
use super::rows::{json, nanos, time};
use super::writer::{Op, Reply};
use crate::error::{Error, Result};
use crate::store::{AuditAction, AuditEntry, AuditLog, Cursor, Page, PageRequest};

const TABLE: &str = "audit_log";

/// An entry's columns, ready to bind.
#[derive(Debug)]
pub(super) struct AuditRow {
    id: String,
    at: i64,
    actor: String,
    action: &'static str,
    connection_id: Option<String>,
    app_id: Option<String>,
    detail: String,
}

impl AuditRow {
    fn new(e: &AuditEntry) -> Result<Self> {
        Ok(Self {
            id: e.id.to_string(),
            at: nanos(e.at)?,
            actor: e.actor.clone(),
            action: e.action.as_str(),
            connection_id: e.connection_id.clone(),
            app_id: e.app_id.clone(),
            detail: json(&e.detail)?,
        })
    }
}

pub(super) async fn append(conn: &mut SqliteConnection, row: &AuditRow) -> Result<Result<Reply>> {
    let done = sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, connection_id, app_id, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
    )
    .bind(row.id.as_str())
    .bind(row.at)
    .bind(row.actor.as_str())
    .bind(row.action)
    .bind(row.connection_id.as_deref())
    .bind(row.app_id.as_deref())
    .bind(row.detail.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| from_sqlx(e, "appending an audit entry", TABLE))?;
    if done.rows_affected() == 1 {
        Ok(Ok(Reply::Done))
    } else {
        Ok(Err(
            Error::conflict("this audit entry exists already").with_context("key", row.id.clone())
        ))
    }
}

fn entry(row: &SqliteRow) -> Result<AuditEntry> {
    let get = |column: &'static str| move |_| unreadable(TABLE, column);
    let id: String = row.try_get("id").map_err(get("id"))?;
    let action: String = row.try_get("action").map_err(get("action"))?;
    let detail: String = row.try_get("detail").map_err(get("detail"))?;
    Ok(AuditEntry {
        id: Uuid::parse_str(&id).map_err(|_| unreadable(TABLE, "id"))?,
        at: time(row.try_get("at").map_err(get("at"))?),
        actor: row.try_get("actor").map_err(get("actor"))?,
        action: AuditAction::parse(&action).ok_or_else(|| unreadable(TABLE, "action"))?,
        connection_id: row.try_get("connection_id").map_err(get("connection_id"))?,
        app_id: row.try_get("app_id").map_err(get("app_id"))?,
        detail: serde_json::from_str(&detail).map_err(|_| unreadable(TABLE, "detail"))?,
    })
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append(&self, entry: &AuditEntry) -> Result<()> {
        let row = AuditRow::new(entry)?;
        self.inner.writer.write(Op::Audit(Box::new(row))).await.map(drop)
    }

    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEntry>> {
        let after = page
            .after
            .as_ref()
            .map(|c| {
                Uuid::parse_str(c.as_str()).map_err(|_| {
                    Error::invalid_input("not a cursor of this store", Vec::new())
                        .with_context("cursor", c.as_str().to_owned())
                })
            })
            .transpose()?;
        let limit = i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let found = sqlx::query(
            "SELECT id, at, actor, action, connection_id, app_id, detail FROM audit_log \
             WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(after.map(|a| a.to_string()))
        .bind(limit)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(|e| from_sqlx(e, "listing the audit trail", TABLE))?;
        let mut items = found.iter().map(entry).collect::<Result<Vec<_>>>()?;
        let more = items.len() > page.limit;
        items.truncate(page.limit);
        let next = match items.last() {
            Some(last) if more => Some(Cursor::new(last.id.to_string())),
            _ => None,
        };
        Ok(Page { items, next })
    }
}
