//! The connection lifecycle against the testkit's real local OAuth2 server: every grant,
//! single-flight refresh, `invalid_grant`, typed token errors, checks, tests, status and usage.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::app::AuthMethod;
use aura_core::connection::{
    ApiKeyPlacement, ConnectionEventKind, ConnectionId, ConnectionManager, ConnectionStatus, ConnectionUpdate,
    CredentialStore, Credentials, EncryptedStore, EncryptionKey, KeyRing, MemoryCredentialStore, MemorySealedStore,
    NewConnection, OAuth2Client, OAuth2Token, TokenError, TokenErrorCode,
};
use aura_core::secrecy::ExposeSecret;
use aura_core::{App, Context, Error, ErrorKind, Result};
use aura_testkit::oauth2_server::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, OAuth2Server};
use serde_json::json;

mod connection_fixture;

use connection_fixture::*;

#[tokio::test]
async fn authorization_code_with_pkce_creates_a_tested_connection() {
    let fx = Fixture::new().await;
    let id = fx.authorize().await;

    let request = fx.server.last_token_request().unwrap();
    assert_eq!(request.grant_type.as_deref(), Some("authorization_code"));
    assert_eq!(request.auth_method, "client_secret_basic");
    assert!(request.has_param("code_verifier"));
    assert_eq!(request.param("redirect_uri"), Some(DEFAULT_REDIRECT_URI));

    let record = fx.manager.get(&id).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Active);
    assert_eq!(record.metadata["oauth2_grant"], "authorization_code");
    let Credentials::OAuth2(token) = &record.credentials else {
        panic!()
    };
    assert!(token.refresh_token.is_some());
    assert!(token.expires_at.is_some());
    assert_eq!(token.scopes, ["read"]);
    // The connection test called the API once.
    assert_eq!(fx.server.api_calls(), 1);

    let me = fx.call(&id).await.unwrap();
    assert_eq!(me["client_id"], DEFAULT_CLIENT_ID);
}

#[tokio::test]
async fn a_callback_with_a_foreign_state_is_refused() {
    let fx = Fixture::new().await;
    let url = fx.manager.start_authorization("acme", "x").await.unwrap();
    let callback = fx.server.approve(url.as_str()).await.unwrap();
    let forged = callback.replace("state=", "state=forged");
    let err = fx.manager.complete_authorization(&forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    // The real one still works once, and only once.
    fx.manager.complete_authorization(&callback).await.unwrap();
    assert_eq!(
        fx.manager.complete_authorization(&callback).await.unwrap_err().kind(),
        ErrorKind::Forbidden
    );
}

#[tokio::test]
async fn a_denied_authorization_is_forbidden() {
    let fx = Fixture::new().await;
    fx.server.deny_next_authorization();
    let url = fx.manager.start_authorization("acme", "x").await.unwrap();
    let callback = fx.server.approve(url.as_str()).await.unwrap();
    let err = fx.manager.complete_authorization(&callback).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.context_value("oauth2_error"), Some("access_denied"));
    assert!(fx.manager.list().await.unwrap().records.is_empty());
}

