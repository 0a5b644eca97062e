//! JSON Schema validation of OpenAPI schemas: the spec, converted once, is the one resource
//! every validator resolves its `$ref`s in.

use aura_core::{Error, ErrorKind, Result};
use jsonschema::{Draft, Registry, Validator};
use std::sync::Arc;

use serde_json::{Map, Value};

/// The URI the converted spec is registered under; every local `$ref` (`#/components/…`) is
/// rewritten to start with it, so that a schema taken out of the spec still resolves.
pub(super) const SPEC_URI: &str = "https://aura.invalid/openapi.json";

/// The spec as JSON Schema 2020-12 sees it, and the registry that holds it.
pub(super) struct SchemaSet {
    registry: Registry<'static>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet").finish_non_exhaustive()
    }
}

impl SchemaSet {
    /// Registers `converted` (the output of [`convert`]) as the resource at [`SPEC_URI`].
    pub(super) fn new(converted: Arc<Value>) -> Result<Self> {
        let registry = Registry::new()
            .draft(Draft::Draft202012)
            .add(SPEC_URI, converted)
            .and_then(|builder| builder.prepare())
            .map_err(|e| invalid(format!("the spec cannot be used as a JSON Schema resource: {e}")))?;
        Ok(Self { registry })
    }

    /// A validator for `schema`, a (converted) schema taken out of the spec.
    pub(super) fn validator(&self, schema: &Value) -> Result<Validator> {
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .build(schema)
            .map_err(|e| invalid(format!("a schema of the spec does not compile: {e}")))
    }
}

/// The spec with its local `$ref`s made absolute and, for OpenAPI 3.0 (`openapi_30`), its
/// schema keywords turned into JSON Schema 2020-12: `nullable: true` adds `"null"` to `type`
/// (and to `enum`), boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric ones.
/// The walk is blind (it also visits examples), but each rewrite checks the shape it expects.
pub(super) fn convert(value: &mut Value, openapi_30: bool) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && reference.starts_with('#')
            {
                *reference = format!("{SPEC_URI}{reference}");
            }
            if openapi_30 {
                convert_30(object);
            }
            for child in object.values_mut() {
                convert(child, openapi_30);
            }
        }
        Value::Array(items) => {
            for item in items {
                convert(item, openapi_30);
            }
        }
        _ => {}
    }
}

fn convert_30(object: &mut Map<String, Value>) {
    if object.get("nullable") == Some(&Value::Bool(true)) {
        object.remove("nullable");
        if let Some(Value::String(kind)) = object.get("type") {
            let kind = kind.clone();
            object.insert("type".into(), Value::from(vec![kind, "null".to_owned()]));
        }
        if let Some(Value::Array(values)) = object.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        if let Some(Value::Bool(on)) = object.get(exclusive) {
            let on = *on;
            object.remove(exclusive);
            if on && let Some(limit) = object.remove(bound) {
                object.insert(exclusive.into(), limit);
            }
        }
    }
}

/// The errors of `instance` against `validator`, each as `"{what}{/json/path}: {message}"`.
pub(super) fn errors(validator: &Validator, instance: &Value, what: &str) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() {
                String::new()
            } else {
                format!(" at {path}")
            };
            format!("{what}{at}: {e}")
        })
        .collect()
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidDefinition, message)
}
