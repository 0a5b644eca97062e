//! [`ConnectionManager`]: the lifecycle of connections — create, test, use, refresh, change,
//! disconnect, delete — on top of a [`CredentialStore`].

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use reqwest::Url;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use super::oauth2::Callback;
use super::{
    AuthorizationRequest, Connection, ConnectionId, ConnectionRecord, ConnectionStatus, Connections, CredentialStore,
    Credentials, MemoryCredentialStore, OAuth2Client, StaticConnection, TokenError, TokenErrorCode,
};
use crate::app::{AppManifest, AuthMethod};
use crate::context::{Context, shared_http_client};
use crate::error::{Error, ErrorKind, Result, Violation};
use crate::registry::Registry;

/// How long a started authorization (its `state`) waits for the user to come back.
const AUTHORIZATION_TTL: Duration = Duration::from_secs(600);
/// How many times a compare-and-swap write is retried against concurrent writers.
const MAX_CAS_ATTEMPTS: usize = 16;
/// The metadata key that records how an OAuth2 connection got its token.
const GRANT_KEY: &str = "oauth2_grant";

/// Manages connections: checks and tests them on creation, keeps them in a
/// [`CredentialStore`], hands them to the engine through [`Connections`], refreshes OAuth2
/// tokens once however many calls need it, counts their use and follows their status.
///
/// ```
/// use std::sync::Arc;
/// use aura_core::connection::{ApiKeyPlacement, ConnectionManager, Credentials, NewConnection};
/// use aura_core::app::AuthMethod;
/// use aura_core::{ActionDef, App, AppManifest, Registry};
///
/// struct Crm;
/// #[async_trait::async_trait]
/// impl App for Crm {
///     fn manifest(&self) -> AppManifest {
///         AppManifest::new("crm", "CRM", semver::Version::new(1, 0, 0))
///             .auth(AuthMethod::ApiKey { placement: ApiKeyPlacement::header("X-Api-Key") })
///     }
///     fn actions(&self) -> Vec<ActionDef> { Vec::new() }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> aura_core::Result<()> {
/// let registry = Arc::new(Registry::new());
/// registry.register(Crm)?;
/// let manager = ConnectionManager::builder(registry).build();
///
/// let key = Credentials::api_key("sk_live_1", ApiKeyPlacement::header("X-Api-Key"));
/// let record = manager.create(NewConnection::new("crm", "Sales", key)).await?;
/// assert_eq!(record.version, 1);
/// // The engine uses the same live set: `EngineBuilder::connections(manager.connections())`.
/// assert!(manager.connections().get(&record.id).is_some());
///
/// // Credentials the app does not accept are refused, naming the field.
/// let err = manager.create(NewConnection::new("crm", "Bad", Credentials::bearer("t"))).await.unwrap_err();
/// assert_eq!(err.violations()[0].path, "/credentials/type");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ConnectionManager {
    shared: Arc<Shared>,
}

struct Shared {
    registry: Arc<Registry>,
    store: Arc<dyn CredentialStore>,
    live: Arc<Connections>,
    managed: RwLock<HashMap<ConnectionId, Arc<ManagedConnection>>>,
    oauth2: RwLock<HashMap<String, Arc<OAuth2Client>>>,
    pending: Mutex<HashMap<String, Pending>>,
    events: broadcast::Sender<ConnectionEvent>,
    leeway: chrono::Duration,
    http: reqwest::Client,
}

struct Pending {
    app_id: String,
    name: String,
    request: AuthorizationRequest,
    started: Instant,
}

/// Builds a [`ConnectionManager`].
pub struct ConnectionManagerBuilder {
    registry: Arc<Registry>,
    store: Option<Arc<dyn CredentialStore>>,
    live: Option<Arc<Connections>>,
    oauth2: HashMap<String, Arc<OAuth2Client>>,
    leeway: Duration,
    http: Option<reqwest::Client>,
}

impl ConnectionManagerBuilder {
    /// Where records are kept (default: a [`MemoryCredentialStore`]; use an
    /// [`EncryptedStore`](super::EncryptedStore) over a durable backend in production).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The live set to keep up to date (default: a new one; get it with
    /// [`ConnectionManager::connections`]).
    #[must_use]
    pub fn connections(mut self, connections: Arc<Connections>) -> Self {
        self.live = Some(connections);
        self
    }

