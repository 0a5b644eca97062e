//! Aura's own events as webhooks: an engine's [`ExecutionEvent`]s, delivered to the endpoints
//! subscribed to their types.
//!
//! | engine event | event type |
//! | --- | --- |
//! | [`EventKind::Started`] | `execution.started` |
//! | [`EventKind::Finished`] completed / failed / cancelled | `execution.completed` / `execution.failed` / `execution.cancelled` |
//! | [`EventKind::NodeFailed`] | `node.failed` |
//! | [`EventKind::StoreAway`] / [`EventKind::StoreBack`] | `store.away` / `store.back` |
//!
//! Node progress (started, completed, retrying, skipped, paused) is not delivered: too
//! chatty for a webhook. The payload is the event as it serializes.

use tokio::sync::broadcast;

use super::{MessageId, WebhookDispatcher};
use crate::engine::{EventKind, ExecutionEvent};
use crate::error::{Error, Result};
use crate::store::ExecutionStatus;

/// The event type `event` is delivered as, or `None` when it is not delivered.
pub fn execution_event_type(event: &ExecutionEvent) -> Option<&'static str> {
    Some(match &event.kind {
        EventKind::Started => "execution.started",
        EventKind::Finished { status } => match status {
            ExecutionStatus::Completed => "execution.completed",
            ExecutionStatus::Failed => "execution.failed",
            ExecutionStatus::Cancelled => "execution.cancelled",
            ExecutionStatus::Running => return None,
        },
        EventKind::NodeFailed { .. } => "node.failed",
        EventKind::StoreAway { .. } => "store.away",
        EventKind::StoreBack => "store.back",
        _ => return None,
    })
}

impl WebhookDispatcher {
    /// Sends an engine event (see [`execution_event_type`] for which, and as what); `None` when the
    /// event is not one that is delivered.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_execution_event(&self, event: &ExecutionEvent) -> Result<Option<MessageId>> {
        let Some(event_type) = execution_event_type(event) else {
            return Ok(None);
        };
        let payload = serde_json::to_value(event)
            .map_err(|e| Error::internal("an execution event does not serialize").with_source(e))?;
        self.send(event_type, payload).map(Some)
    }

    /// Delivers every event of `events` (an [`Engine::subscribe`](crate::engine::Engine::subscribe)
    /// receiver) in the background, until the engine or the dispatcher stops. Events missed by
    /// a lagging receiver are skipped with a warning.
    ///
    /// # Errors
    ///
    /// [`Cancelled`](crate::ErrorKind::Cancelled) after [`shutdown`](Self::shutdown);
    /// [`Internal`](crate::ErrorKind::Internal) outside a tokio runtime.
    pub fn forward(&self, mut events: broadcast::Receiver<ExecutionEvent>) -> Result<()> {
        let dispatcher = self.clone();
        let stop = self.stopping();
        self.spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    () = stop.cancelled() => return,
                };
                match event {
                    Ok(event) => {
                        if let Err(err) = dispatcher.send_execution_event(&event) {
                            tracing::warn!(error = %err, "an execution event was not delivered");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "execution events were missed by the webhook dispatcher");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}
