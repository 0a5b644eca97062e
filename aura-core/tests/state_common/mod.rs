//! What the state tests share across stores: the connection lifecycle whose audit trail must
//! never hold the secret, the forms a leaked secret could take, and the engine's versioned
//! re-runs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a part.

use std::sync::Arc;

use aura_core::app::AuthMethod;
use aura_core::connection::{
    ApiKeyPlacement, ConnectionManager, ConnectionUpdate, Credentials, EncryptedStore, EncryptionKey, KeyRing,
    NewConnection, SealedStore,
};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{
    AuditAction, AuditEntry, AuditLog, Auditor, ExecutionStatus, ExecutionStore, PageRequest, ScenarioStore,
};
use aura_core::{ErrorKind, Registry};
use aura_testkit::{Failure, MockAction, MockApp};
use base64::Engine as _;
use serde_json::json;

/// The secret put in credentials: characters that every encoding changes.
pub(crate) const CANARY: &str = "sk_live_CANARY+/\"&= é_4f1c";
/// The secret that replaces it.
pub(crate) const CANARY_2: &str = "sk_live_SECOND+/\"&= é_9a7b";

/// Every form `secret` could take in a record: raw, JSON-escaped, percent-encoded (form and
/// strict), and base64 (standard and URL-safe) at each of the three byte alignments.
pub(crate) fn leaked_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let json = serde_json::to_string(secret).unwrap();
    forms.push(json.trim_matches('"').to_owned());
    forms.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    forms.push(
        secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect(),
    );
    let bytes = secret.as_bytes();
    for engine in [
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for offset in 0..3usize {
            let mut padded = vec![0u8; offset];
            padded.extend_from_slice(bytes);
            let text = engine.encode(&padded);
            // The characters made of the secret's bits only.
            let first = (8 * offset).div_ceil(6);
            let last = (8 * (offset + bytes.len()) - 6) / 6;
            forms.push(text[first..=last].to_owned());
        }
    }
    forms
}

/// Fails naming the form when `haystack` holds any form of either canary.
pub(crate) fn assert_no_canary(haystack: &[u8], where_: &str) {
    for secret in [CANARY, CANARY_2] {
        for form in leaked_forms(secret) {
            assert!(
                !haystack.windows(form.len()).any(|w| w == form.as_bytes()),
                "{where_} holds the secret as {form:?}"
            );
        }
    }
}

/// Runs every audited operation on one connection (create, update, replace the credentials,
/// disconnect, rotate the key, delete), through a manager over `backend` that audits to `log`,
/// and checks the trail: one entry each, newest first, naming the actors, never the secret.
pub(crate) async fn audited_lifecycle<B: SealedStore + 'static>(backend: B, log: Arc<dyn AuditLog>) -> Vec<AuditEntry> {
    let ring = KeyRing::new("2026-01", EncryptionKey::generate().unwrap());
    let auditor = Auditor::new(log.clone()).actor("ops-rotation");
    let store = Arc::new(EncryptedStore::new(backend, Arc::new(ring.clone())).with_audit(auditor));
    let registry = Arc::new(Registry::new());
    registry
        .register(MockApp::new("crm").auth(AuthMethod::ApiKey {
            placement: ApiKeyPlacement::header("X-Api-Key"),
        }))
        .unwrap();
    let manager = ConnectionManager::builder(registry)
        .store(store.clone())
        .audit(log.clone())
        .actor("alice")
        .build();
    let key = |secret: &str| Credentials::api_key(secret, ApiKeyPlacement::header("X-Api-Key"));
    let record = manager
        .create(NewConnection::new("crm", "Sales", key(CANARY)).skip_test())
        .await
        .unwrap();
    let id = record.id.clone();
    manager.update(&id, ConnectionUpdate::name("Sales EU")).await.unwrap();
    manager.replace_credentials(&id, key(CANARY_2), false).await.unwrap();
    manager.disconnect(&id).await.unwrap();
    ring.add("2026-07", EncryptionKey::generate().unwrap()).unwrap();
    ring.set_current("2026-07").unwrap();
    assert_eq!(store.rotate_key().await.unwrap().rotated, 1);
    manager.acting_as("bob").delete(&id).await.unwrap();

    let trail = log.list_audit(PageRequest::first(100)).await.unwrap().items;
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::ConnectionDeleted,
            AuditAction::KeyRotated,
            AuditAction::ConnectionDisconnected,
            AuditAction::CredentialsReplaced,
            AuditAction::ConnectionUpdated,
            AuditAction::ConnectionCreated,
        ],
        "one entry per operation, newest first"
    );
    let actors: Vec<&str> = trail.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["bob", "ops-rotation", "alice", "alice", "alice", "alice"]);
    for e in &trail {
        if e.action == AuditAction::KeyRotated {
            assert_eq!(e.connection_id, None);
            assert_eq!(e.detail["key_id"], "2026-07");
        } else {
            assert_eq!(e.connection_id.as_deref(), Some(id.as_str()));
            assert_eq!(e.app_id.as_deref(), Some("crm"));
        }
        let text = serde_json::to_string(e).unwrap();
        assert_no_canary(text.as_bytes(), "an audit entry's JSON");
        assert_no_canary(format!("{e:?}").as_bytes(), "an audit entry's Debug");
    }
    assert_eq!(trail[3].detail, json!({ "version": 3, "credentials": "api_key" }));
    trail
}

