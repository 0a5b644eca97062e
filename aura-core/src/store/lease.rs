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
    /// The fencing token: a store that several processes share (PostgreSQL) raises it each
    /// time the execution is claimed, and writes made under a lease
    /// ([`crate::store::ExecutionStore::save_node_leased`] …) go through only while the lease
    /// in the store still has this owner and this token, so that a process that lost its lease
    /// (paused past its end while another claimed the execution) cannot write over the new
    /// holder's checkpoints. Stores of one process leave it 0.
    #[serde(default)]
    pub token: i64,
}

impl Lease {
    /// `owner`'s lease on an execution for `length` from now, with no fencing token (that of a
    /// store of one process).
    pub(crate) fn from_now(execution_id: Uuid, owner: &str, length: std::time::Duration) -> Self {
        Self::from(Utc::now(), execution_id, owner, length)
    }

    /// [`from_now`](Self::from_now), with `now` read already.
    pub(crate) fn from(now: DateTime<Utc>, execution_id: Uuid, owner: &str, length: std::time::Duration) -> Self {
        Self {
            execution_id,
            owner: owner.to_owned(),
            until: now + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::MAX),
            token: 0,
        }
    }

    /// Whether it still holds at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }
}
