//! The schedule loop: fires a scenario at each firing of its schedule, in its time zone, once
//! across every worker sharing the store, and deals with the firings it missed.
//!
//! The store keeps the time of the last firing considered (the trigger's cursor,
//! `{"last": "<RFC 3339>"}`). Each firing is committed with its scheduled time as dedupe key
//! ([`TriggerStateStore::commit_delivery`](crate::store::TriggerStateStore::commit_delivery)):
//! two workers waking for the same tick create one execution between them, and a crash
//! between the commit and the cursor's update fires nothing twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::arrive;
use super::{Shared, TriggerEventKind};
use crate::compile::Plan;
use crate::error::Result;
use crate::store::TriggerKey;
use crate::trigger::{Missed, SchedulePlan, ScheduleTick};

/// How many firings are counted before a long absence is cut short.
const COUNT_LIMIT: u64 = 100_000;

pub(super) struct Job {
    plan: Arc<Plan>,
    key: TriggerKey,
    schedule: SchedulePlan,
}

impl Job {
    pub(super) fn new(plan: Arc<Plan>, key: TriggerKey, schedule: SchedulePlan) -> Self {
        Self { plan, key, schedule }
    }
}

/// What to fire now, given the last firing considered.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Due {
    /// The firings to fire, oldest first.
    pub(super) fire: Vec<DateTime<Utc>>,
    /// Missed firings the policy dropped.
    pub(super) dropped: u64,
    /// The latest firing at or before now, if any: the new `last`.
    pub(super) latest: Option<DateTime<Utc>>,
}

/// The firings after `last` up to `now`, and which of them fire under the missed policy:
/// one within `grace` of now is on time and always fires; older ones were missed.
pub(super) fn due(schedule: &SchedulePlan, last: DateTime<Utc>, now: DateTime<Utc>, grace: Duration) -> Due {
    let keep = match schedule.missed {
        Missed::All(n) => n.max(1) as usize,
        Missed::Skip | Missed::Once => 1,
    };
    let mut latest = VecDeque::with_capacity(keep + 1);
    let mut total = 0u64;
    let mut at = last;
    // After a long absence a schedule of seconds has many firings: past the limit, only the
    // last day is looked at (the rest counts as missed).
    if schedule
        .next_after(last)
        .is_some_and(|first| (now - first).num_seconds() > i64::try_from(COUNT_LIMIT).unwrap_or(i64::MAX))
    {
        let day = now - chrono::Duration::days(1);
        if day > at {
            at = day;
            total += 1;
        }
    }
    while let Some(next) = schedule.next_after(at).filter(|t| *t <= now) {
        total += 1;
        latest.push_back(next);
        if latest.len() > keep {
            latest.pop_front();
        }
        at = next;
        if total > COUNT_LIMIT {
            break;
        }
    }
    let newest = latest.back().copied();
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::zero());
    let on_time = newest.filter(|t| now - *t <= grace);
    let fire: Vec<_> = match schedule.missed {
        Missed::Skip => on_time.into_iter().collect(),
        Missed::Once => newest.into_iter().collect(),
        Missed::All(_) => latest.into_iter().collect(),
    };
    Due {
        dropped: total - fire.len() as u64,
        fire,
        latest: newest,
    }
}

pub(super) async fn run(shared: Arc<Shared>, job: Job, stop: CancellationToken) {
    let mut backoff = errors();
    let mut failures = 0u32;
    loop {
        let wait = match tick(&shared, &job).await {
            Ok(next) => {
                failures = 0;
                backoff = errors();
                match next {
                    Some(next) => (next - shared.now()).to_std().unwrap_or(Duration::ZERO),
                    // The schedule never fires again.
                    None => return,
                }
            }
            Err(e) => shared.failed(&job.plan, &e, &mut backoff, &mut failures, "a schedule's firing"),
        };
        tokio::select! {
            () = stop.cancelled() => return,
            // A deadline, not a sleep: on a manual clock only the test moves time.
            () = shared.clock.deadline(wait) => {}
        }
    }
}

/// The back-off of failed tries: 1 s doubling to 5 min, with jitter.
pub(super) fn errors() -> impl Iterator<Item = Duration> + Send {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(300))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Fires what is due; returns the next firing.
async fn tick(shared: &Shared, job: &Job) -> Result<Option<DateTime<Utc>>> {
    let state = shared.state()?;
    let now = shared.now();
    let last = state.cursor(&job.key).await?.as_ref().and_then(last_of);
    let Some(last) = last else {
        // First activation: nothing was missed; firings count from now.
        state.set_cursor(&job.key, &cursor(now)).await?;
        return Ok(job.schedule.next_after(now));
    };
    let due = due(&job.schedule, last, now, shared.options.grace);
    if due.dropped > 0 {
        shared.emit(&job.plan, TriggerEventKind::MissedDropped { count: due.dropped });
    }
    for at in &due.fire {
        let tick = ScheduleTick {
            scheduled_at: *at,
            fired_at: now,
        };
        let data = serde_json::to_value(&tick).unwrap_or(Value::Null);
        arrive::one(shared, &job.plan, &job.key, Some(at.to_rfc3339()), data).await?;
    }
    if let Some(latest) = due.latest {
        state.set_cursor(&job.key, &cursor(latest)).await?;
    }
    Ok(job.schedule.next_after(now.max(last)))
}

fn cursor(last: DateTime<Utc>) -> Value {
    json!({ "last": last.to_rfc3339() })
}

fn last_of(cursor: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(cursor.get("last")?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
