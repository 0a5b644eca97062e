//! Outbound deliveries kept in the outbox: written before `send` answers, carried on by the
//! next dispatcher on the same store (a retry due later, a message waiting for its batch, an
//! attempt cut off by a shutdown), kept while an endpoint is disabled, dropped when it is
//! removed; and a store that cannot keep a message makes `send` fail instead of losing it.
//!
//! Against wiremock on 127.0.0.1 and a manual clock. The SQLite tests run everywhere; the
//! PostgreSQL one needs a server (`AURA_TEST_POSTGRES_URL`, which `.ci/run` sets).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "delivery_common/mod.rs"]
mod common;
#[cfg(feature = "store-postgres")]
mod postgres_schema;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::clock::ManualClock;
use aura_core::delivery::{
    AutoDisable, Batching, DeliveryEvent, MessageId, RetrySchedule, WEBHOOK_ID, WebhookDispatcher,
};
use aura_core::store::{MemoryStore, OutboxEntry, OutboxStage, OutboxStore};
use aura_core::{Error, ErrorKind, Result};
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::*;

/// A dispatcher on `clock` keeping its deliveries in `outbox`; no endpoint is ever disabled.
fn dispatcher_on(clock: &ManualClock, outbox: Arc<dyn OutboxStore>, schedule: RetrySchedule) -> WebhookDispatcher {
    WebhookDispatcher::builder()
        .clock(clock.shared())
        .guard(loopback())
        .schedule(schedule)
        .auto_disable(AutoDisable {
            failed_messages: None,
            failing_for: None,
        })
        .outbox(outbox)
        .build()
        .unwrap()
}

/// A receiver whose first answer takes far longer than any test (an attempt in flight).
async fn hanging_once_then(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    respond(&server, status, None).await;
    server
}

async fn outbox_of(outbox: &dyn OutboxStore, endpoint: &str) -> Vec<OutboxEntry> {
    outbox.outbox(endpoint).await.unwrap()
}

