//! What the trigger runtime's test binaries share: waiting for an event.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // Each binary uses its part.

use std::time::Duration;

use aura_core::runtime::{TriggerEvent, TriggerEventKind};
use tokio::sync::broadcast;

/// The next event that `wanted` picks (ten seconds at most: a guard against a hang, not a
/// timing assertion).
pub(crate) async fn next(
    events: &mut broadcast::Receiver<TriggerEvent>,
    wanted: impl Fn(&TriggerEventKind) -> bool,
) -> TriggerEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if wanted(&event.kind) {
                return event;
            }
        }
    })
    .await
    .expect("the event came")
}
