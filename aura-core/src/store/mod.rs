//! Execution records and where they are kept.
//!
//! An [`ExecutionRecord`] is one run of a scenario: its trigger data, status, times and a
//! [`NodeResult`] per node run (input, output, error, attempts, times). The executor writes
//! through an [`ExecutionStore`] after every node, so that a durable store holds each node's
//! result before the next node starts and an interrupted execution can resume from its last
//! completed node ([`crate::engine::Engine::recover`]). [`MemoryStore`] keeps them in memory
//! (the default, and for tests); `SqliteStore` (feature `store-sqlite`) keeps them durably in
//! one SQLite file, with group commit; `PostgresStore` (feature `store-postgres`) keeps them in
//! a PostgreSQL database that any number of engine processes, on any number of machines, share
//! (claims are atomic statements and lease times are on the database's clock).
//!
//! Records are for people: secrets are redacted and big payloads truncated. What the engine
//! re-reads (a re-run's reused outputs, a resume's trigger) must be exact, so when a stored
//! payload is not the real one the executor also hands the real one to
//! [`ExecutionStore::save_exact`]; a store that does not keep it makes such re-runs fail with a
//! clear error instead of feeding `"[redacted]"` to the next node.
//!
//! Beside executions, every store keeps what the rest of the runtime needs to survive a
//! restart, each behind a trait of its own: trigger state ([`TriggerStateStore`]: cursors,
//! dedupe keys, the atomic commit of a poll), the audit trail ([`AuditLog`]), the deployed
//! scenarios, versioned ([`ScenarioStore`]), and the outbound webhook deliveries not yet
//! finished ([`OutboxStore`]). One `SqliteStore` or `PostgresStore` implements
//! them all, so one file or database serves everything.

mod availability;
#[cfg(any(feature = "store-sqlite", feature = "store-postgres"))]
mod columns;
mod compact;
mod error;
#[cfg(any(feature = "store-sqlite", feature = "store-postgres"))]
mod exact;
mod lease;
mod limits;
mod memory;
mod memory_entry;
mod memory_state;
mod outbox;
mod payloads;
#[cfg(feature = "store-postgres")]
mod postgres;
mod rates;
mod record;
mod scenarios;
#[cfg(feature = "store-sqlite")]
mod sqlite;
mod triggers;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

pub use self::availability::StoreAvailability;
pub use self::lease::Lease;
pub use self::limits::ConcurrencyLimits;
pub use self::memory::MemoryStore;
pub use self::outbox::{OutboxEntry, OutboxStage, OutboxStore};
pub use self::payloads::{DirPayloadStore, PayloadStore};
#[cfg(feature = "store-postgres")]
pub use self::postgres::{PostgresStore, PostgresStoreBuilder};
pub(crate) use self::rates::LocalRates;
pub use self::rates::RateLimitStore;
pub use self::record::{
    ErrorRecord, ExecutionRecord, ExecutionStatus, ExecutionSummary, NodeResult, NodeStatus, PayloadKey,
};
pub use self::scenarios::{DeployedScenario, ScenarioStore};
#[cfg(feature = "store-sqlite")]
pub use self::sqlite::{SqliteStore, SqliteStoreBuilder};
pub use self::triggers::{Arrival, PollCommit, PollOutcome, TriggerKey, TriggerStateStore};
pub use crate::audit::{AuditAction, AuditEntry, AuditLog, Auditor, DEFAULT_ACTOR};
use crate::error::{Error, Result};
pub use crate::page::{Cursor, Page, PageRequest, Prune};

