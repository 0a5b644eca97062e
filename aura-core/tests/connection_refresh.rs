//! Token refresh under failure, against the testkit's local OAuth2 server: a failed refresh is
//! shared by the calls that waited on it and backed off; a connection in error stops sending
//! its dead credentials; a short-lived token is not fetched again on every call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod connection_fixture;

use std::sync::Arc;
use std::time::Duration;

use aura_core::ErrorKind;
use aura_core::connection::{ConnectionStatus, TokenError, TokenErrorCode};
use connection_fixture::Fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_is_shared_by_its_waiters_and_backed_off() {
    let fx = Arc::new(Fixture::new().await);
    let id = fx.authorize().await;
    fx.expire(&id).await;
    fx.server.fail_next_token_request("temporarily_unavailable", 503);
    let before = fx.server.token_requests();

    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (fx, id) = (fx.clone(), id.clone());
            tokio::spawn(async move { fx.call(&id).await })
        })
        .collect();
    let mut errors = Vec::new();
    for call in calls {
        errors.push(
            call.await
                .unwrap()
                .expect_err("the token is expired and its refresh failed"),
        );
    }
    assert_eq!(
        fx.server.token_requests() - before,
        1,
        "one token request for the whole flight"
    );
    for err in &errors {
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert_eq!(err.context_value("connection"), Some(id.as_str()), "{err}");
        assert_eq!(
            err.context_value("oauth2_error"),
            Some("temporarily_unavailable"),
            "{err}"
        );
    }

    // A later call inside the back-off gets the same failure without asking again.
    let err = fx.call(&id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.retry_after().is_some_and(|d| d > Duration::ZERO), "{err:?}");
    assert_eq!(fx.server.token_requests() - before, 1);

    // Once the back-off has passed (the server asked for 1 s), one call refreshes for all.
    fx.clock.advance(Duration::from_secs(2));
    fx.call(&id).await.unwrap();
    assert_eq!(fx.server.token_requests() - before, 2);
    assert_eq!(fx.server.refreshes(), 1);
}

#[tokio::test]
async fn a_connection_in_error_refuses_calls_until_it_is_reconnected() {
    let fx = Fixture::new().await;
    let id = fx.authorize().await;
    fx.expire(&id).await;
    fx.server.revoke_refresh_tokens();

    let err = fx.call(&id).await.unwrap_err();
    assert_eq!(TokenError::of(&err).unwrap().code, TokenErrorCode::InvalidGrant);
    assert_eq!(fx.manager.get(&id).await.unwrap().status, ConnectionStatus::Error);

    // Long after any back-off, the dead refresh token is not sent again, nor is the API called.
    fx.clock.advance(Duration::from_secs(3600));
    let (asked, api) = (fx.server.token_requests(), fx.server.api_calls());
    for _ in 0..3 {
        let err = fx.call(&id).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
        assert_eq!(err.context_value("connection"), Some(id.as_str()), "{err}");
        assert_eq!(err.context_value("status"), Some("error"), "{err}");
        assert!(err.message().contains("reconnect"), "{err}");
    }
    assert_eq!(
        fx.server.token_requests(),
        asked,
        "no token request from a connection in error"
    );
    assert_eq!(fx.server.api_calls(), api);

    // Reconnecting (authorizing again, then replacing the credentials) makes it usable again.
    let url = fx.manager.start_authorization("acme", "again").await.unwrap();
    let callback = fx.server.approve(url.as_str()).await.unwrap();
    let fresh = fx.manager.complete_authorization(&callback).await.unwrap();
    fx.manager
        .replace_credentials(&id, fresh.credentials.clone(), false)
        .await
        .unwrap();
    fx.call(&id).await.unwrap();
}

#[tokio::test]
async fn a_token_shorter_lived_than_the_leeway_is_not_fetched_on_every_call() {
    let fx = Fixture::new().await;
    // 10 s tokens against the default 60 s refresh leeway.
    fx.server.set_access_token_ttl(Duration::from_secs(10));
    let id = fx.authorize().await;
    let asked = fx.server.token_requests();

    for _ in 0..5 {
        fx.call(&id).await.unwrap();
    }
    assert_eq!(fx.server.refreshes(), 0, "the token is used for half its life");
    assert_eq!(fx.server.token_requests(), asked);
}
