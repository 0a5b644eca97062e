//! The executor: walks a plan for one execution.
//!
//! A *frame* holds the outputs of one pass over a part of the graph: the root frame runs the
//! scenario, and each element of an iterate node runs its body in a child frame that sees its
//! parents' outputs. In a frame, a node runs once every predecessor in the frame has finished
//! (completed or skipped) and at least one of them led to it; a node no route led to is
//! skipped, and the skip flows on. Ready nodes run concurrently (one task, many futures), and
//! each node's result is checkpointed in the store before its successors start (a pure node's,
//! and on a store that is not durable every node's, with the next checkpoint that is waited
//! for: a park, a breakpoint, a node that may not be repeated, the end).

mod attempt;
mod checkpoint;
mod frame;
mod iterate;
mod lifecycle;
mod node;
mod parked;
mod sub;
mod walk;

use foldhash::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use minijinja::Value as Jinja;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::events::{Emitted, EventKind, ExecutionEvent, ExecutionEvents, NodeEvent};
use super::handle::{ExecutionHandle, HandleEvents, Pause, PauseGate, Run};
use super::limits::ResultCache;
use super::redact::Redactor;
use super::{ExecuteOptions, Inner, Pinned};
use crate::compile::{Plan, PlanIds};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::expr::{Scope, StepOutputs, step_value};
use crate::node::{Route, SharedOutput};
use crate::scenario::OnError;
use crate::scenario::nodes::{ResponseSlot, SubScenarioRunner, SubScenarios};
use crate::store::{ExecutionRecord, ExecutionStatus, Lease, NodeResult, NodeStatus, PayloadKey};

use self::attempt::{Attempted, spent};
use self::frame::{Frame, Output, Pass, PassShared};
use self::lifecycle::{Ended, Parked};
use self::node::Done;
pub(crate) use self::parked::Followed;
use self::sub::Runner;
use self::walk::{Entry, Step, Targets, Then, Waiting, WalkState, Walked};

/// How a started execution is followed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Follow {
    /// Through an [`ExecutionHandle`]: events kept for it, the rest of the run in a task.
    Handle,
    /// Awaited right here ([`super::Engine::execute`]): no handle, no task.
    Inline,
}

/// A shared `null`: the placeholder input of a result that has none yet, without an
/// allocation per node.
pub(super) fn null() -> Arc<Value> {
    static NULL: std::sync::LazyLock<Arc<Value>> = std::sync::LazyLock::new(|| Arc::new(Value::Null));
    NULL.clone()
}

/// What hides an execution's secrets and truncates its big payloads in its record: the
/// engine's shared one when no node has a connection, else one of its own (it follows its
/// connections' secrets as they change).
pub(super) fn redactor(engine: &Inner, plan: &Plan) -> Arc<Redactor> {
    let connections: Vec<_> = plan.nodes.iter().filter_map(|n| n.connection.clone()).collect();
    if connections.is_empty() {
        return engine.plain_redactor.clone();
    }
    Arc::new(Redactor::new(connections, engine.payload_limit))
}

/// A new execution's id: a UUID v7 of `now` (read once for the id, the record and the lease),
/// in order within the process, like [`Uuid::now_v7`].
pub(super) fn execution_id(now: chrono::DateTime<Utc>) -> Uuid {
    static CONTEXT: Mutex<uuid::ContextV7> = Mutex::new(uuid::ContextV7::new());
    let (seconds, nanos) = (now.timestamp(), now.timestamp_subsec_nanos());
    // (A clock before 1970 is not one this runs on: the id is still unique, only unordered.)
    let seconds = u64::try_from(seconds).unwrap_or_default();
    Uuid::new_v7(uuid::Timestamp::from_unix(&CONTEXT, seconds, nanos))
}

/// The record of a new execution, running, with its trigger as records keep it (redacted,
/// truncated: `trigger_cleaned` says whether that is not the trigger itself).
/// `None`: the trigger kept as it is, for a record cleaned whole if it is ever read
/// ([`Exec::raw_payloads`]).
pub(super) fn new_record(
    redactor: Option<&Redactor>,
    plan: &Plan,
    id: Uuid,
    started_at: chrono::DateTime<Utc>,
    trigger: &Arc<Value>,
    rerun_of: Option<Uuid>,
) -> ExecutionRecord {
    let recorded_trigger = redactor.map_or_else(|| trigger.clone(), |r| r.clean(trigger));
    let trigger_cleaned = !Arc::ptr_eq(&recorded_trigger, trigger);
    ExecutionRecord {
        id,
        scenario_id: plan.id().to_owned(),
        scenario_version: plan.version(),
        trigger: recorded_trigger,
        trigger_cleaned,
        status: ExecutionStatus::Running,
        started_at,
        ended_at: None,
        nodes: Vec::with_capacity(plan.nodes.len()),
        output: None,
        error: None,
        rerun_of,
    }
}

