//! Trigger state: cursors and dedupe keys, and a poll's commit as one transaction with the
//! executions it creates: the [`TriggerStateStore`] impl.
//!
//! Which keys are new is decided by the upsert itself (`INSERT … ON CONFLICT DO UPDATE …
//! WHERE expired RETURNING key`): two workers committing the same item at once agree, the
//! second waits on the first's row lock and finds the key taken, so one execution is created.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::error::{from_sqlx, retrying, unreadable};
use super::rows::{ExecutionRow, NodeRow, json, nanos};
use super::{PostgresStore, executions};
use crate::error::{Error, Result};
use crate::store::triggers::{distinct, mark};
use crate::store::{PollCommit, PollOutcome, TriggerKey, TriggerStateStore};

fn context(err: Error, key: &TriggerKey) -> Error {
    err.with_context("scenario", key.scenario_id.clone())
        .with_context("trigger", key.trigger_id.clone())
}

/// Keeps the keys that are new (absent, or expired by `now`) and returns them.
async fn keep_fresh(
    conn: &mut PgConnection,
    key: &TriggerKey,
    keys: &[&str],
    expires_at: i64,
    now: i64,
) -> std::result::Result<HashSet<String>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    // In one order for every caller: two commits sharing keys lock them in the same order and
    // cannot deadlock.
    let mut keys = keys.to_vec();
    keys.sort_unstable();
    let rows = sqlx::query(
        "INSERT INTO dedupe_keys (scenario_id, trigger_id, key, expires_at) \
         SELECT $1, $2, k, $3 FROM unnest($4::text[]) AS k \
         ON CONFLICT (scenario_id, trigger_id, key) DO UPDATE SET expires_at = excluded.expires_at \
         WHERE dedupe_keys.expires_at <= $5 RETURNING key",
    )
    .bind(key.scenario_id.as_str())
    .bind(key.trigger_id.as_str())
    .bind(expires_at)
    .bind(&keys)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

async fn set_cursor_in(
    conn: &mut PgConnection,
    key: &TriggerKey,
    cursor: &str,
    now: i64,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO trigger_cursors (scenario_id, trigger_id, cursor, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (scenario_id, trigger_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )
    .bind(key.scenario_id.as_str())
    .bind(key.trigger_id.as_str())
    .bind(cursor)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map(drop)
}

/// Creates `rows` (with their nodes) with the statements the writer uses: the id of one that
/// exists already, when one does (then the caller rolls back).
async fn create_in(
    conn: &mut PgConnection,
    rows: &[&(ExecutionRow, Vec<NodeRow>)],
) -> std::result::Result<Option<Uuid>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(None);
    }
    let ids: Vec<Uuid> = rows.iter().map(|(r, _)| r.id).collect();
    let found = executions::existing(conn, &ids).await?;
    if let Some(id) = ids.iter().find(|id| found.contains(id)) {
        return Ok(Some(*id));
    }
    let executions: Vec<&ExecutionRow> = rows.iter().map(|(r, _)| r).collect();
    executions::insert(conn, &executions).await?;
    let nodes: Vec<(Uuid, &NodeRow)> = rows
        .iter()
        .flat_map(|(r, nodes)| nodes.iter().map(move |n| (r.id, n)))
        .collect();
    executions::upsert_nodes(conn, &nodes).await?;
    Ok(None)
}

/// What a poll's transaction did.
enum Committed {
    Done(HashSet<String>),
    /// An execution existed already: rolled back.
    Duplicate(Uuid),
}

