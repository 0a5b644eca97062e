//! The event stream: what happens in executions, as it happens.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::store::ExecutionStatus;

/// One thing that happened in an execution.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExecutionEvent {
    /// The execution.
    pub execution_id: Uuid,
    /// Its scenario.
    pub scenario_id: Arc<str>,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The execution started (after waiting for a concurrency slot, if any).
    Started,
    /// A node started.
    NodeStarted {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
    },
    /// A node completed.
    NodeCompleted {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
        /// How long it took, retries included.
        duration: Duration,
    },
    /// An attempt failed with a retryable error; another follows after `delay`.
    NodeRetrying {
        /// The node.
        node: Arc<str>,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The wait before the next.
        delay: Duration,
        /// The error's kind.
        error: &'static str,
    },
    /// A node failed (after its retries).
    NodeFailed {
        /// The node.
        node: Arc<str>,
        /// The iteration, inside an iterate body.
        item: Option<usize>,
        /// The error's kind.
        error: &'static str,
    },
    /// No route led to a node.
    NodeSkipped {
        /// The node.
        node: Arc<str>,
    },
    /// The execution stopped at a breakpoint after this node.
    Paused {
        /// The node.
        node: Arc<str>,
    },
    /// The execution ended.
    Finished {
        /// How.
        status: ExecutionStatus,
    },
    /// The store's server cannot be reached: writes wait and are tried again (see
    /// [`ExecutionStore::availability`](crate::store::ExecutionStore::availability)). An event
    /// about the store, not one execution: sent to [`Engine::subscribe`](super::Engine::subscribe)
    /// only, with the nil execution id and an empty scenario id.
    StoreAway {
        /// What the store's last try met.
        reason: String,
    },
    /// The store's server answers again: the writes that waited are done.
    StoreBack,
}

/// One execution's events for its handle: kept from the start until the handle asks for them
/// ([`crate::engine::ExecutionHandle::events`]) or gives up on them (dropped, or waited for),
/// then sent live to whoever subscribed. An execution without a handle ([`crate::engine::Engine::execute`])
/// has none: its events cost nothing unless someone subscribed to the whole engine.
#[derive(Debug)]
pub(crate) struct ExecutionEvents {
    /// [`BUFFERING`], [`LIVE`] or [`OFF`]: read without the lock on every event.
    mode: std::sync::atomic::AtomicU8,
    log: std::sync::Mutex<Log>,
    capacity: usize,
    execution_id: Uuid,
    /// The scenario's plan: its id, and its nodes' ids for the events kept by place.
    plan: Arc<crate::compile::Plan>,
}

/// What a node did, as [`Emitted::Node`] says it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum NodeEvent {
    /// [`EventKind::NodeStarted`].
    Started,
    /// [`EventKind::NodeCompleted`], after this long.
    Completed(Duration),
}

impl NodeEvent {
    /// The event of the plan's node `node`.
    pub(crate) fn kind(self, plan: &crate::compile::Plan, node: usize, item: Option<usize>) -> EventKind {
        let node = plan.nodes[node].id.clone();
        match self {
            Self::Started => EventKind::NodeStarted { node, item },
            Self::Completed(duration) => EventKind::NodeCompleted { node, item, duration },
        }
    }
}

/// An event as an execution emits it and its log keeps it: a node's start or end by the node's
/// place in the plan (no reference to its id counted per event), any other whole.
#[derive(Debug)]
pub(crate) enum Emitted {
    /// What the plan's node did, in an iterate body's element or not.
    Node(NodeEvent, usize, Option<usize>),
    /// Any other event.
    Other(EventKind),
}

impl From<EventKind> for Emitted {
    fn from(kind: EventKind) -> Self {
        Self::Other(kind)
    }
}

impl Emitted {
    /// The event whole, its node named by its id in `plan`.
    pub(crate) fn kind(&self, plan: &crate::compile::Plan) -> EventKind {
        match self {
            Self::Node(event, node, item) => event.kind(plan, *node, *item),
            Self::Other(kind) => kind.clone(),
        }
    }

    fn into_kind(self, plan: &crate::compile::Plan) -> EventKind {
        match self {
            Self::Other(kind) => kind,
            node => node.kind(plan),
        }
    }
}

