//! The `poll` trigger: a URL polled for new items, its parameters given by the scenario's
//! trigger node (`poll.params`).

use async_trait::async_trait;
use aura_core::http::{HttpPolicy, HttpRequest, check_pointer, poll_items, scalar_text};
use aura_core::trigger::{Poll, PollingTrigger, TriggerParams};
use aura_core::{Context, Result};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The `poll` trigger's parameters.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PollParams {
    /// The URL (`GET`).
    pub url: String,
    /// Where the items are in the answer (a JSON pointer to an array; default the body).
    #[serde(default)]
    pub items: String,
    /// Where an item's unique key is (`/id`).
    pub key: String,
    /// A query parameter that carries the cursor on the next poll.
    #[serde(default)]
    pub cursor_param: Option<String>,
    /// Where the cursor is inside each item (the greatest wins: a time, an increasing id).
    #[serde(default)]
    pub cursor_item: Option<String>,
}

/// The trigger.
pub(crate) struct HttpPoll {
    pub(crate) policy: HttpPolicy,
}

#[async_trait]
impl PollingTrigger for HttpPoll {
    type Item = Value;
    type Cursor = Value;

    async fn poll(&self, cx: &Context, cursor: Option<Value>) -> Result<Poll<Value, Value>> {
        let params: PollParams = TriggerParams::required(cx, "http.poll")?;
        for (field, p) in [
            ("items", Some(&params.items)),
            ("key", Some(&params.key)),
            ("cursor_item", params.cursor_item.as_ref()),
        ] {
            if let Some(p) = p {
                check_pointer(p).map_err(|e| e.with_context("field", field))?;
            }
        }
        let mut request = HttpRequest::get(&params.url);
        if let (Some(param), Some(value)) = (&params.cursor_param, cursor.as_ref().and_then(scalar_text)) {
            request.set_query(param, value);
        }
        let mut body = self.policy.send(cx, &request).await?.json()?;
        let (items, next) = poll_items(
            &mut body,
            &params.items,
            &params.key,
            params.cursor_item.as_deref(),
            cursor,
        )?;
        Ok(Poll::new(items, next.unwrap_or(Value::Null)))
    }
}
