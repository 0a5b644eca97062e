//! How each active trigger is doing ([`TriggerRuntime::status`](super::TriggerRuntime::status)):
//! kept from the runtime's own events, so that what is reported and what is shown agree.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::TriggerEventKind;

/// How one scenario's trigger is doing.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TriggerStatus {
    /// When it last started an execution, and which.
    pub last_fired: Option<(DateTime<Utc>, Uuid)>,
    /// When a poll last succeeded.
    pub last_polled: Option<DateTime<Utc>>,
    /// How many tries in a row have failed (0 once one succeeds).
    pub failures: u32,
    /// The last failure: when, the error's kind and message, and when the next try comes.
    pub last_error: Option<TriggerFailure>,
    /// Deliveries or items dropped as seen already.
    pub duplicates: u64,
    /// Schedule firings dropped by the missed-firing policy.
    pub missed: u64,
}

/// A failed poll (or schedule commit).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TriggerFailure {
    /// When.
    pub at: DateTime<Utc>,
    /// The error's kind.
    pub error: &'static str,
    /// Its message.
    pub message: String,
    /// When the next try comes.
    pub retry_at: DateTime<Utc>,
}

impl TriggerStatus {
    /// Takes an event of this trigger into account.
    pub(super) fn note(&mut self, at: DateTime<Utc>, kind: &TriggerEventKind) {
        match kind {
            TriggerEventKind::Fired { execution_id } => self.last_fired = Some((at, *execution_id)),
            TriggerEventKind::Polled { .. } => {
                self.last_polled = Some(at);
                self.failures = 0;
            }
            TriggerEventKind::Duplicate { .. } => self.duplicates += 1,
            TriggerEventKind::MissedDropped { count } => self.missed += count,
            TriggerEventKind::Failed {
                error,
                message,
                retry_in,
                failures,
            } => {
                self.failures = *failures;
                self.last_error = Some(TriggerFailure {
                    at,
                    error,
                    message: message.clone(),
                    retry_at: at + chrono::Duration::from_std(*retry_in).unwrap_or(chrono::Duration::zero()),
                });
            }
            TriggerEventKind::Activated | TriggerEventKind::Deactivated => {}
        }
    }
}
