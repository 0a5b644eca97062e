//! The import rule by rule, on small hand-written specs.

mod auth;
mod document;
mod operations;
mod params;
mod refs;

use serde_json::{Value, json};

use super::{Import, ImportOptions, import};

/// A 3.0 spec with `paths` (and anything else merged in at the top).
fn spec30(paths: Value, extra: Value) -> Value {
    let mut spec = json!({"openapi": "3.0.3", "info": {"title": "Pet Store", "version": "1.0.0"},
                          "servers": [{"url": "https://api.example.com/v1"}], "paths": paths});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    spec
}

fn run(spec: &Value) -> Import {
    import(spec, &ImportOptions::new()).unwrap()
}

fn warned(imported: &Import, path: &str, words: &str) -> bool {
    imported
        .warnings
        .iter()
        .any(|w| w.path == path && w.message.contains(words))
}

#[track_caller]
fn assert_warned(imported: &Import, path: &str, words: &str) {
    assert!(
        warned(imported, path, words),
        "no warning at {path} saying {words:?}: {:#?}",
        imported.warnings
    );
}
