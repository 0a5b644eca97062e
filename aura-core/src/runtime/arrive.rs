//! Items becoming executions: started at once, or committed to the store with their dedupe
//! keys (and a poll's cursor) in one transaction and then run.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::{Shared, TriggerEventKind};
use crate::compile::Plan;
use crate::engine::ExecutionHandle;
use crate::error::{ErrorKind, Result};
use crate::store::{Arrival, PollCommit, TriggerKey};

/// What became of an item.
#[derive(Debug)]
pub(super) enum Arrived {
    /// Its execution runs here.
    Running(ExecutionHandle),
    /// Its execution is in the store, run by a worker (or the next recovery).
    Stored(Uuid),
    /// It was seen already: nothing started.
    Duplicate,
}

/// One item: started at once without a dedupe key (the execution is stored before `start`
/// returns), committed with its key first otherwise.
pub(super) async fn one(
    shared: &Shared,
    plan: &Arc<Plan>,
    key: &TriggerKey,
    dedupe: Option<String>,
    data: Value,
) -> Result<Arrived> {
    let Some(dedupe) = dedupe else {
        let handle = shared.engine.start(plan, data).await?;
        shared.fired(plan, handle.id());
        return Ok(Arrived::Running(handle));
    };
    let state = shared.state()?;
    let arrival = arrival(shared, plan, dedupe.clone(), data);
    let id = arrival.execution.id;
    let now = shared.now();
    let expires = now + chrono::Duration::from_std(shared.options.dedupe_for).unwrap_or(chrono::Duration::days(7));
    if !state.commit_delivery(key, arrival, expires, now).await? {
        shared.emit(plan, TriggerEventKind::Duplicate { key: dedupe });
        return Ok(Arrived::Duplicate);
    }
    Ok(run_stored(shared, plan, id).await)
}

/// An item's execution to commit: its record, and its exact data when the record's copy is
/// not exact (kept in the same transaction).
fn arrival(shared: &Shared, plan: &Plan, dedupe_key: String, data: Value) -> Arrival {
    let data = Arc::new(data);
    let execution = shared.engine.new_execution(plan, &data);
    let exact_trigger = execution.trigger_cleaned.then_some(data);
    Arrival {
        dedupe_key,
        execution,
        exact_trigger,
    }
}

/// A poll's items and cursor, committed at once; the new ones run.
pub(super) async fn many(
    shared: &Shared,
    plan: &Arc<Plan>,
    key: &TriggerKey,
    cursor: Option<Value>,
    items: Vec<(String, Value)>,
    keep_for: std::time::Duration,
) -> Result<Vec<Arrived>> {
    let state = shared.state()?;
    let now = shared.now();
    let commit = PollCommit {
        key: key.clone(),
        cursor,
        items: items
            .into_iter()
            .map(|(dedupe_key, item)| arrival(shared, plan, dedupe_key, item))
            .collect(),
        expires_at: now + chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::days(7)),
        now,
    };
    let outcome = state.commit_poll(&commit).await?;
    let mut arrived = Vec::with_capacity(commit.items.len());
    for (arrival, new) in commit.items.iter().zip(&outcome.new) {
        arrived.push(if *new {
            run_stored(shared, plan, arrival.execution.id).await
        } else {
            Arrived::Duplicate
        });
    }
    Ok(arrived)
}

/// Runs an execution just committed to the store. When this engine cannot take it (a worker
/// claimed it first, the store failed), it stays in the store for a worker or the next
/// recovery.
async fn run_stored(shared: &Shared, plan: &Plan, id: Uuid) -> Arrived {
    shared.fired(plan, id);
    match shared.engine.recover(id).await {
        Ok(handle) => Arrived::Running(handle),
        Err(e) => {
            if e.kind() != ErrorKind::Conflict {
                tracing::warn!(execution = %id, error = %e, "a stored execution could not start here; a worker or the next recovery takes it");
            }
            Arrived::Stored(id)
        }
    }
}
