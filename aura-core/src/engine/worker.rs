//! The queue: executions enqueued in the store ([`Engine::enqueue`]) and the workers that take
//! them up ([`Engine::work`]), in this process or in any other sharing the store; and the
//! heartbeat that keeps an engine's leases alive.
//!
//! Every execution an engine runs with checkpoints is leased to the engine's owner from its
//! creation (or its claim) to its end, so that no other process, nor a worker of this one,
//! takes it up meanwhile. One heartbeat per engine renews all of them in one write
//! ([`ExecutionStore::renew_owned`](crate::store::ExecutionStore::renew_owned)) every third of
//! the lease's length. A process that dies stops renewing: its leases run out and the workers
//! of the other processes take its executions up from their last checkpoints. A process that
//! only paused past its leases' end and finds them taken cannot write any more: on a shared
//! store every write made under a lease is fenced by the lease's token.
//!
//! On PostgreSQL the queue is the `executions` table: a worker claims free work with `FOR NO
//! KEY UPDATE SKIP LOCKED` (many workers, on many machines, never take the same execution and
//! never wait for each other), and an enqueue `NOTIFY`s the store's channel so that idle
//! workers wake at once; they also look every [`EngineBuilder::poll_interval`](super::EngineBuilder::poll_interval),
//! for the executions of dead processes. SQLite and the in-memory store offer the same API in
//! one process, where an enqueue through any engine on the store wakes its workers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Engine, Inner, run};
use crate::compile::Plan;
use crate::error::Result;
use crate::store::{ConcurrencyLimits, PayloadKey};

/// What one call of [`Engine::work`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkReport {
    /// Executions it claimed and ran to their end (whatever their status).
    pub ran: u64,
    /// Executions it claimed but could not run (their scenario is not deployed here, the
    /// store failed …): each was given up again, for a later claim (here at the next poll,
    /// or by another worker).
    pub failed_to_start: u64,
    /// Claims that failed (the store was unreachable …): the worker waited a poll interval
    /// and tried again each time.
    pub claim_errors: u64,
}

/// Starts the engine's heartbeat, once: a task renewing every lease of the engine's owner
/// every third of the lease's length, until the engine is dropped. (Tokio's clock: a lease is
/// about real time between processes.)
pub(super) fn heartbeat(engine: &Arc<Inner>) {
    engine.heartbeat.get_or_init(|| {
        let weak = Arc::downgrade(engine);
        let every = (engine.lease / 3).max(Duration::from_millis(10));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(engine) = weak.upgrade() else { return };
                if let Err(e) = engine.store.renew_owned(&engine.owner, engine.lease).await {
                    tracing::warn!(error = %e, owner = %engine.owner, "the engine's leases could not be renewed");
                }
            }
        });
    });
}

/// The `max_concurrent` of each scenario deployed in the engine, which a claim honours across
/// every process sharing the store.
fn concurrency_limits(engine: &Inner) -> ConcurrencyLimits {
    engine
        .plans
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .filter_map(|plan| Some((plan.id().to_owned(), plan.settings().max_concurrent?)))
        .collect()
}

impl Engine {
    /// Puts an execution of `plan` in the store's queue without running it, and returns its
    /// id: a worker ([`Engine::work`]) of this process or of any other sharing the store runs
    /// it. The execution is durable (on a durable store) before this returns; its trigger data
    /// is kept as [`Engine::start`] keeps it (redacted in the record, exact in the store's
    /// sealed payloads when the store keeps them).
    ///
    /// The scenario must be deployed in the workers that may take it up (with a scenario
    /// store, [`Engine::load_deployed`] brings every deployed version to a new worker).
    pub async fn enqueue(&self, plan: &Arc<Plan>, trigger: Value) -> Result<Uuid> {
        let engine = &self.inner;
        let now = chrono::Utc::now();
        let id = run::execution_id(now);
        let trigger = Arc::new(trigger);
        let redactor = run::redactor(engine, plan);
        let record = run::new_record(Some(&redactor), plan, id, now, &trigger, None);
        if record.trigger_cleaned {
            // Held until its exact trigger is stored too: no worker may take it up without.
            let lease = engine.store.create_leased(&record, &engine.owner, engine.lease).await?;
            heartbeat(engine);
            if let Err(e) = engine
                .store
                .save_exact_leased(&lease, &PayloadKey::Trigger, &trigger)
                .await
            {
                // Without its exact trigger it could never run: recorded as failed, not queued.
                let mut failed = record;
                failed.status = crate::store::ExecutionStatus::Failed;
                failed.ended_at = Some(chrono::Utc::now());
                failed.error = Some(redactor.error(&e));
                if let Err(end) = engine.store.finish_leased(&lease, &failed).await {
                    tracing::warn!(execution = %id, error = %end, "an enqueued execution could not be recorded as failed");
                }
                return Err(e);
            }
            engine.store.release(&lease).await?;
        } else {
            engine.store.create(&record).await?;
        }
        Ok(id)
    }