/// Waits (bounded, real time) until `server` has received `n` requests.
async fn until_received(server: &MockServer, n: usize) {
    for _ in 0..2_000 {
        if requests(server).await.len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{n} requests never came");
}

/// Waits (bounded, real time) until `endpoint`'s outbox is empty.
async fn until_empty(outbox: &dyn OutboxStore, endpoint: &str) {
    for _ in 0..2_000 {
        if outbox_of(outbox, endpoint).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the outbox of {endpoint} never emptied");
}

#[tokio::test]
async fn a_message_is_kept_before_send_answers_and_an_attempt_cut_off_is_made_again() {
    let outbox: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new();
    let slow = hanging_once_then(200).await;
    let first = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    first.add_endpoint(endpoint("ops", &slow)).await.unwrap();

    let id = first.send("invoice.paid", json!({ "n": 1 })).await.unwrap();
    let kept = outbox_of(outbox.as_ref(), "ops").await;
    assert_eq!(kept.len(), 1, "kept before send answered");
    assert_eq!((kept[0].messages.clone(), kept[0].attempts), (vec![id.to_string()], 0));
    assert_eq!(kept[0].delivery_id, id.as_str());
    assert_eq!(kept[0].stage, OutboxStage::Sending);
    let body: Value = serde_json::from_slice(&kept[0].body).unwrap();
    assert_eq!(body["data"], json!({ "n": 1 }));

    // The attempt is in flight when the dispatcher stops: the entry stays.
    until_received(&slow, 1).await;
    with_timeout(first.shutdown()).await;
    assert_eq!(outbox_of(outbox.as_ref(), "ops").await.len(), 1);

    // The next dispatcher on the store makes it, with the same webhook-id.
    let fast = MockServer::start().await;
    respond(&fast, 204, None).await;
    let second = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    let mut events = second.subscribe();
    second.add_endpoint(endpoint("ops", &fast)).await.unwrap();
    let (messages, attempts) = event(&mut events, delivered).await;
    assert_eq!((messages, attempts), (vec![id.clone()], 1));
    let received = requests(&fast).await;
    assert_eq!(received.len(), 1);
    assert_eq!(header(&received[0], WEBHOOK_ID), id.as_str());
    until_empty(outbox.as_ref(), "ops").await;
    with_timeout(second.shutdown()).await;
}

#[tokio::test]
async fn disabling_keeps_pending_deliveries_and_enabling_carries_them_on() {
    let outbox: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new();
    let server = hanging_once_then(200).await;
    let dispatcher = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    let mut events = dispatcher.subscribe();
    dispatcher.add_endpoint(endpoint("ops", &server)).await.unwrap();
    let id = dispatcher.send("a.b", json!({})).await.unwrap();
    until_received(&server, 1).await;

    dispatcher.set_enabled("ops", false).await.unwrap();
    assert_eq!(outbox_of(outbox.as_ref(), "ops").await.len(), 1, "kept while disabled");
    assert!(!dispatcher.stats("ops").unwrap().enabled);

    dispatcher.set_enabled("ops", true).await.unwrap();
    let (messages, _) = event(&mut events, delivered).await;
    assert_eq!(messages, vec![id]);
    until_empty(outbox.as_ref(), "ops").await;
    assert_eq!(requests(&server).await.len(), 2, "the cut-off attempt, then one more");
    with_timeout(dispatcher.shutdown()).await;
}

#[tokio::test]
async fn removing_an_endpoint_drops_what_the_outbox_kept_for_it() {
    let outbox: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let clock = ManualClock::new();
    let server = hanging_once_then(200).await;
    let dispatcher = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    dispatcher.add_endpoint(endpoint("ops", &server)).await.unwrap();
    dispatcher.add_endpoint(endpoint("other", &server)).await.unwrap();
    dispatcher.send("a.b", json!({})).await.unwrap();
    until_received(&server, 1).await;

    assert!(dispatcher.remove_endpoint("ops").await.unwrap());
    assert!(outbox_of(outbox.as_ref(), "ops").await.is_empty());
    assert!(!dispatcher.remove_endpoint("ops").await.unwrap(), "nothing left of it");
    // What a previous run kept for an endpoint not added since goes too.
    let left = OutboxEntry::new("gone", "msg_1", vec!["msg_1".to_owned()], b"{}".to_vec());
    outbox.write_outbox(&[left], &[]).await.unwrap();
    assert!(dispatcher.remove_endpoint("gone").await.unwrap());
    assert!(outbox_of(outbox.as_ref(), "gone").await.is_empty());
    with_timeout(dispatcher.shutdown()).await;
}

/// An outbox whose writes all fail (a full disk), reads answering nothing.
#[derive(Debug)]
struct FullDisk;

#[async_trait]
impl OutboxStore for FullDisk {
    async fn write_outbox(&self, _: &[OutboxEntry], _: &[Uuid]) -> Result<()> {
        Err(Error::internal("the disk is full"))
    }

    async fn outbox(&self, _: &str) -> Result<Vec<OutboxEntry>> {
        Ok(Vec::new())
    }

    async fn clear_outbox(&self, _: &str) -> Result<u64> {
        Err(Error::internal("the disk is full"))
    }
}

#[tokio::test]
async fn a_message_the_outbox_cannot_keep_fails_send_and_is_not_sent() {
    let server = MockServer::start().await;
    respond(&server, 204, None).await;
    let clock = ManualClock::new();
    let dispatcher = dispatcher_on(&clock, Arc::new(FullDisk), RetrySchedule::default());
    dispatcher.add_endpoint(endpoint("ops", &server)).await.unwrap();

    let err = dispatcher.send("a.b", json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(err.to_string().contains("disk is full"), "{err}");
    let err = dispatcher.remove_endpoint("ops").await.unwrap_err();
    assert!(err.to_string().contains("disk is full"), "{err}");
    with_timeout(dispatcher.shutdown()).await;
    assert!(requests(&server).await.is_empty(), "nothing sent that was not kept");
}

/// An outbox that keeps messages but cannot record what came of an attempt.
#[derive(Debug, Default)]
struct ForgetfulAfterFirst {
    inner: MemoryStore,
    writes: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl OutboxStore for ForgetfulAfterFirst {
    async fn write_outbox(&self, put: &[OutboxEntry], remove: &[Uuid]) -> Result<()> {
        if self.writes.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            return Err(Error::internal("the store went away"));
        }
        self.inner.write_outbox(put, remove).await
    }

    async fn outbox(&self, endpoint: &str) -> Result<Vec<OutboxEntry>> {
        self.inner.outbox(endpoint).await
    }

    async fn clear_outbox(&self, endpoint: &str) -> Result<u64> {
        self.inner.clear_outbox(endpoint).await
    }
}

#[tokio::test]
async fn an_attempt_whose_outcome_cannot_be_kept_is_told_and_the_delivery_goes_on() {
    let server = MockServer::start().await;
    respond(&server, 204, None).await;
    let clock = ManualClock::new();
    let outbox = Arc::new(ForgetfulAfterFirst::default());
    let dispatcher = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    let mut events = dispatcher.subscribe();
    dispatcher.add_endpoint(endpoint("ops", &server)).await.unwrap();
    let id = dispatcher.send("a.b", json!({})).await.unwrap();

    let (endpoint, delivery_id, error) = event(&mut events, |e| match e {
        DeliveryEvent::StoreFailed {
            endpoint,
            delivery_id,
            error,
        } => Some((endpoint.clone(), delivery_id.clone(), error.clone())),
        _ => None,
    })
    .await;
    assert_eq!((endpoint.as_str(), delivery_id.as_str()), ("ops", id.as_str()));
    assert!(error.contains("went away"), "{error}");
    assert_eq!(event(&mut events, delivered).await.0, vec![id]);
    with_timeout(dispatcher.shutdown()).await;
}

/// What the restart tests run on: a store opened afresh on the same file or database.
trait Reopen: Fn() -> std::pin::Pin<Box<dyn Future<Output = Arc<dyn OutboxStore>> + Send>> {}
impl<F: Fn() -> std::pin::Pin<Box<dyn Future<Output = Arc<dyn OutboxStore>> + Send>>> Reopen for F {}

/// A retry due in an hour, kept after the first attempt failed, is made by the next
/// dispatcher on the same store, when due, with the same webhook-id, as attempt 2.
async fn a_pending_retry_survives_a_restart(open: impl Reopen, close: impl AsyncFn(Arc<dyn OutboxStore>)) {
    let clock = ManualClock::new();
    let schedule = RetrySchedule::new([Duration::ZERO, Duration::from_secs(3_600)]).jitter(0.0);
    // Down at the first attempt; the retry (on the manual clock, at once) hangs until the
    // dispatcher stops, as a process would stop with its retry still to come.
    let down = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&down)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(600)))
        .mount(&down)
        .await;
    let store = open().await;
    let first = dispatcher_on(&clock, store.clone(), schedule.clone());
    first.add_endpoint(endpoint("ops", &down)).await.unwrap();
    let id = first.send("invoice.paid", json!({ "n": 7 })).await.unwrap();
    // The first attempt failed; the retry is kept before it is waited for.
    until_received(&down, 2).await;
    let kept = store.outbox("ops").await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].attempts, 1);
    let due_in = kept[0].due_at - chrono::Utc::now();
    assert!(due_in > chrono::Duration::minutes(59), "due in an hour, not {due_in}");
    with_timeout(first.shutdown()).await;
    drop(first);
    close(store).await;

    let up = MockServer::start().await;
    respond(&up, 204, None).await;
    let store = open().await;
    let second = dispatcher_on(&clock, store.clone(), schedule);
    let mut events = second.subscribe();
    let before = aura_core::clock::Clock::now(&clock);
    second.add_endpoint(endpoint("ops", &up)).await.unwrap();
    let (messages, attempts) = event(&mut events, delivered).await;
    assert_eq!((messages, attempts), (vec![id.clone()], 2));
    let waited = aura_core::clock::Clock::now(&clock) - before;
    assert!(waited > Duration::from_secs(3_500), "made when due, after {waited:?}");
    let sent = requests(&up).await;
    assert_eq!(header(&sent[0], WEBHOOK_ID), id.as_str());
    assert_eq!(header(&requests(&down).await[0], WEBHOOK_ID), id.as_str());
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(body["data"], json!({ "n": 7 }));
    until_empty(store.as_ref(), "ops").await;
    with_timeout(second.shutdown()).await;
    drop(second);
    close(store).await;
}

