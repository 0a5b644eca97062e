//! The [`OutboxStore`] behaviour suite: entries read back exactly (bodies are bytes), replaced
//! by id, removed and kept in one write, listed per endpoint oldest first, cleared per
//! endpoint. [`outbox_behavior!`](crate::outbox_behavior) writes one `#[tokio::test]` per
//! check.

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::any::Any;
use std::sync::Arc;

use aura_core::store::{OutboxEntry, OutboxStage, OutboxStore};

/// A fresh, empty outbox under test.
pub struct OutboxFixture {
    outbox: Arc<dyn OutboxStore>,
    _guard: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for OutboxFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxFixture").finish_non_exhaustive()
    }
}

impl OutboxFixture {
    /// A fixture over `outbox`.
    pub fn new(outbox: Arc<dyn OutboxStore>) -> Self {
        Self { outbox, _guard: None }
    }

    /// Keeps `guard` alive as long as the fixture (a temporary directory holding the file …).
    #[must_use]
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }
}

/// Writes one `#[tokio::test]` per check of [`behavior::outbox`](crate::behavior::outbox),
/// each on the fixture the expression (a future of an
/// [`OutboxFixture`](crate::behavior::outbox::OutboxFixture)) makes afresh; attributes in
/// front go on every test, as for [`store_behavior!`](crate::store_behavior).
#[macro_export]
macro_rules! outbox_behavior {
    (@run [$($attrs:tt)*] $fixture:expr; $check:ident $(, $rest:ident)* $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attrs)*
        async fn $check() {
            let fixture: $crate::behavior::outbox::OutboxFixture = $fixture.await;
            $crate::behavior::outbox::$check(&fixture).await;
        }
        $crate::outbox_behavior!(@run [$($attrs)*] $fixture; $($rest),*);
    };
    (@run [$($attrs:tt)*] $fixture:expr; $(,)?) => {};
    (@attrs [$($attrs:tt)*] #[$attr:meta] $($rest:tt)*) => {
        $crate::outbox_behavior!(@attrs [$($attrs)* #[$attr]] $($rest)*);
    };
    (@attrs [$($attrs:tt)*] @each $fixture:expr; $($check:ident),* $(,)?) => {
        $crate::outbox_behavior!(@run [$($attrs)*] $fixture; $($check),*);
    };
    (@attrs [$($attrs:tt)*] $fixture:expr) => {
        $crate::outbox_behavior!(@run [$($attrs)*] $fixture;
            outbox_entries_read_back_exactly_oldest_first_per_endpoint,
            an_outbox_entry_put_again_is_replaced,
            outbox_removes_and_puts_are_one_write,
            clearing_an_outbox_takes_only_that_endpoints_entries,
        );
    };
    ($($input:tt)*) => {
        $crate::outbox_behavior!(@attrs [] $($input)*);
    };
}

/// An entry to `endpoint` whose body is not UTF-8 and carries a quote, a NUL and an accent.
fn entry(endpoint: &str, n: u8) -> OutboxEntry {
    let message = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let mut body = format!("{{\"n\":{n},\"q\":\"é \\\"x\\\"\"}}").into_bytes();
    body.extend([0, 0xff, n]);
    OutboxEntry::new(endpoint, message.as_str(), vec![message.clone()], body)
}

/// Entries read back exactly as kept, oldest first, each only under its endpoint.
pub async fn outbox_entries_read_back_exactly_oldest_first_per_endpoint(f: &OutboxFixture) {
    assert!(f.outbox.outbox("ops").await.unwrap().is_empty());
    let first = entry("ops", 1);
    let other = entry("billing", 2);
    let mut batched = entry("ops", 3).stage(OutboxStage::Batching);
    batched.attempts = 4;
    batched.messages.push("msg_2".to_owned());
    f.outbox
        .write_outbox(&[first.clone(), other.clone()], &[])
        .await
        .unwrap();
    f.outbox
        .write_outbox(std::slice::from_ref(&batched), &[])
        .await
        .unwrap();
    assert_eq!(f.outbox.outbox("ops").await.unwrap(), [first, batched]);
    assert_eq!(f.outbox.outbox("billing").await.unwrap(), [other]);
    assert!(f.outbox.outbox("op").await.unwrap().is_empty(), "no prefix match");
    f.outbox.write_outbox(&[], &[]).await.unwrap();
}

/// Put again with the same id, an entry is replaced (its attempts, due time and stage).
pub async fn an_outbox_entry_put_again_is_replaced(f: &OutboxFixture) {
    let first = entry("ops", 1);
    f.outbox.write_outbox(std::slice::from_ref(&first), &[]).await.unwrap();
    let mut retried = first.clone();
    retried.attempts = 2;
    retried.due_at += chrono::Duration::seconds(300);
    f.outbox
        .write_outbox(std::slice::from_ref(&retried), &[])
        .await
        .unwrap();
    assert_eq!(f.outbox.outbox("ops").await.unwrap(), [retried.clone()]);
    // Twice in one write: the later counts.
    let mut later = retried.clone();
    later.attempts = 3;
    f.outbox.write_outbox(&[retried, later.clone()], &[]).await.unwrap();
    assert_eq!(f.outbox.outbox("ops").await.unwrap(), [later]);
}

/// Removing some entries and keeping others is one write: a batch replacing its messages.
pub async fn outbox_removes_and_puts_are_one_write(f: &OutboxFixture) {
    let queued: Vec<OutboxEntry> = (0..3).map(|n| entry("ops", n).stage(OutboxStage::Batching)).collect();
    f.outbox.write_outbox(&queued, &[]).await.unwrap();
    let batch = OutboxEntry::new(
        "ops",
        "msg_batch",
        queued.iter().flat_map(|q| q.messages.clone()).collect(),
        b"[1,2,3]".to_vec(),
    );
    let taken: Vec<uuid::Uuid> = queued.iter().map(|q| q.id).collect();
    f.outbox
        .write_outbox(std::slice::from_ref(&batch), &taken)
        .await
        .unwrap();
    assert_eq!(f.outbox.outbox("ops").await.unwrap(), std::slice::from_ref(&batch));
    // An unknown id is no error; removing the last leaves nothing.
    f.outbox
        .write_outbox(&[], &[uuid::Uuid::now_v7(), batch.id])
        .await
        .unwrap();
    assert!(f.outbox.outbox("ops").await.unwrap().is_empty());
}

/// Clearing an endpoint's outbox removes its entries, says how many, and leaves the others.
pub async fn clearing_an_outbox_takes_only_that_endpoints_entries(f: &OutboxFixture) {
    let mine: Vec<OutboxEntry> = (0..3).map(|n| entry("ops", n)).collect();
    let other = entry("billing", 9);
    f.outbox.write_outbox(&mine, &[]).await.unwrap();
    f.outbox.write_outbox(std::slice::from_ref(&other), &[]).await.unwrap();
    assert_eq!(f.outbox.clear_outbox("ops").await.unwrap(), 3);
    assert!(f.outbox.outbox("ops").await.unwrap().is_empty());
    assert_eq!(f.outbox.outbox("billing").await.unwrap(), [other]);
    assert_eq!(f.outbox.clear_outbox("ops").await.unwrap(), 0);
}
