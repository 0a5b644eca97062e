//! [`MockPolling`]: a polling trigger that serves scripted pages.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use aura_core::trigger::{Poll, PollingTrigger, TriggerDef, TriggerItem};
use aura_core::{Context, Result};
use serde_json::Value;

use crate::failure::Failure;

/// A polling trigger whose polls return scripted pages, one per poll; the cursor is the number
/// of pages served. After the last page it returns nothing new. Clones share their state.
///
/// ```
/// use aura_testkit::MockPolling;
/// use serde_json::json;
///
/// let leads = MockPolling::new("new_leads")
///     .page([("lead-1", json!({ "email": "a@x.test" }))])
///     .page([("lead-2", json!({ "email": "b@x.test" }))]);
/// ```
#[derive(Clone)]
pub struct MockPolling {
    key: String,
    output_schema: Value,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    pages: Vec<Vec<TriggerItem>>,
    failures: VecDeque<Failure>,
    cursors: Vec<Option<u64>>,
}

impl MockPolling {
    /// A polling trigger with no pages and an accept-anything output schema.
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            output_schema: Value::Bool(true),
            state: Arc::default(),
        }
    }

    /// Declares the items' schema.
    #[must_use]
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.output_schema = schema;
        self
    }

    /// Adds a page of `(dedupe_key, data)` items.
    #[must_use]
    pub fn page<K: Into<String>>(self, items: impl IntoIterator<Item = (K, Value)>) -> Self {
        let items = items.into_iter().map(|(k, v)| TriggerItem::new(k, v)).collect();
        self.lock().pages.push(items);
        self
    }

    /// Makes the next poll fail (calls queue up: two calls fail the next two polls). A failed
    /// poll serves no page, so the one after it picks up where the last success left off.
    pub fn fail_next(&self, failure: impl Into<Failure>) -> &Self {
        self.lock().failures.push_back(failure.into());
        self
    }

    /// The cursor each poll received, in order.
    pub fn cursors(&self) -> Vec<Option<u64>> {
        self.lock().cursors.clone()
    }

    /// The definition a [`crate::MockApp`] registers.
    pub fn to_def(&self) -> TriggerDef {
        TriggerDef::polling(self.key.clone(), self.clone()).output_schema(self.output_schema.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl PollingTrigger for MockPolling {
    type Item = Value;
    type Cursor = u64;

    async fn poll(&self, _cx: &Context, cursor: Option<u64>) -> Result<Poll<Value, u64>> {
        let mut state = self.lock();
        state.cursors.push(cursor);
        if let Some(failure) = state.failures.pop_front() {
            return Err(failure.to_error());
        }
        let served = cursor.unwrap_or(0);
        let page = usize::try_from(served).ok().and_then(|i| state.pages.get(i));
        Ok(match page {
            Some(items) => Poll {
                items: items.clone(),
                cursor: served + 1,
                more: usize::try_from(served + 1).is_ok_and(|next| next < state.pages.len()),
            },
            None => Poll::new(Vec::new(), served),
        })
    }
}

impl fmt::Debug for MockPolling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockPolling")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
