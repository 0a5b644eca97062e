//! The `object_store` app against real stores: a local directory (plain `cargo test`), S3 on
//! moto and Azure Blob on azurite (ignored tests: `.ci/run` starts both and exports
//! `AURA_TEST_MOTO_URL` and `AURA_TEST_AZURITE_URL`). Each backend passes the connector
//! behaviour suite; the servers' tests also run every action, fetch a presigned URL, poll the
//! trigger and run a scenario on an engine with a connection made by a `ConnectionManager`.
//!
//! The open moto accepts any access key (and serves presigned URLs); the refused-credentials
//! checks run on a second moto that enforces IAM (`AURA_TEST_MOTO_IAM_URL`, its user's
//! `AURA_TEST_MOTO_IAM_ACCESS_KEY_ID` and `AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY`, its bucket
//! `aura`: see .ci/servers/moto.sh) and on azurite, which checks every request's shared key
//! signature.

#![cfg(feature = "object-store")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aura_connectors::object_store::ObjectStoreApp;
use aura_core::connection::{ConnectionManager, ConnectionRecord, NewConnection, StaticConnection};
use aura_core::engine::Engine;
use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::store::ExecutionStatus;
use aura_core::trigger::TriggerParams;
use aura_core::{Context, Credentials, ErrorKind, Registry};
use aura_testkit::behavior::connector::{ConnectorFixture, PollingCase};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// azurite's well-known development account and key (published by Microsoft).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// moto takes any secret: this one is a canary the suite looks for.
const MOTO_SECRET: &str = "moto-canary-Secret-8d1f27c4";

/// A name no other test (nor an earlier run on the same server) uses.
fn unique(stem: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{stem}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn env(name: &str, server: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start {server} (see .ci/run and .ci/servers/{server}.sh) and export it")
    })
}

// ---------------------------------------------------------------------------------------------
// The backends
// ---------------------------------------------------------------------------------------------

/// A bucket on moto, made by a plain `PUT /bucket` (moto asks no signature).
async fn moto_bucket() -> (Credentials, String) {
    let url = env("AURA_TEST_MOTO_URL", "moto");
    let bucket = unique("aura");
    let answer = reqwest::Client::new()
        .put(format!("{url}/{bucket}"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        answer.status().is_success(),
        "moto refused to create a bucket: {}",
        answer.status()
    );
    let credentials = Credentials::custom([
        ("provider", "s3"),
        ("bucket", bucket.as_str()),
        ("region", "us-east-1"),
        ("endpoint", url.as_str()),
        ("access_key_id", "aura-test"),
        ("secret_access_key", MOTO_SECRET),
        ("allow_http", "true"),
    ]);
    (credentials, bucket)
}

/// The bucket `aura` on the moto that enforces IAM, with `secret` for its user's key.
fn moto_iam_credentials(secret: &str) -> Credentials {
    let url = env("AURA_TEST_MOTO_IAM_URL", "moto");
    let key_id = env("AURA_TEST_MOTO_IAM_ACCESS_KEY_ID", "moto");
    Credentials::custom([
        ("provider", "s3"),
        ("bucket", "aura"),
        ("endpoint", url.as_str()),
        ("access_key_id", key_id.as_str()),
        ("secret_access_key", secret),
        ("allow_http", "true"),
    ])
}

fn moto_iam_secret() -> String {
    env("AURA_TEST_MOTO_IAM_SECRET_ACCESS_KEY", "moto")
}

/// A secret of the right shape that moto's IAM refuses.
const WRONG_S3_SECRET: &str = "moto-canary-WrongSecret-3b9e41aa7c0d";

fn azurite_credentials(container: &str, key: &str) -> Credentials {
    let url = env("AURA_TEST_AZURITE_URL", "azurite");
    Credentials::custom([
        ("provider", "azure"),
        ("bucket", container),
        ("account", AZURITE_ACCOUNT),
        ("access_key", key),
        ("endpoint", url.as_str()),
        ("allow_http", "true"),
    ])
}

/// A key of the right shape that azurite refuses.
fn wrong_azure_key() -> String {
    STANDARD.encode(b"azurite-canary-WrongKey-0123456789abcdef-0123456789abcdef-012345")
}

/// A container on azurite: `PUT ?restype=container`, signed with the shared key as Azure
/// documents it (object_store makes no containers).
async fn azurite_container() -> (Credentials, String) {
    use hmac::{Hmac, Mac};
    let url = env("AURA_TEST_AZURITE_URL", "azurite");
    let container = unique("aura");
    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let version = "2021-08-06";
    // `http://host:port/devstoreaccount1` → `/devstoreaccount1/<container>`.
    let path = format!("/{}/{container}", url.splitn(4, '/').nth(3).unwrap_or_default());
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&STANDARD.decode(AZURITE_KEY).unwrap()).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let answer = reqwest::Client::new()
        .put(format!("{url}/{container}?restype=container"))
        .header("x-ms-date", &date)
        .header("x-ms-version", version)
        .header("Authorization", format!("SharedKey {AZURITE_ACCOUNT}:{signature}"))
        .send()
        .await
        .expect("azurite answers");
    let status = answer.status();
    assert!(
        status.is_success(),
        "azurite refused to create a container: {status} {}",
        answer.text().await.unwrap_or_default()
    );
    (azurite_credentials(&container, AZURITE_KEY), container)
}

