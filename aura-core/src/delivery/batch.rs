//! Batching: an endpoint's messages grouped into one request, by size or delay.
//!
//! Each message waits in the outbox as a [`Batching`](crate::store::OutboxStage::Batching)
//! entry; the batch that takes them replaces them with one
//! [`Sending`](crate::store::OutboxStage::Sending) entry in one write,
//! so that a crash between the two neither loses nor doubles a message.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::mpsc;

use super::MessageId;
use super::deliver::deliver;
use super::dispatcher::{EndpointState, Shared};
use super::endpoint::Batching;
use crate::store::OutboxEntry;

/// Collects `queue` into batches of at most `max_size`, each sent at the latest `max_delay`
/// after its first message came, until the endpoint goes.
pub(crate) async fn run(
    shared: Arc<Shared>,
    endpoint: Arc<EndpointState>,
    mut queue: mpsc::UnboundedReceiver<OutboxEntry>,
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
        let taken: Vec<uuid::Uuid> = batch.iter().map(|q| q.id).collect();
        let entry = OutboxEntry::new(
            endpoint.id.clone(),
            MessageId::new().as_str(),
            batch.iter().flat_map(|q| q.messages.iter().cloned()).collect(),
            array(&batch),
        );
        if let Err(err) = shared.outbox.write_outbox(std::slice::from_ref(&entry), &taken).await {
            // Sent all the same: the messages stay in the outbox too, and go again after a
            // restart (at least once).
            shared.store_failed(&endpoint, &entry.delivery_id, &err);
        }
        let run = endpoint.run();
        if shared
            .spawn(deliver(
                shared.clone(),
                endpoint.clone(),
                entry,
                run,
                shared.first_wait(),
            ))
            .is_err()
        {
            return;
        }
    }
}

/// A batch's body: the JSON array of its messages' bodies, each already JSON.
fn array(batch: &[OutboxEntry]) -> Bytes {
    let size = batch.iter().map(|q| q.body.len() + 1).sum::<usize>() + 2;
    let mut body = BytesMut::with_capacity(size);
    body.put_u8(b'[');
    for (i, queued) in batch.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&queued.body);
    }
    body.put_u8(b']');
    body.freeze()
}