    /// The OAuth2 client registered with an app's authorization server, used to connect
    /// accounts and refresh their tokens.
    #[must_use]
    pub fn oauth2_client(mut self, app_id: impl Into<String>, client: OAuth2Client) -> Self {
        self.oauth2.insert(app_id.into(), Arc::new(client));
        self
    }

    /// How long before expiry an access token is refreshed (default 60 s).
    #[must_use]
    pub fn refresh_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The HTTP client for connection tests (default: the shared one).
    #[must_use]
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the manager. Call [`ConnectionManager::load`] to bring stored connections back.
    pub fn build(self) -> ConnectionManager {
        let (events, _) = broadcast::channel(1024);
        ConnectionManager {
            shared: Arc::new(Shared {
                registry: self.registry,
                store: self.store.unwrap_or_else(|| Arc::new(MemoryCredentialStore::new())),
                live: self.live.unwrap_or_default(),
                managed: RwLock::default(),
                oauth2: RwLock::new(self.oauth2),
                pending: Mutex::default(),
                events,
                leeway: chrono::Duration::from_std(self.leeway).unwrap_or(chrono::Duration::MAX),
                http: self.http.unwrap_or_else(shared_http_client),
            }),
        }
    }
}

/// A connection to create.
#[derive(Clone, Debug)]
pub struct NewConnection {
    app_id: String,
    name: String,
    credentials: Credentials,
    metadata: Map<String, Value>,
    id: Option<ConnectionId>,
    test: bool,
}

impl NewConnection {
    /// A connection of `app_id` named `name` with its credentials; it will be tested.
    pub fn new(app_id: impl Into<String>, name: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            app_id: app_id.into(),
            name: name.into(),
            credentials,
            metadata: Map::new(),
            id: None,
            test: true,
        }
    }

    /// Non-secret metadata (account name, workspace id …).
    #[must_use]
    pub fn metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = metadata;
        self
    }

    /// A chosen id (default: a fresh UUID v7).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<ConnectionId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Skips the app's [`test_connection`](crate::App::test_connection) (for offline setup,
    /// or apps whose test is costly).
    #[must_use]
    pub fn skip_test(mut self) -> Self {
        self.test = false;
        self
    }
}

/// Changes to a connection's non-secret parts.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ConnectionUpdate {
    /// A new name.
    pub name: Option<String>,
    /// New metadata (replaces the old).
    pub metadata: Option<Map<String, Value>>,
}

impl ConnectionUpdate {
    /// Renames the connection.
    pub fn name(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn with_metadata(mut self, metadata: Map<String, Value>) -> Self {
        self.metadata = Some(metadata);
        self
    }
}

/// How much a connection has been used since it was loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionUsage {
    /// Action calls made with it.
    pub calls: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// Successful token refreshes.
    pub refreshes: u64,
    /// When an action last used it.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Something that happened to a connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionEvent {
    /// The connection.
    pub connection_id: ConnectionId,
    /// Its app.
    pub app_id: String,
    /// What happened.
    pub kind: ConnectionEventKind,
}

