//! The app and scenario the crash tests run (SQLite: `crash_resume.rs`, PostgreSQL:
//! `crash_postgres.rs`): four steps, each logging its call so that effects can be counted.

#![allow(dead_code)] // Each binary uses its part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aura_core::scenario::{NodeBuilder, Scenario};
use aura_core::semver::Version;
use aura_core::{ActionDef, App, AppManifest, Error};
use serde_json::{Value, json};

/// The scenario's action nodes, in order.
pub(crate) const STEPS: [&str; 4] = ["s1", "s2", "s3", "s4"];

/// The app: one action that appends `execution node idempotency-key` to the call log (one
/// `write` of one line, so a kill leaves whole lines), waits `step_time`, and returns `n + 1`.
pub(crate) struct Crash {
    pub(crate) calls: PathBuf,
    /// How long each call takes: long enough that kills land inside calls.
    pub(crate) step_time: Duration,
}

#[aura_core::async_trait]
impl App for Crash {
    fn manifest(&self) -> AppManifest {
        AppManifest::new("crash", "Crash", Version::new(1, 0, 0))
    }

    fn actions(&self) -> Vec<ActionDef> {
        let (calls, step_time) = (self.calls.clone(), self.step_time);
        vec![
            ActionDef::from_json("step", json!(true), json!(true), move |cx, v: Value| {
                let calls = calls.clone();
                async move {
                    let line = format!(
                        "{} {} {}\n",
                        cx.execution_id().unwrap_or("-"),
                        cx.node_id().unwrap_or("-"),
                        cx.idempotency_key().unwrap_or("-"),
                    );
                    append(&calls, &line).map_err(|e| Error::unavailable(format!("call log: {e}")))?;
                    tokio::time::sleep(step_time).await;
                    let n = number(&v["n"]).ok_or_else(|| Error::invalid_definition(format!("no number in {v}")))?;
                    Ok(json!({ "n": n + 1 }))
                }
            })
            .idempotent(true),
        ]
    }
}

/// A number, or a number rendered as text by a template.
pub(crate) fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// Appends one line to a log file.
pub(crate) fn append(path: &Path, line: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(line.as_bytes())
}

/// `t → s1 → s2 → s3 → s4`, each step adding one to the previous one's `n`.
pub(crate) fn scenario() -> Scenario {
    let mut builder = Scenario::builder("crash", "Crash").node(NodeBuilder::trigger("t").next([STEPS[0]]));
    for (i, step) in STEPS.iter().enumerate() {
        let input = if i == 0 {
            json!({ "n": "{{ trigger.n }}" })
        } else {
            json!({ "n": format!("{{{{ steps.{}.output.n }}}}", STEPS[i - 1]) })
        };
        let mut node = NodeBuilder::action(*step, "crash.step").input(input);
        if let Some(next) = STEPS.get(i + 1) {
            node = node.next([*next]);
        }
        builder = builder.node(node);
    }
    builder.build()
}