#[async_trait]
impl TriggerStateStore for PostgresStore {
    async fn cursor(&self, key: &TriggerKey) -> Result<Option<Value>> {
        let found = sqlx::query("SELECT cursor FROM trigger_cursors WHERE scenario_id = $1 AND trigger_id = $2")
            .bind(key.scenario_id.as_str())
            .bind(key.trigger_id.as_str())
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| context(from_sqlx(e, "reading a trigger's cursor", "trigger_cursors"), key))?;
        let Some(row) = found else { return Ok(None) };
        let text: String = row
            .try_get("cursor")
            .map_err(|_| unreadable("trigger_cursors", "cursor"))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| unreadable("trigger_cursors", "cursor"))
    }

    async fn set_cursor(&self, key: &TriggerKey, cursor: &Value) -> Result<()> {
        let text = json(cursor)?;
        let now = nanos(Utc::now())?;
        retrying(|| async {
            let mut conn = self.inner.pool.acquire().await?;
            set_cursor_in(&mut conn, key, &text, now).await
        })
        .await
        .map_err(|e| context(from_sqlx(e, "setting a trigger's cursor", "trigger_cursors"), key))
    }

    async fn remember(
        &self,
        key: &TriggerKey,
        keys: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let wanted = distinct(keys.iter().map(String::as_str));
        let (expires_at, now_n) = (nanos(expires_at)?, nanos(now)?);
        let fresh = retrying(|| async {
            let mut conn = self.inner.pool.acquire().await?;
            keep_fresh(&mut conn, key, &wanted, expires_at, now_n).await
        })
        .await
        .map_err(|e| context(from_sqlx(e, "remembering dedupe keys", "dedupe_keys"), key))?;
        Ok(mark(keys.iter().map(String::as_str), &fresh))
    }

    async fn prune_dedupe(&self, now: DateTime<Utc>, batch: usize) -> Result<usize> {
        let now = nanos(now)?;
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let done = retrying(|| {
            sqlx::query(
                "DELETE FROM dedupe_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM dedupe_keys \
                 WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))",
            )
            .bind(now)
            .bind(limit)
            .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| from_sqlx(e, "pruning dedupe keys", "dedupe_keys"))?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn commit_poll(&self, commit: &PollCommit) -> Result<PollOutcome> {
        crate::store::triggers::check_ids(commit)?;
        let keys = || commit.items.iter().map(|i| i.dedupe_key.as_str());
        let wanted = distinct(keys());
        let (expires_at, now) = (nanos(commit.expires_at)?, nanos(commit.now)?);
        let cursor = commit.cursor.as_ref().map(json).transpose()?;
        // Only the first item of each key can be new.
        let mut first = HashSet::new();
        let mut rows = Vec::new();
        for item in &commit.items {
            if first.insert(item.dedupe_key.as_str()) {
                let row = ExecutionRow::new(&item.execution)?;
                let nodes = item
                    .execution
                    .nodes
                    .iter()
                    .map(NodeRow::new)
                    .collect::<Result<Vec<_>>>()?;
                rows.push((item.dedupe_key.as_str(), (row, nodes)));
            }
        }
        let sealed = match &self.inner.exact {
            Some(cipher) => cipher.seal_triggers(commit).await?,
            None => Vec::new(),
        };
        let exacts: Vec<(&str, executions::ExactRow)> = sealed
            .iter()
            .map(|t| {
                let row = executions::ExactRow {
                    execution_id: t.execution_id,
                    payload: t.payload.clone(),
                    nonce: t.sealed.nonce,
                    ciphertext: t.sealed.ciphertext.clone(),
                };
                (t.dedupe_key.as_str(), row)
            })
            .collect();
        let outcome = retrying(|| async {
            let mut tx = self.inner.pool.begin().await?;
            let fresh = keep_fresh(&mut tx, &commit.key, &wanted, expires_at, now).await?;
            let creating: Vec<&(ExecutionRow, Vec<NodeRow>)> = rows
                .iter()
                .filter(|(k, _)| fresh.contains(*k))
                .map(|(_, r)| r)
                .collect();
            if let Some(id) = create_in(&mut tx, &creating).await? {
                // Dropping the transaction rolls it back: nothing was kept.
                return Ok(Committed::Duplicate(id));
            }
            let sealed: Vec<&executions::ExactRow> = exacts
                .iter()
                .filter(|(k, _)| fresh.contains(*k))
                .map(|(_, row)| row)
                .collect();
            executions::upsert_exact(&mut tx, &sealed).await?;
            if let Some(cursor) = &cursor {
                set_cursor_in(&mut tx, &commit.key, cursor, now).await?;
            }
            tx.commit().await?;
            Ok(Committed::Done(fresh))
        })
        .await
        .map_err(|e| context(from_sqlx(e, "committing a poll", "dedupe_keys"), &commit.key));
        // Out-of-line copies of executions not created (seen already, or the commit failed) go.
        if let Some(cipher) = &self.inner.exact {
            let created = match &outcome {
                Ok(Committed::Done(fresh)) => Some(fresh),
                _ => None,
            };
            cipher.forget_uncreated(&sealed, created).await;
        }
        match outcome? {
            Committed::Done(fresh) => Ok(PollOutcome {
                new: mark(keys(), &fresh),
            }),
            Committed::Duplicate(id) => Err(context(
                Error::conflict("this execution exists already").with_context("execution", id.to_string()),
                &commit.key,
            )),
        }
    }
}
