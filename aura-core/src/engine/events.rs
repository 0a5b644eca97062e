//! The event stream: what happens in executions, as it happens.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::store::ExecutionStatus;

/// One thing that happened in an execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionEvent {
    /// The execution.
    pub execution_id: Uuid,
    /// Its scenario.
    pub scenario_id: Arc<str>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The execution started (after waiting for a concurrency slot, if any).
    Started,
    /// A node started.
    NodeStarted {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
    },
    /// A node completed.
    NodeCompleted {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
        /// How long it took, retries included.
        duration: Duration,
    },
    /// An attempt failed with a retryable error; another follows after `delay`.
    NodeRetrying {
        /// The node.
        node: Arc<str>,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The wait before the next.
        delay: Duration,
        /// The error's kind.
        error: &'static str,
    },
    /// A node failed (after its retries).
    NodeFailed {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
        /// The error's kind.
        error: &'static str,
    },
    /// No route led to a node.
    NodeSkipped {
        /// The node.
        node: Arc<str>,
    },
    /// The execution stopped at a breakpoint after this node.
    Paused {
        /// The node.
        node: Arc<str>,
    },
    /// The execution ended.
    Finished {
        /// How.
        status: ExecutionStatus,
    },
}
