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

/// Which finished executions [`crate::store::ExecutionStore::prune`] deletes: those older
/// than `older_than`, and those beyond the newest `keep_newest`. Unset fields delete nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prune {
    /// Delete finished executions that started before this time.
    pub older_than: Option<DateTime<Utc>>,
    /// Keep at most this many finished executions (the newest).
    pub keep_newest: Option<usize>,
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

    /// Keeps only the newest `count` finished executions.
    #[must_use]
    pub fn keep_newest(mut self, count: usize) -> Self {
        self.keep_newest = Some(count);
        self
    }
}
