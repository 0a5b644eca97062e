//! Executions and their node results: the statements the writer batches, the reads, and the
//! [`ExecutionStore`] implementation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::error::from_sqlx;
use super::rows::{self, ExecutionRow, FinishRow, NodeRow};
use super::writer::{CheckpointRows, Op, Reply};
use super::writes::Writes;
use super::{SqliteStore, leases};
use crate::error::{Error, Result};
use crate::store::exact::{SealedPayload, payload_name};
use crate::store::{
    ConcurrencyLimits, Cursor, ExecutionRecord, ExecutionStore, ExecutionSummary, Lease, NodeResult, Page, PageRequest,
    PayloadKey, Prune,
};

/// Rows per multi-row statement: SQLite takes up to 32,766 parameters; 14 columns × 256 rows
/// stays well below, and keeps the number of distinct prepared statements small.
pub(super) const ROWS_PER_STATEMENT: usize = 256;
/// Executions deleted per write when pruning: short transactions, so writers never wait long.
const PRUNE_BATCH: usize = 500;

/// A sealed exact payload, ready to bind.
#[derive(Debug)]
pub(super) struct ExactRow {
    pub(super) execution_id: String,
    pub(super) payload: String,
    pub(super) nonce: [u8; 12],
    pub(super) ciphertext: Vec<u8>,
}

pub(super) fn missing(id: &str) -> Error {
    Error::not_found("no such execution").with_context("execution", id.to_owned())
}

pub(super) fn duplicate(id: &str) -> Error {
    Error::conflict("this execution exists already").with_context("execution", id.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Writes (run by the writer, inside its transaction)
// ---------------------------------------------------------------------------------------------

/// Which of `ids` are executions (one positional parameter: the ids as a JSON array).
const FIND: &str = "SELECT id FROM executions WHERE id IN (SELECT value FROM json_each(?))";
/// The writer's transaction begun, then [`FIND`], in one query.
const BEGIN_AND_FIND: &str = "BEGIN IMMEDIATE;\nSELECT id FROM executions WHERE id IN (SELECT value FROM json_each(?))";

/// Which of `ids` are executions.
pub(super) async fn existing(conn: &mut SqliteConnection, ids: &[&str]) -> Result<HashSet<String>> {
    find(conn, FIND, ids)
        .await
        .map_err(|e| from_sqlx(e, "looking executions up", "executions"))
}

/// Begins the writer's transaction (`BEGIN IMMEDIATE`) and looks up which of `ids` are
/// executions, in one round trip (no lookup when there are no ids).
pub(super) async fn begin_and_find(
    conn: &mut SqliteConnection,
    ids: &[&str],
) -> std::result::Result<HashSet<String>, sqlx::Error> {
    if ids.is_empty() {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        return Ok(HashSet::new());
    }
    find(conn, BEGIN_AND_FIND, ids).await
}

/// Runs `sql` ([`FIND`], or a query ending with it) for `ids`.
async fn find(
    conn: &mut SqliteConnection,
    sql: &'static str,
    ids: &[&str],
) -> std::result::Result<HashSet<String>, sqlx::Error> {
    let list = serde_json::to_string(ids).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let rows = sqlx::query(sql).bind(list).fetch_all(&mut *conn).await?;
    rows.iter().map(|r| r.try_get::<String, _>(0)).collect()
}

pub(super) fn insert(writes: &mut Writes, rows: &[&ExecutionRow]) {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let q = writes.statement(
            "INSERT INTO executions (id, scenario_id, scenario_version, status, trigger, trigger_cleaned, \
             started_at, ended_at, output, error, rerun_of) ",
            "creating executions",
            "executions",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.scenario_id.as_str())
                .push_bind(r.scenario_version)
                .push_bind(r.status)
                .push_bind(r.trigger.as_str())
                .push_bind(r.trigger_cleaned)
                .push_bind(r.started_at)
                .push_bind(r.ended_at)
                .push_bind(r.output.as_deref())
                .push_bind(r.error.as_deref())
                .push_bind(r.rerun_of.as_deref());
        });
    }
}