/// What happened to a connection. Never carries a secret.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionEventKind {
    /// Created (and tested, unless skipped).
    Created,
    /// Name or metadata changed.
    Updated,
    /// Credentials replaced by the host.
    CredentialsReplaced {
        /// The record's new version.
        version: u64,
    },
    /// An OAuth2 token was refreshed (or re-issued by the client-credentials grant).
    TokenRefreshed {
        /// The record's new version.
        version: u64,
        /// When the new access token expires.
        expires_at: Option<DateTime<Utc>>,
    },
    /// A refresh failed.
    RefreshFailed {
        /// The error's kind.
        error: &'static str,
        /// The token endpoint's `error` code (`"invalid_grant"`), if it sent one.
        oauth2_error: Option<String>,
    },
    /// The refreshed token works but could not be written to the store; it is kept in
    /// memory and written with the next change.
    PersistFailed {
        /// The error's kind.
        error: &'static str,
    },
    /// The status changed.
    StatusChanged {
        /// Before.
        from: ConnectionStatus,
        /// After.
        to: ConnectionStatus,
    },
    /// Deleted.
    Deleted,
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("store", &self.shared.store)
            .field("connections", &self.shared.managed.read().len())
            .field("oauth2_apps", &self.shared.oauth2.read().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ConnectionManager {
    /// Starts building a manager over the apps of `registry`.
    pub fn builder(registry: Arc<Registry>) -> ConnectionManagerBuilder {
        ConnectionManagerBuilder {
            registry,
            store: None,
            live: None,
            oauth2: HashMap::new(),
            leeway: Duration::from_secs(60),
            http: None,
        }
    }

    /// The live connections, for [`EngineBuilder::connections`](crate::engine::EngineBuilder::connections).
    pub fn connections(&self) -> Arc<Connections> {
        self.shared.live.clone()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CredentialStore> {
        &self.shared.store
    }

    /// Events as they happen (refreshes, failures, status changes …). A slow receiver misses
    /// old events rather than slowing connections down.
    pub fn subscribe(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.shared.events.subscribe()
    }

    /// Registers (or replaces) the OAuth2 client of an app.
    pub fn register_oauth2_client(&self, app_id: impl Into<String>, client: OAuth2Client) {
        self.shared.oauth2.write().insert(app_id.into(), Arc::new(client));
    }

    /// Brings every stored connection back into the live set (after a restart). Returns how
    /// many there are.
    pub async fn load(&self) -> Result<usize> {
        let records = self.shared.store.list().await?;
        let n = records.len();
        for record in records {
            self.shared.activate(record);
        }
        Ok(n)
    }

    /// Creates a connection: checks the credentials against the app's declared auth methods
    /// and required fields, tests them with the app's `test_connection` (unless skipped),
    /// stores the record and makes it live. Nothing is stored when a check or the test fails.
    pub async fn create(&self, new: NewConnection) -> Result<ConnectionRecord> {
        let manifest = self.shared.registry.manifest(&new.app_id)?;
        check_credentials(&manifest, &new.credentials)?;
        let mut record = ConnectionRecord::new(new.app_id, new.name, new.credentials);
        record.metadata = new.metadata;
        if let Some(id) = new.id {
            record.id = id;
        }
        if new.test {
            self.test_record(&record).await?;
        }
        self.shared.store.insert(&record).await?;
        self.shared.activate(record.clone());
        tracing::info!(connection = %record.id, app = %record.app_id, "connection created");
        self.shared
            .emit(&record.id, &record.app_id, ConnectionEventKind::Created);
        Ok(record)
    }

    /// Starts connecting an account of `app_id` with the authorization-code grant: returns the
    /// URL to send the user to. The redirect comes back to
    /// [`complete_authorization`](Self::complete_authorization) within ten minutes.
    pub async fn start_authorization(&self, app_id: &str, name: impl Into<String>) -> Result<Url> {
        let manifest = self.shared.registry.manifest(app_id)?;
        if !manifest.auth.iter().any(|m| m.kind() == "oauth2") {
            return Err(
                Error::invalid_definition("this app does not authenticate with OAuth2").with_context("app", app_id)
            );
        }
        let client = self.shared.client(app_id)?;
        let request = client.authorization_request()?;
        let url = request.url().clone();
        let mut pending = self.shared.pending.lock();
        pending.retain(|_, p| p.started.elapsed() < AUTHORIZATION_TTL);
        pending.insert(
            request.state().to_owned(),
            Pending {
                app_id: app_id.to_owned(),
                name: name.into(),
                request,
                started: Instant::now(),
            },
        );
        Ok(url)
    }

    /// Finishes an authorization from the redirect URL (or its query string): checks the
    /// state, exchanges the code (with the PKCE verifier) and creates the connection.
    pub async fn complete_authorization(&self, callback: &str) -> Result<ConnectionRecord> {
        let state = Callback::parse(callback).state.unwrap_or_default();
        let pending = {
            let mut map = self.shared.pending.lock();
            map.remove(&state)
                .filter(|p| p.started.elapsed() < AUTHORIZATION_TTL)
                .ok_or_else(|| {
                    Error::forbidden("unknown or expired authorization state: start the authorization again")
                })?
        };
        let client = self.shared.client(&pending.app_id)?;
        let token = client
            .complete(&pending.request, callback)
            .await
            .map_err(|e| e.with_context("app", pending.app_id.clone()))?;
        let mut metadata = Map::new();
        metadata.insert(GRANT_KEY.into(), "authorization_code".into());
        self.create(NewConnection::new(pending.app_id, pending.name, Credentials::OAuth2(token)).metadata(metadata))
            .await
    }

    /// Connects `app_id` with the client-credentials grant (machine to machine). The token is
    /// asked for again whenever it expires.
    pub async fn connect_client_credentials(&self, app_id: &str, name: impl Into<String>) -> Result<ConnectionRecord> {
        let client = self.shared.client(app_id)?;
        let token = client
            .client_credentials()
            .await
            .map_err(|e| e.with_context("app", app_id))?;
        let mut metadata = Map::new();
        metadata.insert(GRANT_KEY.into(), "client_credentials".into());
        self.create(NewConnection::new(app_id, name, Credentials::OAuth2(token)).metadata(metadata))
            .await
    }

    /// One connection's record, with its last use.
    pub async fn get(&self, id: &ConnectionId) -> Result<ConnectionRecord> {
        let record = self
            .shared
            .store
            .get(id)
            .await?
            .ok_or_else(|| super::store::not_found(id))?;
        Ok(self.with_usage(record))
    }

    /// Every connection's record.
    pub async fn list(&self) -> Result<Vec<ConnectionRecord>> {
        Ok(self
            .shared
            .store
            .list()
            .await?
            .into_iter()
            .map(|r| self.with_usage(r))
            .collect())
    }

    fn with_usage(&self, mut record: ConnectionRecord) -> ConnectionRecord {
        if let Some(used) = self.usage(&record.id).and_then(|u| u.last_used_at) {
            record.last_used_at = Some(record.last_used_at.map_or(used, |at| at.max(used)));
        }
        record
    }

    /// How much a connection has been used since it was loaded.
    pub fn usage(&self, id: &ConnectionId) -> Option<ConnectionUsage> {
        self.shared.managed.read().get(id).map(|c| c.usage())
    }

    /// Renames a connection or replaces its metadata.
    pub async fn update(&self, id: &ConnectionId, update: ConnectionUpdate) -> Result<ConnectionRecord> {
        let record = self
            .shared
            .modify(id, |r| {
                if let Some(name) = &update.name {
                    r.name.clone_from(name);
                }
                if let Some(metadata) = &update.metadata {
                    r.metadata.clone_from(metadata);
                }
                true
            })
            .await?;
        self.shared.emit(id, &record.app_id, ConnectionEventKind::Updated);
        Ok((*record).clone())
    }

    /// Replaces a connection's credentials, atomically, bumping its version: checked against
    /// the app's auth methods and tested like a new connection (unless `test` is false). A
    /// disconnected or failed connection becomes active again.
    pub async fn replace_credentials(
        &self,
        id: &ConnectionId,
        credentials: Credentials,
        test: bool,
    ) -> Result<ConnectionRecord> {
        let current = self.get(id).await?;
        let manifest = self.shared.registry.manifest(&current.app_id)?;
        check_credentials(&manifest, &credentials)?;
        if test {
            let mut candidate = current.clone();
            candidate.credentials = credentials.clone();
            self.test_record(&candidate).await?;
        }
        let from = current.status;
        let record = self
            .shared
            .modify(id, |r| {
                r.credentials = credentials.clone();
                r.status = ConnectionStatus::Active;
                true
            })
            .await?;
        tracing::info!(connection = %id, version = record.version, "credentials replaced");
        self.shared.emit(
            id,
            &record.app_id,
            ConnectionEventKind::CredentialsReplaced {
                version: record.version,
            },
        );
        if from != ConnectionStatus::Active {
            self.shared.emit(
                id,
                &record.app_id,
                ConnectionEventKind::StatusChanged {
                    from,
                    to: ConnectionStatus::Active,
                },
            );
        }
        Ok((*record).clone())
    }

    /// Switches a connection off: calls with it fail with an unauthorized error until its
    /// credentials are replaced. Nothing is deleted.
    pub async fn disconnect(&self, id: &ConnectionId) -> Result<ConnectionRecord> {
        let record = self.shared.set_status(id, ConnectionStatus::Disconnected).await?;
        Ok((*record).clone())
    }

    /// Tests a connection with its app's `test_connection`; a success makes a failed
    /// connection active again, an authentication failure marks it failed.
    pub async fn test(&self, id: &ConnectionId) -> Result<()> {
        let conn = self
            .shared
            .managed
            .read()
            .get(id)
            .cloned()
            .ok_or_else(|| super::store::not_found(id))?;
        let result = self.run_test(conn.clone()).await;
        match &result {
            Ok(()) if conn.record().status == ConnectionStatus::Error => {
                self.shared.set_status(id, ConnectionStatus::Active).await?;
            }
            // A disconnected connection stays disconnected: the test failing is expected.
            Err(e) if e.kind() == ErrorKind::Unauthorized && conn.record().status == ConnectionStatus::Active => {
                self.shared.set_status(id, ConnectionStatus::Error).await?;
            }
            _ => {}
        }
        result
    }

    /// Deletes a connection: from the store and the live set.
    pub async fn delete(&self, id: &ConnectionId) -> Result<()> {
        let record = self.get(id).await?;
        if !self.shared.store.delete(id).await? {
            return Err(super::store::not_found(id));
        }
        self.shared.managed.write().remove(id);
        self.shared.live.remove(id);
        tracing::info!(connection = %id, "connection deleted");
        self.shared.emit(id, &record.app_id, ConnectionEventKind::Deleted);
        Ok(())
    }

    /// Tests credentials not stored yet (a new connection, a replacement).
    async fn test_record(&self, record: &ConnectionRecord) -> Result<()> {
        self.run_test(Arc::new(StaticConnection::new(record.clone())))
            .await
            .map_err(|e| e.with_context("app", record.app_id.clone()))
    }

    /// Runs the app's `test_connection` with `conn`.
    async fn run_test(&self, conn: Arc<dyn Connection>) -> Result<()> {
        let cx = Context::builder()
            .connection(conn)
            .http(self.shared.http.clone())
            .build();
        self.shared.registry.test_connection(&cx).await
    }
}

impl Shared {
    fn emit(&self, id: &ConnectionId, app_id: &str, kind: ConnectionEventKind) {
        // No receiver is fine: events are for those who listen.
        let _ = self.events.send(ConnectionEvent {
            connection_id: id.clone(),
            app_id: app_id.to_owned(),
            kind,
        });
    }

    fn client(&self, app_id: &str) -> Result<Arc<OAuth2Client>> {
        self.oauth2.read().get(app_id).cloned().ok_or_else(|| {
            Error::invalid_definition(
                "no OAuth2 client is registered for this app: add one with ConnectionManagerBuilder::oauth2_client",
            )
            .with_context("app", app_id)
        })
    }

    /// Makes a record live as a [`ManagedConnection`].
    fn activate(self: &Arc<Self>, record: ConnectionRecord) {
        let conn = Arc::new(ManagedConnection {
            id: record.id.clone(),
            app_id: record.app_id.clone(),
            record: RwLock::new(Arc::new(record)),
            refresh: tokio::sync::Mutex::new(()),
            usage: Counters::default(),
            leeway: self.leeway,
            shared: Arc::downgrade(self),
        });
        self.managed.write().insert(conn.id.clone(), conn.clone());
        self.live.insert(conn);
    }

    /// Read, change, compare-and-swap, retried against concurrent writers; the live connection
    /// then sees the new record. `change` may run more than once; when it returns `false`
    /// nothing needed changing and nothing is written.
    async fn modify(
        &self,
        id: &ConnectionId,
        mut change: impl FnMut(&mut ConnectionRecord) -> bool + Send,
    ) -> Result<Arc<ConnectionRecord>> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.store.get(id).await?.ok_or_else(|| super::store::not_found(id))?;
            let mut next = current.clone();
            // A refreshed token the store could not take lives only in memory, with a newer
            // version: this write carries it through.
            let unsaved = self
                .managed
                .read()
                .get(id)
                .map(|c| c.record())
                .filter(|r| r.version > current.version);
            if let Some(live) = &unsaved {
                next.credentials = live.credentials.clone();
            }
            if !change(&mut next) && unsaved.is_none() {
                return Ok(Arc::new(current));
            }
            next.version = unsaved.map_or(current.version, |r| r.version) + 1;
            next.updated_at = Utc::now();
            match self.store.update(&next, current.version).await {
                Ok(()) => {
                    let next = Arc::new(next);
                    if let Some(conn) = self.managed.read().get(id) {
                        conn.set_record(next.clone());
                    }
                    return Ok(next);
                }
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(
            Error::conflict("the connection kept changing while it was being updated")
                .with_context("connection", id.to_string()),
        )
    }

    async fn set_status(&self, id: &ConnectionId, to: ConnectionStatus) -> Result<Arc<ConnectionRecord>> {
        let mut from = to;
        let record = self
            .modify(id, |r| {
                from = r.status;
                r.status = to;
                from != to
            })
            .await?;
        if from != to {
            tracing::warn!(connection = %id, from = ?from, to = ?to, "connection status changed");
            self.emit(id, &record.app_id, ConnectionEventKind::StatusChanged { from, to });
        }
        Ok(record)
    }
}

/// Checks credentials against the app's declared auth methods; violations name the field
/// (`/credentials/fields/account_id`).
fn check_credentials(manifest: &AppManifest, credentials: &Credentials) -> Result<()> {
    let invalid = |violations: Vec<Violation>| {
        Error::invalid_input("the credentials do not match what the app accepts", violations)
            .with_context("app", manifest.id.clone())
    };
    let Some(method) = manifest
        .auth
        .iter()
        .find(|m| m.kind() == credentials.kind())
        .or_else(|| {
            (manifest.auth.is_empty() && matches!(credentials, Credentials::None)).then_some(&AuthMethod::None)
        })
    else {
        let accepted: Vec<_> = manifest.auth.iter().map(AuthMethod::kind).collect();
        let accepted = if accepted.is_empty() {
            "none".to_owned()
        } else {
            accepted.join(", ")
        };
        return Err(invalid(vec![Violation::new(
            "/credentials/type",
            format!("is {}, but the app accepts: {accepted}", credentials.kind()),
        )]));
    };
    let mut violations = Vec::new();
    let empty = |violations: &mut Vec<Violation>, path: &str, value: &secrecy::SecretString| {
        use secrecy::ExposeSecret;
        if value.expose_secret().trim().is_empty() {
            violations.push(Violation::new(path, "must not be empty"));
        }
    };
    match (method, credentials) {
        (AuthMethod::ApiKey { placement }, Credentials::ApiKey { key, placement: given }) => {
            empty(&mut violations, "/credentials/key", key);
            if placement != given {
                violations.push(Violation::new(
                    "/credentials/placement",
                    format!("must be {placement:?}, as the app declares"),
                ));
            }
        }
        (AuthMethod::Bearer, Credentials::Bearer { token }) => empty(&mut violations, "/credentials/token", token),
        (AuthMethod::Basic, Credentials::Basic { username, password }) => {
            empty(&mut violations, "/credentials/password", password);
            if username.trim().is_empty() {
                violations.push(Violation::new("/credentials/username", "must not be empty"));
            }
        }
        (AuthMethod::OAuth2 { .. }, Credentials::OAuth2(token)) => {
            empty(&mut violations, "/credentials/access_token", &token.access_token)
        }
        (AuthMethod::Headers { names }, Credentials::Headers { headers }) => {
            for name in names {
                match headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    Some((k, v)) => empty(&mut violations, &format!("/credentials/headers/{k}"), v),
                    None => violations.push(Violation::new(format!("/credentials/headers/{name}"), "is required")),
                }
            }
        }
        (AuthMethod::Custom { fields }, Credentials::Custom { fields: given }) => {
            for field in fields.iter().filter(|f| f.required) {
                match given.get(&field.name) {
                    Some(v) => empty(&mut violations, &format!("/credentials/fields/{}", field.name), v),
                    None => violations.push(Violation::new(
                        format!("/credentials/fields/{}", field.name),
                        "is required",
                    )),
                }
            }
            for name in given.keys().filter(|k| !fields.iter().any(|f| &f.name == *k)) {
                violations.push(Violation::new(
                    format!("/credentials/fields/{name}"),
                    "is not a field of this app's auth method",
                ));
            }
        }
        _ => {}
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(invalid(violations))
    }
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    refreshes: AtomicU64,
    /// Milliseconds since the epoch; 0 = never.
    last_used_ms: AtomicI64,
}

/// A connection the [`ConnectionManager`] keeps: it refreshes OAuth2 tokens (once, however
/// many calls are waiting), counts its use and follows its status.
pub struct ManagedConnection {
    id: ConnectionId,
    app_id: String,
    record: RwLock<Arc<ConnectionRecord>>,
    refresh: tokio::sync::Mutex<()>,
    usage: Counters,
    /// How long before expiry a token is refreshed (the manager's setting).
    leeway: chrono::Duration,
    shared: Weak<Shared>,
}

impl fmt::Debug for ManagedConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedConnection")
            .field("record", &*self.record())
            .field("usage", &self.usage())
            .finish()
    }
}

