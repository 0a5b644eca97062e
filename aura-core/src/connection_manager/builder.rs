//! [`ConnectionManagerBuilder`]: how a host sets a [`ConnectionManager`] up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use super::ConnectionManager;
use super::shared::Shared;
use crate::audit::{AuditLog, Auditor};
use crate::clock::{Clock, SystemClock};
use crate::connection::{Connections, CredentialStore, MemoryCredentialStore, OAuth2Client};
use crate::registry::Registry;

/// Builds a [`ConnectionManager`].
pub struct ConnectionManagerBuilder {
    pub(super) registry: Arc<Registry>,
    pub(super) store: Option<Arc<dyn CredentialStore>>,
    pub(super) live: Option<Arc<Connections>>,
    pub(super) oauth2: HashMap<String, Arc<OAuth2Client>>,
    pub(super) leeway: Duration,
    pub(super) http: Option<reqwest::Client>,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) audit: Option<Arc<dyn AuditLog>>,
    pub(super) actor: Option<String>,
}

impl ConnectionManagerBuilder {
    /// Where records are kept (default: a [`MemoryCredentialStore`]; use an
    /// [`EncryptedStore`](crate::connection::EncryptedStore) over a durable backend in production).
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

    /// The HTTP client for connection tests (default: the shared client of the runtime the
    /// test runs in).
    #[must_use]
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The clock refresh back-off is measured on (default: a [`SystemClock`]); tests pass a
    /// [`ManualClock`](crate::clock::ManualClock) to move past a back-off at once.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where the audit trail goes (default: none): after each create, update, replacement of
    /// credentials, disconnect and delete has succeeded, an entry (who, what, which
    /// connection, when; never a credential) is appended. A `SqliteStore` or `PostgresStore`
    /// serves, as does a [`MemoryStore`](crate::store::MemoryStore).
    #[must_use]
    pub fn audit(mut self, log: Arc<dyn AuditLog>) -> Self {
        self.audit = Some(log);
        self
    }

    /// Who the audit trail names for this manager's operations (default
    /// [`DEFAULT_ACTOR`](crate::store::DEFAULT_ACTOR)); per request, use
    /// [`ConnectionManager::acting_as`].
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Builds the manager. Call [`ConnectionManager::load`] to bring stored connections back.
    pub fn build(self) -> ConnectionManager {
        let (events, _) = broadcast::channel(1024);
        let auditor = self.audit.map(|log| {
            let auditor = Auditor::new(log);
            match self.actor {
                Some(actor) => auditor.actor(actor),
                None => auditor,
            }
        });
        ConnectionManager {
            auditor,
            shared: Arc::new(Shared {
                registry: self.registry,
                store: self.store.unwrap_or_else(|| Arc::new(MemoryCredentialStore::new())),
                live: self.live.unwrap_or_default(),
                managed: RwLock::default(),
                oauth2: RwLock::new(self.oauth2),
                pending: Mutex::default(),
                events,
                leeway: chrono::Duration::from_std(self.leeway).unwrap_or(chrono::Duration::MAX),
                http: self.http,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock::new())),
            }),
        }
    }
}
