//! A script: a function body checked once, shared by every run, and what one run gives it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rquickjs::CaughtError;
use serde_json::Value;

use super::error::CodeError;
use super::sandbox::Sandbox;
use super::scan::{self, Uses};

/// The file name stack traces give the script.
pub(crate) const FILE_NAME: &str = "script";

/// The parameters of the function a body becomes, in order.
const PARAMETERS: &str = "trigger, steps, item, index, input, execution";

/// The lines of the wrapper before the body: a stack trace's line `n` is the body's `n - 1`.
const LINES_BEFORE: u32 = 1;

/// A checked script: the body of a function of `trigger`, `steps`, `item`, `index`, `input`
/// and `execution`. Cheap to clone.
#[derive(Clone)]
pub struct Script {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    source: String,
    wrapped: String,
    steps: BTreeSet<String>,
    uses: Uses,
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script")
            .field("steps", &self.inner.steps)
            .field("bytes", &self.inner.source.len())
            .finish_non_exhaustive()
    }
}

impl Script {
    /// Checks a function body: it must compile (a [`CodeError::Syntax`] gives the line and
    /// column in the body), read `steps` only as `steps.<id>` or `steps["<id>"]`, and not close
    /// the function it runs in. Checked in the process's [`Sandbox::shared`].
    pub fn compile(source: &str) -> Result<Self, CodeError> {
        Self::compile_in(Sandbox::shared(), source)
    }

    /// [`Script::compile`], checked in this sandbox.
    pub fn compile_in(sandbox: &Sandbox, source: &str) -> Result<Self, CodeError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let found = scan::scan(source);
        let script = Self {
            inner: Arc::new(Inner {
                id: NEXT.fetch_add(1, Ordering::Relaxed),
                source: source.to_owned(),
                wrapped: format!("(function ({PARAMETERS}) {{ \"use strict\";\n{source}\n}})"),
                steps: found.steps,
                uses: found.uses,
            }),
        };
        sandbox.check(&script)?;
        if let Some((at, message)) = found.problem {
            return Err(CodeError::Syntax {
                message,
                line: at.line,
                column: at.column,
            });
        }
        Ok(script)
    }

    /// The body as written.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The nodes it names through `steps`.
    pub fn steps(&self) -> &BTreeSet<String> {
        &self.inner.steps
    }

    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    pub(crate) fn wrapped(&self) -> &str {
        &self.inner.wrapped
    }

    pub(crate) fn uses(&self) -> Uses {
        self.inner.uses
    }

    /// A compile failure as a [`CodeError::Syntax`] with the body's line and column.
    pub(crate) fn syntax_error(&self, e: &CaughtError<'_>) -> CodeError {
        let (message, line, column) = match e {
            CaughtError::Exception(e) => {
                let name: String = e.get("name").unwrap_or_else(|_| "SyntaxError".to_owned());
                let message = format!("{name}: {}", e.message().unwrap_or_default());
                let line: Option<u32> = e.get("lineNumber").ok();
                let column: Option<u32> = e.get("columnNumber").ok();
                let (line, column) = match (line, column) {
                    (Some(l), Some(c)) => (l, c),
                    _ => e.stack().as_deref().and_then(first_position).unwrap_or((0, 0)),
                };
                (message, line, column)
            }
            other => (other.to_string(), 0, 0),
        };
        // The wrapper's first line holds `"use strict";` before the body: a position there
        // is the body's start. One on the wrapper's last line (input that ends too soon) is
        // the end of the body.
        let lines: Vec<&str> = self.inner.source.split('\n').collect();
        let last = u32::try_from(lines.len()).unwrap_or(u32::MAX);
        let (line, column) = match line.saturating_sub(LINES_BEFORE) {
            0 => (1, 1),
            l if l > last => (last, end_column(lines.last().copied().unwrap_or_default())),
            l => (l, column),
        };
        CodeError::Syntax { message, line, column }
    }

    /// A stack trace with the wrapper's lines turned into the body's.
    pub(crate) fn user_lines(stack: &str) -> String {
        let needle = format!("{FILE_NAME}:");
        let mut out = String::with_capacity(stack.len());
        let mut rest = stack;
        while let Some(i) = rest.find(&needle) {
            let after = &rest[i + needle.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            out.push_str(&rest[..i + needle.len()]);
            match after[..digits].parse::<u32>() {
                Ok(line) => out.push_str(&line.saturating_sub(LINES_BEFORE).max(1).to_string()),
                Err(_) => out.push_str(&after[..digits]),
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        out.trim_end().to_owned()
    }
}

/// The column just after the end of a line.
fn end_column(line: &str) -> u32 {
    u32::try_from(line.trim_end().chars().count()).unwrap_or(u32::MAX - 1) + 1
}

/// The first `script:<line>:<column>` of a stack trace.
fn first_position(stack: &str) -> Option<(u32, u32)> {
    let at = stack.find(&format!("{FILE_NAME}:"))? + FILE_NAME.len() + 1;
    let mut parts = stack[at..].split(|c: char| !c.is_ascii_digit());
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    Some((line, column))
}

/// What one run reads.
pub(crate) struct Inputs<'a> {
    pub(crate) trigger: Option<&'a Value>,
    /// Upstream outputs by node id.
    pub(crate) steps: &'a dyn Fn(&str) -> Option<Arc<Value>>,
    pub(crate) item: Option<&'a Value>,
    pub(crate) index: Option<usize>,
    pub(crate) input: &'a Value,
    pub(crate) execution: Option<(&'a str, &'a str)>,
}
