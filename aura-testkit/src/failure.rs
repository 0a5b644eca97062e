//! [`Failure`]: an error to inject, reusable across calls.

use std::time::Duration;

use aura_core::{Error, ErrorKind};

/// An error a mock produces on demand. Converts from an [`ErrorKind`]; build a richer one
/// (a rate limit with `Retry-After`, an upstream status) with the constructors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    kind: ErrorKind,
    message: String,
    retry_after: Option<Duration>,
    status: Option<u16>,
}

impl Failure {
    /// A failure of `kind` with a default message.
    pub fn kind(kind: ErrorKind) -> Self {
        Self {
            kind,
            message: format!("injected {kind} failure"),
            retry_after: None,
            status: None,
        }
    }

    /// HTTP 429 with an optional `Retry-After`.
    pub fn rate_limited(retry_after: Option<Duration>) -> Self {
        Self {
            retry_after,
            status: Some(429),
            ..Self::kind(ErrorKind::RateLimited)
        }
    }

    /// An upstream HTTP error status (5xx are retryable, 4xx are not).
    pub fn upstream(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::kind(ErrorKind::Upstream)
        }
    }

    /// Sets the message.
    #[must_use]
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The error, freshly built.
    pub fn to_error(&self) -> Error {
        let err = match (self.kind, self.status) {
            (ErrorKind::Upstream, Some(status)) => Error::upstream(status, &self.message),
            (kind, _) => Error::new(kind, self.message.clone()),
        };
        let err = err.with_retry_after(self.retry_after);
        match self.status {
            Some(status) => err.with_status(status),
            None => err,
        }
    }
}

impl From<ErrorKind> for Failure {
    fn from(kind: ErrorKind) -> Self {
        Self::kind(kind)
    }
}