/// Messages waiting for their batch when the first dispatcher stops are batched by the next
/// one with the messages that come after.
async fn messages_waiting_for_a_batch_survive_a_restart(open: impl Reopen, close: impl AsyncFn(Arc<dyn OutboxStore>)) {
    let clock = ManualClock::new();
    let server = MockServer::start().await;
    respond(&server, 204, None).await;
    let batched = || endpoint("batched", &server).batch(Batching::new(3, Duration::from_secs(3_600)));
    let store = open().await;
    let first = dispatcher_on(&clock, store.clone(), RetrySchedule::default());
    first.add_endpoint(batched()).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(first.send("a.b", json!({ "n": n })).await.unwrap());
    }
    let kept = store.outbox("batched").await.unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|e| e.stage == OutboxStage::Batching));
    with_timeout(first.shutdown()).await;
    drop(first);
    close(store).await;
    assert!(requests(&server).await.is_empty());

    let store = open().await;
    let second = dispatcher_on(&clock, store.clone(), RetrySchedule::default());
    let mut events = second.subscribe();
    second.add_endpoint(batched()).await.unwrap();
    ids.push(second.send("a.b", json!({ "n": 2 })).await.unwrap());
    let (messages, _) = event(&mut events, delivered).await;
    assert_eq!(messages, ids);
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
    let ns: Vec<&Value> = body.as_array().unwrap().iter().map(|m| &m["data"]["n"]).collect();
    assert_eq!(ns, [&json!(0), &json!(1), &json!(2)]);
    until_empty(store.as_ref(), "batched").await;
    with_timeout(second.shutdown()).await;
    drop(second);
    close(store).await;
}

