//! Connect an account with OAuth2, use it, let the token expire, rotate the encryption key.
//!
//! ```text
//! cargo run --example oauth_connection
//! ```
//!
//! Everything runs locally: the testkit's OAuth2 server plays the vendor (authorization code
//! with PKCE, refresh tokens, a protected `/api/me`), a [`ConnectionManager`] keeps the
//! connection in an AES-256-GCM [`EncryptedStore`], and the example:
//!
//! 1. connects an account with the authorization-code grant (the "browser" is the server's
//!    `approve` helper) and calls an action with it;
//! 2. waits until the access token has expired and fires 50 calls at once: exactly one refresh
//!    happens, before any call is refused, and the new token is persisted;
//! 3. rotates the encryption key: every record is re-sealed under the new key, the old key is
//!    dropped, and the connection still loads.
//!
//! The key comes from `AURA_CREDENTIALS_KEY` (base64, 32 bytes) when it is set, as a host would
//! configure it; otherwise a random one is generated for the run.

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aura_core::app::{AuthMethod, OAuth2Grant};
use aura_core::connection::{
    ConnectionEventKind, ConnectionManager, Credentials, EncryptedStore, EncryptionKey, EnvKeyProvider, KeyRing,
    MemorySealedStore, OAuth2Client, SealedStore,
};
use aura_core::{ActionDef, App, AppManifest, Context, Registry, Result};
use aura_testkit::OAuth2Server;
use aura_testkit::oauth2_server::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How long the server's access tokens live, and how early the manager refreshes them.
const TOKEN_TTL: Duration = Duration::from_secs(3);
const LEEWAY: Duration = Duration::from_secs(1);

/// "Acme", an app whose API is the local server's protected resource.
struct Acme {
    base: String,
}

#[derive(Deserialize, JsonSchema)]
struct WhoAmI {}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Me {
    sub: String,
    client_id: String,
    scope: String,
}

#[async_trait]
impl App for Acme {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("acme", "Acme", aura_core::semver::Version::new(1, 0, 0)).auth(AuthMethod::OAuth2 {
            authorization_url: Some(format!("{}/authorize", self.base)),
            token_url: format!("{}/token", self.base),
            scopes: vec!["read".into()],
            grants: vec![OAuth2Grant::AuthorizationCode, OAuth2Grant::RefreshToken],
        })
    }

    fn actions(&self) -> Vec<ActionDef> {
        let url = format!("{}/api/me", self.base);
        vec![
            ActionDef::new("who_am_i", move |cx: Context, _: WhoAmI| {
                let url = url.clone();
                // `Context::send` puts the connection's token on the request, refreshes it first
                // when it is about to expire, and renews once on a 401.
                async move { Ok(cx.send(cx.http().get(url)).await?.json::<Me>().await?) }
            })
            .idempotent(true),
        ]
    }

    async fn test_connection(&self, cx: &Context) -> Result<()> {
        cx.send(cx.http().get(format!("{}/api/me", self.base))).await?;
        Ok(())
    }
}

/// The key from `AURA_CREDENTIALS_KEY`, or a fresh one.
fn first_key() -> Result<(String, EncryptionKey)> {
    if std::env::var_os(EnvKeyProvider::DEFAULT_VARIABLE).is_some() {
        let env = EnvKeyProvider::from_env(EnvKeyProvider::DEFAULT_VARIABLE)?;
        println!(
            "   key from ${} ({})",
            EnvKeyProvider::DEFAULT_VARIABLE,
            env.current_id()
        );
        // A host would use `env` as its KeyProvider directly; the example needs a ring it can
        // add a second key to, so it reads the variable again into one.
        let raw = std::env::var(EnvKeyProvider::DEFAULT_VARIABLE).unwrap_or_default();
        let key = EncryptionKey::from_base64(&raw)?;
        return Ok((env.current_id().to_string(), key));
    }
    let key = EncryptionKey::generate()?;
    println!(
        "   ${} is not set: generated a key for this run",
        EnvKeyProvider::DEFAULT_VARIABLE
    );
    Ok((key.fingerprint(), key))
}