/// Records a new execution (or takes up an existing one) and makes it ready to run.
async fn prepare(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    mut options: ExecuteOptions,
    existing: Option<ExecutionRecord>,
    follow: Follow,
) -> Result<Arc<Exec>> {
    // One reading of each clock: the wall clock's for the id, the record and the lease.
    let now = Utc::now();
    let started_instant = Instant::now();
    let id = options.execution_id.unwrap_or_else(|| execution_id(now));
    let resumed = existing.is_some();
    let trigger = Arc::new(trigger);
    let redactor = redactor(&engine, &plan);
    // Written to the store here, or (see `Exec::created`) at its first write.
    let mut created = true;
    // A record nobody but the handle's caller can read: its payloads are cleaned only if it is.
    let raw_payloads = existing.is_none() && follow == Follow::Handle && engine.keep.keeps_nothing();
    let record = match existing {
        Some(record) => record,
        None => {
            let record = new_record(
                (!raw_payloads).then_some(&*redactor),
                &plan,
                id,
                now,
                &trigger,
                options.rerun_of,
            );
            let trigger_cleaned = record.trigger_cleaned;
            if engine.keep.checkpoints() {
                if plan.calls_nothing && !engine.store.is_durable() && options.execution_id.is_none() {
                    // Nothing of it outlives the process, its new id is known to nobody yet,
                    // and none of its nodes calls anything that could look it up: it is
                    // written at its first write (whole, if that is its end).
                    options.lease = Some(Lease::from(now, id, &engine.owner, engine.lease));
                    created = false;
                } else {
                    // Leased from its creation: nobody else takes it up while it runs.
                    let lease = engine.store.create_leased(&record, &engine.owner, engine.lease).await?;
                    super::worker::heartbeat(&engine);
                    if trigger_cleaned {
                        engine
                            .store
                            .save_exact_leased(&lease, &PayloadKey::Trigger, &trigger)
                            .await?;
                    }
                    options.lease = Some(lease);
                }
            }
            record
        }
    };
    let slots = Slots::new(&plan, &record);
    let cancel = Arc::new(
        options
            .parent_cancel
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token),
    );
    // Channels only for what this execution can use: those of the handle that follows it
    // from before it parked in the store, if one does.
    let followed = options.followed.clone().unwrap_or_default();
    let response = plan
        .responds
        .then(|| followed.response.unwrap_or_else(ResponseSlot::new));
    let pause = options.breakpoint.is_some().then(|| Arc::new(PauseGate::default()));
    // The handle's event log: the one that followed it from before it parked in the store;
    // one kept from the start when its record will not show every event (a breakpoint's
    // pause, a retry) or shows events from before this run; otherwise none until it first
    // waits (`Exec::kept_events`), and none at all if it ends inside `start`.
    let from_start = follow == Follow::Handle && (resumed || options.breakpoint.is_some() || plan.retries);
    let events = match followed.events {
        Some(log) => std::sync::OnceLock::from(log),
        None if from_start => {
            std::sync::OnceLock::from(Arc::new(ExecutionEvents::new(engine.event_capacity, id, plan.clone())))
        }
        None => std::sync::OnceLock::new(),
    };
    // Written on the stack, then copied once into its `Arc` (no `String` in between).
    let id_str: Arc<str> = Arc::from(&*id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    let engine_keeps_checkpoints = engine.keep.checkpoints();
    let durable = engine.store.is_durable();
    let deferred_trigger = match record.trigger_cleaned && !engine_keeps_checkpoints {
        true => vec![(PayloadKey::Trigger, trigger.clone())],
        false => Vec::new(),
    };
    Ok(Arc::new(Exec {
        trigger_jinja: Arc::default(),
        sub: engine
            .sub_scenarios
            .get_or_init(|| SubScenarios(Arc::new(Runner(Arc::downgrade(&engine)))))
            .clone(),
        engine,
        ids: plan.ids_here(),
        plan,
        id,
        id_str,
        trigger,
        options,
        cancel,
        started_utc: now,
        started_instant,
        state: Mutex::new(State {
            exact: deferred_trigger,
            record,
            slots,
            deferred: Deferred::default(),
        }),
        checkpoints: engine_keeps_checkpoints,
        durable,
        raw_payloads,
        created: if created {
            tokio::sync::OnceCell::new_with(Some(()))
        } else {
            tokio::sync::OnceCell::new()
        },
        redactor,
        response,
        pause,
        events,
    }))
}