fn versioned(version: u32, text: &str) -> Scenario {
    Scenario::builder("greet", "Greet")
        .version(version)
        .node(NodeBuilder::trigger("t").next(["call"]))
        .node(NodeBuilder::action("call", "svc.call").next(["say"]))
        .node(NodeBuilder::set("say", json!({ "text": text })))
        .build()
}

/// An engine over `store` (as execution and scenario store) with the `svc.call` mock.
pub(crate) fn engine<S: ExecutionStore + ScenarioStore>(store: Arc<S>, call: &MockAction) -> Engine {
    let registry = Arc::new(Registry::new());
    registry.register(MockApp::new("svc").action(call.clone())).unwrap();
    Engine::builder(registry).store(store.clone()).scenarios(store).build()
}

/// A re-run runs the version its execution recorded, not the one deployed since; a version
/// deployed again with another definition is refused, naming it; `load_deployed` brings the
/// latest back into a new engine on the same store.
pub(crate) async fn reruns_run_the_recorded_version<S: ExecutionStore + ScenarioStore>(store: Arc<S>) {
    let call = MockAction::new("call")
        .returns(json!({ "ok": true }))
        .fail_times(1, Failure::kind(ErrorKind::InvalidInput));
    let engine = engine(store.clone(), &call);
    let v1 = engine.deploy(versioned(1, "version one")).await.unwrap();
    assert_eq!(
        engine.deploy(versioned(1, "version one")).await.unwrap().version(),
        1,
        "the same definition again is fine"
    );
    let failed = engine.execute(&v1, json!({})).await.unwrap();
    assert_eq!(failed.status, ExecutionStatus::Failed, "the first call fails");
    assert_eq!(failed.scenario_version, 1);

    let v2 = engine.deploy(versioned(2, "version two")).await.unwrap();
    let err = engine.deploy(versioned(1, "changed")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(err.context_value("scenario"), Some("greet"));
    assert_eq!(err.context_value("version"), Some("1"));
    assert_eq!(
        engine.plan("greet").unwrap().version(),
        2,
        "the refused deploy changed nothing"
    );

    let rerun = engine.rerun(failed.id).await.unwrap().wait().await.unwrap();
    assert_eq!(rerun.status, ExecutionStatus::Completed, "{:?}", rerun.error);
    assert_eq!(rerun.scenario_version, 1, "the re-run ran the recorded version");
    assert_eq!(rerun.output, Some(json!({ "text": "version one" })));
    let latest = engine.execute(&v2, json!({})).await.unwrap();
    assert_eq!(latest.output, Some(json!({ "text": "version two" })));

    let restarted = self::engine(store.clone(), &call);
    assert!(restarted.plan("greet").is_none());
    let loaded = restarted.load_deployed().await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(
        restarted.plan("greet").unwrap().version(),
        2,
        "the latest is deployed again"
    );
    assert_eq!(store.scenario_versions("greet").await.unwrap(), [1, 2]);
}
