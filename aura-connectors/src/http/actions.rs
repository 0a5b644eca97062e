//! The `request` action: any HTTP call, with the connection's credentials.

use std::collections::BTreeMap;

use aura_core::http::{HttpPolicy, take};
use aura_core::{Context, Error, ErrorKind, Result};
use futures::future::Either;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::request::RequestInput;

/// What the `request` action returns (its output schema; the action builds it as JSON, so
/// that the answer's body is handed on without a copy).
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct RequestOutput {
    /// The status (of the last page, with pagination).
    pub status: u16,
    /// The answer's headers (repeated ones joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body: JSON when it parses, else text; the part at `output` when given; every
    /// page's items with `paginate`.
    pub body: Value,
}

/// The output as JSON, built in place: `status`, `headers` (an object of strings), `body`.
fn output(status: u16, headers: Map<String, Value>, body: Value) -> Value {
    let mut out = Map::new();
    out.insert("status".to_owned(), Value::from(status));
    out.insert("headers".to_owned(), Value::Object(headers));
    out.insert("body".to_owned(), body);
    Value::Object(out)
}

/// Sends the request.
///
/// A plain function returning its future, not an `async fn`: the input is turned into the
/// request before the future is made, so the future holds the request and the few fields
/// it still reads, not the whole input beside them (an `async fn` keeps its arguments).
pub(crate) fn request(
    policy: HttpPolicy,
    cx: Context,
    input: RequestInput,
) -> impl Future<Output = Result<Value>> + Send + 'static {
    let request = match input.to_request() {
        Ok(request) => request,
        Err(err) => return Either::Left(std::future::ready(Err(err))),
    };
    let RequestInput {
        paginate,
        output: pointer,
        fail_on_status,
        ..
    } = input;
    Either::Right(async move {
        // A bad pointer fails before anything is sent.
        if let Some(pointer) = &pointer {
            aura_core::http::check_pointer(pointer)?;
        }
        if let Some(paginate) = &paginate {
            paginate.check()?;
            // Boxed: pagination is the rarer path, and its future would widen every call's.
            let pages = Box::pin(paginate.collect(&policy, &cx, &request)).await?;
            return Ok(output(200, Map::new(), Value::Array(pages.items)));
        }
        let answer = if fail_on_status {
            policy.send(&cx, &request).await?
        } else {
            policy.send_unchecked(&cx, &request).await?
        };
        let mut headers = Map::new();
        for (name, value) in &answer.headers {
            let Ok(value) = value.to_str() else { continue };
            match headers.get_mut(name.as_str()) {
                Some(Value::String(joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                _ => {
                    headers.insert(name.as_str().to_owned(), Value::String(value.to_owned()));
                }
            }
        }
        let mut body = answer.value()?;
        if let Some(pointer) = &pointer {
            body = take(&mut body, pointer).ok_or_else(|| {
                Error::new(ErrorKind::Upstream, "the answer has nothing at the output pointer")
                    .with_context("pointer", pointer.clone())
                    .with_status(answer.status.as_u16())
            })?;
        }
        Ok(output(answer.status.as_u16(), headers, body))
    })
}
