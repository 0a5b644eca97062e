//! The audit trail: one row per entry; the [`AuditLog`] impl.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::PostgresStore;
use super::error::{from_sqlx, retrying, unreadable};
use super::rows::{json, nanos, time};
use crate::error::{Error, Result};
use crate::store::{AuditAction, AuditEntry, AuditLog, Cursor, Page, PageRequest};

const TABLE: &str = "audit_log";

fn entry(row: &PgRow) -> Result<AuditEntry> {
    let get = |column: &'static str| move |_| unreadable(TABLE, column);
    let action: String = row.try_get("action").map_err(get("action"))?;
    let detail: String = row.try_get("detail").map_err(get("detail"))?;
    Ok(AuditEntry {
        id: row.try_get("id").map_err(get("id"))?,
        at: time(row.try_get("at").map_err(get("at"))?),
        actor: row.try_get("actor").map_err(get("actor"))?,
        action: AuditAction::parse(&action).ok_or_else(|| unreadable(TABLE, "action"))?,
        connection_id: row.try_get("connection_id").map_err(get("connection_id"))?,
        app_id: row.try_get("app_id").map_err(get("app_id"))?,
        detail: serde_json::from_str(&detail).map_err(|_| unreadable(TABLE, "detail"))?,
    })
}

#[async_trait]
impl AuditLog for PostgresStore {
    async fn append(&self, e: &AuditEntry) -> Result<()> {
        let (at, detail) = (nanos(e.at)?, json(&e.detail)?);
        let done = retrying(|| {
            sqlx::query(
                "INSERT INTO audit_log (id, at, actor, action, connection_id, app_id, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.id)
            .bind(at)
            .bind(e.actor.as_str())
            .bind(e.action.as_str())
            .bind(e.connection_id.as_deref())
            .bind(e.app_id.as_deref())
            .bind(detail.as_str())
            .execute(&self.inner.pool)
        })
        .await
        .map_err(|err| from_sqlx(err, "appending an audit entry", TABLE))?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(Error::conflict("this audit entry exists already").with_context("key", e.id.to_string()))
        }
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
             WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.inner.pool)
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
