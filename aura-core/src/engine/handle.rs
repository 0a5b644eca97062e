//! [`ExecutionHandle`]: a running execution.

use std::sync::Arc;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::events::{Emitted, EventKind, ExecutionEvent, ExecutionEvents};
use crate::error::{Error, Result};
use crate::scenario::nodes::{Response, ResponseReader};
use crate::store::ExecutionRecord;

/// A breakpoint: where the execution stopped, and the way to let it go on.
///
/// Inside a concurrent iterate body several elements may reach the breakpoint at once: they
/// stop one at a time (`turn`), and each [`ExecutionHandle::continue_run`] lets one go on.
#[derive(Debug, Default)]
pub(crate) struct PauseGate {
    pub(crate) state: watch::Sender<Pause>,
    pub(crate) resume: Notify,
    pub(crate) turn: tokio::sync::Mutex<()>,
}

/// Where an execution stands with respect to its breakpoint.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) enum Pause {
    #[default]
    Running,
    At(Arc<str>),
    Finished,
}

/// A started execution: wait for it, cancel it, follow its events, get its webhook response,
/// step through it.
///
/// [`crate::engine::Engine::start`] runs the execution on the caller's task as far as it goes
/// without waiting (a scenario of quick nodes ends there), and hands the rest to a tokio task
/// at its first wait: the handle then follows that task. Dropping the handle does not stop the
/// execution; [`ExecutionHandle::cancel`] does.
#[derive(Debug)]
pub struct ExecutionHandle {
    pub(crate) id: Uuid,
    pub(crate) run: Run,
    /// The execution's token, shared (a token's own clone and drop each take a lock).
    pub(crate) cancel: Arc<CancellationToken>,
    pub(crate) events: HandleEvents,
    pub(crate) response: Option<ResponseReader>,
    pub(crate) pause: Option<Arc<PauseGate>>,
    /// Cleans a completed record that was left as it is while it ran (on an engine that keeps
    /// no record, nobody else reads it): `None` when the record comes cleaned.
    pub(crate) raw: Option<Arc<super::redact::Redactor>>,
}

/// Where a handle's events come from.
#[derive(Debug)]
pub(crate) enum HandleEvents {
    /// A log kept as the execution runs: it went on in a task, or it emits events its record
    /// does not show (a breakpoint's pause, a retry).
    Kept(Arc<ExecutionEvents>),
    /// It ended inside `start`, before anyone asked for its events: they are replayed from its
    /// record when asked ([`super::events::replay`]); `replayed` once they were.
    FromRecord {
        plan: Arc<crate::compile::Plan>,
        capacity: usize,
        replayed: bool,
    },
}

impl HandleEvents {
    /// Nobody will ask for events any more.
    fn stop_keeping(&self) {
        if let Self::Kept(log) = self {
            log.stop_keeping();
        }
    }
}

/// Where the execution runs.
#[derive(Debug)]
pub(crate) enum Run {
    /// It ended inside `start` (taken by `wait`).
    Done(Option<Box<Result<ExecutionRecord>>>),
    /// It goes on in its own task.
    Task(JoinHandle<Result<ExecutionRecord>>),
}

impl Drop for ExecutionHandle {
    fn drop(&mut self) {
        // Nobody can ask for this execution's events any more.
        self.events.stop_keeping();
    }
}

impl ExecutionHandle {
    /// The execution's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Whether the execution ended inside `start` (nothing goes on in a task).
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.run, Run::Done(_))
    }

    /// Waits for the end and returns the record.
    pub async fn wait(mut self) -> Result<ExecutionRecord> {
        self.events.stop_keeping();
        let mut ended = self.ended().await;
        if let (Some(redactor), Ok(record)) = (&self.raw, &mut ended)
            && record.status == crate::store::ExecutionStatus::Completed
        {
            redactor.clean_record(record);
        }
        ended
    }

    /// The record as the run gave it.
    async fn ended(&mut self) -> Result<ExecutionRecord> {
        match &mut self.run {
            Run::Done(done) => done.take().map_or_else(
                || Err(Error::internal("the execution's record was taken already")),
                |d| *d,
            ),
            Run::Task(task) => task
                .await
                .map_err(|e| Error::internal("the execution task failed").with_source(e))?,
        }
    }

    /// Cancels the execution: in-flight nodes stop at once, the record ends `cancelled`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// This execution's events. The first call gets every event since the start (up to the
    /// engine's event capacity); later calls get the events from then on, or only `Finished`
    /// once the execution has ended.
    ///
    /// Nothing is kept for a handle that never asks: the events of an execution that ended
    /// inside [`Engine::start`](super::Engine::start) are replayed from its record, and one
    /// that goes on in a task keeps them from its first wait (the ones before, from its
    /// record). Either way they are the events a subscriber from the start would have seen, in
    /// the same order.
    pub fn events(&mut self) -> Events {
        let rx = match &mut self.events {
            HandleEvents::Kept(log) => log.subscribe(),
            HandleEvents::FromRecord {
                plan,
                capacity,
                replayed,
            } => {
                let record = match &self.run {
                    Run::Done(Some(done)) => done.as_ref().as_ref().ok(),
                    _ => None,
                };
                let mut past = record.map(|r| super::events::replay(plan, r)).unwrap_or_default();
                if std::mem::replace(replayed, true) {
                    // A later call: the events from then on, which is only the end.
                    past.retain(|e| matches!(e, Emitted::Other(EventKind::Finished { .. })));
                }
                ExecutionEvents::with_past(*capacity, self.id, plan.clone(), past).subscribe()
            }
        };
        Events {
            id: self.id,
            rx,
            done: false,
        }
    }

    /// What a respond node set, as soon as it ran; `None` when the execution ended without one.
    pub async fn response(&mut self) -> Option<Response> {
        // A scenario without a respond node never has a response.
        self.response.as_ref()?.wait().await
    }

    /// Waits until the execution stops at its breakpoint and returns the node it stopped after;
    /// `None` when it ended without stopping.
    pub async fn paused(&self) -> Option<String> {
        // Without a breakpoint the execution never stops.
        let mut rx = self.pause.as_ref()?.state.subscribe();
        let state = rx.wait_for(|p| *p != Pause::Running).await.ok()?.clone();
        match state {
            Pause::At(node) => Some(node.to_string()),
            Pause::Running | Pause::Finished => None,
        }
    }

    /// Lets an execution stopped at its breakpoint go on (not to be confused with
    /// [`crate::engine::Engine::recover`], which goes on with an execution after a crash).
    pub fn continue_run(&self) {
        let Some(pause) = &self.pause else { return };
        let was_paused = pause.state.send_if_modified(|p| {
            let paused = matches!(p, Pause::At(_));
            if paused {
                *p = Pause::Running;
            }
            paused
        });
        // Only a stopped execution is let go: a call while it runs must not let the next stop
        // pass at once.
        if was_paused {
            pause.resume.notify_one();
        }
    }
}

/// The events of one execution; ends after `Finished`.
#[derive(Debug)]
pub struct Events {
    id: Uuid,
    rx: broadcast::Receiver<ExecutionEvent>,
    done: bool,
}

impl Events {
    /// The next event, or `None` once the execution has finished. A subscriber that falls more
    /// than the engine's event capacity behind skips the events it missed.
    pub async fn next(&mut self) -> Option<ExecutionEvent> {
        if self.done {
            return None;
        }
        loop {
            match self.rx.recv().await {
                Ok(event) if event.execution_id == self.id => {
                    self.done = matches!(event.kind, EventKind::Finished { .. });
                    return Some(event);
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
