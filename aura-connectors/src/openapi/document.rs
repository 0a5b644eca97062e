//! Reading a spec's text: JSON, or YAML (through `serde_norway`) turned into JSON values
//! (YAML's non-string keys, such as response codes written `200:`, become strings).

use aura_core::{Error, Result};
use serde_json::{Map, Number, Value};
use serde_norway::Value as Yaml;

/// Parses `text` as JSON when it starts with `{`, else as YAML.
///
/// # Errors
///
/// `InvalidDefinition` when the text is neither.
pub(crate) fn parse(text: &str) -> Result<Value> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| {
            Error::invalid_definition(format!("the spec is not valid JSON: {e}")).with_context("path", "")
        });
    }
    let yaml: Yaml = serde_norway::from_str(text).map_err(|e| {
        Error::invalid_definition(format!("the spec is neither JSON nor valid YAML: {e}")).with_context("path", "")
    })?;
    Ok(to_json(yaml))
}

/// A YAML value as JSON. Non-finite floats become `null`; tags are dropped.
fn to_json(yaml: Yaml) -> Value {
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Number(u.into())
            } else if let Some(i) = n.as_i64() {
                Value::Number(i.into())
            } else {
                n.as_f64().and_then(Number::from_f64).map_or(Value::Null, Value::Number)
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(mapping) => {
            let mut out = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Null => "null".to_owned(),
                    // A list or map as a key has no JSON form: the entry is left out.
                    _ => continue,
                };
                out.insert(key, to_json(value));
            }
            Value::Object(out)
        }
        Yaml::Tagged(tagged) => to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_response_codes_become_string_keys() {
        let value = parse(
            "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n",
        )
        .unwrap();
        assert_eq!(value["paths"]["/a"]["get"]["responses"]["200"]["description"], "ok");
    }

    #[test]
    fn text_that_is_neither_json_nor_yaml_is_an_invalid_definition() {
        let err = parse("{ not json").unwrap_err();
        assert_eq!(err.kind(), aura_core::ErrorKind::InvalidDefinition);
        let err = parse("a: [unclosed").unwrap_err();
        assert_eq!(err.kind(), aura_core::ErrorKind::InvalidDefinition);
    }
}
