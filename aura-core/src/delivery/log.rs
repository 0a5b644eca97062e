//! What happened to an endpoint's deliveries: every [`Attempt`] in a bounded log, and the
//! running [`EndpointStats`].

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::MessageId;
use crate::store::{Cursor, Page, PageRequest};

/// One attempt to deliver to an endpoint.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Attempt {
    /// Its place in the endpoint's log (1, 2, … in the order attempts ended).
    pub seq: u64,
    /// The delivery's `webhook-id`: the message's id, or the batch's.
    pub delivery_id: String,
    /// The messages it carried (one, or a batch's).
    pub messages: Vec<MessageId>,
    /// Which attempt of its delivery it was (1 is the first).
    pub attempt: u32,
    /// When it started, on the dispatcher's [`Clock`](crate::clock::Clock).
    pub at: Duration,
    /// When it started, wall time (the signed `webhook-timestamp`).
    pub sent_at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// How long it took, on the dispatcher's clock.
    pub latency: Duration,
    /// What came of it.
    pub outcome: AttemptOutcome,
    /// Why it failed (never a secret), when it did.
    pub error: Option<String>,
}

/// What came of an [`Attempt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed; another attempt is scheduled after this long.
    Retrying {
        /// The wait before the next attempt.
        after: Duration,
    },
    /// It failed, and the delivery is given up (a permanent refusal, or the schedule spent).
    Failed,
}

/// An endpoint's running figures.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Whether the endpoint is enabled.
    pub enabled: bool,
    /// Attempts made.
    pub attempts: u64,
    /// Attempts answered 2xx.
    pub successes: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Deliveries (messages or batches) given up for good.
    pub failed_deliveries: u64,
    /// Deliveries given up in a row, since the last success.
    pub failed_in_a_row: u32,
    /// The sum of every attempt's latency (see [`EndpointStats::average_latency`]).
    pub total_latency: Duration,
    /// When the last attempt started (dispatcher clock).
    pub last_attempt_at: Option<Duration>,
    /// The last attempt's status, when it got an answer.
    pub last_status: Option<u16>,
    /// The last attempt's outcome.
    pub last_outcome: Option<AttemptOutcome>,
    /// When the endpoint started failing without a success since (dispatcher clock).
    pub failing_since: Option<Duration>,
}

impl EndpointStats {
    /// Successful attempts over all attempts, `1.0` before the first attempt.
    pub fn success_rate(&self) -> f64 {
        if self.attempts == 0 {
            1.0
        } else {
            self.successes as f64 / self.attempts as f64
        }
    }

    /// The mean latency of an attempt.
    pub fn average_latency(&self) -> Option<Duration> {
        u32::try_from(self.attempts)
            .ok()
            .filter(|n| *n > 0)
            .map(|n| self.total_latency / n)
    }

    pub(crate) fn record(&mut self, attempt: &Attempt) {
        self.attempts += 1;
        self.total_latency += attempt.latency;
        self.last_attempt_at = Some(attempt.at);
        self.last_status = attempt.status;
        self.last_outcome = Some(attempt.outcome);
        if attempt.outcome == AttemptOutcome::Delivered {
            self.successes += 1;
            self.failed_in_a_row = 0;
            self.failing_since = None;
        } else {
            self.failures += 1;
            self.failing_since.get_or_insert(attempt.at);
        }
        if attempt.outcome == AttemptOutcome::Failed {
            self.failed_deliveries += 1;
            self.failed_in_a_row += 1;
        }
    }
}

/// An endpoint's last attempts, newest last, at most `capacity`.
#[derive(Debug)]
pub(crate) struct AttemptLog {
    capacity: usize,
    next_seq: u64,
    attempts: VecDeque<Attempt>,
}

impl AttemptLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            next_seq: 1,
            attempts: VecDeque::new(),
        }
    }

    /// Numbers `attempt` and keeps it, dropping the oldest past the capacity.
    pub(crate) fn push(&mut self, mut attempt: Attempt) -> Attempt {
        attempt.seq = self.next_seq;
        self.next_seq += 1;
        if self.attempts.len() == self.capacity {
            self.attempts.pop_front();
        }
        self.attempts.push_back(attempt.clone());
        attempt
    }

    /// A page of attempts, newest first; the cursor is the last seq given.
    pub(crate) fn page(&self, request: &PageRequest) -> Page<Attempt> {
        let before = request
            .after
            .as_ref()
            .and_then(|c| c.as_str().parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let items: Vec<Attempt> = self
            .attempts
            .iter()
            .rev()
            .filter(|a| a.seq < before)
            .take(request.limit)
            .cloned()
            .collect();
        let next = match items.last() {
            Some(last) if items.len() == request.limit && self.attempts.front().is_some_and(|f| f.seq < last.seq) => {
                Some(Cursor::new(last.seq.to_string()))
            }
            _ => None,
        };
        Page { items, next }
    }
}
