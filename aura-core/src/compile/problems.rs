//! The problems a compilation collects, each a [`Violation`] whose path starts with
//! `/nodes/<node id>` (or `/settings/…` for the scenario's own settings).

use crate::error::{Error, Violation};

/// Every problem found so far; the compiler reports them all at once.
#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Violation>);

impl Problems {
    /// A problem at `field` (a JSON pointer below `/nodes/<node>`).
    pub(super) fn add(&mut self, node: &str, field: &str, message: impl Into<String>) {
        self.0.push(Violation::new(format!("/nodes/{node}{field}"), message));
    }

    /// A problem at a path of the scenario document itself (`/settings/error_policy/…`).
    pub(super) fn at(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation::new(path, message));
    }

    /// A node's `prepare` error: its `field` context says where, its violations go below it.
    pub(super) fn error(&mut self, node: &str, err: &Error) {
        let field = err.context_value("field").unwrap_or_default().to_owned();
        let mut message = err.message().to_owned();
        for (k, v) in err.context() {
            if *k != "field" && *k != "node" {
                message.push_str(&format!(" ({k}: {v})"));
            }
        }
        self.add(node, &field, message);
        for v in err.violations() {
            self.add(node, &format!("{field}{}", v.path), v.message.clone());
        }
    }

    /// The error listing every problem, or `None` when there is none.
    pub(super) fn into_error(self, scenario_id: &str) -> Option<Error> {
        let n = self.0.len();
        (n > 0).then(|| {
            Error::invalid_definition(format!(
                "scenario {scenario_id:?} does not compile: {n} problem{}",
                if n == 1 { "" } else { "s" }
            ))
            .with_context("scenario", scenario_id.to_owned())
            .with_violations(self.0)
        })
    }
}