/// Events the log makes room for at its first one (at most the capacity).
const KEPT_AT_FIRST: usize = 16;

const BUFFERING: u8 = 0;
const LIVE: u8 = 1;
const OFF: u8 = 2;

#[derive(Debug, Default)]
struct Log {
    /// What happened so far (the execution and scenario are the same for all).
    kept: Vec<Emitted>,
    live: Option<tokio::sync::broadcast::Sender<ExecutionEvent>>,
    /// The `Finished` event, once sent: a subscriber after the end gets it alone.
    finished: Option<ExecutionEvent>,
}

impl ExecutionEvents {
    /// Keeps events until asked for; `capacity` bounds how many (the oldest go first) and how
    /// far a live subscriber may fall behind.
    pub(crate) fn new(capacity: usize, execution_id: Uuid, plan: Arc<crate::compile::Plan>) -> Self {
        Self {
            mode: std::sync::atomic::AtomicU8::new(BUFFERING),
            log: std::sync::Mutex::default(),
            capacity: capacity.max(1),
            execution_id,
            plan,
        }
    }

    fn event(&self, kind: EventKind) -> ExecutionEvent {
        ExecutionEvent {
            execution_id: self.execution_id,
            scenario_id: self.plan.id.clone(),
            kind,
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an event would go anywhere (so that the caller need not build it).
    pub(crate) fn wanted(&self) -> bool {
        self.mode.load(std::sync::atomic::Ordering::Acquire) != OFF
    }

    /// Keeps or sends one event.
    pub(crate) fn push(&self, kept: Emitted) {
        if !self.wanted() {
            return;
        }
        let mut log = self.log();
        let finished = matches!(kept, Emitted::Other(EventKind::Finished { .. }));
        if finished && let Emitted::Other(kind) = &kept {
            log.finished = Some(self.event(kind.clone()));
        }
        match &log.live {
            // No receiver left is not an error: a later `events()` call subscribes again.
            Some(tx) => {
                let _ = tx.send(self.event(kept.into_kind(&self.plan)));
            }
            None => {
                if log.kept.len() == self.capacity {
                    log.kept.remove(0);
                }
                if log.kept.capacity() == 0 {
                    // Room for a small scenario's events at once (a start, a finish, two per
                    // node): one allocation instead of the vector's doublings from one.
                    log.kept.reserve_exact(self.capacity.min(KEPT_AT_FIRST));
                }
                log.kept.push(kept);
            }
        }
        if finished {
            // Closes the stream once its subscribers have read it.
            log.live = None;
        }
    }

    /// A receiver of the events from now on; the first call also gets every event kept since
    /// the start.
    pub(crate) fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ExecutionEvent> {
        let mut log = self.log();
        if let Some(tx) = &log.live {
            return tx.subscribe();
        }
        if log.kept.is_empty()
            && let Some(end) = log.finished.clone()
        {
            let (tx, rx) = tokio::sync::broadcast::channel(1);
            let _ = tx.send(end);
            return rx;
        }
        let kept = std::mem::take(&mut log.kept);
        let (tx, rx) = tokio::sync::broadcast::channel(self.capacity.max(kept.len()));
        for kept in kept {
            let _ = tx.send(self.event(kept.into_kind(&self.plan)));
        }
        if log.finished.is_none() {
            log.live = Some(tx);
        }
        self.mode.store(LIVE, std::sync::atomic::Ordering::Release);
        rx
    }

    /// A log that starts with `past`: an execution's events from before anyone kept them
    /// ([`replay`]); with `Finished` among them, the whole log of a finished execution.
    pub(crate) fn with_past(
        capacity: usize,
        execution_id: Uuid,
        plan: Arc<crate::compile::Plan>,
        past: Vec<Emitted>,
    ) -> Self {
        let events = Self::new(capacity, execution_id, plan);
        for event in past {
            events.push(event);
        }
        events
    }

    /// Nobody will ask for events any more: stop keeping them (live subscribers go on).
    pub(crate) fn stop_keeping(&self) {
        let mut log = self.log();
        if log.live.is_none() {
            self.mode.store(OFF, std::sync::atomic::Ordering::Release);
            log.kept = Vec::new();
        }
    }
}

/// The events an execution emitted up to `record`, in the order it emits them while it has
/// not waited yet: `Started` once a node began; then, for each node result in the order the
/// nodes began (a pinned one emits nothing), `NodeStarted` and its end (`NodeCompleted`,
/// `NodeFailed`; an aggregate emits only `NodeCompleted`, a skipped node only `NodeSkipped`);
/// `Finished` when the record has ended.
///
/// Until an execution first waits, each node that starts ends in the same poll or waits, so
/// that its events follow each other in that order: an execution that ended inside
/// [`super::Engine::start`] keeps no log, and one that goes on in a task starts its log from
/// this. (One whose events its record does not show — a breakpoint's `Paused`, a retry's
/// `NodeRetrying` — keeps its log from the start.)
pub(crate) fn replay(plan: &crate::compile::Plan, record: &crate::store::ExecutionRecord) -> Vec<Emitted> {
    use crate::store::NodeStatus;
    let mut past = Vec::with_capacity(2 + 2 * record.nodes.len());
    if !record.nodes.is_empty() {
        past.push(Emitted::Other(EventKind::Started));
    }
    for r in &record.nodes {
        let Some(&idx) = plan.index.get(&*r.node_id) else {
            continue;
        };
        if r.pinned {
            continue;
        }
        let started = Emitted::Node(NodeEvent::Started, idx, r.item);
        match r.status {
            NodeStatus::Pending => {}
            NodeStatus::Skipped => past.push(Emitted::Other(EventKind::NodeSkipped {
                node: r.node_id.clone(),
            })),
            NodeStatus::Completed => {
                if !matches!(plan.nodes[idx].info.role, crate::node::NodeRole::Aggregate { .. }) {
                    past.push(started);
                }
                let took = match (r.started_at, r.ended_at) {
                    (Some(start), Some(end)) => (end - start).to_std().unwrap_or_default(),
                    _ => Duration::ZERO,
                };
                past.push(Emitted::Node(NodeEvent::Completed(took), idx, r.item));
            }
            NodeStatus::Failed => {
                past.push(started);
                let error = r
                    .error
                    .as_ref()
                    .and_then(|e| e.kind.parse::<crate::error::ErrorKind>().ok())
                    .map_or("internal", crate::error::ErrorKind::as_str);
                past.push(Emitted::Other(EventKind::NodeFailed {
                    node: r.node_id.clone(),
                    item: r.item,
                    error,
                }));
            }
            NodeStatus::Running | NodeStatus::Waiting | NodeStatus::Cancelled | NodeStatus::TimedOut => {
                past.push(started);
            }
        }
    }
    if record.status.is_finished() {
        past.push(Emitted::Other(EventKind::Finished { status: record.status }));
    }
    past
}

/// Reports the store's availability to the engine's subscribers
/// ([`EventKind::StoreAway`], [`EventKind::StoreBack`]), on a task that ends with the engine;
/// nothing for a store without a server (or outside a tokio runtime, with a warning).
pub(super) fn watch_store(engine: &Arc<super::Inner>) {
    let Some(mut availability) = engine.store.availability() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("the engine was built outside a tokio runtime: the store's outages are not reported as events");
        return;
    };
    let (weak, stopped) = (Arc::downgrade(engine), engine.stopped.clone());
    runtime.spawn(async move {
        loop {
            tokio::select! {
                () = stopped.cancelled() => return,
                changed = availability.changed() => if changed.is_err() { return },
            }
            let kind = match &*availability.borrow_and_update() {
                crate::store::StoreAvailability::Away { reason, .. } => EventKind::StoreAway { reason: reason.clone() },
                _ => EventKind::StoreBack,
            };
            let Some(engine) = weak.upgrade() else { return };
            if engine.subscribed.load(std::sync::atomic::Ordering::Relaxed) {
                // No subscriber left is the normal case, not an error.
                let _ = engine.events.send(ExecutionEvent {
                    execution_id: Uuid::nil(),
                    scenario_id: Arc::from(""),
                    kind,
                });
            }
        }
    });
}