pub(super) fn upsert_nodes(writes: &mut Writes, rows: &[&NodeRow]) {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let q = writes.statement(
            "INSERT INTO node_results (execution_id, node_id, item, status, input, output, error, \
             output_cleaned, attempts, route, pinned, started_at, ended_at) ",
            "saving node results",
            "node_results",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.execution_id.as_str())
                .push_bind(r.node_id.as_str())
                .push_bind(r.item)
                .push_bind(r.status)
                .push_bind(r.input.as_str())
                .push_bind(r.output.as_deref())
                .push_bind(r.error.as_deref())
                .push_bind(r.output_cleaned)
                .push_bind(r.attempts)
                .push_bind(r.route.as_deref())
                .push_bind(r.pinned)
                .push_bind(r.started_at)
                .push_bind(r.ended_at);
        });
        q.push(
            " ON CONFLICT (execution_id, node_id, item) DO UPDATE SET status = excluded.status, \
             input = excluded.input, output = excluded.output, error = excluded.error, \
             output_cleaned = excluded.output_cleaned, attempts = excluded.attempts, route = excluded.route, \
             pinned = excluded.pinned, started_at = excluded.started_at, ended_at = excluded.ended_at",
        );
    }
}

pub(super) fn upsert_exact(writes: &mut Writes, rows: &[&ExactRow]) {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let q = writes.statement(
            "INSERT INTO exact_payloads (execution_id, payload, nonce, ciphertext) ",
            "saving exact payloads",
            "exact_payloads",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.execution_id.as_str())
                .push_bind(r.payload.as_str())
                .push_bind(&r.nonce[..])
                .push_bind(r.ciphertext.as_slice());
        });
        q.push(
            " ON CONFLICT (execution_id, payload) DO UPDATE SET nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext",
        );
    }
}

pub(super) fn finish(writes: &mut Writes, rows: &[&FinishRow]) {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let q = writes.statement(
            "UPDATE executions SET status = v.column2, ended_at = v.column3, output = v.column4, \
             error = v.column5 FROM (",
            "finishing executions",
            "executions",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(r.id.as_str())
                .push_bind(r.status)
                .push_bind(r.ended_at)
                .push_bind(r.output.as_deref())
                .push_bind(r.error.as_deref());
        });
        q.push(") AS v WHERE executions.id = v.column1");
    }
}

/// Deletes the finished executions among `ids` (their node results, exact payloads and
/// leases go with them).
/// The pages of the file in use (its pages less the free ones).
pub(super) async fn pages_in_use(conn: &mut SqliteConnection) -> Result<i64> {
    sqlx::query_scalar(
        "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count())",
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| from_sqlx(e, "measuring the file", "executions"))
}

/// The error of a new execution refused near the size cap.
pub(super) fn full(id: &str) -> Error {
    Error::unavailable(
        "creating an execution: the SQLite database is full (its size cap): new executions are refused \
         until a prune makes room; the running ones go on",
    )
    .with_context("execution", id.to_owned())
}

pub(super) async fn delete(conn: &mut SqliteConnection, ids: &[String]) -> Result<Result<Reply>> {
    let list = serde_json::to_string(ids).map_err(|_| Error::internal("ids could not be serialized"))?;
    let done =
        sqlx::query("DELETE FROM executions WHERE id IN (SELECT value FROM json_each(?1)) AND status <> 'running'")
            .bind(list)
            .execute(&mut *conn)
            .await
            .map_err(|e| from_sqlx(e, "pruning executions", "executions"))?;
    Ok(Ok(Reply::Count(done.rows_affected())))
}

/// Gives the pages freed by a prune back to the file system (the file has incremental
/// auto-vacuum).
pub(super) async fn vacuum(conn: &mut SqliteConnection) -> Result<Result<Reply>> {
    sqlx::query("PRAGMA incremental_vacuum")
        .execute(&mut *conn)
        .await
        .map_err(|e| from_sqlx(e, "reclaiming space", "executions"))?;
    Ok(Ok(Reply::Done))
}

// ---------------------------------------------------------------------------------------------
// Reads (on the read pool)
// ---------------------------------------------------------------------------------------------