#[tokio::test]
async fn client_credentials_are_issued_again_when_they_expire() {
    let mut fx = Fixture::new().await;
    let record = fx.manager.connect_client_credentials("acme", "machine").await.unwrap();
    assert_eq!(fx.server.grants("client_credentials"), 1);
    let Credentials::OAuth2(token) = &record.credentials else {
        panic!()
    };
    assert!(token.refresh_token.is_none());

    fx.expire(&record.id).await;
    fx.call(&record.id).await.unwrap();
    assert_eq!(fx.server.grants("client_credentials"), 2);
    assert_eq!(fx.server.refreshes(), 0);
    assert!(
        fx.drain()
            .iter()
            .any(|k| matches!(k, ConnectionEventKind::TokenRefreshed { .. }))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_a_hundred_calls_on_an_expired_token() {
    let fx = Arc::new(Fixture::new().await);
    let id = fx.authorize().await;
    let before = fx.manager.get(&id).await.unwrap();
    fx.expire(&id).await;

    call_concurrently(&fx, &id, 100).await;
    assert_eq!(fx.server.refreshes(), 1, "exactly one refresh");
    assert_eq!(fx.manager.usage(&id).unwrap().refreshes, 1);

    // The new token was persisted, with a new version.
    let stored = fx.manager.get(&id).await.unwrap();
    assert_ne!(access_token(&stored), access_token(&before));
    assert_eq!(
        stored.version,
        before.version + 2,
        "one replace (expire) and one refresh"
    );
    let usage = fx.manager.usage(&id).unwrap();
    assert_eq!((usage.calls, usage.errors), (100, 0));
    assert!(usage.last_used_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_for_a_hundred_calls_rejected_with_401() {
    let fx = Arc::new(Fixture::new().await);
    let id = fx.authorize().await;
    // The server forgets every access token; the client still thinks its token is good.
    fx.server.revoke_access_tokens();

    call_concurrently(&fx, &id, 100).await;
    assert_eq!(fx.server.refreshes(), 1, "exactly one refresh");
}

#[tokio::test]
async fn invalid_grant_marks_the_connection_failed_and_says_so() {
    let mut fx = Fixture::new().await;
    let id = fx.authorize().await;
    fx.expire(&id).await;
    fx.server.revoke_refresh_tokens();
    fx.drain();

    let err = fx.call(&id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.context_value("oauth2_error"), Some("invalid_grant"));
    assert_eq!(err.context_value("connection"), Some(id.as_str()));
    assert_eq!(TokenError::of(&err).unwrap().code, TokenErrorCode::InvalidGrant);

    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Error);
    let events = fx.drain();
    assert!(events.contains(&ConnectionEventKind::RefreshFailed {
        error: "unauthorized",
        oauth2_error: Some("invalid_grant".into()),
    }));
    assert!(events.contains(&ConnectionEventKind::StatusChanged {
        from: ConnectionStatus::Active,
        to: ConnectionStatus::Error,
    }));

    // Re-authorizing fixes it: replacing the credentials makes the connection active again.
    let url = fx.manager.start_authorization("acme", "again").await.unwrap();
    let fresh = fx.server.approve(url.as_str()).await.unwrap();
    let record = fx.manager.complete_authorization(&fresh).await.unwrap();
    fx.manager
        .replace_credentials(&id, record.credentials.clone(), true)
        .await
        .unwrap();
    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Active);
    fx.call(&id).await.unwrap();
}

#[tokio::test]
async fn token_endpoint_errors_are_typed() {
    let fx = Fixture::new().await;
    let client = OAuth2Client::new(DEFAULT_CLIENT_ID, &fx.server.token_url())
        .unwrap()
        .client_secret(DEFAULT_CLIENT_SECRET);

    fx.server.fail_next_token_request("invalid_scope", 400);
    let err = client.client_credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(TokenError::of(&err).unwrap().code, TokenErrorCode::InvalidScope);
    assert_eq!(err.context_value("oauth2_grant"), Some("client_credentials"));

    fx.server.fail_next_token_request("temporarily_unavailable", 503);
    let err = client.client_credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());

    let wrong = OAuth2Client::new(DEFAULT_CLIENT_ID, &fx.server.token_url())
        .unwrap()
        .client_secret("wrong");
    let err = wrong.client_credentials().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(TokenError::of(&err).unwrap().code, TokenErrorCode::InvalidClient);
    assert_eq!(err.status(), Some(401));

    // client_secret_post is understood too.
    let post = OAuth2Client::new(DEFAULT_CLIENT_ID, &fx.server.token_url())
        .unwrap()
        .client_secret(DEFAULT_CLIENT_SECRET)
        .client_auth(aura_core::connection::ClientAuth::RequestBody);
    post.client_credentials().await.unwrap();
    assert_eq!(
        fx.server.last_token_request().unwrap().auth_method,
        "client_secret_post"
    );
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_refresh_token() {
    let server = OAuth2Server::builder().rotate_refresh_tokens(false).start().await;
    let fx = Fixture::with(server, Arc::new(MemoryCredentialStore::new())).await;
    let id = fx.authorize().await;
    let refresh_of = |r: &aura_core::connection::ConnectionRecord| match &r.credentials {
        Credentials::OAuth2(t) => t.refresh_token.as_ref().unwrap().expose_secret().to_owned(),
        _ => panic!(),
    };
    let before = refresh_of(&fx.manager.get(&id).await.unwrap());
    fx.expire(&id).await;
    fx.call(&id).await.unwrap();
    assert_eq!(fx.server.refreshes(), 1);
    assert_eq!(refresh_of(&fx.manager.get(&id).await.unwrap()), before);
}

#[tokio::test]
async fn creation_is_checked_against_the_app_and_tested() {
    let fx = Fixture::new().await;
    let m = &fx.manager;

    let err = m
        .create(NewConnection::new("keyed", "x", Credentials::bearer("t")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(err.violations()[0].path, "/credentials/type");
    assert!(err.violations()[0].message.contains("api_key, custom"), "{err}");

    let err = m
        .create(NewConnection::new(
            "keyed",
            "x",
            Credentials::api_key("k", ApiKeyPlacement::query("key")),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.violations()[0].path, "/credentials/placement");

    let err = m
        .create(NewConnection::new(
            "keyed",
            "x",
            Credentials::custom([("secret", ""), ("color", "blue")]),
        ))
        .await
        .unwrap_err();
    let paths: Vec<_> = err.violations().iter().map(|v| v.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/credentials/fields/account_id",
            "/credentials/fields/secret",
            "/credentials/fields/color"
        ]
    );

    let err = m
        .create(NewConnection::new("nope", "x", Credentials::None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // A failing test stores nothing; skipping the test stores it.
    let revoked = Credentials::api_key("revoked", ApiKeyPlacement::header("X-Api-Key"));
    let err = m
        .create(NewConnection::new("keyed", "x", revoked.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(err.context_value("app"), Some("keyed"));
    assert!(m.list().await.unwrap().records.is_empty());
    m.create(NewConnection::new("keyed", "x", revoked).skip_test())
        .await
        .unwrap();
    assert_eq!(m.list().await.unwrap().records.len(), 1);
}

#[tokio::test]
async fn update_replace_disconnect_delete() {
    let mut fx = Fixture::new().await;
    let m = &fx.manager;
    let key = Credentials::api_key("k-1", ApiKeyPlacement::header("X-Api-Key"));
    let id = m.create(NewConnection::new("keyed", "Sales", key)).await.unwrap().id;

    let renamed = m.update(&id, ConnectionUpdate::name("Marketing")).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Marketing", 2));

    let replaced = m
        .replace_credentials(
            &id,
            Credentials::api_key("k-2", ApiKeyPlacement::header("X-Api-Key")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(replaced.version, 3);
    let live = m.connections().get(&id).unwrap();
    assert_eq!(live.version(), 3);
    let Credentials::ApiKey { key, .. } = live.credentials() else {
        panic!()
    };
    assert_eq!(key.expose_secret(), "k-2");

    // A replacement that fails its test changes nothing.
    let err = m
        .replace_credentials(
            &id,
            Credentials::api_key("revoked", ApiKeyPlacement::header("X-Api-Key")),
            true,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert_eq!(m.get(&id).await.unwrap().version, 3);

    m.disconnect(&id).await.unwrap();
    let mut req = reqwest::Request::new(reqwest::Method::GET, "http://127.0.0.1:9/".parse().unwrap());
    let err = live.authorize(&mut req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    assert!(err.to_string().contains("disconnected"), "{err}");
    // Testing a disconnected connection checks its credentials and leaves it disconnected.
    m.test(&id).await.unwrap();
    assert_eq!(m.get(&id).await.unwrap().status, ConnectionStatus::Disconnected);

    m.delete(&id).await.unwrap();
    assert!(m.connections().get(&id).is_none());
    assert_eq!(m.get(&id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(m.delete(&id).await.unwrap_err().kind(), ErrorKind::NotFound);

    let events = fx.drain();
    assert_eq!(events.first(), Some(&ConnectionEventKind::Created));
    assert!(events.contains(&ConnectionEventKind::Updated));
    assert!(events.contains(&ConnectionEventKind::CredentialsReplaced { version: 3 }));
    assert!(events.contains(&ConnectionEventKind::StatusChanged {
        from: ConnectionStatus::Active,
        to: ConnectionStatus::Disconnected,
    }));
    assert_eq!(events.last(), Some(&ConnectionEventKind::Deleted));
}

#[tokio::test]
async fn an_authentication_failure_marks_the_connection_and_a_success_heals_it() {
    let mut fx = Fixture::new().await;
    let key = Credentials::api_key("k-1", ApiKeyPlacement::header("X-Api-Key"));
    let id = fx
        .manager
        .create(NewConnection::new("keyed", "x", key))
        .await
        .unwrap()
        .id;

    let action = fx.registry.action("keyed.fail_auth").await.unwrap();
    let conn = fx.manager.connections().get(&id).unwrap();
    let err = action
        .call(Context::builder().connection(conn).build(), json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);

    // The status is written in the background; wait for its event.
    let changed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(e) = fx.events.recv().await
                && e.kind
                    == (ConnectionEventKind::StatusChanged {
                        from: ConnectionStatus::Active,
                        to: ConnectionStatus::Error,
                    })
            {
                break;
            }
        }
    })
    .await;
    assert!(changed.is_ok(), "no status change");
    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Error);
    let usage = fx.manager.usage(&id).unwrap();
    assert_eq!((usage.calls, usage.errors), (1, 1));
    assert!(fx.manager.get(&id).await.unwrap().last_used_at.is_some());

    fx.manager.test(&id).await.unwrap();
    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Active);
}

#[tokio::test]
async fn connections_come_back_from_an_encrypted_store_after_a_restart() {
    let ring = KeyRing::new("k1", EncryptionKey::generate().unwrap());
    let backend = Arc::new(EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone())));
    let fx = Fixture::with(OAuth2Server::start().await, backend.clone()).await;
    let id = fx.authorize().await;
    fx.expire(&id).await;
    fx.call(&id).await.unwrap();
    let refreshed = fx.manager.get(&id).await.unwrap();

    // A new manager over the same store: the refreshed token is what comes back.
    let again = ConnectionManager::builder(fx.registry.clone())
        .store(backend.clone())
        .build();
    assert_eq!(again.load().await.unwrap().loaded, std::slice::from_ref(&id));
    let loaded = again.connections().get(&id).unwrap();
    assert_eq!(loaded.version(), refreshed.version);
    match loaded.credentials() {
        Credentials::OAuth2(t) => assert_eq!(t.access_token.expose_secret(), access_token(&refreshed)),
        other => panic!("{other}"),
    }

    // Rotation keeps it readable.
    ring.add("k2", EncryptionKey::generate().unwrap()).unwrap();
    ring.set_current("k2").unwrap();
    let report = backend.rotate_key().await.unwrap();
    assert_eq!(report.rotated, 1);
    ring.remove("k1").unwrap();
    assert_eq!(again.get(&id).await.unwrap().version, refreshed.version);
}

#[tokio::test]
async fn an_early_refresh_that_fails_keeps_using_the_valid_token() {
    let mut fx = Fixture::new().await;
    let id = fx.authorize().await;
    // A one-hour token that expires in 30 s: inside the default 60 s leeway, so the next call
    // refreshes early.
    let Credentials::OAuth2(token) = fx.manager.get(&id).await.unwrap().credentials else {
        panic!()
    };
    let soon = OAuth2Token {
        issued_at: Some(chrono::Utc::now() - chrono::Duration::seconds(3570)),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::seconds(30)),
        ..token
    };
    fx.manager
        .replace_credentials(&id, Credentials::OAuth2(soon), false)
        .await
        .unwrap();
    fx.drain();

    fx.server.fail_next_token_request("temporarily_unavailable", 503);
    fx.call(&id).await.unwrap();
    assert_eq!(fx.server.refreshes(), 0);
    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Active);
    assert!(fx.drain().contains(&ConnectionEventKind::RefreshFailed {
        error: "unavailable",
        oauth2_error: Some("temporarily_unavailable".into()),
    }));

    // The next call backs off: it uses the valid token without asking the endpoint again.
    let asked = fx.server.token_requests();
    fx.call(&id).await.unwrap();
    assert_eq!(fx.server.token_requests(), asked);
    // Once the back-off has passed, a call tries again, and succeeds.
    fx.clock.advance(Duration::from_secs(2));
    fx.call(&id).await.unwrap();
    assert_eq!(fx.server.refreshes(), 1);
}

/// A store whose updates can be made to fail.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryCredentialStore,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl CredentialStore for Flaky {
    async fn insert(&self, record: &aura_core::connection::ConnectionRecord) -> Result<()> {
        self.inner.insert(record).await
    }
    async fn get(&self, id: &ConnectionId) -> Result<Option<aura_core::connection::ConnectionRecord>> {
        self.inner.get(id).await
    }
    async fn list(&self) -> Result<aura_core::connection::Listing> {
        self.inner.list().await
    }
    async fn update(&self, record: &aura_core::connection::ConnectionRecord, expected: u64) -> Result<()> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::unavailable("the database is down"));
        }
        self.inner.update(record, expected).await
    }
    async fn delete(&self, id: &ConnectionId) -> Result<bool> {
        self.inner.delete(id).await
    }
}

#[tokio::test]
async fn a_refreshed_token_the_store_cannot_take_is_kept_in_memory() {
    let store = Arc::new(Flaky::default());
    let mut fx = Fixture::with(OAuth2Server::start().await, store.clone()).await;
    let id = fx.authorize().await;
    fx.expire(&id).await;
    fx.drain();

    store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    // The server rotates refresh tokens: losing the new one would lose the account.
    fx.call(&id).await.unwrap();
    fx.call(&id).await.unwrap();
    assert_eq!(
        fx.server.refreshes(),
        1,
        "the refreshed token is used, not refreshed again"
    );
    assert!(
        fx.drain()
            .contains(&ConnectionEventKind::PersistFailed { error: "unavailable" })
    );

    // Once the store is back, the next change writes the in-memory token through.
    store.fail.store(false, std::sync::atomic::Ordering::SeqCst);
    let live = fx.manager.connections().get(&id).unwrap();
    let in_memory = match live.credentials() {
        Credentials::OAuth2(t) => t.access_token.expose_secret().to_owned(),
        _ => panic!(),
    };
    fx.manager.update(&id, ConnectionUpdate::name("renamed")).await.unwrap();
    assert_eq!(access_token(&store.get(&id).await.unwrap().unwrap()), in_memory);
}

#[tokio::test]
async fn client_secrets_with_reserved_characters_survive_basic_auth() {
    // RFC 6749 §2.3.1: the id and secret are form-encoded before the Basic encoding.
    let secret = "s3cr:t/+&= é";
    let server = OAuth2Server::builder()
        .client("my client:1", Some(secret), [DEFAULT_REDIRECT_URI])
        .start()
        .await;
    let client = OAuth2Client::new("my client:1", &server.token_url())
        .unwrap()
        .client_secret(secret);
    client.client_credentials().await.unwrap();
    let seen = server.last_token_request().unwrap();
    assert_eq!(seen.auth_method, "client_secret_basic");
    assert_eq!(seen.client_id.as_deref(), Some("my client:1"));
}

#[tokio::test]
async fn a_client_from_the_apps_declared_method() {
    let server = OAuth2Server::start().await;
    let manifest = Acme { server: server.uri() }.manifest();
    let client = OAuth2Client::for_method(&manifest.auth[0], DEFAULT_CLIENT_ID)
        .unwrap()
        .client_secret(DEFAULT_CLIENT_SECRET)
        .redirect_url(DEFAULT_REDIRECT_URI)
        .unwrap();
    assert_eq!(client.requested_scopes(), ["read"]);
    let request = client.authorization_request().unwrap();
    let callback = server.approve(request.url().as_str()).await.unwrap();
    let token = client.complete(&request, &callback).await.unwrap();
    assert!(token.refresh_token.is_some());

    let err = OAuth2Client::for_method(&AuthMethod::Bearer, "x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
}
