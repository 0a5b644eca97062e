//! Connections: authenticated access to one account of an app.
//!
//! | piece | what it does |
//! | --- | --- |
//! | [`ConnectionRecord`], [`Credentials`] | what a host stores: id, app, name, status, secrets (in [`secrecy`] types, redacted everywhere), times, version, metadata |
//! | [`Credentials::apply`] | the one place credentials go on a request: API key (header or query), bearer, basic, secret header sets, OAuth2 token |
//! | [`Connection`] | what actions see: authorize a request, renew after a 401, count calls |
//! | [`ConnectionManager`] | the lifecycle: create (checked, then tested), load ([`LoadReport`]), update, replace credentials, disconnect, delete; OAuth2 authorization and single-flight refresh with back-off; status (a connection in error refuses calls), usage and events |
//! | [`OAuth2Client`] | authorization code with PKCE and state, client credentials, refresh; typed [`TokenError`]s |
//! | [`CredentialStore`] | where records live (a [`Listing`] reports unreadable records apart, as [`UnreadableRecord`]s): [`MemoryCredentialStore`], or [`EncryptedStore`] (AES-256-GCM, keys from a [`KeyProvider`], [`rotate_key`](EncryptedStore::rotate_key)) over a byte-level [`SealedStore`] |
//! | [`StaticConnection`], [`Connections`] | a fixed connection without a manager; the live set the engine reads |
//!
//! ## Layers
//!
//! This module is the low layer: credentials and how an app may ask for them (the
//! [`AuthMethod`](crate::app::AuthMethod)s a manifest lists are defined here), the
//! [`Connection`] trait, ids, statuses and records, the credential stores and their crypto, and
//! the OAuth2 client. It depends on none of `app`, `context` or `registry`, which all build on
//! it. The [`ConnectionManager`] and its companions are the layer above (the crate's private
//! `connection_manager` module: it reads apps from the [`Registry`](crate::Registry) and tests
//! connections through a [`Context`](crate::Context)); they are re-exported here so their paths
//! are `aura_core::connection::…`, and that re-export is the only edge from here to there.
//! `.ci/cycles.py` checks that the crate's modules stay acyclic.

pub(crate) mod auth_method;
mod credentials;
mod crypto;
pub(crate) mod oauth2;
mod set;
pub(crate) mod store;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::credentials::{ApiKeyPlacement, Credentials, ExposedCredentials, OAuth2Token};
pub use self::crypto::{
    EncryptedStore, EncryptionKey, EnvKeyProvider, KeyId, KeyProvider, KeyRing, MemorySealedStore, RotationReport,
    SealedRecord, SealedStore,
};
// The manager is a higher layer (it reads the registry and calls apps); this is a re-export only,
// so that its public path stays `aura_core::connection::ConnectionManager`. Nothing in this module
// uses it (see "Layers" above and `.ci/cycles.py`).
pub use self::oauth2::{AuthorizationRequest, ClientAuth, OAuth2Client, Pkce, TokenError, TokenErrorCode};
pub use self::set::Connections;
pub use self::store::{CredentialStore, Listing, MemoryCredentialStore, UnreadableRecord};
pub use crate::connection_manager::{
    ConnectionEvent, ConnectionEventKind, ConnectionManager, ConnectionManagerBuilder, ConnectionUpdate,
    ConnectionUsage, LoadReport, NewConnection,
};
use crate::error::{Error, Result};
/// Re-exported from [`crate::secret`], where redaction lives.
pub use crate::secret::REDACTED;

/// A connection's id: a UUID v7 by default (time-ordered), or any string a host chooses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(Arc<str>);

impl ConnectionId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string().into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for ConnectionId {
    fn from(s: &str) -> Self {
        Self(s.into())
    }
}

impl From<String> for ConnectionId {
    fn from(s: String) -> Self {
        Self(s.into())
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a connection can be used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Usable.
    #[default]
    Active,
    /// Authentication failed (a revoked key, a refresh answered `invalid_grant` …).
    Error,
    /// Switched off by the user.
    Disconnected,
}

/// A stored connection: one authenticated account of one app.
///
/// Serializing a record redacts its credentials (see [`Credentials`]), so records can be sent
/// to a UI or a log as they are.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// The connection's id.
    pub id: ConnectionId,
    /// The app it authenticates against (`"slack"`).
    pub app_id: String,
    /// A name the user chose (`"Marketing workspace"`).
    pub name: String,
    /// Whether it can be used.
    #[serde(default)]
    pub status: ConnectionStatus,
    /// The secrets.
    pub credentials: Credentials,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
    /// When an action last used it.
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Starts at 1 and is bumped by every change (credentials replaced or refreshed, status,
    /// name, metadata); stores use it for compare-and-swap updates.
    #[serde(default)]
    pub version: u64,
    /// Free-form, non-secret data (account name, workspace id, granted scopes …).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl ConnectionRecord {
    /// A new active connection with a fresh id.
    pub fn new(app_id: impl Into<String>, name: impl Into<String>, credentials: Credentials) -> Self {
        let now = Utc::now();
        Self {
            id: ConnectionId::generate(),
            app_id: app_id.into(),
            name: name.into(),
            status: ConnectionStatus::Active,
            credentials,
            created_at: now,
            updated_at: now,
            last_used_at: None,
            version: 1,
            metadata: serde_json::Map::new(),
        }
    }

    /// Sets the id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<ConnectionId>) -> Self {
        self.id = id.into();
        self
    }
}

