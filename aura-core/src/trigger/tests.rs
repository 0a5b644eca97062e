use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use serde::Serialize;
use serde_json::json;

use super::*;
use crate::ErrorKind;

#[derive(Serialize, JsonSchema)]
struct Row {
    id: u64,
    email: String,
}

struct NewRows {
    rows: Vec<u64>,
}

#[async_trait]
impl PollingTrigger for NewRows {
    type Item = Row;
    type Cursor = u64;

    async fn poll(&self, _cx: &Context, cursor: Option<u64>) -> Result<Poll<Row, u64>> {
        let from = cursor.unwrap_or(0);
        let items: Vec<_> = self
            .rows
            .iter()
            .filter(|id| **id > from)
            .take(2)
            .map(|&id| {
                TriggerItem::new(
                    id.to_string(),
                    Row {
                        id,
                        email: format!("{id}@x.test"),
                    },
                )
            })
            .collect();
        let next = items.last().map_or(from, |i| i.data.id);
        let more = self.rows.iter().any(|id| *id > next);
        Ok(Poll {
            items,
            cursor: next,
            more,
        })
    }
}

#[tokio::test]
async fn polling_pages_through_with_the_cursor() {
    let t = TriggerDef::polling("new_rows", NewRows { rows: vec![1, 2, 3] })
        .compile("db")
        .unwrap();
    assert_eq!(t.kind(), TriggerKind::Polling);
    assert_eq!(t.manifest().output_schema["required"], json!(["id", "email"]));

    let cx = Context::new();
    let first = t.poll(&cx, None).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0].dedupe_key, "1");
    assert!(first.more);
    let second = t.poll(&cx, Some(first.cursor)).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].data["id"], 3);
    assert!(!second.more);
    let third = t.poll(&cx, Some(second.cursor)).await.unwrap();
    assert!(third.items.is_empty());
}

