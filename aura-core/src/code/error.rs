//! [`CodeError`]: why a script did not give a result.

use std::time::Duration;

use crate::error::{Error, ErrorKind};

/// Why a script was refused or did not give a result. A node's error carries it as its
/// source (`err.source()` downcasts to it), with the kind [`CodeError::kind`] says.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// The script does not compile, or reads what the compiler cannot check. The line and
    /// column are the script's own (1-based).
    #[error("the script does not compile: {message} (line {line}, column {column})")]
    Syntax {
        /// What is wrong.
        message: String,
        /// The line in the script.
        line: u32,
        /// The column in that line.
        column: u32,
    },
    /// The script threw (or returned a promise that was rejected) and did not catch it.
    #[error("the script threw {message}")]
    Thrown {
        /// `Name: message` of an error, or the JSON of any other thrown value.
        message: String,
        /// Where, innermost first, in the script's own lines (`at f (script:3:9)`).
        stack: Option<String>,
    },
    /// It ran past its time limit: stopped by the interrupt handler, not killed.
    #[error("the script ran past its time limit of {limit:?}")]
    TimeLimit {
        /// The limit.
        limit: Duration,
    },
    /// It asked for more memory than its limit.
    #[error("the script needed more than its memory limit of {limit} bytes")]
    MemoryLimit {
        /// The limit, in bytes.
        limit: usize,
    },
    /// It recursed deeper than its stack allows.
    #[error("the script recursed past its stack limit of {limit} bytes")]
    StackLimit {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Its result, as JSON, is larger than the limit.
    #[error("the script's result is {size} bytes of JSON, over the limit of {limit}")]
    OutputLimit {
        /// The result's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Its result has no JSON form (a `BigInt`, a cycle), or is a promise that never settles.
    #[error("the script's result is not JSON: {reason}")]
    NotJson {
        /// Why.
        reason: String,
    },
    /// The sandbox could not be set up (QuickJS could not allocate a runtime).
    #[error("the script sandbox could not be set up: {reason}")]
    Setup {
        /// Why.
        reason: String,
    },
}

impl CodeError {
    /// The error's kind: [`ErrorKind::InvalidDefinition`] for a script that does not compile,
    /// [`ErrorKind::Timeout`] for the time limit, [`ErrorKind::Internal`] when the sandbox
    /// could not be set up, [`ErrorKind::InvalidInput`] otherwise (the script failed on the
    /// data it was given: running it again on the same data fails the same way).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Syntax { .. } => ErrorKind::InvalidDefinition,
            Self::TimeLimit { .. } => ErrorKind::Timeout,
            Self::Setup { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// Which limit it hit, if any: `time`, `memory`, `stack` or `output`.
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            Self::TimeLimit { .. } => Some("time"),
            Self::MemoryLimit { .. } => Some("memory"),
            Self::StackLimit { .. } => Some("stack"),
            Self::OutputLimit { .. } => Some("output"),
            _ => None,
        }
    }
}

impl From<CodeError> for Error {
    fn from(e: CodeError) -> Self {
        let mut err = Error::new(e.kind(), e.to_string()).with_context("field", "/config/code");
        if let CodeError::Thrown { stack: Some(stack), .. } = &e {
            err = err.with_context("stack", stack.clone());
        }
        if let Some(limit) = e.limit() {
            err = err.with_context("limit", limit);
        }
        err.with_source(e)
    }
}
