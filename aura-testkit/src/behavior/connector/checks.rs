//! The checks of the connector suite, one public function each (see the module's table).

// A check fails by panicking with what went wrong, as a test does.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use aura_core::connection::{
    Connection, ConnectionId, ConnectionManager, ConnectionRecord, Connections, Credentials, NewConnection,
    StaticConnection,
};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::{ExecutionRecord, ExecutionStatus};
use aura_core::trigger::{TriggerItem, TriggerKind, TriggerParams};
use aura_core::{Context, Error, ErrorKind, Registry};
use serde_json::{Value, json};

use super::leaks::{Capture, forms, secrets_of};
use super::{ConnectorFixture, PollingCase};

/// How many polls one drain may take while the trigger says `more` (a bound, so that a trigger
/// that always says `more` fails the check instead of hanging it).
const MAX_POLLS: usize = 50;

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

/// The manifest validates; the app registers (every action's and trigger's schemas compile);
/// actions and triggers have names; the fixture's credentials fit the declared auth methods and
/// its actions and trigger exist.
pub async fn manifest_and_schemas_are_valid(f: &ConnectorFixture) {
    let manifest = f.app.manifest();
    manifest
        .validate()
        .unwrap_or_else(|e| panic!("the manifest of `{}` is invalid: {e}", manifest.id));
    assert!(
        !manifest.description.trim().is_empty(),
        "`{}` has no description",
        manifest.id
    );
    let registry = registry(f);
    let app = registry.app(&manifest.id).await.expect("the app is registered");
    assert!(app.actions().next().is_some(), "`{}` has no action", manifest.id);
    for action in app.actions() {
        let m = action.manifest();
        assert!(
            !m.name.trim().is_empty(),
            "action `{}` has no display name",
            action.reference()
        );
        assert!(
            action.input_schema().as_json().is_object() || action.input_schema().as_json().is_boolean(),
            "action `{}`: its input schema is not a schema",
            action.reference()
        );
    }
    for trigger in app.triggers() {
        assert!(
            !trigger.manifest().name.trim().is_empty(),
            "trigger `{}` has no display name",
            trigger.reference()
        );
    }
    for credentials in [&f.credentials, &f.bad_credentials].into_iter().flatten() {
        assert!(
            manifest.accepts(credentials),
            "no auth method of `{}` accepts {} credentials",
            manifest.id,
            credentials.kind()
        );
    }
    let catalogue = serde_json::to_string(&app.catalogue_entry()).expect("the catalogue entry serializes");
    assert_no_secret(f, "the catalogue entry", &catalogue);

    for (action, _) in f.bad_inputs.iter().chain(&f.call) {
        registry
            .action(action)
            .await
            .unwrap_or_else(|e| panic!("the fixture names action `{action}`, which the app lacks: {e}"));
    }
    if let Some(case) = &f.polling {
        let trigger = registry
            .trigger(&case.trigger)
            .await
            .unwrap_or_else(|e| panic!("the fixture names trigger `{}`, which the app lacks: {e}", case.trigger));
        assert_eq!(
            trigger.kind(),
            TriggerKind::Polling,
            "`{}` is not a polling trigger",
            case.trigger
        );
        if let Some(schema) = trigger.params_schema() {
            schema
                .validate(&case.params, "trigger params")
                .unwrap_or_else(|e| panic!("the fixture's params for `{}` are refused: {e}", case.trigger));
        }
    }
}

/// Each bad input ends in `InvalidInput` that names where, with no secret in it, and the
/// connection was never asked for its credentials nor to authorize a request.
pub async fn bad_input_is_refused_before_any_network_call(f: &ConnectorFixture) {
    assert!(
        !f.bad_inputs.is_empty(),
        "declare at least one bad input (ConnectorFixture::bad_input) for `{}`",
        f.app_id()
    );
    let registry = registry(f);
    for (reference, input) in &f.bad_inputs {
        let action = registry.action(reference).await.expect("the action exists");
        let credentials = f.credentials.clone().unwrap_or_default();
        let watched = Arc::new(Watched::new(&f.app_id(), credentials));
        let cx = Context::builder().connection(watched.clone()).build();
        let err = action
            .call(cx, input.clone())
            .await
            .expect_err(&format!("`{reference}` accepted the bad input {input}"));
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "`{reference}` refused {input} with {:?} instead of InvalidInput: {err}",
            err.kind()
        );
        assert!(
            !err.to_string().trim().is_empty(),
            "`{reference}`: the error for {input} says nothing"
        );
        assert_eq!(
            watched.touched(),
            0,
            "`{reference}` used the connection before refusing {input}: bad input must be refused before any network call"
        );
        assert_no_secret(f, "an input error", &shown(&err));
    }
}

