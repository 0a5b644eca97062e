//! Benchmarks of the connection paths every authenticated request and every stored record
//! crosses.
//!
//! | benchmark | what | target |
//! | --- | --- | --- |
//! | `authorize/static_bearer` | `StaticConnection::authorize` on a request | ≤ 1 µs |
//! | `authorize/managed_oauth2` | a managed connection's `authorize` (from `ConnectionManager::connections`) with a valid OAuth2 token (expiry check, status, apply) | ≤ 1 µs |
//! | `record_call/managed` | counting one action call on a managed connection | ≤ 100 ns |
//! | `store/encrypted_get` | open one AES-256-GCM sealed record (OAuth2 token) from `EncryptedStore` | ≤ 20 µs |
//! | `store/encrypted_update` | seal and compare-and-swap one record | ≤ 30 µs |
//! | `oauth2/pkce_generate` | a PKCE verifier from the OS RNG and its S256 challenge | ≤ 5 µs |
//!
//! Run with `cargo bench --bench connections` (add `-- --warm-up-time 1 --measurement-time 3`
//! for a quick look).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use aura_core::app::AuthMethod;
use aura_core::connection::{
    ConnectionManager, ConnectionRecord, CredentialStore, Credentials, EncryptedStore, EncryptionKey, KeyRing,
    MemorySealedStore, NewConnection, OAuth2Token, Pkce, StaticConnection,
};
use aura_core::secrecy::SecretString;
use aura_core::semver::Version;
use aura_core::{ActionDef, App, AppManifest, Connection, Registry};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

struct Svc;

#[async_trait::async_trait]
impl App for Svc {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("svc", "Svc", Version::new(1, 0, 0)).auth(AuthMethod::OAuth2 {
            authorization_url: None,
            token_url: "http://127.0.0.1:9/token".into(),
            scopes: vec![],
            grants: vec![],
        })
    }
    fn actions(&self) -> Vec<ActionDef> {
        Vec::new()
    }
}

fn token() -> OAuth2Token {
    OAuth2Token {
        refresh_token: Some(SecretString::from("rt_0123456789abcdef0123456789abcdef")),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(10)),
        scopes: vec!["read".into(), "write".into()],
        ..OAuth2Token::bearer("at_0123456789abcdef0123456789abcdef")
    }
}

/// Polls a future that completes without waiting (no lock is contended, nothing is sent), so
/// no executor overhead is measured.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the future waited"),
    }
}

fn request() -> reqwest::Request {
    reqwest::Request::new(reqwest::Method::GET, "https://api.example.com/v1/me".parse().unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();

    let mut g = c.benchmark_group("authorize");
    let fixed = StaticConnection::new(ConnectionRecord::new("svc", "x", Credentials::bearer("t0123456789")));
    // One request, authorized again and again (the header is replaced each time): the cost
    // of building a request is not the connection's.
    let mut req = request();
    g.bench_function("static_bearer", |b| {
        b.iter(|| black_box(ready(fixed.authorize(&mut req)).unwrap()))
    });
    let registry = Arc::new(Registry::new());
    registry.register(Svc).unwrap();
    let manager = ConnectionManager::builder(registry).build();
    let id = rt
        .block_on(manager.create(NewConnection::new("svc", "x", Credentials::OAuth2(token())).skip_test()))
        .unwrap()
        .id;
    let managed = manager.connections().get(&id).unwrap();
    g.bench_function("managed_oauth2", |b| {
        b.iter(|| black_box(ready(managed.authorize(&mut req)).unwrap()))
    });
    g.finish();

    c.bench_function("record_call/managed", |b| {
        b.iter(|| managed.record_call(black_box(Ok(()))))
    });

    let mut g = c.benchmark_group("store");
    let ring = KeyRing::new("k1", EncryptionKey::generate().unwrap());
    let store = EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring));
    let mut record = ConnectionRecord::new("svc", "x", Credentials::OAuth2(token()));
    record.metadata.insert("account".into(), "ada@example.com".into());
    rt.block_on(store.insert(&record)).unwrap();
    g.bench_function("encrypted_get", |b| {
        b.iter(|| black_box(rt.block_on(store.get(&record.id)).unwrap()))
    });
    g.bench_function("encrypted_update", |b| {
        b.iter(|| {
            let expected = record.version;
            record.version += 1;
            rt.block_on(store.update(&record, expected)).unwrap();
        })
    });
    g.finish();

    c.bench_function("oauth2/pkce_generate", |b| {
        b.iter(|| black_box(Pkce::generate().unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