    /// Runs this engine as a worker of the store's queue until `shutdown` is cancelled: it
    /// claims executions no live lease holds (enqueued ones, and those of processes that died),
    /// up to [`EngineBuilder::worker_capacity`](super::EngineBuilder::worker_capacity) at a
    /// time, and runs each from its last checkpoint; when there is none, it waits for the
    /// store's signal of new work or the poll interval. On shutdown it claims nothing more and
    /// returns once the executions it runs have ended.
    ///
    /// Call it from a task of its own; several calls (in one process or many) share the work.
    /// A scenario's `max_concurrent` holds across all of them: a claim takes an execution of a
    /// limited scenario only while fewer than its max run anywhere (in the store's count of
    /// live leases, which includes the executions engines started themselves), so that N
    /// workers never run more than the max between them.
    /// An execution that cannot start here (its scenario is not deployed in this engine …) is
    /// logged, counted in [`WorkReport::failed_to_start`] and given up again, for a later
    /// claim.
    ///
    /// A store that fails (a PostgreSQL restart, a network blip) does not stop the worker: a
    /// failed claim is logged (`tracing` warning) and tried again after the poll interval,
    /// and counted in [`WorkReport::claim_errors`].
    ///
    /// ```no_run
    /// # async fn run(engine: aura_core::engine::Engine, plan: std::sync::Arc<aura_core::compile::Plan>) -> aura_core::Result<()> {
    /// use aura_core::engine::CancellationToken;
    ///
    /// let shutdown = CancellationToken::new();
    /// let worker = tokio::spawn({
    ///     let (engine, shutdown) = (engine.clone(), shutdown.clone());
    ///     async move { engine.work(shutdown).await }
    /// });
    /// // Anywhere, in this process or another sharing the store:
    /// let id = engine.enqueue(&plan, serde_json::json!({ "number": 42 })).await?;
    /// // At shutdown: no more claims; returns once the running executions have ended.
    /// shutdown.cancel();
    /// let report = worker.await.expect("the worker task")?;
    /// println!("ran {} executions", report.ran);
    /// # Ok(()) }
    /// ```
    pub async fn work(&self, shutdown: CancellationToken) -> Result<WorkReport> {
        let engine = &self.inner;
        let signal = engine.store.work_signal();
        let capacity = engine.worker_capacity;
        let slots = Arc::new(tokio::sync::Semaphore::new(capacity));
        let mut running = tokio::task::JoinSet::new();
        let mut report = WorkReport::default();
        loop {
            // Armed before the claim, so that work enqueued during it still wakes this loop.
            let woken = signal.as_ref().map(|signal| signal.notified());
            let woken = async move {
                match woken {
                    Some(notified) => notified.await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(woken);
            // Polled once: registers the waiter now (a `Notified` waits only once polled or
            // enabled), so that a notification during the claim below is not missed.
            let woke = futures::poll!(woken.as_mut()).is_ready();
            while let Some(ended) = running.try_join_next() {
                report.ran += u64::from(ended.is_ok());
            }
            let free = slots.available_permits();
            let claimed = if shutdown.is_cancelled() || free == 0 {
                Vec::new()
            } else {
                let limits = concurrency_limits(engine);
                match engine
                    .store
                    .claim_next(&engine.owner, engine.lease, free, &limits)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        // The store is away (a restart, a network blip): the worker waits a
                        // poll interval and tries again; nothing was claimed.
                        report.claim_errors += 1;
                        tracing::warn!(error = %e, owner = %engine.owner, "the worker could not claim work; trying again");
                        Vec::new()
                    }
                }
            };
            let full = !claimed.is_empty() && claimed.len() == free;
            for lease in claimed {
                let id = lease.execution_id;
                // Not started, the lease was given up again, for a later claim.
                let handle = match self.recover_claimed(id, lease).await {
                    Ok(Some(handle)) => handle,
                    // Finished between the claim's look and its lock: nothing to run.
                    Ok(None) => continue,
                    Err(e) => {
                        report.failed_to_start += 1;
                        tracing::warn!(execution = %id, error = %e, "a claimed execution could not start; it is left to a later claim");
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                running.spawn(async move {
                    if let Err(e) = handle.wait().await {
                        tracing::warn!(execution = %id, error = %e, "a claimed execution ended with an error of the engine");
                    }
                    drop(permit);
                });
            }
            if shutdown.is_cancelled() {
                while let Some(ended) = running.join_next().await {
                    report.ran += u64::from(ended.is_ok());
                }
                return Ok(report);
            }
            if full {
                // There may be more: claim again once a slot is free.
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    Some(ended) = running.join_next() => report.ran += u64::from(ended.is_ok()),
                }
                continue;
            }
            if woke {
                // New work was signalled already: claim again at once.
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = &mut woken => {}
                Some(ended) = running.join_next() => report.ran += u64::from(ended.is_ok()),
                // Tokio's clock, as the heartbeat's: polling is about real time between
                // processes.
                () = tokio::time::sleep(engine.poll_interval) => {}
            }
        }
    }
}
