//! The canary: one secret pushed through every path that could print or store it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::{Arc, Mutex};

use aura_core::connection::{ApiKeyPlacement, ConnectionRecord, Credentials, OAuth2Token, StaticConnection};
use aura_core::secrecy::SecretString;
use aura_core::{ActionDef, Connection, Context, Error, Registry};

const CANARY: &str = "CANARY-5ecr3t-d0-n0t-leak";

fn every_credential() -> Vec<Credentials> {
    vec![
        Credentials::api_key(CANARY, ApiKeyPlacement::header("X-Api-Key")),
        Credentials::api_key(CANARY, ApiKeyPlacement::query("key")),
        Credentials::bearer(CANARY),
        Credentials::basic("user", CANARY),
        Credentials::OAuth2(OAuth2Token {
            refresh_token: Some(SecretString::from(CANARY)),
            expires_at: Some(chrono::Utc::now() - chrono::Duration::minutes(1)),
            ..OAuth2Token::bearer(CANARY)
        }),
        Credentials::custom([("password", CANARY)]),
    ]
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "the canary leaked through {what}: {text}");
}

/// Captures everything tracing prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_canary_never_leaks() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for creds in every_credential() {
        let record = ConnectionRecord::new("svc", "conn", creds.clone());
        let conn = StaticConnection::new(record.clone());
        assert_clean("Credentials Debug", &format!("{creds:?}"));
        assert_clean("Credentials Display", &creds.to_string());
        assert_clean("Credentials serde", &serde_json::to_string(&creds).unwrap());
        assert_clean("ConnectionRecord Debug", &format!("{record:?}"));
        assert_clean("ConnectionRecord pretty Debug", &format!("{record:#?}"));
        assert_clean("ConnectionRecord serde", &serde_json::to_string(&record).unwrap());
        assert_clean("StaticConnection Debug", &format!("{conn:?}"));

        // Tracing the record, the connection and the credentials the usual ways.
        tracing::info!(?record, connection = ?conn, credentials = %creds, "connection used");

        // Errors from authentication: an expired token, a request a credential cannot go on,
        // and a context without a connection.
        let mut req = reqwest::Request::new(reqwest::Method::GET, "https://api.test/x".parse().unwrap());
        if let Err(e) = conn.authorize(&mut req).await {
            assert_clean("authorize error Display", &e.to_string());
            assert_clean("authorize error Debug", &format!("{e:?}"));
            tracing::warn!(error = %e, error_debug = ?e, "authorization failed");
        }
        let cx = Context::builder().connection(Arc::new(conn)).build();
        assert_clean("Context Debug", &format!("{cx:?}"));

        // A redacted record read back is refused, without echoing anything.
        let redacted = serde_json::to_value(&record).unwrap();
        let err = serde_json::from_value::<ConnectionRecord>(redacted).unwrap_err();
        assert_clean("deserialize error", &err.to_string());
    }

    // A secret typed into an action's input field is not repeated by validation errors.
    let action = ActionDef::new("count", |_cx: Context, n: u32| async move { Ok(n) })
        .compile("svc")
        .unwrap();
    let err: Error = action
        .call(Context::new(), serde_json::json!(CANARY))
        .await
        .unwrap_err();
    assert_clean("validation error Display", &err.to_string());
    assert_clean("validation error Debug", &format!("{err:?}"));
    assert_clean(
        "validation error serde",
        &serde_json::to_string(err.violations()).unwrap(),
    );

    // The registry's error for a failed connection test carries no secret.
    let registry = Registry::new();
    let cx = Context::builder()
        .connection(Arc::new(StaticConnection::new(ConnectionRecord::new(
            "ghost",
            "c",
            Credentials::bearer(CANARY),
        ))))
        .build();
    let err = registry.test_connection(&cx).await.unwrap_err();
    assert_clean("test_connection error", &format!("{err} {err:?}"));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("connection used"),
        "the subscriber captured nothing: {logs}"
    );
    assert_clean("tracing output", &logs);
}
