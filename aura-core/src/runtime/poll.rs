//! The poll loop: asks an app's polling trigger for what is new since the stored cursor, and
//! commits the new items' executions with the next cursor in one transaction.
//!
//! The store keeps `{"cursor": <the trigger's cursor>}` (absent before the first poll). The
//! first poll of a new trigger does not flood: by its `start`, what is already there is only
//! marked seen (`now`), or only its latest N start executions, or all do. A failed poll waits
//! (1 s doubling to 5 min, with jitter) and is reported; `more: true` polls again at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::schedule::errors;
use super::{Shared, TriggerEventKind, arrive};
use crate::compile::Plan;
use crate::connection::Connection;
use crate::context::Context;
use crate::error::Result;
use crate::store::TriggerKey;
use crate::trigger::{PollPlan, StartFrom};

pub(super) struct Job {
    plan: Arc<Plan>,
    key: TriggerKey,
    poll: PollPlan,
    connection: Option<Arc<dyn Connection>>,
}

impl Job {
    pub(super) fn new(
        plan: Arc<Plan>,
        key: TriggerKey,
        poll: PollPlan,
        connection: Option<Arc<dyn Connection>>,
    ) -> Self {
        Self {
            plan,
            key,
            poll,
            connection,
        }
    }
}

pub(super) async fn run(shared: Arc<Shared>, job: Job, stop: CancellationToken) {
    let mut backoff = errors();
    let mut failures = 0u32;
    // While the first poll's pages come, what they hold is what was there before.
    let mut priming = None;
    loop {
        let wait = match once(&shared, &job, &stop, &mut priming).await {
            Ok(true) => {
                failures = 0;
                backoff = errors();
                Duration::ZERO
            }
            Ok(false) => {
                failures = 0;
                backoff = errors();
                job.poll.interval()
            }
            Err(e) => shared.failed(&job.plan, &e, &mut backoff, &mut failures, "a poll"),
        };
        if stop.is_cancelled() {
            return;
        }
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = shared.clock.deadline(wait) => {}
        }
    }
}

/// One poll; `true` when the app has more at once.
async fn once(shared: &Shared, job: &Job, stop: &CancellationToken, priming: &mut Option<StartFrom>) -> Result<bool> {
    let state = shared.state()?;
    let stored = state.cursor(&job.key).await?;
    let cursor = stored.as_ref().and_then(|c| c.get("cursor")).cloned();
    if stored.is_none() && priming.is_none() {
        *priming = Some(job.poll.setup.start);
    }
    let mut cx = Context::builder()
        .scenario_id(job.plan.id().to_owned())
        .node_id(job.key.trigger_id.clone())
        .cancellation(stop.child_token());
    if let Some(connection) = &job.connection {
        cx = cx.connection(connection.clone());
    }
    if let Some(params) = &job.poll.setup.params {
        cx = cx.extension(crate::trigger::TriggerParams(Arc::new(params.clone())));
    }
    let poll = job.poll.trigger.poll(&cx.build(), cursor).await?;
    let next = json!({ "cursor": poll.cursor });
    let keep_for = Duration::from_secs(job.poll.setup.dedupe_secs);
    let mut items: Vec<(String, Value)> = poll.items.into_iter().map(|i| (i.dedupe_key, i.data)).collect();
    let skip = match *priming {
        Some(StartFrom::Now) => items.len(),
        // The latest N are on the last page.
        Some(StartFrom::Last(_)) if poll.more => items.len(),
        Some(StartFrom::Last(n)) => items.len().saturating_sub(n as usize),
        Some(StartFrom::All) | None => 0,
    };
    if skip > 0 {
        // Marked seen without running: a later poll that returns them again starts nothing.
        let seen: Vec<String> = items.drain(..skip).map(|(k, _)| k).collect();
        let now = shared.now();
        let until = now + chrono::Duration::from_std(keep_for).unwrap_or(chrono::Duration::days(7));
        state.remember(&job.key, &seen, until, now).await?;
    }
    let arrived = arrive::many(shared, &job.plan, &job.key, Some(next), items, keep_for).await?;
    let new = arrived
        .iter()
        .filter(|a| !matches!(a, arrive::Arrived::Duplicate))
        .count();
    if !poll.more {
        *priming = None;
    }
    shared.emit(&job.plan, TriggerEventKind::Polled { new, more: poll.more });
    Ok(poll.more)
}
