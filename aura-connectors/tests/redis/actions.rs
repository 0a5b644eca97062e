//! Every action against the server.

use super::*;

// ---------------------------------------------------------------------------------------------
// actions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn set_get_and_delete_strings_and_json_values() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("str");
    let out = call(&registry, &cx, "redis.set", json!({ "key": key, "value": "hello" }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "written": true }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": "hello" }));

    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": { "n": 1, "ok": true } }),
    )
    .await
    .unwrap();
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": r#"{"n":1,"ok":true}"# }));

    // NX does not overwrite; XX does not create.
    let out = call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": "x", "condition": "nx" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "written": false }));
    let missing = unique("missing");
    let out = call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": missing, "value": "x", "condition": "xx" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "written": false }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": missing }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": null }));

    let out = call(&registry, &cx, "redis.delete", json!({ "keys": [key, missing] }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "deleted": 1 }));
    let out = call(&registry, &cx, "redis.get", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": null }));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_ttl_is_set_and_the_key_expires() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("ttl");
    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": key, "value": "v", "ttl_secs": 100 }),
    )
    .await
    .unwrap();
    let ttl: i64 = raw_query(redis::cmd("TTL").arg(&key)).await;
    assert!((90..=100).contains(&ttl), "TTL {ttl}");

    let short = unique("ttl-ms");
    call(
        &registry,
        &cx,
        "redis.set",
        json!({ "key": short, "value": "v", "ttl_ms": 300 }),
    )
    .await
    .unwrap();
    let pttl: i64 = raw_query(redis::cmd("PTTL").arg(&short)).await;
    assert!((1..=300).contains(&pttl), "PTTL {pttl}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = call(&registry, &cx, "redis.get", json!({ "key": short }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": null }), "expired");
    let ttl: i64 = raw_query(redis::cmd("TTL").arg(&short)).await;
    assert_eq!(ttl, -2, "the key is gone");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn incr_counts_and_refuses_a_value_that_is_not_an_integer() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("n");
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key })).await.unwrap();
    assert_eq!(out, json!({ "value": 1 }));
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key, "by": 41 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": 42 }));
    let out = call(&registry, &cx, "redis.incr", json!({ "key": key, "by": -2 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "value": 40 }));

    let text = unique("text");
    call(&registry, &cx, "redis.set", json!({ "key": text, "value": "abc" }))
        .await
        .unwrap();
    let err = call(&registry, &cx, "redis.incr", json!({ "key": text }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.context_value("key"), Some(text.as_str()));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn hashes_are_set_and_read_whole_or_by_field() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("hash");
    let out = call(
        &registry,
        &cx,
        "redis.hash_set",
        json!({ "key": key, "fields": { "name": "Ada", "age": 36, "tags": ["x"] } }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "added": 3 }));
    let out = call(
        &registry,
        &cx,
        "redis.hash_set",
        json!({ "key": key, "fields": { "age": 37 } }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "added": 0 }), "overwritten, not added");
    let out = call(&registry, &cx, "redis.hash_get", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({ "fields": { "name": "Ada", "age": "37", "tags": r#"["x"]"# } })
    );
    let out = call(
        &registry,
        &cx,
        "redis.hash_get",
        json!({ "key": key, "fields": ["name", "missing"] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "fields": { "name": "Ada" } }));
    let out = call(&registry, &cx, "redis.hash_get", json!({ "key": unique("none") }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "fields": {} }));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn lists_are_pushed_and_popped_at_either_end() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("list");
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["b", "c"] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 2 }));
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["a"], "side": "left" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 3 }));
    let out = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": [4, 5] }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "length": 5 }));
    // a b c 4 5
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": ["a"] }));
    let out = call(
        &registry,
        &cx,
        "redis.list_pop",
        json!({ "key": key, "side": "right", "count": 2 }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "values": ["5", "4"] }));
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key, "count": 10 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": ["b", "c"] }));
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": [] }), "empty list");
    let out = call(&registry, &cx, "redis.list_pop", json!({ "key": key, "count": 2 }))
        .await
        .unwrap();
    assert_eq!(out, json!({ "values": [] }), "empty list, with a count");
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn a_command_on_a_key_of_another_type_is_invalid_input_naming_the_key() {
    let (registry, cx) = (registry().await, context(good()));
    let key = unique("typed");
    call(&registry, &cx, "redis.set", json!({ "key": key, "value": "plain" }))
        .await
        .unwrap();
    let err = call(
        &registry,
        &cx,
        "redis.list_push",
        json!({ "key": key, "values": ["x"] }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert_eq!(err.context_value("key"), Some(key.as_str()));
    assert_eq!(err.context_value("code"), Some("WRONGTYPE"));
}

#[tokio::test]
#[ignore = "needs redis: see .ci/run"]
async fn publish_counts_receivers_and_stream_add_appends_and_trims() {
    let (registry, cx) = (registry().await, context(good()));
    let out = call(
        &registry,
        &cx,
        "redis.publish",
        json!({ "channel": unique("nobody"), "message": "hi" }),
    )
    .await
    .unwrap();
    assert_eq!(out, json!({ "receivers": 0 }));

    let stream = unique("stream");
    let first = call(
        &registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "order": 1, "who": "ada" } }),
    )
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    assert!(id.contains('-'), "{id}");
    let entries: Vec<(String, Vec<(String, String)>)> =
        raw_query(redis::cmd("XRANGE").arg(&stream).arg("-").arg("+")).await;
    assert_eq!(
        entries,
        [(
            id,
            vec![
                ("order".to_owned(), "1".to_owned()),
                ("who".to_owned(), "ada".to_owned())
            ]
        )]
    );
    for i in 0..5 {
        call(
            &registry,
            &cx,
            "redis.stream_add",
            json!({ "stream": stream, "fields": { "i": i }, "max_len": 2, "exact_max_len": true }),
        )
        .await
        .unwrap();
    }
    let len: u64 = raw_query(redis::cmd("XLEN").arg(&stream)).await;
    assert_eq!(len, 2, "trimmed to exactly 2");
    let err = call(
        &registry,
        &cx,
        "redis.stream_add",
        json!({ "stream": stream, "fields": { "i": 0 }, "id": "1-1" }),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "an id below the top: {err}");
}
