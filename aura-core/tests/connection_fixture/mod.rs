//! The connection fixture the connection tests share: an OAuth2 app over the testkit's local
//! authorization server, an API-key app, and a manager on a manual clock.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a part.

use std::sync::Arc;

use async_trait::async_trait;
use aura_core::app::{AuthMethod, CredentialField, OAuth2Grant};
use aura_core::clock::ManualClock;
use aura_core::connection::{
    ApiKeyPlacement, ConnectionEvent, ConnectionEventKind, ConnectionId, ConnectionManager, CredentialStore,
    Credentials, MemoryCredentialStore, OAuth2Client, OAuth2Token,
};
use aura_core::secrecy::ExposeSecret;
use aura_core::{ActionDef, App, AppManifest, Context, Error, Registry, Result};
use aura_testkit::oauth2_server::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI, OAuth2Server};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// An app whose API is the testkit server's protected resource.
pub(crate) struct Acme {
    pub(crate) server: String,
}

pub(crate) async fn me(cx: Context, _input: Value) -> Result<Value> {
    let url = cx.extension::<ApiUrl>().map(|u| u.0.clone()).unwrap_or_default();
    let resp = cx.send(cx.http().get(url)).await?;
    Ok(resp.json().await?)
}

#[derive(Clone)]
pub(crate) struct ApiUrl(pub String);

#[async_trait]
impl App for Acme {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("acme", "Acme", semver::Version::new(1, 0, 0)).auth(AuthMethod::OAuth2 {
            authorization_url: Some(format!("{}/authorize", self.server)),
            token_url: format!("{}/token", self.server),
            scopes: vec!["read".into()],
            grants: vec![
                OAuth2Grant::AuthorizationCode,
                OAuth2Grant::ClientCredentials,
                OAuth2Grant::RefreshToken,
            ],
        })
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::from_json("me", json!({}), json!({}), me)]
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        cx.send(cx.http().get(format!("{}/api/me", self.server))).await?;
        Ok(())
    }
}

/// An app with API keys and custom fields, whose test fails for one key.
pub(crate) struct Keyed;

#[async_trait]
impl App for Keyed {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("keyed", "Keyed", semver::Version::new(1, 0, 0))
            .auth(AuthMethod::ApiKey {
                placement: ApiKeyPlacement::header("X-Api-Key"),
            })
            .auth(AuthMethod::Custom {
                fields: vec![
                    CredentialField {
                        name: "account_id".into(),
                        label: "Account".into(),
                        secret: false,
                        required: true,
                    },
                    CredentialField {
                        name: "secret".into(),
                        label: "Secret".into(),
                        secret: true,
                        required: true,
                    },
                ],
            })
    }

    fn actions(&self) -> Vec<ActionDef> {
        vec![ActionDef::from_json(
            "fail_auth",
            json!({}),
            json!({}),
            |_cx: Context, _v: Value| async move { Err::<Value, _>(Error::unauthorized("the API said 401")) },
        )]
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        match cx.require_connection()?.credentials() {
            Credentials::ApiKey { key, .. } if key.expose_secret() == "revoked" => {
                Err(Error::unauthorized("the key was revoked"))
            }
            _ => Ok(()),
        }
    }
}

pub(crate) struct Fixture {
    pub(crate) server: OAuth2Server,
    pub(crate) registry: Arc<Registry>,
    pub(crate) manager: ConnectionManager,
    pub(crate) events: broadcast::Receiver<ConnectionEvent>,
    /// The manager's clock: refresh back-off is measured on it.
    pub(crate) clock: ManualClock,
}

impl Fixture {
    pub(crate) async fn new() -> Self {
        Self::with(OAuth2Server::start().await, Arc::new(MemoryCredentialStore::new())).await
    }

    pub(crate) async fn with(server: OAuth2Server, store: Arc<dyn CredentialStore>) -> Self {
        let registry = Arc::new(Registry::new());
        registry.register(Acme { server: server.uri() }).unwrap();
        registry.register(Keyed).unwrap();
        let client = OAuth2Client::new(DEFAULT_CLIENT_ID, &server.token_url())
            .unwrap()
            .client_secret(DEFAULT_CLIENT_SECRET)
            .authorization_url(&server.authorization_url())
            .unwrap()
            .redirect_url(DEFAULT_REDIRECT_URI)
            .unwrap()
            .scopes(["read"]);
        let clock = ManualClock::new();
        let manager = ConnectionManager::builder(registry.clone())
            .store(store)
            .oauth2_client("acme", client)
            .clock(Arc::new(clock.clone()))
            .build();
        let events = manager.subscribe();
        Self {
            server,
            registry,
            manager,
            events,
            clock,
        }
    }

    /// Runs the authorization-code flow the way a browser would.
    pub(crate) async fn authorize(&self) -> ConnectionId {
        let url = self.manager.start_authorization("acme", "Acme account").await.unwrap();
        let callback = self.server.approve(url.as_str()).await.unwrap();
        self.manager.complete_authorization(&callback).await.unwrap().id
    }

    pub(crate) async fn call(&self, id: &ConnectionId) -> Result<Value> {
        let action = self.registry.action("acme.me").await.unwrap();
        let conn = self.manager.connections().get(id).unwrap();
        let cx = Context::builder()
            .connection(conn)
            .extension(ApiUrl(self.server.api_url()))
            .build();
        action.call(cx, json!({})).await
    }

    /// Makes the stored token look expired, keeping its refresh token.
    pub(crate) async fn expire(&self, id: &ConnectionId) {
        let Credentials::OAuth2(token) = self.manager.get(id).await.unwrap().credentials else {
            panic!("not an OAuth2 connection")
        };
        let expired = OAuth2Token {
            expires_at: Some(chrono::Utc::now() - chrono::Duration::seconds(5)),
            ..token
        };
        self.manager
            .replace_credentials(id, Credentials::OAuth2(expired), false)
            .await
            .unwrap();
    }

    pub(crate) fn drain(&mut self) -> Vec<ConnectionEventKind> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e.kind);
        }
        out
    }
}

/// `n` calls at once on separate tasks; every one must succeed.
pub(crate) async fn call_concurrently(fx: &Arc<Fixture>, id: &ConnectionId, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let (fx, id) = (fx.clone(), id.clone());
            tokio::spawn(async move { fx.call(&id).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
}

pub(crate) fn access_token(record: &aura_core::connection::ConnectionRecord) -> String {
    match &record.credentials {
        Credentials::OAuth2(t) => t.access_token.expose_secret().to_owned(),
        other => panic!("not OAuth2: {other}"),
    }
}
