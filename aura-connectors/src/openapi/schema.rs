//! Schemas: an OpenAPI schema object made a JSON Schema 2020-12 value.
//!
//! Refs to schema components become `#/$defs/Name` (the names are collected, so that the
//! manifest carries only the components its operations reach); other local refs are inlined
//! once; remote refs are refused. OpenAPI 3.0's `nullable` and boolean `exclusiveMinimum` /
//! `exclusiveMaximum` are converted; keywords that only document (`xml`, `externalDocs`,
//! `discriminator`, `example`, `x-…`) are dropped; descriptions are cut; the depth is bounded.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::names::truncate;
use super::refs::{RefKind, RefProblem, classify};
use super::warnings::{Pointer, Warnings};

/// Keywords whose value is a schema.
const SCHEMA_KEYWORDS: &[&str] = &[
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
    "contentSchema",
];

/// Keywords whose value is a list of schemas.
const SCHEMA_LIST_KEYWORDS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];

/// Keywords whose value is a map of schemas.
const SCHEMA_MAP_KEYWORDS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords dropped: documentation only, or OpenAPI-only.
const DROPPED_KEYWORDS: &[&str] = &["xml", "externalDocs", "discriminator", "example"];

/// The deepest value copied as it is (`default`, `enum`, `const` …): with the schema depth
/// limit, this keeps a manifest within the nesting that JSON parsers accept (serde_json: 128).
const MAX_DATA_DEPTH: usize = 24;

/// Converts schemas of one document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SchemaConverter<'a> {
    /// The whole document (for local refs).
    pub(crate) spec: &'a Value,
    /// OpenAPI 3.0 (`nullable`, boolean exclusive bounds) rather than 3.1 (JSON Schema).
    pub(crate) openapi_30: bool,
    /// The description cap.
    pub(crate) max_description: usize,
    /// The depth limit.
    pub(crate) max_depth: usize,
}

/// What converting schemas found besides the schemas: the components they name, warnings.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Schema components named by `$ref`.
    pub(crate) components: BTreeSet<String>,
    /// What could not be mapped exactly.
    pub(crate) warnings: Warnings,
}

