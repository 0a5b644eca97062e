//! Trigger state, the audit trail and deployed scenarios on the in-memory store: the
//! behaviour suites (aura-testkit), the audit trail of a connection's life, versioned re-runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

#[path = "state_common/mod.rs"]
mod common;

use std::sync::Arc;

use aura_core::connection::MemorySealedStore;
use aura_core::store::{AuditLog, MemoryStore, TriggerKey, TriggerStateStore};
use aura_testkit::behavior::audit::AuditFixture;
use aura_testkit::behavior::scenarios::ScenarioFixture;
use aura_testkit::behavior::triggers::TriggerFixture;

mod triggers {
    use super::*;

    aura_testkit::trigger_state_behavior!(async { TriggerFixture::new(Arc::new(MemoryStore::new())) });
}

mod outbox {
    use super::*;
    use aura_testkit::behavior::outbox::OutboxFixture;

    aura_testkit::outbox_behavior!(async { OutboxFixture::new(Arc::new(MemoryStore::new())) });
}

mod audit {
    use super::*;

    aura_testkit::audit_behavior!(async { AuditFixture::new(Arc::new(MemoryStore::new())) });
}

mod scenarios {
    use super::*;

    aura_testkit::scenario_store_behavior!(async { ScenarioFixture::new(Arc::new(MemoryStore::new())) });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_records_a_connections_life_and_never_its_secret() {
    let log = Arc::new(MemoryStore::new());
    common::audited_lifecycle(MemorySealedStore::new(), log.clone() as Arc<dyn AuditLog>).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reruns_run_the_recorded_version() {
    common::reruns_run_the_recorded_version(Arc::new(MemoryStore::new())).await;
}

/// The memory store keeps at most its capacity of dedupe keys: past it, the soonest to expire
/// go first.
#[tokio::test]
async fn the_memory_store_bounds_its_dedupe_keys() {
    let store = MemoryStore::new().with_dedupe_capacity(3);
    let key = TriggerKey::new("s", "poll");
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    for (i, k) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let until = now + chrono::Duration::minutes(i as i64 + 1);
        store.remember(&key, &[k.to_owned()], until, now).await.unwrap();
    }
    let again = ["a", "b", "c", "d"].map(str::to_owned);
    let until = now + chrono::Duration::hours(1);
    // `a` (the soonest to expire) went to make room for `d`.
    assert_eq!(
        store.remember(&key, &again, until, now).await.unwrap(),
        [true, false, false, false]
    );
}