#[tokio::test]
async fn a_cursor_of_the_wrong_type_is_invalid_input() {
    let t = TriggerDef::polling("new_rows", NewRows { rows: vec![] })
        .compile("db")
        .unwrap();
    let err = t.poll(&Context::new(), Some(json!("not a number"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.context_value("trigger"), Some("db.new_rows"));
}

#[derive(Serialize, JsonSchema)]
struct Event {
    kind: String,
}

#[derive(serde::Deserialize)]
struct Payload {
    events: Vec<PayloadEvent>,
}

#[derive(serde::Deserialize)]
struct PayloadEvent {
    id: String,
    kind: String,
}

struct Hooks;

#[async_trait]
impl WebhookTrigger for Hooks {
    type Item = Event;

    async fn verify(&self, _cx: &Context, request: &WebhookRequest) -> Result<()> {
        match request.header_str("x-token") {
            Some("good") => Ok(()),
            _ => Err(Error::unauthorized("bad webhook token")),
        }
    }

    fn handshake(&self, request: &WebhookRequest) -> Option<WebhookReply> {
        let body: serde_json::Value = serde_json::from_slice(&request.body).ok()?;
        (body["type"] == "url_verification").then(|| WebhookReply::text(body["challenge"].as_str().unwrap_or_default()))
    }

    fn parse(&self, request: &WebhookRequest) -> Result<Vec<TriggerItem<Event>>> {
        let payload: Payload = request.json()?;
        Ok(payload
            .events
            .into_iter()
            .map(|e| TriggerItem::new(e.id, Event { kind: e.kind }))
            .collect())
    }

    async fn subscribe(&self, _cx: &Context, target_url: &str) -> Result<Option<Value>> {
        Ok(Some(json!({ "hook_id": 9, "url": target_url })))
    }
}

#[tokio::test]
async fn webhooks_verify_parse_and_answer_handshakes() {
    let t = TriggerDef::webhook("events", Hooks).compile("svc").unwrap();
    let cx = Context::new();

    let genuine = WebhookRequest::post(
        "/hooks/svc",
        r#"{"events":[{"id":"e1","kind":"a"},{"id":"e2","kind":"b"}]}"#,
    )
    .header("x-token", "good")
    .build()
    .unwrap();
    let WebhookOutcome::Items(items) = t.handle_webhook(&cx, &genuine).await.unwrap() else {
        panic!("expected items");
    };
    assert_eq!(
        items.iter().map(|i| i.dedupe_key.as_str()).collect::<Vec<_>>(),
        ["e1", "e2"]
    );

    let forged = WebhookRequest::post("/hooks/svc", r#"{"events":[]}"#)
        .header("x-token", "bad")
        .build()
        .unwrap();
    assert_eq!(
        t.handle_webhook(&cx, &forged).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );

    let handshake = WebhookRequest::post("/hooks/svc", r#"{"type":"url_verification","challenge":"abc"}"#)
        .build()
        .unwrap();
    let WebhookOutcome::Handshake(reply) = t.handle_webhook(&cx, &handshake).await.unwrap() else {
        panic!("expected a handshake");
    };
    assert_eq!(reply.body, "abc");

    let malformed = WebhookRequest::post("/hooks/svc", r#"{"events":[{"id":1}]}"#)
        .header("x-token", "good")
        .build()
        .unwrap();
    let err = t.handle_webhook(&cx, &malformed).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/events/0/id");

    let sub = t.subscribe(&cx, "https://host.test/hooks/svc").await.unwrap();
    assert_eq!(sub, Some(json!({ "hook_id": 9, "url": "https://host.test/hooks/svc" })));
    t.unsubscribe(&cx, &json!({ "hook_id": 9 })).await.unwrap();
}

#[test]
fn bad_webhook_headers_fail_at_build_naming_the_header_never_the_value() {
    let secret = "s3cr\net-value";
    let err = WebhookRequest::post("/hooks/svc", "{}")
        .header("x-good", "fine")
        .header("x-token", secret)
        .header("bad header", "v")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.context_value("header"), Some("x-token"));
    let paths: Vec<&str> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["/headers/x-token", "/headers/bad header"]);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr"), "{shown}");

    let ok = WebhookRequest::builder(http::Method::PUT, "/hooks/svc")
        .query("a=1")
        .header("x-good", "fine")
        .build()
        .unwrap();
    assert_eq!(ok.method, http::Method::PUT);
    assert_eq!(ok.query.as_deref(), Some("a=1"));
    assert_eq!(ok.header_str("x-good"), Some("fine"));
}

#[tokio::test]
async fn items_that_break_the_output_schema_are_rejected() {
    struct Liar;
    #[async_trait]
    impl WebhookTrigger for Liar {
        type Item = Value;
        fn parse(&self, _request: &WebhookRequest) -> Result<Vec<TriggerItem<Value>>> {
            Ok(vec![TriggerItem::new("k", json!({ "kind": 5 }))])
        }
    }
    let t = TriggerDef::webhook("liar", Liar)
        .output_schema(json!({ "type": "object", "properties": { "kind": { "type": "string" } } }))
        .compile("svc")
        .unwrap();
    let err = t
        .handle_webhook(&Context::new(), &WebhookRequest::post("/", "").build().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].path, "/0/data/kind");
}

#[test]
fn schedule_triggers_produce_ticks() {
    let t = TriggerDef::schedule("daily", Schedule::cron("0 6 * * *").unwrap())
        .compile("clock")
        .unwrap();
    assert_eq!(t.kind(), TriggerKind::Schedule);
    assert_eq!(t.manifest().schedule, Some(Schedule::cron("0 6 * * *").unwrap()));
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap();
    let item = t
        .tick(ScheduleTick {
            scheduled_at: at,
            fired_at: at,
        })
        .unwrap();
    assert_eq!(item.dedupe_key, "2026-11-22T06:00:00+00:00");
    assert!(t.output_schema().is_valid(&item.data));
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct Lead {
    email: String,
}

#[test]
fn manual_triggers_check_their_data() {
    let t = TriggerDef::manual::<Lead>("run").compile("forms").unwrap();
    let item = t.fire(json!({ "email": "a@b.test" })).unwrap();
    assert_eq!(uuid::Uuid::parse_str(&item.dedupe_key).unwrap().get_version_num(), 7);
    let err = t.fire(json!({})).unwrap_err();
    assert_eq!(err.violations()[0].path, "/0/data/email");
}

#[tokio::test]
async fn asking_a_trigger_for_another_kind_is_a_clear_error() {
    let t = TriggerDef::manual::<Lead>("run").compile("forms").unwrap();
    let err = t.poll(&Context::new(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert!(err.to_string().contains("a manual trigger cannot poll"), "{err}");
}

#[test]
fn trigger_params_are_read_as_the_trigger_wants_them() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Params {
        url: String,
    }
    let none = Context::new();
    assert_eq!(TriggerParams::read::<Params>(&none, "x.poll").unwrap(), None);
    let err = TriggerParams::required::<Params>(&none, "x.poll").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);

    let given = |v: serde_json::Value| Context::builder().extension(TriggerParams(Arc::new(v))).build();
    let params: Params =
        TriggerParams::required(&given(serde_json::json!({ "url": "https://x.test" })), "x.poll").unwrap();
    assert_eq!(params.url, "https://x.test");
    let err = TriggerParams::read::<Params>(&given(serde_json::json!({ "url": 5 })), "x.poll").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::InvalidDefinition);
    assert_eq!(err.violations()[0].path, "/params");
}
