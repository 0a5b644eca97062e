//! The state every managed connection shares with its manager: the store, the live set,
//! events, OAuth2 clients, and the one way records are changed (read, change, compare-and-swap).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use super::ConnectionEvent;
use super::ConnectionEventKind;
use super::authorization::Pending;
use super::managed::{Counters, ManagedConnection};
use super::refresh::Flight;
use crate::clock::Clock;
use crate::connection::store::not_found;
use crate::connection::{ConnectionId, ConnectionRecord, ConnectionStatus, Connections, CredentialStore, OAuth2Client};
use crate::error::{Error, ErrorKind, Result};
use crate::registry::Registry;

/// How many times a compare-and-swap write is retried against concurrent writers.
const MAX_CAS_ATTEMPTS: usize = 16;

/// What a manager and its connections share.
pub(super) struct Shared {
    pub(super) registry: Arc<Registry>,
    pub(super) store: Arc<dyn CredentialStore>,
    pub(super) live: Arc<Connections>,
    pub(super) managed: RwLock<HashMap<ConnectionId, Arc<ManagedConnection>>>,
    pub(super) oauth2: RwLock<HashMap<String, Arc<OAuth2Client>>>,
    pub(super) pending: Mutex<HashMap<String, Pending>>,
    pub(super) events: broadcast::Sender<ConnectionEvent>,
    pub(super) leeway: chrono::Duration,
    /// `None`: the shared client of the runtime a test runs in.
    pub(super) http: Option<reqwest::Client>,
    pub(super) clock: Arc<dyn Clock>,
}

impl Shared {
    pub(super) fn emit(&self, id: &ConnectionId, app_id: &str, kind: ConnectionEventKind) {
        // No receiver is fine: events are for those who listen.
        let _ = self.events.send(ConnectionEvent {
            connection_id: id.clone(),
            app_id: app_id.to_owned(),
            kind,
        });
    }

    pub(super) fn client(&self, app_id: &str) -> Result<Arc<OAuth2Client>> {
        self.oauth2.read().get(app_id).cloned().ok_or_else(|| {
            Error::invalid_definition(
                "no OAuth2 client is registered for this app: add one with ConnectionManagerBuilder::oauth2_client",
            )
            .with_context("app", app_id)
        })
    }

    /// Makes a record live as a managed connection.
    pub(super) fn activate(self: &Arc<Self>, record: ConnectionRecord) {
        let conn = Arc::new(ManagedConnection {
            id: record.id.clone(),
            app_id: record.app_id.clone(),
            record: RwLock::new(Arc::new(record)),
            refresh: tokio::sync::Mutex::new(Flight::default()),
            clock: self.clock.clone(),
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
    pub(super) async fn modify(
        &self,
        id: &ConnectionId,
        mut change: impl FnMut(&mut ConnectionRecord) -> bool + Send,
    ) -> Result<Arc<ConnectionRecord>> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.store.get(id).await?.ok_or_else(|| not_found(id))?;
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

    pub(super) async fn set_status(&self, id: &ConnectionId, to: ConnectionStatus) -> Result<Arc<ConnectionRecord>> {
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
