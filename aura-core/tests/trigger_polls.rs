//! Polls driven by a manual clock: no flood on first activation, dedupe of overlapping polls,
//! a crash between the poll and the enqueue, errors backing off and reported.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aura_core::clock::ManualClock;
use aura_core::engine::Engine;
use aura_core::runtime::TriggerEventKind;
use aura_core::runtime::TriggerRuntime;
use aura_core::scenario::Scenario;
use aura_core::store::{ExecutionStore, MemoryStore, PageRequest};
use aura_core::{Error, Registry};
use aura_testkit::{Failure, HookedStore, MockApp, MockPolling, StoreCall};
use serde_json::{Value, json};

mod trigger_common;
use trigger_common::next;

fn scenario(start: &str) -> Scenario {
    Scenario::from_yaml(&format!(
        r#"
id: leads
name: Leads
nodes:
  - {{ id: new, kind: trigger, config: {{ trigger: crm.new_leads, poll: {{ every_secs: 60, start: {start} }} }}, next: [note] }}
  - {{ id: note, kind: set, input: {{ email: "{{{{ trigger.email }}}}" }} }}
"#
    ))
    .unwrap()
}

fn lead(id: &str) -> (String, Value) {
    (id.to_owned(), json!({ "email": format!("{id}@x.test") }))
}

fn runtime(store: Arc<dyn ExecutionStore>, clock: &ManualClock, polling: &MockPolling) -> TriggerRuntime {
    let registry = Registry::new();
    registry.register(MockApp::new("crm").polling(polling.clone())).unwrap();
    let engine = Engine::builder(Arc::new(registry))
        .store(store)
        .clock(clock.shared())
        .build();
    TriggerRuntime::new(engine)
}

fn polled(kind: &TriggerEventKind) -> bool {
    matches!(kind, TriggerEventKind::Polled { .. })
}

async fn emails(store: &dyn ExecutionStore) -> Vec<String> {
    let mut out = Vec::new();
    for summary in store.list("leads", PageRequest::first(100)).await.unwrap().items {
        let record = store.get(summary.id).await.unwrap().unwrap();
        out.push(record.trigger["email"].as_str().unwrap().to_owned());
    }
    out.sort();
    out
}

#[tokio::test]
async fn the_first_poll_marks_what_is_there_and_later_ones_start_only_new_items() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let polling = MockPolling::new("new_leads").page([lead("a"), lead("b")]);
    let triggers = runtime(store.clone(), &clock, &polling);
    let mut events = triggers.subscribe();
    triggers.deploy(scenario("now")).await.unwrap();
    let first = next(&mut events, polled).await;
    assert_eq!(first.kind, TriggerEventKind::Polled { new: 0, more: false });
    assert!(emails(store.as_ref()).await.is_empty(), "no flood");

    // The next page overlaps the last one (b again) and brings c.
    let _ = polling.clone().page([lead("b"), lead("c")]);
    clock.advance(Duration::from_secs(60));
    let second = next(&mut events, polled).await;
    assert_eq!(second.kind, TriggerEventKind::Polled { new: 1, more: false });
    triggers.shutdown().await;
    assert_eq!(emails(store.as_ref()).await, ["c@x.test"]);
    assert_eq!(polling.cursors()[..2], [None, Some(1)]);
}

#[tokio::test]
async fn a_first_poll_may_start_the_latest_items_and_pages_follow_at_once() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let polling = MockPolling::new("new_leads")
        .page([lead("a"), lead("b")])
        .page([lead("c"), lead("d"), lead("e")]);
    let triggers = runtime(store.clone(), &clock, &polling);
    let mut events = triggers.subscribe();
    triggers.deploy(scenario("{ last: 2 }")).await.unwrap();
    // Two pages, the second at once (`more`), without the clock moving.
    assert_eq!(
        next(&mut events, polled).await.kind,
        TriggerEventKind::Polled { new: 0, more: true }
    );
    assert_eq!(
        next(&mut events, polled).await.kind,
        TriggerEventKind::Polled { new: 2, more: false }
    );
    triggers.shutdown().await;
    assert_eq!(emails(store.as_ref()).await, ["d@x.test", "e@x.test"]);
}

