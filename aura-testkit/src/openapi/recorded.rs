//! One request as the proxy saw it.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A request that went through a [`RecordingProxy`](super::RecordingProxy), or one built by
/// hand for [`SpecChecker::check`](super::SpecChecker::check).
///
/// ```
/// use aura_testkit::openapi::RecordedRequest;
/// use http::Method;
///
/// let request = RecordedRequest::new(Method::GET, "/repos/octocat/hello?per_page=5")
///     .with_header("accept", "application/json");
/// assert_eq!(request.path, "/repos/octocat/hello");
/// assert_eq!(request.query, [("per_page".to_owned(), "5".to_owned())]);
/// ```
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: Method,
    /// The path, as sent (still percent-encoded), without the query.
    pub path: String,
    /// The query's pairs in order, decoded; a repeated key appears once per value.
    pub query: Vec<(String, String)>,
    /// The request headers, hop-by-hop ones included.
    pub headers: HeaderMap,
    /// The body (empty when there was none).
    pub body: Bytes,
}

impl RecordedRequest {
    /// A request without headers or body; `path_and_query` is split at the first `?`.
    pub fn new(method: Method, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_and_query, ""),
        };
        Self {
            method,
            path: path.to_owned(),
            query: form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// The request with one more header. A name or value that is not valid HTTP is skipped.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// The request with `body` as its JSON body and `Content-Type: application/json`.
    #[must_use]
    pub fn with_json(mut self, body: &serde_json::Value) -> Self {
        self.body = Bytes::from(body.to_string());
        self.with_header("content-type", "application/json")
    }

    /// The request with a raw body (no `Content-Type` is added).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
