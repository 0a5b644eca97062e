//! How the dispatcher keeps what it accepted: a message shaped into an [`OutboxEntry`] per
//! endpoint, written before [`send`](super::WebhookDispatcher::send) answers, then started;
//! and an endpoint's entries read back and carried on when it is added (or enabled) again.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::deliver::{deliver, unsent};
use super::dispatcher::{EndpointState, Shared};
use super::{DeliveryEvent, MessageId};
use crate::error::{Error, Result};
use crate::store::{OutboxEntry, OutboxStage};

/// What a message becomes for one endpoint.
pub(crate) enum Shaped {
    /// The endpoint's filter dropped it.
    Dropped,
    /// Its filter or transform failed: logged as a failed attempt, nothing to send.
    Failed,
    /// The entry to keep and start.
    Entry(OutboxEntry),
}

impl Shared {
    /// Shapes `envelope` for `endpoint` (its filter and transform) into an outbox entry.
    pub(crate) fn shape(&self, endpoint: &EndpointState, id: &MessageId, envelope: &Value) -> Result<Shaped> {
        let body = match endpoint.route.shape(envelope) {
            Ok(None) => return Ok(Shaped::Dropped),
            Ok(Some(body)) => body,
            Err(err) => {
                let err = err.with_context("endpoint", endpoint.id.clone());
                tracing::warn!(endpoint = %endpoint.id, error = %err, "a webhook's filter or transform failed");
                let told = DeliveryEvent::Failed {
                    endpoint: endpoint.id.clone(),
                    delivery_id: id.to_string(),
                    messages: vec![id.clone()],
                    attempts: 1,
                    error: err.to_string(),
                };
                self.record(endpoint, unsent(self, id, &err), Some(told));
                return Ok(Shaped::Failed);
            }
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::internal("a webhook body does not serialize").with_source(e))?;
        let entry = OutboxEntry::new(endpoint.id.clone(), id.as_str(), vec![id.to_string()], body);
        Ok(Shaped::Entry(match endpoint.batcher {
            Some(_) => entry.stage(OutboxStage::Batching),
            None => entry,
        }))
    }

    /// Starts a kept entry: hands a message to its endpoint's batcher, or runs a delivery
    /// after `wait`.
    pub(crate) fn start(
        self: &Arc<Self>,
        endpoint: &Arc<EndpointState>,
        entry: OutboxEntry,
        wait: Duration,
    ) -> Result<()> {
        if let (OutboxStage::Batching, Some(batcher)) = (entry.stage, &endpoint.batcher) {
            return batcher.send(entry).map_err(|_| {
                Error::cancelled("the endpoint's batcher has stopped").with_context("endpoint", endpoint.id.clone())
            });
        }
        self.spawn(deliver(self.clone(), endpoint.clone(), entry, endpoint.run(), wait))
    }

    /// Carries on `endpoint`'s entries from the outbox: each delivery (when `sending`) when it
    /// is due, each message waiting for a batch (when `batching`) handed to the batcher (or,
    /// when the endpoint batches no more, delivered alone). Answers how many.
    pub(crate) async fn resume(
        self: &Arc<Self>,
        endpoint: &Arc<EndpointState>,
        sending: bool,
        batching: bool,
    ) -> Result<usize> {
        let entries = self.outbox.outbox(&endpoint.id).await?;
        let now = Utc::now();
        let mut resumed = 0;
        for entry in entries {
            let to_batcher = entry.stage == OutboxStage::Batching && endpoint.batcher.is_some();
            if (to_batcher && !batching) || (!to_batcher && !sending) {
                continue;
            }
            let wait = (entry.due_at - now).to_std().unwrap_or_default();
            self.start(endpoint, entry, wait)?;
            resumed += 1;
        }
        Ok(resumed)
    }

    /// The wait before a new delivery's first attempt.
    pub(crate) fn first_wait(&self) -> Duration {
        self.schedule.delay(0).unwrap_or_default()
    }

    /// Tells of an outbox write that failed: a warning and a [`DeliveryEvent::StoreFailed`].
    pub(crate) fn store_failed(&self, endpoint: &EndpointState, delivery_id: &str, err: &Error) {
        tracing::warn!(endpoint = %endpoint.id, delivery = %delivery_id, error = %err, "the webhook outbox could not be written");
        self.emit(DeliveryEvent::StoreFailed {
            endpoint: endpoint.id.clone(),
            delivery_id: delivery_id.to_owned(),
            error: err.to_string(),
        });
    }
}
