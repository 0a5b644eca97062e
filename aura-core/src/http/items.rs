//! New items in a polled answer: the list at a pointer, each item's key, and the cursor
//! moved to the newest item. One implementation for every polling trigger over HTTP.

use std::cmp::Ordering;

use serde_json::Value;

use super::request::scalar_text;
use super::select::take;
use crate::error::{Error, ErrorKind, Result};
use crate::trigger::TriggerItem;

/// The items at `items` in `body` (taken out of it), each keyed by the value at `key`
/// inside it, and the cursor: `previous`, or the greatest value at `cursor_item` among the
/// items when one is greater (numbers by value, anything else by its text: ISO 8601 times
/// sort as text). A missing or null list is no items.
///
/// # Errors
///
/// [`Upstream`](ErrorKind::Upstream) naming the pointer when the answer has no list at
/// `items` or an item has no key.
pub fn poll_items(
    body: &mut Value,
    items: &str,
    key: &str,
    cursor_item: Option<&str>,
    previous: Option<Value>,
) -> Result<(Vec<TriggerItem<Value>>, Option<Value>)> {
    let list = match take(body, items) {
        Some(Value::Array(list)) => list,
        Some(Value::Null) => Vec::new(),
        _ => {
            return Err(Error::new(
                ErrorKind::Upstream,
                "the answer has no list of items at the selected place",
            )
            .with_context("pointer", items.to_owned()));
        }
    };
    let mut next = previous.filter(|c| !c.is_null());
    let mut out = Vec::with_capacity(list.len());
    for item in list {
        let k = item.pointer(key).and_then(scalar_text).ok_or_else(|| {
            Error::new(ErrorKind::Upstream, "an item has no key at the key pointer")
                .with_context("pointer", key.to_owned())
        })?;
        if let Some(field) = cursor_item
            && let Some(value) = item.pointer(field).filter(|v| !v.is_null())
            && next.as_ref().is_none_or(|n| later(value, n))
        {
            next = Some(value.clone());
        }
        out.push(TriggerItem::new(k, item));
    }
    Ok((out, next))
}

/// Whether `a` comes after `b`.
fn later(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y) == Some(Ordering::Greater),
        _ => scalar_text(a).unwrap_or_default() > scalar_text(b).unwrap_or_default(),
    }
}
