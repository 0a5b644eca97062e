//! The `request` action: any HTTP call, with the connection's credentials.

use std::collections::BTreeMap;

use aura_core::http::{HttpPolicy, take};
use aura_core::{Context, Error, ErrorKind, Result};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::request::RequestInput;

/// What the `request` action returns.
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

/// Sends the request.
pub(crate) async fn request(policy: HttpPolicy, cx: Context, input: RequestInput) -> Result<RequestOutput> {
    let request = input.to_request()?;
    if let Some(paginate) = &input.paginate {
        paginate.check()?;
        let pages = paginate.collect(&policy, &cx, &request).await?;
        return Ok(RequestOutput {
            status: 200,
            headers: BTreeMap::new(),
            body: Value::Array(pages.items),
        });
    }
    let answer = if input.fail_on_status {
        policy.send(&cx, &request).await?
    } else {
        policy.send_unchecked(&cx, &request).await?
    };
    let mut headers = BTreeMap::new();
    for (name, value) in &answer.headers {
        let Ok(value) = value.to_str() else { continue };
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    let mut body = match answer.json() {
        Ok(v) => v,
        Err(_) => Value::String(answer.text()),
    };
    if let Some(pointer) = &input.output {
        aura_core::http::check_pointer(pointer)?;
        body = take(&mut body, pointer).ok_or_else(|| {
            Error::new(ErrorKind::Upstream, "the answer has nothing at the output pointer")
                .with_context("pointer", pointer.clone())
                .with_status(answer.status.as_u16())
        })?;
    }
    Ok(RequestOutput {
        status: answer.status.as_u16(),
        headers,
        body,
    })
}
