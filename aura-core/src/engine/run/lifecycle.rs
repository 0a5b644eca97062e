//! One execution from start to end: the concurrency slot, the max duration, the outcome, the error scenario.

use super::*;
use crate::context::UntilCancelled;

/// How a run of an execution's walk ended.
// `Finished` is what nearly every run ends with: not boxed, so that it costs no allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Ended {
    /// The execution finished (or could not be recorded).
    Finished(Result<ExecutionRecord>),
    /// It waits, parked: nothing of its walk is held but this.
    Parked(Box<Parked>),
}

/// An execution waiting at a parked node: what it holds while it waits.
pub(super) struct Parked {
    held: Held,
    walk: Box<WalkState>,
}

/// What an execution holds from its start to its end, parked or not.
struct Held {
    /// Its concurrency slot (a waiting execution still counts against its scenario's limit).
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    root: Arc<Frame>,
    /// When the walk started, on the engine's clock (the max duration counts from there).
    started: Duration,
}

impl Parked {
    /// Waits until the parked node's wait is over, the execution is cancelled, or its max
    /// duration is spent, whichever comes first (the resumed walk tells which). One timer, to
    /// the earlier of the wait's end and the max duration's.
    pub(super) async fn wait(&self, exec: &Exec) {
        let clock = &exec.engine.clock;
        let now = clock.now();
        let max = exec.plan.settings().max_duration;
        let left = max.saturating_sub(now.saturating_sub(self.held.started));
        let wait = self.walk.waiting.until.saturating_sub(now).min(left);
        tokio::select! {
            biased;
            () = exec.cancel.cancelled() => {}
            () = clock.sleep(wait) => {}
        }
    }
}

impl Parked {
    /// How long the execution waits, when it parks in the store rather than in memory
    /// ([`super::super::EngineBuilder::park_in_store_after`]): a top-level execution,
    /// checkpointed on a durable store under a lease, without a breakpoint, whose wait is that
    /// long.
    pub(super) fn store_wait(&self, exec: &Exec) -> Option<Duration> {
        if !exec.mark_in_flight()
            || exec.options.lease.is_none()
            || exec.options.depth > 0
            || exec.options.breakpoint.is_some()
        {
            return None;
        }
        let wait = self.walk.waiting.until.saturating_sub(exec.engine.clock.now());
        (wait >= exec.engine.park_in_store_after).then_some(wait)
    }

    /// How much of its max duration the execution has spent (a wait parked in the store does
    /// not count: the execution goes on with the rest).
    pub(super) fn spent(&self, exec: &Exec) -> Duration {
        exec.engine.clock.now().saturating_sub(self.held.started)
    }
}

impl Exec {
    /// The execution's span; none when no tracing subscriber would take it (without one,
    /// tracing's `log` feature, which sqlx turns on, would still format the span at every
    /// poll for the `log` crate).
    fn span(&self) -> tracing::Span {
        if tracing::enabled!(tracing::Level::INFO) {
            tracing::info_span!("execution", scenario = %self.plan.id(), execution = %self.id)
        } else {
            tracing::Span::none()
        }
    }

    pub(super) async fn run(self: Arc<Self>, slot: Slot) -> Ended {
        let span = self.span();
        let this = self.clone();
        async move {
            let permit = UntilCancelled::new(slot.wait(), &this.cancel).await.flatten();
            let Some(permit) = permit else {
                let e = if this.options.followed.is_some() {
                    Error::cancelled("the execution was cancelled while it was parked in the store")
                } else {
                    Error::cancelled("cancelled while waiting for a concurrency slot")
                };
                // A resumed execution's record may hold a waiting node: it stops there.
                this.record_stopped(NodeStatus::Cancelled, &e).await;
                return Ended::Finished(this.finish(Err(e)).await);
            };
            this.emit(|| EventKind::Started);
            let now = this.engine.clock.now();
            let held = Held {
                permit,
                root: Arc::new(Frame::root(this.plan.clone())),
                // Taken up after a park in the store: what it had spent before counts.
                started: now.saturating_sub(this.options.followed.as_ref().map_or(Duration::ZERO, |f| f.spent)),
            };
            this.walk_on(held, Entry::Root, now).await
        }
        .instrument(span)
        .await
    }

