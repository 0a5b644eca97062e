//! The stream trigger under the real trigger runtime.

use super::triggers::{add, pending};
use super::*;

// ---------------------------------------------------------------------------------------------
// the stream trigger under the trigger runtime
// ---------------------------------------------------------------------------------------------

/// The next trigger event `wanted` picks (ten seconds at most: a guard against a hang).
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<aura_core::runtime::TriggerEvent>,
    wanted: impl Fn(&aura_core::runtime::TriggerEventKind) -> bool,
) -> aura_core::runtime::TriggerEventKind {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if wanted(&event.kind) {
                return event.kind;
            }
        }
    })
    .await
    .expect("the trigger event came")
}

/// The `n` field of every execution's trigger data.
async fn started(store: &dyn aura_core::store::ExecutionStore, scenario: &str) -> Vec<String> {
    let mut out = Vec::new();
    let page = store
        .list(scenario, aura_core::store::PageRequest::first(100))
        .await
        .unwrap();
    for summary in page.items {
        let record = store.get(summary.id).await.unwrap().unwrap();
        out.push(record.trigger["fields"]["n"].as_str().unwrap().to_owned());
    }
    out.sort();
    out
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn under_the_runtime_a_failed_commit_redelivers_and_each_entry_runs_once() {
    use aura_core::runtime::{TriggerEventKind, TriggerRuntime};
    use aura_testkit::{HookedStore, StoreCall};

    let stream = unique("runtime");
    let registry = registry().await;
    add(&registry, &stream, 1).await;

    let memory = Arc::new(aura_core::store::MemoryStore::new());
    let commits = Arc::new(AtomicU64::new(0));
    let counted = commits.clone();
    // The second poll's commit fails: the process "dies" after XREADGROUP delivered entry 2
    // and before its execution (and the cursor acknowledging it) were stored.
    let store = Arc::new(HookedStore::new(memory.clone(), move |call| match call {
        StoreCall::CommitPoll(_) if counted.fetch_add(1, Ordering::SeqCst) == 1 => {
            Err(aura_core::Error::unavailable("the process stopped here"))
        }
        _ => Ok(()),
    }));
    let connections = Arc::new(aura_core::connection::Connections::new());
    connections.insert_record(ConnectionRecord::new("redis", "cache", good()).with_id("cache"));
    let clock = aura_core::clock::ManualClock::new();
    let engine = Engine::builder(registry.clone())
        .store(store)
        .connections(connections)
        .clock(clock.shared())
        .build();
    let triggers = TriggerRuntime::new(engine);
    let mut events = triggers.subscribe();
    let yaml = format!(
        r#"
id: stream-runtime
name: Stream entries
nodes:
  - id: entry
    kind: trigger
    connection: cache
    config: {{ trigger: redis.stream, poll: {{ every_secs: 60, start: all, params: {{ stream: "{stream}", group: g, start: all }} }} }}
    next: [note]
  - {{ id: note, kind: set, input: {{ n: "{{{{ trigger.fields.n }}}}" }} }}
"#
    );
    triggers.deploy(Scenario::from_yaml(&yaml).unwrap()).await.unwrap();
    let polled = |k: &TriggerEventKind| matches!(k, TriggerEventKind::Polled { .. });

    // Poll 1: entry 1, stored with its cursor.
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 1, more: false }
    );
    assert_eq!(started(memory.as_ref(), "stream-runtime").await, ["1"]);
    assert_eq!(pending(&stream, "g").await, 1, "acknowledged by the next poll");

    // Poll 2: entry 1 acknowledged, entry 2 delivered, and the commit fails.
    add(&registry, &stream, 2).await;
    clock.advance(Duration::from_secs(60));
    let failed = next_event(&mut events, |k| matches!(k, TriggerEventKind::Failed { .. })).await;
    let TriggerEventKind::Failed { retry_in, .. } = failed else {
        unreachable!()
    };
    assert_eq!(started(memory.as_ref(), "stream-runtime").await, ["1"]);
    assert_eq!(pending(&stream, "g").await, 1, "entry 2 pending, never acknowledged");

    // Poll 3 (from the stored cursor, the one before): entry 2 again, now stored; a
    // redelivery asks for the next poll at once.
    clock.advance(retry_in);
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 1, more: true }
    );
    // Poll 4, at once: entry 2 acknowledged, nothing new.
    assert_eq!(
        next_event(&mut events, polled).await,
        TriggerEventKind::Polled { new: 0, more: false }
    );
    triggers.shutdown().await;
    assert_eq!(
        started(memory.as_ref(), "stream-runtime").await,
        ["1", "2"],
        "each entry once"
    );
    assert_eq!(pending(&stream, "g").await, 0);
    assert!(commits.load(Ordering::SeqCst) >= 4);
}