impl ManagedConnection {
    /// The current record.
    pub fn record(&self) -> Arc<ConnectionRecord> {
        self.record.read().clone()
    }

    /// How much it has been used.
    pub fn usage(&self) -> ConnectionUsage {
        let ms = self.usage.last_used_ms.load(Ordering::Relaxed);
        ConnectionUsage {
            calls: self.usage.calls.load(Ordering::Relaxed),
            errors: self.usage.errors.load(Ordering::Relaxed),
            refreshes: self.usage.refreshes.load(Ordering::Relaxed),
            last_used_at: (ms != 0).then(|| DateTime::from_timestamp_millis(ms)).flatten(),
        }
    }

    /// Installs a newer record (an older one, from a slower writer, is ignored).
    fn set_record(&self, record: Arc<ConnectionRecord>) {
        let mut slot = self.record.write();
        if record.version > slot.version {
            *slot = record;
        }
    }

    fn refreshable(&self, record: &ConnectionRecord) -> bool {
        let Credentials::OAuth2(token) = &record.credentials else {
            return false;
        };
        let has_client = self
            .shared
            .upgrade()
            .is_some_and(|s| s.oauth2.read().contains_key(&self.app_id));
        has_client
            && (token.refresh_token.is_some()
                || record.metadata.get(GRANT_KEY).and_then(Value::as_str) == Some("client_credentials"))
    }

