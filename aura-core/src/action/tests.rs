use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::ErrorKind;

#[derive(Deserialize, JsonSchema)]
struct CreateContact {
    #[schemars(email)]
    email: String,
    name: String,
    #[schemars(range(min = 0, max = 100))]
    score: Option<u8>,
    tags: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
struct Created {
    id: u64,
    email: String,
}

fn create_contact(calls: Arc<AtomicUsize>) -> Action {
    ActionDef::new("create_contact", move |_cx: Context, input: CreateContact| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let _ = (&input.name, input.score, &input.tags);
            Ok(Created {
                id: 7,
                email: input.email,
            })
        }
    })
    .name("Create contact")
    .idempotent(false)
    .cacheable(Duration::from_secs(30))
    .compile("crm")
    .unwrap()
}

#[tokio::test]
async fn typed_action_runs_with_valid_input() {
    let calls = Arc::new(AtomicUsize::new(0));
    let action = create_contact(calls.clone());
    let out = action
        .call(
            Context::new(),
            json!({ "email": "ada@example.com", "name": "Ada", "tags": [] }),
        )
        .await
        .unwrap();
    assert_eq!(out, json!({ "id": 7, "email": "ada@example.com" }));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(action.reference(), "crm.create_contact");
}

#[tokio::test]
async fn invalid_input_lists_every_bad_path_and_never_runs_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let action = create_contact(calls.clone());
    let err = action
        .call(
            Context::new(),
            json!({ "email": "nope", "score": 101, "tags": ["a", 3] }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let mut paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/email", "/name", "/score", "/tags/1"]);
    assert_eq!(err.context_value("action"), Some("crm.create_contact"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn manifest_carries_schemas_and_behaviour() {
    let action = create_contact(Arc::default());
    let m = action.manifest();
    assert_eq!(m.name, "Create contact");
    assert_eq!(m.input_schema["properties"]["email"]["format"], "email");
    assert_eq!(m.output_schema["required"], json!(["id", "email"]));
    assert!(!m.idempotent);
    assert_eq!(action.cache_ttl(), Some(Duration::from_secs(30)));
    let json = serde_json::to_value(m).unwrap();
    assert_eq!(json["cache_ttl"], 30.0);
    assert_eq!(serde_json::from_value::<ActionManifest>(json).unwrap(), *m);
}

#[tokio::test]
async fn handler_errors_keep_their_kind_and_gain_the_action() {
    let action = ActionDef::new("fail", |_cx: Context, _: serde_json::Value| async move {
        Err::<(), _>(Error::rate_limited("slow down", Some(Duration::from_secs(2))))
    })
    .compile("crm")
    .unwrap();
    let err = action.call(Context::new(), json!(null)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(err.context_value("action"), Some("crm.fail"));
}

#[tokio::test]
async fn cancellation_stops_a_running_action() {
    let action = ActionDef::new("hang", |_cx: Context, _: serde_json::Value| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    })
    .compile("crm")
    .unwrap();
    let cx = Context::new();
    let cancel = cx.cancellation().clone();
    let call = tokio::spawn({
        let action = action.clone();
        async move { action.call(cx, json!(null)).await }
    });
    cancel.cancel();
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[tokio::test]
async fn json_actions_validate_against_their_given_schema() {
    let action = ActionDef::from_json(
        "echo",
        json!({ "type": "object", "required": ["x"], "properties": { "x": { "type": "integer" } } }),
        json!(true),
        |_cx, input| async move { Ok(input) },
    )
    .compile("util")
    .unwrap();
    assert_eq!(
        action.call(Context::new(), json!({ "x": 1 })).await.unwrap(),
        json!({ "x": 1 })
    );
    let err = action.call(Context::new(), json!({})).await.unwrap_err();
    assert_eq!(err.violations()[0].path, "/x");
}

#[test]
fn bad_keys_and_schemas_fail_at_compile_naming_app_and_action() {
    let err = ActionDef::new("Bad.Key", |_cx: Context, x: String| async move { Ok(x) })
        .compile("crm")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(err.context_value("app"), Some("crm"));

    let err = ActionDef::from_json("x", json!({ "type": 5 }), json!(true), |_cx, v| async move { Ok(v) })
        .compile("crm")
        .unwrap_err();
    assert_eq!(err.context_value("schema"), Some("input"));
    assert_eq!(err.context_value("action"), Some("x"));
}

#[tokio::test]
async fn context_reaches_the_handler() {
    let action = ActionDef::new("ctx", |cx: Context, _: serde_json::Value| async move {
        Ok(json!({ "attempt": cx.attempt(), "key": cx.idempotency_key() }))
    })
    .compile("t")
    .unwrap();
    let cx = Context::builder().attempt(3).idempotency_key("exec/node").build();
    assert_eq!(
        action.call(cx, json!(null)).await.unwrap(),
        json!({ "attempt": 3, "key": "exec/node" })
    );
}

/// What the actions of one app share, without a clone in every closure.
#[derive(Clone)]
struct Crm {
    calls: Arc<AtomicUsize>,
    next_id: u64,
}

async fn create_with_state(crm: Crm, _cx: Context, input: CreateContact) -> Result<Created> {
    let call = crm.calls.fetch_add(1, Ordering::SeqCst) as u64;
    Ok(Created {
        id: crm.next_id + call,
        email: input.email,
    })
}

#[tokio::test]
async fn with_state_hands_every_call_the_shared_state() {
    let calls = Arc::new(AtomicUsize::new(0));
    let crm = Crm {
        calls: calls.clone(),
        next_id: 100,
    };
    let def = ActionDef::with_state("create_contact", crm, create_with_state).name("Create contact");
    assert_eq!(def.manifest().input_schema["properties"]["email"]["format"], "email");
    let action = def.compile("crm").unwrap();
    for expected in [100, 101] {
        let out = action
            .call(
                Context::new(),
                json!({ "email": "ada@example.com", "name": "Ada", "tags": [] }),
            )
            .await
            .unwrap();
        assert_eq!(out, json!({ "id": expected, "email": "ada@example.com" }));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Closures take the state the same way.
    let counter = Arc::new(AtomicUsize::new(0));
    let ping = ActionDef::with_state(
        "ping",
        counter.clone(),
        |counter: Arc<AtomicUsize>, _cx, (): ()| async move { Ok(counter.fetch_add(1, Ordering::SeqCst)) },
    )
    .compile("crm")
    .unwrap();
    assert_eq!(ping.call(Context::new(), json!(null)).await.unwrap(), json!(0));
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_handler_returning_json_hands_it_over_with_the_declared_shape() {
    #[derive(Deserialize, JsonSchema)]
    struct Fetch {
        id: String,
    }
    let action = ActionDef::with_state("fetch", 7_u16, |status: u16, _cx: Context, input: Fetch| async move {
        Ok(json!({ "status": status, "body": { "id": input.id } }))
    })
    .output_schema_of::<Created>()
    .compile("app")
    .unwrap();
    assert_eq!(
        action.output_schema().as_json()["properties"]["email"]["type"],
        "string"
    );
    let out = action.call(Context::new(), json!({ "id": "a-1" })).await.unwrap();
    assert_eq!(out, json!({ "status": 7, "body": { "id": "a-1" } }));
}

/// A handler implemented by hand on a struct: its output goes through the trait's default
/// `call_json` (the closures' own is tested everywhere else).
struct Doubler {
    calls: Arc<AtomicUsize>,
}

#[derive(Deserialize, JsonSchema)]
struct Number {
    n: i64,
}

#[derive(Serialize, JsonSchema)]
struct Doubled {
    doubled: i64,
}

impl Handler<Number, Doubled> for Doubler {
    fn call(&self, _cx: Context, input: Number) -> futures::future::BoxFuture<'static, Result<Doubled>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if input.n == i64::MAX {
                return Err(Error::invalid_input("too large to double", vec![]));
            }
            Ok(Doubled { doubled: input.n * 2 })
        })
    }
}

#[tokio::test]
async fn a_handler_written_by_hand_answers_json_and_keeps_its_errors() {
    let calls = Arc::new(AtomicUsize::new(0));
    let action = ActionDef::new("double", Doubler { calls: calls.clone() })
        .compile("math")
        .unwrap();
    let out = action.call(Context::new(), json!({ "n": 21 })).await.unwrap();
    assert_eq!(out, json!({ "doubled": 42 }));
    let shared = action
        .call_shared(Context::new(), Arc::new(json!({ "n": 4 })))
        .await
        .unwrap();
    assert_eq!(shared, json!({ "doubled": 8 }));
    let err = action.call(Context::new(), json!({ "n": i64::MAX })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.context_value("action"), Some("math.double"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
