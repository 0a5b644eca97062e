//! [`StoreAvailability`]: whether a store's server can be reached, as its writes last found.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Whether a store that talks to a server can reach it, as its writes last found
/// ([`ExecutionStore::availability`](crate::store::ExecutionStore::availability)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StoreAvailability {
    /// Writes go through.
    Available,
    /// The server cannot be reached: writes wait and are tried again (nothing accepted is
    /// lost while the store rides the outage out).
    Away {
        /// Since when.
        since: DateTime<Utc>,
        /// What the last try met (never a password: connection errors do not carry it).
        reason: String,
    },
}
