//! Leases on unfinished executions: which process resumes which.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An owner's claim on an unfinished execution, until a time (see
/// [`crate::store::ExecutionStore::claim`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The execution.
    pub execution_id: Uuid,
    /// Who holds it (an engine's owner id).
    pub owner: String,
    /// When it ends unless renewed.
    pub until: DateTime<Utc>,
}

impl Lease {
    /// Whether it still holds at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}
