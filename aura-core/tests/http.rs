//! `Context::send` against a real local HTTP server: credentials on the wire, statuses mapped
//! to errors, one renewal on 401.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aura_core::connection::{
    ApiKeyPlacement, Connection, ConnectionId, ConnectionRecord, Credentials, StaticConnection,
};
use aura_core::{Context, ErrorKind, Result};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn cx_with(creds: Credentials) -> Context {
    let conn = StaticConnection::new(ConnectionRecord::new("svc", "test", creds));
    Context::builder().connection(Arc::new(conn)).build()
}

#[tokio::test]
async fn credentials_go_on_the_wire() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/me"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/keyed"))
        .and(query_param("api_key", "k-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;

    let cx = cx_with(Credentials::bearer("tok-1"));
    let resp = cx.send(cx.http().get(format!("{}/me", server.uri()))).await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");

    let cx = cx_with(Credentials::api_key("k-1", ApiKeyPlacement::query("api_key")));
    cx.send(cx.http().get(format!("{}/keyed", server.uri()))).await.unwrap();
}

#[tokio::test]
async fn error_statuses_become_typed_errors() {
    let server = MockServer::start().await;
    Mock::given(path("/limited"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "12")
                .set_body_string("slow down"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/broken"))
        .respond_with(ResponseTemplate::new(500).set_body_string("{\"error\":\"boom\"}"))
        .mount(&server)
        .await;
    Mock::given(path("/missing"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;

    let cx = Context::new();
    let err = cx
        .send(cx.http().get(format!("{}/limited", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(12)));

    let err = cx
        .send(cx.http().post(format!("{}/broken", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Upstream);
    assert_eq!(err.status(), Some(500));
    assert!(err.is_retryable());
    assert_eq!(err.body_excerpt(), Some("{\"error\":\"boom\"}"));

    let err = cx
        .send(cx.http().get(format!("{}/missing", server.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_the_key_is_not_in_the_error() {
    let cx = cx_with(Credentials::api_key("CANARY-url-key", ApiKeyPlacement::query("key")));
    // Port 9 (discard) on loopback: nothing listens there in tests.
    let err = cx.send(cx.http().get("http://127.0.0.1:9/x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert!(!format!("{err} {err:?}").contains("CANARY"), "{err:?}");
}

/// A connection whose token is renewed on request.
#[derive(Debug)]
struct Rotating {
    id: ConnectionId,
    generation: AtomicUsize,
    renewals: AtomicUsize,
}

#[async_trait]
impl Connection for Rotating {
    fn id(&self) -> &ConnectionId {
        &self.id
    }
    fn app_id(&self) -> &str {
        "svc"
    }
    fn credentials(&self) -> Credentials {
        Credentials::bearer(format!("gen-{}", self.generation.load(Ordering::SeqCst)))
    }
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64> {
        self.credentials().apply(request)?;
        Ok(self.generation.load(Ordering::SeqCst) as u64)
    }
    async fn renew(&self, _rejected: u64) -> Result<bool> {
        self.renewals.fetch_add(1, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
}

#[tokio::test]
async fn a_401_renews_once_and_retries() {
    let server = MockServer::start().await;
    Mock::given(header("authorization", "Bearer gen-0"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    Mock::given(header("authorization", "Bearer gen-1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let conn = Arc::new(Rotating {
        id: "c1".into(),
        generation: AtomicUsize::new(0),
        renewals: AtomicUsize::new(0),
    });
    let cx = Context::builder().connection(conn.clone()).build();
    cx.send(cx.http().get(format!("{}/x", server.uri())).body("payload"))
        .await
        .unwrap();
    assert_eq!(conn.renewals.load(Ordering::SeqCst), 1);

    // A connection that cannot renew gets the 401 as Unauthorized.
    let cx = cx_with(Credentials::bearer("gen-0"));
    let err = cx.send(cx.http().get(format!("{}/x", server.uri()))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
}

#[tokio::test]
async fn cancellation_stops_a_request() {
    let server = MockServer::start().await;
    Mock::given(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let cx = Context::new();
    let cancel = cx.cancellation().clone();
    let req = cx.http().get(format!("{}/slow", server.uri()));
    let call = tokio::spawn(async move { cx.send(req).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel.cancel();
    assert_eq!(call.await.unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
}