#[tokio::test]
async fn a_crash_between_the_poll_and_the_enqueue_loses_nothing_and_repeats_nothing() {
    let clock = ManualClock::new();
    let memory = Arc::new(MemoryStore::new());
    let commits = Arc::new(AtomicUsize::new(0));
    let counted = commits.clone();
    // The first commit fails: the process "dies" between the poll and its commit.
    let store = Arc::new(HookedStore::new(memory.clone(), move |call| match call {
        StoreCall::CommitPoll(_) if counted.fetch_add(1, Ordering::SeqCst) == 0 => {
            Err(Error::unavailable("the process stopped here"))
        }
        _ => Ok(()),
    }));
    let polling = MockPolling::new("new_leads").page([lead("a"), lead("b")]);
    let triggers = runtime(store, &clock, &polling);
    let mut events = triggers.subscribe();
    triggers.deploy(scenario("all")).await.unwrap();
    let failed = next(&mut events, |k| matches!(k, TriggerEventKind::Failed { .. })).await;
    let TriggerEventKind::Failed { retry_in, failures, .. } = failed.kind else {
        unreachable!()
    };
    assert_eq!(failures, 1);
    assert!(
        emails(memory.as_ref()).await.is_empty(),
        "nothing of the failed commit was kept"
    );

    clock.advance(retry_in);
    assert_eq!(
        next(&mut events, polled).await.kind,
        TriggerEventKind::Polled { new: 2, more: false }
    );
    // Polled again later: the cursor moved with the commit, nothing repeats.
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        next(&mut events, polled).await.kind,
        TriggerEventKind::Polled { new: 0, more: false }
    );
    triggers.shutdown().await;
    assert_eq!(emails(memory.as_ref()).await, ["a@x.test", "b@x.test"]);
    // The retry asked from the same cursor as the failed poll.
    assert_eq!(polling.cursors()[..3], [None, None, Some(1)]);
}

#[tokio::test]
async fn poll_errors_back_off_and_are_reported() {
    let (store, clock) = (Arc::new(MemoryStore::new()), ManualClock::new());
    let polling = MockPolling::new("new_leads").page([lead("a")]);
    polling
        .fail_next(Failure::kind(aura_core::ErrorKind::Unavailable))
        .fail_next(Failure::kind(aura_core::ErrorKind::Unavailable));
    let triggers = runtime(store.clone(), &clock, &polling);
    let mut events = triggers.subscribe();
    triggers.deploy(scenario("all")).await.unwrap();
    let mut waits = Vec::new();
    for n in 1..=2 {
        let TriggerEventKind::Failed {
            retry_in,
            failures,
            error,
            ..
        } = next(&mut events, |k| matches!(k, TriggerEventKind::Failed { .. }))
            .await
            .kind
        else {
            unreachable!()
        };
        assert_eq!((failures, error), (n, "unavailable"));
        waits.push(retry_in);
        clock.advance(retry_in);
    }
    assert_eq!(
        next(&mut events, polled).await.kind,
        TriggerEventKind::Polled { new: 1, more: false }
    );
    triggers.shutdown().await;
    // Jittered, but within the doubling's bounds: 1 s then 2 s, at most doubled by jitter.
    assert!(
        waits[0] >= Duration::from_secs(1) && waits[0] <= Duration::from_secs(2),
        "{waits:?}"
    );
    assert!(
        waits[1] >= Duration::from_secs(2) && waits[1] <= Duration::from_secs(4),
        "{waits:?}"
    );
    assert_eq!(emails(store.as_ref()).await, ["a@x.test"]);
}

#[tokio::test]
async fn a_poll_without_an_app_polling_trigger_does_not_compile() {
    let engine = Engine::builder(Arc::new(Registry::new())).build();
    let yaml = r#"
id: bad
name: Bad
nodes:
  - { id: new, kind: trigger, config: { poll: { every_secs: 60 } } }
"#;
    let err = engine.deploy(Scenario::from_yaml(yaml).unwrap()).await.unwrap_err();
    let text = format!("{err}");
    assert!(text.contains("/config/poll"), "{text}");
}