impl SqliteStore {
    async fn read_nodes(conn: &mut SqliteConnection, id: &str) -> Result<Vec<NodeResult>> {
        let sql = format!(
            "SELECT {} FROM node_results WHERE execution_id = ?1 ORDER BY seq",
            rows::NODE_COLUMNS
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| {
                from_sqlx(e, "reading node results", "node_results").with_context("execution", id.to_owned())
            })?;
        found.iter().map(rows::node).collect()
    }

    async fn read_exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        let Some(cipher) = &self.inner.exact else {
            return Ok(None);
        };
        let payload = payload_name(key)?;
        let found =
            sqlx::query("SELECT nonce, ciphertext FROM exact_payloads WHERE execution_id = ?1 AND payload = ?2")
                .bind(execution_id.to_string())
                .bind(payload.as_str())
                .fetch_optional(&self.inner.readers)
                .await
                .map_err(|e| {
                    from_sqlx(e, "reading an exact payload", "exact_payloads")
                        .with_context("execution", execution_id.to_string())
                })?;
        let Some(row) = found else { return Ok(None) };
        let unreadable = || super::error::unreadable("exact_payloads", "nonce");
        let nonce: Vec<u8> = row.try_get("nonce").map_err(|_| unreadable())?;
        let sealed = SealedPayload {
            nonce: nonce.try_into().map_err(|_| unreadable())?,
            ciphertext: row.try_get("ciphertext").map_err(|_| unreadable())?,
        };
        cipher
            .open_stored(execution_id, &payload, sealed)
            .await
            .map(|v| Some(Arc::new(v)))
    }
}

fn parse_cursor(cursor: &Cursor) -> Result<Uuid> {
    Uuid::parse_str(cursor.as_str()).map_err(|_| {
        Error::invalid_input("not a cursor of this store", Vec::new())
            .with_context("cursor", cursor.as_str().to_owned())
    })
}

fn reading(e: sqlx::Error, what: &'static str) -> Error {
    from_sqlx(e, what, "executions")
}

/// The write that creates `record` (with the node results it holds), under `lease` if given.
fn creation(record: &ExecutionRecord, lease: Option<(String, i64)>) -> Result<Op> {
    let row = ExecutionRow::new(record)?;
    let nodes = record
        .nodes
        .iter()
        .map(|n| NodeRow::new(&row.id, n))
        .collect::<Result<Vec<_>>>()?;
    Ok(Op::Create(Box::new(row), nodes, lease))
}