impl SchemaConverter<'_> {
    /// `schema` (at `at` in the document) as a JSON Schema. A remote ref anywhere in it is an
    /// error (the caller skips what needs it).
    pub(crate) fn convert(&self, schema: &Value, at: &Pointer, found: &mut Found) -> Result<Value, RefProblem> {
        self.walk(schema, at, found, 0, &mut Vec::new())
    }

    fn walk(
        &self,
        schema: &Value,
        at: &Pointer,
        found: &mut Found,
        depth: usize,
        inlining: &mut Vec<String>,
    ) -> Result<Value, RefProblem> {
        if depth > self.max_depth {
            found.warnings.push(
                at,
                format!(
                    "schema nested deeper than {} levels: cut (accepts anything)",
                    self.max_depth
                ),
            );
            return Ok(Value::Bool(true));
        }
        let object = match schema {
            Value::Bool(b) => return Ok(Value::Bool(*b)),
            Value::Object(object) => object,
            _ => {
                found.warnings.push(
                    at,
                    "a schema must be an object or a boolean: replaced by one that accepts anything",
                );
                return Ok(Value::Bool(true));
            }
        };
        let mut out = Map::new();
        let mut inlined = None;
        for (keyword, value) in object {
            let here = at.key(keyword);
            if keyword == "$ref" {
                match self.reference(value, &here, found, depth, inlining)? {
                    Target::Ref(rewritten) => {
                        out.insert(keyword.clone(), rewritten);
                    }
                    Target::Inline(schema) => inlined = Some(schema),
                    Target::Broken => return Ok(Value::Bool(true)),
                }
            } else if DROPPED_KEYWORDS.contains(&keyword.as_str()) || keyword.starts_with("x-") {
                continue;
            } else if keyword == "nullable" && self.openapi_30 {
                continue; // applied below
            } else if SCHEMA_KEYWORDS.contains(&keyword.as_str()) {
                let converted = match value {
                    // 3.0 and draft 4 style tuples: a list under `items`.
                    Value::Array(items) => Value::Array(self.list(items, &here, found, depth, inlining)?),
                    other => self.walk(other, &here, found, depth + 1, inlining)?,
                };
                out.insert(keyword.clone(), converted);
            } else if SCHEMA_LIST_KEYWORDS.contains(&keyword.as_str()) {
                match value {
                    Value::Array(items) => {
                        out.insert(
                            keyword.clone(),
                            Value::Array(self.list(items, &here, found, depth, inlining)?),
                        );
                    }
                    _ => found
                        .warnings
                        .push(&here, format!("`{keyword}` must be a list of schemas: dropped")),
                }
            } else if SCHEMA_MAP_KEYWORDS.contains(&keyword.as_str()) {
                match value {
                    Value::Object(map) => {
                        let mut converted = Map::new();
                        for (name, sub) in map {
                            converted.insert(
                                name.clone(),
                                self.walk(sub, &here.key(name), found, depth + 1, inlining)?,
                            );
                        }
                        out.insert(keyword.clone(), Value::Object(converted));
                    }
                    _ => found
                        .warnings
                        .push(&here, format!("`{keyword}` must be a map of schemas: dropped")),
                }
            } else if keyword == "description" || keyword == "title" {
                let text = value.as_str().map(|s| truncate(s, self.max_description));
                if let Some(text) = text {
                    out.insert(keyword.clone(), Value::String(text));
                }
            } else if deeper_than(value, MAX_DATA_DEPTH) {
                found.warnings.push(
                    &here,
                    format!("`{keyword}` nested deeper than {MAX_DATA_DEPTH} levels: dropped"),
                );
            } else {
                out.insert(keyword.clone(), value.clone());
            }
        }
        if let Some(schema) = inlined {
            // The inlined schema goes under `allOf`, so that the ref's siblings still apply.
            match out.get_mut("allOf") {
                Some(Value::Array(all)) => all.push(schema),
                _ => {
                    out.insert("allOf".to_owned(), Value::Array(vec![schema]));
                }
            }
        }
        if self.openapi_30 {
            exclusive_bounds(&mut out);
            if object.get("nullable").and_then(Value::as_bool) == Some(true) {
                return Ok(nullable(out));
            }
        }
        Ok(Value::Object(out))
    }

    fn list(
        &self,
        items: &[Value],
        at: &Pointer,
        found: &mut Found,
        depth: usize,
        inlining: &mut Vec<String>,
    ) -> Result<Vec<Value>, RefProblem> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.walk(item, &at.index(i), found, depth + 1, inlining))
            .collect()
    }

    /// What a `$ref` becomes: a `#/$defs/…` ref (the component is recorded), the inlined
    /// target of another local ref, or nothing when the ref is broken (the schema then accepts
    /// anything).
    fn reference(
        &self,
        value: &Value,
        at: &Pointer,
        found: &mut Found,
        depth: usize,
        inlining: &mut Vec<String>,
    ) -> Result<Target, RefProblem> {
        let Some(reference) = value.as_str() else {
            found
                .warnings
                .push(at, "`$ref` must be a string: the schema accepts anything");
            return Ok(Target::Broken);
        };
        match classify(reference) {
            RefKind::Remote => Err(RefProblem::Remote {
                at: at.clone(),
                reference: reference.to_owned(),
            }),
            RefKind::Schema { name, rewritten } => {
                let exists = self.spec.pointer(reference.trim_start_matches('#')).is_some();
                if exists {
                    found.components.insert(name);
                    Ok(Target::Ref(Value::String(rewritten)))
                } else {
                    found.warnings.push(
                        at,
                        format!("$ref `{reference}` points nowhere: the schema accepts anything"),
                    );
                    Ok(Target::Broken)
                }
            }
            RefKind::Local(pointer) => {
                // Refs into other parts of the document (rare in schemas) are inlined, once per
                // chain: a cycle through them is cut.
                if inlining.contains(&pointer) {
                    found
                        .warnings
                        .push(at, format!("$ref `{reference}` is part of a cycle: cut"));
                    return Ok(Target::Broken);
                }
                let Some(target) = self.spec.pointer(&pointer) else {
                    found.warnings.push(
                        at,
                        format!("$ref `{reference}` points nowhere: the schema accepts anything"),
                    );
                    return Ok(Target::Broken);
                };
                inlining.push(pointer.clone());
                let inlined = self.walk(target, &Pointer::parse(&pointer), found, depth + 1, inlining);
                inlining.pop();
                Ok(Target::Inline(inlined?))
            }
        }
    }
}

/// What a `$ref` becomes.
enum Target {
    /// A ref kept (rewritten).
    Ref(Value),
    /// A schema inlined.
    Inline(Value),
    /// Nothing usable.
    Broken,
}

/// Whether `value` nests deeper than `limit` levels (looks no deeper than that).
fn deeper_than(value: &Value, limit: usize) -> bool {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return false,
    };
    limit == 0 || children.into_iter().any(|child| deeper_than(child, limit - 1))
}

/// 3.0's boolean `exclusiveMinimum: true` (with `minimum`) as 2020-12's numeric form.
fn exclusive_bounds(out: &mut Map<String, Value>) {
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match out.get(exclusive) {
            Some(Value::Bool(true)) => {
                match out.remove(bound) {
                    Some(limit) => out.insert(exclusive.to_owned(), limit),
                    None => out.remove(exclusive),
                };
            }
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }
}

/// 3.0's `nullable: true`: `null` added to `type` (and to `enum`), or the schema wrapped in
/// `anyOf: [schema, {type: null}]` when it has no `type` (a `$ref`, an `allOf`).
fn nullable(mut out: Map<String, Value>) -> Value {
    if let Some(Value::Array(values)) = out.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match out.get("type").cloned() {
        Some(Value::String(kind)) => {
            if kind != "null" {
                out.insert("type".to_owned(), json!([kind, "null"]));
            }
            Value::Object(out)
        }
        Some(Value::Array(mut kinds)) => {
            if !kinds.contains(&json!("null")) {
                kinds.push(json!("null"));
            }
            out.insert("type".to_owned(), Value::Array(kinds));
            Value::Object(out)
        }
        _ if out.is_empty() => Value::Object(out),
        _ => json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