fn local_credentials(dir: &tempfile::TempDir) -> Credentials {
    Credentials::custom([("provider", "local"), ("root", dir.path().to_str().unwrap())])
}

// ---------------------------------------------------------------------------------------------
// The behaviour suite, once per backend
// ---------------------------------------------------------------------------------------------

/// Writes one new object under `incoming/` through a connection of its own.
fn producer(credentials: Credentials) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync {
    let registry = Arc::new(Registry::new());
    registry.register(ObjectStoreApp::new()).unwrap();
    move || {
        let registry = registry.clone();
        let credentials = credentials.clone();
        Box::pin(async move {
            let action = registry.action("object_store.put").await.unwrap();
            let record = ConnectionRecord::new("object_store", "producer", credentials);
            let cx = Context::builder()
                .connection(Arc::new(StaticConnection::new(record)))
                .build();
            action
                .call(cx, json!({ "key": unique("incoming/new"), "content": "made" }))
                .await
                .unwrap();
        })
    }
}

fn fixture(credentials: Credentials, bad: Option<Credentials>) -> ConnectorFixture {
    let produce = producer(credentials.clone());
    let mut fixture = ConnectorFixture::new(ObjectStoreApp::new())
        .credentials(credentials)
        .bad_input("object_store.put", json!({ "key": "a//b", "content": "x" }))
        .bad_input("object_store.put", json!({ "key": "k", "content": 5 }))
        .bad_input(
            "object_store.put",
            json!({ "key": "k", "content": "%%", "encoding": "base64" }),
        )
        .bad_input("object_store.get", json!({ "key": "../up" }))
        .bad_input("object_store.get", json!({ "key": "k", "max_bytes": 0 }))
        .bad_input("object_store.list", json!({ "prefix": "a//b" }))
        .bad_input("object_store.copy", json!({ "from": "a", "to": "/b" }))
        .bad_input("object_store.delete", json!({ "key": "" }))
        .bad_input("object_store.presign", json!({ "key": "k", "expires_secs": 0 }))
        .call(
            "object_store.put",
            json!({ "key": "behaviour/hello.txt", "content": "hello" }),
        )
        .polling(PollingCase::new("object_store.new_objects", json!({ "prefix": "incoming" })).produce(produce));
    if let Some(bad) = bad {
        fixture = fixture.bad_credentials(bad);
    }
    fixture
}

async fn local_fixture() -> ConnectorFixture {
    let dir = tempfile::tempdir().unwrap();
    // A local store has no secret: the canary stands for one (it must show nowhere, trivially).
    fixture(local_credentials(&dir), None)
        .canary("local-canary-NeverShown-5e2a")
        .guard(dir)
}

async fn moto_fixture() -> ConnectorFixture {
    let (credentials, _) = moto_bucket().await;
    fixture(credentials, None)
}

async fn moto_iam_fixture() -> ConnectorFixture {
    fixture(
        moto_iam_credentials(&moto_iam_secret()),
        Some(moto_iam_credentials(WRONG_S3_SECRET)),
    )
}

async fn azurite_fixture() -> ConnectorFixture {
    let (credentials, container) = azurite_container().await;
    fixture(credentials, Some(azurite_credentials(&container, &wrong_azure_key())))
}

mod local_suite {
    use super::*;
    aura_testkit::connector_behavior!(async { local_fixture().await });
}

mod moto_suite {
    use super::*;
    aura_testkit::connector_behavior!(
        #[ignore = "needs moto: see .ci/run"]
        async {
            moto_fixture().await
        }
    );
}

mod moto_iam_suite {
    use super::*;
    aura_testkit::connector_behavior!(
        #[ignore = "needs moto: see .ci/run"]
        async {
            moto_iam_fixture().await
        }
    );
}

