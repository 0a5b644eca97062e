//! Trigger state: cursors and dedupe keys, and a poll's commit as one writer [`Op`] (so that
//! it is one transaction with the executions it creates): the [`TriggerStateStore`] impl.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::SqliteStore;
use super::error::{from_sqlx, unreadable};
use super::executions;
use super::rows::{ExecutionRow, NodeRow, json, nanos};
use super::writer::{Op, Reply};
use super::writes::Writes;
use crate::error::{Error, Result};
use crate::store::triggers::{distinct, mark};
use crate::store::{PollCommit, PollOutcome, TriggerKey, TriggerStateStore};

/// Keys per statement: SQLite takes up to 32,766 parameters; 4 per row.
const KEYS_PER_STATEMENT: usize = 1024;

/// Dedupe keys to remember for one trigger, ready to bind.
#[derive(Debug)]
pub(super) struct DedupeRows {
    pub(super) scenario_id: String,
    pub(super) trigger_id: String,
    /// Distinct, in first-seen order.
    pub(super) keys: Vec<String>,
    pub(super) expires_at: i64,
    pub(super) now: i64,
}

impl DedupeRows {
    fn new(key: &TriggerKey, keys: Vec<String>, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Self> {
        Ok(Self {
            scenario_id: key.scenario_id.clone(),
            trigger_id: key.trigger_id.clone(),
            keys,
            expires_at: nanos(expires_at)?,
            now: nanos(now)?,
        })
    }
}

/// A poll's commit, ready to bind: per new item, its dedupe key and its execution.
#[derive(Debug)]
pub(super) struct PollRows {
    pub(super) dedupe: DedupeRows,
    pub(super) cursor: Option<String>,
    pub(super) executions: Vec<(String, ExecutionRow, Vec<NodeRow>)>,
    /// The sealed exact triggers, by dedupe key: kept for the executions created.
    pub(super) exacts: Vec<(String, executions::ExactRow)>,
}

fn failed(e: sqlx::Error, what: &'static str, key: &DedupeRows) -> Error {
    from_sqlx(e, what, "dedupe_keys")
        .with_context("scenario", key.scenario_id.clone())
        .with_context("trigger", key.trigger_id.clone())
}

// ---------------------------------------------------------------------------------------------
// Writes (run by the writer, inside its transaction)
// ---------------------------------------------------------------------------------------------

/// Which of the keys are new: not kept, or expired by `now`.
async fn fresh(conn: &mut SqliteConnection, rows: &DedupeRows) -> Result<HashSet<String>> {
    let list = json(&rows.keys)?;
    let seen = sqlx::query(
        "SELECT key FROM dedupe_keys WHERE scenario_id = ?1 AND trigger_id = ?2 AND expires_at > ?3 \
         AND key IN (SELECT value FROM json_each(?4))",
    )
    .bind(rows.scenario_id.as_str())
    .bind(rows.trigger_id.as_str())
    .bind(rows.now)
    .bind(list)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| failed(e, "looking dedupe keys up", rows))?;
    let seen: HashSet<String> = seen
        .iter()
        .map(|r| r.try_get::<String, _>(0).map_err(|_| unreadable("dedupe_keys", "key")))
        .collect::<Result<_>>()?;
    Ok(rows.keys.iter().filter(|k| !seen.contains(*k)).cloned().collect())
}

/// Keeps `keys` (new ones) until the rows' expiry.
async fn keep(conn: &mut SqliteConnection, rows: &DedupeRows, keys: &[&String]) -> Result<()> {
    for chunk in keys.chunks(KEYS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO dedupe_keys (scenario_id, trigger_id, key, expires_at) ");
        q.push_values(chunk, |mut b, k| {
            b.push_bind(rows.scenario_id.as_str())
                .push_bind(rows.trigger_id.as_str())
                .push_bind(k.as_str())
                .push_bind(rows.expires_at);
        });
        q.push(" ON CONFLICT (scenario_id, trigger_id, key) DO UPDATE SET expires_at = excluded.expires_at");
        q.build()
            .execute(&mut *conn)
            .await
            .map_err(|e| failed(e, "remembering dedupe keys", rows))?;
    }
    Ok(())
}

