//! One error type for all of aura-core.
//!
//! An [`Error`] has a [`ErrorKind`] that says what went wrong and whether a retry can help
//! ([`Error::is_retryable`], [`Error::retry_after`]), a human message, the context that names
//! *where* it went wrong (scenario, node, app, action, field …) and, for invalid input, every
//! offending field as a JSON pointer ([`Violation`]).
//!
//! Errors never carry secrets: messages are written by Aura or by connector authors, schema
//! violations are reported without the offending values, and upstream bodies are cut to a short
//! excerpt.

mod http;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

pub use self::http::{
    CheckedResponse, ResponseCheck, StatusOnly, error_for_response, parse_retry_after, read_response,
    read_response_parts,
};

/// A `Result` whose error is Aura's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is. Decides whether a retry can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The data given to an action, trigger or node does not fit its schema; see
    /// [`Error::violations`] for every bad field. Permanent.
    InvalidInput,
    /// A definition (app manifest, action, scenario, schedule …) is wrong. Permanent.
    InvalidDefinition,
    /// Something named does not exist: an app, action, connection, remote record. Permanent.
    NotFound,
    /// The credentials were missing, wrong or expired (HTTP 401). Permanent unless renewed.
    Unauthorized,
    /// The credentials are valid but not allowed to do this (HTTP 403). Permanent.
    Forbidden,
    /// Too many requests (HTTP 429); [`Error::retry_after`] says how long to wait when known.
    RateLimited,
    /// The operation took too long (or HTTP 408). Retryable.
    Timeout,
    /// The service or resource is temporarily unavailable (network failure, HTTP 503). Retryable.
    Unavailable,
    /// The remote service answered with an error status; see [`Error::status`] and
    /// [`Error::body_excerpt`]. Retryable for 5xx, permanent otherwise.
    Upstream,
    /// The operation conflicts with the current state (duplicate registration, HTTP 409).
    Conflict,
    /// The operation was cancelled by its caller.
    Cancelled,
    /// A bug or an unexpected state inside Aura or a connector. Permanent.
    Internal,
}

/// Every kind with its stable name: the one list [`ErrorKind::as_str`] and
/// [`ErrorKind::from_str`](std::str::FromStr::from_str) both read, so a new kind cannot be
/// written one way and read back as another.
const KIND_NAMES: [(ErrorKind, &str); 12] = [
    (ErrorKind::InvalidInput, "invalid_input"),
    (ErrorKind::InvalidDefinition, "invalid_definition"),
    (ErrorKind::NotFound, "not_found"),
    (ErrorKind::Unauthorized, "unauthorized"),
    (ErrorKind::Forbidden, "forbidden"),
    (ErrorKind::RateLimited, "rate_limited"),
    (ErrorKind::Timeout, "timeout"),
    (ErrorKind::Unavailable, "unavailable"),
    (ErrorKind::Upstream, "upstream"),
    (ErrorKind::Conflict, "conflict"),
    (ErrorKind::Cancelled, "cancelled"),
    (ErrorKind::Internal, "internal"),
];

impl ErrorKind {
    /// Every kind, in declaration order.
    pub fn all() -> impl ExactSizeIterator<Item = ErrorKind> {
        KIND_NAMES.iter().map(|(k, _)| *k)
    }

    /// A short lowercase name, stable across releases (used in logs and execution records).
    /// [`str::parse`] reads it back.
    ///
    /// ```
    /// use aura_core::ErrorKind;
    /// for kind in ErrorKind::all() {
    ///     assert_eq!(kind.as_str().parse::<ErrorKind>(), Ok(kind));
    /// }
    /// assert!("no_such_kind".parse::<ErrorKind>().is_err());
    /// ```
    pub fn as_str(self) -> &'static str {
        KIND_NAMES
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("internal", |(_, name)| name)
    }

    /// Whether errors of this kind are temporary: trying again (later, or elsewhere) can help.
    fn is_temporary(self) -> bool {
        matches!(self, Self::RateLimited | Self::Timeout | Self::Unavailable)
    }
}

/// A name that is not one of [`ErrorKind::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error kind `{0}`")]
pub struct UnknownErrorKind(pub String);

impl std::str::FromStr for ErrorKind {
    type Err = UnknownErrorKind;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        KIND_NAMES
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| UnknownErrorKind(s.to_owned()))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that failed validation: where (a JSON pointer such as `/contact/email`) and why.
///
/// The message never repeats the offending value, so that a secret or personal datum typed
/// into the wrong field cannot leak into logs or execution records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// JSON pointer to the bad field (`""` is the whole document).
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Violation {
    /// A violation at `path` (a JSON pointer) with a message.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "/" } else { &self.path };
        write!(f, "{path}: {}", self.message)
    }
}