mod azurite_suite {
    use super::*;
    aura_testkit::connector_behavior!(
        #[ignore = "needs azurite: see .ci/run"]
        async {
            azurite_fixture().await
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Every action on a server
// ---------------------------------------------------------------------------------------------

struct Bench {
    registry: Arc<Registry>,
    cx: Context,
}

impl Bench {
    fn new(credentials: Credentials) -> Self {
        let registry = Arc::new(Registry::new());
        registry.register(ObjectStoreApp::new()).unwrap();
        let record = ConnectionRecord::new("object_store", "bench", credentials);
        let cx = Context::builder()
            .connection(Arc::new(StaticConnection::new(record)))
            .build();
        Self { registry, cx }
    }

    async fn call(&self, action: &str, input: Value) -> aura_core::Result<Value> {
        let action = self.registry.action(&format!("object_store.{action}")).await.unwrap();
        action.call(self.cx.clone(), input).await
    }
}

/// put, get (whole, range, limit, missing), list (flat, folders, pages), copy (overwrite or
/// not), delete, presign GET (fetched) and PUT (used), on one bucket.
async fn every_action(credentials: Credentials) {
    let bench = Bench::new(credentials);
    let put = bench
        .call(
            "put",
            json!({
                "key": "in/a.txt", "content": "hello, object", "content_type": "text/plain",
                "metadata": { "origin": "aura" }
            }),
        )
        .await
        .unwrap();
    assert_eq!(put["size"], 13);
    bench
        .call(
            "put",
            json!({ "key": "in/deep/b.bin", "content": "/wAB", "encoding": "base64" }),
        )
        .await
        .unwrap();
    bench
        .call("put", json!({ "key": "top.txt", "content": "t" }))
        .await
        .unwrap();

    let got = bench.call("get", json!({ "key": "in/a.txt" })).await.unwrap();
    assert_eq!(got["content"], "hello, object");
    assert_eq!(got["encoding"], "text");
    assert_eq!(got["size"], 13);
    assert_eq!(got["content_type"], "text/plain");
    assert_eq!(got["metadata"]["origin"], "aura");
    assert!(got["etag"].is_string(), "{got}");
    let got = bench.call("get", json!({ "key": "in/deep/b.bin" })).await.unwrap();
    assert_eq!(
        (got["content"].as_str(), got["encoding"].as_str()),
        (Some("/wAB"), Some("base64"))
    );
    let got = bench
        .call("get", json!({ "key": "in/a.txt", "range": { "start": 7, "end": 13 } }))
        .await
        .unwrap();
    assert_eq!(got["content"], "object");
    let err = bench
        .call("get", json!({ "key": "in/a.txt", "max_bytes": 4 }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = bench.call("get", json!({ "key": "in/missing" })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("in/missing"), "{err}");

    let listed = bench.call("list", json!({ "prefix": "in" })).await.unwrap();
    let keys: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["in/a.txt", "in/deep/b.bin"]);
    let folders = bench
        .call("list", json!({ "prefix": "in", "delimiter": true }))
        .await
        .unwrap();
    assert_eq!(folders["folders"], json!(["in/deep/"]), "{folders}");
    assert_eq!(folders["objects"][0]["key"], "in/a.txt");
    let page = bench.call("list", json!({ "max_results": 2 })).await.unwrap();
    assert_eq!(page["truncated"], true, "{page}");
    let rest = bench
        .call("list", json!({ "max_results": 2, "offset": page["next_offset"] }))
        .await
        .unwrap();
    assert_eq!(rest["objects"][0]["key"], "top.txt", "{rest}");
    assert_eq!(rest["truncated"], false);

    bench
        .call("copy", json!({ "from": "in/a.txt", "to": "out/a.txt" }))
        .await
        .unwrap();
    let copied = bench.call("get", json!({ "key": "out/a.txt" })).await.unwrap();
    assert_eq!(copied["content"], "hello, object");
    let err = bench
        .call(
            "copy",
            json!({ "from": "top.txt", "to": "out/a.txt", "overwrite": false }),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    bench
        .call(
            "copy",
            json!({ "from": "top.txt", "to": "out/new.txt", "overwrite": false }),
        )
        .await
        .unwrap();
    let err = bench
        .call("copy", json!({ "from": "nope", "to": "x" }))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    bench.call("delete", json!({ "key": "out/a.txt" })).await.unwrap();
    bench.call("delete", json!({ "key": "out/a.txt" })).await.unwrap();
    let err = bench.call("get", json!({ "key": "out/a.txt" })).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // A presigned GET, fetched by a client that holds no credentials.
    let signed = bench
        .call("presign", json!({ "key": "in/a.txt", "expires_secs": 300 }))
        .await
        .unwrap();
    let url = signed["url"].as_str().unwrap();
    let fetched = reqwest::get(url).await.unwrap();
    assert!(fetched.status().is_success(), "{url}: {}", fetched.status());
    assert_eq!(fetched.text().await.unwrap(), "hello, object");
    // A presigned PUT, used the same way, then read back.
    let signed = bench
        .call("presign", json!({ "key": "up/via-url.txt", "method": "PUT" }))
        .await
        .unwrap();
    let sent = reqwest::Client::new()
        .put(signed["url"].as_str().unwrap())
        .header("x-ms-blob-type", "BlockBlob")
        .body("uploaded")
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "presigned PUT: {}", sent.status());
    let got = bench.call("get", json!({ "key": "up/via-url.txt" })).await.unwrap();
    assert_eq!(got["content"], "uploaded");
}

/// The trigger: a baseline, then new objects once each, in pages of one.
async fn new_objects(credentials: Credentials) {
    let bench = Bench::new(credentials);
    let trigger = bench.registry.trigger("object_store.new_objects").await.unwrap();
    let cx = bench
        .cx
        .to_builder()
        .extension(TriggerParams(Arc::new(json!({ "prefix": "watch", "max_items": 1 }))))
        .build();
    bench
        .call("put", json!({ "key": "watch/old.txt", "content": "0" }))
        .await
        .unwrap();
    let first = trigger.poll(&cx, None).await.unwrap();
    assert!(first.items.is_empty());
    for name in ["a", "b", "c"] {
        bench
            .call("put", json!({ "key": format!("watch/{name}.txt"), "content": name }))
            .await
            .unwrap();
    }
    bench
        .call("put", json!({ "key": "elsewhere/x.txt", "content": "x" }))
        .await
        .unwrap();
    let mut cursor = Some(first.cursor);
    let mut keys = Vec::new();
    for _ in 0..10 {
        let poll = trigger.poll(&cx, cursor.take()).await.unwrap();
        for item in &poll.items {
            assert!(item.dedupe_key.starts_with(item.data["key"].as_str().unwrap()));
            keys.push(item.data["key"].as_str().unwrap().to_owned());
        }
        cursor = Some(serde_json::from_str(&serde_json::to_string(&poll.cursor).unwrap()).unwrap());
        if !poll.more {
            break;
        }
    }
    keys.sort();
    assert_eq!(keys, ["watch/a.txt", "watch/b.txt", "watch/c.txt"]);
    assert!(trigger.poll(&cx, cursor).await.unwrap().items.is_empty());
}

/// A connection made by a `ConnectionManager` (which tests it), and a scenario on an engine:
/// put, then get the key the put returned.
async fn scenario(credentials: Credentials) {
    let registry = Arc::new(Registry::new());
    registry.register(ObjectStoreApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry.clone()).build();
    let record = manager
        .create(NewConnection::new("object_store", "bucket", credentials))
        .await
        .unwrap();
    let engine = Engine::builder(registry.clone())
        .connections(manager.connections())
        .build();
    let scenario = Scenario::builder("archive", "Archive a note")
        .node(NodeBuilder::trigger("start").next(["write"]))
        .node(
            NodeBuilder::action("write", "object_store.put")
                .input(json!({ "key": "notes/{{ trigger.name }}.txt", "content": "{{ trigger.text }}" }))
                .connection(record.id.clone())
                .next(["read"]),
        )
        .node(
            NodeBuilder::action("read", "object_store.get")
                .input(json!({ "key": "{{ steps.write.output.key }}" }))
                .connection(record.id.clone()),
        )
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    let run = engine
        .execute(&plan, json!({ "name": "first", "text": "written by a scenario" }))
        .await
        .unwrap();
    assert_eq!(run.status, ExecutionStatus::Completed, "{:?}", run.error);
    let output = run.node("read").and_then(|n| n.output.clone()).unwrap();
    assert_eq!(output["key"], "notes/first.txt");
    assert_eq!(output["content"], "written by a scenario");
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn s3_on_moto_runs_every_action() {
    every_action(moto_bucket().await.0).await;
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn s3_on_moto_brings_new_objects_once() {
    new_objects(moto_bucket().await.0).await;
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn s3_on_moto_runs_a_scenario_with_a_managed_connection() {
    scenario(moto_bucket().await.0).await;
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn a_missing_bucket_on_moto_fails_the_connection_test_with_not_found() {
    let url = env("AURA_TEST_MOTO_URL", "moto");
    let registry = Arc::new(Registry::new());
    registry.register(ObjectStoreApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry).build();
    let credentials = Credentials::custom([
        ("provider", "s3"),
        ("bucket", unique("never-made").as_str()),
        ("endpoint", url.as_str()),
        ("access_key_id", "aura-test"),
        ("secret_access_key", MOTO_SECRET),
        ("allow_http", "true"),
    ]);
    let err = manager
        .create(NewConnection::new("object_store", "missing", credentials))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[tokio::test]
#[ignore = "needs azurite: see .ci/run"]
async fn azure_on_azurite_runs_every_action() {
    every_action(azurite_container().await.0).await;
}

#[tokio::test]
#[ignore = "needs azurite: see .ci/run"]
async fn azure_on_azurite_brings_new_objects_once() {
    new_objects(azurite_container().await.0).await;
}

#[tokio::test]
#[ignore = "needs azurite: see .ci/run"]
async fn azure_on_azurite_runs_a_scenario_with_a_managed_connection() {
    scenario(azurite_container().await.0).await;
}

#[tokio::test]
#[ignore = "needs azurite: see .ci/run"]
async fn a_wrong_azure_key_is_refused_on_every_action_without_showing_it() {
    let (_, container) = azurite_container().await;
    let wrong = wrong_azure_key();
    refused_everywhere(azurite_credentials(&container, &wrong), &wrong).await;
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn a_wrong_s3_secret_is_refused_on_every_action_without_showing_it() {
    refused_everywhere(moto_iam_credentials(WRONG_S3_SECRET), WRONG_S3_SECRET).await;
}

#[tokio::test]
#[ignore = "needs moto: see .ci/run"]
async fn the_right_s3_secret_passes_moto_iam_on_every_action() {
    let bench = Bench::new(moto_iam_credentials(&moto_iam_secret()));
    let key = unique("iam/object");
    bench
        .call("put", json!({ "key": key, "content": "signed" }))
        .await
        .unwrap();
    let got = bench.call("get", json!({ "key": key })).await.unwrap();
    assert_eq!(got["content"], "signed");
    let listed = bench.call("list", json!({ "prefix": key })).await.unwrap();
    assert!(
        listed["objects"].as_array().unwrap().is_empty(),
        "a key is not a folder"
    );
    let copy = format!("{key}-copy");
    bench
        .call("copy", json!({ "from": key, "to": copy, "overwrite": false }))
        .await
        .unwrap();
    bench.call("delete", json!({ "key": copy })).await.unwrap();
    bench.call("delete", json!({ "key": key })).await.unwrap();
}

/// Every action with refused credentials ends in `Unauthorized` or `Forbidden`, and no error
/// shows the secret.
async fn refused_everywhere(credentials: Credentials, secret: &str) {
    let bench = Bench::new(credentials);
    for (action, input) in [
        ("put", json!({ "key": "k", "content": "x" })),
        ("get", json!({ "key": "k" })),
        ("list", json!({})),
        ("copy", json!({ "from": "k", "to": "k2" })),
        ("delete", json!({ "key": "k" })),
    ] {
        let err = bench.call(action, input).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Unauthorized | ErrorKind::Forbidden),
            "{action}: {err}"
        );
        assert!(!format!("{err} {err:?}").contains(secret), "{action} showed the secret");
    }
}

#[tokio::test]
async fn an_unreachable_server_fails_the_connection_test_with_unavailable() {
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let registry = Arc::new(Registry::new());
    registry.register(ObjectStoreApp::new()).unwrap();
    let manager = ConnectionManager::builder(registry).build();
    let credentials = Credentials::custom([
        ("provider", "s3"),
        ("bucket", "b"),
        ("endpoint", format!("http://127.0.0.1:{port}").as_str()),
        ("access_key_id", "aura-test"),
        ("secret_access_key", MOTO_SECRET),
        ("allow_http", "true"),
    ]);
    let started = std::time::Instant::now();
    let err = manager
        .create(NewConnection::new("object_store", "nowhere", credentials))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!format!("{err:?}").contains(MOTO_SECRET));
}

#[tokio::test]
async fn a_local_directory_runs_a_scenario_with_a_managed_connection() {
    let dir = tempfile::tempdir().unwrap();
    scenario(local_credentials(&dir)).await;
}
