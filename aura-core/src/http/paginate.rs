//! Pagination: how the request for the next page follows from the answer to this one (the
//! strategies: [`Pagination`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{Body, HttpRequest, scalar_text};
use super::select::{check_pointer, take};
use super::send::{HttpPolicy, HttpResponse};
use crate::context::Context;
use crate::error::{Error, ErrorKind, Result};

/// A pagination strategy.
///
/// | strategy | next page | last page when |
/// | --- | --- | --- |
/// | [`Page`](Pagination::Page) | `page` query parameter + 1 | a page has fewer items than `size` (or none) |
/// | [`Offset`](Pagination::Offset) | `offset` + `limit` | a page has fewer than `limit` items |
/// | [`Cursor`](Pagination::Cursor) | the cursor at `from` in the body, sent as a query parameter or put in the JSON body | the cursor is missing, null or `""`, or `more` says false |
/// | [`Link`](Pagination::Link) | the `Link` header's `rel="next"` URL (RFC 8288; GitHub) | there is none |
/// | [`NextUrl`](Pagination::NextUrl) | the URL at `from` in the body | it is missing or null |
///
/// Every strategy also stops at a page with no items, at [`Paginate::max_pages`] and at
/// [`Paginate::max_items`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Pagination {
    /// Page numbers.
    Page {
        /// The page number's query parameter (default `page`).
        #[serde(default = "page_param")]
        param: String,
        /// The first page's number (default 1).
        #[serde(default = "one")]
        start: u64,
        /// A page-size query parameter to send (`per_page`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size_param: Option<String>,
        /// The page size asked for; a shorter page is the last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// Offset and limit.
    Offset {
        /// The offset's query parameter (default `offset`).
        #[serde(default = "offset_param")]
        offset_param: String,
        /// The limit's query parameter (default `limit`).
        #[serde(default = "limit_param")]
        limit_param: String,
        /// Items per page.
        limit: u64,
    },
    /// A cursor read from the body.
    Cursor {
        /// Where the next cursor is in the body (a JSON pointer).
        from: String,
        /// The query parameter to send it in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<String>,
        /// Or where to put it in a JSON body (a JSON pointer: `/variables/after`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// A boolean in the body that says whether there is more (`/pageInfo/hasNextPage`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        more: Option<String>,
    },
    /// The `Link` header's `rel="next"`.
    Link,
    /// A next-page URL read from the body.
    NextUrl {
        /// Where it is (a JSON pointer).
        from: String,
    },
}

fn page_param() -> String {
    "page".into()
}
fn offset_param() -> String {
    "offset".into()
}
fn limit_param() -> String {
    "limit".into()
}
fn one() -> u64 {
    1
}

/// A paginated listing: the strategy, where the items are, and how far to go.
///
/// (Its fields sit beside the strategy's in one object, so unknown fields are refused by the
/// strategy's own checks rather than here: serde cannot deny them through a flattened enum.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Paginate {
    /// The strategy.
    #[serde(flatten)]
    pub pagination: Pagination,
    /// Where each page's items are (a JSON pointer to an array; `""`: the body is the array).
    #[serde(default)]
    pub items: String,
    /// At most this many pages (default 10).
    #[serde(default = "max_pages")]
    pub max_pages: usize,
    /// At most this many items (default 1,000).
    #[serde(default = "max_items")]
    pub max_items: usize,
}

fn max_pages() -> usize {
    10
}
fn max_items() -> usize {
    1000
}

/// The items of every page read.
#[derive(Clone, Debug, PartialEq)]
pub struct Pages {
    /// The items, in order.
    pub items: Vec<Value>,
    /// How many pages were read.
    pub pages: usize,
    /// Whether a limit stopped the listing before its last page.
    pub truncated: bool,
}

impl Paginate {
    /// A listing with the default limits, items at `items`.
    pub fn new(pagination: Pagination, items: impl Into<String>) -> Self {
        Self {
            pagination,
            items: items.into(),
            max_pages: max_pages(),
            max_items: max_items(),
        }
    }

    /// Checks the pointers and limits.
    ///
    /// # Errors
    ///
    /// [`InvalidDefinition`](ErrorKind::InvalidDefinition) naming the bad field.
    pub fn check(&self) -> Result<()> {
        check_pointer(&self.items).map_err(|e| e.with_context("field", "items"))?;
        match &self.pagination {
            Pagination::Cursor {
                from,
                param,
                body,
                more,
            } => {
                check_pointer(from).map_err(|e| e.with_context("field", "from"))?;
                if let Some(b) = body {
                    check_pointer(b).map_err(|e| e.with_context("field", "body"))?;
                }
                if let Some(m) = more {
                    check_pointer(m).map_err(|e| e.with_context("field", "more"))?;
                }
                if param.is_none() == body.is_none() {
                    return Err(Error::invalid_definition(
                        "a cursor goes in a query `param` or a `body` field (one of them)",
                    ));
                }
            }
            Pagination::NextUrl { from } => check_pointer(from).map_err(|e| e.with_context("field", "from"))?,
            Pagination::Offset { limit: 0, .. } | Pagination::Page { size: Some(0), .. } => {
                return Err(Error::invalid_definition("a page size is at least 1"));
            }
            _ => {}
        }
        if self.max_pages == 0 {
            return Err(Error::invalid_definition("max_pages is at least 1"));
        }
        Ok(())
    }

