//! One delivery to one endpoint: its attempts, on the retry schedule, each signed, each
//! within the endpoint's timeout.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::dispatcher::{EndpointState, Shared};
use super::log::{Attempt, AttemptOutcome};
use super::retry::{Verdict, verdict};
use super::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use super::{DeliveryEvent, MessageId};
use crate::error::{BODY_EXCERPT_LIMIT, Error, Result};
use crate::net::SsrfGuard;
use crate::store::OutboxEntry;

/// Runs `entry`'s attempts, the first after `wait`, until one succeeds, one fails for good,
/// or the schedule is spent: each outcome is written to the outbox before the next attempt
/// (a retry's count and due time; the entry removed at the end). Stops, leaving the entry in
/// the outbox, when `run` is cancelled (the endpoint removed, replaced or disabled, the
/// dispatcher shut down) or the endpoint is found disabled.
pub(crate) async fn deliver(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    mut entry: OutboxEntry,
    run: CancellationToken,
    mut wait: Duration,
) {
    loop {
        if !wait.is_zero() {
            tokio::select! {
                () = shared.clock.sleep(wait) => {}
                () = run.cancelled() => return,
            }
        }
        if !endpoint.is_enabled() || run.is_cancelled() {
            return;
        }
        let started = shared.clock.now();
        let sent_at = Utc::now();
        let result = tokio::select! {
            result = attempt(&shared, &endpoint, &entry, sent_at.timestamp()) => result,
            () = shared.clock.deadline(endpoint.route.timeout) => Err(Error::timeout("the receiver did not answer in time")
                .with_context("timeout_ms", endpoint.route.timeout.as_millis().to_string())),
            () = run.cancelled() => return,
        };
        let latency = shared.clock.now().saturating_sub(started);
        let index = entry.attempts as usize;
        let number = entry.attempts.saturating_add(1);
        let (outcome, status, error) = match result {
            Ok(status) => (AttemptOutcome::Delivered, Some(status), None),
            Err(err) => {
                let next = match verdict(&err) {
                    Verdict::Retry(at_least) => shared
                        .schedule
                        .delay(index + 1)
                        .map(|d| d.max(at_least.unwrap_or_default())),
                    Verdict::GiveUp => None,
                };
                let outcome = match next {
                    Some(after) => AttemptOutcome::Retrying { after },
                    None => AttemptOutcome::Failed,
                };
                (outcome, err.status(), Some(err.to_string()))
            }
        };
        entry.attempts = number;
        let written = match outcome {
            // Stopped meanwhile (the endpoint removed, say): its entry is not written back.
            AttemptOutcome::Retrying { .. } if run.is_cancelled() => Ok(()),
            AttemptOutcome::Retrying { after } => {
                entry.due_at = Utc::now() + after;
                shared.outbox.write_outbox(std::slice::from_ref(&entry), &[]).await
            }
            AttemptOutcome::Delivered | AttemptOutcome::Failed => shared.outbox.write_outbox(&[], &[entry.id]).await,
        };
        if let Err(err) = written {
            shared.store_failed(&endpoint, &entry.delivery_id, &err);
        }
        let attempt = Attempt {
            seq: 0,
            delivery_id: entry.delivery_id.clone(),
            messages: message_ids(&entry),
            attempt: number,
            at: started,
            sent_at,
            status,
            latency,
            outcome,
            error: error.clone(),
        };
        tracing::debug!(endpoint = %endpoint.id, delivery = %entry.delivery_id, attempt = number, ?status, ?outcome, "webhook attempt");
        let told = match outcome {
            AttemptOutcome::Delivered => Some(DeliveryEvent::Delivered {
                endpoint: endpoint.id.clone(),
                delivery_id: entry.delivery_id.clone(),
                messages: message_ids(&entry),
                attempts: number,
            }),
            AttemptOutcome::Failed => Some(DeliveryEvent::Failed {
                endpoint: endpoint.id.clone(),
                delivery_id: entry.delivery_id.clone(),
                messages: message_ids(&entry),
                attempts: number,
                error: error.unwrap_or_default(),
            }),
            AttemptOutcome::Retrying { .. } => None,
        };
        shared.record(&endpoint, attempt, told);
        match outcome {
            AttemptOutcome::Retrying { after } => wait = after,
            AttemptOutcome::Delivered | AttemptOutcome::Failed => return,
        }
    }
}

/// One signed POST; the status of a 2xx answer, or the error any other outcome stands for.
async fn attempt(shared: &Shared, endpoint: &EndpointState, delivery: &OutboxEntry, timestamp: i64) -> Result<u16> {
    let target = shared.guard.check_target(&endpoint.route.url)?;
    let signature = endpoint
        .route
        .signer
        .sign(&delivery.delivery_id, timestamp, &delivery.body);
    let response = shared
        .client
        .post(target.url().clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(WEBHOOK_ID, &delivery.delivery_id)
        .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
        .header(WEBHOOK_SIGNATURE, signature)
        .body(delivery.body.clone())
        .send()
        .await
        .map_err(|e| match SsrfGuard::refusal_in(&e) {
            Some(refusal) => copy(refusal),
            None => Error::from(e),
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(status.as_u16());
    }
    let headers = response.headers().clone();
    let body = excerpt(response).await;
    Err(Error::from_http(status, &headers, &body))
}

/// The start of an answer's body, enough for an error's excerpt.
async fn excerpt(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() <= BODY_EXCERPT_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body
}

/// A guard's refusal found inside a request error, as an error of its own.
fn copy(refusal: &Error) -> Error {
    let mut err = Error::new(refusal.kind(), refusal.message().to_owned()).not_sent();
    for (key, value) in refusal.context() {
        err = err.with_context(key, value.clone());
    }
    err
}

/// The attempt a message that could not even be shaped for an endpoint is logged as.
pub(crate) fn unsent(shared: &Shared, id: &MessageId, err: &Error) -> Attempt {
    Attempt {
        seq: 0,
        delivery_id: id.to_string(),
        messages: vec![id.clone()],
        attempt: 1,
        at: shared.clock.now(),
        sent_at: Utc::now(),
        status: None,
        latency: Duration::ZERO,
        outcome: AttemptOutcome::Failed,
        error: Some(err.to_string()),
    }
}

/// The ids of the messages an entry carries.
pub(crate) fn message_ids(entry: &OutboxEntry) -> Vec<MessageId> {
    entry.messages.iter().cloned().map(MessageId::from_string).collect()
}
