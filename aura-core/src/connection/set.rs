//! [`Connections`]: the connections a host has, by id.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::{Connection, ConnectionId, ConnectionRecord, StaticConnection};

/// The connections an engine can use, by id. Share it behind an `Arc`; add, replace and remove
/// connections at any time.
#[derive(Default)]
pub struct Connections {
    map: RwLock<HashMap<ConnectionId, Arc<dyn Connection>>>,
}

impl Connections {
    /// No connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a connection.
    pub fn insert(&self, connection: Arc<dyn Connection>) {
        let id = connection.id().clone();
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, connection);
    }

    /// Adds a stored record as a [`StaticConnection`].
    pub fn insert_record(&self, record: ConnectionRecord) {
        self.insert(Arc::new(StaticConnection::new(record)));
    }

    /// One connection.
    pub fn get(&self, id: &ConnectionId) -> Option<Arc<dyn Connection>> {
        self.map.read().unwrap_or_else(PoisonError::into_inner).get(id).cloned()
    }

    /// Removes a connection.
    pub fn remove(&self, id: &ConnectionId) -> Option<Arc<dyn Connection>> {
        self.map.write().unwrap_or_else(PoisonError::into_inner).remove(id)
    }

    /// Every connection's id.
    pub fn ids(&self) -> Vec<ConnectionId> {
        let mut ids: Vec<_> = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").field("ids", &self.ids()).finish()
    }
}