    /// The first page's request: `request` with the page size or first page number set.
    pub fn first(&self, request: &HttpRequest) -> HttpRequest {
        let mut request = request.clone();
        match &self.pagination {
            Pagination::Page {
                param,
                start,
                size_param,
                size,
            } => {
                request.set_query(param, start.to_string());
                if let (Some(p), Some(s)) = (size_param, size) {
                    request.set_query(p, s.to_string());
                }
            }
            Pagination::Offset {
                offset_param,
                limit_param,
                limit,
            } => {
                if request.query.iter().all(|(n, _)| n != offset_param) {
                    request.set_query(offset_param, "0");
                }
                request.set_query(limit_param, limit.to_string());
            }
            _ => {}
        }
        request
    }

    /// The request for the page after `sent`, given its answer and its JSON body and how many
    /// items it held; `None` after the last page.
    pub fn next(&self, sent: &HttpRequest, answer: &HttpResponse, body: &Value, count: usize) -> Option<HttpRequest> {
        if count == 0 {
            return None;
        }
        let mut next = sent.clone();
        match &self.pagination {
            Pagination::Page { param, start, size, .. } => {
                if size.is_some_and(|s| (count as u64) < s) {
                    return None;
                }
                let current = query_u64(sent, param).unwrap_or(*start);
                next.set_query(param, (current + 1).to_string());
            }
            Pagination::Offset {
                offset_param, limit, ..
            } => {
                if (count as u64) < *limit {
                    return None;
                }
                let current = query_u64(sent, offset_param).unwrap_or(0);
                next.set_query(offset_param, (current + count as u64).to_string());
            }
            Pagination::Cursor {
                from,
                param,
                body: field,
                more,
            } => {
                if let Some(more) = more
                    && body.pointer(more) != Some(&Value::Bool(true))
                {
                    return None;
                }
                let cursor = body.pointer(from).and_then(scalar_text).filter(|c| !c.is_empty())?;
                if let Some(param) = param {
                    next.set_query(param, cursor);
                } else if let (Some(field), Body::Json(json)) = (field, &mut next.body) {
                    put(json, field, Value::String(cursor));
                } else {
                    return None;
                }
            }
            Pagination::Link => {
                let url = answer.header("link").and_then(next_link)?;
                let url = answer.url.join(&url).ok()?;
                next.url = url.to_string();
                next.query.clear();
            }
            Pagination::NextUrl { from } => {
                let url = body.pointer(from).and_then(Value::as_str).filter(|u| !u.is_empty())?;
                let url = answer.url.join(url).ok()?;
                next.url = url.to_string();
                next.query.clear();
            }
        }
        Some(next)
    }

    /// Reads pages from `request` on, through `policy`, until the last page or a limit.
    ///
    /// # Errors
    ///
    /// The first page's or a later page's error (pages already read are dropped: a listing
    /// is whole or an error), and [`Upstream`](ErrorKind::Upstream) naming the pointer when a
    /// page has no array at `items`.
    pub async fn collect(&self, policy: &HttpPolicy, cx: &Context, request: &HttpRequest) -> Result<Pages> {
        let mut out = Pages {
            items: Vec::new(),
            pages: 0,
            truncated: false,
        };
        let mut request = self.first(request);
        loop {
            let answer = policy.send(cx, &request).await?;
            let mut body = answer.json()?;
            let items = match take(&mut body, &self.items) {
                Some(Value::Array(items)) => items,
                Some(Value::Null) => Vec::new(),
                _ => {
                    return Err(
                        Error::new(ErrorKind::Upstream, "a page has no list of items at the selected place")
                            .with_context("pointer", self.items.clone())
                            .with_status(answer.status.as_u16()),
                    );
                }
            };
            let count = items.len();
            out.pages += 1;
            let room = self.max_items - out.items.len().min(self.max_items);
            if count > room {
                out.items.extend(items.into_iter().take(room));
                out.truncated = true;
                return Ok(out);
            }
            out.items.extend(items);
            let Some(next) = self.next(&request, &answer, &body, count) else {
                return Ok(out);
            };
            if out.pages >= self.max_pages || out.items.len() >= self.max_items {
                out.truncated = true;
                return Ok(out);
            }
            request = next;
        }
    }
}

/// Sets `value` at `pointer` inside `json`, making objects on the way.
fn put(json: &mut Value, pointer: &str, value: Value) {
    let mut at = json;
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !at.is_object() {
            *at = Value::Object(serde_json::Map::new());
        }
        let Value::Object(map) = at else { return };
        at = map.entry(token).or_insert(Value::Null);
    }
    *at = value;
}

fn query_u64(request: &HttpRequest, name: &str) -> Option<u64> {
    request
        .query
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// The `rel="next"` target of a `Link` header (RFC 8288): `<https://…?page=2>; rel="next"`.
pub fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let target = &after[..close];
        let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
        let params = &after[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim_end();
            let Some(value) = p.strip_prefix("rel=").or_else(|| p.strip_prefix("rel =")) else {
                return false;
            };
            value
                .trim()
                .trim_matches('"')
                .split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &after[params_end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = r#"<https://api.github.com/repositories/1/issues?page=1>; rel="prev", <https://api.github.com/repositories/1/issues?page=3>; rel="next", <https://api.github.com/repositories/1/issues?page=9>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=3")
        );
        assert_eq!(next_link(r#"<https://x.test/?a=1,2>; rel="last""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn a_cursor_goes_into_the_json_body() {
        let mut body = serde_json::json!({ "query": "q" });
        put(&mut body, "/variables/after", Value::String("c1".into()));
        assert_eq!(
            body,
            serde_json::json!({ "query": "q", "variables": { "after": "c1" } })
        );
    }

    #[test]
    fn a_cursor_needs_exactly_one_target() {
        let p = Paginate::new(
            Pagination::Cursor {
                from: "/next".into(),
                param: None,
                body: None,
                more: None,
            },
            "/items",
        );
        assert_eq!(p.check().unwrap_err().kind(), ErrorKind::InvalidDefinition);
    }
}
