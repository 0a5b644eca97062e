//! Webhook triggers: the service calls us.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::TriggerItem;
use crate::context::Context;
use crate::error::{Error, Result, Violation};

/// An incoming webhook request, as the receiver got it.
#[derive(Clone, Debug)]
pub struct WebhookRequest {
    /// The method.
    pub method: Method,
    /// The path the request came to.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as received (signatures are computed over these bytes).
    pub body: Bytes,
}

impl WebhookRequest {
    /// A request with `method` to `path`, no query, no headers and an empty body, to fill in
    /// and [`build`](WebhookRequestBuilder::build).
    pub fn builder(method: Method, path: impl Into<String>) -> WebhookRequestBuilder {
        WebhookRequestBuilder {
            request: Self {
                method,
                path: path.into(),
                query: None,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            violations: Vec::new(),
        }
    }

    /// A POST to `path` with a body and no headers, to add headers to and
    /// [`build`](WebhookRequestBuilder::build).
    ///
    /// ```
    /// use aura_core::trigger::WebhookRequest;
    ///
    /// let request = WebhookRequest::post("/hooks/crm", r#"{"id": 1}"#)
    ///     .header("x-signature", "abc")
    ///     .build()?;
    /// assert_eq!(request.header_str("x-signature"), Some("abc"));
    ///
    /// let err = WebhookRequest::post("/hooks/crm", "").header("x-token", "line\nbreak").build().unwrap_err();
    /// assert_eq!(err.context_value("header"), Some("x-token"));
    /// # Ok::<(), aura_core::Error>(())
    /// ```
    pub fn post(path: impl Into<String>, body: impl Into<Bytes>) -> WebhookRequestBuilder {
        Self::builder(Method::POST, path).body(body)
    }

    /// A header's value as text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON into `T`; a failure names the bad path, never the body.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de).map_err(|e| {
            Error::invalid_input(
                "the webhook body is not the expected JSON",
                vec![Violation::new(
                    crate::error::json_pointer(e.path()),
                    e.inner().classify_message(),
                )],
            )
        })
    }
}

/// Builds a [`WebhookRequest`]; made by [`WebhookRequest::builder`] or [`WebhookRequest::post`].
/// A header that is not valid HTTP is reported by [`build`](Self::build), never dropped.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct WebhookRequestBuilder {
    request: WebhookRequest,
    /// The headers that were not valid HTTP, by name; their values are never kept.
    violations: Vec<Violation>,
}

impl WebhookRequestBuilder {
    /// Adds a header. A name or value that is not valid HTTP makes [`build`](Self::build) fail,
    /// naming the header (never its value).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (http::HeaderName::try_from(name), http::HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.request.headers.append(n, v);
            }
            (Err(_), _) => self
                .violations
                .push(Violation::new(header_pointer(name), "is not a valid HTTP header name")),
            (Ok(_), Err(_)) => self.violations.push(Violation::new(
                header_pointer(name),
                "has a value that is not valid in an HTTP header",
            )),
        }
        self
    }

    /// Sets the raw query string (without `?`).
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.request.query = Some(query.into());
        self
    }

    /// Sets the raw body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.request.body = body.into();
        self
    }

    /// The request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) when a header was not valid
    /// HTTP: one violation per bad header at `/headers/<name>`, and the first bad header's name
    /// in the context `header`. Header values never appear in the error.
    pub fn build(self) -> Result<WebhookRequest> {
        let Some(first) = self.violations.first() else {
            return Ok(self.request);
        };
        let name = unpointer(&first.path);
        Err(
            Error::invalid_input("a webhook request header is not valid HTTP", self.violations.clone())
                .with_context("header", name),
        )
    }
}

/// `/headers/<name>`, with `~` and `/` escaped as a JSON pointer wants.
fn header_pointer(name: &str) -> String {
    format!("/headers/{}", name.replace('~', "~0").replace('/', "~1"))
}

/// The name back from [`header_pointer`].
fn unpointer(pointer: &str) -> String {
    pointer
        .trim_start_matches("/headers/")
        .replace("~1", "/")
        .replace("~0", "~")
}