/// An authenticated connection as actions and triggers use it.
///
/// Implement it for credentials that renew themselves (OAuth2 refresh, short-lived signed
/// tokens); [`StaticConnection`] covers fixed credentials and the [`ConnectionManager`] builds
/// managed ones (OAuth2 refresh, usage counters, status).
#[async_trait]
pub trait Connection: Send + Sync + fmt::Debug {
    /// The connection's id.
    fn id(&self) -> &ConnectionId;

    /// The app it belongs to.
    fn app_id(&self) -> &str;

    /// The current credentials, for connectors that do not speak HTTP (a database, SMTP …).
    fn credentials(&self) -> Credentials;

    /// The version of the current credentials: it changes each time they do (a refresh, a
    /// replacement). Default: `0`, for credentials that never change.
    fn version(&self) -> u64 {
        0
    }

    /// Puts the credentials on an outgoing request, renewing them first if they are about to
    /// expire, and returns the [version](Connection::version) of the credentials it applied.
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64>;

    /// Renews the credentials after the service rejected the ones of version `rejected`
    /// (HTTP 401). Returns `true` when the current credentials differ from the rejected ones and
    /// the request is worth sending again.
    ///
    /// Many requests may be rejected at once: an implementation renews once for them all
    /// (single flight) and answers `true` without renewing when a newer version already exists.
    /// The default cannot renew.
    async fn renew(&self, rejected: u64) -> Result<bool> {
        let _ = rejected;
        Ok(false)
    }

    /// Told the outcome of each action call made with this connection: managed connections
    /// count calls and errors, note the last use and change their status on authentication
    /// failures. Default: nothing.
    fn record_call(&self, outcome: std::result::Result<(), &Error>) {
        let _ = outcome;
    }
}

/// A connection whose credentials never change by themselves.
#[derive(Debug)]
pub struct StaticConnection {
    record: ConnectionRecord,
}

impl StaticConnection {
    /// Wraps a stored record.
    pub fn new(record: ConnectionRecord) -> Self {
        Self { record }
    }

    /// The record it was built from.
    pub fn record(&self) -> &ConnectionRecord {
        &self.record
    }
}

#[async_trait]
impl Connection for StaticConnection {
    fn id(&self) -> &ConnectionId {
        &self.record.id
    }

    fn app_id(&self) -> &str {
        &self.record.app_id
    }

    fn credentials(&self) -> Credentials {
        self.record.credentials.clone()
    }

    fn version(&self) -> u64 {
        self.record.version
    }

    async fn authorize(&self, request: &mut reqwest::Request) -> Result<u64> {
        self.record
            .credentials
            .apply(request)
            .map_err(|e| e.with_context("connection", self.record.id.to_string()))?;
        Ok(self.record.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "CANARY-b41d";

    #[test]
    fn records_never_show_secrets() {
        let record = ConnectionRecord::new("crm", "Sales", Credentials::bearer(CANARY));
        let conn = StaticConnection::new(record.clone());
        for out in [
            format!("{record:?}"),
            format!("{conn:?}"),
            serde_json::to_string(&record).unwrap(),
            serde_json::to_string_pretty(&record).unwrap(),
        ] {
            assert!(!out.contains(CANARY), "{out}");
        }
    }

    #[test]
    fn ids_are_uuid_v7() {
        let id = ConnectionId::generate();
        let uuid = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[tokio::test]
    async fn static_connection_authorizes_requests() {
        let conn = StaticConnection::new(ConnectionRecord::new("crm", "x", Credentials::bearer("t")));
        let mut req = reqwest::Request::new(reqwest::Method::GET, "https://x.test/".parse().unwrap());
        conn.authorize(&mut req).await.unwrap();
        assert_eq!(req.headers()["authorization"], "Bearer t");
        assert!(!conn.renew(1).await.unwrap());
    }
}
