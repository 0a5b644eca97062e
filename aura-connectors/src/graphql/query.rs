//! The `query` action: a GraphQL request, its `errors` as typed errors, and cursor
//! pagination over a connection's `pageInfo`.

use std::collections::BTreeMap;

use aura_core::http::{HttpPolicy, HttpRequest, Paginate, Pagination, take};
use aura_core::{Context, Error, ErrorKind, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// What the `query` action sends.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryInput {
    /// The GraphQL endpoint.
    pub url: String,
    /// The query or mutation.
    pub query: String,
    /// Its variables.
    #[serde(default)]
    pub variables: Map<String, Value>,
    /// The operation to run, when the document has several.
    #[serde(default)]
    pub operation_name: Option<String>,
    /// Headers (not secret: credentials come from the connection).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Read every page of one connection field.
    #[serde(default)]
    pub paginate: Option<Pages>,
}

/// Cursor pagination over a connection (`{ nodes, pageInfo { hasNextPage endCursor } }`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pages {
    /// Where the connection is (a JSON pointer: `/data/repository/issues`).
    pub connection: String,
    /// The variable that takes the cursor (default `after`).
    #[serde(default = "after")]
    pub cursor_variable: String,
    /// At most this many pages (default 10).
    #[serde(default = "ten")]
    pub max_pages: usize,
}

fn after() -> String {
    "after".into()
}

fn ten() -> usize {
    10
}

/// What the `query` action returns.
#[derive(Clone, Debug, Serialize, JsonSchema, PartialEq)]
pub struct QueryOutput {
    /// The data (with `paginate`: every page's `nodes`, in order).
    pub data: Value,
    /// Errors that came with partial data.
    pub errors: Vec<GraphqlError>,
}

/// One entry of a GraphQL `errors` array.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct GraphqlError {
    /// The message.
    pub message: String,
    /// The field it concerns (`["repository", "issues"]`).
    #[serde(default)]
    pub path: Vec<Value>,
    /// The server's code (`extensions.code`, or GitHub's `type`).
    #[serde(default)]
    pub code: Option<String>,
    /// The error kind the code maps to (`unauthorized`, `rate_limited` …).
    pub kind: String,
}

impl QueryInput {
    /// The request: a JSON `POST` of `query`, `variables` and `operationName`.
    pub fn to_request(&self) -> HttpRequest {
        let mut body = json!({ "query": self.query, "variables": self.variables });
        if let Some(name) = &self.operation_name {
            body["operationName"] = Value::String(name.clone());
        }
        let mut request = HttpRequest::post(&self.url).json(body);
        request.headers = self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        request
    }
}

/// Sends the query.
pub(crate) async fn query(policy: HttpPolicy, cx: Context, input: QueryInput) -> Result<QueryOutput> {
    let policy = policy.with_check(std::sync::Arc::new(check));
    let request = input.to_request();
    if let Some(p) = &input.paginate {
        let c = p.connection.trim_end_matches('/');
        let mut paginate = Paginate::new(
            Pagination::Cursor {
                from: format!("{c}/pageInfo/endCursor"),
                param: None,
                body: Some(format!("/variables/{}", p.cursor_variable)),
                more: Some(format!("{c}/pageInfo/hasNextPage")),
            },
            format!("{c}/nodes"),
        );
        paginate.max_pages = p.max_pages.max(1);
        paginate.max_items = usize::MAX;
        let pages = paginate.collect(&policy, &cx, &request).await?;
        return Ok(QueryOutput {
            data: Value::Array(pages.items),
            errors: Vec::new(),
        });
    }
    let mut body = policy.send(&cx, &request).await?.json()?;
    let errors = errors_of(&body);
    Ok(QueryOutput {
        data: take(&mut body, "/data").unwrap_or(Value::Null),
        errors,
    })
}

/// The typed errors of an answer's `errors` array.
pub fn errors_of(body: &Value) -> Vec<GraphqlError> {
    let Some(list) = body.get("errors").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let code = e
                .pointer("/extensions/code")
                .or_else(|| e.get("type"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            GraphqlError {
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(500)
                    .collect(),
                path: e.get("path").and_then(Value::as_array).cloned().unwrap_or_default(),
                kind: kind_of(code.as_deref()).as_str().to_owned(),
                code,
            }
        })
        .collect()
}

/// The error kind a GraphQL error code stands for (Apollo's codes and GitHub's types).
pub fn kind_of(code: Option<&str>) -> ErrorKind {
    match code.map(str::to_ascii_uppercase).as_deref() {
        Some("UNAUTHENTICATED") => ErrorKind::Unauthorized,
        Some("FORBIDDEN") => ErrorKind::Forbidden,
        Some("NOT_FOUND") => ErrorKind::NotFound,
        Some("RATE_LIMITED" | "RATE_LIMIT" | "THROTTLED") => ErrorKind::RateLimited,
        Some("BAD_USER_INPUT" | "GRAPHQL_VALIDATION_FAILED" | "GRAPHQL_PARSE_FAILED" | "ARGUMENT_ERROR") => {
            ErrorKind::InvalidInput
        }
        _ => ErrorKind::Upstream,
    }
}

/// An answer with `errors` and no `data` fails, with the first error's kind; one with data
/// keeps it (the errors go in the output).
fn check(status: http::StatusCode, _: &http::HeaderMap, body: &[u8]) -> Option<Error> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if !value.get("data").is_none_or(Value::is_null) {
        return None;
    }
    let first = errors_of(&value).into_iter().next()?;
    let kind = kind_of(first.code.as_deref());
    let mut err = Error::new(kind, "the GraphQL server answered errors and no data")
        .with_status(status.as_u16())
        .with_context("graphql_error", first.message);
    if let Some(code) = first.code {
        err = err.with_context("code", code);
    }
    Some(err)
}
