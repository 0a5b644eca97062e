//! [`HttpPolicy`]: how a request is sent — timeout, redirects, response size, SSRF guard, and
//! the one mapping of answers to errors.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

use super::request::{Body, HttpRequest};
use crate::context::Context;
use crate::error::{Error, ErrorKind, ResponseCheck, Result};
use crate::http_client::PerRuntimeClient;
use crate::net::SsrfGuard;

/// The default time a request may take, redirects and body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default largest answer read (16 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;
/// The default number of redirects followed.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;

/// How requests are sent: one policy for every HTTP-speaking app (the generic `http` app,
/// manifest and OpenAPI apps, vendor connectors).
///
/// - **Credentials**: the context's connection authorises each request when it is sent (and
///   renews them once on a 401); a redirect to another origin goes without them, and without
///   the request's own `Authorization`, `Cookie` and `Proxy-Authorization` headers.
/// - **Redirects**: followed for `GET` and `HEAD` (up to [`DEFAULT_MAX_REDIRECTS`]); for
///   other methods the 3xx answer is returned as it is, unless
///   [`redirect_non_get`](HttpPolicyBuilder::redirect_non_get) is on. `303` (and `301`/`302`
///   after a `POST`) continue as a `GET` without a body, as browsers do.
/// - **SSRF guard**: by default an [`SsrfGuard::new`] refuses private, loopback, link-local
///   and metadata addresses, after DNS resolution (the client connects only to the addresses
///   the guard checked) and on every redirect. A host that must reach its own network says so
///   with [`guard`](HttpPolicyBuilder::guard).
/// - **Limits**: a timeout for the whole exchange ([`DEFAULT_TIMEOUT`]) and a largest answer
///   ([`DEFAULT_MAX_RESPONSE_BYTES`]; a larger one is an error, never a truncated body).
/// - **Errors**: [`send`](HttpPolicy::send) maps failure statuses with
///   [`Error::from_http`] (429 and 503 with `Retry-After`), scrubbed of the connection's
///   secrets, then applies the [`ResponseCheck`] for answers that say "error" with a success
///   status. [`send_unchecked`](HttpPolicy::send_unchecked) returns every answer.
///
/// ```no_run
/// use aura_core::http::{HttpPolicy, HttpRequest};
/// use aura_core::net::SsrfGuard;
/// use aura_core::Context;
///
/// # async fn demo() -> aura_core::Result<()> {
/// let policy = HttpPolicy::builder()
///     .timeout(std::time::Duration::from_secs(10))
///     .guard(SsrfGuard::new().allow_host("api.internal"))
///     .build();
/// let answer = policy.send(&Context::new(), &HttpRequest::get("https://api.example.com/v1/me")).await?;
/// let me = answer.json()?;
/// # let _ = me; Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpPolicy {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    timeout: Option<Duration>,
    max_response_bytes: usize,
    max_redirects: usize,
    redirect_non_get: bool,
    guard: Option<SsrfGuard>,
    check: Option<Arc<dyn ResponseCheck>>,
    clients: Arc<PerRuntimeClient>,
}

/// Builds an [`HttpPolicy`]; see there for the defaults.
#[must_use]
pub struct HttpPolicyBuilder {
    timeout: Option<Duration>,
    max_response_bytes: usize,
    max_redirects: usize,
    redirect_non_get: bool,
    guard: Option<SsrfGuard>,
    check: Option<Arc<dyn ResponseCheck>>,
}

impl Default for HttpPolicy {
    fn default() -> Self {
        Self::builder().build()
    }
}

impl fmt::Debug for HttpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &*self.inner;
        f.debug_struct("HttpPolicy")
            .field("timeout", &i.timeout)
            .field("max_response_bytes", &i.max_response_bytes)
            .field("max_redirects", &i.max_redirects)
            .field("redirect_non_get", &i.redirect_non_get)
            .field("guard", &i.guard)
            .field("check", &i.check.is_some())
            .finish()
    }
}

impl HttpPolicyBuilder {
    /// The time a whole exchange may take (`None`: no limit).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// The largest answer read, in bytes.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How many redirects to follow (0: none).
    pub fn max_redirects(mut self, redirects: usize) -> Self {
        self.max_redirects = redirects;
        self
    }

    /// Whether redirects are followed for methods other than `GET` and `HEAD` too.
    pub fn redirect_non_get(mut self, follow: bool) -> Self {
        self.redirect_non_get = follow;
        self
    }

