//! Reading a manifest from text: syntax first, then the format's JSON Schema (every problem at
//! once), then the app's own checks; each problem with its JSON path and its line.

use std::sync::OnceLock;

use serde_json::Value;

use super::app::{DeclarativeApp, invalid};
use super::locate::line_of;
use super::model::Manifest;
use crate::error::{Error, Result, Violation};
use crate::schema::Schema;

/// A manifest's text format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// YAML (also reads JSON, which is YAML).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file name says (`.json` is JSON; anything else YAML).
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// The app of a manifest's text. Every problem is a violation whose path is the JSON path and
/// whose message starts with `line N:` when the line is known; `origin` (a file name) goes in
/// the error's `file` context.
pub(crate) fn parse(text: &str, format: Format, origin: Option<&str>) -> Result<DeclarativeApp> {
    let located = |e: Error| {
        let e = locate(e, text);
        match origin {
            Some(o) => e.with_context("file", o.to_owned()),
            None => e,
        }
    };
    let value = syntax(text, format).map_err(located)?;
    if let Err(violations) = manifest_schema().check(&value) {
        return Err(located(invalid(violations)));
    }
    let manifest: Manifest = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = crate::error::json_pointer(e.path());
        located(invalid(vec![Violation::new(path, e.into_inner().to_string())]))
    })?;
    let app = DeclarativeApp::new(manifest).map_err(located)?;
    Ok(match origin {
        Some(o) => app.origin(o),
        None => app,
    })
}

fn syntax(text: &str, format: Format) -> Result<Value> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| {
            Error::invalid_definition(format!(
                "the manifest is not JSON: line {}, column {}: {e}",
                e.line(),
                e.column()
            ))
            .with_context("line", e.line().to_string())
        }),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line());
            let mut err = Error::invalid_definition(format!("the manifest is not YAML: {e}"));
            if let Some(line) = line {
                err = err.with_context("line", line.to_string());
            }
            err
        }),
    }
}

/// The format's schema, compiled once.
fn manifest_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The schema is generated from the manifest's own types: it always compiles (a test
        // checks it), and `any` is never reached.
        Schema::compile(Manifest::json_schema()).unwrap_or_else(|_| Schema::any())
    })
}

/// Puts the line of each violation at the start of its message.
fn locate(err: Error, text: &str) -> Error {
    if err.violations().is_empty() {
        return err;
    }
    let violations = err
        .violations()
        .iter()
        .map(|v| match line_of(text, &v.path) {
            Some(line) => Violation::new(v.path.clone(), format!("line {line}: {}", v.message)),
            None => v.clone(),
        })
        .collect();
    err.with_violations(violations)
}