#[tokio::main]
async fn main() -> Result<()> {
    let server = OAuth2Server::builder().access_token_ttl(TOKEN_TTL).start().await;
    println!("OAuth2 server (testkit) at {}", server.uri());

    let registry = Arc::new(Registry::new());
    registry.register(Acme { base: server.uri() })?;

    println!("\n1. Connect an account (authorization code + PKCE) and call an action");
    let (first_id, first) = first_key()?;
    let ring = KeyRing::new(first_id.as_str(), first);
    let store = Arc::new(EncryptedStore::new(MemorySealedStore::new(), Arc::new(ring.clone())));
    let client = OAuth2Client::new(DEFAULT_CLIENT_ID, &server.token_url())?
        .client_secret(DEFAULT_CLIENT_SECRET)
        .authorization_url(&server.authorization_url())?
        .redirect_url(DEFAULT_REDIRECT_URI)?
        .scopes(["read"]);
    let manager = ConnectionManager::builder(registry.clone())
        .store(store.clone())
        .oauth2_client("acme", client)
        .refresh_leeway(LEEWAY)
        .build();
    let mut events = manager.subscribe();

    let url = manager.start_authorization("acme", "Ada's Acme account").await?;
    println!("   send the user to {}…", &url.as_str()[..url.as_str().len().min(90)]);
    let callback = server.approve(url.as_str()).await.map_err(aura_core::Error::internal)?;
    let record = manager.complete_authorization(&callback).await?;
    println!(
        "   connected {} ({}), version {}, tested with GET /api/me",
        record.id, record.name, record.version
    );
    println!(
        "   the credentials as a UI sees them: {}",
        serde_json::json!(record.credentials)
    );

    let who_am_i = registry.action("acme.who_am_i").await?;
    let conn = manager
        .connections()
        .get(&record.id)
        .ok_or_else(|| aura_core::Error::not_found("connection"))?;
    let cx = Context::builder().connection(conn.clone()).build();
    let me = who_am_i.call(cx.clone(), serde_json::json!({})).await?;
    println!("   who_am_i -> {me}");

    println!("\n2. Let the token expire, then 50 calls at once");
    // Past the token's expiry: the server would refuse it now.
    tokio::time::sleep(TOKEN_TTL + Duration::from_millis(200)).await;
    let refreshes_before = server.refreshes();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let (action, cx) = (who_am_i.clone(), cx.clone());
            tokio::spawn(async move { action.call(cx, serde_json::json!({})).await })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        if call
            .await
            .map_err(|e| aura_core::Error::internal(e.to_string()))?
            .is_ok()
        {
            ok += 1;
        }
    }
    let refreshes = server.refreshes() - refreshes_before;
    println!("   {ok}/50 calls succeeded; refresh-token grants seen by the server: {refreshes}");
    assert_eq!(refreshes, 1, "single-flight refresh");
    let stored = manager.get(&record.id).await?;
    let usage = manager.usage(&record.id).unwrap_or_default();
    println!(
        "   persisted: version {} (was {}), {} calls, {} errors, {} refresh",
        stored.version, record.version, usage.calls, usage.errors, usage.refreshes
    );
    while let Ok(event) = events.try_recv() {
        if let ConnectionEventKind::TokenRefreshed { version, expires_at } = event.kind {
            println!("   event: token refreshed -> version {version}, expires {expires_at:?}");
        }
    }

    println!("\n3. Rotate the encryption key");
    let key_of = |r: &aura_core::connection::SealedRecord| r.key_id.to_string();
    let sealed = store.backend().list().await?;
    println!("   sealed under {:?}", sealed.iter().map(key_of).collect::<Vec<_>>());
    ring.add("2026-12", EncryptionKey::generate()?)?;
    ring.set_current("2026-12")?;
    let report = store.rotate_key().await?;
    println!(
        "   rotate_key: {} re-sealed, {} already current, now under {}",
        report.rotated, report.already_current, report.key_id
    );
    ring.remove(first_id.as_str())?;
    let ids: Vec<String> = ring.ids().iter().map(ToString::to_string).collect();
    println!("   old key removed; the ring holds {ids:?}");

    // A restart: a new manager loads the connection back through the new key.
    let restarted = ConnectionManager::builder(registry.clone())
        .store(store.clone())
        .build();
    let loaded = restarted.load().await?;
    println!(
        "   restarted: {} connection(s) loaded, {} unreadable",
        loaded.loaded.len(),
        loaded.unreadable.len()
    );
    let back = restarted.get(&record.id).await?;
    let same = matches!((&back.credentials, &stored.credentials), (Credentials::OAuth2(a), Credentials::OAuth2(b))
        if aura_core::secrecy::ExposeSecret::expose_secret(&a.access_token)
            == aura_core::secrecy::ExposeSecret::expose_secret(&b.access_token));
    println!(
        "   after a restart: version {}, same token: {same}, key now {}",
        back.version,
        store.keys().current().await?.0
    );
    assert!(same);
    Ok(())
}