/// Where execution records live.
///
/// Every write is called by the executor in order for one execution: `create`, then
/// `save_node` each time a node ends (completed, failed, skipped, or stopped by a cancel or the
/// max duration; a node that is re-run after a resume is saved again under the same key), then
/// `finish`. A durable store must make each call durable before it returns. Nodes in flight are
/// not written (they show in the event stream, and after a crash they run again on resume with
/// the same idempotency key), except a node that is not idempotent on a
/// [durable](ExecutionStore::is_durable) store: it is saved as running before it is called, so
/// that a resume knows the call may have happened (see
/// [`ErrorPolicy::rerun_in_flight`](crate::scenario::ErrorPolicy::rerun_in_flight)).
#[async_trait]
pub trait ExecutionStore: Send + Sync + 'static {
    /// Whether what this store keeps outlives the process (a file, a database): then the engine
    /// saves a node that is not idempotent as running before calling it. `true` unless the
    /// store says otherwise ([`MemoryStore`] does: nothing of it is left to resume).
    fn is_durable(&self) -> bool {
        true
    }

    /// Whether [`checkpoint_leased`](Self::checkpoint_leased) with an `end` keeps that record
    /// as it is (every node result is in it) and reads nothing of `nodes`: then the engine
    /// passes no copy of the results it deferred along with the end. `false` unless the store
    /// says otherwise ([`MemoryStore`] does).
    fn keeps_whole_end(&self) -> bool {
        false
    }

    /// Records a new execution (status running, no node results yet).
    async fn create(&self, record: &ExecutionRecord) -> Result<()>;

    /// Inserts or replaces one node's result (keyed by node id and iteration item).
    async fn save_node(&self, execution_id: Uuid, result: &NodeResult) -> Result<()>;

    /// Records the end of an execution: its status, end time, output and error.
    async fn finish(&self, record: &ExecutionRecord) -> Result<()>;

    /// One execution, whole.
    async fn get(&self, execution_id: Uuid) -> Result<Option<ExecutionRecord>>;

    /// A page of a scenario's executions, newest first; the page's cursor gives the next one.
    async fn list(&self, scenario_id: &str, page: PageRequest) -> Result<Page<ExecutionSummary>>;

    /// Executions that never finished (the process stopped while they ran), oldest first.
    async fn unfinished(&self) -> Result<Vec<ExecutionRecord>>;

    /// Deletes finished executions as `prune` says (the union of its rules: older than a time,
    /// beyond the newest N, beyond the newest N of their scenario); returns how many went.
    /// Unfinished executions are never pruned.
    async fn prune(&self, prune: Prune) -> Result<usize>;

    /// Claims an unfinished execution for `owner` for `lease`, so that only one process resumes
    /// it: `None` while another owner's lease lives (or when the execution is not unfinished).
    /// The same owner claiming again renews its lease.
    async fn claim(&self, execution_id: Uuid, owner: &str, lease: Duration) -> Result<Option<Lease>>;

    /// Extends a lease this owner holds; `None` when it was lost (expired and claimed by another).
    async fn renew(&self, lease: &Lease, extend: Duration) -> Result<Option<Lease>>;

    /// Gives a lease up (nothing happens when it was lost already).
    async fn release(&self, lease: &Lease) -> Result<()>;

    /// Renews every lease `owner` holds, by `extend` from now, in one write: the heartbeat of
    /// an engine, which keeps each execution it runs leased without a timer per execution.
    /// Returns how many leases it renewed. A lease another owner has claimed meanwhile is not
    /// renewed (its writes are then fenced out: see [`Lease::token`]).
    async fn renew_owned(&self, owner: &str, extend: Duration) -> Result<u64>;

    /// Records a new execution already leased to `owner` for `length`: the execution is never
    /// seen unleased, so no other process (nor a worker of this one) takes it up while it runs.
    /// The engine creates every execution it checkpoints in a [durable](Self::is_durable) store
    /// this way. The default creates, then claims: a store that several processes share must
    /// do both in one write.
    async fn create_leased(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<Lease> {
        self.create(record).await?;
        self.claim(record.id, owner, length).await?.ok_or_else(|| {
            Error::conflict("a new execution could not be leased").with_context("execution", record.id.to_string())
        })
    }

    /// Records an execution that ended before anything of it was written: its whole record,
    /// finished, as [`create_leased`](Self::create_leased) and then
    /// [`checkpoint_leased`](Self::checkpoint_leased) with its results and end would (which is
    /// the default). On a store that is not [durable](Self::is_durable) the engine writes
    /// nothing of a checkpointed execution before its first write, so that one that ends without
    /// waiting is written once, whole, by this call. A store may write it in one step
    /// ([`MemoryStore`] does). An execution of that id already there is a
    /// [`Conflict`](crate::ErrorKind::Conflict).
    async fn create_finished(&self, record: &ExecutionRecord, owner: &str, length: Duration) -> Result<()> {
        let lease = self.create_leased(&record.as_created(), owner, length).await?;
        self.checkpoint_leased(&lease, &record.nodes, Some(record)).await
    }

    /// [`save_node`](Self::save_node) under `lease`: written only while the store still gives
    /// the execution to this lease's owner and [token](Lease::token); otherwise nothing is
    /// written and the error is a [`Conflict`](crate::ErrorKind::Conflict) saying the lease was
    /// lost. The default does not check (a store of one process has no other writer to fence
    /// out).
    async fn save_node_leased(&self, lease: &Lease, result: &NodeResult) -> Result<()> {
        self.save_node(lease.execution_id, result).await
    }

    /// Node results and, with `end`, the end of the execution, written under `lease` (fenced
    /// as [`save_node_leased`](Self::save_node_leased) is), in order: an end is never kept
    /// without the results before it. An `end` is the execution's whole record: every node
    /// result is in it, those of `nodes` too, so a store may keep it as it is instead of
    /// applying `nodes` one by one (the `MemoryStore` does). The engine defers the checkpoints of nodes that call
    /// nothing ([`NodeInfo::pure`](crate::node::NodeInfo::pure)): they could run again from
    /// their inputs; it writes them with its next checkpoint that must be waited for (before a
    /// node that is not idempotent is called, after one that calls something ends, at a park,
    /// at the end). The default writes them one by one, each
    /// waited for; a store whose one writer applies writes in order (`SqliteStore`) queues
    /// them at once (one transaction when they fit).
    async fn checkpoint_leased(
        &self,
        lease: &Lease,
        nodes: &[NodeResult],
        end: Option<&ExecutionRecord>,
    ) -> Result<()> {
        for node in nodes {
            self.save_node_leased(lease, node).await?;
        }
        match end {
            Some(record) => self.finish_leased(lease, record).await,
            None => Ok(()),
        }
    }

    /// [`save_exact`](Self::save_exact) under `lease`, fenced as
    /// [`save_node_leased`](Self::save_node_leased) is.
    async fn save_exact_leased(&self, lease: &Lease, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        self.save_exact(lease.execution_id, key, value).await
    }

    /// [`finish`](Self::finish) under `lease`, fenced as
    /// [`save_node_leased`](Self::save_node_leased) is, giving the lease up in the same write.
    /// The default finishes, then releases.
    async fn finish_leased(&self, lease: &Lease, record: &ExecutionRecord) -> Result<()> {
        self.finish(record).await?;
        self.release(lease).await
    }

    /// Parks an execution in the store: gives `lease` up to nobody until `wake_in` from now,
    /// fenced as [`save_node_leased`](Self::save_node_leased) is. Until then no claim takes the
    /// execution and no heartbeat renews it; from then on any claim does
    /// ([`claim`](Self::claim), [`claim_next`](Self::claim_next)), in this process or another.
    /// The engine parks an execution that waits long (a `delay` node …) this way, so that its
    /// state leaves memory ([`crate::engine::EngineBuilder::park_in_store_after`]).
    ///
    /// Returns whether it parked. The default parks nothing (`false`): the engine then keeps
    /// the execution in memory while it waits.
    async fn park_leased(&self, lease: &Lease, wake_in: Duration) -> Result<bool> {
        let _ = (lease, wake_in);
        Ok(false)
    }

    /// [`claim`](Self::claim), which also takes an execution [parked](Self::park_leased) in
    /// the store before it wakes: to end it early (a cancel). The default is `claim` (a store
    /// that parks nothing has nothing to wake).
    async fn wake(&self, execution_id: Uuid, owner: &str, length: Duration) -> Result<Option<Lease>> {
        self.claim(execution_id, owner, length).await
    }

    /// Claims up to `limit` unfinished executions that no live lease holds, whoever its owner
    /// (enqueued ones, and those a stopped process left), oldest first, for `owner` for
    /// `length`: a worker's take from the queue ([`crate::engine::Engine::work`]). Two
    /// processes claiming at once never get the same execution, and neither waits for the
    /// other (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    ///
    /// An execution of a scenario in `limits` is taken only while fewer than its max of that
    /// scenario run (hold a live lease, whoever holds it), counting the ones this claim takes;
    /// two processes claiming at once never take more than the room left between them.
    async fn claim_next(
        &self,
        owner: &str,
        length: Duration,
        limit: usize,
        limits: &ConcurrencyLimits,
    ) -> Result<Vec<Lease>>;

    /// Wakes the workers of this process when work is enqueued in the store (an execution
    /// [created](Self::create) without a lease), through any engine of this process or, for a
    /// store several processes share, of another one (PostgreSQL: `LISTEN`/`NOTIFY`); `None`
    /// when the store has no such signal, and the workers only poll.
    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }

    /// Whether the store's server can be reached, as its writes last found, for a store that
    /// talks to one and rides its outages out (`PostgresStore`): the engine reports each
    /// change to its subscribers ([`EventKind::StoreAway`](crate::engine::EventKind::StoreAway),
    /// [`EventKind::StoreBack`](crate::engine::EventKind::StoreBack)). `None` (the default) for
    /// a store with no server to lose.
    fn availability(&self) -> Option<tokio::sync::watch::Receiver<StoreAvailability>> {
        None
    }

    /// The store's trigger state (cursors, dedupe keys, the atomic commit of a poll), for a
    /// store that keeps it beside its executions, so that one transaction holds both: what
    /// the trigger runtime's schedules, polls and deduplicated webhooks need. `None` (the
    /// default) for a store that keeps none. [`MemoryStore`], `SqliteStore` and
    /// `PostgresStore` keep it.
    fn trigger_state(&self) -> Option<&dyn TriggerStateStore> {
        None
    }

    /// Keeps the exact value of a payload whose record holds a redacted or truncated copy
    /// (see the module docs). The default keeps nothing: re-runs that need it then fail with
    /// an error saying so. A durable store keeping it must protect it like credentials.
    async fn save_exact(&self, execution_id: Uuid, key: &PayloadKey, value: &Arc<Value>) -> Result<()> {
        let _ = (execution_id, key, value);
        Ok(())
    }

    /// The exact value kept by [`ExecutionStore::save_exact`], if this store keeps them.
    async fn exact(&self, execution_id: Uuid, key: &PayloadKey) -> Result<Option<Arc<Value>>> {
        let _ = (execution_id, key);
        Ok(None)
    }
}
