//! The `object_store` app without a server: configuration, key checks, error mapping, the
//! trigger's cursor, and every action on a local directory.

use std::sync::Arc;

use ::object_store as store;
use aura_core::connection::{ConnectionRecord, StaticConnection};
use aura_core::secret::Scrubber;
use aura_core::trigger::TriggerParams;
use aura_core::{Context, Credentials, ErrorKind, Registry};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::actions::{GetInput, ListInput, PutInput, get_request, list_request, put_request};
use super::core::{Stores, key};
use super::error::{from_object_store, status_in};
use super::*;

const SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";

fn s3(extra: &[(&str, &str)]) -> Credentials {
    let mut fields = vec![
        ("provider", "s3"),
        ("bucket", "b"),
        ("access_key_id", "AKIDEXAMPLE"),
        ("secret_access_key", SECRET),
    ];
    fields.extend_from_slice(extra);
    Credentials::custom(fields)
}

fn local(root: &std::path::Path) -> Credentials {
    Credentials::custom([("provider", "local"), ("root", root.to_str().unwrap())])
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn an_s3_connection_reads_its_fields_and_hides_its_secret() {
    let config = StoreConfig::from_credentials(&s3(&[("region", "eu-west-1")])).unwrap();
    assert_eq!(config.provider, Provider::S3);
    assert_eq!(config.bucket.as_deref(), Some("b"));
    assert_eq!(config.region.as_deref(), Some("eu-west-1"));
    assert!(!format!("{config:?}").contains(SECRET));
}

#[test]
fn a_field_of_another_provider_is_refused_by_name() {
    let err = StoreConfig::from_credentials(&s3(&[("account", "devstoreaccount1")])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.context_value("field"), Some("account"));
    assert!(err.to_string().contains("not used by provider `s3`"), "{err}");
}

#[test]
fn a_missing_required_field_and_an_unknown_provider_are_refused() {
    let err = StoreConfig::from_credentials(&Credentials::custom([("provider", "s3"), ("bucket", "b")])).unwrap_err();
    assert_eq!(err.context_value("field"), Some("access_key_id"));
    let err = StoreConfig::from_credentials(&Credentials::custom([("provider", "ftp")])).unwrap_err();
    assert_eq!(err.context_value("field"), Some("provider"));
    let err = StoreConfig::from_credentials(&Credentials::bearer("x")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn an_http_endpoint_needs_allow_http() {
    let err = StoreConfig::from_credentials(&s3(&[("endpoint", "http://127.0.0.1:9000")])).unwrap_err();
    assert_eq!(err.context_value("field"), Some("endpoint"));
    let config =
        StoreConfig::from_credentials(&s3(&[("endpoint", "http://127.0.0.1:9000"), ("allow_http", "true")])).unwrap();
    assert!(config.allow_http);
    let err = StoreConfig::from_credentials(&s3(&[("allow_http", "yes")])).unwrap_err();
    assert_eq!(err.context_value("field"), Some("allow_http"));
}

#[test]
fn a_local_root_must_be_an_existing_absolute_directory() {
    let err = StoreConfig::from_credentials(&Credentials::custom([("provider", "local"), ("root", "relative/dir")]))
        .unwrap_err();
    assert_eq!(err.context_value("field"), Some("root"));
    let err = StoreConfig::from_credentials(&Credentials::custom([
        ("provider", "local"),
        ("root", "/no/such/dir/aura"),
    ]))
    .unwrap_err();
    assert_eq!(err.context_value("field"), Some("root"));
    let dir = tempfile::tempdir().unwrap();
    let err = StoreConfig::from_credentials(&Credentials::custom([
        ("provider", "local"),
        ("root", dir.path().to_str().unwrap()),
        ("bucket", "b"),
    ]))
    .unwrap_err();
    assert_eq!(err.context_value("field"), Some("bucket"));
}

#[test]
fn a_gcs_key_must_be_json_and_its_private_key_is_scrubbed() {
    let bad = Credentials::custom([
        ("provider", "gcs"),
        ("bucket", "b"),
        ("service_account_key", "not json at all"),
    ]);
    let err = StoreConfig::from_credentials(&bad).unwrap_err();
    assert_eq!(err.context_value("field"), Some("service_account_key"));
    assert!(!err.to_string().contains("not json at all"));

    let private = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n";
    let key = format!(
        r#"{{"type":"service_account","client_email":"aura@p.iam.gserviceaccount.com","private_key_id":"1","private_key":"{private}"}}"#
    );
    let config = StoreConfig::from_credentials(&Credentials::custom([
        ("provider", "gcs"),
        ("bucket", "b"),
        ("service_account_key", key.as_str()),
    ]))
    .unwrap();
    // The private key alone, as a PEM error would quote it (JSON escapes undone).
    assert!(config.scrubber().finds(&private.replace("\\n", "\n")));
}

#[test]
fn the_gcs_builder_takes_the_bucket_key_and_endpoint() {
    use store::gcp::GoogleConfigKey;
    let key = r#"{"type":"service_account","client_email":"aura@p.iam.gserviceaccount.com","private_key_id":"1","private_key":"x"}"#;
    let config = StoreConfig::from_credentials(&Credentials::custom([
        ("provider", "gcs"),
        ("bucket", "photos"),
        ("service_account_key", key),
        ("endpoint", "http://127.0.0.1:4443"),
        ("allow_http", "true"),
    ]))
    .unwrap();
    let (options, retry) = self::core::default_options(&config);
    let builder = self::core::gcs_builder(&config, options, retry);
    assert_eq!(
        builder.get_config_value(&GoogleConfigKey::Bucket).as_deref(),
        Some("photos")
    );
    assert_eq!(
        builder.get_config_value(&GoogleConfigKey::ServiceAccountKey).as_deref(),
        Some(key)
    );
}

#[test]
fn an_s3_and_an_azure_store_build_without_a_call() {
    let config =
        StoreConfig::from_credentials(&s3(&[("endpoint", "http://127.0.0.1:1"), ("allow_http", "true")])).unwrap();
    let built = self::core::build(&config).unwrap();
    assert!(built.signer.is_some());
    let azure = Credentials::custom([
        ("provider", "azure"),
        ("bucket", "c"),
        ("account", "devstoreaccount1"),
        ("access_key", "not base64 !!"),
    ]);
    let err = self::core::build(&StoreConfig::from_credentials(&azure).unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.to_string().contains("not base64 !!"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Keys and inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn keys_follow_the_path_rules_and_name_their_field() {
    assert_eq!(key("key", "a/b/c.txt").unwrap().as_ref(), "a/b/c.txt");
    for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a/\u{7}b"] {
        let err = key("from", bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert_eq!(err.violations()[0].path, "/from", "{bad:?}");
    }
    assert!(key("key", &"k".repeat(1025)).is_err());
}

#[test]
fn put_decodes_base64_and_checks_metadata_names() {
    let input: PutInput =
        serde_json::from_value(json!({ "key": "k", "content": "aGk=", "encoding": "base64" })).unwrap();
    let (_, bytes, _) = put_request(&input).unwrap();
    assert_eq!(&bytes[..], b"hi");
    let input: PutInput =
        serde_json::from_value(json!({ "key": "k", "content": "%%%", "encoding": "base64" })).unwrap();
    assert_eq!(put_request(&input).unwrap_err().violations()[0].path, "/content");
    let input: PutInput =
        serde_json::from_value(json!({ "key": "k", "content": "x", "metadata": { "a b": "v" } })).unwrap();
    assert_eq!(put_request(&input).unwrap_err().violations()[0].path, "/metadata/a b");
    let input: PutInput =
        serde_json::from_value(json!({ "key": "k", "content": "x", "content_type": "text/plain\n" })).unwrap();
    assert_eq!(put_request(&input).unwrap_err().violations()[0].path, "/content_type");
}

#[test]
fn get_checks_its_range_and_limit() {
    let input: GetInput = serde_json::from_value(json!({ "key": "k", "range": { "start": 5, "end": 5 } })).unwrap();
    assert_eq!(get_request(&input).unwrap_err().violations()[0].path, "/range/end");
    let input: GetInput = serde_json::from_value(json!({ "key": "k", "max_bytes": 0 })).unwrap();
    assert_eq!(get_request(&input).unwrap_err().violations()[0].path, "/max_bytes");
    let input: GetInput = serde_json::from_value(json!({ "key": "k", "range": { "start": 2 } })).unwrap();
    let (_, options, limit) = get_request(&input).unwrap();
    assert_eq!(options.range, Some(store::GetRange::Offset(2)));
    assert_eq!(limit, DEFAULT_MAX_BYTES);
}

#[test]
fn list_checks_its_prefix_offset_and_page_size() {
    let request = list_request(&ListInput {
        prefix: "in/".into(),
        ..ListInput::default()
    })
    .unwrap();
    assert_eq!(request.prefix.unwrap().as_ref(), "in");
    assert_eq!(request.max, 100);
    let err = list_request(&ListInput {
        prefix: "a//b".into(),
        ..ListInput::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.violations()[0].path, "/prefix");
    let err = list_request(&ListInput {
        max_results: Some(5000),
        ..ListInput::default()
    })
    .err()
    .unwrap();
    assert_eq!(err.violations()[0].path, "/max_results");
}

// ---------------------------------------------------------------------------------------------
// Error mapping
// ---------------------------------------------------------------------------------------------

fn boxed(text: &str) -> Box<dyn std::error::Error + Send + Sync> {
    text.to_owned().into()
}

#[test]
fn every_driver_error_maps_to_its_kind() {
    let none = Scrubber::new();
    let cases: Vec<(store::Error, ErrorKind)> = vec![
        (
            store::Error::NotFound {
                path: "k".into(),
                source: boxed("404"),
            },
            ErrorKind::NotFound,
        ),
        (
            store::Error::AlreadyExists {
                path: "k".into(),
                source: boxed("409"),
            },
            ErrorKind::Conflict,
        ),
        (
            store::Error::Precondition {
                path: "k".into(),
                source: boxed("412"),
            },
            ErrorKind::Conflict,
        ),
        (
            store::Error::Unauthenticated {
                path: "k".into(),
                source: boxed("401"),
            },
            ErrorKind::Unauthorized,
        ),
        (
            store::Error::PermissionDenied {
                path: "k".into(),
                source: boxed("403"),
            },
            ErrorKind::Forbidden,
        ),
        (
            store::Error::NotSupported { source: boxed("no") },
            ErrorKind::InvalidInput,
        ),
        (
            store::Error::InvalidPath {
                source: store::path::Error::EmptySegment { path: "a//b".into() },
            },
            ErrorKind::InvalidInput,
        ),
        (
            store::Error::Generic {
                store: "S3",
                source: boxed(
                    "Error performing GET http://h/b/k in 2ms - Server returned non-2xx status code: 503 Service Unavailable: slow down",
                ),
            },
            ErrorKind::Unavailable,
        ),
        (
            store::Error::Generic {
                store: "S3",
                source: boxed("Server returned non-2xx status code: 502 Bad Gateway: "),
            },
            ErrorKind::Upstream,
        ),
        (
            store::Error::Generic {
                store: "S3",
                source: boxed("Server returned non-2xx status code: 429 Too Many Requests: "),
            },
            ErrorKind::RateLimited,
        ),
        (
            store::Error::Generic {
                store: "S3",
                source: Box::new(store::client::HttpError::new(
                    store::client::HttpErrorKind::Connect,
                    std::io::Error::other("connection refused"),
                )),
            },
            ErrorKind::Unavailable,
        ),
        (
            store::Error::Generic {
                store: "S3",
                source: Box::new(store::client::HttpError::new(
                    store::client::HttpErrorKind::Timeout,
                    std::io::Error::other("timed out"),
                )),
            },
            ErrorKind::Timeout,
        ),
    ];
    for (err, kind) in cases {
        let text = err.to_string();
        let mapped = from_object_store(err, Some("k"), &none);
        assert_eq!(mapped.kind(), kind, "{text}");
        assert_eq!(mapped.context_value("key"), Some("k"));
    }
}

#[test]
fn a_not_found_names_the_key_and_a_status_is_kept() {
    let err = from_object_store(
        store::Error::NotFound {
            path: "in/a.txt".into(),
            source: boxed("404"),
        },
        Some("in/a.txt"),
        &Scrubber::new(),
    );
    assert!(err.to_string().contains("`in/a.txt`"), "{err}");
    let err = from_object_store(
        store::Error::Generic {
            store: "S3",
            source: boxed("Server returned non-2xx status code: 500 Internal Server Error: oops"),
        },
        None,
        &Scrubber::new(),
    );
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable());
    assert_eq!(status_in("no status here"), None);
}

#[test]
fn driver_messages_are_scrubbed_of_secrets() {
    let mut scrubber = Scrubber::new();
    scrubber.add(SECRET);
    let err = from_object_store(
        store::Error::PermissionDenied {
            path: "k".into(),
            source: boxed(&format!("the server echoed {SECRET}")),
        },
        Some("k"),
        &scrubber,
    );
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

// ---------------------------------------------------------------------------------------------
// The trigger's cursor
// ---------------------------------------------------------------------------------------------

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn object(key: &str, secs: i64) -> (DateTime<Utc>, ObjectInfo) {
    (
        at(secs),
        ObjectInfo {
            key: key.into(),
            size: 1,
            last_modified: super::actions::rfc3339(at(secs)),
            etag: Some(format!("\"{key}\"")),
            version: None,
        },
    )
}

#[test]
fn objects_in_the_same_second_are_neither_lost_nor_repeated() {
    let cursor = NewObjectsCursor::baseline([(at(0), "old")]);
    // b and c share a second; a page of one brings b, then c, then nothing.
    let listed = || vec![object("old", 0), object("c", 1), object("b", 1), object("z", 0)];
    let (items, cursor, more) = select(listed(), &cursor, 1);
    assert_eq!(items[0].key, "z", "same time as the baseline, not seen: new");
    assert!(more);
    let (items, cursor, more) = select(listed(), &cursor, 1);
    assert_eq!(items[0].key, "b");
    assert!(more);
    let (items, cursor, more) = select(listed(), &cursor, 1);
    assert_eq!(items[0].key, "c");
    assert!(!more);
    assert_eq!(cursor.last_modified, Some(at(1)));
    assert_eq!(cursor.keys, vec!["b".to_owned(), "c".to_owned()]);
    let (items, _, _) = select(listed(), &cursor, 10);
    assert!(items.is_empty());
}

#[test]
fn the_cursor_round_trips_as_json_and_dedupe_keys_carry_the_etag() {
    let cursor = NewObjectsCursor::baseline([(at(3), "a"), (at(3), "b"), (at(1), "c")]);
    assert_eq!(cursor.keys, vec!["a".to_owned(), "b".to_owned()]);
    let back: NewObjectsCursor = serde_json::from_str(&serde_json::to_string(&cursor).unwrap()).unwrap();
    assert_eq!(back, cursor);
    let (_, info) = object("k", 0);
    assert_eq!(dedupe_key(&info), "k#\"k\"");
}

// ---------------------------------------------------------------------------------------------
// Every action on a local directory
// ---------------------------------------------------------------------------------------------

struct Local {
    _dir: tempfile::TempDir,
    registry: Registry,
    cx: Context,
}

fn local_app() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new();
    registry.register(ObjectStoreApp::new()).unwrap();
    let record = ConnectionRecord::new("object_store", "local", local(dir.path()));
    let cx = Context::builder()
        .connection(Arc::new(StaticConnection::new(record)))
        .build();
    Local {
        _dir: dir,
        registry,
        cx,
    }
}

impl Local {
    async fn call(&self, action: &str, input: Value) -> aura_core::Result<Value> {
        let action = self.registry.action(&format!("object_store.{action}")).await.unwrap();
        action.call(self.cx.clone(), input).await
    }
}

#[tokio::test]
async fn put_get_list_copy_and_delete_on_a_local_directory() {
    let local = local_app();
    let err = local
        .call(
            "put",
            json!({ "key": "in/a.txt", "content": "hello", "content_type": "text/plain" }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("stores no content type"), "{err}");
    let put = local
        .call("put", json!({ "key": "in/a.txt", "content": "hello" }))
        .await
        .unwrap();
    assert_eq!(put["size"], 5);
    local
        .call(
            "put",
            json!({ "key": "in/deep/b.bin", "content": "/w==", "encoding": "base64" }),
        )
        .await
        .unwrap();
    local
        .call("put", json!({ "key": "top.txt", "content": "t" }))
        .await
        .unwrap();

    let got = local.call("get", json!({ "key": "in/a.txt" })).await.unwrap();
    assert_eq!(got["content"], "hello");
    assert_eq!(got["encoding"], "text");
    assert_eq!(got["size"], 5);
    let got = local.call("get", json!({ "key": "in/deep/b.bin" })).await.unwrap();
    assert_eq!(
        (got["content"].as_str(), got["encoding"].as_str()),
        (Some("/w=="), Some("base64"))
    );
    let got = local
        .call("get", json!({ "key": "in/a.txt", "range": { "start": 1, "end": 3 } }))
        .await
        .unwrap();
    assert_eq!(got["content"], "el");
    assert_eq!(got["range"], json!([1, 3]));
    let err = local
        .call("get", json!({ "key": "in/a.txt", "max_bytes": 2 }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("over the limit"), "{err}");
    let err = local.call("get", json!({ "key": "in/missing.txt" })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("in/missing.txt"), "{err}");

    let listed = local.call("list", json!({ "prefix": "in" })).await.unwrap();
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["in/a.txt", "in/deep/b.bin"]);
    let folders = local
        .call("list", json!({ "prefix": "in", "delimiter": true }))
        .await
        .unwrap();
    assert_eq!(folders["folders"], json!(["in/deep/"]));
    assert_eq!(folders["objects"][0]["key"], "in/a.txt");
    let page = local.call("list", json!({ "max_results": 2 })).await.unwrap();
    assert_eq!(page["truncated"], true);
    assert_eq!(page["next_offset"], "in/deep/b.bin");
    let rest = local
        .call("list", json!({ "max_results": 2, "offset": "in/deep/b.bin" }))
        .await
        .unwrap();
    assert_eq!(rest["objects"][0]["key"], "top.txt");
    assert_eq!(rest["truncated"], false);

    local
        .call("copy", json!({ "from": "in/a.txt", "to": "out/a.txt" }))
        .await
        .unwrap();
    let err = local
        .call(
            "copy",
            json!({ "from": "top.txt", "to": "out/a.txt", "overwrite": false }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let err = local
        .call("copy", json!({ "from": "nope", "to": "x" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = local
        .call(
            "put",
            json!({ "key": "out/a.txt", "content": "again", "if_not_exists": true }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);

    local.call("delete", json!({ "key": "out/a.txt" })).await.unwrap();
    local.call("delete", json!({ "key": "out/a.txt" })).await.unwrap();
    let err = local.call("get", json!({ "key": "out/a.txt" })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let err = local.call("presign", json!({ "key": "in/a.txt" })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("cannot presign"), "{err}");
}

#[tokio::test]
async fn bad_keys_are_refused_before_the_connection_is_read() {
    let registry = Registry::new();
    registry.register(ObjectStoreApp::new()).unwrap();
    // No connection at all: a refused key never gets as far as asking for one.
    let cx = Context::builder().build();
    for (action, input, field) in [
        ("put", json!({ "key": "a//b", "content": "x" }), "/key"),
        ("get", json!({ "key": "../etc/passwd" }), "/key"),
        ("copy", json!({ "from": "a", "to": "b/" }), "/to"),
        ("delete", json!({ "key": "" }), "/key"),
        ("list", json!({ "prefix": "a/./b" }), "/prefix"),
    ] {
        let action = registry.action(&format!("object_store.{action}")).await.unwrap();
        let err = action.call(cx.clone(), input.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{input}");
        assert!(
            err.violations().iter().any(|v| v.path == field),
            "{input}: {:?}",
            err.violations()
        );
    }
}

#[tokio::test]
async fn new_objects_brings_each_new_object_once() {
    let local = local_app();
    let trigger = local.registry.trigger("object_store.new_objects").await.unwrap();
    let cx = local
        .cx
        .to_builder()
        .extension(TriggerParams(Arc::new(json!({ "prefix": "in", "max_items": 1 }))))
        .build();
    local
        .call("put", json!({ "key": "in/before.txt", "content": "0" }))
        .await
        .unwrap();
    let first = trigger.poll(&cx, None).await.unwrap();
    assert!(first.items.is_empty(), "the first poll is the baseline");
    local
        .call("put", json!({ "key": "in/a.txt", "content": "1" }))
        .await
        .unwrap();
    local
        .call("put", json!({ "key": "in/b.txt", "content": "2" }))
        .await
        .unwrap();
    local
        .call("put", json!({ "key": "other/c.txt", "content": "3" }))
        .await
        .unwrap();
    let mut cursor = Some(first.cursor);
    let mut keys = Vec::new();
    for _ in 0..5 {
        let poll = trigger.poll(&cx, cursor.take()).await.unwrap();
        keys.extend(poll.items.iter().map(|i| i.data["key"].as_str().unwrap().to_owned()));
        cursor = Some(poll.cursor);
        if !poll.more {
            break;
        }
    }
    keys.sort();
    assert_eq!(keys, ["in/a.txt", "in/b.txt"]);
    let again = trigger.poll(&cx, cursor).await.unwrap();
    assert!(again.items.is_empty());
}

#[tokio::test]
async fn a_store_is_cached_per_connection_and_credential_version() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::default();
    let record = ConnectionRecord::new("object_store", "local", local(dir.path()));
    let cx = Context::builder()
        .connection(Arc::new(StaticConnection::new(record.clone())))
        .build();
    let a = stores.of(&cx).unwrap();
    let b = stores.of(&cx).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let mut replaced = record;
    replaced.version += 1;
    let cx = Context::builder()
        .connection(Arc::new(StaticConnection::new(replaced)))
        .build();
    let c = stores.of(&cx).unwrap();
    assert!(!Arc::ptr_eq(&a, &c), "a new credential version builds a new store");
    assert_eq!(stores.len(), 1, "the old version's store is dropped");
}

#[tokio::test]
async fn test_connection_passes_on_a_local_directory() {
    let local = local_app();
    ObjectStoreApp::new().test_connection(&local.cx).await.unwrap();
}
