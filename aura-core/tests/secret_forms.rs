//! Secrets in the forms services echo them back: base64 in `Authorization: Basic …`,
//! percent-encoded in a query string, JSON-escaped, cut by the error's body excerpt, quoted by a
//! token endpoint, and short ones in execution records.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use std::sync::Arc;

use aura_core::connection::{
    ApiKeyPlacement, ConnectionRecord, Connections, Credentials, OAuth2Client, OAuth2Token, StaticConnection,
    TokenError,
};
use aura_core::secrecy::SecretString;
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A careless API: refuses every request, echoing what it was sent (the `Authorization`
/// header, the URL as it arrived, percent-encoded) in its error body.
fn echo_everything(req: &Request) -> ResponseTemplate {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ResponseTemplate::new(403).set_body_string(format!("refused {} with Authorization: {auth}", req.url))
}

async fn echoing_api() -> MockServer {
    let api = MockServer::start().await;
    Mock::given(path("/echo"))
        .respond_with(echo_everything)
        .mount(&api)
        .await;
    api
}

/// The error of one call through `Context::send` with `credentials`.
async fn refused_with(api: &MockServer, credentials: Credentials) -> Error {
    let conn = StaticConnection::new(ConnectionRecord::new("svc", "c", credentials));
    let cx = Context::builder().connection(Arc::new(conn)).build();
    cx.send(cx.http().get(format!("{}/echo", api.uri())))
        .await
        .expect_err("the API refuses everything")
}

/// Everything an error shows: Display, Debug, the body excerpt and every cause.
fn shown(err: &Error) -> String {
    let mut out = format!("{err}\n{err:?}\n{}", err.body_excerpt().unwrap_or_default());
    let mut next = std::error::Error::source(err);
    while let Some(cause) = next {
        out.push_str(&format!("\n{cause}\n{cause:?}"));
        next = cause.source();
    }
    out
}

fn assert_absent(what: &str, text: &str, forms: &[&str]) {
    for form in forms {
        assert!(!text.contains(form), "{what}: `{form}` leaked: {text}");
    }
}

#[tokio::test]
async fn an_echoed_basic_authorization_header_is_redacted() {
    let api = echoing_api().await;
    let err = refused_with(&api, Credentials::basic("alice", "wonderland-42")).await;
    let encoded = STANDARD.encode("alice:wonderland-42");
    let text = shown(&err);
    assert!(text.contains("Authorization: Basic [redacted]"), "{text}");
    assert_absent("basic", &text, &[&encoded, "wonderland-42"]);
}

#[tokio::test]
async fn a_percent_encoded_api_key_in_the_query_is_redacted() {
    let api = echoing_api().await;
    let key = "k3y/with+special=chars&more";
    let err = refused_with(&api, Credentials::api_key(key, ApiKeyPlacement::query("api_key"))).await;
    let text = shown(&err);
    // The URL arrived with the key percent-encoded.
    assert!(text.contains("api_key=[redacted]"), "{text}");
    assert_absent("query key", &text, &[key, "k3y%2Fwith%2Bspecial%3Dchars%26more"]);
}

#[tokio::test]
async fn json_escaped_and_url_safe_base64_secrets_are_redacted() {
    let token = "tok\"with/quotes\\and~slashes";
    let api = MockServer::start().await;
    let body = serde_json::json!({
        "error": format!("token {token} rejected"),
        "b64url": URL_SAFE_NO_PAD.encode(token),
    })
    .to_string();
    Mock::given(path("/echo"))
        .respond_with(ResponseTemplate::new(400).set_body_string(body.clone()))
        .mount(&api)
        .await;
    // The body really holds the JSON-escaped form, not the raw one.
    assert!(!body.contains(token));

    let err = refused_with(&api, Credentials::bearer(token)).await;
    let text = shown(&err);
    let escaped = serde_json::to_string(token).unwrap();
    assert_absent(
        "json",
        &text,
        &[token, &escaped[1..escaped.len() - 1], &URL_SAFE_NO_PAD.encode(token)],
    );
    assert!(text.contains("[redacted]"), "{text}");
}

#[tokio::test]
async fn a_secret_straddling_the_excerpt_cut_leaves_no_prefix() {
    let secret = "sk_live_0123456789abcdefghijklmnopqrstuvwxyz";
    let api = MockServer::start().await;
    // The excerpt keeps 512 bytes: the secret starts at byte 500 and is cut after 12 bytes.
    let body = format!("{}{secret} and more text after it", "x".repeat(500));
    Mock::given(path("/echo"))
        .respond_with(ResponseTemplate::new(500).set_body_string(body))
        .mount(&api)
        .await;

    let err = refused_with(&api, Credentials::bearer(secret)).await;
    let excerpt = err.body_excerpt().unwrap_or_default();
    assert!(excerpt.starts_with(&"x".repeat(500)), "{excerpt}");
    assert_absent("excerpt", &shown(&err), &[secret, &secret[..12], &secret[..8]]);
}

#[tokio::test]
async fn a_token_endpoint_quoting_the_refresh_token_does_not_leak_it() {
    let refresh = "rt-quoted-back-9f8e7d";
    let client_secret = "client-secret-5a4b3c";
    let server = MockServer::start().await;
    let description = format!("refresh token {refresh} was revoked; client {client_secret} is fine");
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_grant",
            "error_description": description,
            "error_uri": format!("https://auth.test/help?token={refresh}"),
        })))
        .mount(&server)
        .await;
    let client = OAuth2Client::new("app", &format!("{}/token", server.uri()))
        .unwrap()
        .client_secret(client_secret);
    let token = OAuth2Token {
        refresh_token: Some(SecretString::from(refresh)),
        ..OAuth2Token::bearer("at-1")
    };

    let err = client.refresh(&token).await.unwrap_err();
    let token_error = TokenError::of(&err).expect("the typed token error is kept");
    assert_eq!(token_error.code.as_str(), "invalid_grant");
    let description = token_error.description.clone().unwrap_or_default();
    assert!(description.contains("[redacted] was revoked"), "{description}");
    let text = format!("{}\n{description}\n{:?}", shown(&err), token_error);
    assert_absent("token endpoint error", &text, &[refresh, client_secret]);
}

