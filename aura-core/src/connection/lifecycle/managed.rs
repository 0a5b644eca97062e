//! The live connection a [`ConnectionManager`](super::ConnectionManager) hands the engine: it
//! refreshes OAuth2 tokens (once, however many calls are waiting), counts its use and follows
//! its status. Private: hosts reach it only through the manager and the [`Connection`] trait.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde_json::Value;

use super::shared::Shared;
use super::{ConnectionEventKind, ConnectionUsage, GRANT_KEY};
use crate::connection::{
    Connection, ConnectionId, ConnectionRecord, ConnectionStatus, Credentials, TokenError, TokenErrorCode,
};
use crate::error::{Error, ErrorKind, Result};

#[derive(Default)]
pub(super) struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    refreshes: AtomicU64,
    /// Milliseconds since the epoch; 0 = never.
    last_used_ms: AtomicI64,
}

/// A connection the [`ConnectionManager`](super::ConnectionManager) keeps: it refreshes OAuth2 tokens (once, however
/// many calls are waiting), counts its use and follows its status.
pub(super) struct ManagedConnection {
    pub(super) id: ConnectionId,
    pub(super) app_id: String,
    pub(super) record: RwLock<Arc<ConnectionRecord>>,
    pub(super) refresh: tokio::sync::Mutex<()>,
    pub(super) usage: Counters,
    /// How long before expiry a token is refreshed (the manager's setting).
    pub(super) leeway: chrono::Duration,
    pub(super) shared: Weak<Shared>,
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
    pub(super) fn record(&self) -> Arc<ConnectionRecord> {
        self.record.read().clone()
    }

    /// How much it has been used.
    pub(super) fn usage(&self) -> ConnectionUsage {
        let ms = self.usage.last_used_ms.load(Ordering::Relaxed);
        ConnectionUsage {
            calls: self.usage.calls.load(Ordering::Relaxed),
            errors: self.usage.errors.load(Ordering::Relaxed),
            refreshes: self.usage.refreshes.load(Ordering::Relaxed),
            last_used_at: (ms != 0).then(|| DateTime::from_timestamp_millis(ms)).flatten(),
        }
    }

    /// Installs a newer record (an older one, from a slower writer, is ignored).
    pub(super) fn set_record(&self, record: Arc<ConnectionRecord>) {
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
