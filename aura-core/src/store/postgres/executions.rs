//! Executions and their node results: the statements the writer batches (one statement over
//! arrays per kind of write), the reads, and the [`ExecutionStore`] implementation.
//!
//! Every write goes through the group-commit writer (`writer.rs`) and is committed before the
//! call returns (the server's `synchronous_commit`, `on` by default, decides whether that means
//! flushed to its disk: see `docs.md`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgConnection, Postgres};
use uuid::Uuid;

use super::error::{from_sqlx, retrying};
use super::rows::{self, ExecutionRow, FinishRow, NodeRow};
use super::writer::{Fence, Op, Reply};
use super::{PostgresStore, leases};
use crate::error::{Error, Result};
use crate::store::{
    ConcurrencyLimits, Cursor, ExecutionRecord, ExecutionStore, ExecutionSummary, Lease, NodeResult, Page, PageRequest,
    PayloadKey, Prune,
};

/// The write that creates `record` (with the node results it holds), under a lease (owner,
/// length in nanoseconds) if given.
fn creation(record: &ExecutionRecord, lease: Option<(String, i64)>) -> Result<Op> {
    let row = ExecutionRow::new(record)?;
    let nodes = record.nodes.iter().map(NodeRow::new).collect::<Result<Vec<_>>>()?;
    Ok(Op::Create(Box::new(row), nodes, lease))
}

/// The fence of writes made under `lease`.
fn fence(lease: &Lease) -> Fence {
    Fence {
        owner: lease.owner.clone(),
        token: lease.token,
    }
}

/// Executions deleted per statement when pruning: short transactions, so writers never wait long.
const PRUNE_BATCH: i64 = 500;

/// A sealed exact payload, ready to bind.
#[derive(Debug)]
pub(super) struct ExactRow {
    pub(super) execution_id: Uuid,
    pub(super) payload: String,
    pub(super) nonce: [u8; 12],
    pub(super) ciphertext: Vec<u8>,
}

pub(super) fn missing(id: Uuid) -> Error {
    Error::not_found("no such execution").with_context("execution", id.to_string())
}

pub(super) fn duplicate(id: Uuid) -> Error {
    Error::conflict("this execution exists already").with_context("execution", id.to_string())
}

// ---------------------------------------------------------------------------------------------
// Writes (run by the writer, inside its transaction): one statement per kind, whatever the
// batch's size, each row's columns bound as arrays and turned back into rows by `unnest`.
// ---------------------------------------------------------------------------------------------

/// Which of `ids` are executions.
pub(super) async fn existing(conn: &mut PgConnection, ids: &[Uuid]) -> std::result::Result<HashSet<Uuid>, sqlx::Error> {
    let found: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM executions WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(found.into_iter().collect())
}

pub(super) async fn insert(conn: &mut PgConnection, rows: &[&ExecutionRow]) -> std::result::Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO executions (id, scenario_id, scenario_version, status, trigger, trigger_cleaned, \
         started_at, ended_at, output, error, rerun_of) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::boolean[], \
         $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::uuid[])",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.scenario_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.scenario_version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.trigger.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.trigger_cleaned).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.started_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ended_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.output.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.rerun_of).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The later of each group of writes to one row (by `key`), at the place of the first: an
/// `ON CONFLICT DO UPDATE` may not touch a row twice in one statement, and the first save of a
/// node keeps its place (`seq`).
fn last_per_key<T: Copy, K: std::hash::Hash + Eq>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut at: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    for row in rows {
        match at.entry(key(row)) {
            std::collections::hash_map::Entry::Occupied(i) => out[*i.get()] = *row,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(out.len());
                out.push(*row);
            }
        }
    }
    out
}

