//! Items becoming executions: started at once, or committed to the store with their dedupe
//! keys (and a poll's cursor) in one transaction and then run.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::{Shared, TriggerEventKind};
use crate::compile::Plan;
use crate::engine::ExecutionHandle;
use crate::error::{ErrorKind, Result};
use crate::store::{Arrival, ExecutionRecord, PayloadKey, PollCommit, TriggerKey};

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
    let data = Arc::new(data);
    let record = shared.engine.new_execution(plan, &data);
    let now = shared.now();
    let expires = now + chrono::Duration::from_std(shared.options.dedupe_for).unwrap_or(chrono::Duration::days(7));
    if !state.commit_delivery(key, &dedupe, &record, expires, now).await? {
        shared.emit(plan, TriggerEventKind::Duplicate { key: dedupe });
        return Ok(Arrived::Duplicate);
    }
    Ok(run_stored(shared, plan, &record, &data).await)
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
    let mut data = Vec::with_capacity(items.len());
    let mut arrivals = Vec::with_capacity(items.len());
    for (dedupe_key, item) in items {
        let item = Arc::new(item);
        let execution = shared.engine.new_execution(plan, &item);
        data.push(item);
        arrivals.push(Arrival { dedupe_key, execution });
    }
    let commit = PollCommit {
        key: key.clone(),
        cursor,
        items: arrivals,
        expires_at: now + chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::days(7)),
        now,
    };
    let outcome = state.commit_poll(&commit).await?;
    let mut arrived = Vec::with_capacity(data.len());
    for ((arrival, item), new) in commit.items.iter().zip(&data).zip(&outcome.new) {
        arrived.push(if *new {
            run_stored(shared, plan, &arrival.execution, item).await
        } else {
            Arrived::Duplicate
        });
    }
    Ok(arrived)
}

/// Runs an execution just committed to the store. When this engine cannot take it (a worker
/// claimed it first, the store failed), it stays in the store for a worker or the next
/// recovery.
async fn run_stored(shared: &Shared, plan: &Plan, record: &ExecutionRecord, exact: &Arc<Value>) -> Arrived {
    let id = record.id;
    shared.fired(plan, id);
    if record.trigger_cleaned
        && let Err(e) = shared.engine.store().save_exact(id, &PayloadKey::Trigger, exact).await
    {
        tracing::warn!(execution = %id, error = %e, "the exact trigger data of a stored execution could not be kept");
    }
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