    /// Refreshes the token unless a newer version than `seen` exists already. One refresh at a
    /// time: callers queue on the lock and, once in, find the work done.
    async fn refresh_once(&self, seen: u64) -> Result<()> {
        let _single_flight = self.refresh.lock().await;
        let record = self.record();
        if record.version != seen {
            return Ok(());
        }
        let Some(shared) = self.shared.upgrade() else {
            return Err(Error::unavailable("the connection manager has been dropped"));
        };
        let client = shared.client(&self.app_id)?;
        let Credentials::OAuth2(token) = &record.credentials else {
            return Ok(());
        };
        let result = if token.refresh_token.is_some() {
            client.refresh(token).await
        } else {
            client.client_credentials().await
        };
        let token = match result {
            Ok(token) => token,
            Err(err) => return Err(self.refresh_failed(&shared, err).await),
        };
        self.usage.refreshes.fetch_add(1, Ordering::Relaxed);
        let expires_at = token.expires_at;
        let new_credentials = Credentials::OAuth2(token);
        let version = match shared
            .modify(&self.id, |r| {
                r.credentials = new_credentials.clone();
                true
            })
            .await
        {
            Ok(stored) => stored.version,
            Err(err) => {
                // The server may have rotated the refresh token: dropping the new one would
                // lose the account. Keep it in memory; the next write persists it.
                tracing::error!(connection = %self.id, error = %err, "refreshed token could not be stored; kept in memory");
                shared.emit(
                    &self.id,
                    &self.app_id,
                    ConnectionEventKind::PersistFailed {
                        error: err.kind().as_str(),
                    },
                );
                let mut next = (*record).clone();
                next.credentials = new_credentials;
                next.version += 1;
                next.updated_at = Utc::now();
                let version = next.version;
                self.set_record(Arc::new(next));
                version
            }
        };
        tracing::info!(connection = %self.id, version, "oauth2 token refreshed");
        shared.emit(
            &self.id,
            &self.app_id,
            ConnectionEventKind::TokenRefreshed { version, expires_at },
        );
        Ok(())
    }

