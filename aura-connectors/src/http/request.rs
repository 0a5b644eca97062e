//! The `request` action's input, and the [`HttpRequest`] it stands for (built apart from
//! sending, so that a test can inspect it).

use std::collections::BTreeMap;

use aura_core::declarative::HttpMethod;
use aura_core::error::Violation;
use aura_core::http::{Body, HttpRequest, Paginate, Part, expand_path, scalar_text};
use aura_core::{Error, Result};
use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// What the `request` action sends.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// The method (default `GET`).
    #[serde(default = "get")]
    pub method: HttpMethod,
    /// The URL; `{name}` placeholders are filled from `path`, each value percent-encoded.
    pub url: String,
    /// Values for the URL's `{name}` placeholders.
    #[serde(default)]
    pub path: serde_json::Map<String, Value>,
    /// Query parameters (an array repeats the name).
    #[serde(default)]
    pub query: BTreeMap<String, Value>,
    /// Headers (not secret: credentials come from the connection).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body.
    #[serde(default)]
    pub body: Option<RequestBody>,
    /// Read every page (the output's `body` is then the list of every page's items).
    #[serde(default)]
    pub paginate: Option<Paginate>,
    /// Where the output is in the answer's JSON (a JSON pointer; default the whole body).
    #[serde(default)]
    pub output: Option<String>,
    /// Whether a 4xx or 5xx answer fails the action (default `true`); when `false` it is
    /// returned with its status.
    #[serde(default = "yes")]
    pub fail_on_status: bool,
}

fn get() -> HttpMethod {
    HttpMethod::GET
}

fn yes() -> bool {
    true
}

/// A request body: one of `json`, `form`, `multipart`, `raw`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RequestBody {
    /// JSON.
    Json(Value),
    /// A URL-encoded form of scalar fields.
    Form(BTreeMap<String, Value>),
    /// A multipart form.
    Multipart(Vec<MultipartField>),
    /// Text of a given content type.
    Raw {
        /// The text.
        text: String,
        /// Its `Content-Type` (default `text/plain; charset=utf-8`).
        #[serde(default)]
        content_type: Option<String>,
    },
}

/// One field of a multipart form: text, or a file given in base64.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultipartField {
    /// The field name.
    pub name: String,
    /// A text value.
    #[serde(default)]
    pub text: Option<String>,
    /// A file's content, base64.
    #[serde(default)]
    pub base64: Option<String>,
    /// The file's name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// The file's content type.
    #[serde(default)]
    pub content_type: Option<String>,
}

impl RequestInput {
    /// The request this input stands for.
    ///
    /// # Errors
    ///
    /// [`InvalidInput`](aura_core::ErrorKind::InvalidInput) naming the field (`/path/id`,
    /// `/body/multipart/0`, `/query/tags`) that cannot go where it must.
    pub fn to_request(&self) -> Result<HttpRequest> {
        let url = expand_path(&self.url, &self.path).map_err(|e| e.with_path_prefix("/path"))?;
        let mut request = HttpRequest::new(self.method.as_method(), url);
        for (name, value) in &self.query {
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    for item in items {
                        request
                            .query
                            .push((name.clone(), text(item, &format!("/query/{name}"))?));
                    }
                }
                other => request
                    .query
                    .push((name.clone(), text(other, &format!("/query/{name}"))?)),
            }
        }
        request.headers = self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        request.body = match &self.body {
            None => Body::Empty,
            Some(RequestBody::Json(value)) => Body::Json(value.clone()),
            Some(RequestBody::Form(fields)) => Body::Form(
                fields
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| Ok((k.clone(), text(v, &format!("/body/form/{k}"))?)))
                    .collect::<Result<_>>()?,
            ),
            Some(RequestBody::Multipart(fields)) => Body::Multipart(
                fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| part(i, f))
                    .collect::<Result<_>>()?,
            ),
            Some(RequestBody::Raw { text, content_type }) => Body::Raw {
                content_type: content_type
                    .clone()
                    .unwrap_or_else(|| "text/plain; charset=utf-8".into()),
                bytes: bytes::Bytes::from(text.clone()),
            },
        };
        Ok(request)
    }
}

fn text(value: &Value, at: &str) -> Result<String> {
    scalar_text(value).ok_or_else(|| {
        Error::invalid_input(
            "a value cannot go in a URL or form",
            vec![Violation::new(at, "is a string, number or boolean")],
        )
    })
}

fn part(i: usize, f: &MultipartField) -> Result<Part> {
    let at = format!("/body/multipart/{i}");
    let bytes = match (&f.text, &f.base64) {
        (Some(t), None) => bytes::Bytes::from(t.clone()),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(bytes::Bytes::from)
            .map_err(|_| {
                Error::invalid_input(
                    "a file is not base64",
                    vec![Violation::new(format!("{at}/base64"), "is not base64")],
                )
            })?,
        _ => {
            return Err(Error::invalid_input(
                "a multipart field has a `text` or a `base64` file",
                vec![Violation::new(at, "has `text` or `base64` (one of them)")],
            ));
        }
    };
    Ok(Part {
        name: f.name.clone(),
        file_name: f.file_name.clone(),
        content_type: f.content_type.clone(),
        bytes,
    })
}
