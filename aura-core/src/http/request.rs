//! [`HttpRequest`]: a request described as data, built into a [`reqwest::Request`] apart from
//! sending it, so that a test can look at what would go on the wire without a server.

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use crate::error::{Error, Result};

/// An HTTP request as data: method, URL, query, headers and body.
///
/// Credentials are not part of it: [`HttpPolicy::send`](super::HttpPolicy::send) puts the
/// connection's on at the moment of sending, and only for the request's own origin.
///
/// ```
/// use aura_core::http::HttpRequest;
/// use serde_json::json;
///
/// let request = HttpRequest::post("https://api.example.com/v1/contacts")
///     .query("notify", "false")
///     .header("X-Request-Source", "aura")
///     .json(json!({ "email": "ada@example.com" }));
/// let built = request.build(&reqwest::Client::new())?;
/// assert_eq!(built.url().as_str(), "https://api.example.com/v1/contacts?notify=false");
/// assert_eq!(built.headers()["content-type"], "application/json");
/// assert_eq!(built.body().and_then(|b| b.as_bytes()), Some(&br#"{"email":"ada@example.com"}"#[..]));
/// # Ok::<(), aura_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL (it may carry a query of its own; [`query`](Self::query) is appended).
    pub url: String,
    /// Query parameters appended to the URL, in order (a name may repeat).
    pub query: Vec<(String, String)>,
    /// Request headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A request body.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Body {
    /// None.
    #[default]
    Empty,
    /// JSON (`application/json`).
    Json(Value),
    /// A URL-encoded form (`application/x-www-form-urlencoded`).
    Form(Vec<(String, String)>),
    /// A multipart form (`multipart/form-data`).
    Multipart(Vec<Part>),
    /// Bytes of a given content type.
    Raw {
        /// The `Content-Type`.
        content_type: String,
        /// The bytes.
        bytes: Bytes,
    },
}

/// One part of a multipart form.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    /// The field name.
    pub name: String,
    /// A file name, for a file part.
    pub file_name: Option<String>,
    /// The part's `Content-Type` (default: `text/plain` for text, none for bytes).
    pub content_type: Option<String>,
    /// The content.
    pub bytes: Bytes,
}

impl Part {
    /// A text field.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            file_name: None,
            content_type: None,
            bytes: Bytes::from(value.into()),
        }
    }

    /// A file.
    pub fn file(
        name: impl Into<String>,
        file_name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: impl Into<Bytes>,
    ) -> Self {
        Self {
            name: name.into(),
            file_name: Some(file_name.into()),
            content_type: Some(content_type.into()),
            bytes: bytes.into(),
        }
    }
}

impl HttpRequest {
    /// A request with no query, headers or body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// A `POST`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::POST, url)
    }

    /// Appends a query parameter.
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Appends a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body.
    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: Body) -> Self {
        self.body = body;
        self
    }

    /// Sets or replaces a query parameter (the pagination's way to ask for the next page).
    pub fn set_query(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        self.query.retain(|(n, _)| n != name);
        self.query.push((name.to_owned(), value));
    }

    /// The first value of a header, by name (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The URL with the query appended, parsed.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) when the URL does not parse; the
    /// error names the field but not the URL, which may carry a token.
    pub fn full_url(&self) -> Result<reqwest::Url> {
        let mut url = reqwest::Url::parse(&self.url).map_err(|e| {
            Error::invalid_input(format!("the request URL does not parse: {e}"), vec![]).with_context("field", "url")
        })?;
        if !self.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        }
        Ok(url)
    }

    /// Builds the request for `client`, without sending it. A `Content-Type` header given
    /// explicitly wins over the body's own.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](crate::ErrorKind::InvalidInput) for a URL that does not parse or a
    /// header name or value that is not valid HTTP (the error names the header).
    pub fn build(&self, client: &reqwest::Client) -> Result<reqwest::Request> {
        let url = self.full_url()?;
        let mut builder = client.request(self.method.clone(), url);
        builder = match &self.body {
            Body::Empty => builder,
            Body::Json(value) => builder.header(http::header::CONTENT_TYPE, "application/json").body(
                serde_json::to_vec(value)
                    .map_err(|e| Error::internal("the JSON body did not serialize").with_source(e))?,
            ),
            Body::Form(fields) => {
                let encoded = form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())))
                    .finish();
                builder
                    .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(encoded)
            }
            Body::Multipart(parts) => builder.multipart(multipart(parts)?),
            Body::Raw { content_type, bytes } => builder
                .header(http::header::CONTENT_TYPE, header_value("Content-Type", content_type)?)
                .body(bytes.clone()),
        };
        let mut request = builder.build()?;
        for (name, value) in &self.headers {
            let header = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::invalid_input("a header name is not valid HTTP", vec![]).with_context("header", name.clone())
            })?;
            let value = header_value(name, value)?;
            if header == http::header::CONTENT_TYPE {
                request.headers_mut().insert(header, value);
            } else {
                request.headers_mut().append(header, value);
            }
        }
        Ok(request)
    }
}

fn header_value(name: &str, value: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_input(
            "a header value is not valid HTTP (control characters or non-ASCII)",
            vec![],
        )
        .with_context("header", name.to_owned())
    })
}