/// A [`ConnectionManager`] creates the connection with the good credentials (creating tests
/// it), and tests it again on demand.
pub async fn test_connection_passes_with_good_credentials(f: &ConnectorFixture) {
    let Some(credentials) = &f.credentials else {
        return skipped(f, "test_connection_passes_with_good_credentials", "no good credentials");
    };
    let (_, manager) = manager(f);
    let record = manager
        .create(NewConnection::new(f.app_id(), "behaviour", credentials.clone()))
        .await
        .unwrap_or_else(|e| panic!("the manager refused the good credentials of `{}`: {e}", f.app_id()));
    manager
        .test(&record.id)
        .await
        .unwrap_or_else(|e| panic!("testing the created connection again failed: {e}"));
}

/// The manager refuses credentials the server refuses, with `Unauthorized` or `Forbidden`, a
/// message, and no secret in it.
pub async fn test_connection_fails_clearly_with_bad_credentials(f: &ConnectorFixture) {
    let Some(credentials) = &f.bad_credentials else {
        return skipped(
            f,
            "test_connection_fails_clearly_with_bad_credentials",
            "no bad credentials",
        );
    };
    let (_, manager) = manager(f);
    let err = manager
        .create(NewConnection::new(f.app_id(), "behaviour", credentials.clone()))
        .await
        .expect_err("the manager accepted credentials the server refuses");
    assert!(
        matches!(err.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden),
        "refused credentials gave {:?} instead of Unauthorized or Forbidden: {err}",
        err.kind()
    );
    assert_no_secret(f, "the refused connection's error", &shown(&err));
}

/// The call runs as a scenario node, on an engine, with a connection the manager created; it
/// completes and its output fits the action's output schema.
pub async fn a_call_succeeds_from_a_scenario(f: &ConnectorFixture) {
    let (Some((reference, input)), Some(credentials)) = (&f.call, &f.credentials) else {
        return skipped(f, "a_call_succeeds_from_a_scenario", "no call or no good credentials");
    };
    let (registry, manager) = manager(f);
    let record = manager
        .create(NewConnection::new(f.app_id(), "behaviour", credentials.clone()))
        .await
        .unwrap_or_else(|e| panic!("the manager refused the good credentials: {e}"));
    let run = run_call(&registry, manager.connections(), &record.id, reference, input).await;
    assert_eq!(
        run.status,
        ExecutionStatus::Completed,
        "`{reference}` failed from a scenario: {:?}",
        run.error
    );
    let output = run
        .node("call")
        .and_then(|n| n.output.clone())
        .expect("the call node has an output");
    registry
        .action(reference)
        .await
        .expect("the action exists")
        .output_schema()
        .validate(&output, "output")
        .unwrap_or_else(|e| panic!("`{reference}`'s output does not fit its output schema: {e}"));
}

