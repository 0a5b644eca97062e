//! The audit trail: who did what to which connection, and when — never the secret.
//!
//! [`AuditLog`] is where entries go; [`MemoryStore`](super::MemoryStore) (bounded),
//! `SqliteStore` and `PostgresStore` implement it. An [`Auditor`] is what writes them: a log
//! and the actor to name. [`ConnectionManager`](crate::connection::ConnectionManager) appends
//! an entry after each operation on a connection has succeeded (create, update, replace the
//! credentials, disconnect, delete) when it was given one
//! ([`ConnectionManagerBuilder::audit`](crate::connection::ConnectionManagerBuilder::audit)),
//! and [`EncryptedStore::rotate_key`](crate::connection::EncryptedStore::rotate_key) after a
//! rotation ([`EncryptedStore::with_audit`](crate::connection::EncryptedStore::with_audit)).
//!
//! An entry's detail holds only what is not secret: versions, statuses, names of the fields
//! that changed, key ids and counts. Credentials never reach it (a test puts a canary secret
//! in credentials and looks for it in every encoding, in the store and in the SQLite file).
//! An append that fails after its operation succeeded does not undo nor fail the operation
//! (it has happened): it is logged with `tracing` at error level, naming the operation.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::page::{Page, PageRequest};

/// The actor named when the host names none.
pub const DEFAULT_ACTOR: &str = "aura";

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
    /// A connection was created.
    ConnectionCreated,
    /// A connection was renamed or its metadata replaced.
    ConnectionUpdated,
    /// A connection's credentials were replaced.
    CredentialsReplaced,
    /// A connection was switched off.
    ConnectionDisconnected,
    /// A connection was deleted.
    ConnectionDeleted,
    /// The credential key was rotated: records re-sealed under a new key.
    KeyRotated,
}

impl AuditAction {
    /// The action as stored (`"connection_created"` …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectionCreated => "connection_created",
            Self::ConnectionUpdated => "connection_updated",
            Self::CredentialsReplaced => "credentials_replaced",
            Self::ConnectionDisconnected => "connection_disconnected",
            Self::ConnectionDeleted => "connection_deleted",
            Self::KeyRotated => "key_rotated",
        }
    }

    /// The action [`as_str`](Self::as_str) wrote.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "connection_created" => Self::ConnectionCreated,
            "connection_updated" => Self::ConnectionUpdated,
            "credentials_replaced" => Self::CredentialsReplaced,
            "connection_disconnected" => Self::ConnectionDisconnected,
            "connection_deleted" => Self::ConnectionDeleted,
            "key_rotated" => Self::KeyRotated,
            _ => return None,
        })
    }
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// A UUID v7: entries list in the order they were made.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the actor the host named ([`DEFAULT_ACTOR`] when it named none).
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// Which connection (none for a key rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// Its app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// What else is worth knowing and is not secret (a version, the fields changed, a key id).
    #[serde(default)]
    pub detail: Value,
}

impl AuditEntry {
    /// An entry made now, with a new id and no connection, app or detail.
    pub fn new(actor: impl Into<String>, action: AuditAction) -> Self {
        Self {
            id: Uuid::now_v7(),
            at: Utc::now(),
            actor: actor.into(),
            action,
            connection_id: None,
            app_id: None,
            detail: Value::Null,
        }
    }

    /// About this connection of this app.
    #[must_use]
    pub fn connection(mut self, connection_id: impl Into<String>, app_id: impl Into<String>) -> Self {
        self.connection_id = Some(connection_id.into());
        self.app_id = Some(app_id.into());
        self
    }

    /// With this (non-secret) detail.
    #[must_use]
    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Where audit entries are kept: appended, listed newest first.
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends an entry. An entry whose id exists already is a
    /// [`Conflict`](crate::ErrorKind::Conflict).
    async fn append(&self, entry: &AuditEntry) -> Result<()>;

    /// A page of entries, newest first; the page's cursor gives the next one.
    async fn list_audit(&self, page: PageRequest) -> Result<Page<AuditEntry>>;
}

/// Writes audit entries for an actor: a log and whom to name. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    log: Arc<dyn AuditLog>,
    actor: Arc<str>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Writes to `log`, naming [`DEFAULT_ACTOR`].
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self {
            log,
            actor: Arc::from(DEFAULT_ACTOR),
        }
    }

    /// The same log, naming `actor`.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Arc::from(actor.into());
        self
    }

    /// Whom it names.
    pub fn actor_name(&self) -> &str {
        &self.actor
    }

    /// The log.
    pub fn log(&self) -> &Arc<dyn AuditLog> {
        &self.log
    }

    /// An entry of `action` by this actor, made now.
    pub fn entry(&self, action: AuditAction) -> AuditEntry {
        AuditEntry::new(&*self.actor, action)
    }

    /// Appends `entry` after its operation succeeded: a failure is logged (the operation has
    /// happened and stays done), not returned.
    pub async fn record(&self, entry: AuditEntry) {
        let action = entry.action;
        if let Err(err) = self.log.append(&entry).await {
            tracing::error!(
                action = action.as_str(),
                connection = ?entry.connection_id,
                error = %err,
                "the operation succeeded but its audit entry could not be written"
            );
        }
    }
}