    /// The guard that decides which addresses may be reached.
    pub fn guard(mut self, guard: SsrfGuard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// No guard: every address may be reached (a host whose URLs all come from its own code).
    pub fn unguarded(mut self) -> Self {
        self.guard = None;
        self
    }

    /// Classifies answers that say "error" with a success status.
    pub fn check(mut self, check: impl ResponseCheck + 'static) -> Self {
        self.check = Some(Arc::new(check));
        self
    }

    /// The policy.
    pub fn build(self) -> HttpPolicy {
        let guard = self.guard.clone();
        let timeout = self.timeout;
        let clients = PerRuntimeClient::new(move || {
            let mut builder = match &guard {
                // No redirects and no proxy; connects only to addresses the guard checked.
                Some(guard) => guard.client_builder(),
                None => reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()),
            };
            // On the client, not on each request: a request's own timeout is kept in its
            // extensions, a map allocated per request (and copied by `try_clone`).
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            builder
                .user_agent(concat!("aura/", env!("CARGO_PKG_VERSION")))
                .build()
                // Building fails only when TLS cannot initialise; the default client reports
                // the same failure on first use instead.
                .unwrap_or_default()
        });
        HttpPolicy {
            inner: Arc::new(Inner {
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
                max_redirects: self.max_redirects,
                redirect_non_get: self.redirect_non_get,
                guard: self.guard,
                check: self.check,
                clients: Arc::new(clients),
            }),
        }
    }
}

impl HttpPolicy {
    /// A builder with the defaults (see [`HttpPolicy`]).
    pub fn builder() -> HttpPolicyBuilder {
        HttpPolicyBuilder {
            timeout: Some(DEFAULT_TIMEOUT),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            redirect_non_get: false,
            guard: Some(SsrfGuard::new()),
            check: None,
        }
    }

    /// This policy with another [`ResponseCheck`] (sharing its clients and their pools).
    #[must_use]
    pub fn with_check(&self, check: Arc<dyn ResponseCheck>) -> Self {
        let mut inner = (*self.inner).clone();
        inner.check = Some(check);
        Self { inner: Arc::new(inner) }
    }

    /// The guard, if any.
    pub fn ssrf_guard(&self) -> Option<&SsrfGuard> {
        self.inner.guard.as_ref()
    }

    /// Sends `request` and returns its answer when it is a success; a failure status (and a
    /// success the [`ResponseCheck`] refuses) is the [`Error`] it stands for.
    ///
    /// # Errors
    ///
    /// The mapped status; [`Forbidden`](ErrorKind::Forbidden) from the guard;
    /// [`Timeout`](ErrorKind::Timeout); [`Upstream`](ErrorKind::Upstream) for an answer over
    /// the size limit or too many redirects; [`Unavailable`](ErrorKind::Unavailable) when the
    /// service cannot be reached; [`Cancelled`](ErrorKind::Cancelled).
    pub async fn send(&self, cx: &Context, request: &HttpRequest) -> Result<HttpResponse> {
        let answer = self.send_unchecked(cx, request).await?;
        let status = answer.status;
        if !(status.is_success() || status.is_informational() || status.is_redirection()) {
            return Err(cx.failure(status, &answer.headers, &answer.body));
        }
        if let Some(err) = self
            .inner
            .check
            .as_ref()
            .and_then(|c| c.check(status, &answer.headers, &answer.body))
        {
            return Err(err);
        }
        Ok(answer)
    }

    /// Sends `request` and returns its answer whatever its status (redirects followed as the
    /// policy says).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), except for statuses.
    pub async fn send_unchecked(&self, cx: &Context, request: &HttpRequest) -> Result<HttpResponse> {
        cx.unless_cancelled("the request was cancelled", async {
            // Moved into the read (never borrowed here), the answer takes no room of its own.
            let answer = self.exchange(cx, request).await?;
            self.read(answer).await
        })
        .await
    }

    /// The exchange: every hop, up to the answer that is not a redirect to follow.
    async fn exchange(&self, cx: &Context, request: &HttpRequest) -> Result<reqwest::Response> {
        let client = self.inner.clients.get();
        // The request is copied only when a redirect changes it.
        let mut current = Cow::Borrowed(request);
        // The first hop's URL, kept once a redirect leads on: credentials go only to its
        // origin (the first hop goes to it by definition).
        let mut origin: Option<reqwest::Url> = None;
        let mut hops = 0;
        loop {
            // The built request is never borrowed here, so it takes no room in this future
            // once the future that sends it has it.
            let (built, to_origin) = self.hop(&client, &current, origin.as_ref())?;
            let resp = if to_origin {
                cx.execute(&client, built).await?
            } else {
                Context::send_as_is(&client, built).await?
            };
            let status = resp.status();
            let follow = matches!(current.method, Method::GET | Method::HEAD) || self.inner.redirect_non_get;
            let location = match resp.headers().get(http::header::LOCATION) {
                Some(l) if follow && status.is_redirection() && status != StatusCode::NOT_MODIFIED => l.to_str().ok(),
                _ => None,
            };
            let Some(location) = location else {
                return Ok(resp);
            };
            if hops >= self.inner.max_redirects {
                return Err(Error::new(ErrorKind::Upstream, "the service redirected too many times")
                    .with_status(status.as_u16())
                    .with_context("max_redirects", self.inner.max_redirects.to_string()));
            }
            hops += 1;
            let next = resp.url().join(location).map_err(|_| {
                Error::new(ErrorKind::Upstream, "a redirect's Location does not parse").with_status(status.as_u16())
            })?;
            let first = origin.get_or_insert_with(|| resp.url().clone());
            current = Cow::Owned(redirected(current.into_owned(), status, next, first));
        }
    }