#[async_trait]
impl ExecutionStore for SqliteStore {
    fn trigger_state(&self) -> Option<&dyn crate::store::TriggerStateStore> {
        Some(self)
    }

    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        self.inner.writer.write(creation(record, None)?).await?;
        self.inner.work.notify_waiters();
        Ok(())
    }

    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.inner.work.clone())
    }

    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<Lease> {
        let (held, lease) = leases::new_lease(record.id, owner, length);
        self.inner.writer.write(creation(record, Some(held))?).await?;
        Ok(lease)
    }

    async fn finish_leased(&self, lease: &Lease, record: &ExecutionRecord) -> Result<()> {
        let row = FinishRow::new(record)?;
        let op = Op::Finish(Box::new(row), Some(lease.owner.clone()));
        self.inner.writer.write(op).await.map(drop)
    }

    async fn checkpoint_leased(
        &self,
        lease: &Lease,
        nodes: &[NodeResult],
        end: Option<&ExecutionRecord>,
    ) -> Result<()> {
        let execution_id = lease.execution_id.to_string();
        let rows = CheckpointRows {
            nodes: nodes
                .iter()
                .map(|node| NodeRow::new(&execution_id, node))
                .collect::<Result<_>>()?,
            end: end
                .map(|record| FinishRow::new(record).map(|row| (row, lease.owner.clone())))
                .transpose()?,
            execution_id,
        };
        // One request, one transaction: the results and the end are kept together.
        self.inner.writer.write(Op::Checkpoint(Box::new(rows))).await.map(drop)
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64> {
        leases::renew_owned_leases(self, owner, extend).await
    }

    async fn park_leased(&self, lease: &Lease, wake_in: Duration) -> Result<bool> {
        leases::park_lease(self, lease, wake_in).await
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &ConcurrencyLimits,
    ) -> Result<Vec<Lease>> {
        leases::claim_next_leases(self, owner, length, limit, limits).await
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        let row = NodeRow::new(&execution_id.to_string(), result)?;
        self.inner.writer.write(Op::SaveNode(Box::new(row))).await.map(drop)
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        let row = FinishRow::new(record)?;
        self.inner.writer.write(Op::Finish(Box::new(row), None)).await.map(drop)
    }

    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        let id = execution_id.to_string();
        // One read transaction: the record and its nodes from the same snapshot.
        let mut tx = self
            .inner
            .readers
            .begin()
            .await
            .map_err(|e| reading(e, "reading an execution"))?;
        let sql = format!("SELECT {} FROM executions WHERE id = ?1", rows::EXECUTION_COLUMNS);
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| reading(e, "reading an execution").with_context("execution", id.clone()))?;
        let Some(row) = found else { return Ok(None) };
        let mut record = rows::execution(&row)?;
        record.nodes = Self::read_nodes(&mut tx, &id).await?;
        Ok(Some(record))
    }

    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>> {
        let after = page.after.as_ref().map(parse_cursor).transpose()?;
        let limit = i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM executions WHERE scenario_id = ?1 AND (?2 IS NULL OR id < ?2) \
             ORDER BY id DESC LIMIT ?3",
            rows::SUMMARY_COLUMNS
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scenario_id)
            .bind(after.map(|a| a.to_string()))
            .bind(limit)
            .fetch_all(&self.inner.readers)
            .await
            .map_err(|e| reading(e, "listing executions").with_context("scenario", scenario_id.to_owned()))?;
        let mut items = found.iter().map(rows::summary).collect::<Result<Vec<_>>>()?;
        let more = items.len() > page.limit;
        items.truncate(page.limit);
        let next = match items.last() {
            Some(last) if more => Some(Cursor::new(last.id.to_string())),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>> {
        let mut tx = self
            .inner
            .readers
            .begin()
            .await
            .map_err(|e| reading(e, "listing unfinished executions"))?;
        let sql = format!(
            "SELECT {} FROM executions WHERE status = 'running' ORDER BY id",
            rows::EXECUTION_COLUMNS
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| reading(e, "listing unfinished executions"))?;
        let mut records = found.iter().map(rows::execution).collect::<Result<Vec<_>>>()?;
        let sql = format!(
            "SELECT {} FROM node_results WHERE execution_id IN \
             (SELECT id FROM executions WHERE status = 'running') ORDER BY seq",
            rows::NODE_COLUMNS
        );
        let nodes = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| from_sqlx(e, "listing unfinished executions", "node_results"))?;
        let at: HashMap<String, usize> = records.iter().enumerate().map(|(i, r)| (r.id.to_string(), i)).collect();
        for row in &nodes {
            if let Some(&i) = at.get(&rows::node_execution(row)?) {
                records[i].nodes.push(rows::node(row)?);
            }
        }
        Ok(records)
    }

    async fn prune(&self, prune: Prune) -> Result<usize> {
        let mut total = 0usize;
        // One rule after the other: what each leaves, the next may delete, so the union goes.
        if let Some(keep) = prune.keep_newest {
            let offset = i64::try_from(keep).unwrap_or(i64::MAX);
            total += self
                .prune_where(
                    "SELECT id FROM executions WHERE status <> 'running' ORDER BY id DESC LIMIT ?1 OFFSET ?2",
                    offset,
                    None,
                )
                .await?;
        }
        if let Some(keep) = prune.keep_per_scenario {
            total += self.prune_per_scenario(keep).await?;
        }
        if let Some(time) = prune.older_than {
            let before = rows::nanos(time).unwrap_or(if time.timestamp() < 0 { i64::MIN } else { i64::MAX });
            total += self
                .prune_where(
                    "SELECT id FROM executions WHERE status <> 'running' AND started_at < ?2 LIMIT ?1",
                    before,
                    None,
                )
                .await?;
        }
        if total > 0 {
            self.inner.writer.write(Op::Vacuum).await?;
        }
        Ok(total)
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        leases::claim_lease(self, execution_id, owner, lease, false).await
    }

    async fn wake(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        leases::claim_lease(self, execution_id, owner, lease, true).await
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        leases::renew_lease(self, lease, extend).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        leases::release_lease(self, lease).await
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        let Some(cipher) = &self.inner.exact else {
            // No key: the exact payload is not kept at all (never in plain text).
            return Ok(());
        };
        let payload = payload_name(key)?;
        let sealed = cipher.seal_stored(execution_id, &payload, value).await?;
        let row = ExactRow {
            execution_id: execution_id.to_string(),
            payload,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        };
        self.inner.writer.write(Op::SaveExact(Box::new(row))).await.map(drop)
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        self.read_exact(execution_id, key).await
    }
}

