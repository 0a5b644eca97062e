//! Aura's own events as webhooks: an engine's [`ExecutionEvent`]s and a connection manager's
//! [`ConnectionEvent`]s, delivered to the endpoints subscribed to their types.
//!
//! | event | event type |
//! | --- | --- |
//! | [`EventKind::Started`] | `execution.started` |
//! | [`EventKind::Finished`] completed / failed / cancelled | `execution.completed` / `execution.failed` / `execution.cancelled` |
//! | [`EventKind::NodeFailed`] | `node.failed` |
//! | [`EventKind::StoreAway`] / [`EventKind::StoreBack`] | `store.away` / `store.back` |
//! | [`ConnectionEventKind::RefreshFailed`] | `connection.refresh_failed` |
//! | [`ConnectionEventKind::PersistFailed`] | `connection.persist_failed` |
//! | [`ConnectionEventKind::StatusChanged`] | `connection.status_changed` |
//! | [`ConnectionEventKind::Created`] / [`ConnectionEventKind::Deleted`] | `connection.created` / `connection.deleted` |
//!
//! Node progress (started, completed, retrying, skipped, paused) and routine connection
//! changes (updates, token refreshes, replaced credentials) are not delivered: too chatty for a
//! webhook. The payload is the event as it serializes (connection events never carry a
//! secret).

use serde::Serialize;
use tokio::sync::broadcast;

use super::{MessageId, WebhookDispatcher};
use crate::connection_manager::{ConnectionEvent, ConnectionEventKind};
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

/// The event type a connection `event` is delivered as, or `None` when it is not delivered.
pub fn connection_event_type(event: &ConnectionEvent) -> Option<&'static str> {
    Some(match &event.kind {
        ConnectionEventKind::RefreshFailed { .. } => "connection.refresh_failed",
        ConnectionEventKind::PersistFailed { .. } => "connection.persist_failed",
        ConnectionEventKind::StatusChanged { .. } => "connection.status_changed",
        ConnectionEventKind::Created => "connection.created",
        ConnectionEventKind::Deleted => "connection.deleted",
        _ => return None,
    })
}

impl WebhookDispatcher {
    /// Sends a connection event (see [`connection_event_type`] for which, and as what);
    /// `None` when the event is not one that is delivered.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_connection_event(&self, event: &ConnectionEvent) -> Result<Option<MessageId>> {
        self.send_typed(connection_event_type(event), event).await
    }

    /// Delivers every event of `events` (a
    /// [`ConnectionManager::subscribe`](crate::connection::ConnectionManager::subscribe)
    /// receiver) in the background, as [`forward`](Self::forward) does an engine's.
    ///
    /// # Errors
    ///
    /// As [`forward`](Self::forward).
    pub fn forward_connections(&self, events: broadcast::Receiver<ConnectionEvent>) -> Result<()> {
        self.forward_with(events, connection_event_type, "a connection event")
    }

    /// Sends `event` as `event_type`, when it has one.
    async fn send_typed(&self, event_type: Option<&'static str>, event: &impl Serialize) -> Result<Option<MessageId>> {
        let Some(event_type) = event_type else {
            return Ok(None);
        };
        let payload =
            serde_json::to_value(event).map_err(|e| Error::internal("an event does not serialize").with_source(e))?;
        self.send(event_type, payload).await.map(Some)
    }

    /// Sends an engine event (see [`execution_event_type`] for which, and as what); `None` when the
    /// event is not one that is delivered.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub async fn send_execution_event(&self, event: &ExecutionEvent) -> Result<Option<MessageId>> {
        self.send_typed(execution_event_type(event), event).await
    }

    /// Delivers every event of `events` (an [`Engine::subscribe`](crate::engine::Engine::subscribe)
    /// receiver) in the background, until the engine or the dispatcher stops. Events missed by
    /// a lagging receiver are skipped with a warning.
    ///
    /// # Errors
    ///
    /// [`Cancelled`](crate::ErrorKind::Cancelled) after [`shutdown`](Self::shutdown);
    /// [`Internal`](crate::ErrorKind::Internal) outside a tokio runtime.
    pub fn forward(&self, events: broadcast::Receiver<ExecutionEvent>) -> Result<()> {
        self.forward_with(events, execution_event_type, "an execution event")
    }

    /// Sends every event of `events` that has an event type (`type_of`) in the background,
    /// until the sender or the dispatcher stops.
    fn forward_with<E: Clone + Serialize + Send + Sync + 'static>(
        &self,
        mut events: broadcast::Receiver<E>,
        type_of: fn(&E) -> Option<&'static str>,
        what: &'static str,
    ) -> Result<()> {
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
                        if let Err(err) = dispatcher.send_typed(type_of(&event), &event).await {
                            tracing::warn!(error = %err, "{what} was not delivered");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "{what}s were missed by the webhook dispatcher");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }
}