    /// One hop's request, built and checked by the guard, and whether it goes to the first
    /// hop's origin (`origin`, known once a redirect leads on): only then do credentials go
    /// along.
    fn hop(
        &self,
        client: &reqwest::Client,
        request: &HttpRequest,
        origin: Option<&reqwest::Url>,
    ) -> Result<(reqwest::Request, bool)> {
        let built = request.build(client)?;
        if let Some(guard) = &self.inner.guard {
            guard.check_parsed(built.url())?;
        }
        let to_origin = origin.is_none_or(|first| same_origin(first, built.url()));
        Ok((built, to_origin))
    }

    /// Reads an answer whole, within the size limit. A plain function around an `async move`
    /// block: an `async fn` would keep the answer twice (its argument and its binding).
    fn read(&self, mut resp: reqwest::Response) -> impl Future<Output = Result<HttpResponse>> + '_ {
        let limit = self.inner.max_response_bytes;
        async move {
            let too_large = || {
                Error::new(ErrorKind::Upstream, "the answer is larger than the size limit")
                    .with_context("max_response_bytes", limit.to_string())
                    .persistent()
            };
            if resp.content_length().is_some_and(|n| n > limit as u64) {
                return Err(too_large().with_status(resp.status().as_u16()));
            }
            // One chunk (the usual small answer) is kept as it came; more are joined.
            let mut first: Option<Bytes> = None;
            let mut joined: Option<BytesMut> = None;
            let mut len = 0;
            loop {
                let Some(chunk) = resp.chunk().await? else { break };
                len += chunk.len();
                if len > limit {
                    return Err(too_large().with_status(resp.status().as_u16()));
                }
                match (&mut joined, first.take()) {
                    (Some(buf), _) => buf.extend_from_slice(&chunk),
                    (None, None) => first = Some(chunk),
                    (None, Some(earlier)) => {
                        let mut buf = BytesMut::with_capacity(earlier.len() + chunk.len());
                        buf.extend_from_slice(&earlier);
                        buf.extend_from_slice(&chunk);
                        joined = Some(buf);
                    }
                }
            }
            let body = match joined {
                Some(buf) => buf.freeze(),
                None => first.unwrap_or_default(),
            };
            Ok(HttpResponse {
                status: resp.status(),
                headers: std::mem::take(resp.headers_mut()),
                url: resp.url().clone(),
                body,
            })
        }
    }
}

/// The request a redirect leads to: `303` (and `301`/`302` after a `POST`) as a `GET` without
/// a body; credentials-bearing headers dropped when it leaves the first origin.
fn redirected(mut request: HttpRequest, status: StatusCode, next: reqwest::Url, origin: &reqwest::Url) -> HttpRequest {
    let to_get = status == StatusCode::SEE_OTHER
        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND) && request.method == Method::POST);
    if to_get && request.method != Method::HEAD {
        request.method = Method::GET;
        request.body = Body::Empty;
        request.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    }
    if !same_origin(&next, origin) {
        request.headers.retain(|(n, _)| {
            !["authorization", "cookie", "proxy-authorization"]
                .iter()
                .any(|h| n.eq_ignore_ascii_case(h))
        });
    }
    request.url = next.to_string();
    request.query.clear();
    request
}

/// Whether two URLs share scheme, host and port: what decides whether credentials may go
/// along. (Parsed URLs hold their host normalised: lowercase, IDNA applied.)
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme() && a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
}

/// An answer read whole.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// The URL it came from (after redirects).
    pub url: reqwest::Url,
    /// Its body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The body as JSON; an empty body is `null`.
    ///
    /// # Errors
    ///
    /// [`Upstream`](ErrorKind::Upstream) when the body is not JSON (the service did not answer
    /// what it documents).
    pub fn json(&self) -> Result<Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(ErrorKind::Upstream, "the answer is not JSON")
                .with_status(self.status.as_u16())
                .with_source(e)
        })
    }

    /// The body as a value: JSON when the `Content-Type` says JSON (an error when it does not
    /// parse) or when it parses anyway; otherwise the text (a `text/plain` "pong"); an empty
    /// body is `null`.
    ///
    /// # Errors
    ///
    /// [`Upstream`](ErrorKind::Upstream) for a body declared JSON that is not.
    pub fn value(&self) -> Result<Value> {
        let declared_json = self.header("content-type").is_some_and(|ct| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            let ends_json = essence
                .as_bytes()
                .split_at_checked(essence.len().saturating_sub(5))
                .is_some_and(|(_, end)| end.eq_ignore_ascii_case(b"+json"));
            essence.eq_ignore_ascii_case("application/json") || ends_json
        });
        if declared_json {
            return self.json();
        }
        Ok(self.json().unwrap_or_else(|_| Value::String(self.text())))
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
