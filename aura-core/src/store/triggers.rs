//! Trigger state: what the trigger runtime remembers between polls and deliveries — a cursor
//! per trigger, the dedupe keys it has seen (with an expiry), and the one atomic step that
//! turns a poll's (or a webhook delivery's) new items into executions.
//!
//! # How the trigger runtime uses it
//!
//! A polling trigger reads its cursor with [`TriggerStateStore::cursor`], asks the app for what
//! is new since, and hands everything to [`TriggerStateStore::commit_poll`]: the new cursor,
//! and per item its dedupe key and the [`ExecutionRecord`] to create for it. In one
//! transaction the store keeps the keys it has not seen (or whose memory expired), creates the
//! executions of exactly those items (as [`ExecutionStore::create`](super::ExecutionStore::create)
//! would), and advances the cursor. If any part fails, nothing of it is kept: the next poll
//! sees the old cursor and the same items again, and no item is lost or run twice. The
//! answer says which items were new, so the runtime starts only their executions.
//!
//! A webhook delivery is the same step with one item and no cursor
//! ([`TriggerStateStore::commit_delivery`]): its delivery id is the dedupe key, so a
//! redelivered webhook creates no second execution.
//!
//! ```
//! use std::sync::Arc;
//! use aura_core::store::{Arrival, ExecutionStore, MemoryStore, PollCommit, TriggerKey, TriggerStateStore};
//! # use aura_core::store::{ExecutionRecord, ExecutionStatus};
//! # fn execution_for(item: &serde_json::Value) -> ExecutionRecord {
//! #     ExecutionRecord { id: uuid::Uuid::now_v7(), scenario_id: "leads".into(), scenario_version: 1,
//! #         trigger: Arc::new(item.clone()), trigger_cleaned: false, status: ExecutionStatus::Running,
//! #         started_at: chrono::Utc::now(), ended_at: None, nodes: Vec::new(), output: None, error: None,
//! #         rerun_of: None }
//! # }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> aura_core::Result<()> {
//! let store = MemoryStore::new(); // or a SqliteStore / PostgresStore: the same calls
//! let key = TriggerKey::new("leads", "new_contact");
//! let found = [serde_json::json!({ "id": "c1" }), serde_json::json!({ "id": "c2" })];
//! let now = chrono::Utc::now();
//! let commit = PollCommit {
//!     key: key.clone(),
//!     cursor: Some(serde_json::json!({ "after": "c2" })),
//!     items: found
//!         .iter()
//!         .map(|item| Arrival::new(item["id"].to_string(), execution_for(item)))
//!         .collect(),
//!     expires_at: now + chrono::Duration::days(7),
//!     now,
//! };
//! let outcome = store.commit_poll(&commit).await?;
//! assert_eq!(outcome.new, [true, true]);
//! // The same items again (a poll that overlapped the last one): nothing new, nothing created.
//! let items = found
//!     .iter()
//!     .map(|item| Arrival::new(item["id"].to_string(), execution_for(item)))
//!     .collect();
//! let again = PollCommit { items, ..commit.clone() };
//! assert_eq!(store.commit_poll(&again).await?.new, [false, false]);
//! assert_eq!(store.cursor(&key).await?, Some(serde_json::json!({ "after": "c2" })));
//! # Ok(()) }
//! ```
//!
//! Times (`now`, `expires_at`) are given by the caller, on its clock, so that expiry follows
//! the engine's [`Clock`](crate::clock::Clock) (and tests need no sleeps). Expired keys count
//! as new; they are deleted by [`TriggerStateStore::prune_dedupe`], in batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::ExecutionRecord;
use crate::error::Result;

/// Which trigger a cursor and dedupe keys belong to: a scenario and its trigger node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TriggerKey {
    /// The scenario.
    pub scenario_id: String,
    /// The trigger node within it.
    pub trigger_id: String,
}

impl TriggerKey {
    /// The key of trigger node `trigger_id` of scenario `scenario_id`.
    pub fn new(scenario_id: impl Into<String>, trigger_id: impl Into<String>) -> Self {
        Self {
            scenario_id: scenario_id.into(),
            trigger_id: trigger_id.into(),
        }
    }
}

/// One item a poll (or a delivery) found: its dedupe key and the execution to create for it if
/// the key is new.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrival {
    /// What identifies the item across polls (the vendor's id, a delivery id …).
    pub dedupe_key: String,
    /// The execution to create when the item is new (status running, as for
    /// [`ExecutionStore::create`](super::ExecutionStore::create)).
    pub execution: ExecutionRecord,
    /// The trigger data exactly as it came, when the execution's record holds a redacted or
    /// truncated copy (`trigger_cleaned`): kept with the execution in the same transaction
    /// (sealed, as [`ExecutionStore::save_exact`](super::ExecutionStore::save_exact) keeps
    /// it) by a store that keeps exact payloads, so that the execution can always run.
    pub exact_trigger: Option<std::sync::Arc<Value>>,
}