impl SqliteStore {
    /// Deletes, batch after batch, the executions `select` names (`?1` is the batch size, `?2`
    /// the rule's value, `?3` the scenario when there is one) until it names none.
    async fn prune_where(&self, select: &'static str, arg: i64, scenario: Option<&str>) -> Result<usize> {
        let mut total = 0usize;
        loop {
            let mut query = sqlx::query_scalar(select).bind(PRUNE_BATCH as i64).bind(arg);
            if let Some(scenario) = scenario {
                query = query.bind(scenario);
            }
            let ids: Vec<String> = query.fetch_all(&self.inner.readers).await.map_err(|e| {
                let err = reading(e, "pruning executions");
                match scenario {
                    Some(s) => err.with_context("scenario", s.to_owned()),
                    None => err,
                }
            })?;
            if ids.is_empty() {
                return Ok(total);
            }
            let listed = ids.len();
            let out_of_line = self.out_of_line_of(&ids).await?;
            let gone = match self.inner.writer.write(Op::Delete(ids)).await? {
                Reply::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
                _ => 0,
            };
            if let Some(cipher) = &self.inner.exact {
                cipher.forget(&out_of_line).await;
            }
            total += gone;
            // Fewer than a batch listed: that was the last one.
            if gone == 0 || listed < PRUNE_BATCH {
                return Ok(total);
            }
        }
    }

    /// The out-of-line payloads of executions about to be pruned: (execution, nonce) each.
    /// (The writer deletes only finished executions, and a finished one writes no payload.)
    async fn out_of_line_of(&self, ids: &[String]) -> Result<Vec<(Uuid, [u8; 12])>> {
        if self.inner.exact.is_none() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).map_err(|_| Error::internal("ids could not be serialized"))?;
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT execution_id, nonce FROM exact_payloads WHERE length(ciphertext) = 0 \
             AND execution_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(list)
        .fetch_all(&self.inner.readers)
        .await
        .map_err(|e| from_sqlx(e, "pruning executions", "exact_payloads"))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, nonce)| Some((Uuid::parse_str(&id).ok()?, nonce.try_into().ok()?)))
            .collect())
    }

    /// Deletes the finished executions beyond the newest `keep` of each scenario: one scenario
    /// after the other (each found by a step along the `(scenario_id, id)` index), each in
    /// batches walking that index from its newest.
    async fn prune_per_scenario(&self, keep: usize) -> Result<usize> {
        let offset = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut total = 0usize;
        let mut scenario: Option<String> = None;
        loop {
            let next: Option<String> = match &scenario {
                None => sqlx::query_scalar("SELECT scenario_id FROM executions ORDER BY scenario_id LIMIT 1"),
                Some(after) => sqlx::query_scalar(
                    "SELECT scenario_id FROM executions WHERE scenario_id > ?1 ORDER BY scenario_id LIMIT 1",
                )
                .bind(after.as_str()),
            }
            .fetch_optional(&self.inner.readers)
            .await
            .map_err(|e| reading(e, "pruning executions"))?;
            let Some(current) = next else { return Ok(total) };
            total += self
                .prune_where(
                    "SELECT id FROM executions WHERE scenario_id = ?3 AND status <> 'running' \
                     ORDER BY id DESC LIMIT ?1 OFFSET ?2",
                    offset,
                    Some(&current),
                )
                .await?;
            scenario = Some(current);
        }
    }
}