/// Starts an execution: runs it on the caller's task as far as it goes without waiting, then
/// hands the rest to a task.
pub(super) async fn start(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    options: ExecuteOptions,
    existing: Option<ExecutionRecord>,
) -> Result<ExecutionHandle> {
    let exec = prepare(engine, plan, trigger, options, existing, Follow::Handle).await?;
    let handle_parts = (
        exec.id,
        exec.cancel.clone(),
        exec.response.as_ref().map(ResponseSlot::reader),
        exec.pause.clone(),
        exec.raw_payloads.then(|| exec.redactor.clone()),
    );
    let slot = Slot::take(&exec.plan).await;
    let mut run: BoxFuture<'static, Ended> = Box::pin(exec.clone().run(slot));
    let next = match futures::poll!(run.as_mut()) {
        std::task::Poll::Ready(Ended::Finished(done)) => Err(done),
        std::task::Poll::Ready(Ended::Parked(parked)) => Ok(Next::Parked(parked)),
        std::task::Poll::Pending => Ok(Next::Run(run)),
    };
    let (run, events) = match next {
        Err(done) => {
            let events = match exec.events.get() {
                Some(log) => HandleEvents::Kept(log.clone()),
                None => HandleEvents::FromRecord {
                    plan: exec.plan.clone(),
                    capacity: exec.engine.event_capacity,
                    replayed: false,
                },
            };
            (Run::Done(Some(Box::new(done))), events)
        }
        Ok(next) => {
            let log = exec.kept_events();
            exec.publish().await;
            (Run::Task(tokio::spawn(drive(exec, next))), HandleEvents::Kept(log))
        }
    };
    let (id, cancel, response, pause, raw) = handle_parts;
    Ok(ExecutionHandle {
        id,
        run,
        cancel,
        events,
        response,
        pause,
        raw,
    })
}

/// Runs an execution to its end on the caller's task.
pub(super) async fn execute(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    options: ExecuteOptions,
) -> Result<ExecutionRecord> {
    let exec = prepare(engine, plan, trigger, options, None, Follow::Inline).await?;
    let slot = Slot::take(&exec.plan).await;
    let mut run: BoxFuture<'static, Ended> = Box::pin(exec.clone().run(slot));
    let next = match futures::poll!(run.as_mut()) {
        std::task::Poll::Ready(Ended::Finished(done)) => return done,
        std::task::Poll::Ready(Ended::Parked(parked)) => Next::Parked(parked),
        std::task::Poll::Pending => Next::Run(run),
    };
    exec.publish().await;
    drive(exec, next).await
}

/// Takes up an execution parked in the store that this engine has claimed, and runs it to its
/// end on the caller's task (for the handle that followed it before it parked).
pub(super) async fn resume_parked(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    options: ExecuteOptions,
    record: ExecutionRecord,
) -> Result<ExecutionRecord> {
    let exec = prepare(engine, plan, trigger, options, Some(record), Follow::Inline).await?;
    let slot = Slot::take(&exec.plan).await;
    let run = Box::pin(exec.clone().run(slot));
    drive(exec, Next::Run(run)).await
}

/// What [`drive`] does next.
enum Next {
    /// Runs (or goes on running) the execution's walk.
    Run(BoxFuture<'static, Ended>),
    /// Waits for a parked execution's wait to end.
    Parked(Box<Parked>),
}

/// Runs an execution to its end: its walk, and each time it parks, the wait and the walk that
/// goes on after it. The walk is boxed, so that while the execution is parked its future is
/// gone: only [`Parked`] and this small future are held.
async fn drive(exec: Arc<Exec>, mut next: Next) -> Result<ExecutionRecord> {
    loop {
        let parked = match next {
            Next::Run(run) => match run.await {
                Ended::Finished(record) => return record,
                Ended::Parked(parked) => parked,
            },
            Next::Parked(parked) => parked,
        };
        if let Some(wait) = parked.store_wait(&exec)
            && let Some(parted) = exec.park_in_store(wait, parked.spent(&exec)).await
        {
            // Its state goes: only the store holds the execution until it wakes.
            drop(parked);
            drop(exec);
            return parted.follow(wait).await;
        }
        exec.write_before_wait().await;
        parked.wait(&exec).await;
        next = Next::Run(Box::pin(exec.clone().resume(parked)));
    }
}

/// A place among the scenario's concurrent executions: taken (or queued for) when the
/// execution starts, before its task is spawned, so that waiting executions start in the order
/// they were started (the semaphore is fair; spawned tasks are not polled in order).
enum Slot {
    /// No limit.
    Unlimited,
    /// Held.
    Held(tokio::sync::OwnedSemaphorePermit),
    /// In the queue: the acquisition was polled once, so it holds its place.
    Queued(BoxFuture<'static, std::result::Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>>),
}

impl Slot {
    async fn take(plan: &Plan) -> Self {
        let Some(sem) = &plan.concurrency else {
            return Self::Unlimited;
        };
        let mut acquire: BoxFuture<'static, _> = Box::pin(sem.clone().acquire_owned());
        match futures::poll!(&mut acquire) {
            std::task::Poll::Ready(Ok(permit)) => Self::Held(permit),
            std::task::Poll::Ready(Err(_)) | std::task::Poll::Pending => Self::Queued(acquire),
        }
    }