/// Inserts or replaces node results (keyed by execution, node and item); `seq` keeps the first
/// save's place.
pub(super) async fn upsert_nodes(
    conn: &mut PgConnection,
    rows: &[(Uuid, &NodeRow)],
) -> std::result::Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = last_per_key(rows, |(id, r)| (*id, r.node_id.as_str(), r.item));
    sqlx::query(
        "INSERT INTO node_results (execution_id, node_id, item, status, input, output, error, \
         output_cleaned, attempts, route, pinned, started_at, ended_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::boolean[], $9::bigint[], $10::text[], $11::boolean[], $12::bigint[], $13::bigint[]) \
         ON CONFLICT (execution_id, node_id, item) DO UPDATE SET status = excluded.status, \
         input = excluded.input, output = excluded.output, error = excluded.error, \
         output_cleaned = excluded.output_cleaned, attempts = excluded.attempts, route = excluded.route, \
         pinned = excluded.pinned, started_at = excluded.started_at, ended_at = excluded.ended_at",
    )
    .bind(rows.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.node_id.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.item).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.input.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.output.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.error.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.output_cleaned).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.attempts).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.route.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.pinned).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.started_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, r)| r.ended_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn upsert_exact(conn: &mut PgConnection, rows: &[&ExactRow]) -> std::result::Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = last_per_key(rows, |r| (r.execution_id, r.payload.as_str()));
    sqlx::query(
        "INSERT INTO exact_payloads (execution_id, payload, nonce, ciphertext) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bytea[]) \
         ON CONFLICT (execution_id, payload) DO UPDATE SET nonce = excluded.nonce, \
         ciphertext = excluded.ciphertext",
    )
    .bind(rows.iter().map(|r| r.execution_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.payload.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.nonce[..]).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ciphertext.as_slice()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn finish(conn: &mut PgConnection, rows: &[&FinishRow]) -> std::result::Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let rows = last_per_key(rows, |r| r.id);
    sqlx::query(
        "UPDATE executions SET status = v.status, ended_at = v.ended_at, output = v.output, error = v.error \
         FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[]) \
         AS v (id, status, ended_at, output, error) WHERE executions.id = v.id",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.ended_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.output.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.error.as_deref()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads (on the pool)
// ---------------------------------------------------------------------------------------------

impl PostgresStore {
    /// A read-only transaction on one snapshot: a record and its nodes agree.
    async fn snapshot(&self, what: &'static str) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.inner
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(|e| from_sqlx(e, what, "executions"))
    }

    /// Deletes, batch after batch, the finished executions `delete` names (`$1` is the batch
    /// size, `$2` the rule's value, `$3` the scenario when there is one) until a batch deletes
    /// fewer than a batch.
    async fn prune_where(&self, delete: &'static str, arg: i64, scenario: Option<&str>) -> Result<usize> {
        let mut total = 0usize;
        // What went, with the nonce of each of its out-of-line payloads (read in the delete's
        // snapshot, before the cascade), so that the payload store lets them go too.
        let delete = format!(
            "WITH gone AS ({delete} RETURNING id) SELECT gone.id, p.nonce FROM gone \
             LEFT JOIN exact_payloads p ON p.execution_id = gone.id AND octet_length(p.ciphertext) = 0"
        );
        loop {
            let rows: Vec<(Uuid, Option<Vec<u8>>)> = retrying(|| {
                let query = sqlx::query_as(sqlx::AssertSqlSafe(delete.as_str()))
                    .bind(PRUNE_BATCH)
                    .bind(arg);
                match scenario {
                    Some(scenario) => query.bind(scenario),
                    None => query,
                }
                .fetch_all(&self.inner.pool)
            })
            .await
            .map_err(|e| {
                let err = from_sqlx(e, "pruning executions", "executions");
                match scenario {
                    Some(s) => err.with_context("scenario", s.to_owned()),
                    None => err,
                }
            })?;
            let gone = rows
                .iter()
                .map(|(id, _)| *id)
                .collect::<std::collections::HashSet<_>>()
                .len() as u64;
            if let Some(cipher) = &self.inner.exact {
                let out_of_line: Vec<(Uuid, [u8; 12])> = rows
                    .into_iter()
                    .filter_map(|(id, nonce)| Some((id, nonce?.try_into().ok()?)))
                    .collect();
                cipher.forget(&out_of_line).await;
            }
            total = total.saturating_add(usize::try_from(gone).unwrap_or(usize::MAX));
            if gone < PRUNE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// Deletes the finished executions beyond the newest `keep` of each scenario: one scenario
    /// after the other (each found by a step along the `(scenario_id, id)` index), each in
    /// batches walking that index from its newest.
    async fn prune_per_scenario(&self, keep: usize) -> Result<usize> {
        let offset = i64::try_from(keep).unwrap_or(i64::MAX);
        let mut total = 0usize;
        let mut scenario: Option<String> = None;
        loop {
            let next: Option<String> = retrying(|| {
                match &scenario {
                    None => sqlx::query_scalar("SELECT scenario_id FROM executions ORDER BY scenario_id LIMIT 1"),
                    Some(after) => sqlx::query_scalar(
                        "SELECT scenario_id FROM executions WHERE scenario_id > $1 ORDER BY scenario_id LIMIT 1",
                    )
                    .bind(after.as_str()),
                }
                .fetch_optional(&self.inner.pool)
            })
            .await
            .map_err(|e| reading(e, "pruning executions"))?;
            let Some(current) = next else { return Ok(total) };
            total += self
                .prune_where(
                    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE scenario_id = $3 \
                     AND status <> 'running' ORDER BY id DESC LIMIT $1 OFFSET $2)",
                    offset,
                    Some(&current),
                )
                .await?;
            scenario = Some(current);
        }
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

#[async_trait]
impl ExecutionStore for PostgresStore {
    fn trigger_state(&self) -> Option<&dyn crate::store::TriggerStateStore> {
        Some(self)
    }

    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        self.inner.writer.write(creation(record, None)?).await.map(drop)
    }

    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<Lease> {
        let op = creation(record, Some((owner.to_owned(), leases::length_nanos(length))))?;
        match self.inner.writer.write(op).await? {
            Reply::Lease(Some((until, token))) => Ok(Lease {
                execution_id: record.id,
                owner: owner.to_owned(),
                until: rows::time(until),
                token,
            }),
            _ => Err(Error::internal("a new execution's lease was not taken")
                .with_context("execution", record.id.to_string())),
        }
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        let row = NodeRow::new(result)?;
        self.inner
            .writer
            .write(Op::SaveNode(execution_id, Box::new(row), None))
            .await
            .map(drop)
    }

    async fn save_node_leased(&self, lease: &Lease, result: &NodeResult) -> Result<()> {
        let row = NodeRow::new(result)?;
        let op = Op::SaveNode(lease.execution_id, Box::new(row), Some(fence(lease)));
        self.inner.writer.write(op).await.map(drop)
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        let row = FinishRow::new(record)?;
        self.inner.writer.write(Op::Finish(Box::new(row), None)).await.map(drop)
    }

    async fn finish_leased(&self, lease: &Lease, record: &ExecutionRecord) -> Result<()> {
        let row = FinishRow::new(record)?;
        let op = Op::Finish(Box::new(row), Some(fence(lease)));
        self.inner.writer.write(op).await.map(drop)
    }

    async fn save_exact_leased(&self, lease: &Lease, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.save_exact_payload(lease.execution_id, key, value, Some(fence(lease)))
            .await
    }

    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &ConcurrencyLimits,
    ) -> Result<Vec<Lease>> {
        leases::claim_next(self, owner, length, limit, limits).await
    }

    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64> {
        leases::renew_owned(self, owner, extend).await
    }

    async fn park_leased(&self, lease: &Lease, wake_in: Duration) -> Result<bool> {
        leases::park(self, lease, wake_in).await
    }

    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.work_notify())
    }

    fn availability(&self) -> Option<tokio::sync::watch::Receiver<crate::store::StoreAvailability>> {
        Some(self.inner.availability.subscribe())
    }

    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>> {
        let mut tx = self.snapshot("reading an execution").await?;
        let sql = format!("SELECT {} FROM executions WHERE id = $1", rows::EXECUTION_COLUMNS);
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(execution_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| reading(e, "reading an execution").with_context("execution", execution_id.to_string()))?;
        let Some(row) = found else { return Ok(None) };
        let mut record = rows::execution(&row)?;
        let sql = format!(
            "SELECT {} FROM node_results WHERE execution_id = $1 ORDER BY seq",
            rows::NODE_COLUMNS
        );
        let nodes = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(execution_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| {
                from_sqlx(e, "reading node results", "node_results").with_context("execution", execution_id.to_string())
            })?;
        record.nodes = nodes.iter().map(rows::node).collect::<Result<_>>()?;
        Ok(Some(record))
    }

    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>> {
        let after = page.after.as_ref().map(parse_cursor).transpose()?;
        let limit = i64::try_from(page.limit.saturating_add(1)).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM executions WHERE scenario_id = $1 AND ($2::uuid IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
            rows::SUMMARY_COLUMNS
        );
        let found = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(scenario_id)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.inner.pool)
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
        let mut tx = self.snapshot("listing unfinished executions").await?;
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
        let at: HashMap<Uuid, usize> = records.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
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
                    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE status <> 'running' \
                     ORDER BY id DESC LIMIT $1 OFFSET $2)",
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
                    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE status <> 'running' \
                     AND started_at < $2 LIMIT $1)",
                    before,
                    None,
                )
                .await?;
        }
        Ok(total)
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        leases::claim(self, execution_id, owner, lease, false).await
    }

    async fn wake(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        leases::claim(self, execution_id, owner, lease, true).await
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        leases::renew(self, lease, extend).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        leases::release(self, lease).await
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.save_exact_payload(execution_id, key, value, None).await
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        self.read_exact_payload(execution_id, key).await
    }
}
