//! [`ConnectionManager`]: what a host calls to create, load, read, change, test and delete
//! connections.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::check::check_credentials;
use super::shared::Shared;
use super::{
    ConnectionEvent, ConnectionEventKind, ConnectionManagerBuilder, ConnectionUpdate, ConnectionUsage, LoadReport,
    NewConnection,
};
use crate::audit::{AuditAction, Auditor};
use crate::connection::store::not_found;
use crate::connection::{
    Connection, ConnectionId, ConnectionRecord, ConnectionStatus, Connections, Credentials, Listing, OAuth2Client,
    StaticConnection,
};
use crate::context::Context;
use crate::error::{ErrorKind, Result};
use crate::registry::Registry;

/// Manages connections: checks and tests them on creation, keeps them in a
/// [`CredentialStore`](crate::connection::CredentialStore), hands them to the engine through [`Connections`], refreshes OAuth2
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
    pub(super) shared: Arc<Shared>,
    /// Where the audit trail goes and whom it names (none: no trail).
    pub(super) auditor: Option<Auditor>,
}

impl fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("store", &self.shared.store)
            .field("connections", &self.shared.managed.read().len())
            .field("oauth2_apps", &self.shared.oauth2.read().keys().collect::<Vec<_>>())
            .field("audit", &self.auditor)
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
            clock: None,
            audit: None,
            actor: None,
        }
    }

    /// The same manager (sharing everything), naming `actor` in the audit trail: for a host
    /// that acts for several users, `manager.acting_as(user).delete(&id)`.
    #[must_use]
    pub fn acting_as(&self, actor: impl Into<String>) -> Self {
        Self {
            shared: self.shared.clone(),
            auditor: self.auditor.clone().map(|a| a.actor(actor)),
        }
    }

    /// Appends an entry about connection `id` of `app_id` to the audit trail, if there is one.
    /// `detail` holds nothing secret: versions, statuses, field names, credential kinds.
    pub(super) async fn audit(&self, action: AuditAction, id: &ConnectionId, app_id: &str, detail: serde_json::Value) {
        if let Some(auditor) = &self.auditor {
            let entry = auditor.entry(action).connection(id.as_str(), app_id).detail(detail);
            auditor.record(entry).await;
        }
    }

    /// The live connections, for [`EngineBuilder::connections`](crate::engine::EngineBuilder::connections).
    pub fn connections(&self) -> Arc<Connections> {
        self.shared.live.clone()
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

    /// Brings every stored connection back into the live set (after a restart). A record that
    /// cannot be read (a corrupted ciphertext, a key the provider no longer has) stays out and
    /// is reported, by connection and key id; the others load. An error means the store itself
    /// could not be read.
    pub async fn load(&self) -> Result<LoadReport> {
        let listing = self.shared.store.list().await?;
        let mut report = LoadReport {
            loaded: Vec::with_capacity(listing.records.len()),
            unreadable: listing.unreadable,
        };
        for record in listing.records {
            report.loaded.push(record.id.clone());
            self.shared.activate(record);
        }
        for bad in &report.unreadable {
            tracing::error!(connection = %bad.id, key = ?bad.key_id.as_ref().map(|k| k.as_str()), reason = %bad.reason, "a stored connection cannot be read and was not loaded");
        }
        Ok(report)
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
        let detail = serde_json::json!({
            "name": record.name,
            "version": record.version,
            "credentials": record.credentials.kind(),
        });
        self.audit(AuditAction::ConnectionCreated, &record.id, &record.app_id, detail)
            .await;
        Ok(record)
    }

    /// One connection's record, with its last use.
    pub async fn get(&self, id: &ConnectionId) -> Result<ConnectionRecord> {
        let record = self.shared.store.get(id).await?.ok_or_else(|| not_found(id))?;
        Ok(self.with_usage(record))
    }

    /// Every connection's record, with the stored records that cannot be read reported apart.
    pub async fn list(&self) -> Result<Listing> {
        let mut listing = self.shared.store.list().await?;
        listing.records = listing.records.into_iter().map(|r| self.with_usage(r)).collect();
        Ok(listing)
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
        let mut fields = Vec::new();
        if update.name.is_some() {
            fields.push("name");
        }
        if update.metadata.is_some() {
            fields.push("metadata");
        }
        let detail = serde_json::json!({ "fields": fields, "version": record.version });
        self.audit(AuditAction::ConnectionUpdated, id, &record.app_id, detail)
            .await;
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
        let detail = serde_json::json!({
            "version": record.version,
            "credentials": record.credentials.kind(),
        });
        self.audit(AuditAction::CredentialsReplaced, id, &record.app_id, detail)
            .await;
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
        let detail = serde_json::json!({ "version": record.version });
        self.audit(AuditAction::ConnectionDisconnected, id, &record.app_id, detail)
            .await;
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
            .ok_or_else(|| not_found(id))?;
        let record = conn.record();
        let result = if record.status == ConnectionStatus::Error {
            // A connection in error refuses calls: its stored credentials are tested as they are.
            self.run_test(Arc::new(StaticConnection::new((*record).clone()))).await
        } else {
            self.run_test(conn.clone()).await
        };
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
            return Err(not_found(id));
        }
        self.shared.managed.write().remove(id);
        self.shared.live.remove(id);
        tracing::info!(connection = %id, "connection deleted");
        self.shared.emit(id, &record.app_id, ConnectionEventKind::Deleted);
        let detail = serde_json::json!({ "version": record.version });
        self.audit(AuditAction::ConnectionDeleted, id, &record.app_id, detail)
            .await;
        Ok(())
    }

    /// Tests credentials not stored yet (a new connection, a replacement).
    pub(super) async fn test_record(&self, record: &ConnectionRecord) -> Result<()> {
        self.run_test(Arc::new(StaticConnection::new(record.clone())))
            .await
            .map_err(|e| e.with_context("app", record.app_id.clone()))
    }

    /// Runs the app's `test_connection` with `conn`.
    async fn run_test(&self, conn: Arc<dyn Connection>) -> Result<()> {
        let mut cx = Context::builder().connection(conn);
        if let Some(http) = &self.shared.http {
            cx = cx.http(http.clone());
        }
        let cx = cx.build();
        self.shared.registry.test_connection(&cx).await
    }
}
