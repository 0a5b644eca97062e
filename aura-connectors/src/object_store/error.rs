//! `object_store::Error` to [`aura_core::Error`]: the one mapping, secrets scrubbed.

use std::error::Error as StdError;

use ::object_store as store;
use aura_core::secret::Scrubber;
use aura_core::{Error, ErrorKind};
use store::client::{HttpError, HttpErrorKind};

/// Maps a driver error. `key` is the object the operation was about (named in the context),
/// `scrubber` holds the connection's secrets (no driver text leaves without passing it).
///
/// | object_store | aura |
/// | --- | --- |
/// | `NotFound` | `NotFound`, naming the key |
/// | `AlreadyExists`, `Precondition`, `NotModified` | `Conflict` |
/// | `Unauthenticated` | `Unauthorized` |
/// | `PermissionDenied` | `Forbidden` |
/// | `InvalidPath`, `NotSupported`, `NotImplemented`, `UnknownConfigurationKey` | `InvalidInput` |
/// | `Generic` with a transport failure inside | `Unavailable` (connect, request, interrupted), `Timeout` |
/// | `Generic` with an HTTP status inside | by status, as every HTTP error (429 `RateLimited`, 5xx `Upstream` retryable …) |
/// | anything else | `Upstream` |
pub(crate) fn from_object_store(err: store::Error, key: Option<&str>, scrubber: &Scrubber) -> Error {
    let text = scrubbed(&err.to_string(), scrubber);
    let named = |what: &str| match key {
        Some(key) => format!("{what} `{key}`"),
        None => what.to_owned(),
    };
    let mapped = match &err {
        store::Error::NotFound { .. } => match key {
            Some(key) => Error::not_found(format!("no object `{key}`")),
            None => Error::not_found("the bucket (or container, or root directory) does not exist"),
        },
        store::Error::AlreadyExists { .. } => Error::conflict(format!("{} already exists", named("object"))),
        store::Error::Precondition { .. } | store::Error::NotModified { .. } => {
            Error::conflict(format!("{}: a precondition failed: {text}", named("object")))
        }
        store::Error::Unauthenticated { .. } => {
            Error::unauthorized(format!("the store refused the credentials: {text}"))
        }
        store::Error::PermissionDenied { .. } => Error::forbidden(format!("the credentials may not do this: {text}")),
        store::Error::InvalidPath { .. } => invalid(format!("an invalid object key: {text}")),
        store::Error::NotSupported { .. }
        | store::Error::NotImplemented { .. }
        | store::Error::UnknownConfigurationKey { .. } => invalid(format!("not supported by this store: {text}")),
        store::Error::Generic { .. } => generic(&err, &text),
        _ => Error::new(ErrorKind::Upstream, format!("the object store failed: {text}")),
    };
    match key {
        Some(key) => mapped.with_context("key", key),
        None => mapped,
    }
}

fn invalid(message: String) -> Error {
    Error::invalid_input(message, vec![])
}

/// A `Generic` error: a transport failure, an HTTP status, or neither.
fn generic(err: &store::Error, text: &str) -> Error {
    if let Some(kind) = transport_kind(err) {
        return match kind {
            HttpErrorKind::Timeout => Error::timeout(format!("the object store did not answer in time: {text}")),
            HttpErrorKind::Connect | HttpErrorKind::Request | HttpErrorKind::Interrupted => {
                Error::unavailable(format!("the object store cannot be reached: {text}"))
            }
            _ => Error::new(
                ErrorKind::Upstream,
                format!("the object store's answer was unreadable: {text}"),
            ),
        };
    }
    match status_in(text) {
        Some(status) => {
            let err = Error::upstream(status, text);
            let message = format!("the object store answered HTTP {status}: {text}");
            // Keep the kind the one HTTP mapping chose (429 RateLimited, 5xx retryable …).
            Error::new(err.kind(), message).with_status(status)
        }
        None => Error::new(ErrorKind::Upstream, format!("the object store failed: {text}")),
    }
}

/// The transport failure inside, if any: object_store exposes it as [`HttpError`] in the
/// source chain.
fn transport_kind(err: &store::Error) -> Option<HttpErrorKind> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = next {
        if let Some(http) = current.downcast_ref::<HttpError>() {
            return Some(http.kind());
        }
        next = current.source();
    }
    None
}

/// The status of an HTTP answer object_store refused: its retry error is not public, so the
/// status is read from its text (`Server returned non-2xx status code: 503 Service
/// Unavailable: …`).
pub(crate) fn status_in(text: &str) -> Option<u16> {
    const MARK: &str = "status code: ";
    let at = text.find(MARK)? + MARK.len();
    let digits = text.get(at..at + 3)?;
    let status: u16 = digits.parse().ok()?;
    (100..600).contains(&status).then_some(status)
}

/// `text` with every secret of the connection replaced.
pub(crate) fn scrubbed(text: &str, scrubber: &Scrubber) -> String {
    scrubber.scrub(text).unwrap_or_else(|| text.to_owned())
}
