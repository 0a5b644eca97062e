//! The executor: walks a plan for one execution.
//!
//! A *frame* holds the outputs of one pass over a part of the graph: the root frame runs the
//! scenario, and each element of an iterate node runs its body in a child frame that sees its
//! parents' outputs. In a frame, a node runs once every predecessor in the frame has finished
//! (completed or skipped) and at least one of them led to it; a node no route led to is
//! skipped, and the skip flows on. Ready nodes run concurrently (one task, many futures), and
//! each node's result is checkpointed in the store before its successors start.

mod attempt;
mod checkpoint;
mod frame;
mod iterate;
mod lifecycle;
mod node;
mod sub;
mod walk;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use chrono::Utc;
use futures::future::BoxFuture;
use futures::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use minijinja::Value as Jinja;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::events::{EventKind, ExecutionEvent};
use super::handle::{ExecutionHandle, Pause, PauseGate};
use super::limits::ResultCache;
use super::redact::Redactor;
use super::{ExecuteOptions, Inner, Pinned};
use crate::compile::Plan;
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::expr::{Scope, StepOutputs, step_value};
use crate::node::{NodeOutput, Route};
use crate::scenario::OnError;
use crate::scenario::nodes::{ResponseSlot, SubScenarioRunner, SubScenarios};
use crate::store::{ExecutionRecord, ExecutionStatus, NodeResult, NodeStatus, PayloadKey};

use self::frame::{Frame, Output, Pass};
use self::sub::Runner;
use self::walk::{Entry, Step, Targets};

pub(super) async fn start(
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    trigger: Value,
    options: ExecuteOptions,
    existing: Option<ExecutionRecord>,
) -> Result<ExecutionHandle> {
    let id = options.execution_id.unwrap_or_else(Uuid::now_v7);
    let trigger = Arc::new(trigger);
    let connections = plan.nodes.iter().filter_map(|n| n.connection.clone()).collect();
    let redactor = Redactor::new(connections, engine.payload_limit);
    let record = match existing {
        Some(record) => record,
        None => {
            let recorded_trigger = redactor.clean(&trigger);
            let trigger_cleaned = !Arc::ptr_eq(&recorded_trigger, &trigger);
            let record = ExecutionRecord {
                id,
                scenario_id: plan.id().to_owned(),
                scenario_version: plan.version(),
                trigger: recorded_trigger,
                trigger_cleaned,
                status: ExecutionStatus::Running,
                started_at: Utc::now(),
                ended_at: None,
                nodes: Vec::with_capacity(plan.nodes.len()),
                output: None,
                error: None,
                rerun_of: options.rerun_of,
            };
            engine.store.create(&record).await?;
            if trigger_cleaned {
                engine.store.save_exact(id, &PayloadKey::Trigger, &trigger).await?;
            }
            record
        }
    };
    let mut slots = HashMap::with_capacity(plan.nodes.len());
    slots.extend(
        record
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some(((*plan.index.get(&*n.node_id)?, n.item), i))),
    );
    let cancel = options
        .parent_cancel
        .as_ref()
        .map_or_else(CancellationToken::new, CancellationToken::child_token);
    let events = engine.events.subscribe();
    // Channels only for what this execution can use.
    let (response, response_rx) = if plan.responds {
        let (tx, rx) = watch::channel(None);
        (Some(ResponseSlot(Arc::new(tx))), Some(rx))
    } else {
        (None, None)
    };
    let pause = options.breakpoint.is_some().then(|| Arc::new(PauseGate::default()));
    let id_str: Arc<str> = id.to_string().into();
    let exec = Arc::new(Exec {
        trigger_jinja: Arc::default(),
        sub: engine
            .sub_scenarios
            .get_or_init(|| SubScenarios(Arc::new(Runner(Arc::downgrade(&engine)))))
            .clone(),
        engine,
        plan,
        id,
        id_str,
        trigger,
        options,
        cancel: cancel.clone(),
        started_utc: Utc::now(),
        started_instant: Instant::now(),
        state: Mutex::new(State {
            running: HashMap::new(),
            record,
            slots,
        }),
        redactor,
        response,
        pause: pause.clone(),
    });
    let resubscribe = exec.engine.events.clone();
    let slot = Slot::take(&exec.plan).await;
    let task = tokio::spawn(exec.run(slot));
    Ok(ExecutionHandle {
        id,
        task,
        cancel,
        events: Some(events),
        resubscribe,
        response: response_rx,
        pause,
    })
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

/// A node in flight.
struct Running {
    started_at: chrono::DateTime<Utc>,
    input: Arc<Value>,
    attempts: Arc<std::sync::atomic::AtomicU32>,
}

struct Exec {
    engine: Arc<Inner>,
    plan: Arc<Plan>,
    id: Uuid,
    id_str: Arc<str>,
    trigger: Arc<Value>,
    trigger_jinja: Arc<std::sync::OnceLock<Jinja>>,
    options: ExecuteOptions,
    cancel: CancellationToken,
    state: Mutex<State>,
    started_utc: chrono::DateTime<Utc>,
    started_instant: Instant,
    redactor: Redactor,
    response: Option<ResponseSlot>,
    sub: SubScenarios,
    pause: Option<Arc<PauseGate>>,
}

struct State {
    /// The nodes running now, per (node, item): what to record if the execution is stopped.
    running: HashMap<(usize, Option<usize>), Running>,
    record: ExecutionRecord,
    /// Where each (node, item) result sits in `record.nodes`.
    slots: HashMap<(usize, Option<usize>), usize>,
}

impl Exec {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn emit(&self, kind: EventKind) {
        // No subscriber is the normal case, not an error.
        let _ = self.engine.events.send(ExecutionEvent {
            execution_id: self.id,
            scenario_id: self.plan.id.clone(),
            kind,
        });
    }
}
