//! The `poll` trigger: a URL polled for new items, its parameters given by the scenario's
//! trigger node (`poll.params`).

use async_trait::async_trait;
use aura_core::http::{HttpPolicy, HttpRequest, check_pointer, scalar_text, take};
use aura_core::trigger::{Poll, PollingTrigger, TriggerItem, TriggerParams};
use aura_core::{Context, Error, ErrorKind, Result};
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
        let params = cx.extension::<TriggerParams>().ok_or_else(|| {
            Error::invalid_definition("the http poll needs its params (the trigger node's `poll.params`)")
        })?;
        let params: PollParams = serde_json::from_value((*params.0).clone())
            .map_err(|e| Error::invalid_definition(format!("the http poll's params do not fit: {e}")))?;
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
        let items = match take(&mut body, &params.items) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) => Vec::new(),
            _ => {
                return Err(Error::new(
                    ErrorKind::Upstream,
                    "the answer has no list of items at the selected place",
                )
                .with_context("pointer", params.items.clone()));
            }
        };
        let mut next = cursor.filter(|c| !c.is_null());
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let key = item.pointer(&params.key).and_then(scalar_text).ok_or_else(|| {
                Error::new(ErrorKind::Upstream, "an item has no key at the key pointer")
                    .with_context("pointer", params.key.clone())
            })?;
            if let Some(field) = &params.cursor_item
                && let Some(value) = item.pointer(field).filter(|v| !v.is_null())
                && next.as_ref().is_none_or(|n| later(value, n))
            {
                next = Some(value.clone());
            }
            out.push(TriggerItem::new(key, item));
        }
        Ok(Poll::new(out, next.unwrap_or(Value::Null)))
    }
}

/// Numbers by value, anything else by its text (ISO 8601 times sort as text).
fn later(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x > y,
        _ => scalar_text(a).unwrap_or_default() > scalar_text(b).unwrap_or_default(),
    }
}
