//! Benchmarks of aura-core's hot paths: what every action call and every upstream error costs.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `schema/validate_valid` | `Schema::is_valid` on a small valid object (5 fields) | ≤ 2 µs |
//! | `schema/check_invalid` | `Schema::check` on the same object with every field wrong | (tracked) |
//! | `action/call_typed` | a typed action end to end: validate, deserialize, handler, serialize | ≤ 5 µs |
//! | `registry/resolve_action` | `registry.action("bench.echo")` on a loaded app | ≤ 1 µs |
//! | `error/from_http_429` | `Error::from_http` for a 429 with `Retry-After` | ≤ 1 µs |
//! | `verify/github_4k` | `WebhookVerifier::GitHub` on a signed 4 KiB body (HMAC-SHA256, hex) | ≤ 5 µs |
//! | `verify/standard_webhooks_4k` | `WebhookVerifier::StandardWebhooks` on a signed 4 KiB body (HMAC-SHA256, base64, timestamp) | ≤ 5 µs |
//!
//! Run with `cargo bench --bench core` (add `-- --warm-up-time 1 --measurement-time 3` for a
//! quick look).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aura_core::semver::Version;
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry, Result, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode, header::RETRY_AFTER};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// A small object of the kind actions take: five fields, one with a format, one with a range.
#[derive(Serialize, Deserialize, JsonSchema)]
struct Contact {
    name: String,
    #[schemars(email)]
    email: String,
    #[schemars(range(min = 0, max = 150))]
    age: u8,
    active: bool,
    tags: Vec<String>,
}

fn valid_contact() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "age": 36,
        "active": true,
        "tags": ["math", "engines"],
    })
}

fn invalid_contact() -> Value {
    json!({
        "name": 42,
        "email": "not-an-email",
        "age": 200,
        "active": "yes",
        "tags": "math",
    })
}

/// The typed handler: echoes its input, so the call pays for both directions of serde.
async fn echo(_cx: Context, input: Contact) -> Result<Contact> {
    Ok(input)
}

struct Bench;

#[aura_core::async_trait]
impl App for Bench {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("bench", "Bench", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::new("echo", echo)]
    }
}

/// A single-threaded runtime, the cheapest place to drive one future at a time.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A registry holding the bench app, already loaded (its first use is not what is measured).
fn registry(runtime: &Runtime) -> Registry {
    let registry = Registry::new();
    registry.register(Bench).unwrap();
    runtime.block_on(registry.action("bench.echo")).unwrap();
    registry
}

fn schema(c: &mut Criterion) {
    let schema = Schema::for_type::<Contact>().unwrap();
    let valid = valid_contact();
    let invalid = invalid_contact();
    assert!(schema.is_valid(&valid));
    assert_eq!(schema.check(&invalid).unwrap_err().len(), 5);

    let mut group = c.benchmark_group("schema");
    group.bench_function("validate_valid", |b| b.iter(|| schema.is_valid(black_box(&valid))));
    group.bench_function("check_invalid", |b| b.iter(|| schema.check(black_box(&invalid))));
    group.finish();
}

fn action(c: &mut Criterion) {
    let runtime = runtime();
    let registry = registry(&runtime);
    let action = runtime.block_on(registry.action("bench.echo")).unwrap();
    let cx = Context::new();
    let input = valid_contact();
    let out = runtime.block_on(action.call(cx.clone(), input.clone())).unwrap();
    assert_eq!(out, input);

    let mut group = c.benchmark_group("action");
    group.bench_function("call_typed", |b| {
        b.to_async(&runtime)
            .iter(|| action.call(cx.clone(), black_box(input.clone())));
    });
    group.finish();
}

fn registry_lookup(c: &mut Criterion) {
    let runtime = runtime();
    let registry = registry(&runtime);

    let mut group = c.benchmark_group("registry");
    group.bench_function("resolve_action", |b| {
        b.to_async(&runtime).iter(|| registry.action(black_box("bench.echo")));
    });
    group.finish();
}

fn error(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("30"));
    let body: &[u8] = br#"{"ok":false,"error":"ratelimited"}"#;
    let err = Error::from_http(StatusCode::TOO_MANY_REQUESTS, &headers, body);
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(30)));

    let mut group = c.benchmark_group("error");
    group.bench_function("from_http_429", |b| {
        b.iter(|| {
            Error::from_http(
                black_box(StatusCode::TOO_MANY_REQUESTS),
                black_box(&headers),
                black_box(body),
            )
        });
    });
    group.finish();
}

/// A 4 KiB JSON body, as webhooks carry.
fn body_4k() -> String {
    let pad = "x".repeat(4096 - r#"{"id":1,"pad":""}"#.len());
    let body = format!(r#"{{"id":1,"pad":"{pad}"}}"#);
    assert_eq!(body.len(), 4096);
    body
}

fn verify(c: &mut Criterion) {
    use aura_core::trigger::{WebhookRequest, WebhookVerifier};
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    let body = body_4k();
    let now = chrono::Utc::now();
    let mac = |key: &[u8], parts: &[&[u8]]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes()
    };

    let github = WebhookVerifier::github("bench-secret");
    let signature = format!("sha256={}", hex::encode(mac(b"bench-secret", &[body.as_bytes()])));
    let request = WebhookRequest::post("/hook", body.clone())
        .header("x-hub-signature-256", &signature)
        .header("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        .build()
        .unwrap();
    assert!(github.verify(&request, now).is_ok());

    let key = [7u8; 24];
    let b64 = base64::engine::general_purpose::STANDARD;
    let standard = WebhookVerifier::standard_webhooks(format!("whsec_{}", b64.encode(key)));
    let ts = now.timestamp().to_string();
    let signed = mac(&key, &[b"msg_1.", ts.as_bytes(), b".", body.as_bytes()]);
    let sw_request = WebhookRequest::post("/hook", body)
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", &ts)
        .header("webhook-signature", &format!("v1,{}", b64.encode(signed)))
        .build()
        .unwrap();
    assert!(standard.verify(&sw_request, now).is_ok());

    let mut group = c.benchmark_group("verify");
    group.bench_function("github_4k", |b| {
        b.iter(|| github.verify(black_box(&request), now).unwrap());
    });
    group.bench_function("standard_webhooks_4k", |b| {
        b.iter(|| standard.verify(black_box(&sw_request), now).unwrap());
    });
    group.finish();
}

criterion_group!(benches, schema, action, registry_lookup, error, verify);
criterion_main!(benches);
