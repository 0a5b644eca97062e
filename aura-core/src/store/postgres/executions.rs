//! Executions and their node results: one statement (or one short transaction) per call, and
//! the [`ExecutionStore`] implementation.
//!
//! Every write is committed before the call returns (the server's `synchronous_commit`, `on` by
//! default, decides whether that means flushed to its disk: see `docs.md`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::error::{from_sqlx, is_foreign_key_violation, retrying};
use super::rows::{self, ExecutionRow, NodeRow};
use super::{PostgresStore, leases};
use crate::error::{Error, Result};
use crate::store::{
    Cursor, ExecutionRecord, ExecutionStore, ExecutionSummary, Lease, NodeResult, Page, PageRequest, PayloadKey, Prune,
};

/// Node rows per multi-row statement: 13 parameters each, far below PostgreSQL's 65,535.
const ROWS_PER_STATEMENT: usize = 256;
/// Executions deleted per statement when pruning: short transactions, so writers never wait long.
const PRUNE_BATCH: i64 = 500;

pub(super) fn missing(id: Uuid) -> Error {
    Error::not_found("no such execution").with_context("execution", id.to_string())
}

fn duplicate(id: Uuid) -> Error {
    Error::conflict("this execution exists already").with_context("execution", id.to_string())
}

/// The upsert of node results (keyed by execution, node and item); `seq` keeps the first
/// save's place.
const NODE_UPSERT: &str = " ON CONFLICT (execution_id, node_id, item) DO UPDATE SET status = excluded.status, \
     input = excluded.input, output = excluded.output, error = excluded.error, \
     output_cleaned = excluded.output_cleaned, attempts = excluded.attempts, route = excluded.route, \
     pinned = excluded.pinned, started_at = excluded.started_at, ended_at = excluded.ended_at";

/// Inserts or replaces `nodes` of execution `id`, a multi-row statement per chunk.
async fn upsert_nodes(conn: &mut PgConnection, id: Uuid, nodes: &[NodeRow]) -> std::result::Result<(), sqlx::Error> {
    for chunk in nodes.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO node_results (execution_id, node_id, item, status, input, output, error, \
             output_cleaned, attempts, route, pinned, started_at, ended_at) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(id)
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
        q.push(NODE_UPSERT);
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Creates the execution with its nodes in one transaction: `false` when the id exists.
async fn insert(pool: &sqlx::PgPool, row: &ExecutionRow, nodes: &[NodeRow]) -> std::result::Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "INSERT INTO executions (id, scenario_id, scenario_version, status, trigger, trigger_cleaned, \
         started_at, ended_at, output, error, rerun_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(row.id)
    .bind(row.scenario_id.as_str())
    .bind(row.scenario_version)
    .bind(row.status)
    .bind(row.trigger.as_str())
    .bind(row.trigger_cleaned)
    .bind(row.started_at)
    .bind(row.ended_at)
    .bind(row.output.as_deref())
    .bind(row.error.as_deref())
    .bind(row.rerun_of)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        // Dropping the transaction rolls it back: nothing was written.
        return Ok(false);
    }
    upsert_nodes(&mut tx, row.id, nodes).await?;
    tx.commit().await?;
    Ok(true)
}

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
    /// size, `$2` the rule's value) until a batch deletes fewer than a batch.
    async fn prune_where(&self, delete: &'static str, arg: i64) -> Result<usize> {
        let mut total = 0usize;
        loop {
            let done = retrying(|| {
                sqlx::query(delete)
                    .bind(PRUNE_BATCH)
                    .bind(arg)
                    .execute(&self.inner.pool)
            })
            .await
            .map_err(|e| from_sqlx(e, "pruning executions", "executions"))?;
            let gone = done.rows_affected();
            total = total.saturating_add(usize::try_from(gone).unwrap_or(usize::MAX));
            if gone < PRUNE_BATCH as u64 {
                return Ok(total);
            }
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
    async fn create(&self, record: &ExecutionRecord) -> Result<()> {
        let row = ExecutionRow::new(record)?;
        let nodes = record.nodes.iter().map(NodeRow::new).collect::<Result<Vec<_>>>()?;
        let created = retrying(|| insert(&self.inner.pool, &row, &nodes)).await.map_err(|e| {
            from_sqlx(e, "creating an execution", "executions").with_context("execution", row.id.to_string())
        })?;
        if created { Ok(()) } else { Err(duplicate(row.id)) }
    }

    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()> {
        let row = NodeRow::new(result)?;
        let nodes = std::slice::from_ref(&row);
        retrying(|| async {
            let mut conn = self.inner.pool.acquire().await?;
            upsert_nodes(&mut conn, execution_id, nodes).await
        })
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                missing(execution_id)
            } else {
                from_sqlx(e, "saving a node result", "node_results").with_context("execution", execution_id.to_string())
            }
        })
    }

    async fn finish(&self, record: &ExecutionRecord) -> Result<()> {
        let output = record.output.as_ref().map(rows::json).transpose()?;
        let error = rows::error_json(record.error.as_ref())?;
        let ended_at = record.ended_at.map(rows::nanos).transpose()?;
        let status = rows::execution_status(record.status);
        let done = retrying(|| {
            sqlx::query("UPDATE executions SET status = $2, ended_at = $3, output = $4, error = $5 WHERE id = $1")
                .bind(record.id)
                .bind(status)
                .bind(ended_at)
                .bind(output.as_deref())
                .bind(error.as_deref())
                .execute(&self.inner.pool)
        })
        .await
        .map_err(|e| {
            from_sqlx(e, "finishing an execution", "executions").with_context("execution", record.id.to_string())
        })?;
        if done.rows_affected() == 0 {
            return Err(missing(record.id));
        }
        Ok(())
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
        // keep_newest first, then older_than: the union of both rules.
        if let Some(keep) = prune.keep_newest {
            let offset = i64::try_from(keep).unwrap_or(i64::MAX);
            total += self
                .prune_where(
                    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE status <> 'running' \
                     ORDER BY id DESC LIMIT $1 OFFSET $2)",
                    offset,
                )
                .await?;
        }
        if let Some(time) = prune.older_than {
            let before = rows::nanos(time).unwrap_or(if time.timestamp() < 0 { i64::MIN } else { i64::MAX });
            total += self
                .prune_where(
                    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE status <> 'running' \
                     AND started_at < $2 LIMIT $1)",
                    before,
                )
                .await?;
        }
        Ok(total)
    }

    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>> {
        leases::claim(self, execution_id, owner, lease).await
    }

    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>> {
        leases::renew(self, lease, extend).await
    }

    async fn release(&self, lease: &Lease) -> Result<()> {
        leases::release(self, lease).await
    }

    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.save_exact_payload(execution_id, key, value).await
    }

    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        self.read_exact_payload(execution_id, key).await
    }
}