    /// Waits for the slot; `None` when the limit's semaphore is closed.
    async fn wait(self) -> Option<Option<tokio::sync::OwnedSemaphorePermit>> {
        match self {
            Self::Unlimited => Some(None),
            Self::Held(permit) => Some(Some(permit)),
            Self::Queued(acquire) => acquire.await.ok().map(Some),
        }
    }
}

struct Exec {
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    /// This thread's copy of the plan's ids, for the results, contexts and passes.
    ids: Arc<PlanIds>,
    id: Uuid,
    id_str: Arc<str>,
    trigger: Arc<Value>,
    trigger_jinja: Arc<std::sync::OnceLock<Jinja>>,
    options: ExecuteOptions,
    /// Shared with every node's context.
    cancel: Arc<CancellationToken>,
    state: Mutex<State>,
    started_utc: chrono::DateTime<Utc>,
    started_instant: Instant,
    redactor: Arc<Redactor>,
    response: Option<ResponseSlot>,
    sub: SubScenarios,
    pause: Option<Arc<PauseGate>>,
    /// The log the handle follows: kept from the start, made when the execution first waits
    /// ([`Exec::kept_events`]), or never (run by `Engine::execute`, or ended inside `start`:
    /// the handle replays its events from its record if asked).
    events: std::sync::OnceLock<Arc<ExecutionEvents>>,
    /// Whether each node's result goes to the store as it ends ([`super::Keep`]); otherwise
    /// the record is written whole at the end, if kept.
    checkpoints: bool,
    /// Whether the store outlives the process ([`crate::store::ExecutionStore::is_durable`]).
    durable: bool,
    /// Whether the record's payloads stay as they are while it runs: on an engine that keeps
    /// no record ([`super::Keep::none`]), the record of an execution followed by a handle is
    /// read by nobody unless the handle waits for it, so it is cleaned whole then
    /// ([`super::handle::ExecutionHandle::wait`]; at its end if it did not complete, for the
    /// error scenario), not payload by payload as it runs.
    raw_payloads: bool,
    /// Set once the execution is in the store. A checkpointed execution of a new id, on a store
    /// that is not durable, of a plan whose nodes call nothing ([`Plan::calls_nothing`]: a
    /// webhook answered by `set`, `if` and `respond` nodes) is written at its first write, or
    /// before its handle is given if it goes on in a task ([`Exec::ensure_created`],
    /// [`Exec::publish`]); one that ends first is written whole, in one write
    /// ([`crate::store::ExecutionStore::create_finished`]). Any other is written when it
    /// starts.
    created: tokio::sync::OnceCell<()>,
}

struct State {
    /// The record as it grows: a node's result is added (status running) when it starts, and
    /// completed when it ends, so that a stop can record the nodes in flight.
    record: ExecutionRecord,
    /// Where each (node, item) result sits in `record.nodes`.
    slots: Slots,
    /// Where the results not written yet sit in `record.nodes` (those of pure nodes,
    /// [`crate::node::NodeInfo::pure`], or of every node on a store that is not durable): they
    /// go with the next checkpoint that is waited for.
    deferred: Deferred,
    /// Exact payloads waiting for the end, when nodes are not checkpointed.
    exact: Vec<(PayloadKey, Arc<Value>)>,
}

/// Where each node's result sits in the record: a slot per node of the root frame, and a map
/// for the elements of iterate bodies.
struct Slots {
    root: Vec<Option<usize>>,
    items: HashMap<(usize, usize), usize>,
}

impl Slots {
    fn new(plan: &Plan, record: &ExecutionRecord) -> Self {
        let mut slots = Self {
            // (Not `vec![None; n]`: glibc serves a zeroed allocation past its thread cache.)
            root: std::iter::repeat_n(None, plan.nodes.len()).collect(),
            items: HashMap::default(),
        };
        for (i, n) in record.nodes.iter().enumerate() {
            if let Some(&idx) = plan.index.get(&*n.node_id) {
                slots.insert(idx, n.item, i);
            }
        }
        slots
    }

