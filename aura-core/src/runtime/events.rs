//! What the trigger runtime reports ([`TriggerRuntime::subscribe`](super::TriggerRuntime::subscribe)).

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Something the trigger runtime did for one scenario's trigger.
#[derive(Clone, Debug, PartialEq)]
pub struct TriggerEvent {
    /// The scenario.
    pub scenario_id: String,
    /// Its trigger node.
    pub trigger_id: String,
    /// When (wall time, on the engine's clock).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: TriggerEventKind,
}

/// What happened to a trigger.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TriggerEventKind {
    /// Its trigger was registered (or replaced by a new version).
    Activated,
    /// Its trigger was removed (deactivated, or the scenario is not active).
    Deactivated,
    /// It started an execution.
    Fired {
        /// The execution.
        execution_id: Uuid,
    },
    /// A webhook delivery (or a poll's item) it had seen already came again: nothing started.
    Duplicate {
        /// The delivery id or dedupe key.
        key: String,
    },
    /// Schedule firings missed while nothing ran, dropped by the `missed` policy.
    MissedDropped {
        /// How many.
        count: u64,
    },
    /// A poll found items.
    Polled {
        /// How many were new (started executions).
        new: usize,
        /// Whether the app said more was waiting (polled again at once).
        more: bool,
    },
    /// A poll (or a schedule's commit) failed; the next try comes after `retry_in`.
    Failed {
        /// The error's kind.
        error: &'static str,
        /// Its message.
        message: String,
        /// The wait before the next try.
        retry_in: std::time::Duration,
        /// How many tries in a row have failed.
        failures: u32,
    },
}
