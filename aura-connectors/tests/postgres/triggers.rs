//! New rows by cursor, and LISTEN/NOTIFY.

use super::*;

fn with_params(cx: &Context, params: Value) -> Context {
    let mut b = cx.to_builder();
    b = b.extension(TriggerParams(Arc::new(params)));
    b.build()
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn new_rows_come_once_in_key_order_from_the_cursor() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("newrows");
    let schema = Schema::new(&f.server, "newrows").await;
    schema
        .exec("CREATE TABLE $S.events (id bigserial PRIMARY KEY, kind text, at timestamptz DEFAULT now())")
        .await;
    schema
        .exec("INSERT INTO $S.events (kind) SELECT 'old-' || g FROM generate_series(1, 5) g")
        .await;
    let trigger = f.registry.trigger("postgres.new_rows").await.unwrap();
    let cx = with_params(
        &f.cx,
        json!({ "table": format!("{}.events", schema.name), "key_column": "id", "columns": ["kind"], "batch_size": 3 }),
    );

    let first = trigger.poll(&cx, None).await.unwrap();
    assert_eq!(first.items.len(), 3);
    assert!(first.more, "a full batch says more");
    assert_eq!(first.cursor, json!(3));
    assert_eq!(first.items[0].dedupe_key, "1");
    assert_eq!(first.items[0].data, json!({ "kind": "old-1", "id": 1 }));
    let second = trigger.poll(&cx, Some(first.cursor)).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert!(!second.more);
    let cursor = second.cursor;
    assert_eq!(cursor, json!(5));

    let again = trigger.poll(&cx, Some(cursor.clone())).await.unwrap();
    assert!(again.items.is_empty());
    assert_eq!(again.cursor, cursor, "an empty poll keeps the cursor");

    schema
        .exec("INSERT INTO $S.events (kind) VALUES ('new-a'), ('new-b')")
        .await;
    let fresh = trigger.poll(&cx, Some(cursor)).await.unwrap();
    let kinds: Vec<&Value> = fresh.items.iter().map(|i| &i.data["kind"]).collect();
    assert_eq!(kinds, [&json!("new-a"), &json!("new-b")]);
    let keys: Vec<&str> = fresh.items.iter().map(|i| i.dedupe_key.as_str()).collect();
    assert_eq!(keys, ["6", "7"]);

    // A timestamp key works the same way (its cursor is the RFC 3339 text).
    let by_time = with_params(
        &f.cx,
        json!({ "table": format!("{}.events", schema.name), "key_column": "at" }),
    );
    schema
        .exec("UPDATE $S.events SET at = '2026-01-01T00:00:00Z'::timestamptz + id * interval '1 second'")
        .await;
    let polled = trigger
        .poll(&by_time, Some(json!("2026-01-01T00:00:05Z")))
        .await
        .unwrap();
    assert_eq!(polled.items.len(), 2);
    assert_eq!(polled.cursor, json!("2026-01-01T00:00:07Z"));

    // Bad params are refused before any query.
    let bad = with_params(&f.cx, json!({ "table": "x; --", "key_column": "id" }));
    assert_eq!(
        trigger.poll(&bad, None).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    schema.drop().await;
}

#[tokio::test]
#[ignore = "needs postgres: see .ci/run"]
async fn notifications_are_drained_by_each_poll() {
    let _gate = PASSWORD_GATE.read().await;
    let f = Fixture::new("notify");
    let admin = f.server.admin().await;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let channel = format!("aura_test_{:x}", nanos % 0xffff_ffff_ffff);
    let trigger = f.registry.trigger("postgres.notify").await.unwrap();
    let cx = with_params(&f.cx, json!({ "channel": channel }));

    let first = trigger.poll(&cx, None).await.unwrap();
    assert!(first.items.is_empty(), "nothing before LISTEN");
    for payload in [r#"{"order": 1}"#, "plain text"] {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channel)
            .bind(payload)
            .execute(&admin)
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 && Instant::now() < deadline {
        got.extend(trigger.poll(&cx, Some(Value::Null)).await.unwrap().items);
    }
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].data["json"], json!({ "order": 1 }));
    assert_eq!(got[0].data["channel"], json!(channel));
    assert_eq!(got[1].data["payload"], "plain text");
    assert_eq!(got[1].data["json"], Value::Null);
    assert_ne!(got[0].dedupe_key, got[1].dedupe_key);
    let after = trigger.poll(&cx, Some(Value::Null)).await.unwrap();
    assert!(after.items.is_empty(), "each notification comes once");

    let bad = with_params(&f.cx, json!({ "channel": "a; UNLISTEN *" }));
    assert_eq!(
        trigger.poll(&bad, None).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    admin.close().await;
}
