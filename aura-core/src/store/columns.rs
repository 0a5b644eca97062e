//! How the SQL stores write a record's values into columns and read them back: times as
//! integer nanoseconds, JSON as text, statuses as words, the root frame's item as -1. One
//! definition for SQLite and PostgreSQL, so that both hold the same values.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::{ErrorRecord, ExecutionStatus, NodeStatus};

pub(crate) fn nanos(t: DateTime<Utc>) -> Result<i64> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| Error::invalid_input("a time outside 1677–2262 cannot be stored", Vec::new()))
}

pub(crate) fn time(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|_| Error::internal("a record could not be serialized to JSON"))
}

pub(crate) fn execution_status(s: ExecutionStatus) -> &'static str {
    match s {
        ExecutionStatus::Running => "running",
        ExecutionStatus::Completed => "completed",
        ExecutionStatus::Failed => "failed",
        ExecutionStatus::Cancelled => "cancelled",
    }
}

pub(crate) fn node_status(s: NodeStatus) -> &'static str {
    match s {
        NodeStatus::Pending => "pending",
        NodeStatus::Running => "running",
        NodeStatus::Completed => "completed",
        NodeStatus::Waiting => "waiting",
        NodeStatus::Failed => "failed",
        NodeStatus::Skipped => "skipped",
        NodeStatus::Cancelled => "cancelled",
        NodeStatus::TimedOut => "timed_out",
    }
}

pub(crate) fn error_json(e: Option<&ErrorRecord>) -> Result<Option<String>> {
    e.map(json).transpose()
}

pub(crate) fn item_column(item: Option<usize>) -> Result<i64> {
    match item {
        None => Ok(-1),
        Some(i) => {
            i64::try_from(i).map_err(|_| Error::invalid_input("an iteration index too large to store", Vec::new()))
        }
    }
}

/// The status written by [`execution_status`], read back.
pub(crate) fn execution_status_from(s: &str) -> Option<ExecutionStatus> {
    Some(match s {
        "running" => ExecutionStatus::Running,
        "completed" => ExecutionStatus::Completed,
        "failed" => ExecutionStatus::Failed,
        "cancelled" => ExecutionStatus::Cancelled,
        _ => return None,
    })
}

/// The status written by [`node_status`], read back.
pub(crate) fn node_status_from(s: &str) -> Option<NodeStatus> {
    Some(match s {
        "pending" => NodeStatus::Pending,
        "running" => NodeStatus::Running,
        "completed" => NodeStatus::Completed,
        "waiting" => NodeStatus::Waiting,
        "failed" => NodeStatus::Failed,
        "skipped" => NodeStatus::Skipped,
        "cancelled" => NodeStatus::Cancelled,
        "timed_out" => NodeStatus::TimedOut,
        _ => return None,
    })
}

/// An [`OutboxEntry`](crate::store::OutboxEntry)'s columns, as both SQL stores keep them.
#[derive(Debug)]
pub(crate) struct OutboxColumns {
    pub(crate) id: uuid::Uuid,
    pub(crate) endpoint: String,
    pub(crate) delivery_id: String,
    /// JSON array of message ids.
    pub(crate) messages: String,
    pub(crate) body: Vec<u8>,
    pub(crate) attempts: i64,
    pub(crate) due_at: i64,
    pub(crate) stage: String,
}

impl OutboxColumns {
    pub(crate) fn new(e: &crate::store::OutboxEntry) -> Result<Self> {
        Ok(Self {
            id: e.id,
            endpoint: e.endpoint.clone(),
            delivery_id: e.delivery_id.clone(),
            messages: json(&e.messages)?,
            body: e.body.to_vec(),
            attempts: i64::from(e.attempts),
            due_at: nanos(e.due_at)?,
            stage: stage_name(e.stage).to_owned(),
        })
    }

    /// The entry, or the column that does not read as one.
    pub(crate) fn entry(self) -> std::result::Result<crate::store::OutboxEntry, &'static str> {
        Ok(crate::store::OutboxEntry {
            id: self.id,
            endpoint: self.endpoint,
            delivery_id: self.delivery_id,
            messages: serde_json::from_str(&self.messages).map_err(|_| "messages")?,
            body: self.body.into(),
            attempts: u32::try_from(self.attempts).map_err(|_| "attempts")?,
            due_at: time(self.due_at),
            stage: stage_of(&self.stage).ok_or("stage")?,
        })
    }
}

/// An outbox stage's name in its column.
fn stage_name(stage: crate::store::OutboxStage) -> &'static str {
    match stage {
        crate::store::OutboxStage::Batching => "batching",
        crate::store::OutboxStage::Sending => "sending",
    }
}

/// The outbox stage a column's `name` stands for.
fn stage_of(name: &str) -> Option<crate::store::OutboxStage> {
    match name {
        "batching" => Some(crate::store::OutboxStage::Batching),
        "sending" => Some(crate::store::OutboxStage::Sending),
        _ => None,
    }
}
