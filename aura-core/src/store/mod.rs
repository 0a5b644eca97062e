//! Execution records and where they are kept.
//!
//! An [`ExecutionRecord`] is one run of a scenario: its trigger data, status, times and a
//! [`NodeResult`] per node run (input, output, error, attempts, times). The executor writes
//! through a [`Store`] after every node, so that a durable store holds each node's result before
//! the next node starts and an interrupted execution can resume from its last completed node
//! ([`crate::engine::Engine::resume`]). [`MemoryStore`] is the embedded default; SQLite and
//! PostgreSQL stores implement the same trait.

mod error;
mod memory;
mod record;

use async_trait::async_trait;
use uuid::Uuid;

pub use self::memory::MemoryStore;
pub use self::record::{ErrorRecord, ExecutionRecord, ExecutionStatus, ExecutionSummary, NodeResult, NodeStatus};
use crate::error::Result;

/// Where execution records live.
///
/// Every method is called by the executor in order for one execution: `create`, then
/// `save_node` each time a node ends (completed, failed or skipped; a node that is re-run after
/// a resume is saved again under the same key), then `finish`. A durable store must make each
/// call durable before it returns. Nodes in flight are not written: they show in the event
/// stream, and after a crash they run again on resume with the same idempotency key.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Records a new execution (status running, no node results yet).
    async fn create(&self, record: &ExecutionRecord) -> Result<()>;

    /// Inserts or replaces one node's result (keyed by node id and iteration item).
    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()>;

    /// Records the end of an execution: its status, end time, output and error.
    async fn finish(&self, record: &ExecutionRecord) -> Result<()>;

    /// One execution, whole.
    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>>;

    /// The newest executions of a scenario, newest first.
    async fn list(&self, scenario_id: &str, limit: usize) -> Result<Vec<ExecutionSummary>>;

    /// Executions that never finished (the process stopped while they ran), oldest first.
    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>>;
}
