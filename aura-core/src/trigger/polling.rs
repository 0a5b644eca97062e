//! Polling triggers: ask the service for what is new since a cursor.

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::TriggerItem;
use crate::context::Context;
use crate::error::{Error, Result};

/// What one poll returned: the new items, the cursor to poll from next time, and whether more
/// is waiting right now (a poll runtime polls again at once instead of waiting an interval).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Poll<T, C> {
    /// New items, oldest first.
    pub items: Vec<TriggerItem<T>>,
    /// Where the next poll starts.
    pub cursor: C,
    /// Whether the service has more right now (a further page).
    #[serde(default)]
    pub more: bool,
}

impl<T, C> Poll<T, C> {
    /// Items and the next cursor, nothing more waiting.
    pub fn new(items: Vec<TriggerItem<T>>, cursor: C) -> Self {
        Self {
            items,
            cursor,
            more: false,
        }
    }
}

/// A trigger that polls: given the cursor it returned last time (`None` the first time), it
/// returns the items that are new since then and the next cursor.
///
/// The cursor is the trigger's own typed state (a timestamp, a page token, the highest id
/// seen); the runtime stores it as JSON between polls.
///
/// ```
/// use aura_core::{Context, Result};
/// use aura_core::trigger::{Poll, PollingTrigger, TriggerItem};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Row { id: u64 }
///
/// struct NewRows;
///
/// #[async_trait::async_trait]
/// impl PollingTrigger for NewRows {
///     type Item = Row;
///     type Cursor = u64; // the highest id seen
///
///     async fn poll(&self, _cx: &Context, cursor: Option<u64>) -> Result<Poll<Row, u64>> {
///         let from = cursor.unwrap_or(0);
///         let items = (from + 1..=from + 2).map(|id| TriggerItem::new(id.to_string(), Row { id })).collect();
///         Ok(Poll::new(items, from + 2))
///     }
/// }
/// ```
#[async_trait]
pub trait PollingTrigger: Send + Sync + 'static {
    /// The data of each item.
    type Item: Serialize + JsonSchema + Send;
    /// The trigger's cursor.
    type Cursor: Serialize + DeserializeOwned + Send;

    /// Returns what is new since `cursor`.
    async fn poll(&self, cx: &Context, cursor: Option<Self::Cursor>) -> Result<Poll<Self::Item, Self::Cursor>>;
}

#[async_trait]
pub(super) trait ErasedPolling: Send + Sync {
    async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Value, Value>>;
}

#[async_trait]
impl<P: PollingTrigger> ErasedPolling for P {
    async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Value, Value>> {
        let cursor = cursor
            .map(serde_json::from_value::<P::Cursor>)
            .transpose()
            .map_err(|_| Error::invalid_input("the stored cursor does not fit this trigger's cursor type", vec![]))?;
        let poll = PollingTrigger::poll(self, cx, cursor).await?;
        let cursor = serde_json::to_value(poll.cursor)
            .map_err(|e| Error::internal("the cursor could not be serialized").with_source(e))?;
        let items = poll
            .items
            .into_iter()
            .map(TriggerItem::into_json)
            .collect::<Result<_>>()?;
        Ok(Poll {
            items,
            cursor,
            more: poll.more,
        })
    }
}
