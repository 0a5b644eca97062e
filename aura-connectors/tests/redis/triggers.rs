//! Pub/sub and stream consumer groups.

use super::*;

// ---------------------------------------------------------------------------------------------
// triggers
// ---------------------------------------------------------------------------------------------

/// A context for a trigger poll: the connection, the trigger node's params, and where.
fn poll_context(connection: &Arc<StaticConnection>, params: Value) -> Context {
    Context::builder()
        .connection(connection.clone())
        .scenario_id("redis-triggers")
        .node_id(unique("node"))
        .extension(aura_core::trigger::TriggerParams(Arc::new(params)))
        .build()
}

fn static_connection() -> Arc<StaticConnection> {
    Arc::new(StaticConnection::new(
        ConnectionRecord::new("redis", "test", good()).with_id(unique("conn")),
    ))
}

async fn poll(
    registry: &Registry,
    trigger: &str,
    cx: &Context,
    cursor: Option<Value>,
) -> aura_core::trigger::Poll<Value, Value> {
    registry.trigger(trigger).await.unwrap().poll(cx, cursor).await.unwrap()
}

fn keys(poll: &aura_core::trigger::Poll<Value, Value>) -> Vec<String> {
    poll.items.iter().map(|i| i.dedupe_key.clone()).collect()
}

async fn publish(registry: &Registry, channel: &str, message: Value) -> u64 {
    let cx = context(good());
    let out = call(
        registry,
        &cx,
        "redis.publish",
        json!({ "channel": channel, "message": message }),
    )
    .await
    .unwrap();
    out["receivers"].as_u64().unwrap()
}

