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

impl Captured {
    /// Captures every event at every level on this thread until the guard drops.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }
}

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
    let (captured, _guard) = Captured::install();

    let mut authorize_errors = 0;
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
            authorize_errors += 1;
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
    // The expired OAuth2 token cannot be applied: that error was checked above.
    assert_eq!(
        authorize_errors, 1,
        "the expired token's authorize error was not checked"
    );

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

/// A careless API: answers 401 with the credentials it was sent in the body.
fn echo_401(req: &wiremock::Request) -> wiremock::ResponseTemplate {
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    wiremock::ResponseTemplate::new(401).set_body_string(format!("token {auth} is not valid"))
}

/// The access token a connection holds now.
fn access_token(conn: &dyn Connection) -> String {
    use aura_core::secrecy::ExposeSecret;
    match conn.credentials() {
        Credentials::OAuth2(t) => t.access_token.expose_secret().to_owned(),
        other => panic!("not OAuth2: {other}"),
    }
}

/// An app whose one action echoes its token into its output and, on demand, into its error.
struct Echo {
    api: String,
}

#[async_trait::async_trait]
impl aura_core::App for Echo {
    fn manifest(&self) -> aura_core::AppManifest {
        aura_core::AppManifest::new("echo", "Echo", semver::Version::new(1, 0, 0)).auth(
            aura_core::app::AuthMethod::OAuth2 {
                authorization_url: None,
                token_url: "http://127.0.0.1:9/token".into(),
                scopes: vec![],
                grants: vec![aura_core::app::OAuth2Grant::ClientCredentials],
            },
        )
    }

    fn actions(&self) -> Vec<ActionDef> {
        let api = self.api.clone();
        vec![ActionDef::from_json(
            "leak",
            serde_json::json!({}),
            serde_json::json!({}),
            move |cx: Context, input: serde_json::Value| {
                let api = api.clone();
                async move {
                    // A careless connector: calls the API, then puts the token everywhere.
                    cx.send(cx.http().get(&api)).await?;
                    let token = match cx.require_connection()?.credentials() {
                        Credentials::OAuth2(t) => {
                            use aura_core::secrecy::ExposeSecret;
                            t.access_token.expose_secret().to_owned()
                        }
                        _ => String::new(),
                    };
                    tracing::debug!(token_len = token.len(), "leaky action ran");
                    if input["fail"] == true {
                        return Err(Error::upstream(500, &format!("failed with token {token}"))
                            .with_context("token", token.clone()));
                    }
                    Ok(serde_json::json!({ "echo": token, "nested": { "header": format!("Bearer {token}") } }))
                }
            },
        )]
    }
}

