//! Records as rows and back: columns for what is queried, JSON text for payloads and errors,
//! times as nanoseconds since the epoch (exact, and ordered as the times are).

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::error::unreadable;
use crate::error::Result;
pub(super) use crate::store::columns::{error_json, execution_status, json, nanos, time};
use crate::store::columns::{execution_status_from, item_column, node_status, node_status_from};
use crate::store::{ExecutionRecord, ExecutionStatus, ExecutionSummary, NodeResult, NodeStatus};

/// An execution's columns, ready to bind.
#[derive(Debug)]
pub(super) struct ExecutionRow {
    pub(super) id: Uuid,
    pub(super) scenario_id: String,
    pub(super) scenario_version: i64,
    pub(super) status: &'static str,
    pub(super) trigger: String,
    pub(super) trigger_cleaned: bool,
    pub(super) started_at: i64,
    pub(super) ended_at: Option<i64>,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) rerun_of: Option<Uuid>,
}

/// A node result's columns, ready to bind.
#[derive(Debug)]
pub(super) struct NodeRow {
    pub(super) node_id: String,
    pub(super) item: i64,
    pub(super) status: &'static str,
    pub(super) input: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) output_cleaned: bool,
    pub(super) attempts: i64,
    pub(super) route: Option<String>,
    pub(super) pinned: bool,
    pub(super) started_at: Option<i64>,
    pub(super) ended_at: Option<i64>,
}

/// What `finish` changes.
#[derive(Debug)]
pub(super) struct FinishRow {
    pub(super) id: Uuid,
    pub(super) status: &'static str,
    pub(super) ended_at: Option<i64>,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
}

fn parse<T: DeserializeOwned>(text: &str, table: &'static str, column: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| unreadable(table, column))
}

fn parse_execution_status(s: &str) -> Result<ExecutionStatus> {
    execution_status_from(s).ok_or_else(|| unreadable("executions", "status"))
}

fn parse_node_status(s: &str) -> Result<NodeStatus> {
    node_status_from(s).ok_or_else(|| unreadable("node_results", "status"))
}

impl ExecutionRow {
    pub(super) fn new(r: &ExecutionRecord) -> Result<Self> {
        Ok(Self {
            id: r.id,
            scenario_id: r.scenario_id.clone(),
            scenario_version: i64::from(r.scenario_version),
            status: execution_status(r.status),
            trigger: json(&*r.trigger)?,
            trigger_cleaned: r.trigger_cleaned,
            started_at: nanos(r.started_at)?,
            ended_at: r.ended_at.map(nanos).transpose()?,
            output: r.output.as_ref().map(json).transpose()?,
            error: error_json(r.error.as_ref())?,
            rerun_of: r.rerun_of,
        })
    }
}

impl NodeRow {
    pub(super) fn new(n: &NodeResult) -> Result<Self> {
        Ok(Self {
            node_id: n.node_id.to_string(),
            item: item_column(n.item)?,
            status: node_status(n.status),
            input: json(&*n.input)?,
            output: n.output.as_deref().map(json).transpose()?,
            error: error_json(n.error.as_deref())?,
            output_cleaned: n.output_cleaned,
            attempts: i64::from(n.attempts),
            route: n.route.clone(),
            pinned: n.pinned,
            started_at: n.started_at.map(nanos).transpose()?,
            ended_at: n.ended_at.map(nanos).transpose()?,
        })
    }
}

impl FinishRow {
    pub(super) fn new(r: &ExecutionRecord) -> Result<Self> {
        Ok(Self {
            id: r.id,
            status: execution_status(r.status),
            ended_at: r.ended_at.map(nanos).transpose()?,
            output: r.output.as_ref().map(json).transpose()?,
            error: error_json(r.error.as_ref())?,
        })
    }
}

fn get<'r, T>(row: &'r PgRow, table: &'static str, column: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(|_| unreadable(table, column))
}

/// The columns [`execution`] reads, in a `SELECT`.
pub(super) const EXECUTION_COLUMNS: &str = "id, scenario_id, scenario_version, status, trigger, trigger_cleaned, \
     started_at, ended_at, output, error, rerun_of";

/// An execution row (without its nodes).
pub(super) fn execution(row: &PgRow) -> Result<ExecutionRecord> {
    const T: &str = "executions";
    let output: Option<String> = get(row, T, "output")?;
    let error: Option<String> = get(row, T, "error")?;
    let version: i64 = get(row, T, "scenario_version")?;
    Ok(ExecutionRecord {
        id: get(row, T, "id")?,
        scenario_id: get(row, T, "scenario_id")?,
        scenario_version: u32::try_from(version).map_err(|_| unreadable(T, "scenario_version"))?,
        trigger: Arc::new(parse::<Value>(&get::<String>(row, T, "trigger")?, T, "trigger")?),
        trigger_cleaned: get(row, T, "trigger_cleaned")?,
        status: parse_execution_status(&get::<String>(row, T, "status")?)?,
        started_at: time(get(row, T, "started_at")?),
        ended_at: get::<Option<i64>>(row, T, "ended_at")?.map(time),
        nodes: Vec::new(),
        output: output.map(|o| parse(&o, T, "output")).transpose()?,
        error: error.map(|e| parse(&e, T, "error")).transpose()?,
        rerun_of: get(row, T, "rerun_of")?,
    })
}

/// The columns [`summary`] reads.
pub(super) const SUMMARY_COLUMNS: &str = "id, scenario_id, status, started_at, ended_at";

pub(super) fn summary(row: &PgRow) -> Result<ExecutionSummary> {
    const T: &str = "executions";
    Ok(ExecutionSummary {
        id: get(row, T, "id")?,
        scenario_id: get(row, T, "scenario_id")?,
        status: parse_execution_status(&get::<String>(row, T, "status")?)?,
        started_at: time(get(row, T, "started_at")?),
        ended_at: get::<Option<i64>>(row, T, "ended_at")?.map(time),
    })
}

/// The columns [`node`] reads (after `execution_id`).
pub(super) const NODE_COLUMNS: &str = "execution_id, node_id, item, status, input, output, error, output_cleaned, \
     attempts, route, pinned, started_at, ended_at";

pub(super) fn node(row: &PgRow) -> Result<NodeResult> {
    const T: &str = "node_results";
    let item: i64 = get(row, T, "item")?;
    let output: Option<String> = get(row, T, "output")?;
    let error: Option<String> = get(row, T, "error")?;
    let attempts: i64 = get(row, T, "attempts")?;
    Ok(NodeResult {
        node_id: Arc::from(get::<String>(row, T, "node_id")?),
        item: if item < 0 {
            None
        } else {
            Some(usize::try_from(item).map_err(|_| unreadable(T, "item"))?)
        },
        status: parse_node_status(&get::<String>(row, T, "status")?)?,
        input: Arc::new(parse(&get::<String>(row, T, "input")?, T, "input")?),
        output: output.map(|o| parse(&o, T, "output").map(Arc::new)).transpose()?,
        error: error.map(|e| parse(&e, T, "error")).transpose()?,
        output_cleaned: get(row, T, "output_cleaned")?,
        attempts: u32::try_from(attempts).map_err(|_| unreadable(T, "attempts"))?,
        route: get(row, T, "route")?,
        pinned: get(row, T, "pinned")?,
        started_at: get::<Option<i64>>(row, T, "started_at")?.map(time),
        ended_at: get::<Option<i64>>(row, T, "ended_at")?.map(time),
    })
}

/// The execution id of a node row.
pub(super) fn node_execution(row: &PgRow) -> Result<Uuid> {
    get(row, "node_results", "execution_id")
}