    fn get(&self, idx: usize, item: Option<usize>) -> Option<usize> {
        match item {
            None => self.root[idx],
            Some(item) => self.items.get(&(idx, item)).copied(),
        }
    }

    fn insert(&mut self, idx: usize, item: Option<usize>, slot: usize) {
        match item {
            None => self.root[idx] = Some(slot),
            Some(item) => {
                self.items.insert((idx, item), slot);
            }
        }
    }
}

/// The slots of results not written yet, in the order they were deferred, each once.
#[derive(Default)]
struct Deferred {
    order: Vec<usize>,
    /// By slot: whether it is in `order` (a lookup, not a scan: an iterate body on the
    /// in-memory store defers every element's results until the end).
    marked: Vec<bool>,
}

impl Deferred {
    /// Marks a result (by its slot) for the next checkpoint that is waited for: once, written
    /// as it is then.
    fn mark(&mut self, slot: usize) {
        if slot >= self.marked.len() {
            self.marked.resize(slot + 1, false);
        }
        if !std::mem::replace(&mut self.marked[slot], true) {
            self.order.push(slot);
        }
    }

    /// Takes every marked slot, in order.
    fn take(&mut self) -> Vec<usize> {
        for &slot in &self.order {
            self.marked[slot] = false;
        }
        std::mem::take(&mut self.order)
    }
}

impl Exec {
    /// Whether a node that is not idempotent is saved as running before it is called (with
    /// checkpoints, on a durable store).
    fn mark_in_flight(&self) -> bool {
        self.checkpoints && self.durable
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The execution's event log, made now from its record so far if it has none: it goes on
    /// in a task, and its handle follows it there.
    fn kept_events(&self) -> Arc<ExecutionEvents> {
        self.events
            .get_or_init(|| {
                let past = super::events::replay(&self.plan, &self.lock().record);
                Arc::new(ExecutionEvents::with_past(
                    self.engine.event_capacity,
                    self.id,
                    self.plan.clone(),
                    past,
                ))
            })
            .clone()
    }

    /// Sends an event to the handle and to the engine's subscribers: built only when someone
    /// may read it.
    pub(super) fn emit<E: Into<Emitted>>(&self, event: impl FnOnce() -> E) {
        let mine = self.events.get().filter(|e| e.wanted());
        let engine_wide = self.engine.subscribed.load(std::sync::atomic::Ordering::Relaxed);
        if mine.is_none() && !engine_wide {
            return;
        }
        let event = event().into();
        if engine_wide {
            // No subscriber left is the normal case, not an error.
            let _ = self.engine.events.send(ExecutionEvent {
                execution_id: self.id,
                scenario_id: self.ids.scenario.clone(),
                kind: event.kind(&self.plan),
            });
        }
        if let Some(mine) = mine {
            mine.push(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Deferred, Exec};

    /// An execution's `Arc<Exec>` (16 bytes of counts, then the `Exec`) must fit glibc's
    /// per-thread cache (blocks up to 1,032 bytes): one byte more, and every execution takes
    /// the allocator's slow path and sets off a consolidation of its fast bins (measured:
    /// about 5 % of the webhook flow). A field that does not fit goes behind a `Box`.
    #[test]
    fn an_execution_fits_the_allocators_thread_cache() {
        assert!(size_of::<Exec>() <= 1032 - 16, "Exec is {} bytes", size_of::<Exec>());
    }

    #[test]
    fn execution_ids_of_one_instant_are_in_the_order_they_were_made() {
        let now = chrono::Utc::now();
        let ids: Vec<_> = (0..1000).map(|_| super::execution_id(now)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        let at = ids[0].get_timestamp().unwrap().to_unix();
        assert_eq!(at.0, u64::try_from(now.timestamp()).unwrap(), "the given instant's");
    }

    #[test]
    fn a_deferred_slot_is_taken_once_in_the_order_it_came_and_can_come_again() {
        let mut deferred = Deferred::default();
        for slot in [3, 0, 3, 7, 0] {
            deferred.mark(slot);
        }
        assert_eq!(deferred.take(), vec![3, 0, 7]);
        assert!(deferred.take().is_empty());
        deferred.mark(7);
        deferred.mark(1);
        assert_eq!(deferred.take(), vec![7, 1]);
    }
}
