//! What the [`ConnectionManager`](super::ConnectionManager) tells a host: events and usage.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::connection::{ConnectionId, ConnectionStatus, UnreadableRecord};

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

/// What [`ConnectionManager::load`](super::ConnectionManager::load) brought back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The connections now live, ordered by id.
    pub loaded: Vec<ConnectionId>,
    /// The stored records that could not be read, so are not live: by connection and key id.
    pub unreadable: Vec<UnreadableRecord>,
}