    async fn refresh_failed(&self, shared: &Shared, err: Error) -> Error {
        let oauth2_error = TokenError::of(&err).map(|t| t.code.clone());
        tracing::warn!(connection = %self.id, error = %err, "oauth2 token refresh failed");
        shared.emit(
            &self.id,
            &self.app_id,
            ConnectionEventKind::RefreshFailed {
                error: err.kind().as_str(),
                oauth2_error: oauth2_error.as_ref().map(|c| c.as_str().to_owned()),
            },
        );
        // The grant is dead (revoked, expired, password changed): only the user can fix it.
        if matches!(
            oauth2_error,
            Some(TokenErrorCode::InvalidGrant | TokenErrorCode::InvalidClient)
        ) && let Err(e) = shared.set_status(&self.id, ConnectionStatus::Error).await
        {
            tracing::error!(connection = %self.id, error = %e, "could not record the connection's failed status");
        }
        err.with_context("connection", self.id.to_string())
    }

    fn note_status(&self, to: ConnectionStatus) {
        let Some(shared) = self.shared.upgrade() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let id = self.id.clone();
        runtime.spawn(async move {
            if let Err(e) = shared.set_status(&id, to).await {
                tracing::error!(connection = %id, error = %e, "could not record the connection's status");
            }
        });
    }
}