pub(super) async fn remember(conn: &mut SqliteConnection, rows: &DedupeRows) -> Result<Result<Reply>> {
    let fresh = fresh(conn, rows).await?;
    let new: Vec<&String> = rows.keys.iter().filter(|k| fresh.contains(*k)).collect();
    keep(conn, rows, &new).await?;
    Ok(Ok(Reply::Fresh(fresh.into_iter().collect())))
}

pub(super) async fn set_cursor(
    conn: &mut SqliteConnection,
    scenario_id: &str,
    trigger_id: &str,
    cursor: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO trigger_cursors (scenario_id, trigger_id, cursor, updated_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (scenario_id, trigger_id) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )
    .bind(scenario_id)
    .bind(trigger_id)
    .bind(cursor)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        from_sqlx(e, "setting a trigger's cursor", "trigger_cursors")
            .with_context("scenario", scenario_id.to_owned())
            .with_context("trigger", trigger_id.to_owned())
    })?;
    Ok(())
}

/// A poll's commit. Everything that could answer "no" (an execution that exists) is checked
/// before anything is written, so a refused commit writes nothing; a failing statement rolls
/// the whole transaction back.
pub(super) async fn commit(conn: &mut SqliteConnection, poll: &PollRows) -> Result<Result<Reply>> {
    let fresh = fresh(conn, &poll.dedupe).await?;
    let creating: Vec<&(String, ExecutionRow, Vec<NodeRow>)> =
        poll.executions.iter().filter(|(k, _, _)| fresh.contains(k)).collect();
    let ids: Vec<&str> = creating.iter().map(|(_, row, _)| row.id.as_str()).collect();
    let mut unique = HashSet::new();
    if let Some(twice) = ids.iter().find(|id| !unique.insert(**id)) {
        return Ok(Err(executions::duplicate(twice)));
    }
    if !ids.is_empty()
        && let Some(exists) = executions::existing(conn, &ids).await?.into_iter().next()
    {
        return Ok(Err(executions::duplicate(&exists)));
    }
    let new: Vec<&String> = poll.dedupe.keys.iter().filter(|k| fresh.contains(*k)).collect();
    keep(conn, &poll.dedupe, &new).await?;
    let rows: Vec<&ExecutionRow> = creating.iter().map(|(_, row, _)| row).collect();
    let mut writes = Writes::new();
    executions::insert(&mut writes, &rows);
    let nodes: Vec<&NodeRow> = creating.iter().flat_map(|(_, _, nodes)| nodes).collect();
    executions::upsert_nodes(&mut writes, &nodes);
    let exacts: Vec<&executions::ExactRow> = poll
        .exacts
        .iter()
        .filter(|(k, _)| fresh.contains(k))
        .map(|(_, row)| row)
        .collect();
    executions::upsert_exact(&mut writes, &exacts);
    writes.run(conn).await?;
    if let Some(cursor) = &poll.cursor {
        set_cursor(
            conn,
            &poll.dedupe.scenario_id,
            &poll.dedupe.trigger_id,
            cursor,
            poll.dedupe.now,
        )
        .await?;
    }
    Ok(Ok(Reply::Fresh(fresh.into_iter().collect())))
}

pub(super) async fn prune(conn: &mut SqliteConnection, now: i64, limit: i64) -> Result<Result<Reply>> {
    let done = sqlx::query(
        "DELETE FROM dedupe_keys WHERE (scenario_id, trigger_id, key) IN \
         (SELECT scenario_id, trigger_id, key FROM dedupe_keys WHERE expires_at <= ?1 LIMIT ?2)",
    )
    .bind(now)
    .bind(limit)
    .execute(&mut *conn)
    .await
    .map_err(|e| from_sqlx(e, "pruning dedupe keys", "dedupe_keys"))?;
    Ok(Ok(Reply::Count(done.rows_affected())))
}

fn fresh_of(reply: Reply) -> Result<HashSet<String>> {
    match reply {
        Reply::Fresh(keys) => Ok(keys.into_iter().collect()),
        _ => Err(Error::internal(
            "the SQLite writer answered a dedupe write with something else",
        )),
    }
}

