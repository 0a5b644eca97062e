//! The execution record, as the product documents' `ScenarioExecution` describes it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use super::error::ErrorRecord;

/// Where an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Running (or waiting for a concurrency slot).
    Running,
    /// Every node that had to run ran.
    Completed,
    /// A node failed with the stop policy, or the execution ran out of time.
    Failed,
    /// Cancelled by its caller.
    Cancelled,
}

impl ExecutionStatus {
    /// Whether the execution has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Running)
    }
}

/// Where one node stands within an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Waiting for its predecessors.
    Pending,
    /// Running.
    Running,
    /// Done; its output is recorded.
    Completed,
    /// It waits until its `ended_at`: with an output, its call ended and it waits
    /// ([`Route::Wait`](crate::node::Route::Wait): a `delay` node …) before the nodes after it
    /// run; without one, its last attempt failed (its `error`) and its next retry is due then.
    /// Saved only by an engine that checkpoints on a durable store, so that an execution
    /// resumed after a crash waits out only what was left.
    Waiting,
    /// Failed; its error is recorded.
    Failed,
    /// Not run: no route led to it.
    Skipped,
    /// Stopped while it ran: the execution was cancelled.
    Cancelled,
    /// Stopped while it ran: the execution ran out of its max duration.
    TimedOut,
}

/// One node's run within an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeResult {
    /// The node's id.
    pub node_id: Arc<str>,
    /// Inside an iterate body: the element's index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// Where it stands.
    pub status: NodeStatus,
    /// The input it got (redacted, possibly truncated). Shared, not copied, with the
    /// executor and the store.
    #[serde(default)]
    pub input: Arc<Value>,
    /// Its output (redacted, possibly truncated). `null` is an output (`Some(Value::Null)`);
    /// no output is an absent field.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub output: Option<Arc<Value>>,
    /// Its error (boxed: most results have none, and a result stays small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorRecord>>,
    /// Whether `output` is not the real output (secrets redacted, or truncated): the real one
    /// was handed to [`crate::store::ExecutionStore::save_exact`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_cleaned: bool,
    /// How many attempts it took.
    pub attempts: u32,
    /// The route it took, for branching nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Whether its output was pinned (given, not computed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pinned: bool,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended (for a [waiting](NodeStatus::Waiting) node: when its wait ends).
    pub ended_at: Option<DateTime<Utc>>,
}

impl NodeResult {
    /// How long it ran, when it has ended.
    pub fn duration(&self) -> Option<std::time::Duration> {
        let (start, end) = (self.started_at?, self.ended_at?);
        (end - start).to_std().ok()
    }
}

/// One run of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// A UUID v7: time-ordered.
    pub id: Uuid,
    /// The scenario.
    pub scenario_id: String,
    /// The scenario's version.
    pub scenario_version: u32,
    /// The trigger data (redacted, possibly truncated).
    pub trigger: Arc<Value>,
    /// Whether `trigger` is not the real trigger data (secrets redacted, or truncated): the
    /// real one was handed to [`crate::store::ExecutionStore::save_exact`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trigger_cleaned: bool,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// A result per node run, in the order they started.
    pub nodes: Vec<NodeResult>,
    /// The execution's output: the respond node's, else the last node's (or each leaf's by id).
    /// `null` is an output (`Some(Value::Null)`); no output is an absent field.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    pub output: Option<Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorRecord>,
    /// The execution this one re-runs, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<Uuid>,
}

impl ExecutionRecord {
    /// This record as it was created: running, without node results, end, output or error.
    pub(crate) fn as_created(&self) -> Self {
        Self {
            id: self.id,
            scenario_id: self.scenario_id.clone(),
            scenario_version: self.scenario_version,
            trigger: self.trigger.clone(),
            trigger_cleaned: self.trigger_cleaned,
            status: ExecutionStatus::Running,
            started_at: self.started_at,
            ended_at: None,
            nodes: Vec::new(),
            output: None,
            error: None,
            rerun_of: self.rerun_of,
        }
    }

    /// The result of a node (outside iterate bodies).
    pub fn node(&self, node_id: &str) -> Option<&NodeResult> {
        self.nodes.iter().find(|n| &*n.node_id == node_id && n.item.is_none())
    }

    /// Every result of a node (one per iteration inside an iterate body).
    pub fn node_runs<'a>(&'a self, node_id: &'a str) -> impl Iterator<Item = &'a NodeResult> + 'a {
        self.nodes.iter().filter(move |n| &*n.node_id == node_id)
    }

    /// How long it ran, when it has ended.
    pub fn duration(&self) -> Option<std::time::Duration> {
        (self.ended_at? - self.started_at).to_std().ok()
    }

    /// A one-line summary.
    pub fn summary(&self) -> ExecutionSummary {
        ExecutionSummary {
            id: self.id,
            scenario_id: self.scenario_id.clone(),
            status: self.status,
            started_at: self.started_at,
            ended_at: self.ended_at,
        }
    }
}

/// Which payload of an execution an exact value is kept for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadKey {
    /// The trigger data.
    Trigger,
    /// A node's output (inside an iterate body: for one element).
    Output {
        /// The node.
        node: Arc<str>,
        /// The element's index, inside an iterate body.
        item: Option<usize>,
    },
}

/// An execution without its payloads, for listings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    /// The execution.
    pub id: Uuid,
    /// The scenario.
    pub scenario_id: String,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
}

/// A field that is present is `Some`, even when it is `null` (an absent one is `None` through
/// `#[serde(default)]`): so that a `null` output survives a round trip through JSON.
pub(super) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