trait Classify {
    fn classify_message(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_message(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "could not be read",
            serde_json::error::Category::Syntax => "is not valid JSON",
            serde_json::error::Category::Data => "has the wrong shape",
            serde_json::error::Category::Eof => "ends too early",
        }
    }
}

/// A direct answer to a webhook request (a handshake).
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookReply {
    /// The status.
    pub status: StatusCode,
    /// The content type.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

impl WebhookReply {
    /// `200 OK` with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "text/plain; charset=utf-8".to_owned(),
            body: Bytes::from(body.into()),
        }
    }

    /// `200 OK` with a JSON body.
    pub fn json(body: &Value) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "application/json".to_owned(),
            body: Bytes::from(body.to_string()),
        }
    }
}

/// A trigger fed by the service calling us.
///
/// [`verify`](Self::verify) rejects forged requests (check a signature with the connection's
/// signing secret), [`parse`](Self::parse) turns a genuine one into items. Services that
/// register hooks through their API implement [`subscribe`](Self::subscribe) and
/// [`unsubscribe`](Self::unsubscribe); services with a verification handshake implement
/// [`handshake`](Self::handshake).
#[async_trait]
pub trait WebhookTrigger: Send + Sync + 'static {
    /// The data of each item.
    type Item: Serialize + JsonSchema + Send;

    /// Checks that the request really comes from the service. The default accepts everything;
    /// fail with [`crate::ErrorKind::Unauthorized`] to reject.
    async fn verify(&self, cx: &Context, request: &WebhookRequest) -> Result<()> {
        let _ = (cx, request);
        Ok(())
    }

    /// Answers a verification handshake directly, without starting anything.
    fn handshake(&self, request: &WebhookRequest) -> Option<WebhookReply> {
        let _ = request;
        None
    }

    /// Turns a verified request into items (one request may carry several events).
    fn parse(&self, request: &WebhookRequest) -> Result<Vec<TriggerItem<Self::Item>>>;

    /// Registers `target_url` with the service; returns what to keep for unsubscribing.
    async fn subscribe(&self, cx: &Context, target_url: &str) -> Result<Option<Value>> {
        let _ = (cx, target_url);
        Ok(None)
    }

    /// Removes a registration.
    async fn unsubscribe(&self, cx: &Context, subscription: &Value) -> Result<()> {
        let _ = (cx, subscription);
        Ok(())
    }
}

#[async_trait]
pub(super) trait ErasedWebhook: Send + Sync {
    async fn verify(&self, cx: &Context, request: &WebhookRequest) -> Result<()>;
    fn handshake(&self, request: &WebhookRequest) -> Option<WebhookReply>;
    fn parse(&self, request: &WebhookRequest) -> Result<Vec<TriggerItem>>;
    async fn subscribe(&self, cx: &Context, target_url: &str) -> Result<Option<Value>>;
    async fn unsubscribe(&self, cx: &Context, subscription: &Value) -> Result<()>;
}

#[async_trait]
impl<W: WebhookTrigger> ErasedWebhook for W {
    async fn verify(&self, cx: &Context, request: &WebhookRequest) -> Result<()> {
        WebhookTrigger::verify(self, cx, request).await
    }

    fn handshake(&self, request: &WebhookRequest) -> Option<WebhookReply> {
        WebhookTrigger::handshake(self, request)
    }

    fn parse(&self, request: &WebhookRequest) -> Result<Vec<TriggerItem>> {
        WebhookTrigger::parse(self, request)?
            .into_iter()
            .map(TriggerItem::into_json)
            .collect()
    }

    async fn subscribe(&self, cx: &Context, target_url: &str) -> Result<Option<Value>> {
        WebhookTrigger::subscribe(self, cx, target_url).await
    }

    async fn unsubscribe(&self, cx: &Context, subscription: &Value) -> Result<()> {
        WebhookTrigger::unsubscribe(self, cx, subscription).await
    }
}
