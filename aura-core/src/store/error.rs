//! [`ErrorRecord`]: an error as stored, lossless, so that it reads back as the same error.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Violation};

/// An error as recorded: kind, message, where, the bad fields, and what the next layer needs to
/// decide whether to try again (status, `Retry-After`, whether the request was sent, whether its
/// retries were spent). [`ErrorRecord::to_error`] gives the same error back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// The kind (`"rate_limited"` …).
    pub kind: String,
    /// The message.
    pub message: String,
    /// Where it happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<(String, String)>,
    /// The bad fields, for invalid input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
    /// Whether a retry could have helped.
    pub retryable: bool,
    /// The HTTP status the failure came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The start of the upstream response body (secrets redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
    /// How long the service asked to wait before the next try.
    #[serde(
        default,
        rename = "retry_after_ms",
        skip_serializing_if = "Option::is_none",
        with = "opt_millis"
    )]
    pub retry_after: Option<Duration>,
    /// The request provably never reached the service ([`Error::not_sent`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_sent: bool,
    /// Its retries were spent ([`Error::persistent`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persistent: bool,
}

impl From<&Error> for ErrorRecord {
    fn from(e: &Error) -> Self {
        Self {
            kind: e.kind().as_str().to_owned(),
            message: e.message().to_owned(),
            context: e.context().iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            violations: e.violations().to_vec(),
            retryable: e.is_retryable(),
            status: e.status(),
            body_excerpt: e.body_excerpt().map(str::to_owned),
            retry_after: e.retry_after(),
            not_sent: e.is_not_sent(),
            persistent: e.is_persistent(),
        }
    }
}

impl ErrorRecord {
    /// The record as an error again: kind, message, context, violations, status, body
    /// excerpt, `Retry-After`, and the not-sent and persistent marks. A kind this version does
    /// not know (a record written by a newer one) reads as [`ErrorKind::Internal`], and the
    /// stored kind stays in the context under `kind`.
    pub fn to_error(&self) -> Error {
        let (kind, unknown) = match ErrorKind::from_str(&self.kind) {
            Ok(kind) => (kind, false),
            Err(_) => (ErrorKind::Internal, true),
        };
        let mut err = Error::new(kind, self.message.clone())
            .with_violations(self.violations.clone())
            .with_retry_after(self.retry_after);
        for (key, value) in &self.context {
            err = err.with_context(context_key(key), value.clone());
        }
        if unknown {
            err = err.with_context("kind", self.kind.clone());
        }
        if let Some(status) = self.status {
            err = err.with_status(status);
        }
        if let Some(body) = &self.body_excerpt {
            err = err.with_body_excerpt(body.clone());
        }
        if self.not_sent {
            err = err.not_sent();
        }
        if self.persistent {
            err = err.persistent();
        }
        err
    }
}

/// Context keys are `&'static str`: the keys Aura writes are found in this list; another key
/// (a host's) is interned once. The interned set is bounded, so that records read from
/// elsewhere cannot grow it without end: past the bound, a key reads as `"context"`.
fn context_key(key: &str) -> &'static str {
    const KNOWN: [&str; 16] = [
        "node",
        "execution",
        "scenario",
        "field",
        "app",
        "action",
        "trigger",
        "connection",
        "item",
        "provider",
        "capability",
        "operation",
        "path",
        "key",
        "reference",
        "error_scenario",
    ];
    const MAX_INTERNED: usize = 256;
    static INTERNED: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    if let Some(k) = KNOWN.iter().find(|k| **k == key) {
        return k;
    }
    let mut interned = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let set = interned.get_or_insert_with(HashSet::new);
    if let Some(k) = set.get(key) {
        return k;
    }
    if set.len() >= MAX_INTERNED {
        return "context";
    }
    let leaked: &'static str = Box::leak(key.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

/// An `Option<Duration>` as whole milliseconds.
mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_survives_its_record() {
        let err = Error::upstream(429, "slow down")
            .with_retry_after(Some(Duration::from_secs(7)))
            .with_context("node", "call")
            .with_context("tenant_zone", "eu")
            .persistent();
        let record = ErrorRecord::from(&err);
        let json = serde_json::to_string(&record).unwrap();
        let back: ErrorRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, record);
        let again = back.to_error();
        assert_eq!(again.kind(), ErrorKind::RateLimited);
        assert_eq!(again.status(), Some(429));
        assert_eq!(again.body_excerpt(), Some("slow down"));
        assert_eq!(again.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(again.context_value("node"), Some("call"));
        assert_eq!(again.context_value("tenant_zone"), Some("eu"));
        assert!(again.is_persistent() && !again.is_retryable());
        assert_eq!(ErrorRecord::from(&again), record);
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        for kind in ErrorKind::all() {
            let back = ErrorRecord::from(&Error::new(kind, "x")).to_error();
            assert_eq!(back.kind(), kind);
        }
        let unknown = ErrorRecord {
            kind: "from_the_future".into(),
            ..ErrorRecord::from(&Error::internal("x"))
        };
        assert_eq!(unknown.to_error().context_value("kind"), Some("from_the_future"));
    }
}
