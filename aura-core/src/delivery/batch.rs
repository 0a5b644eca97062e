//! Batching: an endpoint's messages grouped into one request, by size or delay.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

use super::MessageId;
use super::deliver::{Delivery, deliver};
use super::dispatcher::{EndpointState, Shared};
use super::endpoint::Batching;

/// A message waiting for its batch: its id and the body shaped for the endpoint.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) id: MessageId,
    pub(crate) body: Value,
}

/// Collects `queue` into batches of at most `max_size`, each sent at the latest `max_delay`
/// after its first message came, until the endpoint goes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    mut queue: mpsc::UnboundedReceiver<Queued>,
    batching: Batching,
) {
    loop {
        let first = tokio::select! {
            queued = queue.recv() => match queued {
                Some(queued) => queued,
                None => return,
            },
            () = endpoint.removed.cancelled() => return,
        };
        let mut batch = vec![first];
        // A deadline, not a sleep: on a manual clock a sleep would move time itself.
        let mut deadline = shared.clock.deadline(batching.max_delay);
        while batch.len() < batching.max_size {
            tokio::select! {
                biased;
                queued = queue.recv() => match queued {
                    Some(queued) => batch.push(queued),
                    None => break,
                },
                () = &mut deadline => break,
                () = endpoint.removed.cancelled() => return,
            }
        }
        let (messages, bodies): (Vec<MessageId>, Vec<Value>) = batch.into_iter().map(|q| (q.id, q.body)).unzip();
        let body = match serde_json::to_vec(&Value::Array(bodies)) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(endpoint = %endpoint.id, error = %err, "a webhook batch does not serialize");
                continue;
            }
        };
        let delivery = Delivery {
            id: MessageId::new().to_string(),
            messages,
            body: body.into(),
        };
        if shared
            .spawn(deliver(shared.clone(), endpoint.clone(), delivery))
            .is_err()
        {
            return;
        }
    }
}
