#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The local OAuth 2.0 server, driven with plain reqwest.

use std::time::Duration;

use aura_testkit::OAuth2Server;
use aura_testkit::oauth2_server::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI};
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// How a token request authenticates the client.
enum Auth<'a> {
    /// `client_secret_basic`, form-urlencoding id and secret first (RFC 6749 §2.3.1).
    Basic(&'a str, &'a str),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
    /// A public client: `client_id` only.
    Public(&'a str),
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

fn basic(id: &str, secret: &str) -> String {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

async fn post_token(server: &OAuth2Server, auth: Auth<'_>, pairs: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    let mut pairs = pairs.to_vec();
    let mut request = reqwest::Client::new()
        .post(server.token_url())
        .header("content-type", "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => request = request.header("authorization", basic(id, secret)),
        Auth::Post(id, secret) => pairs.extend([("client_id", id), ("client_secret", secret)]),
        Auth::Public(id) => pairs.push(("client_id", id)),
    }
    let response = request.body(form(&pairs)).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    (status, headers, body)
}

fn authorize_url(server: &OAuth2Server, pairs: &[(&str, &str)]) -> String {
    format!("{}?{}", server.authorization_url(), form(pairs))
}

/// A complete authorization request for the default client, with the RFC 7636 challenge.
fn default_authorize_url(server: &OAuth2Server, scope: &str) -> String {
    authorize_url(
        server,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("scope", scope),
            ("state", "s t&ate"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    )
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = url.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn default_code(server: &OAuth2Server, scope: &str) -> String {
    let callback = server.approve(&default_authorize_url(server, scope)).await.unwrap();
    query_param(&callback, "code").unwrap()
}

async fn exchange(server: &OAuth2Server, code: &str, verifier: &str) -> (StatusCode, HeaderMap, Value) {
    post_token(
        server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn get_me(server: &OAuth2Server, access_token: Option<&str>) -> (StatusCode, HeaderMap, String) {
    let mut request = reqwest::Client::new().get(server.api_url());
    if let Some(token) = access_token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn www_authenticate(headers: &HeaderMap) -> &str {
    headers.get("www-authenticate").unwrap().to_str().unwrap()
}

/// A §5.2 error answer: its status and its `error` code.
#[track_caller]
fn assert_token_error(status: StatusCode, body: &serde_json::Value, expected: StatusCode, code: &str) {
    assert_eq!((status, body["error"].as_str()), (expected, Some(code)), "{body}");
}

#[tokio::test]
async fn pkce_challenge_matches_rfc_7636_appendix_b() {
    assert_eq!(OAuth2Server::pkce_challenge(VERIFIER), CHALLENGE);
}

#[tokio::test]
async fn authorization_code_flow_with_pkce() {
    let server = OAuth2Server::start().await;
    assert!(server.uri().starts_with("http://127.0.0.1:"));
    assert_eq!(server.authorization_url(), format!("{}/authorize", server.uri()));
    assert_eq!(server.token_url(), format!("{}/token", server.uri()));
    assert_eq!(server.api_url(), format!("{}/api/me", server.uri()));

    let callback = server.approve(&default_authorize_url(&server, "read")).await.unwrap();
    assert!(callback.starts_with("http://127.0.0.1/callback?"), "{callback}");
    assert_eq!(query_param(&callback, "state").as_deref(), Some("s t&ate"));
    let code = query_param(&callback, "code").unwrap();
    assert!(code.starts_with("code_"), "{code}");

    let (status, headers, token) = exchange(&server, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    assert_eq!(token["scope"], "read");
    let access_token = token["access_token"].as_str().unwrap();
    assert!(access_token.starts_with("at_"), "{access_token}");
    assert!(token["refresh_token"].as_str().unwrap().starts_with("rt_"));

    let (status, _, body) = get_me(&server, Some(access_token)).await;
    assert_eq!(status, StatusCode::OK);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["sub"], "aura-user");
    assert_eq!(me["client_id"], DEFAULT_CLIENT_ID);
    assert_eq!(me["scope"], "read");

    assert_eq!(server.token_requests(), 1);
    assert_eq!(server.grants("authorization_code"), 1);
    assert_eq!(server.refreshes(), 0);
    assert_eq!(server.api_calls(), 1);
    assert_eq!(server.authorization_requests(), 1);
    let recorded = server.last_token_request().unwrap();
    assert_eq!(recorded.grant_type.as_deref(), Some("authorization_code"));
    assert_eq!(recorded.auth_method, "client_secret_basic");
    assert_eq!(recorded.client_id.as_deref(), Some(DEFAULT_CLIENT_ID));
    assert_eq!(
        recorded.param_names,
        ["grant_type", "code", "redirect_uri", "code_verifier"]
    );
    assert_eq!(recorded.param("code_verifier"), Some(VERIFIER));
}

#[tokio::test]
async fn missing_scope_grants_every_scope() {
    let server = OAuth2Server::start().await;
    let url = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = server.approve(&url).await.unwrap();
    assert_eq!(query_param(&callback, "state"), None);
    let code = query_param(&callback, "code").unwrap();
    let (status, _, token) = exchange(&server, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token["scope"], "read write");
}

#[tokio::test]
async fn wrong_code_verifier_is_invalid_grant() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read").await;
    let wrong = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (status, headers, body) = exchange(&server, &code, wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(server.grants("authorization_code"), 0);
}

#[tokio::test]
async fn malformed_or_missing_code_verifier_is_refused() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read").await;
    // 42 characters: too short for a verifier.
    let (status, _, body) = exchange(&server, &code, &VERIFIER[..42]).await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let code = default_code(&server, "read").await;
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
        ],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn reused_code_is_invalid_grant_and_revokes_its_tokens() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read").await;
    let (status, _, token) = exchange(&server, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let access_token = token["access_token"].as_str().unwrap();
    assert_eq!(get_me(&server, Some(access_token)).await.0, StatusCode::OK);

    let (status, _, body) = exchange(&server, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(get_me(&server, Some(access_token)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(server.grants("authorization_code"), 1);
}

#[tokio::test]
async fn redirect_uri_must_match_the_authorization_request() {
    let server = OAuth2Server::builder()
        .client(
            DEFAULT_CLIENT_ID,
            Some(DEFAULT_CLIENT_SECRET),
            [DEFAULT_REDIRECT_URI, "http://127.0.0.1/other"],
        )
        .start()
        .await;
    let code = default_code(&server, "read").await;
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1/other"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let server = OAuth2Server::builder().code_ttl(Duration::ZERO).start().await;
    let code = default_code(&server, "read").await;
    let (status, _, body) = exchange(&server, &code, VERIFIER).await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn public_client_exchanges_with_client_id_only() {
    let server = OAuth2Server::builder()
        .client("mobile", None, ["com.example.app:/callback"])
        .start()
        .await;
    let url = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", "mobile"),
            ("redirect_uri", "com.example.app:/callback"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ],
    );
    let callback = server.approve(&url).await.unwrap();
    let code = query_param(&callback, "code").unwrap();
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "com.example.app:/callback"),
        ("code_verifier", VERIFIER),
    ];
    let (status, _, token) = post_token(&server, Auth::Public("mobile"), &params).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(server.last_token_request().unwrap().auth_method, "none");

    // A public client may not use client_credentials (RFC 6749 §4.4).
    let (status, _, body) = post_token(&server, Auth::Public("mobile"), &[("grant_type", "client_credentials")]).await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "unauthorized_client");

    // The default client is still there, and must authenticate.
    let (status, headers, body) = post_token(
        &server,
        Auth::Public(DEFAULT_CLIENT_ID),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_token_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    assert!(headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn client_credentials_with_basic_auth() {
    let server = OAuth2Server::start().await;
    let (status, headers, token) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials"), ("scope", "write")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(token["scope"], "write");
    assert!(
        token.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let (status, _, body) = get_me(&server, token["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK);
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["sub"], DEFAULT_CLIENT_ID);
    assert_eq!(me["scope"], "write");
    assert_eq!(server.grants("client_credentials"), 1);
    assert_eq!(server.last_token_request().unwrap().auth_method, "client_secret_basic");
}

#[tokio::test]
async fn client_credentials_with_post_auth() {
    let server = OAuth2Server::start().await;
    let (status, _, token) = post_token(
        &server,
        Auth::Post(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["scope"], "read write");
    let recorded = server.last_token_request().unwrap();
    assert_eq!(recorded.auth_method, "client_secret_post");
    assert!(recorded.has_param("client_secret"));
    assert_eq!(recorded.param("client_secret"), None, "secrets are not recorded");
    assert_eq!(recorded.param("client_id"), Some(DEFAULT_CLIENT_ID));
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let secret = "s3cr3t +/:%é";
    let server = OAuth2Server::builder()
        .client("odd id:1", Some(secret), [DEFAULT_REDIRECT_URI])
        .start()
        .await;
    let (status, _, token) = post_token(
        &server,
        Auth::Basic("odd id:1", secret),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(
        server.last_token_request().unwrap().client_id.as_deref(),
        Some("odd id:1")
    );

    // The raw, not form-urlencoded, credentials are refused.
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("odd id:1:{secret}"));
    let response = reqwest::Client::new()
        .post(server.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Basic {raw}"))
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_client_secret_is_invalid_client() {
    let server = OAuth2Server::start().await;
    let (status, headers, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(www_authenticate(&headers), "Basic realm=\"aura-testkit\"");

    let (status, headers, body) = post_token(
        &server,
        Auth::Post(DEFAULT_CLIENT_ID, "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    assert!(headers.get("www-authenticate").is_none());

    let (status, _, body) = post_token(
        &server,
        Auth::Basic("nobody", "x"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_token_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(server.token_requests(), 3);
    assert_eq!(server.grants("client_credentials"), 0);
}

#[tokio::test]
async fn two_authentication_methods_are_invalid_request() {
    let server = OAuth2Server::start().await;
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn refresh_with_rotation_invalidates_the_old_token() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read write").await;
    let (_, _, token) = exchange(&server, &code, VERIFIER).await;
    let first = token["refresh_token"].as_str().unwrap().to_owned();
    let auth = || Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);

    let (status, _, refreshed) = post_token(
        &server,
        auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["scope"], "read write");
    let second = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    assert_ne!(refreshed["access_token"], token["access_token"]);

    let (status, _, body) = post_token(
        &server,
        auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", &first)],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    // A narrower scope is fine; the new refresh token keeps the original grant.
    let (status, _, narrower) = post_token(
        &server,
        auth(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &second),
            ("scope", "read"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{narrower}");
    assert_eq!(narrower["scope"], "read");
    let third = narrower["refresh_token"].as_str().unwrap();
    let (status, _, wider) = post_token(
        &server,
        auth(),
        &[("grant_type", "refresh_token"), ("refresh_token", third)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{wider}");
    assert_eq!(wider["scope"], "read write");
    assert_eq!(server.refreshes(), 3);
}

#[tokio::test]
async fn refresh_without_rotation_keeps_the_old_token() {
    let server = OAuth2Server::builder().rotate_refresh_tokens(false).start().await;
    let code = default_code(&server, "read").await;
    let (_, _, token) = exchange(&server, &code, VERIFIER).await;
    let refresh_token = token["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let (status, _, refreshed) = post_token(
            &server,
            Auth::Post(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{refreshed}");
        assert!(refreshed.get("refresh_token").is_none());
        assert_eq!(
            get_me(&server, refreshed["access_token"].as_str()).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(server.refreshes(), 2);
}

#[tokio::test]
async fn refresh_scope_must_be_within_the_grant() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read").await;
    let (_, _, token) = exchange(&server, &code, VERIFIER).await;
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ("scope", "read write"),
        ],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");
}

#[tokio::test]
async fn revoked_refresh_tokens_are_invalid_grant() {
    let server = OAuth2Server::start().await;
    let code = default_code(&server, "read").await;
    let (_, _, token) = exchange(&server, &code, VERIFIER).await;
    server.revoke_refresh_tokens();
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(server.refreshes(), 0);
}

#[tokio::test]
async fn revoked_access_tokens_get_401_with_www_authenticate() {
    let server = OAuth2Server::start().await;
    let (_, _, token) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let access_token = token["access_token"].as_str().unwrap();
    assert_eq!(get_me(&server, Some(access_token)).await.0, StatusCode::OK);

    server.revoke_access_tokens();
    let (status, headers, _) = get_me(&server, Some(access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let challenge = www_authenticate(&headers);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");

    // Tokens issued afterwards work.
    let (_, _, token) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(get_me(&server, token["access_token"].as_str()).await.0, StatusCode::OK);
    assert_eq!(server.api_calls(), 3);
}

#[tokio::test]
async fn api_without_or_with_unknown_token_is_401() {
    let server = OAuth2Server::start().await;
    let (status, headers, _) = get_me(&server, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www_authenticate(&headers), "Bearer realm=\"aura-testkit\"");

    let (status, headers, _) = get_me(&server, Some("at_unknown")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&headers).contains("error=\"invalid_token\""));
    assert_eq!(server.api_calls(), 2);
}

#[tokio::test]
async fn expired_access_token_is_401() {
    let server = OAuth2Server::builder()
        .access_token_ttl(Duration::from_secs(1))
        .start()
        .await;
    let (_, _, token) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(token["expires_in"], 1);
    let access_token = token["access_token"].as_str().unwrap();
    assert_eq!(get_me(&server, Some(access_token)).await.0, StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, headers, _) = get_me(&server, Some(access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(www_authenticate(&headers).contains("error=\"invalid_token\""));

    // set_access_token_ttl applies to the next tokens.
    server.set_access_token_ttl(Duration::ZERO);
    let (_, _, token) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(token["expires_in"], 0);
    assert_eq!(
        get_me(&server, token["access_token"].as_str()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn fail_next_token_request_is_scripted_and_one_shot() {
    let server = OAuth2Server::start().await;
    let auth = || Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    let params = [("grant_type", "client_credentials")];

    server.fail_next_token_request("temporarily_unavailable", 503);
    let (status, headers, body) = post_token(&server, auth(), &params).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(headers["cache-control"], "no-store");

    server.fail_next_token_request("slow_down", 429);
    let (status, headers, _) = post_token(&server, auth(), &params).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "1");

    server.fail_next_token_request("invalid_grant", 400);
    let (status, _, body) = post_token(&server, auth(), &params).await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    let (status, _, _) = post_token(&server, auth(), &params).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.token_requests(), 4);
    assert_eq!(server.grants("client_credentials"), 1);
}

#[tokio::test]
async fn unsupported_grant_type() {
    let server = OAuth2Server::start().await;
    let (status, _, body) = post_token(
        &server,
        Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        &[("grant_type", "password"), ("username", "u"), ("password", "p")],
    )
    .await;
    assert_token_error(status, &body, StatusCode::BAD_REQUEST, "unsupported_grant_type");
    assert_eq!(
        server.last_token_request().unwrap().grant_type.as_deref(),
        Some("password")
    );
}

#[tokio::test]
async fn missing_or_repeated_parameters_are_invalid_request() {
    let server = OAuth2Server::start().await;
    let auth = || Auth::Basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    for params in [
        &[][..],
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ][..],
        &[("grant_type", "refresh_token")][..],
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ][..],
    ] {
        let (status, _, body) = post_token(&server, auth(), params).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{params:?}"
        );
    }

    // Without the form Content-Type.
    let response = reqwest::Client::new()
        .post(server.token_url())
        .header("authorization", basic(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
        .body(form(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn missing_pkce_redirects_with_invalid_request() {
    let server = OAuth2Server::start().await;
    let without_challenge = authorize_url(
        &server,
        &[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("state", "abc"),
        ],
    );
    let callback = server.approve(&without_challenge).await.unwrap();
    assert!(callback.starts_with(DEFAULT_REDIRECT_URI), "{callback}");
    assert_eq!(query_param(&callback, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(&callback, "state").as_deref(), Some("abc"));
    assert_eq!(query_param(&callback, "code"), None);

    for method in [Some("plain"), None] {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("state", "abc"),
            ("code_challenge", CHALLENGE),
        ];
        if let Some(method) = method {
            params.push(("code_challenge_method", method));
        }
        let callback = server.approve(&authorize_url(&server, &params)).await.unwrap();
        assert_eq!(
            query_param(&callback, "error").as_deref(),
            Some("invalid_request"),
            "{method:?}"
        );
    }
}

#[tokio::test]
async fn authorization_errors_that_redirect() {
    let server = OAuth2Server::start().await;
    let base = [
        ("client_id", DEFAULT_CLIENT_ID),
        ("redirect_uri", DEFAULT_REDIRECT_URI),
        ("state", "abc"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut params = base.to_vec();
        params.extend_from_slice(extra);
        authorize_url(&server, &params)
    };
    for (extra, error) in [
        (&[("response_type", "code"), ("scope", "admin")][..], "invalid_scope"),
        (
            &[("response_type", "code"), ("scope", "read  write")][..],
            "invalid_scope",
        ),
        (&[("response_type", "token")][..], "unsupported_response_type"),
        (&[][..], "invalid_request"),
    ] {
        let callback = server.approve(&with(extra)).await.unwrap();
        assert_eq!(query_param(&callback, "error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(query_param(&callback, "state").as_deref(), Some("abc"));
    }

    server.deny_next_authorization();
    let callback = server.approve(&with(&[("response_type", "code")])).await.unwrap();
    assert_eq!(query_param(&callback, "error").as_deref(), Some("access_denied"));
    let callback = server.approve(&with(&[("response_type", "code")])).await.unwrap();
    assert!(query_param(&callback, "code").is_some(), "the denial is one-shot");
}

#[tokio::test]
async fn bad_redirect_uri_answers_400_without_redirect() {
    let server = OAuth2Server::start().await;
    for (client_id, redirect_uri) in [
        (DEFAULT_CLIENT_ID, "http://evil.example/callback"),
        ("unknown-client", DEFAULT_REDIRECT_URI),
    ] {
        let url = authorize_url(
            &server,
            &[
                ("response_type", "code"),
                ("client_id", client_id),
                ("redirect_uri", redirect_uri),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        );
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get("location").is_none());
        assert!(server.approve(&url).await.is_err());
    }
}