/// The canary as an OAuth2 client secret and as every token the server issues, through the
/// manager, the token endpoint's errors, an API that echoes credentials back, the encrypted
/// store, events, tracing and the engine's execution records.
#[tokio::test]
async fn the_canary_never_leaks_through_oauth2_the_store_or_execution_records() {
    use aura_core::connection::{
        ConnectionManager, EncryptedStore, EncryptionKey, KeyRing, MemorySealedStore, OAuth2Client, SealedStore,
    };
    use aura_core::engine::Engine;
    use aura_core::scenario::{NodeBuilder, Scenario};
    use aura_testkit::oauth2_server::{DEFAULT_CLIENT_ID, DEFAULT_REDIRECT_URI, OAuth2Server};
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let (captured, _guard) = Captured::install();

    // The client secret is the canary.
    let auth = OAuth2Server::builder()
        .client(DEFAULT_CLIENT_ID, Some(CANARY), [DEFAULT_REDIRECT_URI])
        .start()
        .await;
    // An API that answers 401 once, echoing the credentials it got, then 200.
    let api = MockServer::start().await;
    Mock::given(path("/v1/thing"))
        .respond_with(echo_401)
        .up_to_n_times(1)
        .mount(&api)
        .await;
    Mock::given(path("/v1/thing"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&api)
        .await;
    Mock::given(path("/v1/denied")).respond_with(echo_401).mount(&api).await;

    let registry = Arc::new(Registry::new());
    registry
        .register(Echo {
            api: format!("{}/v1/thing", api.uri()),
        })
        .unwrap();
    let ring = KeyRing::new("k1", EncryptionKey::generate().unwrap());
    let sealed = Arc::new(EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring)));
    let client = OAuth2Client::new(DEFAULT_CLIENT_ID, &auth.token_url())
        .unwrap()
        .client_secret(CANARY);
    let manager = ConnectionManager::builder(registry.clone())
        .store(sealed.clone())
        .oauth2_client("echo", client.clone())
        .build();
    let mut events = manager.subscribe();

    let record = manager.connect_client_credentials("echo", "machine").await.unwrap();
    let conn = manager.connections().get(&record.id).unwrap();
    let token = access_token(conn.as_ref());
    let secrets = [CANARY, token.as_str()];
    let check = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "a secret leaked through {what}: {text}");
        }
    };

    check("record Debug", &format!("{record:?} {record:#?}"));
    check("record serde", &serde_json::to_string(&record).unwrap());
    check("managed connection Debug", &format!("{conn:?}"));
    check("manager Debug", &format!("{manager:?}"));
    check("OAuth2 client Debug", &format!("{client:?}"));
    check("encrypted store Debug", &format!("{sealed:?}"));
    for sealed_record in sealed.backend().list().await.unwrap() {
        check("sealed record Debug", &format!("{sealed_record:?}"));
        let bytes = String::from_utf8_lossy(&sealed_record.ciphertext).into_owned();
        check("ciphertext", &bytes);
    }

    // A wrong client secret: the token endpoint's error carries neither secret.
    let wrong = OAuth2Client::new(DEFAULT_CLIENT_ID, &auth.token_url())
        .unwrap()
        .client_secret(format!("{CANARY}-wrong"));
    let err = wrong.client_credentials().await.unwrap_err();
    check("invalid_client error", &format!("{err} {err:?}"));

    // An API that keeps refusing, echoing the token: the error is scrubbed.
    let cx = Context::builder().connection(conn.clone()).build();
    let err = cx
        .send(cx.http().get(format!("{}/v1/denied", api.uri())))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.body_excerpt().unwrap_or_default().contains("[redacted]"), "{err:?}");
    let current = access_token(conn.as_ref());
    assert!(!format!("{err} {err:?}").contains(&current), "{err:?}");
    check("echoed 401 error", &format!("{err} {err:?}"));

    // The engine runs the leaky action twice: once succeeding (after the API's 401 echoing the
    // token, which triggers a refresh), once failing with the token in its error.
    let engine = Engine::builder(registry.clone())
        .connections(manager.connections())
        .build();
    let scenario = Scenario::builder("leaky", "Leaky")
        .node(NodeBuilder::trigger("t").next(["leak"]))
        .node(
            NodeBuilder::action("leak", "echo.leak")
                .connection(record.id.as_str())
                .input(serde_json::json!({ "fail": "{{ trigger.fail }}" })),
        )
        .build();
    let plan = engine.deploy(scenario).await.unwrap();
    let ok = engine
        .execute(&plan, serde_json::json!({ "fail": false }))
        .await
        .unwrap();
    assert_eq!(ok.status, aura_core::store::ExecutionStatus::Completed, "{ok:?}");
    assert_eq!(
        auth.grants("client_credentials"),
        3,
        "each first 401 renewed the token once"
    );
    let failed = engine
        .execute(&plan, serde_json::json!({ "fail": true }))
        .await
        .unwrap();
    assert_eq!(failed.status, aura_core::store::ExecutionStatus::Failed);

    // The refreshed token is a secret too.
    let new_token = access_token(conn.as_ref());
    for (what, r) in [("completed", &ok), ("failed", &failed)] {
        let stored = engine.store().get(r.id).await.unwrap().unwrap();
        let text = serde_json::to_string(&stored).unwrap();
        check(what, &text);
        assert!(
            !text.contains(&new_token),
            "the refreshed token leaked into the {what} record: {text}"
        );
        assert!(text.contains("[redacted]"), "{text}");
    }

    let mut seen = 0;
    while let Ok(e) = events.try_recv() {
        check(
            "connection event",
            &format!("{e:?} {}", serde_json::to_string(&e).unwrap()),
        );
        seen += 1;
    }
    assert!(seen >= 2, "created and refreshed");

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("oauth2 token refreshed"),
        "the subscriber captured nothing: {logs}"
    );
    check("tracing output", &logs);
    assert!(
        !logs.contains(&new_token),
        "the refreshed token leaked into tracing: {logs}"
    );
}