#[async_trait]
impl TriggerStateStore for SqliteStore {
    async fn cursor(&self, key: &TriggerKey) -> Result<Option<Value>> {
        let found = sqlx::query("SELECT cursor FROM trigger_cursors WHERE scenario_id = ?1 AND trigger_id = ?2")
            .bind(key.scenario_id.as_str())
            .bind(key.trigger_id.as_str())
            .fetch_optional(&self.inner.readers)
            .await
            .map_err(|e| {
                from_sqlx(e, "reading a trigger's cursor", "trigger_cursors")
                    .with_context("scenario", key.scenario_id.clone())
                    .with_context("trigger", key.trigger_id.clone())
            })?;
        let Some(row) = found else { return Ok(None) };
        let text: String = row
            .try_get("cursor")
            .map_err(|_| unreadable("trigger_cursors", "cursor"))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|_| unreadable("trigger_cursors", "cursor"))
    }

    async fn set_cursor(&self, key: &TriggerKey, cursor: &Value) -> Result<()> {
        let op = Op::SetCursor {
            scenario_id: key.scenario_id.clone(),
            trigger_id: key.trigger_id.clone(),
            cursor: json(cursor)?,
            now: nanos(Utc::now())?,
        };
        self.inner.writer.write(op).await.map(drop)
    }

    async fn remember(
        &self,
        key: &TriggerKey,
        keys: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>> {
        let wanted = distinct(keys.iter().map(String::as_str))
            .into_iter()
            .map(str::to_owned)
            .collect();
        let rows = DedupeRows::new(key, wanted, expires_at, now)?;
        let fresh = fresh_of(self.inner.writer.write(Op::Remember(Box::new(rows))).await?)?;
        Ok(mark(keys.iter().map(String::as_str), &fresh))
    }

    async fn prune_dedupe(&self, now: DateTime<Utc>, batch: usize) -> Result<usize> {
        let op = Op::PruneDedupe {
            now: nanos(now)?,
            limit: i64::try_from(batch).unwrap_or(i64::MAX),
        };
        match self.inner.writer.write(op).await? {
            Reply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(Error::internal(
                "the SQLite writer answered a prune with something else",
            )),
        }
    }

    async fn commit_poll(&self, commit: &PollCommit) -> Result<PollOutcome> {
        crate::store::triggers::check_ids(commit)?;
        let keys = || commit.items.iter().map(|i| i.dedupe_key.as_str());
        let wanted = distinct(keys()).into_iter().map(str::to_owned).collect();
        let dedupe = DedupeRows::new(&commit.key, wanted, commit.expires_at, commit.now)?;
        // Only the first item of each key can be new: the others' executions are not sent.
        let mut first = HashSet::new();
        let mut executions = Vec::new();
        for item in &commit.items {
            if !first.insert(item.dedupe_key.as_str()) {
                continue;
            }
            let row = ExecutionRow::new(&item.execution)?;
            let nodes = item
                .execution
                .nodes
                .iter()
                .map(|n| NodeRow::new(&row.id, n))
                .collect::<Result<Vec<_>>>()?;
            executions.push((item.dedupe_key.clone(), row, nodes));
        }
        let sealed = match &self.inner.exact {
            Some(cipher) => cipher.seal_triggers(commit).await?,
            None => Vec::new(),
        };
        let exacts = sealed
            .iter()
            .map(|t| {
                let row = executions::ExactRow {
                    execution_id: t.execution_id.to_string(),
                    payload: t.payload.clone(),
                    nonce: t.sealed.nonce,
                    ciphertext: t.sealed.ciphertext.clone(),
                };
                (t.dedupe_key.clone(), row)
            })
            .collect();
        let rows = PollRows {
            dedupe,
            cursor: commit.cursor.as_ref().map(json).transpose()?,
            executions,
            exacts,
        };
        let written = self.inner.writer.write(Op::CommitPoll(Box::new(rows))).await;
        let fresh = written.and_then(fresh_of);
        // Out-of-line copies of executions not created (seen already, or the commit failed) go.
        if let Some(cipher) = &self.inner.exact {
            cipher.forget_uncreated(&sealed, fresh.as_ref().ok()).await;
        }
        let fresh = fresh?;
        Ok(PollOutcome {
            new: mark(keys(), &fresh),
        })
    }
}