/// An app whose action puts a short PIN into its output, next to words that merely contain it.
struct Pin;

#[async_trait::async_trait]
impl App for Pin {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("pin", "Pin", semver::Version::new(1, 0, 0)).auth(aura_core::app::AuthMethod::ApiKey {
            placement: ApiKeyPlacement::header("X-Pin"),
        })
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::from_json(
            "show",
            serde_json::json!({}),
            serde_json::json!({}),
            |_cx: Context, _input: serde_json::Value| async move {
                Ok(serde_json::json!({
                    "note": "pin 4821 accepted",
                    "header": "X-Pin: 4821",
                    "unrelated": "order 148210 and code x4821y",
                }))
            },
        )]
    }
}

#[tokio::test]
async fn short_secrets_are_redacted_from_records_as_whole_tokens() {
    use aura_core::engine::Engine;
    use aura_core::scenario::{NodeBuilder, Scenario};

    let registry = Arc::new(Registry::new());
    registry.register(Pin).unwrap();
    let connections = Arc::new(Connections::new());
    let record = ConnectionRecord::new(
        "pin",
        "c",
        Credentials::api_key("4821", ApiKeyPlacement::header("X-Pin")),
    )
    .with_id("pin-conn");
    connections.insert(Arc::new(StaticConnection::new(record)));
    let engine = Engine::builder(registry).connections(connections).build();
    let scenario = Scenario::builder("short", "Short")
        .node(NodeBuilder::trigger("t").next(["show"]))
        .node(NodeBuilder::action("show", "pin.show").connection("pin-conn"))
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    let run = engine.execute(&plan, serde_json::json!({})).await.unwrap();

    let stored = engine.store().get(run.id).await.unwrap().unwrap();
    let output = serde_json::to_value(&stored).unwrap().to_string();
    assert!(output.contains("pin [redacted] accepted"), "{output}");
    assert!(output.contains("X-Pin: [redacted]"), "{output}");
    // Words that merely contain the PIN are left alone.
    assert!(output.contains("order 148210 and code x4821y"), "{output}");
}
