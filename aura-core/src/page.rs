//! Paged listings and pruning: what a store needs once it holds more than fits in one answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a listing goes on: opaque to the caller, given by the previous [`Page`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor from its text (as a store wrote it).
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which page to list: at most `limit` items after `after` (from the start without one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// At most this many items.
    pub limit: usize,
    /// Where the previous page ended.
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// The first page of at most `limit` items.
    pub fn first(limit: usize) -> Self {
        Self { limit, after: None }
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// Which finished executions [`crate::store::ExecutionStore::prune`] deletes.
///
/// Each rule names executions to delete; a prune deletes their union:
///
/// - [`older_than`](Self::older_than): those that started before a time;
/// - [`keep_newest`](Self::keep_newest): those beyond the newest N of the whole store;
/// - [`keep_newest_per_scenario`](Self::keep_newest_per_scenario): those beyond the newest N
///   of their scenario.
///
/// "Newest" goes by id (UUID v7: creation order). Only finished executions count and go: an
/// unfinished one is never pruned, whatever its age, and does not take a place among the
/// newest N. No rule set deletes nothing. The SQL stores delete in short batches, so that a
/// large prune never holds up the executions being written. To prune on a schedule, give the
/// engine a [`Retention`](crate::engine::Retention).
///
/// ```
/// use aura_core::store::Prune;
/// use chrono::{Duration, Utc};
///
/// // The last 100 executions of every scenario, and nothing older than 30 days.
/// let prune = Prune::new()
///     .keep_newest_per_scenario(100)
///     .older_than(Utc::now() - Duration::days(30));
/// assert_eq!(prune.keep_per_scenario, Some(100));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prune {
    /// Delete finished executions that started before this time.
    pub older_than: Option<DateTime<Utc>>,
    /// Keep at most this many finished executions (the newest), over all scenarios.
    pub keep_newest: Option<usize>,
    /// Keep at most this many finished executions (the newest) of each scenario.
    pub keep_per_scenario: Option<usize>,
}

impl Prune {
    /// Deletes nothing yet; add a rule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deletes finished executions started before `time`.
    #[must_use]
    pub fn older_than(mut self, time: DateTime<Utc>) -> Self {
        self.older_than = Some(time);
        self
    }

    /// Keeps only the newest `count` finished executions of the whole store.
    #[must_use]
    pub fn keep_newest(mut self, count: usize) -> Self {
        self.keep_newest = Some(count);
        self
    }

    /// Keeps only the newest `count` finished executions of each scenario.
    #[must_use]
    pub fn keep_newest_per_scenario(mut self, count: usize) -> Self {
        self.keep_per_scenario = Some(count);
        self
    }

    /// Whether it has no rule (then it deletes nothing).
    pub fn is_empty(&self) -> bool {
        self.older_than.is_none() && self.keep_newest.is_none() && self.keep_per_scenario.is_none()
    }
}
