//! What a host asks the [`ConnectionManager`](super::ConnectionManager) for: a new connection, a
//! change to one.

use serde_json::{Map, Value};

use crate::connection::{ConnectionId, Credentials};

/// A connection to create.
#[derive(Clone, Debug)]
pub struct NewConnection {
    pub(super) app_id: String,
    pub(super) name: String,
    pub(super) credentials: Credentials,
    pub(super) metadata: Map<String, Value>,
    pub(super) id: Option<ConnectionId>,
    pub(super) test: bool,
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