impl Arrival {
    /// An item with its dedupe key and the execution to create for it (no exact trigger).
    pub fn new(dedupe_key: impl Into<String>, execution: ExecutionRecord) -> Self {
        Self {
            dedupe_key: dedupe_key.into(),
            execution,
            exact_trigger: None,
        }
    }
}

/// Everything one poll changes, committed at once by [`TriggerStateStore::commit_poll`].
#[derive(Clone, Debug, PartialEq)]
pub struct PollCommit {
    /// The trigger.
    pub key: TriggerKey,
    /// The cursor to keep from now on; `None` leaves it as it is (a webhook delivery).
    pub cursor: Option<Value>,
    /// The items found, in order. Two items with one dedupe key: the first counts.
    pub items: Vec<Arrival>,
    /// Until when the new items' dedupe keys are remembered.
    pub expires_at: DateTime<Utc>,
    /// The caller's now: keys that expired at or before it count as new.
    pub now: DateTime<Utc>,
}

/// What [`TriggerStateStore::commit_poll`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Per item of the commit, in order: whether it was new (its execution was created).
    pub new: Vec<bool>,
}

impl PollOutcome {
    /// The executions created, in the items' order.
    pub fn created<'a>(&'a self, commit: &'a PollCommit) -> impl Iterator<Item = Uuid> + 'a {
        commit
            .items
            .iter()
            .zip(&self.new)
            .filter(|(_, new)| **new)
            .map(|(item, _)| item.execution.id)
    }
}

/// Where the trigger runtime keeps its state (see the module docs): implemented by
/// [`MemoryStore`](super::MemoryStore) (bounded, for tests), `SqliteStore` and `PostgresStore`,
/// so that one store holds executions and trigger state and a poll's commit is one transaction.
#[async_trait]
pub trait TriggerStateStore: Send + Sync + 'static {
    /// The trigger's cursor, if one was set.
    async fn cursor(&self, key: &TriggerKey) -> Result<Option<Value>>;

    /// Sets the trigger's cursor (alone, without executions: a trigger's first poll, a reset).
    async fn set_cursor(&self, key: &TriggerKey, cursor: &Value) -> Result<()>;

    /// Remembers `keys` for the trigger until `expires_at`; per key, in order, whether it was
    /// new (not remembered, or remembered until `now` or before). A key given twice is new only
    /// the first time.
    async fn remember(
        &self,
        key: &TriggerKey,
        keys: &[String],
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<bool>>;

    /// Deletes up to `batch` dedupe keys (of any trigger) that expired at or before `now`;
    /// returns how many went. Call it again while it returns `batch`.
    async fn prune_dedupe(&self, now: DateTime<Utc>, batch: usize) -> Result<usize>;

    /// The atomic step of a poll (see the module docs): keeps the new items' dedupe keys,
    /// creates their executions and sets the cursor, all or nothing. An execution id that
    /// exists already is a [`Conflict`](crate::ErrorKind::Conflict), and then nothing is kept.
    async fn commit_poll(&self, commit: &PollCommit) -> Result<PollOutcome>;

    /// The atomic step of a webhook delivery: remembers the arrival's dedupe key (the
    /// delivery id) until `expires_at` and creates its execution, or does nothing when the
    /// delivery was seen already. `true` when the execution was created.
    async fn commit_delivery(
        &self,
        key: &TriggerKey,
        arrival: Arrival,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let commit = PollCommit {
            key: key.clone(),
            cursor: None,
            items: vec![arrival],
            expires_at,
            now,
        };
        Ok(self.commit_poll(&commit).await?.new.first().copied().unwrap_or(false))
    }
}

/// The distinct keys of `keys`, in first-seen order: what a store looks up.
pub(crate) fn distinct<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter().filter(|k| seen.insert(*k)).collect()
}

/// Per key of `keys`, whether it is new: in `fresh` (the keys the store found new) and the
/// first of its kind. Shared by the stores, so that all treat a repeated key alike.
pub(crate) fn mark<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    fresh: &std::collections::HashSet<String>,
) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    keys.into_iter().map(|k| seen.insert(k) && fresh.contains(k)).collect()
}

/// Refuses a commit whose items (of distinct keys) share an execution id: a
/// [`Conflict`](crate::ErrorKind::Conflict) before anything is written, in every store alike.
pub(crate) fn check_ids(commit: &PollCommit) -> Result<()> {
    let mut keys = std::collections::HashSet::new();
    let mut ids = std::collections::HashSet::new();
    for item in &commit.items {
        if keys.insert(item.dedupe_key.as_str()) && !ids.insert(item.execution.id) {
            return Err(
                crate::error::Error::conflict("two items of the poll have the same execution id")
                    .with_context("execution", item.execution.id.to_string())
                    .with_context("scenario", commit.key.scenario_id.clone())
                    .with_context("trigger", commit.key.trigger_id.clone()),
            );
        }
    }
    Ok(())
}