/// The error of every fallible operation in aura-core.
///
/// Build one with the constructor named after its kind and add where it happened with
/// [`Error::with_context`]:
///
/// ```
/// use aura_core::{Error, ErrorKind};
///
/// let err = Error::not_found("no such action")
///     .with_context("app", "crm")
///     .with_context("action", "create_contact");
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.to_string(), "not_found: no such action (app: crm, action: create_contact)");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Cow<'static, str>,
    context: Vec<(&'static str, String)>,
    violations: Vec<Violation>,
    retry_after: Option<Duration>,
    status: Option<u16>,
    body_excerpt: Option<String>,
    not_sent: bool,
    persistent: bool,
    source: Option<BoxError>,
}

/// How many bytes of an upstream response body an error keeps.
pub const BODY_EXCERPT_LIMIT: usize = 512;

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                context: Vec::new(),
                violations: Vec::new(),
                retry_after: None,
                status: None,
                body_excerpt: None,
                not_sent: false,
                persistent: false,
                source: None,
            }),
        }
    }

    /// Invalid input, listing every bad field.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>, violations: Vec<Violation>) -> Self {
        let mut err = Self::new(ErrorKind::InvalidInput, message);
        err.inner.violations = violations;
        err
    }

    /// An invalid definition (manifest, action, scenario …).
    pub fn invalid_definition(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidDefinition, message)
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// Missing, wrong or expired credentials.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }

    /// Valid credentials without the right to do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// Rate limited; `retry_after` is how long the service asked us to wait, when it said.
    pub fn rate_limited(message: impl Into<Cow<'static, str>>, retry_after: Option<Duration>) -> Self {
        Self::new(ErrorKind::RateLimited, message).with_retry_after(retry_after)
    }

    /// Took too long.
    pub fn timeout(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }

    /// Temporarily unavailable.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The remote service answered `status`; `body` is cut to [`BODY_EXCERPT_LIMIT`] bytes.
    ///
    /// The kind follows the status exactly as [`Error::from_http`] maps it (429 is
    /// [`ErrorKind::RateLimited`], 401 [`ErrorKind::Unauthorized`] …): there is one mapping.
    /// Use [`Error::from_http`] when the headers are at hand, so that `Retry-After` is read.
    ///
    /// ```
    /// use aura_core::{Error, ErrorKind};
    /// assert_eq!(Error::upstream(429, "slow down").kind(), ErrorKind::RateLimited);
    /// assert_eq!(Error::upstream(502, "").kind(), ErrorKind::Upstream);
    /// ```
    pub fn upstream(status: u16, body: &str) -> Self {
        match ::http::StatusCode::from_u16(status) {
            Ok(code) => Self::from_http(code, &::http::HeaderMap::new(), body.as_bytes()),
            Err(_) => Self::upstream_raw(ErrorKind::Upstream, status, body),
        }
    }

    /// An error of `kind` for an answer with `status`, keeping an excerpt of `body`.
    fn upstream_raw(kind: ErrorKind, status: u16, body: &str) -> Self {
        let mut err = Self::new(kind, format!("upstream answered HTTP {status}"));
        err.inner.status = Some(status);
        err.inner.body_excerpt = Some(excerpt(body, BODY_EXCERPT_LIMIT));
        err
    }

    /// Conflicts with the current state.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// Cancelled by the caller.
    pub fn cancelled(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }

    /// A bug or unexpected state.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Adds a `key: value` pair that says where the error happened (`"node"`, `"field"` …).
    #[must_use]
    pub fn with_context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.inner.context.push((key, value.into()));
        self
    }

    /// Sets the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// The same error as another kind: for a connector whose service says more in its error
    /// body than its status does (Anthropic's `529` is `overloaded_error`, a `400` may be
    /// `rate_limit_exceeded`), refining the status mapping while keeping everything else —
    /// the status, `Retry-After`, the scrubbed body excerpt, the context.
    ///
    /// ```
    /// use aura_core::{Error, ErrorKind};
    ///
    /// let err = Error::upstream(529, "overloaded").with_kind(ErrorKind::Unavailable);
    /// assert_eq!(err.kind(), ErrorKind::Unavailable);
    /// assert_eq!(err.status(), Some(529));
    /// assert!(err.is_retryable());
    /// ```
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// Sets how long to wait before trying again.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.inner.retry_after = retry_after;
        self
    }

    /// Sets the HTTP status the failure came with.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Sets the upstream body excerpt (cut to [`BODY_EXCERPT_LIMIT`] bytes): for errors read
    /// back from a record.
    #[must_use]
    pub(crate) fn with_body_excerpt(mut self, body: String) -> Self {
        self.inner.body_excerpt = Some(excerpt(&body, BODY_EXCERPT_LIMIT));
        self
    }

    /// Marks the error as one that proves the request never left this process or never
    /// reached the service (connect failure, DNS failure, refused before anything was written),
    /// so that even an operation that is not idempotent may be tried again.
    /// See [`Error::may_have_been_accepted`].
    #[must_use]
    pub fn not_sent(mut self) -> Self {
        self.inner.not_sent = true;
        self
    }

    /// Marks the error as *persistent*: it is of a temporary kind, but the retries meant for it
    /// were already spent (a router that failed over every provider, a child scenario whose
    /// node used its retries). [`Error::is_retryable`] is then false, so that the next layer does
    /// not run the whole retried operation again; the kind, status and `retry_after` stay.
    #[must_use]
    pub fn persistent(mut self) -> Self {
        self.inner.persistent = true;
        self
    }

    /// Sets the list of violations (for [`ErrorKind::InvalidDefinition`] errors that collect
    /// every problem of a definition, each with its path).
    #[must_use]
    pub fn with_violations(mut self, violations: Vec<Violation>) -> Self {
        self.inner.violations = violations;
        self
    }

    /// Prefixes every violation's path with `prefix` (a JSON pointer), for errors that bubble up
    /// from a nested document.
    #[must_use]
    pub fn with_path_prefix(mut self, prefix: &str) -> Self {
        for v in &mut self.inner.violations {
            v.path = format!("{prefix}{}", v.path);
        }
        self
    }

    /// Replaces every secret `scrubber` knows, in any of its forms, with `[redacted]`: in the
    /// message, context, violations and body excerpt, and down the whole [`source`] chain (a
    /// nested Aura error is scrubbed in place; any other cause whose `Display` or `Debug` holds a
    /// secret is replaced by its scrubbed text, chain included). For errors built from text a
    /// service sent back.
    ///
    /// [`source`]: std::error::Error::source
    pub(crate) fn scrub_secrets(&mut self, scrubber: &crate::secret::Scrubber) {
        if scrubber.is_empty() {
            return;
        }
        let inner = &mut *self.inner;
        let mut message = inner.message.to_string();
        if scrubber.scrub_in_place(&mut message) {
            inner.message = message.into();
        }
        for (_, v) in &mut inner.context {
            scrubber.scrub_in_place(v);
        }
        for v in &mut inner.violations {
            scrubber.scrub_in_place(&mut v.message);
        }
        if let Some(body) = &mut inner.body_excerpt {
            scrubber.scrub_in_place(body);
        }
        if let Some(source) = &mut inner.source {
            if let Some(nested) = source.downcast_mut::<Error>() {
                nested.scrub_secrets(scrubber);
            } else if let Some(clean) = crate::secret::ScrubbedCause::of(&**source, scrubber) {
                *source = Box::new(clean);
            }
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The message, without context.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Where it happened, in the order the context was added.
    pub fn context(&self) -> &[(&'static str, String)] {
        &self.inner.context
    }

    /// The value of one context key, if set.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.inner
            .context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every bad field, for [`ErrorKind::InvalidInput`].
    pub fn violations(&self) -> &[Violation] {
        &self.inner.violations
    }

    /// The HTTP status the failure came with, if any.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The start of the upstream response body, for [`ErrorKind::Upstream`].
    pub fn body_excerpt(&self) -> Option<&str> {
        self.inner.body_excerpt.as_deref()
    }

    /// Whether trying again (later, or elsewhere) can succeed.
    ///
    /// True for rate limits, timeouts, unavailability and upstream 5xx/408 answers, unless the
    /// error is [persistent](Error::persistent) (its retries were already spent).
    ///
    /// Whether a retry is *safe* is a second question, for operations that are not idempotent:
    /// see [`Error::may_have_been_accepted`].
    pub fn is_retryable(&self) -> bool {
        !self.inner.persistent && self.is_temporary()
    }

    /// Whether the error is of a temporary kind, whether or not its retries were spent.
    fn is_temporary(&self) -> bool {
        match self.inner.kind {
            ErrorKind::Upstream => self.inner.status.is_some_and(|s| s >= 500 || s == 408),
            kind => kind.is_temporary(),
        }
    }

    /// Whether the retries meant for this error were already spent ([`Error::persistent`]).
    pub fn is_persistent(&self) -> bool {
        self.inner.persistent
    }

    /// Whether the request that failed may have been accepted (and acted on) by the service.
    ///
    /// The one rule the executor's retries and the router's failover both follow: an operation
    /// that is not idempotent (and carries no idempotency key the service honours) is tried
    /// again only when this is false.
    ///
    /// | error | may have been accepted |
    /// | --- | --- |
    /// | marked [`not_sent`](Error::not_sent) (connect or DNS failure, refused before writing) | no |
    /// | [`RateLimited`](ErrorKind::RateLimited) (HTTP 429: the service refused it) | no |
    /// | an answer with a 4xx status other than 408, and refusals (`InvalidInput`, `NotFound`, `Unauthorized`, `Forbidden`, `Conflict`, `InvalidDefinition`) | no |
    /// | `Timeout`, `Unavailable` (including HTTP 503), `Upstream` 5xx, `Internal`, `Cancelled` | **yes** |
    ///
    /// ```
    /// use aura_core::Error;
    /// assert!(Error::upstream(503, "").may_have_been_accepted());
    /// assert!(Error::timeout("no answer").may_have_been_accepted());
    /// assert!(!Error::unavailable("connection refused").not_sent().may_have_been_accepted());
    /// assert!(!Error::rate_limited("slow down", None).may_have_been_accepted());
    /// ```
    pub fn may_have_been_accepted(&self) -> bool {
        if self.inner.not_sent {
            return false;
        }
        let refused_by_status = self.inner.status.is_some_and(|s| (400..500).contains(&s) && s != 408);
        match self.inner.kind {
            ErrorKind::RateLimited
            | ErrorKind::InvalidInput
            | ErrorKind::InvalidDefinition
            | ErrorKind::NotFound
            | ErrorKind::Unauthorized
            | ErrorKind::Forbidden
            | ErrorKind::Conflict => false,
            ErrorKind::Timeout
            | ErrorKind::Unavailable
            | ErrorKind::Upstream
            | ErrorKind::Cancelled
            | ErrorKind::Internal => !refused_by_status,
        }
    }

    /// Whether the error was marked [`not_sent`](Error::not_sent).
    pub fn is_not_sent(&self) -> bool {
        self.inner.not_sent
    }

    /// How long the failing service asked us to wait before the next try, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
}

/// Cuts `body` to at most `limit` bytes on a character boundary, marking the cut.
fn excerpt(body: &str, limit: usize) -> String {
    if body.len() <= limit {
        return body.to_owned();
    }
    let mut end = limit;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &body[..end], body.len())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        write!(f, "{}: {}", inner.kind, inner.message)?;
        if !inner.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in inner.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        if let Some(after) = inner.retry_after {
            write!(f, "; retry after {after:?}")?;
        }
        for v in &inner.violations {
            write!(f, "\n  - {v}")?;
        }
        if let Some(body) = &inner.body_excerpt
            && !body.is_empty()
        {
            write!(f, "\n  body: {body}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &inner.kind).field("message", &inner.message);
        if !inner.context.is_empty() {
            d.field("context", &inner.context);
        }
        if !inner.violations.is_empty() {
            d.field("violations", &inner.violations);
        }
        if let Some(after) = inner.retry_after {
            d.field("retry_after", &after);
        }
        if let Some(status) = inner.status {
            d.field("status", &status);
        }
        if let Some(body) = &inner.body_excerpt {
            d.field("body_excerpt", body);
        }
        if inner.not_sent {
            d.field("not_sent", &true);
        }
        if inner.persistent {
            d.field("persistent", &true);
        }
        if let Some(source) = &inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<reqwest::Error> for Error {
    /// Network-level failures: timeouts are [`ErrorKind::Timeout`], connection and transport
    /// failures [`ErrorKind::Unavailable`], an unreadable answer [`ErrorKind::Upstream`], anything
    /// else [`ErrorKind::Internal`]. Only a failure to connect (which covers DNS) is marked
    /// [`not_sent`](Error::not_sent): a connection that broke after the request was written may
    /// have delivered it. The URL is dropped because query strings can carry API keys.
    fn from(err: reqwest::Error) -> Self {
        let err = err.without_url();
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else if err.is_connect() || err.is_request() || err.is_body() {
            ErrorKind::Unavailable
        } else if err.is_decode() {
            ErrorKind::Upstream
        } else {
            ErrorKind::Internal
        };
        // A connect timeout is a connect error too: nothing was written.
        let not_sent = err.is_connect();
        let status = err.status().map(|s| s.as_u16());
        let mut out = Self::new(kind, "HTTP request failed").with_source(err);
        out.inner.status = status;
        out.inner.not_sent = not_sent;
        out
    }
}

/// A serde path (`contact.emails[0]`) as a JSON pointer (`/contact/emails/0`).
pub(crate) fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
