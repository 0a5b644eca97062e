//! What a routed call gives back: [`Routed`], [`Broadcast`], [`RouteError`].

use std::fmt;

use aura_core::{Error, ErrorKind, Result};
use serde_json::Value;

use crate::decision::Decision;
use crate::provider::ProviderId;

/// A routed call's answer: the value, the provider that gave it, and the decision record.
#[derive(Debug)]
pub struct Routed {
    /// What the provider returned.
    pub value: Value,
    /// Who answered.
    pub provider: ProviderId,
    /// How the router got there.
    pub decision: Decision,
}

/// The answers of [`Router::execute_all`](crate::Router::execute_all): one per provider that was called, in the order
/// they were started, and the decision record.
#[derive(Debug)]
pub struct Broadcast {
    /// Each provider's answer or error (a timeout for those the deadline cut off).
    pub results: Vec<(ProviderId, Result<Value>)>,
    /// How the router got there.
    pub decision: Decision,
}

/// A routed call that failed: the error (the last attempt's, or why none could be made) and
/// the decision record that explains it. Converts into an [`aura_core::Error`] with `?`.
pub struct RouteError {
    pub(super) error: Error,
    pub(super) decision: Box<Decision>,
}

impl RouteError {
    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.error.kind()
    }

    /// The decision record.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// The error, without the record.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// Both parts.
    pub fn into_parts(self) -> (Error, Decision) {
        (self.error, *self.decision)
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteError")
            .field("error", &self.error)
            .field("decision", &self.decision)
            .finish()
    }
}

impl std::error::Error for RouteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<RouteError> for Error {
    fn from(err: RouteError) -> Self {
        err.error
    }
}