fn multipart(parts: &[Part]) -> Result<reqwest::multipart::Form> {
    let mut form = reqwest::multipart::Form::new();
    for part in parts {
        let mut p = reqwest::multipart::Part::bytes(part.bytes.to_vec());
        if let Some(file_name) = &part.file_name {
            p = p.file_name(file_name.clone());
        }
        if let Some(content_type) = &part.content_type {
            p = p.mime_str(content_type).map_err(|_| {
                Error::invalid_input("a multipart part's content type is not a media type", vec![])
                    .with_context("part", part.name.clone())
            })?;
        }
        form = form.part(part.name.clone(), p);
    }
    Ok(form)
}

/// Fills a path template's `{name}` placeholders from `params`, each value percent-encoded as
/// one path segment (a `/` in a value cannot reach another path).
///
/// Strings go as they are, numbers and booleans as their JSON text.
///
/// ```
/// use aura_core::http::expand_path;
/// use serde_json::json;
///
/// let params = json!({ "owner": "rust-lang", "repo": "a b/c" });
/// let path = expand_path("/repos/{owner}/{repo}", params.as_object().unwrap())?;
/// assert_eq!(path, "/repos/rust-lang/a%20b%2Fc");
/// # Ok::<(), aura_core::Error>(())
/// ```
///
/// # Errors
///
/// [`InvalidInput`](crate::ErrorKind::InvalidInput) naming the parameter (`/owner`) when one
/// is missing, null or not a scalar, or the template has an unclosed `{`.
pub fn expand_path(template: &str, params: &serde_json::Map<String, Value>) -> Result<String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| {
            Error::invalid_definition("a path template has an unclosed `{`")
                .with_context("template", template.to_owned())
        })?;
        let name = &after[..close];
        let value = params.get(name).and_then(scalar_text).ok_or_else(|| {
            Error::invalid_input(
                "a path parameter is missing",
                vec![crate::error::Violation::new(
                    format!("/{name}"),
                    "is required (a string, number or boolean)",
                )],
            )
        })?;
        if value == "." || value == ".." {
            // A dot segment is resolved away by URL parsing (`/items/..` is `/`), and so is
            // its percent-encoded form (`%2E%2E`, per the URL standard): refused.
            return Err(Error::invalid_input(
                "a path parameter cannot be `.` or `..`",
                vec![crate::error::Violation::new(format!("/{name}"), "is a dot segment")],
            ));
        }
        out.extend(percent_encoding::utf8_percent_encode(&value, SEGMENT));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The text a scalar JSON value stands for in a URL or header: strings as they are, numbers and
/// booleans as JSON text; `None` for null, arrays and objects.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What a path segment must encode: controls, space, and the characters RFC 3986 gives a
/// meaning in a path or URL (`/ ? # % [ ] "` `< > \ ^ { } |` and the backtick).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_form_body_is_url_encoded_with_its_content_type() {
        let request = HttpRequest::post("http://h.test/x").body(Body::Form(vec![("a b".into(), "c&d".into())]));
        let built = request.build(&reqwest::Client::new()).unwrap();
        assert_eq!(built.headers()["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(built.body().and_then(|b| b.as_bytes()), Some(&b"a+b=c%26d"[..]));
    }

    #[test]
    fn an_explicit_content_type_header_wins_over_the_bodys() {
        let request = HttpRequest::post("http://h.test/x")
            .json(json!({}))
            .header("Content-Type", "application/vnd.api+json");
        let built = request.build(&reqwest::Client::new()).unwrap();
        assert_eq!(built.headers().get_all("content-type").iter().count(), 1);
        assert_eq!(built.headers()["content-type"], "application/vnd.api+json");
    }

    #[test]
    fn query_parameters_are_appended_to_a_url_that_has_some() {
        let request = HttpRequest::get("http://h.test/x?a=1")
            .query("b", "2 3")
            .query("b", "4");
        assert_eq!(request.full_url().unwrap().as_str(), "http://h.test/x?a=1&b=2+3&b=4");
    }

    #[test]
    fn a_bad_header_is_refused_by_name() {
        let err = HttpRequest::get("http://h.test/")
            .header("X-Bad", "line\nbreak")
            .build(&reqwest::Client::new())
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert_eq!(err.context_value("header"), Some("X-Bad"));
    }

    #[test]
    fn a_missing_path_parameter_names_it() {
        let err = expand_path("/items/{id}", &serde_json::Map::new()).unwrap_err();
        assert_eq!(err.violations()[0].path, "/id");
    }

    #[test]
    fn a_path_value_cannot_climb_out_of_its_segment() {
        let params = json!({ "id": "../../admin?x=1#y" });
        let path = expand_path("/items/{id}", params.as_object().unwrap()).unwrap();
        assert_eq!(path, "/items/..%2F..%2Fadmin%3Fx=1%23y");
    }

    #[test]
    fn a_dot_segment_value_is_refused() {
        for dots in [".", ".."] {
            let params = json!({ "id": dots });
            let err = expand_path("/items/{id}/x", params.as_object().unwrap()).unwrap_err();
            assert_eq!(err.violations()[0].path, "/id");
        }
    }

    #[test]
    fn a_multipart_body_has_its_boundary() {
        let request = HttpRequest::post("http://h.test/up").body(Body::Multipart(vec![
            Part::text("note", "hi"),
            Part::file("file", "a.txt", "text/plain", &b"abc"[..]),
        ]));
        let built = request.build(&reqwest::Client::new()).unwrap();
        let ct = built.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    }
}