    /// Goes on with a parked execution, once [`Parked::wait`] is over.
    pub(super) async fn resume(self: Arc<Self>, parked: Box<Parked>) -> Ended {
        let span = self.span();
        let Parked { held, walk } = *parked;
        let now = self.engine.clock.now();
        self.walk_on(held, Entry::Resume(walk), now).instrument(span).await
    }

    /// Walks the root frame from `entry` until the end (or the next park), then finishes.
    /// `now`: the engine's clock, read just before.
    async fn walk_on(self: &Arc<Self>, held: Held, entry: Entry, now: Duration) -> Ended {
        let max = self.plan.settings().max_duration;
        let clock = &self.engine.clock;
        let left = max.saturating_sub(now.saturating_sub(held.started));
        let root = held.root.clone();
        let outcome = if left.is_zero() {
            // Spent while parked: the parked node is stopped where it waited.
            self.cancel.cancel();
            Err(Stop::OutOfTime)
        } else {
            // A cancel first, then the walk; the max duration's timer only once the walk waits.
            let raced = async {
                match UntilCancelled::new(self.walk(&root, entry), &self.cancel).await {
                    Some(walked) => walked.map_err(Stop::Failed),
                    None => Err(Stop::Cancelled),
                }
            };
            match crate::clock::within(&**clock, now, left, raced).await {
                Some(outcome) => outcome,
                None => {
                    self.cancel.cancel();
                    Err(Stop::OutOfTime)
                }
            }
        };
        // The walk is dropped: record the nodes it stopped.
        let outcome = match outcome {
            Ok(Walked::Parked(walk)) => return Ended::Parked(Box::new(Parked { held, walk })),
            Ok(Walked::Done) => Ok(()),
            Err(Stop::Failed(e)) => {
                // Nodes still in flight in other branches stopped with it.
                let stopped = Error::cancelled("stopped: another node of the execution failed");
                self.record_stopped(NodeStatus::Cancelled, &stopped).await;
                Err(e)
            }
            Err(Stop::Cancelled) => {
                let e = Error::cancelled("the execution was cancelled");
                self.record_stopped(NodeStatus::Cancelled, &e).await;
                Err(e)
            }
            Err(Stop::OutOfTime) => {
                let e = Error::timeout(format!("the execution ran longer than its max duration ({max:?})"));
                self.record_stopped(NodeStatus::TimedOut, &e).await;
                Err(e)
            }
        };
        let outcome = outcome.map(|()| self.output(&root));
        drop(held.permit);
        Ended::Finished(self.finish(outcome).await)
    }

    /// Records the nodes a stop left in flight; a store failure here is logged, so that the
    /// execution still finishes.
    async fn record_stopped(&self, status: NodeStatus, err: &Error) {
        // Boxed: a stop is the rarer end, and its write would widen every execution's future.
        if let Err(e) = Box::pin(self.stop_running(status, err)).await {
            tracing::warn!(error = %e, "the nodes in flight could not be recorded");
        }
    }