#[async_trait]
impl Connection for ManagedConnection {
    fn id(&self) -> &ConnectionId {
        &self.id
    }

    fn app_id(&self) -> &str {
        &self.app_id
    }

    fn credentials(&self) -> Credentials {
        self.record().credentials.clone()
    }

    fn version(&self) -> u64 {
        self.record.read().version
    }

    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64> {
        let mut record = self.record();
        if record.status == ConnectionStatus::Disconnected {
            return Err(
                Error::unauthorized("the connection is disconnected; replace its credentials to use it again")
                    .with_context("connection", self.id.to_string())
                    .with_context("app", self.app_id.clone()),
            );
        }
        let expiring = |r: &ConnectionRecord, leeway| matches!(&r.credentials, Credentials::OAuth2(t) if t.is_expired(Utc::now(), leeway));
        if expiring(&record, self.leeway) && self.refreshable(&record) {
            match self.refresh_once(record.version).await {
                Ok(()) => record = self.record(),
                // Refreshing early failed but the token still works: use it.
                Err(e) if !expiring(&record, chrono::Duration::zero()) => {
                    tracing::warn!(connection = %self.id, error = %e, "early refresh failed; using the current token");
                }
                Err(e) => return Err(e),
            }
        }
        record
            .credentials
            .apply(request)
            .map_err(|e| e.with_context("connection", self.id.to_string()))?;
        Ok(record.version)
    }

    async fn renew(&self, rejected: u64) -> Result<bool> {
        let record = self.record();
        if record.version == rejected && self.refreshable(&record) {
            self.refresh_once(rejected).await?;
        }
        Ok(self.version() != rejected)
    }

    fn record_call(&self, outcome: std::result::Result<(), &Error>) {
        self.usage.calls.fetch_add(1, Ordering::Relaxed);
        self.usage
            .last_used_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        let status = self.record.read().status;
        match outcome {
            Err(e) => {
                self.usage.errors.fetch_add(1, Ordering::Relaxed);
                if e.kind() == ErrorKind::Unauthorized && status == ConnectionStatus::Active {
                    self.note_status(ConnectionStatus::Error);
                }
            }
            Ok(()) if status == ConnectionStatus::Error => self.note_status(ConnectionStatus::Active),
            Ok(()) => {}
        }
    }
}