/// Polls until `n` items came (pub/sub messages arrive a little after PUBLISH returns).
async fn poll_until(
    registry: &Registry,
    trigger: &str,
    cx: &Context,
    mut cursor: Option<Value>,
    n: usize,
) -> (Vec<aura_core::TriggerItem>, Option<Value>) {
    let mut items = Vec::new();
    for _ in 0..50 {
        let p = poll(registry, trigger, cx, cursor.clone()).await;
        items.extend(p.items);
        cursor = Some(p.cursor);
        if items.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (items, cursor)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn subscribe_drains_the_messages_published_since_the_last_poll() {
    let registry = registry().await;
    let channel = unique("chan");
    let cx = poll_context(&static_connection(), json!({ "channel": channel }));
    // The first poll subscribes: nothing yet.
    let first = poll(&registry, "redis.subscribe", &cx, None).await;
    assert!(first.items.is_empty());
    assert_eq!(
        publish(&registry, &channel, json!("one")).await,
        1,
        "the trigger is subscribed"
    );
    publish(&registry, &channel, json!({ "n": 2 })).await;
    publish(&registry, &channel, json!("three")).await;

    let (items, cursor) = poll_until(&registry, "redis.subscribe", &cx, Some(first.cursor), 3).await;
    let messages: Vec<&Value> = items.iter().map(|i| &i.data["message"]).collect();
    assert_eq!(messages, [&json!("one"), &json!(r#"{"n":2}"#), &json!("three")]);
    assert!(items.iter().all(|i| i.data["channel"] == json!(channel)));
    let mut keys: Vec<&str> = items.iter().map(|i| i.dedupe_key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), 3, "distinct dedupe keys");
    assert_eq!(cursor.as_ref().unwrap()["received"], json!(3));

    // Drained: the next poll has nothing.
    let again = poll(&registry, "redis.subscribe", &cx, cursor).await;
    assert!(again.items.is_empty());
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_pattern_subscription_names_the_channel_and_the_pattern() {
    let registry = registry().await;
    let prefix = unique("pat");
    let pattern = format!("{prefix}.*");
    let cx = poll_context(&static_connection(), json!({ "pattern": pattern }));
    poll(&registry, "redis.subscribe", &cx, None).await;
    publish(&registry, &format!("{prefix}.a"), json!("x")).await;
    publish(&registry, &format!("{prefix}-other"), json!("not matched")).await;
    publish(&registry, &format!("{prefix}.b"), json!("y")).await;
    let (items, _) = poll_until(&registry, "redis.subscribe", &cx, None, 2).await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].data["channel"], json!(format!("{prefix}.a")));
    assert_eq!(items[0].data["pattern"], json!(pattern));
    assert_eq!(items[1].data["message"], json!("y"));
}

/// An ACL user of its own (`rules` after `on >PASSWORD`), for a test that must act on its
/// connections alone or check permissions; its credentials.
async fn acl_user(rules: &[&str]) -> (String, Credentials) {
    let name = unique("user").replace(':', "-");
    let password = unique("pw").replace(':', "-");
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(&name).arg("on").arg(format!(">{password}"));
    for rule in rules {
        cmd.arg(*rule);
    }
    raw_query::<()>(&mut cmd).await;
    let s = server();
    let creds = Credentials::custom([
        ("host", s.host),
        ("port", s.port),
        ("username", name.clone()),
        ("password", password),
    ]);
    (name, creds)
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_subscription_lost_with_its_connection_is_made_again() {
    let registry = registry().await;
    let channel = unique("lost");
    let (user, creds) = acl_user(&["~*", "&*", "+@all"]).await;
    let connection = Arc::new(StaticConnection::new(
        ConnectionRecord::new("redis", "acl", creds).with_id(unique("conn")),
    ));
    let cx = poll_context(&connection, json!({ "channel": channel }));
    poll(&registry, "redis.subscribe", &cx, None).await;
    // The server drops this user's connections (the subscription's among them).
    let killed: i64 = raw_query(redis::cmd("CLIENT").arg("KILL").arg("USER").arg(&user)).await;
    assert!(killed >= 1);
    // A poll notices (the connection is gone, or PING fails) and the next subscribes again.
    let mut subscribed = false;
    for _ in 0..50 {
        poll(&registry, "redis.subscribe", &cx, None).await;
        if publish(&registry, &channel, json!("ping")).await == 1 {
            subscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(subscribed, "subscribed again");
    let (items, _) = poll_until(&registry, "redis.subscribe", &cx, None, 1).await;
    assert_eq!(items.last().unwrap().data["message"], json!("ping"));
    raw_query::<()>(redis::cmd("ACL").arg("DELUSER").arg(&user)).await;
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn an_acl_user_logs_in_by_name_and_a_command_it_may_not_run_is_forbidden() {
    let registry = registry().await;
    let (user, creds) = acl_user(&["~*", "+@all", "-set"]).await;
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("redis", "limited", creds))
        .await
        .unwrap();
    let cx = Context::builder()
        .connection(manager.connections().get(&record.id).unwrap())
        .build();
    let key = unique("acl");
    call(&registry, &cx, "redis.incr", json!({ "key": key })).await.unwrap();
    let err = call(&registry, &cx, "redis.set", json!({ "key": key, "value": "v" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    assert_eq!(err.context_value("key"), Some(key.as_str()));
    raw_query::<()>(redis::cmd("ACL").arg("DELUSER").arg(&user)).await;
}

pub(super) async fn pending(stream: &str, group: &str) -> u64 {
    let summary: (u64, Value2, Value2, Value2) = raw_query(redis::cmd("XPENDING").arg(stream).arg(group)).await;
    summary.0
}

/// Any answer (XPENDING's summary has parts of several shapes).
type Value2 = redis::Value;

pub(super) async fn add(registry: &Registry, stream: &str, n: u64) -> String {
    let cx = context(good());
    let out = call(
        registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "n": n } }),
    )
    .await
    .unwrap();
    out["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn stream_entries_come_once_and_are_acknowledged_by_the_next_poll() {
    let registry = registry().await;
    let stream = unique("orders");
    let cx = poll_context(&static_connection(), json!({ "stream": stream, "group": "g" }));
    // The first poll creates the group (and the stream): nothing yet.
    let first = poll(&registry, "redis.stream", &cx, None).await;
    assert!(first.items.is_empty());
    let groups: Vec<redis::Value> = raw_query(redis::cmd("XINFO").arg("GROUPS").arg(&stream)).await;
    assert_eq!(groups.len(), 1, "the group exists");

    let a = add(&registry, &stream, 1).await;
    let b = add(&registry, &stream, 2).await;
    let second = poll(&registry, "redis.stream", &cx, Some(first.cursor)).await;
    assert_eq!(keys(&second), [a.clone(), b.clone()], "dedupe key = entry id");
    assert_eq!(second.items[0].data["fields"], json!({ "n": "1" }));
    assert_eq!(second.items[0].data["stream"], json!(stream));
    assert_eq!(second.cursor["ack"], json!([a, b]));
    assert_eq!(
        pending(&stream, "g").await,
        2,
        "not acknowledged before the runtime stored the cursor"
    );

    // The next poll (its cursor stored with the executions) acknowledges them; nothing new.
    let third = poll(&registry, "redis.stream", &cx, Some(second.cursor)).await;
    assert!(third.items.is_empty(), "each entry once");
    assert_eq!(pending(&stream, "g").await, 0, "acknowledged");
    let fourth = poll(&registry, "redis.stream", &cx, Some(third.cursor)).await;
    assert!(fourth.items.is_empty());
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_poll_after_a_crash_delivers_the_pending_entries_again() {
    let registry = registry().await;
    let stream = unique("crash");
    let cx = poll_context(
        &static_connection(),
        json!({ "stream": stream, "group": "g", "consumer": "w1" }),
    );
    let first = poll(&registry, "redis.stream", &cx, None).await;
    let a = add(&registry, &stream, 1).await;
    let delivered = poll(&registry, "redis.stream", &cx, Some(first.cursor.clone())).await;
    assert_eq!(keys(&delivered), [a.as_str()]);

    // The process died before the runtime stored `delivered.cursor`: the stored cursor is
    // still the one before. The entry is delivered again, with the same dedupe key.
    let b = add(&registry, &stream, 2).await;
    let again = poll(&registry, "redis.stream", &cx, Some(first.cursor)).await;
    assert_eq!(keys(&again), [a.as_str()], "the pending entry first, alone");
    assert_eq!(pending(&stream, "g").await, 1);

    // Once that poll's cursor is stored, the entry is acknowledged and the new one comes.
    let next = poll(&registry, "redis.stream", &cx, Some(again.cursor)).await;
    assert_eq!(keys(&next), [b.as_str()]);
    assert_eq!(pending(&stream, "g").await, 1, "a acknowledged, b pending");
    let last = poll(&registry, "redis.stream", &cx, Some(next.cursor)).await;
    assert!(last.items.is_empty());
    assert_eq!(pending(&stream, "g").await, 0);
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_full_poll_says_more_and_a_group_can_start_with_the_whole_stream() {
    let registry = registry().await;
    let stream = unique("backlog");
    for n in 0..5 {
        add(&registry, &stream, n).await;
    }
    let cx = poll_context(
        &static_connection(),
        json!({ "stream": stream, "group": "all", "start": "all", "count": 2 }),
    );
    let mut cursor = None;
    let mut seen = Vec::new();
    for _ in 0..10 {
        let p = poll(&registry, "redis.stream", &cx, cursor.take()).await;
        seen.extend(keys(&p));
        cursor = Some(p.cursor);
        if !p.more {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct, seen);
    poll(&registry, "redis.stream", &cx, cursor).await;
    assert_eq!(pending(&stream, "all").await, 0);
}
