//! Schema components (`#/components/schemas/X`): each converted once, on first use; the
//! manifest's [`schemas`](aura_core::declarative::Manifest::schemas) gets exactly those that
//! imported operations reach, transitively (cycles are fine: refs stay refs).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::refs::RefProblem;
use super::schema::{Found, SchemaConverter};
use super::warnings::{Pointer, Warnings};

/// One converted component.
#[derive(Debug)]
struct Entry {
    /// Its JSON Schema (`true` when it could not be converted).
    schema: Value,
    /// The components it names.
    refs: BTreeSet<String>,
    /// What converting it found (reported once, when it is used).
    warnings: Warnings,
    /// A remote ref inside it: whatever reaches it is skipped.
    refused: Option<RefProblem>,
}

/// The schema components of one document, converted on demand.
#[derive(Debug)]
pub(crate) struct Components<'a> {
    converter: SchemaConverter<'a>,
    cache: HashMap<String, Entry>,
}

impl<'a> Components<'a> {
    /// The components of `converter`'s document.
    pub(crate) fn new(converter: SchemaConverter<'a>) -> Self {
        Self {
            converter,
            cache: HashMap::new(),
        }
    }

    /// Every component reached from `names` (them included), or the first remote ref found
    /// on the way.
    pub(crate) fn closure(&mut self, names: &BTreeSet<String>) -> Result<BTreeSet<String>, RefProblem> {
        let mut reached = BTreeSet::new();
        let mut queue: Vec<String> = names.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            if !reached.insert(name.clone()) {
                continue;
            }
            let entry = self.entry(&name);
            if let Some(problem) = &entry.refused {
                return Err(problem.clone());
            }
            queue.extend(entry.refs.iter().filter(|r| !reached.contains(*r)).cloned());
        }
        Ok(reached)
    }

    /// The schemas of `used`, by name; their warnings go to `warnings`.
    pub(crate) fn finish(mut self, used: &BTreeSet<String>, warnings: &mut Warnings) -> BTreeMap<String, Value> {
        let mut schemas = BTreeMap::new();
        for name in used {
            if let Some(entry) = self.cache.remove(name) {
                warnings.extend(entry.warnings);
                schemas.insert(name.clone(), entry.schema);
            }
        }
        schemas
    }

    fn entry(&mut self, name: &str) -> &Entry {
        let converter = self.converter;
        self.cache.entry(name.to_owned()).or_insert_with(|| {
            let at = Pointer::root().key("components").key("schemas").key(name);
            let source = converter
                .spec
                .get("components")
                .and_then(|c| c.get("schemas"))
                .and_then(|s| s.get(name));
            let mut found = Found::default();
            let (schema, refused) = match source {
                None => (Value::Bool(true), None),
                Some(source) => match converter.convert(source, &at, &mut found) {
                    Ok(schema) => (schema, None),
                    Err(problem) => (Value::Bool(true), Some(problem)),
                },
            };
            Entry {
                schema,
                refs: found.components,
                warnings: found.warnings,
                refused,
            }
        })
    }
}
