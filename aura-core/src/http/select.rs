//! Output selection by JSON pointer (RFC 6901): `/data/items`, `/0/id`, `""` for the whole.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// Checks that `pointer` is a JSON pointer: empty (the whole value) or starting with `/`.
///
/// # Errors
///
/// [`InvalidDefinition`](ErrorKind::InvalidDefinition) naming the pointer.
pub fn check_pointer(pointer: &str) -> Result<()> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(Error::invalid_definition("a JSON pointer is empty or starts with `/`")
            .with_context("pointer", pointer.to_owned()))
    }
}

/// The part of `value` at `pointer`.
///
/// ```
/// use aura_core::http::select;
/// use serde_json::json;
///
/// let answer = json!({ "data": { "items": [{ "id": 7 }] } });
/// assert_eq!(select(&answer, "/data/items/0/id")?, &json!(7));
/// assert_eq!(select(&answer, "")?, &answer);
/// assert!(select(&answer, "/data/missing").is_err());
/// # Ok::<(), aura_core::Error>(())
/// ```
///
/// # Errors
///
/// [`Upstream`](ErrorKind::Upstream) naming the pointer when the answer has nothing there:
/// the service did not answer the shape its definition promised.
pub fn select<'v>(value: &'v Value, pointer: &str) -> Result<&'v Value> {
    value.pointer(pointer).ok_or_else(|| {
        Error::new(ErrorKind::Upstream, "the answer has nothing at the selected place")
            .with_context("pointer", pointer.to_owned())
    })
}

/// The part of `value` at `pointer`, taken out (no copy); `None` when there is nothing there.
pub fn take(value: &mut Value, pointer: &str) -> Option<Value> {
    value.pointer_mut(pointer).map(Value::take)
}