#[tokio::test]
async fn in_memory_a_pending_retry_survives_a_new_dispatcher() {
    let store: Arc<dyn OutboxStore> = Arc::new(MemoryStore::new());
    let open = move || {
        let store = store.clone();
        Box::pin(async move { store }) as std::pin::Pin<Box<dyn Future<Output = _> + Send>>
    };
    a_pending_retry_survives_a_restart(open.clone(), async |_| {}).await;
    messages_waiting_for_a_batch_survive_a_restart(open, async |_| {}).await;
}

#[cfg(feature = "store-sqlite")]
mod sqlite {
    use aura_core::store::SqliteStore;

    use super::*;

    fn reopen(dir: &tempfile::TempDir) -> impl Reopen + use<> {
        let path = dir.path().join("aura.db");
        move || {
            let path = path.clone();
            Box::pin(async move { Arc::new(SqliteStore::open(&path).await.unwrap()) as Arc<dyn OutboxStore> })
        }
    }

    /// Drops the last handle: the store's writer then closes the file (a second store may
    /// open it meanwhile, as a restarted process would).
    async fn close(store: Arc<dyn OutboxStore>) {
        drop(store);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pending_retry_survives_a_restart_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        a_pending_retry_survives_a_restart(reopen(&dir), close).await;
        // The endpoint's secret never reached the file, in any form.
        let mut bytes = Vec::new();
        for name in ["aura.db", "aura.db-wal"] {
            bytes.extend(std::fs::read(dir.path().join(name)).unwrap_or_default());
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(CANARY) && !text.contains(&secret()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn messages_waiting_for_a_batch_survive_a_restart_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        messages_waiting_for_a_batch_survive_a_restart(reopen(&dir), close).await;
    }
}

#[cfg(feature = "store-postgres")]
mod postgres {
    use super::*;

    use super::postgres_schema::Schema;

    fn reopen(schema: &Arc<Schema>) -> impl Reopen + use<> {
        let schema = schema.clone();
        move || {
            let schema = schema.clone();
            Box::pin(async move { Arc::new(schema.open().await) as Arc<dyn OutboxStore> })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs postgres: see .ci/run"]
    async fn a_pending_retry_survives_a_restart_on_postgres() {
        let schema = Arc::new(Schema::new());
        a_pending_retry_survives_a_restart(reopen(&schema), async |_| {}).await;
        messages_waiting_for_a_batch_survive_a_restart(reopen(&schema), async |_| {}).await;
    }
}

#[tokio::test]
async fn an_endpoint_added_disabled_batches_at_once_and_delivers_once_enabled() {
    let outbox: Arc<MemoryStore> = Arc::new(MemoryStore::new());
    let server = MockServer::start().await;
    respond(&server, 204, None).await;
    // What a previous run left: a delivery due, and two messages waiting for their batch.
    let alone = MessageId::new();
    let due = OutboxEntry::new("ops", alone.as_str(), vec![alone.to_string()], br#"{"n":0}"#.to_vec());
    let waiting: Vec<OutboxEntry> = (1..3)
        .map(|n| {
            let id = MessageId::new();
            OutboxEntry::new(
                "ops",
                id.as_str(),
                vec![id.to_string()],
                format!("{{\"n\":{n}}}").into_bytes(),
            )
            .stage(OutboxStage::Batching)
        })
        .collect();
    outbox.write_outbox(&[due], &[]).await.unwrap();
    outbox.write_outbox(&waiting, &[]).await.unwrap();

    let clock = ManualClock::new();
    let dispatcher = dispatcher_on(&clock, outbox.clone(), RetrySchedule::default());
    let mut events = dispatcher.subscribe();
    dispatcher
        .add_endpoint(
            endpoint("ops", &server)
                .batch(Batching::new(2, Duration::from_secs(3_600)))
                .enabled(false),
        )
        .await
        .unwrap();
    // The batch forms, but nothing goes out while the endpoint is disabled.
    for _ in 0..2_000 {
        if outbox_of(outbox.as_ref(), "ops")
            .await
            .iter()
            .all(|e| e.stage == OutboxStage::Sending)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let kept = outbox_of(outbox.as_ref(), "ops").await;
    assert_eq!(kept.len(), 2, "the due delivery and the batch: {kept:?}");
    assert!(requests(&server).await.is_empty());

    dispatcher.set_enabled("ops", true).await.unwrap();
    let mut delivered_messages = Vec::new();
    for _ in 0..2 {
        delivered_messages.extend(event(&mut events, delivered).await.0);
    }
    delivered_messages.sort();
    let mut expected: Vec<MessageId> = std::iter::once(alone)
        .chain(waiting.iter().map(|e| MessageId::from_string(e.messages[0].clone())))
        .collect();
    expected.sort();
    assert_eq!(delivered_messages, expected);
    until_empty(outbox.as_ref(), "ops").await;
    assert_eq!(requests(&server).await.len(), 2);
    with_timeout(dispatcher.shutdown()).await;
}