/// No secret — raw, base64, percent-encoded or JSON-escaped — shows in `Debug` of the
/// credentials and records, in the errors of a refused connection, a failed call and a failed
/// poll, in execution records (failed and completed), or in anything traced meanwhile.
pub async fn secrets_never_leak(f: &ConnectorFixture) {
    let secrets = all_secrets(f);
    assert!(
        !secrets.is_empty(),
        "the fixture holds no secret to look for: give credentials with a secret, or a canary"
    );
    let capture = Capture::start();
    let mut seen: Vec<(&'static str, String)> = Vec::new();

    for credentials in [&f.credentials, &f.bad_credentials].into_iter().flatten() {
        seen.push(("Debug of the credentials", format!("{credentials:?}")));
        let record = ConnectionRecord::new(f.app_id(), "behaviour", credentials.clone());
        seen.push(("Debug of a connection record", format!("{record:?}")));
        seen.push((
            "a serialized connection record",
            serde_json::to_string(&record).expect("records serialize"),
        ));
    }
    seen.push(("Debug of the fixture", format!("{f:?}")));

    if let Some(bad) = &f.bad_credentials {
        let (registry, manager) = manager(f);
        if let Err(err) = manager
            .create(NewConnection::new(f.app_id(), "behaviour", bad.clone()))
            .await
        {
            seen.push(("the refused connection's error", shown(&err)));
        }
        if let Some((reference, input)) = &f.call {
            // Inserted without a test, as a connection whose password changed on the server.
            let connections = Arc::new(Connections::new());
            let record = ConnectionRecord::new(f.app_id(), "behaviour", bad.clone());
            let id = record.id.clone();
            connections.insert_record(record);
            let run = run_call(&registry, connections, &id, reference, input).await;
            seen.push(("a failed execution's record", record_text(&run)));
        }
        if let Some(case) = &f.polling {
            let conn = StaticConnection::new(ConnectionRecord::new(f.app_id(), "behaviour", bad.clone()));
            let cx = poll_context(case, Arc::new(conn));
            let trigger = registry.trigger(&case.trigger).await.expect("the trigger exists");
            if let Err(err) = trigger.poll(&cx, None).await {
                seen.push(("a failed poll's error", shown(&err)));
            }
        }
    }
    if let (Some(good), Some((reference, input))) = (&f.credentials, &f.call) {
        let registry = registry(f);
        let connections = Arc::new(Connections::new());
        let record = ConnectionRecord::new(f.app_id(), "behaviour", good.clone());
        let id = record.id.clone();
        connections.insert_record(record);
        let run = run_call(&registry, connections, &id, reference, input).await;
        seen.push(("a completed execution's record", record_text(&run)));
    }
    seen.push(("the tracing output", capture.text()));
    drop(capture);

    for (what, text) in &seen {
        assert_no_secret(f, what, text);
    }
}

/// Polls from no cursor, makes two items appear, polls from the cursor (read back from its
/// JSON text, as a store keeps it): the new items come, each with a non-empty dedupe key of its
/// own, fitting the trigger's output schema; a poll from the next cursor brings none of them
/// again.
pub async fn polling_cursors_round_trip(f: &ConnectorFixture) {
    let Some(case) = &f.polling else {
        return skipped(f, "polling_cursors_round_trip", "no polling trigger declared");
    };
    let credentials = f
        .credentials
        .clone()
        .expect("a polling case needs good credentials (ConnectorFixture::credentials)");
    let produce = case
        .produce
        .clone()
        .expect("a polling case needs a way to make items appear (PollingCase::produce)");
    let registry = registry(f);
    let trigger = registry.trigger(&case.trigger).await.expect("the trigger exists");
    let conn = StaticConnection::new(ConnectionRecord::new(f.app_id(), "behaviour", credentials));
    let cx = poll_context(case, Arc::new(conn));

    let (before, cursor) = drain(&trigger, &cx, None).await;
    let mut seen: HashSet<String> = before.iter().map(|i| i.dedupe_key.clone()).collect();
    produce().await;
    produce().await;
    let (after, cursor) = drain(&trigger, &cx, Some(stored(cursor))).await;
    let mut this_poll = HashSet::new();
    let mut new = 0;
    for item in &after {
        assert!(
            !item.dedupe_key.is_empty(),
            "`{}` gave an item without a dedupe key",
            case.trigger
        );
        assert!(
            this_poll.insert(item.dedupe_key.clone()),
            "`{}` gave the dedupe key `{}` twice in one poll",
            case.trigger,
            item.dedupe_key
        );
        trigger
            .output_schema()
            .validate(&item.data, "item")
            .unwrap_or_else(|e| panic!("an item of `{}` does not fit its output schema: {e}", case.trigger));
        if seen.insert(item.dedupe_key.clone()) {
            new += 1;
        } else {
            assert!(
                case.repeats_seen,
                "`{}` brought `{}` again from the cursor after it (a trigger that leaves repeats to \
                 the runtime's dedupe declares PollingCase::repeats_seen_items)",
                case.trigger, item.dedupe_key
            );
        }
    }
    assert!(
        new >= 2,
        "`{}` brought {new} new item(s) after two were made to appear",
        case.trigger
    );
    let (again, _) = drain(&trigger, &cx, Some(stored(cursor))).await;
    for item in &again {
        assert!(
            case.repeats_seen || !seen.contains(&item.dedupe_key),
            "`{}` brought `{}` again from the cursor after it",
            case.trigger,
            item.dedupe_key
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------------------------

pub(super) fn skipped(f: &ConnectorFixture, check: &str, why: &str) {
    // Not a failure: the connector does not declare what the check needs (OpenDAL's gating).
    eprintln!("{check}: skipped for `{}`: {why}", f.app_id());
}

pub(super) fn registry(f: &ConnectorFixture) -> Arc<Registry> {
    let registry = Registry::new();
    registry
        .register_with_config(f.app.clone(), f.config.clone())
        .unwrap_or_else(|e| panic!("`{}` does not register: {e}", f.app_id()));
    Arc::new(registry)
}

fn manager(f: &ConnectorFixture) -> (Arc<Registry>, ConnectionManager) {
    let registry = registry(f);
    let manager = ConnectionManager::builder(registry.clone()).build();
    (registry, manager)
}

/// Runs `trigger → call`, the call node on connection `id`.
async fn run_call(
    registry: &Arc<Registry>,
    connections: Arc<Connections>,
    id: &ConnectionId,
    reference: &str,
    input: &Value,
) -> ExecutionRecord {
    let engine = Engine::builder(registry.clone()).connections(connections).build();
    let scenario = Scenario::builder("connector_behaviour", "Connector behaviour")
        .node(NodeBuilder::trigger("start").next(["call"]))
        .node(
            NodeBuilder::action("call", reference)
                .input(input.clone())
                .connection(id.clone()),
        )
        .build();
    let plan = engine
        .deploy(scenario)
        .await
        .unwrap_or_else(|e| panic!("a scenario calling `{reference}` does not deploy: {e}"));
    engine
        .execute(&plan, json!({}))
        .await
        .unwrap_or_else(|e| panic!("a scenario calling `{reference}` did not run: {e}"))
}

fn record_text(record: &ExecutionRecord) -> String {
    format!(
        "{}\n{record:?}",
        serde_json::to_string(record).expect("records serialize")
    )
}

fn poll_context(case: &PollingCase, connection: Arc<dyn Connection>) -> Context {
    Context::builder()
        .connection(connection)
        .extension(TriggerParams(Arc::new(case.params.clone())))
        .build()
}

/// A cursor as a store gives it back: written as JSON text and read again.
fn stored(cursor: Value) -> Value {
    let text = serde_json::to_string(&cursor).expect("a cursor serializes");
    serde_json::from_str(&text).expect("a cursor reads back")
}

/// Polls from `cursor` while the trigger says `more` (bounded): every item, and the last cursor.
async fn drain(
    trigger: &aura_core::trigger::Trigger,
    cx: &Context,
    mut cursor: Option<Value>,
) -> (Vec<TriggerItem>, Value) {
    let mut items = Vec::new();
    for _ in 0..MAX_POLLS {
        let poll = trigger
            .poll(cx, cursor.take())
            .await
            .unwrap_or_else(|e| panic!("`{}` failed to poll: {e}", trigger.reference()));
        items.extend(poll.items);
        if !poll.more {
            return (items, poll.cursor);
        }
        cursor = Some(stored(poll.cursor));
    }
    panic!("`{}` still said `more` after {MAX_POLLS} polls", trigger.reference());
}

fn all_secrets(f: &ConnectorFixture) -> Vec<String> {
    let manifest = f.app.manifest();
    let mut secrets: Vec<String> = [&f.credentials, &f.bad_credentials]
        .into_iter()
        .flatten()
        .flat_map(|c| secrets_of(&manifest, c))
        .chain(f.canaries.iter().cloned())
        .collect();
    secrets.sort();
    secrets.dedup();
    secrets
}

pub(super) fn assert_no_secret(f: &ConnectorFixture, what: &str, text: &str) {
    for secret in all_secrets(f) {
        for form in forms(&secret) {
            // The secret itself is not repeated in the message: its length and place are.
            if let Some(at) = text.find(&form) {
                panic!(
                    "a secret ({} characters) leaked into {what}, at byte {at}: …{}…",
                    secret.chars().count(),
                    excerpt(text, at, form.len())
                );
            }
        }
    }
}

/// The text around a leak, with the leaked bytes themselves masked.
fn excerpt(text: &str, at: usize, len: usize) -> String {
    let boundary = |mut i: usize, step_back: bool| {
        while !text.is_char_boundary(i) {
            if step_back { i -= 1 } else { i += 1 }
        }
        i
    };
    let start = boundary(at.saturating_sub(60), true);
    let end = boundary((at + len + 60).min(text.len()), false);
    format!("{}[LEAKED]{}", &text[start..at], &text[at + len..end])
}

/// Everything an error shows: Display, Debug, its body excerpt and every cause.
pub(super) fn shown(err: &Error) -> String {
    let mut out = format!("{err}\n{err:?}\n{}", err.body_excerpt().unwrap_or_default());
    let mut next = std::error::Error::source(err);
    while let Some(cause) = next {
        out.push_str(&format!("\n{cause}\n{cause:?}"));
        next = cause.source();
    }
    out
}

/// A connection that counts every use: asking for its credentials, authorizing a request,
/// renewing.
#[derive(Debug)]
struct Watched {
    inner: StaticConnection,
    uses: AtomicUsize,
}

impl Watched {
    fn new(app_id: &str, credentials: Credentials) -> Self {
        Self {
            inner: StaticConnection::new(ConnectionRecord::new(app_id, "behaviour", credentials)),
            uses: AtomicUsize::new(0),
        }
    }

    fn touched(&self) -> usize {
        self.uses.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Connection for Watched {
    fn id(&self) -> &ConnectionId {
        self.inner.id()
    }

    fn app_id(&self) -> &str {
        self.inner.app_id()
    }

    fn credentials(&self) -> Credentials {
        self.uses.fetch_add(1, Ordering::SeqCst);
        self.inner.credentials()
    }

    fn version(&self) -> u64 {
        self.inner.version()
    }

    async fn authorize(&self, request: &mut reqwest::Request) -> aura_core::Result<u64> {
        self.uses.fetch_add(1, Ordering::SeqCst);
        self.inner.authorize(request).await
    }

    async fn renew(&self, rejected: u64) -> aura_core::Result<bool> {
        self.uses.fetch_add(1, Ordering::SeqCst);
        self.inner.renew(rejected).await
    }
}