    /// The execution's output: the respond node's body, else the leaf nodes' outputs.
    pub(super) fn output(&self, root: &Frame) -> Value {
        if let Some(slot) = &self.response
            && let Some(r) = slot.get()
        {
            return (*r.body).clone();
        }
        let leaves: Vec<(usize, Output)> = self
            .plan
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.in_body_of.is_none() && n.succ.is_empty())
            .filter_map(|(i, _)| Some((i, root.own(i)?)))
            .collect();
        match leaves.as_slice() {
            [] => Value::Null,
            [(_, only)] => (*only.json).clone(),
            many => Value::Object(
                many.iter()
                    .map(|(i, o)| (self.plan.nodes[*i].id.to_string(), (*o.json).clone()))
                    .collect(),
            ),
        }
    }

    pub(super) async fn finish(self: &Arc<Self>, outcome: Result<Value>) -> Result<ExecutionRecord> {
        let (status, output, error) = match outcome {
            Ok(output) => (ExecutionStatus::Completed, Some(output), None),
            Err(e) if e.kind() == ErrorKind::Cancelled => (ExecutionStatus::Cancelled, None, Some(e)),
            Err(e) => (ExecutionStatus::Failed, None, Some(e)),
        };
        let mut record = {
            let mut state = self.lock();
            state.record.status = status;
            state.record.ended_at = Some(Utc::now());
            state.record.output = match self.raw_payloads {
                true => output,
                false => output.map(|o| self.redactor.clean_owned(o)),
            };
            state.record.error = error.as_ref().map(|e| self.redactor.error(e));
            // The walk is over: the record moves out whole (nothing reads it here again), an
            // empty shell of the same ids left in its place.
            let shell = ExecutionRecord {
                id: state.record.id,
                scenario_id: String::new(),
                scenario_version: state.record.scenario_version,
                // (The execution's own, not the shared `null`: its count is this thread's to write.)
                trigger: self.trigger.clone(),
                trigger_cleaned: false,
                status,
                started_at: state.record.started_at,
                ended_at: state.record.ended_at,
                nodes: Vec::new(),
                output: None,
                error: None,
                rerun_of: state.record.rerun_of,
            };
            std::mem::replace(&mut state.record, shell)
        };
        // Only a completed record is handed on as it is (see `Exec::raw_payloads`).
        if self.raw_payloads && status != ExecutionStatus::Completed {
            self.redactor.clean_record(&mut record);
        }
        // Boxed, once per execution: inline, the store's write makes the execution's future
        // too large for the allocator's thread cache (a slow allocation and a fast-bin
        // consolidation per execution).
        let stored = Box::pin(self.store_end(&record)).await;
        if let Some(pause) = &self.pause {
            pause.state.send_replace(Pause::Finished);
        }
        stored?;
        self.emit(|| EventKind::Finished { status });
        if let Some(ended) = self.plan.metrics.ended(status) {
            ended.increment(1);
        }
        if let Some(d) = record.duration() {
            self.plan.metrics.duration.record(d.as_secs_f64());
        }
        if status == ExecutionStatus::Failed {
            self.run_error_scenario(&record);
        }
        Ok(record)
    }

    /// Records the end: the status with checkpoints (giving the lease up in the same write),
    /// else the whole record if it is kept.
    async fn store_end(&self, record: &ExecutionRecord) -> Result<()> {
        if self.checkpoints {
            return self.write_end(record).await;
        }
        let completed = record.status == ExecutionStatus::Completed;
        if !self.engine.keep.keeps(completed, &self.engine.completed) {
            return Ok(());
        }
        // Boxed apart: its copy of the record and its writes would widen the future above.
        Box::pin(self.store_whole(record)).await
    }

    /// Without checkpoints: the whole record, created running, its exact payloads, its end.
    async fn store_whole(&self, record: &ExecutionRecord) -> Result<()> {
        let store = &self.engine.store;
        let exact = std::mem::take(&mut self.lock().exact);
        let mut running = record.clone();
        running.status = ExecutionStatus::Running;
        running.ended_at = None;
        running.output = None;
        running.error = None;
        store.create(&running).await?;
        for (key, value) in &exact {
            store.save_exact(record.id, key, value).await?;
        }
        store.finish(record).await
    }

    pub(super) fn run_error_scenario(&self, record: &ExecutionRecord) {
        let Some(id) = &self.plan.settings().error_policy.error_scenario else {
            return;
        };
        // An error scenario's own failure triggers no error scenario: a scenario that is its own
        // error scenario (or two that name each other) would re-trigger without end.
        if self.options.handles_error {
            tracing::warn!(error_scenario = %id, execution = %self.id, "an error scenario failed; no error scenario runs for it");
            return;
        }
        let engine = super::super::Engine {
            inner: self.engine.clone(),
        };
        let Some(plan) = engine.plan(id) else {
            tracing::warn!(error_scenario = %id, "the error scenario is not deployed");
            return;
        };
        let failed_node = record
            .nodes
            .iter()
            .rev()
            .find(|n| n.status == NodeStatus::Failed)
            .map(|n| n.node_id.clone());
        let details = json!({
            "execution_id": record.id,
            "scenario_id": record.scenario_id,
            "error": record.error,
            "failed_node": failed_node,
        });
        let options = ExecuteOptions {
            handles_error: true,
            ..ExecuteOptions::default()
        };
        tokio::spawn(async move {
            if let Err(e) = engine.execute_with(&plan, details, options).await {
                tracing::warn!(error = %e, "the error scenario could not run");
            }
        });
    }
}

/// Why the walk ended early.
enum Stop {
    Failed(Error),
    Cancelled,
    OutOfTime,
}
