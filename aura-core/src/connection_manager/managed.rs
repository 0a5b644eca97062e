//! The live connection a [`ConnectionManager`](super::ConnectionManager) hands the engine: it
//! refreshes OAuth2 tokens (once, however many calls are waiting), counts its use and follows
//! its status. Private: hosts reach it only through the manager and the [`Connection`] trait.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;

use super::ConnectionUsage;
use super::refresh::Flight;
use super::shared::Shared;
use crate::clock::Clock;
use crate::connection::{Connection, ConnectionId, ConnectionRecord, ConnectionStatus, Credentials};
use crate::error::{Error, ErrorKind, Result};

#[derive(Default)]
pub(super) struct Counters {
    calls: AtomicU64,
    errors: AtomicU64,
    pub(super) refreshes: AtomicU64,
    /// Milliseconds since the epoch; 0 = never.
    last_used_ms: AtomicI64,
}

/// A connection the [`ConnectionManager`](super::ConnectionManager) keeps: it refreshes OAuth2 tokens (once, however
/// many calls are waiting), counts its use and follows its status.
pub(super) struct ManagedConnection {
    pub(super) id: ConnectionId,
    pub(super) app_id: String,
    pub(super) record: RwLock<Arc<ConnectionRecord>>,
    /// The single flight of token refreshes and the last failure, shared by its waiters.
    pub(super) refresh: tokio::sync::Mutex<Flight>,
    /// The manager's clock: refresh back-off is measured on it.
    pub(super) clock: Arc<dyn Clock>,
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

    /// Why a call with `record` must not go out, if it must not: the connection is switched
    /// off, or it failed authentication (a refresh answered `invalid_grant`, the service
    /// answered 401) and sending the same credentials again cannot help. Both last until the
    /// connection is reconnected (credentials replaced, or a successful test).
    fn refusal(&self, record: &ConnectionRecord) -> Option<Error> {
        let message = match record.status {
            ConnectionStatus::Active => return None,
            ConnectionStatus::Disconnected => "the connection is disconnected; replace its credentials to use it again",
            ConnectionStatus::Error => {
                "the connection failed authentication and is in error; reconnect it (replace its credentials \
                 or authorize again) to use it again"
            }
        };
        Some(
            Error::unauthorized(message)
                .with_context("connection", self.id.to_string())
                .with_context("app", self.app_id.clone())
                .with_context("status", format!("{:?}", record.status).to_lowercase()),
        )
    }

    /// Installs a newer record (an older one, from a slower writer, is ignored).
    pub(super) fn set_record(&self, record: Arc<ConnectionRecord>) {
        let mut slot = self.record.write();
        if record.version > slot.version {
            *slot = record;
        }
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
        if let Some(refusal) = self.refusal(&record) {
            return Err(refusal);
        }
        let due = |r: &ConnectionRecord| matches!(&r.credentials, Credentials::OAuth2(t) if t.refresh_due(Utc::now(), self.leeway));
        let expired = |r: &ConnectionRecord| matches!(&r.credentials, Credentials::OAuth2(t) if t.is_expired(Utc::now(), chrono::Duration::zero()));
        if due(&record) && self.refreshable(&record) {
            match self.refresh_once(record.version).await {
                Ok(()) => record = self.record(),
                // Refreshing early failed but the token still works: use it.
                Err(e) if !expired(&record) => {
                    tracing::warn!(connection = %self.id, error = %e, "early refresh failed; using the current token");
                }
                Err(e) => return Err(e),
            }
            if let Some(refusal) = self.refusal(&record) {
                return Err(refusal);
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
        // A connection switched off or in error sends nothing more, not even a refresh.
        if let Some(refusal) = self.refusal(&record) {
            return Err(refusal);
        }
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
